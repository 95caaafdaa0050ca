#!/usr/bin/env node
// Clients of bench/mcp-lists-bench.sh. Node core modules only.
//   node bench/mcp-lists.js check PORT PATH TOKENFILE sse|json EXPECT_TOOLS
//       one POST tools/list; exit 1 unless the answer (JSON, or the SSE event for its id) is a result
//       for that id with exactly EXPECT_TOOLS tools and its nextCursor kept. Prints what it saw.
//   node bench/mcp-lists.js stream TOKENFILE N REPS PER GWPID SIDE=[GET|POST:]PORT:PATH...
//       REPS rounds; each round reads, from every SIDE in turn (the order alternates by round), PER
//       streams back to back of PATH[?query]&n=N (GET: N events; POST: a tools/list whose answer
//       stream holds N notifications and then the answer), keep-alive, one connection per side;
//       counts the events (blank-line ends) and prints one JSON line per side and round: {round,
//       side, n, streams, events, bytes, ms, eps, cpu_ns} with cpu_ns the on-CPU time of GWPID (all
//       threads, /proc/PID/task/*/schedstat) over the PER streams. Exit 1 if a stream came short.
//   node bench/mcp-lists.js idle PORT PATH TOKENFILE N GWPID [SETTLE_MS] [BATCH] [WARM]
//       WARM (100) streams opened until their first event and closed (first-touch of the gateway's
//       tables and pools), RSS of GWPID, then N concurrent GET PATH (SSE) opened in batches of BATCH (100); waits until
//       every one got its first event, SETTLE_MS (2000), RSS again and checks all N are still open;
//       then closes them and prints one JSON line: rss_before/half/idle/closed_kb, per_stream_bytes =
//       (idle - before) * 1024 / N, marginal_per_stream_bytes = slope over the second half.
//   node bench/mcp-lists.js summary LIST.jsonl STREAM.jsonl IDLE.jsonl MIN_EPS_RATIO MAX_IDLE_BYTES
//       the markdown tables of the run (medians of same-round differences and ratios); exit 1 when
//       a run had socket errors or non-2xx answers.
'use strict';
const fs = require('fs');
const http = require('http');
const net = require('net');

const [mode, ...a] = process.argv.slice(2);
const token = (f) => fs.readFileSync(f, 'utf8').split('\n')[0].trim();
const die = (m) => { console.error(`mcp-lists.js: ${m}`); process.exit(1); };

