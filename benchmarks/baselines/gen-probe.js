// Generator probe: the same fan-out workload as `python -m benchmarks.loadgen` (scenario
// fanout, target ws) driven by Node `ws` clients, to decide which generator is cheaper per
// received message on this machine. Not used by `tidings bench` itself.
//
// Usage: node gen-probe.js PORT N SECONDS   -> prints one JSON line
'use strict';

const http = require('http');
const WebSocket = require('ws');

const [port, n, seconds] = process.argv.slice(2).map(Number);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const counts = new Array(n).fill(0);
let total = 0;
let published = 0;
let connected = 0;

function publish(done) {
  const body = `bm|${published}|${process.hrtime.bigint()}|${'x'.repeat(40)}`;
  const req = http.request(
    { host: '127.0.0.1', port, path: '/publish?channel=probe', method: 'POST', agent },
    (res) => { res.resume(); res.on('end', done); },
  );
  req.end(body);
}

function run() {
  const start = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const end = Date.now() + seconds * 1000;
  let inflight = 0;
  const pump = () => {
    while (inflight < 4 && Date.now() < end && published * n - total < 16 * n) {
      inflight += 1;
      published += 1;
      publish(() => { inflight -= 1; pump(); });
    }
    if (Date.now() >= end && inflight === 0 && total >= published * n) {
      const wall = Number(process.hrtime.bigint() - start) / 1e9;
      const cpu = process.cpuUsage(cpu0);
      const cpuS = (cpu.user + cpu.system) / 1e6;
      const bad = counts.filter((c) => c !== published).length;
      process.stdout.write(JSON.stringify({
        delivered: total, delivered_per_s: Math.round(total / wall), generator_cpu_pct: Math.round(100 * cpuS / wall),
        generator_cpu_us_per_msg: +(1e6 * cpuS / total).toFixed(3), wrong: bad,
      }) + '\n');
      process.exit(0);
    }
  };
  setInterval(pump, 5);
  pump();
}

for (let i = 0; i < n; i += 1) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
  ws.on('open', () => ws.send(JSON.stringify({ subscribe: 'probe' })));
  ws.on('message', (data) => {
    if (data[0] === 0x62) { // "b" of "bm|"
      counts[i] += 1;
      total += 1;
    } else if (++connected === n) {
      run();
    }
  });
}
setTimeout(() => { process.stderr.write('probe timed out\n'); process.exit(1); }, (seconds + 60) * 1000);
