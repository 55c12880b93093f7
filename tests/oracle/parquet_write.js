#!/usr/bin/env node
// Independent Parquet writer for the corpus import tests and benchmark:
// parquet-wasm (Apache arrow-rs compiled to WebAssembly, the writer behind
// many Rust and browser tools), fed tables built with apache-arrow.
//   node tests/oracle/parquet_write.js <out-dir>           test files + expected.json
//   node tests/oracle/parquet_write.js --bench <file> <MB> [CODEC] [dict]
//       a file of about MB megabytes (CODEC: SNAPPY (default), GZIP, ZSTD;
//       "dict": dictionary encoding, otherwise PLAIN)
// expected.json maps each file name to the rows of its `text` column (null
// for a null row), so the C++ test compares what it reads row by row.
'use strict';
const fs = require('fs');
const path = require('path');
const arrow = require('apache-arrow');
const pq = require('parquet-wasm');

// Deterministic pseudo-random texts: ASCII, multi-byte UTF-8 (accents, CJK,
// emoji), an empty string, and some long rows that span pages.
function makeTexts(count, seed) {
  let state = seed >>> 0;
  const rand = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 4294967296);
  const words = ['alpha', 'beta', 'γάμμα', 'données', '日本語', 'テキスト', 'emoji 😀', 'naïve',
                 'line\nbreak', 'tab\there', 'quote "x"', 'back\\slash', 'Ωmega', 'zebra'];
  const texts = [];
  for (let i = 0; i < count; ++i) {
    if (i % 97 === 13) { texts.push(''); continue; }
    const n = i % 50 === 7 ? 3000 : 1 + Math.floor(rand() * 40);
    const parts = [`row ${i}:`];
    for (let k = 0; k < n; ++k) parts.push(words[Math.floor(rand() * words.length)]);
    texts.push(parts.join(' '));
  }
  return texts;
}

// Repeats a few texts so that dictionary encoding is worth its while.
function withRepeats(texts) {
  return texts.map((t, i) => (i % 3 === 0 ? texts[i % 11] : t));
}

function table(texts, nullable) {
  const ids = Int32Array.from(texts, (_, i) => i);
  const titles = texts.map((_, i) => `title ${i}`);
  const text = arrow.vectorFromArray(texts, new arrow.Utf8());
  const t = new arrow.Table({ id: arrow.makeVector(ids), title: arrow.vectorFromArray(titles, new arrow.Utf8()), text });
  if (nullable) return t;
  // Declare `text` non-nullable so arrow-rs writes a REQUIRED column.
  const fields = t.schema.fields.map((f) => new arrow.Field(f.name, f.type, f.name !== 'text'));
  return new arrow.Table(new arrow.Schema(fields), t.batches.map((b) =>
    new arrow.RecordBatch(new arrow.Schema(fields), b.data)));
}

function write(file, texts, options) {
  const { compression, dictionary, v2, rowGroup, pageBytes, nullable, encoding } = options;
  let props = new pq.WriterPropertiesBuilder()
    .setCompression(pq.Compression[compression])
    .setDictionaryEnabled(dictionary)
    .setWriterVersion(v2 ? pq.WriterVersion.V2 : pq.WriterVersion.V1)
    .setMaxRowGroupSize(rowGroup || 1 << 20)
    .setDataPageSizeLimit(pageBytes || 1 << 20);
  if (encoding) props = props.setColumnEncoding('text', pq.Encoding[encoding]);
  const ipc = arrow.tableToIPC(table(texts, nullable), 'stream');
  const bytes = pq.writeParquet(pq.Table.fromIPCStream(ipc), props.build());
  fs.writeFileSync(file, bytes);
}

