#!/usr/bin/env node
/*
 * peer.js - one real Node hydra (npm hydra@1.9.3) peer, driven over
 * stdin/stdout JSON lines by the hydra-rs interop tests (hydra_testkit::NodePeer).
 *
 * It takes hydra from the node_modules of the folder it runs in (the working
 * directory), not from beside this file: the test kit ships it, and runs it
 * in this repository's tests/interop or in $HYDRA_NODE_DIR.
 *
 * stdout carries ONLY protocol lines (one JSON object per line):
 *   {"event":"ready","instanceID":"...","serviceName":"...","config":{...}}
 *   {"event":"message","msg":{...}}            every hydra 'message' event
 *   {"event":"fatal","error":"..."}            init failed; the process exits 1
 *   {"id":N,"ok":true,"result":...}            answer to a command
 *   {"id":N,"ok":false,"error":"..."}          failed command (id null for a bad line)
 * Everything else (hydra 'log' events, console output of the libraries)
 * goes to stderr.
 *
 * See tests/interop/README.md for the environment variables and the command list.
 */
'use strict';

// Hydra's redis helper prints reconnect attempts with console.log; keep
// stdout clean for the protocol by sending all console output to stderr.
for (const name of ['log', 'info', 'warn', 'debug', 'dir']) {
  console[name] = console.error;
}

const readline = require('readline');

const redisUrl = process.env.HYDRA_REDIS_URL;
const serviceName = process.env.PEER_NAME || 'node-peer';
const doRegister = (process.env.PEER_REGISTER || '1') !== '0';
const autoReply = (process.env.PEER_AUTOREPLY || '1') !== '0';
const servicePort = Number(process.env.PEER_PORT || 0);
const keepHydraService = process.env.PEER_KEEP_HYDRA_SERVICE === '1';

let routes = null;

/** Write one protocol line to stdout (synchronous for pipes on Linux). */
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function errorText(err) {
  if (err instanceof Error) {
    return err.message || String(err);
  }
  return typeof err === 'string' ? err : JSON.stringify(err);
}

function fatal(message) {
  emit({event: 'fatal', error: message});
  process.exit(1);
}

if (!redisUrl) {
  fatal('HYDRA_REDIS_URL is required');
}
if (process.env.PEER_ROUTES) {
  try {
    routes = JSON.parse(process.env.PEER_ROUTES);
    if (!Array.isArray(routes)) {
      throw new Error('not an array');
    }
  } catch (err) {
    fatal(`PEER_ROUTES must be a JSON array of strings: ${errorText(err)}`);
  }
}

// hydra.init() looks at HYDRA_SERVICE itself. A plain "name:version" value
// makes it ignore the config we pass and load the one stored in Redis, so
// drop it unless the test explicitly wants that behaviour.
if (!keepHydraService) {
  delete process.env.HYDRA_SERVICE;
}

const hydra = require(require.resolve('hydra', {paths: [process.cwd()]}));

let shuttingDown = false;

/**
 * Shut hydra down (removes our presence key, closes the Redis clients) and
 * exit with `code`. Guarded so that EOF + signal + command only run it once;
 * a timer makes sure a stuck Redis connection cannot keep us alive.
 */
function shutdownAndExit(code) {
  if (shuttingDown) {
    return;
  }
  shuttingDown = true;
  setTimeout(() => process.exit(code), 3000).unref();
  Promise.resolve()
    .then(() => (hydra.initialized ? hydra.shutdown() : null))
    .catch((err) => console.error('shutdown error:', err))
    .then(() => process.exit(code));
}

process.on('SIGTERM', () => shutdownAndExit(0));
process.on('SIGINT', () => shutdownAndExit(0));

/** Commands that map 1:1 onto the hydra API of the same name. */
const PLAIN_COMMANDS = [
  'getServicePresence',
  'hasServicePresence',
  'getServices',
  'getServiceNodes',
  'getAllServiceRoutes',
  'getServiceHealthAll',
  'findService',
  'sendMessage',
  'sendBroadcastMessage',
  'sendReplyMessage',
  'putConfig',
  'getConfig',
  'listConfig',
  'queueMessage',
  'getQueuedMessage',
  'markQueueMessage',
  'getInstanceID',
];

const commands = {};

for (const name of PLAIN_COMMANDS) {
  // Messages arrive as plain JSON objects. Every hydra entry point used here
  // runs its argument through UMFMessage.createMessage() (or only reads
  // `.to`), so plain objects are passed straight through.
  commands[name] = (...args) => hydra[name](...args);
}

