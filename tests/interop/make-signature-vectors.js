#!/usr/bin/env node
/*
 * make-signature-vectors.js - writes signature-vectors.json, UMF message
 * signatures computed by the real npm hydra@1.9.3:
 *
 *     m = hydra.createUMFMessage(JSON.parse(message_text));
 *     m.signMessage('sha256', secret);
 *     short = m.toShort(); long = m.toJSON(); signature = long.signature;
 *
 * Every input is written as raw JSON text because that is what a Node peer
 * receives from Redis, and some cases depend on details that a JS object
 * literal would already have lost (key order of integer-like keys, number
 * spellings such as 1e21, -0 or 5.0, escapes such as \u00e9 or \/).
 *
 * Each vector in the output:
 *   name          short description
 *   secret        HMAC key (utf-8)
 *   message       the input, embedded verbatim (same bytes as message_text)
 *   message_text  the input as a string, for parsers that reorder keys or
 *                 change numbers
 *   short         m.toShort() after signing (has "sig")
 *   long          m.toJSON() after signing (has "signature", last)
 *   signature     hex HMAC-SHA256
 *   hmac_input    the exact string hydra fed to the HMAC:
 *                 JSON.stringify of the long message without "signature"
 *
 * Run: node make-signature-vectors.js   (rewrites signature-vectors.json)
 */
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const hydra = require('hydra');

const MID = '4d2a3f7e-9c1b-4e5a-8f60-1b2c3d4e5f60';
const TS = '2024-01-02T03:04:05.678Z';

const cases = [
  {
    name: 'minimal short-form input (ver is filled in with UMF/1.4.6)',
    secret: 'secret',
    text: `{"to":"node-b:/","frm":"node-a:/","mid":"${MID}","ts":"${TS}","bdy":{"hello":"world"}}`,
  },
  {
    name: 'long-form input',
    secret: 'another-secret',
    text: `{"to":"node-express:[post]/v1/node/echo","from":"client:/",` +
      `"headers":{"content-type":"application/json"},"mid":"${MID}",` +
      `"timestamp":"${TS}","type":"request","version":"UMF/1.4.6",` +
      `"body":{"k":"v","n":1},"authorization":"Bearer abc.def"}`,
  },
  {
    name: 'all short fields present, given in scrambled order',
    secret: 'k3y',
    text: `{"bdy":{"ok":true},"aut":"Bearer t0k3n","fwd":"router:/fwd",` +
      `"via":"ab12cd@hydra-router:/","ver":"UMF/1.4.3","typ":"reply",` +
      `"ts":"${TS}","tmo":30,"rmid":"0a1b2c3d-0000-4000-8000-000000000001",` +
      `"mid":"${MID}","hdr":{"x-trace":"t-1"},"frm":"5f5e@node-a:/",` +
      `"to":"9a9b@node-b:[get]/v1/x"}`,
  },
  {
    name: 'nested body, unicode and string escapes',
    secret: 'sëcret ✓',
    text: `{"to":"node-b:/","frm":"node-a:/","mid":"${MID}","ts":"${TS}","typ":"echo",` +
      `"bdy":{"text":"héllo ✓ 日本","emoji":"😀",` +
      `"escapes":"quote \\" backslash \\\\ newline \\n tab \\t ctrl \\u0001 del \\u007f ls \\u2028 end",` +
      `"escaped_input":"caf\\u00e9 \\/ slash","empty":"",` +
      `"list":[1,"two",[3,{"four":4}],null,true,false,{}],` +
      `"deep":{"a":{"b":{"c":[{"d":"e"}]}}}}}`,
  },
  {
    name: 'integer-like object keys (JS puts array-index keys first, ascending)',
    secret: 'secret',
    text: `{"to":"node-b:/","frm":"node-a:/","mid":"${MID}","ts":"${TS}",` +
      `"bdy":{"b":1,"10":2,"2":3,"a":4,"01":5,"-1":6,"nested":{"z":0,"1":true,"0":null}}}`,
  },
  {
    name: 'number formatting',
    secret: 'secret',
    text: `{"to":"node-b:/","frm":"node-a:/","mid":"${MID}","ts":"${TS}",` +
      `"bdy":{"n":[1.5,1e21,1e-7,-0,123456789012,0.1],` +
      `"spellings":{"five":5.0,"hundred":1e2,"small":-1.25e-10,"huge":1e300,"third":0.3333333333333333}}}`,
  },
  {
    name: 'dropped fields: stale sig replaced, falsy tmo/rmid and unknown keys ignored',
    secret: 'secret',
    text: `{"to":"node-b:/","frm":"node-a:/","mid":"${MID}","ts":"${TS}","sig":"stale",` +
      `"tmo":0,"rmid":"","extra":"not part of UMF","bdy":{"x":1}}`,
  },
  {
    name: 'integers beyond double precision (Node rounds them to the nearest double)',
    secret: 'secret',
    text: `{"to":"node-b:/","frm":"node-a:/","mid":"${MID}","ts":"${TS}",` +
      `"bdy":{"n":[12345678901234567890,9007199254740993]}}`,
  },
];

/**
 * JSON.stringify leaves U+007F, U+2028 and U+2029 unescaped. Escape them in
 * the file so it stays plain to look at; the parsed values are unchanged
 * (these characters can only occur inside JSON strings).
 */
function stringify(value) {
  return JSON.stringify(value).replace(/[\u007f\u2028\u2029]/g,
    (ch) => '\\u' + ch.charCodeAt(0).toString(16).padStart(4, '0'));
}

function makeVector(c) {
  const m = hydra.createUMFMessage(JSON.parse(c.text));
  m.signMessage('sha256', c.secret);
  const short = m.toShort();
  const long = m.toJSON();
  const signature = long.signature;

  // Rebuild the string that signMessage hashed and double-check it.
  const unsigned = Object.assign({}, long);
  delete unsigned.signature;
  const hmacInput = JSON.stringify(unsigned);
  const check = crypto.createHmac('sha256', c.secret).update(hmacInput).digest('hex');
  if (check !== signature) {
    throw new Error(`hmac_input does not reproduce the signature for "${c.name}"`);
  }

  // JSON.stringify everything except the input, which is pasted verbatim so
  // its key order and number spellings survive.
  const fields = [
    ['name', stringify(c.name)],
    ['secret', stringify(c.secret)],
    ['message', c.text],
    ['message_text', stringify(c.text)],
    ['short', stringify(short)],
    ['long', stringify(long)],
    ['signature', stringify(signature)],
    ['hmac_input', stringify(hmacInput)],
  ];
  return '  {\n' + fields.map(([k, v]) => `    "${k}": ${v}`).join(',\n') + '\n  }';
}

const out = '[\n' + cases.map(makeVector).join(',\n') + '\n]\n';
JSON.parse(out); // the file must stay valid JSON
const target = path.join(__dirname, 'signature-vectors.json');
fs.writeFileSync(target, out);
console.log(`wrote ${cases.length} vectors to ${target}`);
