#include "serve/page.h"

namespace replay::serve {

// Kept plain on purpose: no framework, no build step, so that the page is
// what this file says. Every number shown comes from the API; the script only
// lays it out.
const char* const kDashboardPage = R"page(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Replay dashboard</title>
<style>
body { font-family: sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px 0; }
h2 { font-size: 16px; margin: 18px 0 6px 0; border-bottom: 1px solid #ccc; }
#status { color: #555; font-size: 13px; }
#status.error, .error { color: #b00; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; }
th { background: #f3f3f3; }
tr.run { cursor: pointer; }
tr.run.selected { background: #fff3c4; }
td.running { color: #06c; font-weight: bold; }
td.done { color: #080; }
td.failed, td.stale { color: #b00; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { background: #fcfcfc; border: 1px solid #ddd; }
svg text { font-size: 11px; fill: #333; }
svg text.title { font-size: 13px; font-weight: bold; }
.note { color: #666; font-size: 12px; }
</style>
</head>
<body>
<h1>Replay dashboard</h1>
<div id="status">loading...</div>

<h2>Runs</h2>
<table id="runs"><thead><tr><th>sweep</th><th>run</th><th>id</th><th>status</th><th>step</th>
<th>ETA</th><th>time</th><th>final losses</th></tr></thead><tbody></tbody></table>

<h2>Sweep <select id="sweep-select"></select></h2>
<div class="charts" id="sweep-charts"></div>

<div class="charts">
<div><h2>Run curves: <span id="run-title">(click a run)</span></h2><div id="run-charts"></div></div>
<div><h2>Heatmap: final target loss over (rho, alpha)</h2><div id="heatmap"></div></div>
</div>

<h2>Fit and multipliers</h2>
<div id="fit"></div>

<script>
"use strict";
const REFRESH_MS = 3000;  // how often the page asks the server again
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
                "#7f7f7f", "#bcbd22"];
const state = { run: null, sweep: null };

function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"})[c]);
}
function num(v, d) { return v === null || v === undefined ? "-" : Number(v).toFixed(d === undefined ? 4 : d); }
function sig(v) { return v === null || v === undefined ? "-" : Number(v).toPrecision(4); }

async function getJson(url) {
  const res = await fetch(url, {cache: "no-store"});
  const doc = await res.json();
  if (!res.ok) throw new Error(doc.error || res.statusText);
  return doc;
}

// Tick values: about `count` round numbers covering [lo, hi].
function ticks(lo, hi, count) {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * mag).find(s => s >= raw);
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

// One line chart as SVG text. series: [{name, color, points: [[x, y]]}];
// marks: [{x, label, color}] drawn as dashed vertical lines.
function lineChart(title, xLabel, yLabel, series, marks) {
  const W = 600, H = 320, L = 60, R = 150, T = 28, B = 42;
  const pts = series.flatMap(s => s.points.filter(p => p[1] !== null));
  let svg = `<svg class="chart" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">` +
            `<text class="title" x="${L}" y="16">${esc(title)}</text>`;
  if (!pts.length) return svg + `<text x="${L}" y="${H / 2}">no data yet</text></svg>`;
  let x0 = Math.min(...pts.map(p => p[0])), x1 = Math.max(...pts.map(p => p[0]), ...marks.map(m => m.x));
  let y0 = Math.min(...pts.map(p => p[1])), y1 = Math.max(...pts.map(p => p[1]));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= 0.5; y1 += 0.5; }
  const pad = (y1 - y0) * 0.05; y0 -= pad; y1 += pad;
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R), sy = y => T + (y1 - y) / (y1 - y0) * (H - T - B);
  svg += `<rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" fill="none" stroke="#999"/>`;
  for (const v of ticks(x0, x1, 6))
    svg += `<text x="${sx(v)}" y="${H - B + 14}" text-anchor="middle">${v}</text>`;
  for (const v of ticks(y0, y1, 5))
    svg += `<line x1="${L}" x2="${W - R}" y1="${sy(v)}" y2="${sy(v)}" stroke="#eee"/>` +
           `<text x="${L - 4}" y="${sy(v) + 4}" text-anchor="end">${+v.toPrecision(4)}</text>`;
  svg += `<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">${esc(xLabel)}</text>` +
         `<text x="12" y="${(T + H - B) / 2}" text-anchor="middle" transform="rotate(-90 12 ${(T + H - B) / 2})">${esc(yLabel)}</text>`;
  // Boundary labels stack up from the bottom of the plot, left of their
  // line in the right half so that none runs into the legend.
  marks.forEach((m, i) => {
    const x = sx(m.x), right = x > (L + W - R) / 2;
    svg += `<line class="boundary" x1="${x}" x2="${x}" y1="${T}" y2="${H - B}" stroke="${m.color}" stroke-dasharray="5,4"/>` +
           `<text x="${right ? x - 3 : x + 3}" y="${H - B - 6 - 12 * i}" fill="${m.color}"` +
           `${right ? ' text-anchor="end"' : ""}>${esc(m.label)}</text>`;
  });
  series.forEach((s, i) => {
    const d = s.points.filter(p => p[1] !== null).map((p, j) => (j ? "L" : "M") + sx(p[0]).toFixed(1) + "," + sy(p[1]).toFixed(1)).join("");
    svg += `<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`;
    if (s.points.length <= 40)
      for (const p of s.points.filter(p => p[1] !== null))
        svg += `<circle cx="${sx(p[0])}" cy="${sy(p[1])}" r="2.5" fill="${s.color}"/>`;
    svg += `<line x1="${W - R + 8}" x2="${W - R + 24}" y1="${T + 8 + 15 * i}" y2="${T + 8 + 15 * i}" stroke="${s.color}" stroke-width="2"/>` +
           `<text x="${W - R + 28}" y="${T + 12 + 15 * i}">${esc(s.name)}</text>`;
  });
  return svg + "</svg>";
}

function lossesText(r) {
  return Object.entries(r.final_losses).map(([split, m]) => `${esc(split)}=${num(m.loss)}`).join(" ");
}

function drawRuns(doc) {
  const rows = doc.runs.map(r => {
    const sel = r.id === state.run ? " selected" : "";
    return `<tr class="run${sel}" data-run-id="${esc(r.id)}" data-sweep="${esc(r.sweep)}">` +
           `<td>${esc(r.sweep)}</td><td>${esc([r.name].concat(r.aliases).join(" = "))}</td>` +
           `<td title="${esc(r.id)}">${esc(r.id.slice(0, 12))}</td><td class="${esc(r.status)}">${esc(r.status)}</td>` +
           `<td class="num">${r.progress_step} / ${r.total_steps}</td><td class="num">${esc(r.eta)}</td>` +
           `<td class="num">${esc(r.duration)}</td><td>${lossesText(r)}${r.error ? ' <span class="error">' + esc(r.error) + "</span>" : ""}</td></tr>`;
  });
  const body = document.querySelector("#runs tbody");
  body.innerHTML = rows.join("");
  body.querySelectorAll("tr.run").forEach(tr => tr.addEventListener("click", () => {
    state.run = tr.dataset.runId;
    state.sweep = tr.dataset.sweep;
    refresh();
  }));
}

function marksOf(run, color, prefix) {
  return run.boundaries.map(b => ({x: b, label: `${prefix}stage 2 @ ${b}`, color: color}));
}

function drawRun(run) {
  document.getElementById("run-title").textContent = `${run.name} (${run.sweep}, ${run.status})`;
  const series = [{name: "train loss", color: "#999", points: run.train}];
  Object.entries(run.evals).forEach(([split, pts], i) =>
    series.push({name: "val " + split, color: COLORS[i % COLORS.length], points: pts}));
  document.getElementById("run-charts").innerHTML =
      lineChart(`${run.name}: loss against step`, "step", "loss (nats/token)", series, marksOf(run, "#555", "")) +
      (run.error ? `<div class="error">${esc(run.error)}</div>` : "");
}

function drawSweep(doc) {
  const charts = [["target_split", "target validation loss"], ["generic_split", "generic validation loss"]].map(([key, what]) => {
    const series = [], marks = [];
    doc.runs.forEach((r, i) => {
      const color = COLORS[i % COLORS.length], pts = r.evals[r[key]];
      if (!r[key] || !pts) return;
      series.push({name: r.name, color: color, points: pts});
      marks.push(...marksOf(r, color, r.name + ": "));
    });
    return lineChart(`${doc.sweep}: ${what}`, "step", "loss (nats/token)", series, marks);
  });
  document.getElementById("sweep-charts").innerHTML = charts.join("");
  drawHeatmap(doc.heatmap);
}

function intervalText(i) { return i ? `[${sig(i.lo)}, ${sig(i.hi)}]` : "-"; }

// Multipliers as points with their 95% intervals on a log axis, 1 marked.
function forestPlot(ms) {
  const shown = ms.filter(m => m.value !== null);
  if (!shown.length) return "";
  const W = 900, rowH = 22, L = 440, R = 40, H = 40 + rowH * shown.length;
  const vals = shown.flatMap(m => m.interval ? [m.value, m.interval.lo, m.interval.hi] : [m.value]).concat([1]);
  let lo = Math.log(Math.min(...vals)), hi = Math.log(Math.max(...vals));
  if (hi - lo < 0.1) { lo -= 0.05; hi += 0.05; }
  const sx = v => L + (Math.log(v) - lo) / (hi - lo) * (W - L - R);
  let svg = `<svg class="chart" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">` +
            `<text class="title" x="8" y="16">multipliers (95% intervals; log scale)</text>` +
            `<line x1="${sx(1)}" x2="${sx(1)}" y1="24" y2="${H - 14}" stroke="#999" stroke-dasharray="3,3"/>` +
            `<text x="${sx(1)}" y="${H - 2}" text-anchor="middle">1</text>`;
  shown.forEach((m, i) => {
    const y = 36 + rowH * i;
    svg += `<text x="8" y="${y + 4}">${esc(m.p + " / " + m.q)}</text>`;
    if (m.interval) svg += `<line x1="${sx(m.interval.lo)}" x2="${sx(m.interval.hi)}" y1="${y}" y2="${y}" stroke="#1f77b4" stroke-width="2"/>`;
    svg += `<circle cx="${sx(m.value)}" cy="${y}" r="4" fill="#1f77b4"/>` +
           `<text x="${sx(m.value) + 6}" y="${y - 5}">${sig(m.value)}x</text>`;
  });
  return svg + "</svg>";
}

function drawFit(doc) {
  const el = document.getElementById("fit");
  if (doc.error) { el.innerHTML = `<p class="note">${esc(doc.error)}</p>`; return; }
  const f = doc.fit;
  let html = `<p>target ${esc(doc.target)}</p><p>L(x) = A / x^B + C over ${f.points.length} reference points: ` +
             (f.usable ? "usable" : `<span class="error">no multiplier can be computed: ${esc(f.unusable_reason)}</span>`) +
             (f.degenerate ? " (degenerate: B near 0)" : "") + "</p>" +
             `<table id="fit-params"><tr><th>parameter</th><th>value</th><th>95% interval</th></tr>` +
             ["A", "B", "C"].map(k => `<tr><td>${k}</td><td class="num">${sig(f[k])}</td><td>${intervalText(f[k + "_interval"])}</td></tr>`).join("") +
             `</table>` + (f.interval_note ? `<p class="note">${esc(f.interval_note)}</p>` : "") +
             `<table id="multipliers"><tr><th>P over Q</th><th>multiplier</th><th>95% interval</th><th>note</th></tr>` +
             doc.multipliers.map(m => `<tr><td>${esc(m.p)} / ${esc(m.q)}</td><td>${esc(m.text)}</td>` +
                                      `<td>${intervalText(m.interval)}</td><td>${esc(m.interval_note || m.extrapolation || "")}</td></tr>`).join("") +
             `</table>`;
  el.innerHTML = html + forestPlot(doc.multipliers);
}

function drawHeatmap(h) {
  const el = document.getElementById("heatmap");
  if (!h.cells) { el.innerHTML = `<p class="note">${esc(h.error || "fewer than two (rho, alpha) cells in this sweep")}</p>`; return; }
  const vals = h.loss.flat().filter(v => v !== null), lo = Math.min(...vals), hi = Math.max(...vals);
  const cw = 90, ch = 36, L = 70, T = 40, W = L + cw * h.alpha.length + 20, H = T + ch * h.rho.length + 40;
  let svg = `<svg class="chart" id="heatmap-svg" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">` +
            `<text class="title" x="8" y="16">final target loss (darker = lower)</text>`;
  h.alpha.forEach((a, j) => svg += `<text x="${L + cw * j + cw / 2}" y="${T - 6}" text-anchor="middle">alpha ${a}</text>`);
  h.rho.forEach((r, i) => {
    svg += `<text x="${L - 6}" y="${T + ch * i + ch / 2 + 4}" text-anchor="end">rho ${r}</text>`;
    h.alpha.forEach((a, j) => {
      const v = h.loss[i][j], t = hi > lo ? (v - lo) / (hi - lo) : 0.5;
      const fill = v === null ? "#eee" : `hsl(210, 70%, ${Math.round(35 + 55 * t)}%)`;
      svg += `<rect x="${L + cw * j}" y="${T + ch * i}" width="${cw}" height="${ch}" fill="${fill}" stroke="#fff"/>` +
             `<text x="${L + cw * j + cw / 2}" y="${T + ch * i + ch / 2 + 4}" text-anchor="middle"` +
             `${v !== null && t < 0.5 ? ' style="fill: #fff"' : ""}>${v === null ? "-" : num(v)}</text>`;
    });
  });
  el.innerHTML = svg + "</svg>";
}

function setStatus(text, error) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = error ? "error" : "";
}

let busy = false;  // one refresh at a time: a slow first fit must not pile up requests
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const runs = await getJson("/api/runs");
    const running = runs.runs.filter(r => r.status === "running").length;
    setStatus(`${runs.registry}: ${runs.runs.length} runs, ${running} running; updated ` +
              new Date(runs.now * 1000).toLocaleTimeString() + `, every ${REFRESH_MS / 1000} s`);
    if (!state.run && runs.runs.length) {
      const r = runs.runs.find(r => r.status === "running") || runs.runs[0];
      state.run = r.id; state.sweep = r.sweep;
    }
    if (!state.sweep && runs.sweeps.length) state.sweep = runs.sweeps[0];
    drawRuns(runs);
    const select = document.getElementById("sweep-select");
    select.innerHTML = runs.sweeps.map(s => `<option${s === state.sweep ? " selected" : ""}>${esc(s)}</option>`).join("");
    select.onchange = () => { state.sweep = select.value; refresh(); };
    if (state.run) drawRun(await getJson("/api/run?id=" + encodeURIComponent(state.run)));
    if (state.sweep) {
      drawSweep(await getJson("/api/sweep?name=" + encodeURIComponent(state.sweep)));
      drawFit(await getJson("/api/fit?sweep=" + encodeURIComponent(state.sweep)));
    }
  } catch (e) {
    setStatus("error: " + e.message + " (retrying)", true);
  } finally {
    busy = false;
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
</script>
</body>
</html>
)page";

}  // namespace replay::serve
