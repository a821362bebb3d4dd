// Shared plumbing for the conformance drivers (pusher_driver.mjs, echo_driver.mjs).
//
// A driver is a tiny command interpreter: the Python test writes one JSON command per line
// on stdin ({"cmd": "connect", "client": "a", ...}) and the driver prints one JSON line per
// observation on stdout ({"client": "a", "step": "connected", "socket_id": "..."}).
// Every driver exits by itself: on {"cmd": "exit"}, when stdin closes, or at a hard deadline,
// so a crashed or hung test can never leave a Node process behind.

import { createHmac } from 'node:crypto';
import { createInterface } from 'node:readline';

/** Server address and credentials, from argv (host port) and env (TIDINGS_KEY/SECRET). */
export function serverFromArgs() {
  const [host, port] = process.argv.slice(2);
  if (!host || !port || Number.isNaN(Number(port))) {
    process.stderr.write('usage: node DRIVER.mjs HOST PORT  (env: TIDINGS_KEY, TIDINGS_SECRET)\n');
    process.exit(64);
  }
  return {
    host,
    port: Number(port),
    key: process.env.TIDINGS_KEY ?? 'app-key',
    secret: process.env.TIDINGS_SECRET ?? 'app-secret',
  };
}

/** Print one observation as a JSON line. */
export function emit(observation) {
  process.stdout.write(JSON.stringify(observation) + '\n');
}

/** The channel signature a backend would return: "key:HMAC_SHA256_hex(secret, socket:channel[:data])". */
export function channelAuth(key, secret, socketId, channelName, channelData) {
  const signed = channelData === undefined
    ? `${socketId}:${channelName}`
    : `${socketId}:${channelName}:${channelData}`;
  return `${key}:${createHmac('sha256', secret).update(signed).digest('hex')}`;
}

/**
 * A pusher-js `channelAuthorization.customHandler` that signs like a backend would.
 *
 * `user` ({user_id, user_info}) is sent as channel_data on presence channels; channels in
 * `forged` are signed with a wrong secret, so the server must refuse them.
 */
export function authHandler(server, user, forged) {
  return ({ socketId, channelName }, callback) => {
    const secret = forged.has(channelName) ? `${server.secret}-forged` : server.secret;
    if (channelName.startsWith('presence-')) {
      const channelData = JSON.stringify(user ?? { user_id: `anon-${socketId}` });
      callback(null, {
        auth: channelAuth(server.key, secret, socketId, channelName, channelData),
        channel_data: channelData,
      });
    } else {
      callback(null, { auth: channelAuth(server.key, secret, socketId, channelName) });
    }
  };
}

/**
 * A pusher-js `userAuthentication.customHandler` for `pusher.signin()` that signs `userData`
 * (the object a backend would pass to authenticate_user) like a backend would; `forge` signs
 * with a wrong secret, so the server must refuse the sign-in.
 */
export function userAuthHandler(server, userData, forge) {
  return ({ socketId }, callback) => {
    if (userData === undefined) {
      callback(new Error('this driver client was connected without signin_as'), null);
      return;
    }
    const secret = forge ? `${server.secret}-forged` : server.secret;
    const encoded = JSON.stringify(userData);
    const signature = createHmac('sha256', secret)
      .update(`${socketId}::user::${encoded}`)
      .digest('hex');
    callback(null, { auth: `${server.key}:${signature}`, user_data: encoded });
  };
}

/**
 * Run `handle(command)` for each JSON line on stdin; exit at `deadlineS` seconds at the latest.
 *
 * `shutdown()` is called before exiting so clients close their sockets cleanly.
 */
export function runCommands(handle, shutdown, deadlineS = Number(process.env.DRIVER_DEADLINE_S ?? 30)) {
  const finish = (code) => {
    try {
      shutdown();
    } finally {
      process.exit(code);
    }
  };
  setTimeout(() => {
    emit({ step: 'deadline', seconds: deadlineS });
    finish(3);
  }, deadlineS * 1000);
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let command;
    try {
      command = JSON.parse(line);
    } catch (error) {
      emit({ step: 'driver_error', error: `not JSON: ${line}` });
      return;
    }
    if (command.cmd === 'exit') {
      finish(0);
      return;
    }
    try {
      handle(command);
    } catch (error) {
      emit({ step: 'driver_error', cmd: command.cmd, error: String(error?.stack ?? error) });
    }
  });
  lines.on('close', () => finish(0));
}
