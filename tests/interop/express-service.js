#!/usr/bin/env node
/*
 * express-service.js - a real hydra-express@1.9.5 HTTP service for the
 * hydra-rs cross-language HTTP tests.
 *
 * Env: HYDRA_REDIS_URL (required), PEER_NAME (default node-express),
 *      PEER_PORT (default 0 = hydra picks a free port), PEER_VERSION (optional).
 *
 * Routes (registered with hydra through hydraExpress.registerRoutes, so they
 * show up in hydra:service:<name>:service:routes):
 *   GET  /v1/node/hello       -> {result: {msg: "hello from <name> - <instanceID>"}}
 *   POST /v1/node/echo        -> {result: {body: <request JSON body>}}
 *   GET  /v1/node/slow?ms=N   -> {result: {sleptMs: N}} after N ms
 *
 * stdout: exactly one line {"event":"ready","instanceID":"...","port":N}
 * (or {"event":"fatal","error":"..."} and exit 1). Everything else goes to
 * stderr. Exits 0 on SIGTERM, SIGINT or stdin EOF.
 */
'use strict';

// hydra-express's default logger writes with console.log/console.dir; keep
// stdout for the single protocol line.
for (const name of ['log', 'info', 'warn', 'debug', 'dir']) {
  console[name] = console.error;
}

const redisUrl = process.env.HYDRA_REDIS_URL;
const serviceName = process.env.PEER_NAME || 'node-express';
const servicePort = Number(process.env.PEER_PORT || 0);

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fatal(message) {
  readySent = true; // the fatal line replaces the ready line
  emit({event: 'fatal', error: message});
  process.exit(1);
}

if (!redisUrl) {
  fatal('HYDRA_REDIS_URL is required');
}
// Same reason as in peer.js: a name:version HYDRA_SERVICE would make hydra
// load its config from Redis instead of using ours.
if (process.env.PEER_KEEP_HYDRA_SERVICE !== '1') {
  delete process.env.HYDRA_SERVICE;
}

const hydraExpress = require('hydra-express');
// Use the exact hydra and express instances that hydra-express itself uses.
const hydra = hydraExpress.getHydra();
const express = hydraExpress.getExpress();

let stopping = false;
let readySent = false;

// hydra-express calls process.exit(1) itself when hydra.init() fails; make
// sure the driver still gets a line saying so.
process.on('exit', (code) => {
  if (!readySent && code !== 0) {
    emit({event: 'fatal', error: `exited with code ${code} before ready (see stderr)`});
  }
});

function stopAndExit() {
  if (stopping) {
    return;
  }
  stopping = true;
  setTimeout(() => process.exit(0), 3000).unref();
  const done = () => process.exit(0);
  if (hydraExpress.server) {
    // Closes the HTTP server, then shuts hydra down (presence key removed).
    hydraExpress.shutdown().then(done, done);
  } else if (hydra.initialized) {
    hydra.shutdown().then(done, done);
  } else {
    done();
  }
}

function onSignal() {
  stopAndExit();
}
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
process.stdin.on('end', stopAndExit);
process.stdin.on('error', stopAndExit);
process.stdin.resume();

/** Called by hydra-express once its HTTP server is listening. */
function registerRoutes() {
  const router = express.Router();

  router.get('/hello', (req, res) => {
    hydraExpress.sendResponse(200, res, {
      result: {msg: `hello from ${hydra.getServiceName()} - ${hydra.getInstanceID()}`},
    });
  });

  router.post('/echo', (req, res) => {
    hydraExpress.sendResponse(200, res, {result: {body: req.body}});
  });

  router.get('/slow', (req, res) => {
    const ms = Math.max(0, Number(req.query.ms) || 0);
    setTimeout(() => {
      hydraExpress.sendResponse(200, res, {result: {sleptMs: ms}});
    }, ms);
  });

  // hydra-express turns this into "[get]/v1/node/hello", "[post]/v1/node/echo",
  // "[get]/v1/node/slow" and hands them to hydra.registerRoutes().
  hydraExpress.registerRoutes({'/v1/node': router});
}

const config = {
  hydra: {
    serviceName,
    serviceIP: '127.0.0.1',
    servicePort,
    serviceType: 'interop',
    serviceDescription: 'node interop hydra-express service',
    redis: {url: redisUrl},
  },
};

// hydra-express uses `version` as hydra.serviceVersion; without it hydra
// reads the version of the package.json next to this script.
hydraExpress.init(config, process.env.PEER_VERSION, registerRoutes)
  .then(() => {
    // hydra-express installs SIGTERM/SIGINT handlers of its own that exit
    // with code 1 after a delay; keep only ours so shutdown is quick and clean.
    for (const sig of ['SIGTERM', 'SIGINT']) {
      for (const listener of process.listeners(sig)) {
        if (listener !== onSignal) {
          process.removeListener(sig, listener);
        }
      }
    }
    readySent = true;
    emit({
      event: 'ready',
      instanceID: hydra.getInstanceID(),
      port: hydraExpress.server.address().port,
    });
  })
  .catch((err) => fatal(err && err.message ? err.message : String(err)));
