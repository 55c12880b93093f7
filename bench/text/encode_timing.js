// The timing loop both node tokenizer benchmarks share: `runs` encodes of one
// text, the first reported cold, the median of the rest as wall-clock MB/s
// and as MB per CPU-second (process CPU time, for a noisy shared machine).
'use strict';

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// encode(text) -> array of ids. Returns the fields of the JSON line.
function timeEncode(encode, text, runs) {
  const mb = Buffer.byteLength(text, 'utf8') / 1e6;
  let cold = 0;
  let tokens = 0;
  const wall = [];
  const cpu = [];
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const ids = encode(text);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const c = process.cpuUsage(c0);
    tokens = ids.length;
    if (r === 0) cold = mb / s;
    else {
      wall.push(mb / s);
      cpu.push(mb / ((c.user + c.system) / 1e6));
    }
  }
  return {
    mode: 'single', mb: Number(mb.toFixed(2)), tokens, cold_mb_s: Number(cold.toFixed(2)),
    median_mb_s: Number(median(wall).toFixed(2)), median_mb_per_cpu_s: Number(median(cpu).toFixed(2)), runs,
  };
}

module.exports = { timeEncode };
