// Drives real Laravel Echo 2 (over pusher-js 8) against a tidings server; line protocol in
// common.mjs.
//
//   node echo_driver.mjs HOST PORT     (env TIDINGS_KEY, TIDINGS_SECRET, DRIVER_DEADLINE_S)
//
// Commands (stdin), each with "client" naming an Echo instance:
//   connect {broadcaster?: 'pusher'|'reverb', user?: {user_id, user_info}}
//   channel {channel, listen: [events]}               Echo.channel(name).listen(...)
//   private {channel, listen?: [events], whispers?: [names]}
//                                                     Echo.private(name).listen / listenForWhisper
//   join {channel, listen?: [events], whispers?: [names]}
//                                                     Echo.join(name).here/joining/leaving
//   whisper {kind: 'private'|'presence', channel, event, data}
//   socket_id {}                                      answered by "socket_id" (Echo.socketId())
//   leave {channel} | disconnect {}
// Observations (stdout), each with "client" and "step":
//   connected {socket_id}        socket_id is Echo.socketId(), the X-Socket-ID header value
//   subscribed {channel} | subscription_error {channel, data}
//   event {channel, listener, data}     a .listen(listener) callback ran
//   whisper {channel, name, data}       a .listenForWhisper(name) callback ran
//   here {channel, users} | joining {channel, user} | leaving {channel, user}
//   socket_id {socket_id}

import Echo from 'laravel-echo';
import Pusher from 'pusher-js';

import { authHandler, emit, runCommands, serverFromArgs } from './common.mjs';

const server = serverFromArgs();
const clients = new Map();

function connect(name, broadcaster, user) {
  const echo = new Echo({
    broadcaster,
    key: server.key,
    wsHost: server.host,
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws', 'wss'],
    cluster: '',
    disableStats: true,
    Pusher,
    channelAuthorization: { customHandler: authHandler(server, user, new Set()) },
  });
  echo.connector.pusher.connection.bind('connected', () =>
    emit({ client: name, step: 'connected', socket_id: echo.socketId() }));
  clients.set(name, echo);
}

// Echo channel names omit the "private-"/"presence-" prefix; observations report Echo's name.
function watch(name, channel, channelName, listen, whispers) {
  channel.subscribed(() => emit({ client: name, step: 'subscribed', channel: channelName }));
  channel.error((data) =>
    emit({ client: name, step: 'subscription_error', channel: channelName, data }));
  for (const listener of listen ?? []) {
    channel.listen(listener, (data) =>
      emit({ client: name, step: 'event', channel: channelName, listener, data }));
  }
  for (const whisper of whispers ?? []) {
    channel.listenForWhisper(whisper, (data) =>
      emit({ client: name, step: 'whisper', channel: channelName, name: whisper, data }));
  }
}

function handle(command) {
  const name = command.client;
  if (command.cmd === 'connect') {
    connect(name, command.broadcaster ?? 'pusher', command.user);
    return;
  }
  const echo = clients.get(name);
  if (echo === undefined) throw new Error(`unknown client ${name}: send connect first`);
  const channelName = command.channel;
  switch (command.cmd) {
    case 'channel':
      watch(name, echo.channel(channelName), channelName, command.listen, []);
      break;
    case 'private':
      watch(name, echo.private(channelName), channelName, command.listen, command.whispers);
      break;
    case 'join': {
      const presence = echo.join(channelName)
        .here((users) => emit({ client: name, step: 'here', channel: channelName, users }))
        .joining((user) => emit({ client: name, step: 'joining', channel: channelName, user }))
        .leaving((user) => emit({ client: name, step: 'leaving', channel: channelName, user }));
      watch(name, presence, channelName, command.listen, command.whispers);
      break;
    }
    case 'whisper': {
      const channel = command.kind === 'presence'
        ? echo.join(channelName)
        : echo.private(channelName);
      channel.whisper(command.event, command.data);
      break;
    }
    case 'socket_id':
      emit({ client: name, step: 'socket_id', socket_id: echo.socketId() });
      break;
    case 'leave':
      echo.leave(channelName);
      break;
    case 'disconnect':
      echo.disconnect();
      break;
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
}

runCommands(handle, () => {
  for (const echo of clients.values()) echo.disconnect();
});