commands.makeAPIRequest = (msg, sendOpts) => {
  return hydra.makeAPIRequest(msg, sendOpts || {}).then((res) => {
    // When the service answers with a non-JSON content type hydra leaves
    // the raw body as a Buffer in `payLoad`; give it back as text rather
    // than as JSON.stringify's {"type":"Buffer","data":[...]}.
    if (res && Buffer.isBuffer(res.payLoad)) {
      res.payLoad = res.payLoad.toString('utf8');
    }
    return res;
  });
};

commands.sign = (msg, secret) => {
  const m = hydra.createUMFMessage(msg);
  m.signMessage('sha256', secret);
  return {short: m.toShort(), long: m.toJSON()};
};

commands.verify = (msg, secret) => {
  const m = hydra.createUMFMessage(msg);
  // createMessage accepts both `sig` (short) and `signature` (long).
  const original = m.signature;
  // signMessage drops the old signature before hashing the message.
  m.signMessage('sha256', secret);
  const expected = m.signature;
  return {valid: original !== undefined && original === expected, expected};
};

commands.shutdown = () => {
  // The reply is written first; the actual shutdown runs on the next tick.
  setImmediate(() => shutdownAndExit(0));
  return null;
};

/** Parse and run one stdin line, always printing exactly one reply line. */
function handleLine(line) {
  if (line.trim() === '') {
    return;
  }
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    emit({id: null, ok: false, error: `invalid JSON: ${errorText(err)}`});
    return;
  }
  if (req === null || typeof req !== 'object' || Array.isArray(req)) {
    emit({id: null, ok: false, error: 'command must be a JSON object'});
    return;
  }
  const id = req.id === undefined ? null : req.id;
  if (typeof req.cmd !== 'string' || !Object.prototype.hasOwnProperty.call(commands, req.cmd)) {
    emit({id, ok: false, error: `unknown command: ${req.cmd}`});
    return;
  }
  const fn = commands[req.cmd];
  const args = req.args === undefined ? [] : req.args;
  if (!Array.isArray(args)) {
    emit({id, ok: false, error: 'args must be an array'});
    return;
  }
  // Promise.resolve().then() turns synchronous throws into rejections too.
  Promise.resolve()
    .then(() => fn(...args))
    .then(
      (result) => emit({id, ok: true, result: result === undefined ? null : result}),
      (err) => emit({id, ok: false, error: errorText(err)})
    )
    .catch((err) => emit({id, ok: false, error: `cannot encode result: ${errorText(err)}`}));
}

/**
 * Read commands from stdin. Lines that arrive before hydra is ready are
 * kept and run once it is, so a driver may write its first command early.
 */
let ready = false;
const pending = [];

function startCommandLoop() {
  const rl = readline.createInterface({input: process.stdin, terminal: false});
  rl.on('line', (line) => (ready ? handleLine(line) : pending.push(line)));
  // stdin EOF: the driving test is gone or done with us.
  rl.on('close', () => shutdownAndExit(0));
}

function markReady() {
  ready = true;
  pending.splice(0).forEach(handleLine);
}

async function main() {
  hydra.on('log', (entry) => console.error('hydra log:', JSON.stringify(entry)));

  hydra.on('message', (msg) => {
    emit({event: 'message', msg});
    // Only answer first-hand echo requests: sendReplyMessage copies every
    // field of the original (typ included) into the reply, so the reply
    // also has typ "echo" - without the rmid check two peers would bounce
    // replies at each other forever.
    if (autoReply && msg && msg.typ === 'echo' && !msg.rmid) {
      const response = hydra.createUMFMessage({bdy: {echo: msg.bdy, from: 'node'}});
      hydra.sendReplyMessage(msg, response)
        .then((res) => {
          if (res) {
            console.error('auto-reply not delivered:', JSON.stringify(res));
          }
        })
        .catch((err) => console.error('auto-reply failed:', err));
    }
  });

  const hydraConfig = {
    serviceName,
    serviceIP: '127.0.0.1',
    servicePort,
    serviceType: 'interop',
    serviceDescription: 'node interop peer',
    redis: {url: redisUrl},
  };
  if (process.env.PEER_VERSION) {
    hydraConfig.serviceVersion = process.env.PEER_VERSION;
  }
  // With PEER_KEEP_HYDRA_SERVICE=1 and HYDRA_SERVICE=name:version, init()
  // only checks serviceName in this object and then replaces the whole
  // config by the one stored in Redis (hydra:service:<name>:configs).
  const resolved = await hydra.init({hydra: hydraConfig});

  if (doRegister) {
    await hydra.registerService();
    if (routes) {
      await hydra.registerRoutes(routes);
    }
  }

  emit({
    event: 'ready',
    instanceID: hydra.getInstanceID(),
    serviceName: hydra.getServiceName(),
    config: resolved,
  });
  markReady();
}

startCommandLoop();
main().catch((err) => fatal(errorText(err)));
