#!/usr/bin/env node
// Single-thread encode throughput of the npm @huggingface/tokenizers package
// (pure JavaScript tokenizer.json; the reference for Llama 3).
//   node bench/text/hf_tokenizers_bench.js <tokenizer.json> <text file> [runs] [label]
// Prints one JSON line like gpt_tokenizer_bench.js. No BOS is added
// (add_special_tokens: false), as replay's encode() adds none.
'use strict';
const fs = require('fs');
const path = require('path');
const { timeEncode } = require('./encode_timing');

const [tokenizerFile, file, runsArg, labelArg] = process.argv.slice(2);
const { Tokenizer } = require(path.join(__dirname, '..', '..', 'tests', 'oracle', 'node_modules', '@huggingface',
  'tokenizers'));
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerFile, 'utf8')), {});
const encode = (t) => tokenizer.encode(t, { add_special_tokens: false }).ids;
const timing = timeEncode(encode, fs.readFileSync(file, 'utf8'), Number(runsArg || 5));
console.log(JSON.stringify({ impl: '@huggingface/tokenizers', label: labelArg || path.basename(tokenizerFile), ...timing }));
