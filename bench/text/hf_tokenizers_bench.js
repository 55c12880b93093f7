#!/usr/bin/env node
// Single-thread encode throughput of the npm @huggingface/tokenizers package
// (pure JavaScript tokenizer.json; the reference for Llama 3).
//   node bench/text/hf_tokenizers_bench.js <tokenizer.json> <text file> [runs] [label]
// Prints one JSON line like gpt_tokenizer_bench.js: wall-clock MB/s (first
// run cold, median of the rest) and MB per CPU-second. No BOS is added
// (add_special_tokens: false), as replay's encode() adds none.
'use strict';
const fs = require('fs');
const path = require('path');

const [tokenizerFile, file, runsArg, labelArg] = process.argv.slice(2);
const runs = Number(runsArg || 5);
const { Tokenizer } = require(path.join(__dirname, '..', '..', 'tests', 'oracle', 'node_modules', '@huggingface',
  'tokenizers'));
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(tokenizerFile, 'utf8')), {});
const text = fs.readFileSync(file, 'utf8');
const mb = Buffer.byteLength(text, 'utf8') / 1e6;
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
let cold = 0;
let tokens = 0;
const wall = [];
const cpu = [];
for (let r = 0; r < runs; r++) {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  tokens = ids.length;
  if (r === 0) cold = mb / s;
  else {
    wall.push(mb / s);
    cpu.push(mb / ((c.user + c.system) / 1e6));
  }
}
console.log(JSON.stringify({
  impl: '@huggingface/tokenizers', label: labelArg || path.basename(tokenizerFile), mode: 'single',
  mb: Number(mb.toFixed(2)), tokens, cold_mb_s: Number(cold.toFixed(2)),
  median_mb_s: Number(median(wall).toFixed(2)), median_mb_per_cpu_s: Number(median(cpu).toFixed(2)), runs,
}));
