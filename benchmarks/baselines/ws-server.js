// A minimal Node `ws` broadcast server: the "what a few lines of Node give you" baseline
// for `tidings bench`. It speaks only the subset the load generator needs:
//
//   WebSocket  ws://127.0.0.1:PORT/            client sends {"subscribe": "CHANNEL"} (any number
//                                               of times); server answers {"subscribed": "CHANNEL"}
//   HTTP       POST /publish?channel=CHANNEL    body is broadcast verbatim as one text message to
//                                               every subscriber of CHANNEL; answers 204
//
// It uses the stock `ws` API (one `send` per subscriber, no compression), which is how such a
// server is normally written. Usage: node ws-server.js PORT   (prints "listening PORT" when ready)
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 0);
const channels = new Map(); // channel -> Set<WebSocket>

function subscribe(ws, channel) {
  let subs = channels.get(channel);
  if (subs === undefined) {
    subs = new Set();
    channels.set(channel, subs);
  }
  subs.add(ws);
  ws.channels.push(channel);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  if (req.method !== 'POST' || url.pathname !== '/publish') {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('use POST /publish?channel=NAME\n');
    return;
  }
  const channel = url.searchParams.get('channel') || '';
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const subs = channels.get(channel);
    if (subs !== undefined) {
      for (const ws of subs) {
        if (ws.readyState === 1) ws.send(body, { binary: false });
      }
    }
    res.writeHead(204);
    res.end();
  });
});

const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 100 * 1024 });

wss.on('connection', (ws) => {
  ws.channels = [];
  ws.on('message', (data) => {
    let message;
    try {
      message = JSON.parse(data.toString());
    } catch (err) {
      ws.send(JSON.stringify({ error: 'messages must be JSON: {"subscribe": "CHANNEL"}' }));
      return;
    }
    if (typeof message.subscribe === 'string') {
      subscribe(ws, message.subscribe);
      ws.send(JSON.stringify({ subscribed: message.subscribe }));
    }
  });
  ws.on('close', () => {
    for (const channel of ws.channels) {
      const subs = channels.get(channel);
      if (subs !== undefined) {
        subs.delete(ws);
        if (subs.size === 0) channels.delete(channel);
      }
    }
  });
  ws.on('error', () => {});
});

server.listen(port, '127.0.0.1', 2048, () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => process.exit(0));
}
