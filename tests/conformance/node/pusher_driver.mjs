// Drives real pusher-js 8 clients against a tidings server; see common.mjs for the line protocol.
//
//   node pusher_driver.mjs HOST PORT     (env TIDINGS_KEY, TIDINGS_SECRET, DRIVER_DEADLINE_S)
//
// Commands (stdin), each with "client" naming a pusher-js instance:
//   connect {user?: {user_id, user_info}, signin_as?: {id, ...}, forge_signin?: true}
//                                           new Pusher(key, {cluster: '', wsHost, wsPort, ...});
//                                           signin_as is the user_data pusher.signin() signs
//   signin {}                               pusher.signin()
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
//   user_channel {channel, event, data}   anything on the user's own #server-to-user-{id} channel
//   user_event {event, data}       pusher.user.bind_global: an event sent to the user
//   watchlist {name, user_ids}     pusher.user.watchlist.bind('online' | 'offline')

import Pusher from 'pusher-js';

import { authHandler, emit, runCommands, serverFromArgs, userAuthHandler } from './common.mjs';

const server = serverFromArgs();
const clients = new Map();

function membersOf(channel) {
  if (!channel.name.startsWith('presence-')) return undefined;
  const list = [];
  channel.members.each((member) => list.push({ id: member.id, info: member.info }));
  return { count: channel.members.count, me: channel.members.me, list };
}

function connect(name, user, signinAs, forgeSignin) {
  const forged = new Set();
  const pusher = new Pusher(server.key, {
    cluster: '',
    wsHost: server.host,
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws', 'wss'],
    disableStats: true,
    channelAuthorization: { customHandler: authHandler(server, user, forged) },
    userAuthentication: { customHandler: userAuthHandler(server, signinAs, forgeSignin) },
  });
  pusher.connection.bind('state_change', ({ previous, current }) =>
    emit({ client: name, step: 'state', previous, current }));
  pusher.connection.bind('connected', () =>
    emit({ client: name, step: 'connected', socket_id: pusher.connection.socket_id }));
  pusher.connection.bind('message', (message) => {
    if (message.channel === undefined) {
      emit({ client: name, step: 'message', event: message.event, data: message.data });
    } else if (message.channel.startsWith('#server-to-user-')) {
      emit({ client: name, step: 'user_channel', channel: message.channel,
             event: message.event, data: message.data });
    }
  });
  pusher.user.bind_global((event, data) => emit({ client: name, step: 'user_event', event, data }));
  for (const status of ['online', 'offline']) {
    pusher.user.watchlist.bind(status, (event) =>
      emit({ client: name, step: 'watchlist', name: event.name, user_ids: event.user_ids }));
  }
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
    connect(name, command.user, command.signin_as, command.forge_signin === true);
    return;
  }
  const client = clients.get(name);
  if (client === undefined) throw new Error(`unknown client ${name}: send connect first`);
  switch (command.cmd) {
    case 'subscribe':
      subscribe(name, client, command.channel, command.forge === true);
      break;
    case 'signin':
      client.pusher.signin();
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
