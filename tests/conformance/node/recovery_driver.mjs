// Drives stock pusher-js 8 clients with (or without) tidings' recovery helper.
//
//   node recovery_driver.mjs HOST PORT    (env TIDINGS_KEY, TIDINGS_SECRET, RECOVERY_MODULE)
//
// RECOVERY_MODULE: a file holding the ES module GET /tidings/recovery.js served.
// Commands (stdin), each with "client":
//   connect {recovery: bool}     new Pusher(...) [+ enableRecovery(pusher, {onRecovery})]
//   subscribe {channel}          pusher.subscribe(channel), every event bound
// Observations (stdout), each with "client" and "step":
//   state {current} | subscribed {channel, data} | recovery {channel, recovered}
//   event {channel, event, data}

import { pathToFileURL } from 'node:url';

import Pusher from 'pusher-js';

import { emit, runCommands, serverFromArgs } from './common.mjs';

const server = serverFromArgs();
const { enableRecovery } = await import(pathToFileURL(process.env.RECOVERY_MODULE).href);
const clients = new Map();

function connect(name, recovery) {
  const pusher = new Pusher(server.key, {
    cluster: '',
    wsHost: server.host,
    wsPort: server.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
  });
  if (recovery) {
    enableRecovery(pusher, {
      onRecovery: (channel, recovered) => emit({ client: name, step: 'recovery', channel, recovered }),
    });
  }
  pusher.connection.bind('state_change', ({ current }) =>
    emit({ client: name, step: 'state', current }));
  clients.set(name, pusher);
}

function subscribe(name, channelName) {
  const channel = clients.get(name).subscribe(channelName);
  channel.bind('pusher:subscription_succeeded', (data) =>
    emit({ client: name, step: 'subscribed', channel: channelName, data }));
  channel.bind_global((event, data) => {
    if (!event.startsWith('pusher:')) {
      emit({ client: name, step: 'event', channel: channelName, event, data });
    }
  });
}

runCommands(
  (command) => {
    switch (command.cmd) {
      case 'connect':
        connect(command.client, Boolean(command.recovery));
        break;
      case 'subscribe':
        subscribe(command.client, command.channel);
        break;
      default:
        emit({ step: 'driver_error', error: `unknown command ${command.cmd}` });
    }
  },
  () => clients.forEach((pusher) => pusher.disconnect()),
);
