#!/usr/bin/env node
// Single-thread encode throughput of the npm gpt-tokenizer package (the
// reference the tokenizer benchmark compares against).
//   node bench/text/gpt_tokenizer_bench.js <encoding> <text file> [runs]
// Prints one JSON line (encode_timing.js): wall-clock MB/s (first run cold,
// median of the rest) and MB per CPU-second.
'use strict';
const fs = require('fs');
const path = require('path');
const { timeEncode } = require('./encode_timing');

const [encoding, file, runsArg] = process.argv.slice(2);
const tokenizer = require(path.join(__dirname, '..', '..', 'tests', 'oracle', 'node_modules', 'gpt-tokenizer',
  'cjs', 'encoding', encoding + '.js'));
const plain = { disallowedSpecial: new Set() };
const timing = timeEncode((t) => tokenizer.encode(t, plain), fs.readFileSync(file, 'utf8'), Number(runsArg || 5));
console.log(JSON.stringify({ impl: 'gpt-tokenizer', label: encoding, ...timing }));
