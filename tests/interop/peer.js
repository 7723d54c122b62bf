#!/usr/bin/env node
// The peer ships with the test kit (hydra-testkit/node/peer.js), so that crates outside this
// repository run the same one; it takes the Node packages from the folder it runs in: this one.
// See README.md for its environment and commands.
'use strict';
require('../../hydra-testkit/node/peer.js');
