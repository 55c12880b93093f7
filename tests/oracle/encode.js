#!/usr/bin/env node
// Independent oracle for the tokenizer tests: encodes texts with the npm
// gpt-tokenizer package (pure JavaScript) and prints the ids as JSON.
//   node tests/oracle/encode.js <r50k_base|p50k_base|cl100k_base|o200k_base> <texts.json>
// texts.json holds an array of strings; output is an array of id arrays.
// Special-token strings are encoded as plain text (like Tokenizer::encode).
'use strict';
const fs = require('fs');
const path = require('path');

const [encoding, input] = process.argv.slice(2);
if (!encoding || !input) {
  console.error('usage: encode.js <encoding> <texts.json>');
  process.exit(2);
}
const known = ['r50k_base', 'p50k_base', 'cl100k_base', 'o200k_base'];
if (!known.includes(encoding)) {
  console.error(`unknown encoding ${encoding}; known: ${known.join(', ')}`);
  process.exit(2);
}
const tokenizer = require(path.join(__dirname, 'node_modules', 'gpt-tokenizer', 'cjs', 'encoding', encoding + '.js'));
const texts = JSON.parse(fs.readFileSync(input, 'utf8'));
const plain = { disallowedSpecial: new Set() };
const ids = texts.map((t) => tokenizer.encode(t, plain));
process.stdout.write(JSON.stringify(ids) + '\n');
