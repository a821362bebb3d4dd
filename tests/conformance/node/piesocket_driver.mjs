// Drives real piesocket-js 5.1.0 clients against a tidings server over wss; see common.mjs
// for the line protocol.
//
//   node piesocket_driver.mjs HOST PORT   (env TIDINGS_KEY, NODE_EXTRA_CA_CERTS, DRIVER_DEADLINE_S)
//
// piesocket-js uses the global WebSocket (a browser's); Node 20 has none, so the `ws`
// package stands in. It always builds wss:// URLs: the server must terminate TLS and Node
// must trust its certificate (NODE_EXTRA_CA_CERTS).
//
// Commands (stdin), each with "client" naming one PieSocket instance and its channel:
//   subscribe {channel, options?: {notifySelf, presence, userId, jwt}}
//   publish {event, data, meta?}
//   unsubscribe {}
// Observations (stdout), each with "client" and "step":
//   subscribed {channel, uuid}
//   event {event, data, meta, members?}   every listened event; members after system:member_*
//   error {error}                         a server message with an "error" field
//   closed {code, reconnect}              reconnect: piesocket-js's shouldReconnect

import { WebSocket } from 'ws';

import { emit, runCommands, serverFromArgs } from './common.mjs';

globalThis.WebSocket = WebSocket;
const { default: PieSocket } = await import('piesocket-js');

const server = serverFromArgs();
const clients = new Map();

function subscribe(name, channelId, options) {
  const piesocket = new PieSocket({
    clusterId: 'local',
    clusterDomain: `${server.host}:${server.port}`,
    apiKey: server.key,
    ...options,
  });
  clients.set(name, { piesocket, channelId });
  piesocket.subscribe(channelId).then(
    (channel) => {
      clients.get(name).channel = channel;
      channel.listen('*', (event, data, meta) => {
        const observation = { client: name, step: 'event', event, data, meta };
        if (event.startsWith('system:member_')) {
          observation.members = channel.members;
          observation.me = channel.getCurrentMember();
        }
        emit(observation);
      });
      channel.on('message', (message) => {
        const parsed = JSON.parse(message.data);
        if (parsed.error) emit({ client: name, step: 'error', error: parsed.error });
      });
      channel.on('close', (event) =>
        emit({ client: name, step: 'closed', code: event.code, reconnect: channel.shouldReconnect }));
      emit({ client: name, step: 'subscribed', channel: channelId, uuid: channel.uuid });
    },
    (error) => emit({ client: name, step: 'subscribe_failed', error: String(error) }),
  );
}

runCommands(
  (command) => {
    const name = command.client;
    switch (command.cmd) {
      case 'subscribe':
        subscribe(name, command.channel, command.options ?? {});
        break;
      case 'publish':
        clients.get(name).channel.publish(command.event, command.data, command.meta);
        break;
      case 'unsubscribe': {
        const { piesocket, channelId } = clients.get(name);
        piesocket.unsubscribe(channelId);
        break;
      }
      default:
        emit({ step: 'driver_error', error: `unknown command ${command.cmd}` });
    }
  },
  () => {
    for (const { piesocket, channelId } of clients.values()) piesocket.unsubscribe(channelId);
  },
);