function cpuNs(pid) {
  let s = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try { s += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
  }
  return s;
}
function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function check(port, path, tok, fmt, expect) {
  const id = 4242;
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list', params: {} });
  const q = fmt === 'sse' ? '?sse=1' : '';
  const { status, ctype, text } = await new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: path + q, method: 'POST', headers: {
      Authorization: `Bearer ${tok}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
      'Content-Length': Buffer.byteLength(body) } }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, ctype: res.headers['content-type'] || '', text: Buffer.concat(parts).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
  if (status !== 200) die(`${path} ${fmt}: status ${status}: ${text.slice(0, 200)}`);
  let json = text;
  if (fmt === 'sse') {
    if (!ctype.startsWith('text/event-stream')) die(`${path} sse: content-type ${ctype}`);
    const ev = text.split('\n\n').find((e) => /^data: /m.test(e));
    if (!ev) die(`${path} sse: no data event in ${JSON.stringify(text.slice(0, 200))}`);
    json = ev.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
  } else if (!ctype.startsWith('application/json')) die(`${path} json: content-type ${ctype}`);
  const m = JSON.parse(json);
  const n = m.result && Array.isArray(m.result.tools) ? m.result.tools.length : -1;
  const ok = m.id === id && n === expect && m.result.nextCursor === 'c-2';
  console.log(`${path} ${fmt}: ${text.length} bytes, id ${m.id}, ${n} tools (${n > 0 ? m.result.tools.map((t) => t.name).slice(0, 12).join(' ') : '-'}), nextCursor ${m.result && m.result.nextCursor}`);
  if (!ok) die(`${path} ${fmt}: expected ${expect} tools for id ${id} with nextCursor kept`);
}

function readStream(agent, method, port, path, tok, n) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let events = 0, bytes = 0, last = 0;
    const body = method === 'POST' ? JSON.stringify({ jsonrpc: '2.0', id: 77, method: 'tools/list', params: {} }) : '';
    const headers = { Authorization: `Bearer ${tok}`, Accept: 'application/json, text/event-stream' };
    if (body) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    const req = http.request({ host: '127.0.0.1', port, method, path: `${path}${path.includes('?') ? '&' : '?'}n=${n}`, agent,
      headers }, (res) => {
      if (res.statusCode !== 200) { res.resume(); reject(new Error(`${path}: status ${res.statusCode}`)); return; }
      res.on('data', (d) => {
        bytes += d.length;
        // An event ends with a blank line; "\n\n" may straddle two reads.
        if (last === 10 && d[0] === 10) events++;
        for (let i = d.indexOf(10); i >= 0 && i + 1 < d.length; i = d.indexOf(10, i + 1)) if (d[i + 1] === 10) events++;
        last = d[d.length - 1];
      });
      res.on('end', () => resolve({ events, bytes, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function stream(tokFile, n, reps, per, gwpid, sides) {
  const tok = token(tokFile);
  const agents = sides.map(() => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  let bad = 0;
  for (let r = 0; r <= reps; r++) { // round 0: warm-up (connections, token cache), not printed
    const order = sides.map((s, i) => i);
    if (r % 2 === 0) order.reverse();
    for (const i of order) {
      const s = sides[i];
      // PER streams back to back make one sample: long enough to time (one of 10k events lasts ~2 ms).
      const want = s.method === 'POST' ? n + 1 : n; // + the list answer
      const c0 = cpuNs(gwpid);
      const t0 = process.hrtime.bigint();
      let events = 0, bytes = 0;
      for (let k = 0; k < (r > 0 ? per : 1); k++) {
        const got = await readStream(agents[i], s.method, s.port, s.path, tok, n);
        if (got.events !== want) { bad++; console.error(`${s.side}: ${got.events} events of ${want}`); }
        events += got.events;
        bytes += got.bytes;
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const c1 = cpuNs(gwpid);
      if (r > 0) console.log(JSON.stringify({ round: r, side: s.side, n, streams: per, events, bytes, ms, eps: events / (ms / 1000), cpu_ns: c1 - c0 }));
    }
  }
  agents.forEach((ag) => ag.destroy());
  process.exit(bad ? 1 : 0);
}

async function idle(port, path, tok, n, gwpid, settle, batch, warm) {
  const req = `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${tok}\r\nAccept: text/event-stream\r\n\r\n`;
  const socks = [];
  let closed = 0;
  const open = () => new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let head = '', first = false;
    s.setNoDelay(true);
    s.on('connect', () => s.write(req));
    s.on('data', (d) => {
      if (first) return;
      head += d.toString('latin1');
      const h = head.indexOf('\r\n\r\n');
      if (h < 0) return;
      if (!/^HTTP\/1\.1 200/.test(head)) { reject(new Error(`status: ${head.split('\r\n')[0]}`)); s.destroy(); return; }
      if (head.indexOf('\n\n', h + 4) >= 0) { first = true; head = ''; resolve(); }
    });
    s.on('error', (e) => { if (!first) reject(e); });
    s.on('close', () => { closed++; if (!first) reject(new Error('closed before the first event')); });
    socks.push(s);
  });
  for (let i = 0; i < warm; i += batch) await Promise.all(Array.from({ length: Math.min(batch, warm - i) }, open));
  socks.splice(0).forEach((s) => s.destroy());
  await sleep(settle);
  closed = 0;
  const before = rssKb(gwpid);
  let half = NaN;
  for (let i = 0; i < n; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, n - i) }, open));
    if (half !== half && i + batch >= n / 2) half = rssKb(gwpid);
  }
  const halfN = Math.min(n, Math.ceil(n / 2 / batch) * batch);
  await sleep(settle);
  const idleKb = rssKb(gwpid);
  const stillOpen = n - closed;
  socks.forEach((s) => s.destroy());
  await sleep(settle);
  const closedKb = rssKb(gwpid);
  console.log(JSON.stringify({ path, n, warm, open_after_settle: stillOpen, rss_before_kb: before, rss_half_kb: half, rss_idle_kb: idleKb,
    rss_closed_kb: closedKb, per_stream_bytes: Math.round((idleKb - before) * 1024 / n),
    marginal_per_stream_bytes: n > halfN ? Math.round((idleKb - half) * 1024 / (n - halfN)) : null }));
  process.exit(stillOpen === n ? 0 : 1);
}

const median = (v) => {
  const s = v.filter(Number.isFinite).sort((x, y) => x - y);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const f = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const lines = (file) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);

function summary(listFile, streamFile, idleFile, minRatio, maxIdle) {
  const out = [];
  let bad = 0;
  const goals = [];
  // (1) tools/list: one wrk run per (round, format, side); pairs are same round and format.
  const list = lines(listFile);
  const us = (r) => (r.requests ? r.cpu_ns / r.requests / 1000 : NaN);
  if (list.length) {
    out.push('## tools/list, 100 tools, filtered to 10 (mcp) or passed whole (plain)', '',
      '| format | side | responses/s | p50 µs | p99 µs | gateway CPU µs/response | per round | errors | non-2xx |', '|---|---|---:|---:|---:|---:|---|---:|---:|');
    const fmts = [...new Set(list.map((r) => r.target))];
    const rows = [];
    for (const t of fmts) {
      for (const side of ['plain', 'mcp']) {
        const rs = list.filter((r) => r.target === t && r.side === side);
        const e = rs.reduce((s, r) => s + r.errors, 0), x = rs.reduce((s, r) => s + r.non2xx, 0);
        bad += e + x;
        out.push(`| ${t} | ${side} | ${Math.round(median(rs.map((r) => r.rps)))} | ${f(median(rs.map((r) => r.p50_us)), 0)} | ${f(median(rs.map((r) => r.p99_us)), 0)} `
          + `| ${f(median(rs.map(us)), 1)} | ${rs.map((r) => f(us(r), 1)).join(', ')} | ${e} | ${x} |`);
      }
      const pairs = [...new Set(list.map((r) => r.round))].map((k) => [list.find((r) => r.target === t && r.side === 'mcp' && r.round === k),
        list.find((r) => r.target === t && r.side === 'plain' && r.round === k)]).filter(([m, p]) => m && p);
      const dl = pairs.map(([m, p]) => m.p50_us - p.p50_us), dc = pairs.map(([m, p]) => us(m) - us(p));
      rows.push(`| ${t} | ${dl.map((v) => f(v, 0)).join(', ')} | **${f(median(dl), 0)}** | ${dc.map((v) => f(v, 1)).join(', ')} | **${f(median(dc), 1)}** |`);
      goals.push(`| ${t}: added latency / CPU per filtered response (mcp − plain) | ${f(median(dl), 0)} µs p50 / ${f(median(dc), 1)} µs CPU | (reported) |`);
    }
    out.push('', '| format | mcp − plain p50 µs, per round | median | mcp − plain gateway CPU µs/response, per round | median |', '|---|---|---:|---|---:|', ...rows, '');
  }
  // (2) SSE pass-through: events/s per read; ratio mcp / plain within a round.
  const st = lines(streamFile);
  if (st.length) {
    const sides = [...new Set(st.map((r) => r.side))];
    out.push(`## SSE streams of ${st[0].n} small events, ${st[0].streams} streams per sample`, '',
      '| side | events/s (median) | per round | ms per sample (median) | gateway CPU ns/event (median) |', '|---|---:|---|---:|---:|');
    for (const s of sides) {
      const rs = st.filter((r) => r.side === s);
      out.push(`| ${s} | ${Math.round(median(rs.map((r) => r.eps)))} | ${rs.map((r) => Math.round(r.eps)).join(', ')} | ${f(median(rs.map((r) => r.ms)), 1)} | ${s === 'direct' ? '-' : f(median(rs.map((r) => r.cpu_ns / r.events)), 0)} |`);
    }
    // mcp-list: a tools/list answered by a stream, every event read by the gateway (the answer may be
    // any of them); mcp: a GET stream of an MCP upstream (judged by route, passed through).
    for (const [ms, ps, what] of [['mcp-list', 'plain-list', 'POST tools/list answered by a stream: events read for the answer'],
      ['mcp', 'plain', 'GET stream, passed through']]) {
      if (!sides.includes(ms) || !sides.includes(ps)) continue;
      const ratios = [...new Set(st.map((r) => r.round))].map((k) => {
        const m = st.find((r) => r.side === ms && r.round === k), p = st.find((r) => r.side === ps && r.round === k);
        return m && p ? m.eps / p.eps : NaN;
      });
      const m = median(ratios);
      out.push('', `${ms} ÷ ${ps} events/s (${what}), same round: ${ratios.map((v) => f(v, 3)).join(', ')}; median **${f(m, 3)}**`);
      goals.push(`| SSE events/s, ${ms} ÷ ${ps} ≥ ${minRatio} | ${f(m, 3)} | ${Number.isFinite(m) ? (m >= minRatio ? 'met' : 'NOT met') : 'no data'} |`);
    }
    out.push('');
  }
  // (3) idle SSE streams.
  const idl = lines(idleFile);
  if (idl.length) {
    out.push('## Concurrent idle SSE streams (one event each, then silence)', '',
      '| path | streams | still open after settle | RSS before kB | with streams kB | after close kB | bytes/stream | marginal bytes/stream (second half) |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of idl) {
      out.push(`| ${r.path} | ${r.n} | ${r.open_after_settle} | ${r.rss_before_kb} | ${r.rss_idle_kb} | ${r.rss_closed_kb} | **${r.per_stream_bytes}** | ${r.marginal_per_stream_bytes ?? '-'} |`);
      if (r.path.startsWith('/mcp')) goals.push(`| ${r.n} idle SSE streams through /mcp ≤ ${maxIdle} bytes each | ${r.per_stream_bytes} | ${r.per_stream_bytes <= maxIdle && r.open_after_settle === r.n ? 'met' : 'NOT met'} |`);
    }
    out.push('', '(user-space RSS of the gateway process; each stream holds a client and an upstream connection; kernel socket buffers are not counted)', '');
  }
  out.unshift('| goal | measured | status |', '|---|---|---|', ...goals, '');
  if (bad) out.push(`**${bad} socket errors or non-2xx answers: the list numbers are suspect (see raw/).**`);
  console.log(out.join('\n'));
  process.exit(bad ? 1 : 0);
}