function writeTestFiles(dir) {
  fs.mkdirSync(dir, { recursive: true });
  const base = makeTexts(600, 7);
  const repeated = withRepeats(base);
  const nulls = base.map((t, i) => (i % 5 === 2 ? null : t));
  const cases = {
    'plain_none_v1.parquet': [base, { compression: 'UNCOMPRESSED', dictionary: false }],
    'dict_snappy_v1.parquet': [repeated, { compression: 'SNAPPY', dictionary: true, rowGroup: 128, pageBytes: 2048 }],
    'plain_gzip_v1.parquet': [base, { compression: 'GZIP', dictionary: false, rowGroup: 250 }],
    'dict_gzip_v2.parquet': [repeated, { compression: 'GZIP', dictionary: true, v2: true, pageBytes: 4096 }],
    // arrow-rs's v2 writer defaults to DELTA_BYTE_ARRAY without a dictionary: ask for PLAIN.
    'plain_zstd_v2.parquet': [base, { compression: 'ZSTD', dictionary: false, v2: true, rowGroup: 100, pageBytes: 1024, encoding: 'PLAIN' }],
    'nulls_dict_zstd_v1.parquet': [nulls, { compression: 'ZSTD', dictionary: true, nullable: true, rowGroup: 200 }],
    'nulls_plain_snappy_v2.parquet': [nulls, { compression: 'SNAPPY', dictionary: false, nullable: true, v2: true, pageBytes: 1500, encoding: 'PLAIN' }],
    // Outside the subset the reader supports: must fail with a clear error.
    'unsupported_brotli.parquet': [base, { compression: 'BROTLI', dictionary: false }],
    'unsupported_delta.parquet': [base, { compression: 'UNCOMPRESSED', dictionary: false, encoding: 'DELTA_BYTE_ARRAY' }],
  };
  const expected = {};
  for (const [name, [texts, options]] of Object.entries(cases)) {
    write(path.join(dir, name), texts, { nullable: false, ...options });
    expected[name] = texts;
  }
  fs.writeFileSync(path.join(dir, 'expected.json'), JSON.stringify(expected));
}

// Bench text that compresses about like prose under snappy (~2x): words
// from a 20,000-word vocabulary of random syllables, Zipf-like frequencies.
function benchTexts(textMegabytes) {
  let state = 12345;
  const rand = () => ((state = (state * 1664525 + 1013904223) >>> 0) / 4294967296);
  const syllables = ['ka', 'ro', 'mi', 'tes', 'lu', 'ven', 'dor', 'ç', 'ü', 'sha', 'pl', 'ix', 'quo', 'é', 'nt'];
  const vocab = [];
  for (let i = 0; i < 20000; ++i) {
    let w = '';
    for (let k = 1 + Math.floor(rand() * 4); k > 0; --k) w += syllables[Math.floor(rand() * syllables.length)];
    vocab.push(w);
  }
  const texts = [];
  let bytes = 0;
  while (bytes < textMegabytes * 1e6) {
    const words = [];
    for (let n = 20 + Math.floor(rand() * 600); n > 0; --n) words.push(vocab[Math.floor(vocab.length * rand() ** 3)]);
    const t = words.join(' ') + '.';
    texts.push(t);
    bytes += Buffer.byteLength(t);
  }
  return { texts, bytes };
}

function writeBenchFile(file, megabytes, compression, dictionary) {
  const { texts, bytes } = benchTexts(megabytes * 2.0);
  write(file, texts, { compression, dictionary, nullable: true, rowGroup: 10000 });
  process.stdout.write(JSON.stringify({ rows: texts.length, text_bytes: bytes, file_bytes: fs.statSync(file).size }) + '\n');
}

const args = process.argv.slice(2);
if (args[0] === '--bench' && args.length >= 3 && args.length <= 5)
  writeBenchFile(args[1], Number(args[2]), args[3] || 'SNAPPY', args[4] === 'dict');
else if (args.length === 1) writeTestFiles(args[0]);
else {
  console.error('usage: parquet_write.js <out-dir> | --bench <file> <MB> [CODEC] [dict]');
  process.exit(2);
}
