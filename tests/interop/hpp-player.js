#!/usr/bin/env node
/*
 * hpp-player.js - a Node hot potato player on hydra-express@1.9.5, playing by
 * the rules of the public cjus/hpp-service (hot-potato-player.js and
 * routes/hpp-v1-routes.js), for the cross-language games of hpp-service.
 *
 * Game rules kept as the original has them:
 *   - every message with typ "hotpotato" is looked at; one whose
 *     bdy.expiration < floor(now in seconds) makes this player broadcast
 *     {command: "gameover", result: "Game over, <me> lost!"};
 *   - "gameover" is logged and ends the game for the player that started it;
 *   - "received" is logged;
 *   - anything else is the potato: broadcast
 *     {command: "received", result: "[<me>]: received hot potato."}, wait a
 *     random delay, then send the same message (only to/frm changed) to the
 *     first other instance of the shuffled presence list;
 *   - GET /v1/hpp/startgame resets the log, counts down, sends a new potato
 *     with expiration = floor(now) + game length, and answers
 *     {result: {gameLog: [...]}} once a game over arrives. With nobody else
 *     present it logs "No other players found..." and, like the original,
 *     never answers.
 *   - broadcasts go to "hpp-service:/" from "hpp-service:/", the potato to
 *     "<id>@hpp-service:/" from "<me>@hpp-service:/". Extra bdy keys travel
 *     with the potato untouched.
 *
 * Env: HYDRA_REDIS_URL (required), HPP_PORT (default 0 = a free port), and
 * timings in milliseconds (the original's in brackets):
 *   HPP_COUNTDOWN_MS   [3000] countdown before the potato is sent
 *   HPP_TICK_MS        [1000] countdown step
 *   HPP_GAME_LENGTH_MS [5000] added to now for the potato's expiration
 *   HPP_DELAY_MIN_MS   [1000] shortest hold
 *   HPP_DELAY_MAX_MS   [2000] longest hold
 *
 * stdout: exactly one line {"event":"ready","instanceID":"...","port":N}
 * (or {"event":"fatal","error":"..."} and exit 1). The game log and all other
 * output go to stderr. Exits 0 on SIGTERM, SIGINT or stdin EOF.
 */
'use strict';

// hydra-express and the game log write with console.*; keep stdout for the
// single protocol line.
for (const name of ['log', 'info', 'warn', 'debug', 'dir']) {
  console[name] = console.error;
}

const SERVICE = 'hpp-service';

function envMs(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    fatal(`${name} must be a number of milliseconds, got ${JSON.stringify(raw)}`);
  }
  return value;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let readySent = false;
let stopping = false;

function fatal(message) {
  readySent = true; // the fatal line replaces the ready line
  emit({event: 'fatal', error: message});
  process.exit(1);
}

const redisUrl = process.env.HYDRA_REDIS_URL;
if (!redisUrl) {
  fatal('HYDRA_REDIS_URL is required');
}
// A name:version HYDRA_SERVICE would make hydra load another config.
if (process.env.PEER_KEEP_HYDRA_SERVICE !== '1') {
  delete process.env.HYDRA_SERVICE;
}

const timings = {
  countdownMs: envMs('HPP_COUNTDOWN_MS', 3000),
  tickMs: Math.max(1, envMs('HPP_TICK_MS', 1000)),
  gameLengthMs: envMs('HPP_GAME_LENGTH_MS', 5000),
  delayMinMs: envMs('HPP_DELAY_MIN_MS', 1000),
  delayMaxMs: envMs('HPP_DELAY_MAX_MS', 2000),
};
if (timings.delayMinMs > timings.delayMaxMs) {
  fatal('HPP_DELAY_MIN_MS is larger than HPP_DELAY_MAX_MS');
}

const hydraExpress = require('hydra-express');
const hydra = hydraExpress.getHydra();
const express = hydraExpress.getExpress();

