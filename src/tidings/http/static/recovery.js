// tidings recovery helper for stock pusher-js 8 (browser and Node) and Laravel Echo.
//
//   import { enableRecovery } from 'https://your-tidings-host/tidings/recovery.js';
//   const pusher = new Pusher('app-key', { wsHost: 'your-tidings-host', ... });
//   enableRecovery(pusher);                       // Echo: enableRecovery(Echo.connector.pusher)
//
// On channels the app keeps history of (docs/history.md), every event frame carries
// top-level "serial" and "stream_id". This helper remembers the last position seen per
// channel and, when pusher-js re-subscribes after a reconnect, adds it to the
// pusher:subscribe: the server replays what was missed, in order and once, before
// pusher:subscription_succeeded, whose data then says {"recovered": true}. With
// {"recovered": false} (the gap is longer than the channel keeps, or its stream was lost)
// nothing is replayed: reload the channel's state from your backend.
//
// pusher-js internals relied on (pusher-js 8.x; checked against 8.6.0):
// - pusher.connection.connection.transport: while connected, the transport connection,
//   an event dispatcher that emits 'message' with every raw frame ({data: text}).
//   pusher-js's own decoding drops top-level fields, so the raw text is read here.
// - pusher.send_event(name, data): the method every Channel.subscribe() calls; it is
//   wrapped to add "position" to pusher:subscribe (and to forget a channel on
//   pusher:unsubscribe).
// Everything else is public API: pusher.connection.bind('connected' | 'state_change').
//
// No build step, no dependencies: an ES module you can serve as is.

/**
 * Track channel positions and recover missed events on re-subscribe.
 *
 * @param {object} pusher a pusher-js 8 Pusher instance (Echo: Echo.connector.pusher).
 * @param {{onRecovery?: (channel: string, recovered: boolean) => void}} [options]
 *   onRecovery is called when a re-subscribe that carried a position is confirmed.
 * @returns {{position: (channel: string) => ({serial: number, stream_id: string} | undefined),
 *            disable: () => void}}
 */
export function enableRecovery(pusher, options = {}) {
  if (!pusher || typeof pusher.send_event !== 'function' || !pusher.connection) {
    throw new TypeError('enableRecovery(pusher): expected a pusher-js 8 Pusher instance');
  }
  const positions = new Map(); // channel -> {serial, stream_id}
  const asked = new Set(); // channels whose pending subscribe carried a position
  let transport = null;

  const track = (channel, serial, streamId) => {
    if (typeof channel !== 'string' || !Number.isInteger(serial) || typeof streamId !== 'string') {
      return;
    }
    const known = positions.get(channel);
    if (!known || known.stream_id !== streamId || serial > known.serial) {
      positions.set(channel, { serial, stream_id: streamId });
    }
  };

  const onFrame = (messageEvent) => {
    const text = messageEvent && messageEvent.data;
    if (typeof text !== 'string' || text.indexOf('"serial"') < 0) {
      return; // a frame of a channel without history: nothing to track (and no parsing)
    }
    let frame;
    try {
      frame = JSON.parse(text);
    } catch (e) {
      return;
    }
    track(frame.channel, frame.serial, frame.stream_id);
    if (frame.event === 'pusher_internal:subscription_succeeded' && asked.has(frame.channel)) {
      asked.delete(frame.channel);
      if (typeof options.onRecovery === 'function') {
        options.onRecovery(frame.channel, frame.recovered === true);
      }
    }
  };

  const attach = () => {
    const connection = pusher.connection.connection;
    const next = connection && connection.transport;
    if (next === transport) return;
    if (transport) transport.unbind('message', onFrame);
    transport = next || null;
    if (transport) transport.bind('message', onFrame);
  };

  const sendEvent = pusher.send_event;
  pusher.send_event = function (name, data, channel) {
    if (name === 'pusher:subscribe' && data && positions.has(data.channel)) {
      asked.add(data.channel);
      data = Object.assign({}, data, { position: positions.get(data.channel) });
    } else if (name === 'pusher:unsubscribe' && data) {
      positions.delete(data.channel); // a later subscribe starts afresh
      asked.delete(data.channel);
    }
    return sendEvent.call(this, name, data, channel);
  };

  // 'connected' fires after pusher-js bound its own handlers (it re-subscribes there first,
  // but no frame can arrive before this handler runs: JavaScript runs one callback at a time).
  pusher.connection.bind('connected', attach);
  attach();

  return {
    position: (channel) => positions.get(channel),
    disable: () => {
      pusher.connection.unbind('connected', attach);
      if (transport) transport.unbind('message', onFrame);
      transport = null;
      pusher.send_event = sendEvent;
    },
  };
}