const main = async () => {
  if (mode === 'summary') return summary(a[0], a[1], a[2], Number(a[3]), Number(a[4]));
  if (mode === 'check') return check(Number(a[0]), a[1], token(a[2]), a[3], Number(a[4]));
  if (mode === 'stream') {
    const sides = a.slice(5).map((s) => { const m = /^([^=]+)=(?:(GET|POST):)?(\d+):(\/.*)$/.exec(s) || die(`bad SIDE ${s}`); return { side: m[1], method: m[2] || 'GET', port: Number(m[3]), path: m[4] }; });
    return stream(a[0], Number(a[1]), Number(a[2]), Number(a[3]), Number(a[4]), sides);
  }
  if (mode === 'idle') return idle(Number(a[0]), a[1], token(a[2]), Number(a[3]), Number(a[4]), Number(a[5] || 2000), Number(a[6] || 100), Number(a[7] ?? 100));
  console.error('usage: mcp-lists.js summary LIST STREAM IDLE MIN_RATIO MAX_IDLE | check PORT PATH TOKENFILE sse|json EXPECT | stream TOKENFILE N REPS PER GWPID SIDE=[GET|POST:]PORT:PATH... | idle PORT PATH TOKENFILE N GWPID [SETTLE_MS] [BATCH] [WARM]');
  process.exit(2);
};
main().catch((e) => die(e.message));
