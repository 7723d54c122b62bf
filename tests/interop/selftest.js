#!/usr/bin/env node
/*
 * selftest.js - Node-only check of peer.js and express-service.js.
 *
 * Starts a private redis-server on a free port, two peers (node-a, node-b),
 * one hydra-express service (node-express) and a few short-lived peers, and
 * drives them through the JSON-lines protocol exactly as the Rust tests do.
 *
 * Prints one line per check and a closing "N passed, N failed" line.
 * Exit code 0 when every check passed, 1 otherwise. All children (and
 * redis) are killed in every case.
 *
 * Env: REDIS_SERVER (default: redis-server from PATH, else /usr/bin/redis-server).
 */
'use strict';

const {spawn} = require('child_process');
const assert = require('assert');
const fs = require('fs');
const net = require('net');
const path = require('path');
const readline = require('readline');

const HERE = __dirname;
const OVERALL_TIMEOUT_MS = 120000;
const children = new Set();

// ---------------------------------------------------------------- helpers

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Ask the kernel for a free TCP port: bind port 0, read it, close. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const {port} = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Resolve once something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const sock = net.connect(port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`nothing listening on port ${port} after ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

function redisServerPath() {
  if (process.env.REDIS_SERVER) {
    return process.env.REDIS_SERVER;
  }
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, 'redis-server');
    if (dir && fs.existsSync(candidate)) {
      return candidate;
    }
  }
  return '/usr/bin/redis-server';
}

function startChild(label, command, args, env) {
  const child = spawn(command, args, {
    cwd: HERE,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child);
      resolve({code, signal});
    });
  });
  // Children's stderr is only interesting when something fails; keep the
  // tail of it for the failure report.
  child.stderrTail = [];
  readline.createInterface({input: child.stderr}).on('line', (line) => {
    child.stderrTail.push(line);
    if (child.stderrTail.length > 40) {
      child.stderrTail.shift();
    }
    if (process.env.SELFTEST_VERBOSE) {
      process.stderr.write(`[${label} stderr] ${line}\n`);
    }
  });
  return child;
}

/**
 * One peer.js / express-service.js process and its JSON-lines protocol.
 * Every parsed stdout line is kept in `events` (or routed to the caller of
 * the command with the same id).
 */
class Peer {
  constructor(label, script, env) {
    this.label = label;
    this.nextId = 1;
    this.pending = new Map();
    this.events = [];
    this.waiters = [];
    this.child = startChild(label, process.execPath, [path.join(HERE, script)],
      Object.assign({}, process.env, env));
    readline.createInterface({input: this.child.stdout}).on('line', (line) => this.onLine(line));
  }

  onLine(line) {
    let obj;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      obj = {event: 'non-json-stdout', line};
    }
    if (obj.event === undefined && obj.id !== null && this.pending.has(obj.id)) {
      const {resolve} = this.pending.get(obj.id);
      this.pending.delete(obj.id);
      resolve(obj);
      return;
    }
    this.events.push(obj);
    this.waiters = this.waiters.filter((w) => {
      if (w.pred(obj)) {
        w.resolve(obj);
        return false;
      }
      return true;
    });
  }

  /** Wait for an event (already seen or future) that matches `pred`. */
  waitEvent(pred, timeoutMs = 5000, what = 'event') {
    const seen = this.events.find(pred);
    if (seen) {
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const waiter = {pred, resolve};
      this.waiters.push(waiter);
      setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
  }

  async ready(timeoutMs = 20000) {
    const ev = await this.waitEvent((e) => e.event === 'ready' || e.event === 'fatal',
      timeoutMs, 'ready event');
    if (ev.event === 'fatal') {
      throw new Error(`${this.label} failed to start: ${ev.error}`);
    }
    this.readyEvent = ev;
    return ev;
  }

  /** Send a raw line; resolves with the next reply that has id null. */
  sendRaw(line, timeoutMs = 5000) {
    this.child.stdin.write(line + '\n');
    return this.waitEvent((e) => e.event === undefined && e.id === null, timeoutMs, 'id:null reply');
  }

  /** Run a command; resolves with the whole reply line {id, ok, result|error}. */
  request(cmd, args, timeoutMs = 10000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, {resolve});
      this.child.stdin.write(JSON.stringify({id, cmd, args}) + '\n');
      setTimeout(() => {
        if (this.pending.delete(id)) {
          reject(new Error(`${this.label}: no reply to ${cmd} (id ${id}) within ${timeoutMs} ms`));
        }
      }, timeoutMs);
    });
  }

  /** Run a command; resolves with `result`, rejects on ok:false. */
  async call(cmd, ...args) {
    const reply = await this.request(cmd, args);
    if (!reply.ok) {
      throw new Error(`${this.label}.${cmd} failed: ${reply.error}`);
    }
    return reply.result;
  }

  messages() {
    return this.events.filter((e) => e.event === 'message').map((e) => e.msg);
  }

  waitMessage(pred, timeoutMs = 5000, what = 'message') {
    return this.waitEvent((e) => e.event === 'message' && pred(e.msg), timeoutMs, what)
      .then((e) => e.msg);
  }
}

/** Resolve with the exit status, or reject after timeoutMs. */
function exitWithin(child, timeoutMs) {
  return Promise.race([
    child.exited,
    sleep(timeoutMs).then(() => {
      throw new Error(`process ${child.pid} still running after ${timeoutMs} ms`);
    }),
  ]);
}

function killEverything() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch (err) {
      // already gone
    }
  }
}

// ---------------------------------------------------------------- checks

let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`ok   - ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL - ${name}: ${err && err.stack ? err.stack : err}`);
  }
}

async function main() {
  const redisPort = await freePort();
  const redisUrl = `redis://127.0.0.1:${redisPort}/15`;
  const redis = startChild('redis', redisServerPath(), [
    '--port', String(redisPort), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no',
  ], process.env);
  await waitForPort(redisPort, 10000);
  console.log(`# redis-server on port ${redisPort}`);

  const baseEnv = {HYDRA_REDIS_URL: redisUrl};
  const a = new Peer('node-a', 'peer.js', Object.assign({PEER_NAME: 'node-a'}, baseEnv));
  const b = new Peer('node-b', 'peer.js', Object.assign({
    PEER_NAME: 'node-b',
    PEER_ROUTES: JSON.stringify(['[get]/v1/node/hi']),
  }, baseEnv));
  const ex = new Peer('node-express', 'express-service.js',
    Object.assign({PEER_NAME: 'node-express'}, baseEnv));
  const everyone = [a, b, ex];

  let aId;
  let bId;
  let exId;
  await check('peers and express service start', async () => {
    await Promise.all(everyone.map((p) => p.ready()));
    aId = a.readyEvent.instanceID;
    bId = b.readyEvent.instanceID;
    exId = ex.readyEvent.instanceID;
    assert.match(aId, /^[0-9a-f]{32}$/);
    assert.strictEqual(a.readyEvent.serviceName, 'node-a');
    assert.strictEqual(a.readyEvent.config.hydra.redis.url, redisUrl);
    assert.ok(Number(ex.readyEvent.port) > 0);
  });
  if (failed) {
    return;
  }

  await check('getInstanceID matches ready event', async () => {
    assert.strictEqual(await a.call('getInstanceID'), aId);
  });

  await check('getServicePresence / hasServicePresence', async () => {
    const presence = await a.call('getServicePresence', 'node-b');
    assert.ok(Array.isArray(presence) && presence.length === 1, JSON.stringify(presence));
    assert.strictEqual(presence[0].instanceID, bId);
    assert.strictEqual(presence[0].ip, '127.0.0.1');
    assert.strictEqual(await a.call('hasServicePresence', 'node-b'), true);
    assert.strictEqual(await a.call('hasServicePresence', 'no-such-service'), false);
  });

  let echoRequest;
  await check('sendMessage echo a -> b, b auto-replies with rmid', async () => {
    const sent = await a.call('sendMessage', {
      to: 'node-b:/', frm: `${aId}@node-a:/`, typ: 'echo', bdy: {x: 1},
    });
    assert.strictEqual(sent, null); // hydra resolves undefined on success
    echoRequest = await b.waitMessage((m) => m.typ === 'echo' && m.bdy && m.bdy.x === 1,
      5000, 'echo request');
    assert.ok(echoRequest.mid, 'request has a mid');
    const reply = await a.waitMessage((m) => m.rmid === echoRequest.mid, 5000, 'echo reply');
    assert.deepStrictEqual(reply.bdy, {echo: {x: 1}, from: 'node'});
    assert.strictEqual(reply.to, `${aId}@node-a:/`);
    assert.strictEqual(reply.frm, 'node-b:/');
    // sendReplyMessage keeps the request's fields it does not override.
    assert.strictEqual(reply.typ, 'echo');
    assert.notStrictEqual(reply.mid, echoRequest.mid);
  });

  await check('auto-reply does not answer replies (no ping-pong)', async () => {
    await sleep(500);
    const replies = b.messages().filter((m) => m.rmid);
    assert.strictEqual(replies.length, 0, JSON.stringify(replies));
  });

  await check('sendMessage to a named instance', async () => {
    await a.call('sendMessage', {to: `${bId}@node-b:/`, frm: 'node-a:/', typ: 'direct', bdy: {d: 1}});
    await b.waitMessage((m) => m.typ === 'direct', 5000, 'direct message');
  });

  await check('sendMessage to an absent service resolves with a 503 object', async () => {
    const res = await a.call('sendMessage', {to: 'no-such-service:/', frm: 'node-a:/', bdy: {}});
    assert.strictEqual(res.statusCode, 503);
  });

  await check('sendBroadcastMessage a -> node-b', async () => {
    const res = await a.call('sendBroadcastMessage', {
      to: 'node-b:/', frm: 'node-a:/', typ: 'bcast', bdy: {y: 2},
    });
    assert.strictEqual(res, null);
    const msg = await b.waitMessage((m) => m.typ === 'bcast', 5000, 'broadcast');
    assert.deepStrictEqual(msg.bdy, {y: 2});
  });

  await check('sendReplyMessage command b -> a', async () => {
    await b.call('sendReplyMessage', echoRequest, {typ: 'manual-reply', bdy: {manual: true}});
    const reply = await a.waitMessage((m) => m.typ === 'manual-reply', 5000, 'manual reply');
    assert.strictEqual(reply.rmid, echoRequest.mid);
    assert.deepStrictEqual(reply.bdy, {manual: true});
  });

  const storedConfig = {
    hydra: {
      serviceName: 'node-c',
      serviceIP: '127.0.0.1',
      servicePort: 0,
      serviceType: 'pulled',
      serviceDescription: 'config pulled from redis',
      redis: {url: redisUrl},
    },
    appSetting: 'yes',
  };
  await check('putConfig / getConfig / listConfig', async () => {
    assert.strictEqual(await a.call('putConfig', 'node-c:0.0.9', storedConfig), null);
    assert.deepStrictEqual(await a.call('getConfig', 'node-c:0.0.9'), storedConfig);
    assert.deepStrictEqual(await a.call('listConfig', 'node-c'), ['node-c:0.0.9']);
    assert.strictEqual(await a.call('getConfig', 'node-c:9.9.9'), null);
  });

  await check('HYDRA_SERVICE=name:version pulls the stored config', async () => {
    const c = new Peer('node-c', 'peer.js', Object.assign({
      PEER_NAME: 'placeholder',
      PEER_KEEP_HYDRA_SERVICE: '1',
      HYDRA_SERVICE: 'node-c:0.0.9',
    }, baseEnv));
    try {
      const ev = await c.ready();
      assert.strictEqual(ev.serviceName, 'node-c');
      assert.strictEqual(ev.config.appSetting, 'yes');
      assert.strictEqual(ev.config.hydra.serviceType, 'pulled');
      assert.strictEqual(await a.call('hasServicePresence', 'node-c'), true);
      await c.call('shutdown');
      const status = await exitWithin(c.child, 5000);
      assert.strictEqual(status.code, 0);
    } finally {
      c.child.kill('SIGKILL');
    }
  });

  await check('client-only peer (PEER_REGISTER=0) queries and exits on stdin EOF', async () => {
    const probe = new Peer('node-probe', 'peer.js',
      Object.assign({PEER_NAME: 'node-probe', PEER_REGISTER: '0'}, baseEnv));
    try {
      await probe.ready();
      const presence = await probe.call('getServicePresence', 'node-a');
      assert.strictEqual(presence[0].instanceID, aId);
      assert.strictEqual(await a.call('hasServicePresence', 'node-probe'), false);
      probe.child.stdin.end();
      const status = await exitWithin(probe.child, 5000);
      assert.strictEqual(status.code, 0);
    } finally {
      probe.child.kill('SIGKILL');
    }
  });

  await check('queueMessage / getQueuedMessage / markQueueMessage', async () => {
    const job = {to: 'node-b:/', frm: 'node-a:/', mid: 'q-1', typ: 'job', bdy: {job: 1}};
    assert.deepStrictEqual(await a.call('queueMessage', job), job);
    const got = await b.call('getQueuedMessage', 'node-b');
    assert.strictEqual(got.mid, 'q-1');
    assert.deepStrictEqual(got.bdy, {job: 1});
    const done = await b.call('markQueueMessage', got, true, 'done');
    assert.strictEqual(done.bdy.reason, 'done');
    assert.strictEqual(await b.call('getQueuedMessage', 'node-b'), null);

    await a.call('queueMessage', Object.assign({}, job, {mid: 'q-2'}));
    const got2 = await b.call('getQueuedMessage', 'node-b');
    assert.strictEqual(got2.mid, 'q-2');
    // Not completed: hydra moves it to :mqincomplete and resolves with that
    // list's new length.
    assert.strictEqual(await b.call('markQueueMessage', got2, false, 'failed'), 1);
  });

  await check('sign on a, verify on b', async () => {
    const input = {
      to: 'node-b:/', frm: 'node-a:/', mid: 'sig-1', ts: '2024-01-01T00:00:00.000Z',
      bdy: {v: [1, 2], s: 'héllo'},
    };
    const signed = await a.call('sign', input, 's3cret');
    assert.match(signed.short.sig, /^[0-9a-f]{64}$/);
    assert.strictEqual(signed.long.signature, signed.short.sig);
    assert.strictEqual((await b.call('verify', signed.short, 's3cret')).valid, true);
    assert.strictEqual((await b.call('verify', signed.long, 's3cret')).valid, true);
    const wrong = await b.call('verify', signed.short, 'wrong');
    assert.strictEqual(wrong.valid, false);
    assert.notStrictEqual(wrong.expected, signed.short.sig);
    const tampered = Object.assign({}, signed.short, {bdy: {v: [1, 3], s: 'héllo'}});
    assert.strictEqual((await b.call('verify', tampered, 's3cret')).valid, false);
  });

  await check('makeAPIRequest GET node-express:[get]/v1/node/hello', async () => {
    const res = await a.call('makeAPIRequest', {
      to: 'node-express:[get]/v1/node/hello', from: 'node-a:/', body: {},
    });
    assert.strictEqual(res.statusCode, 200, JSON.stringify(res));
    assert.strictEqual(res.result.msg, `hello from node-express - ${exId}`);
  });

  await check('makeAPIRequest POST echo', async () => {
    const res = await a.call('makeAPIRequest', {
      to: 'node-express:[post]/v1/node/echo', frm: 'node-a:/', bdy: {z: 3, s: 'ü'},
    });
    assert.strictEqual(res.statusCode, 200, JSON.stringify(res));
    assert.deepStrictEqual(res.result.body, {z: 3, s: 'ü'});
  });

  await check('makeAPIRequest GET slow?ms=200', async () => {
    const t0 = Date.now();
    const res = await a.call('makeAPIRequest', {
      to: 'node-express:[get]/v1/node/slow?ms=200', from: 'node-a:/', body: {},
    });
    assert.strictEqual(res.statusCode, 200, JSON.stringify(res));
    assert.strictEqual(res.result.sleptMs, 200);
    assert.ok(Date.now() - t0 >= 200);
  });

  await check('makeAPIRequest without a body is refused with 400', async () => {
    const res = await a.call('makeAPIRequest', {to: 'node-express:[get]/v1/node/hello', from: 'node-a:/'});
    assert.strictEqual(res.statusCode, 400);
  });

  await check('makeAPIRequest to an absent service gives 503', async () => {
    const res = await a.call('makeAPIRequest', {to: 'nobody:[get]/x', from: 'node-a:/', body: {}});
    assert.strictEqual(res.statusCode, 503);
  });

  await check('registry queries', async () => {
    const services = (await a.call('getServices')).map((s) => s.serviceName).sort();
    for (const name of ['node-a', 'node-b', 'node-express']) {
      assert.ok(services.includes(name), `getServices lacks ${name}: ${services}`);
    }
    const routes = await a.call('getAllServiceRoutes');
    assert.ok(routes['node-express'].includes('[get]/v1/node/hello'), JSON.stringify(routes));
    assert.ok(routes['node-express'].includes('[post]/v1/node/echo'), JSON.stringify(routes));
    assert.ok(routes['node-b'].includes('[get]/v1/node/hi'), JSON.stringify(routes));
    assert.strictEqual((await a.call('findService', 'node-express')).serviceName, 'node-express');
    const nodes = await a.call('getServiceNodes');
    assert.ok(nodes.some((n) => n.instanceID === exId));
    const health = await a.call('getServiceHealthAll');
    assert.ok(Array.isArray(health) && health.length >= 3);
  });

  await check('findService of an unknown service is an error reply', async () => {
    const reply = await a.request('findService', ['no-such-service']);
    assert.strictEqual(reply.ok, false);
    assert.match(reply.error, /no-such-service/);
  });

  await check('bad input lines never crash the peer', async () => {
    const bad = await a.sendRaw('this is not json');
    assert.strictEqual(bad.ok, false);
    const unknown = await a.request('noSuchCommand', []);
    assert.strictEqual(unknown.ok, false);
    assert.strictEqual(await a.call('getInstanceID'), aId);
  });

  await check('shutdown command exits 0 and removes presence', async () => {
    await a.call('shutdown');
    const status = await exitWithin(a.child, 5000);
    assert.strictEqual(status.code, 0);
    // getServicePresence caches for 3 s; hasServicePresence reads Redis.
    assert.strictEqual(await b.call('hasServicePresence', 'node-a'), false);
  });

  await check('SIGTERM stops peer and express service with exit 0', async () => {
    b.child.kill('SIGTERM');
    ex.child.kill('SIGTERM');
    const [sb, se] = await Promise.all([exitWithin(b.child, 5000), exitWithin(ex.child, 5000)]);
    assert.strictEqual(sb.code, 0);
    assert.strictEqual(se.code, 0);
  });

  await check('no stray stdout lines', async () => {
    for (const p of everyone) {
      const junk = p.events.filter((e) => e.event === 'non-json-stdout');
      assert.deepStrictEqual(junk, [], `${p.label} printed non-JSON on stdout`);
    }
  });

  if (failed) {
    for (const p of everyone) {
      console.log(`# ${p.label} stderr tail:\n#   ${p.child.stderrTail.join('\n#   ')}`);
    }
  }
  redis.kill('SIGTERM');
}

const watchdog = setTimeout(() => {
  console.log(`FAIL - selftest did not finish within ${OVERALL_TIMEOUT_MS} ms`);
  failed += 1;
  finish();
}, OVERALL_TIMEOUT_MS);

function finish() {
  clearTimeout(watchdog);
  killEverything();
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

process.on('SIGINT', () => {
  failed += 1;
  finish();
});
process.on('SIGTERM', () => {
  failed += 1;
  finish();
});
process.on('exit', killEverything);

main()
  .catch((err) => {
    failed += 1;
    console.log(`FAIL - selftest crashed: ${err && err.stack ? err.stack : err}`);
  })
  .then(finish);
