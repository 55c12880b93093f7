#!/usr/bin/env node
// Independent oracle for Hugging Face tokenizer.json files (Llama 3): encodes
// texts with the npm @huggingface/tokenizers package (pure JavaScript) and
// prints the ids as JSON.
//   node tests/oracle/llama3.js <tokenizer.json> <texts.json> [--plain] [--no-template]
// texts.json holds an array of strings; output is an array of id arrays.
//   default        encode(text): added tokens in the text become their ids and
//                  the file's post_processor runs (Llama 3: BOS first when the
//                  file has the template), as transformers does;
//   --plain        added-token strings are plain text (like Tokenizer::encode):
//                  the added tokens move into the BPE vocabulary before loading
//                  (so the template still finds its BOS id; no pre-token ever
//                  equals "<|...|>", so BPE never emits them);
//   --no-template  add_special_tokens: false (no BOS).
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const files = args.filter((a) => !a.startsWith('--'));
const flags = new Set(args.filter((a) => a.startsWith('--')));
for (const f of flags) {
  if (f !== '--plain' && f !== '--no-template') {
    console.error(`unknown flag ${f}`);
    process.exit(2);
  }
}
if (files.length !== 2) {
  console.error('usage: llama3.js <tokenizer.json> <texts.json> [--plain] [--no-template]');
  process.exit(2);
}
const { Tokenizer } = require(path.join(__dirname, 'node_modules', '@huggingface', 'tokenizers'));
const tokenizerJson = JSON.parse(fs.readFileSync(files[0], 'utf8'));
if (flags.has('--plain')) {
  for (const t of tokenizerJson.added_tokens) tokenizerJson.model.vocab[t.content] = t.id;
  tokenizerJson.added_tokens = [];
}
const tokenizer = new Tokenizer(tokenizerJson, {});
const texts = JSON.parse(fs.readFileSync(files[1], 'utf8'));
const options = { add_special_tokens: !flags.has('--no-template') };
const ids = texts.map((t) => tokenizer.encode(t, options).ids);
process.stdout.write(JSON.stringify(ids) + '\n');
