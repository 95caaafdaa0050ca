#!/usr/bin/env node
// Paired summary of an interleaved run (bench/mcp-bench.sh, bench/ab.sh). Node core modules only.
//   node bench/pairs.js RUNS.jsonl NUM DEN MIN_RATIO [TITLE]
// RUNS.jsonl: one line per wrk run {round, target, side, rps, requests, p50_us, p99_us, errors,
// non2xx, cpu_ns, up_cpu_ns}. For each target: req/s of both sides per round, the same-round ratio
// NUM/DEN per round and its median (the goal is "median >= MIN_RATIO"), the gateway's CPU µs per
// request and the same-round difference NUM - DEN. Pairing within a round cancels most of the drift
// of a shared machine, which moves all targets of a round together.
// Prints markdown; writes nothing. Exit 1 when a run had socket errors or non-2xx answers (the
// numbers are then suspect), else 0 whether or not the goal is met (the table says).
'use strict';
const fs = require('fs');

const [file, NUM, DEN, minArg, title] = process.argv.slice(2);
if (!file || !NUM || !DEN || !minArg) { console.error('usage: pairs.js RUNS.jsonl NUM DEN MIN_RATIO [TITLE]'); process.exit(2); }
const MIN = Number(minArg);
const runs = fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));

const median = (a) => {
  const s = a.filter(Number.isFinite).sort((x, y) => x - y);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const us = (r) => (r.requests ? r.cpu_ns / r.requests / 1000 : NaN);
const upUs = (r) => (r.requests ? r.up_cpu_ns / r.requests / 1000 : NaN);
const f = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const targets = [...new Set(runs.map((r) => r.target))];
const rounds = [...new Set(runs.map((r) => r.round))].sort((x, y) => x - y);
const get = (t, side, round) => runs.find((r) => r.target === t && r.side === side && r.round === round);

let bad = 0;
const out = [];
if (title) out.push(`## ${title}`, '');
out.push('| target | side | req/s per round | req/s (median) | gateway CPU µs/req (median) | per round | upstream CPU µs/req | p99 ms (median) | errors | non-2xx |',
  '|---|---|---|---:|---:|---|---:|---:|---:|---:|');
for (const t of targets) {
  for (const side of [DEN, NUM]) {
    const rs = rounds.map((k) => get(t, side, k)).filter(Boolean);
    const errs = rs.reduce((s, r) => s + r.errors, 0), non2xx = rs.reduce((s, r) => s + r.non2xx, 0);
    bad += errs + non2xx;
    out.push(`| ${t} | ${side} | ${rs.map((r) => Math.round(r.rps)).join(', ')} | ${Math.round(median(rs.map((r) => r.rps)))} `
      + `| ${f(median(rs.map(us)), 2)} | ${rs.map((r) => f(us(r), 2)).join(', ')} | ${f(median(rs.map(upUs)), 2)} `
      + `| ${f(median(rs.map((r) => r.p99_us / 1000)), 2)} | ${errs} | ${non2xx} |`);
  }
}
out.push('', `| target | ${NUM} ÷ ${DEN} req/s, per round | median of same-round ratios | goal ≥ ${MIN} | ${NUM} − ${DEN} CPU µs/req, per round | median |`,
  '|---|---|---:|---|---|---:|');
const summary = {};
for (const t of targets) {
  const pairs = rounds.map((k) => [get(t, NUM, k), get(t, DEN, k)]).filter(([a, b]) => a && b);
  const ratios = pairs.map(([a, b]) => (b.rps ? a.rps / b.rps : NaN));
  const diffs = pairs.map(([a, b]) => us(a) - us(b));
  const m = median(ratios);
  summary[t] = { ratio: m, cpu_us_diff: median(diffs) };
  const status = !Number.isFinite(m) ? 'no data' : m >= MIN ? 'met' : 'NOT met';
  out.push(`| ${t} | ${ratios.map((x) => f(x, 3)).join(', ')} | **${f(m, 3)}** | ${status} | ${diffs.map((x) => f(x, 2)).join(', ')} | ${f(median(diffs), 2)} |`);
}
if (bad) out.push('', `**${bad} socket errors or non-2xx answers: these numbers are suspect (see raw/).**`);
console.log(out.join('\n'));
console.log(`\nPAIRS_JSON ${JSON.stringify(summary)}`);
process.exit(bad ? 1 : 0);
