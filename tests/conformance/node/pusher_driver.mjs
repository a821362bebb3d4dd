// Drives real pusher-js 8 clients against a tidings server; see common.mjs for the line protocol.
//
//   node pusher_driver.mjs HOST PORT     (env TIDINGS_KEY, TIDINGS_SECRET, DRIVER_DEADLINE_S)
//
// Commands (stdin), each with "client" naming a pusher-js instance:
//   connect {user?: {user_id, user_info}}   new Pusher(key, {cluster: '', wsHost, wsPort, ...})
//   subscribe {channel, forge?: true}       forge signs the channel with a wrong secret
//   unsubscribe {channel}
//   trigger {channel, event, data}          channel.trigger(...), answered by "triggered"
//   send_event {event, data}                connection.send_event(...), e.g. pusher:ping
//   disconnect {}
// Observations (stdout), each with "client" and "step":
//   state {previous, current} | connected {socket_id}
//   message {event, data}       a connection-level message with no channel (pusher:pong, ...)
//   subscribed {channel, data, members?: {count, me, list}}
//   subscription_error {channel, data}
//   event {channel, event, data}   every other channel event (incl. pusher:member_added/removed)
//   triggered {channel, event, ok}

import Pusher from 'pusher-js';

import { authHandler, emit, runCommands, serverFromArgs } from './common.mjs';

const server = serverFromArgs();
const clients = new Map();

function membersOf(channel) {
  if (!channel.name.startsWith('presence-')) return undefined;
  const list = [];
  channel.members.each((member) => list.push({ id: member.id, info: member.info }));
  return { count: channel.members.count, me: channel.members.me, list };
}

function connect(name, user) {
  const forged = new Set();
  const pusher = new Pusher(server.key, {
    cluster: '',
    wsHost: server.host,
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws', 'wss'],
    disableStats: true,
    channelAuthorization: { customHandler: authHandler(server, user, forged) },
  });
  pusher.connection.bind('state_change', ({ previous, current }) =>
    emit({ client: name, step: 'state', previous, current }));
  pusher.connection.bind('connected', () =>
    emit({ client: name, step: 'connected', socket_id: pusher.connection.socket_id }));
  pusher.connection.bind('message', (message) => {
    if (message.channel === undefined) {
      emit({ client: name, step: 'message', event: message.event, data: message.data });
    }
  });
  clients.set(name, { pusher, forged });
}

function subscribe(name, client, channelName, forge) {
  if (forge) client.forged.add(channelName);
  const channel = client.pusher.subscribe(channelName);
  channel.bind('pusher:subscription_succeeded', (data) =>
    emit({ client: name, step: 'subscribed', channel: channelName, data,
           members: membersOf(channel) }));
  channel.bind('pusher:subscription_error', (data) =>
    emit({ client: name, step: 'subscription_error', channel: channelName, data }));
  channel.bind_global((event, data) => {
    if (event === 'pusher:subscription_succeeded' || event === 'pusher:subscription_error') return;
    emit({ client: name, step: 'event', channel: channelName, event, data });
  });
}

function handle(command) {
  const name = command.client;
  if (command.cmd === 'connect') {
    connect(name, command.user);
    return;
  }
  const client = clients.get(name);
  if (client === undefined) throw new Error(`unknown client ${name}: send connect first`);
  switch (command.cmd) {
    case 'subscribe':
      subscribe(name, client, command.channel, command.forge === true);
      break;
    case 'unsubscribe':
      client.pusher.unsubscribe(command.channel);
      break;
    case 'trigger': {
      const ok = client.pusher.channel(command.channel).trigger(command.event, command.data);
      emit({ client: name, step: 'triggered', channel: command.channel, event: command.event, ok });
      break;
    }
    case 'send_event':
      client.pusher.connection.send_event(command.event, command.data ?? {});
      break;
    case 'disconnect':
      client.pusher.disconnect();
      break;
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

runCommands(handle, () => {
  for (const { pusher } of clients.values()) pusher.disconnect();
});