/** One player; the same state and quirks as the original's single instance. */
const player = {
  name: '',
  gameLog: [],
  resolve: null,
  isStarter: false,

  init() {
    this.name = hydra.getInstanceID();
    this.gameLog = [];
    this.resolve = null;
    this.isStarter = false;
  },

  log(line) {
    console.log(line);
    this.gameLog.push(line);
  },

  broadcast(command, result) {
    const msg = hydra.createUMFMessage({
      to: `${SERVICE}:/`,
      frm: `${SERVICE}:/`,
      typ: 'hotpotato',
      bdy: {command, result},
    });
    hydra.sendBroadcastMessage(msg);
  },

  onMessage(message) {
    if (message.typ !== 'hotpotato') {
      return;
    }
    const bdy = message.bdy || {};
    if (bdy.expiration < Math.floor(Date.now() / 1000)) {
      this.broadcast('gameover', `Game over, ${this.name} lost!`);
    } else if (bdy.command === 'gameover') {
      this.log(bdy.result);
      if (this.isStarter && this.resolve) {
        this.resolve();
      }
    } else if (bdy.command === 'received') {
      this.log(bdy.result);
    } else {
      this.broadcast('received', `[${this.name}]: received hot potato.`);
      this.pass(message);
    }
  },

  randomWait() {
    const min = Math.ceil(timings.delayMinMs);
    const max = Math.floor(timings.delayMaxMs);
    return Math.floor(Math.random() * (max - min + 1)) + min;
  },

  pass(potato) {
    setTimeout(() => {
      hydra.getServicePresence(SERVICE).then((instances) => {
        const me = hydra.getInstanceID();
        const other = instances.find((entry) => entry.instanceID !== me);
        if (!other) {
          this.log('No other players found. Try adding players first and then starting the player with the hot potato last.');
          return;
        }
        potato.to = `${other.instanceID}@${SERVICE}:/`;
        potato.frm = `${me}@${SERVICE}:/`;
        hydra.sendMessage(potato);
      }).catch((err) => console.error('presence lookup failed', err));
    }, this.randomWait());
  },

  startGame() {
    this.isStarter = true;
    const steps = Math.round(timings.countdownMs / timings.tickMs);
    let elapsed = 0;
    return new Promise((resolve) => {
      this.resolve = resolve;
      const timer = setInterval(() => {
        const remaining = (timings.countdownMs - elapsed * timings.tickMs) / 1000;
        this.log(`Game starting in: ${remaining} seconds`);
        if (elapsed >= steps) {
          clearInterval(timer);
          this.gameLog.push('Sending hot potato...');
          const potato = hydra.createUMFMessage({
            to: `${SERVICE}:/`,
            frm: `${SERVICE}:/`,
            typ: 'hotpotato',
            bdy: {
              command: 'hotpotato',
              expiration: Math.floor((Date.now() + timings.gameLengthMs) / 1000),
            },
          });
          this.pass(potato);
        }
        elapsed += 1;
      }, timings.tickMs);
    });
  },
};

function stopAndExit() {
  if (stopping) {
    return;
  }
  stopping = true;
  setTimeout(() => process.exit(0), 3000).unref();
  const done = () => process.exit(0);
  if (hydraExpress.server) {
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

process.on('exit', (code) => {
  if (!readySent && code !== 0) {
    emit({event: 'fatal', error: `exited with code ${code} before ready (see stderr)`});
  }
});

/** Called by hydra-express once its HTTP server is listening. */
function registerRoutes() {
  const router = express.Router();
  router.get('/startgame', (req, res) => {
    player.init();
    player.startGame().then(() => {
      hydraExpress.sendResponse(200, res, {result: {gameLog: player.gameLog}});
    });
  });
  // Registered with hydra as "[get]/v1/hpp/startgame".
  hydraExpress.registerRoutes({'/v1/hpp': router});
}

const config = {
  hydra: {
    serviceName: SERVICE,
    serviceIP: '127.0.0.1',
    servicePort: Number(process.env.HPP_PORT || 0),
    serviceType: 'game',
    serviceDescription: 'Plays hot potato game',
    redis: {url: redisUrl},
  },
};

hydraExpress.init(config, '0.0.1', registerRoutes)
  .then(() => {
    // Keep only our signal handlers (hydra-express's exit with code 1 later).
    for (const sig of ['SIGTERM', 'SIGINT']) {
      for (const listener of process.listeners(sig)) {
        if (listener !== onSignal) {
          process.removeListener(sig, listener);
        }
      }
    }
    player.init();
    hydra.on('message', (message) => player.onMessage(message));
    readySent = true;
    emit({
      event: 'ready',
      instanceID: hydra.getInstanceID(),
      port: hydraExpress.server.address().port,
    });
  })
  .catch((err) => fatal(err && err.message ? err.message : String(err)));
