'use strict';
// UMF request/reply round trips between two Node hydra instances, for the Rust benchmark's
// comparison column.
//
//   node bench-roundtrip.js echo     # an instance of `bench-node-echo` that replies to everything
//   node bench-roundtrip.js client   # measures against it, prints one JSON line of results
//
// Env: HYDRA_REDIS_URL (required), BENCH_SECONDS (default 3).

const hydra = require('hydra');

const mode = process.argv[2];
const url = process.env.HYDRA_REDIS_URL;
const seconds = Number(process.env.BENCH_SECONDS || 3);
const ECHO = 'bench-node-echo';

// hydra logs to the console; keep stdout for the result line.
console.log = (...args) => process.stderr.write(args.join(' ') + '\n');

async function start(name) {
  await hydra.init({hydra: {serviceName: name, serviceIP: '127.0.0.1', servicePort: 0,
    serviceType: 'bench', serviceDescription: 'round trip benchmark', redis: {url}}});
  await hydra.registerService();
}

function percentile(sorted, p) {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function runEcho() {
  await start(ECHO);
  hydra.on('message', (msg) => {
    if (msg.rmid) return;
    hydra.sendReplyMessage(msg, hydra.createUMFMessage({bdy: {n: msg.bdy.n}}));
  });
  process.stdout.write(JSON.stringify({event: 'ready'}) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => hydra.shutdown().then(() => process.exit(0)));
}

async function runClient() {
  await start('bench-node-client');
  const me = `${hydra.getInstanceID()}@bench-node-client:/`;
  const waiting = new Map();
  hydra.on('message', (msg) => {
    const done = waiting.get(msg.rmid);
    if (done) {
      waiting.delete(msg.rmid);
      done();
    }
  });
  let n = 0;
  const roundTrip = () => new Promise((resolve) => {
    const msg = hydra.createUMFMessage({to: `${ECHO}:/`, frm: me, typ: 'bench', bdy: {n: n++}});
    const started = process.hrtime.bigint();
    waiting.set(msg.mid, () => resolve(Number(process.hrtime.bigint() - started) / 1e6));
    hydra.sendMessage(msg);
  });
  // Wait until the echo instance answers.
  for (let i = 0; i < 50; i++) {
    const ok = await Promise.race([roundTrip().then(() => true), new Promise((r) => setTimeout(() => r(false), 200))]);
    if (ok) break;
  }
  const results = {};
  for (const inflight of [1, 64]) {
    const lat = [];
    const end = Date.now() + seconds * 1000;
    const worker = async () => {
      while (Date.now() < end) lat.push(await roundTrip());
    };
    const t0 = Date.now();
    await Promise.all(Array.from({length: inflight}, worker));
    const elapsed = (Date.now() - t0) / 1000;
    lat.sort((a, b) => a - b);
    results[`inflight${inflight}`] = {rps: lat.length / elapsed, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99)};
  }
  process.stdout.write(JSON.stringify(results) + '\n');
  await hydra.shutdown();
  process.exit(0);
}

(mode === 'echo' ? runEcho() : runClient()).catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
