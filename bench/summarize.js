#!/usr/bin/env node
// Summarize a bench/run.sh result dir:  node bench/summarize.js bench/results/<stamp>
// Writes summary.md + summary.json there and prints summary.md. Node core modules only.
'use strict';
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
if (!dir) { console.error('usage: summarize.js RESULT_DIR'); process.exit(2); }
const rd = (f) => path.join(dir, f);
const jsonl = (f) => (fs.existsSync(rd(f))
  ? fs.readFileSync(rd(f), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l)) : []);
const json = (f) => (fs.existsSync(rd(f)) ? JSON.parse(fs.readFileSync(rd(f), 'utf8')) : null);

const runs = jsonl('runs.jsonl');
const mem = jsonl('memory.jsonl');
const ossl = json('openssl.json');
const osslRounds = jsonl('openssl-rounds.jsonl'); // one openssl speed per round, after its targets
const meta = json('meta.json') || {};
const chk = json('checks.json') || {};
const env = fs.existsSync(rd('env.txt')) ? fs.readFileSync(rd('env.txt'), 'utf8') : '';
const N = meta.ntokens;

const median = (a) => {
  const s = a.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const busy = (b, a, cpu) => { // fraction busy of one CPU between two /proc/stat snapshots
  if (!b || !a || !b[cpu] || !a[cpu]) return NaN;
  const d = a[cpu].map((v, i) => v - b[cpu][i]);
  const tot = d.reduce((x, y) => x + y, 0);
  return tot > 0 ? 1 - (d[3] + d[4]) / tot : NaN;
};
const scpu = `cpu${meta.server_cpu ?? 0}`, ccpu = `cpu${meta.client_cpu ?? 1}`;

// ---- per target ------------------------------------------------------------------------------------
const order = [];
const by = {};
for (const r of runs) {
  if (!by[r.label]) { by[r.label] = []; order.push(r.label); }
  const w = r.wrk;
  const errs = (w.err_connect || 0) + (w.err_read || 0) + (w.err_write || 0) + (w.err_timeout || 0);
  by[r.label].push({
    round: r.round, alg: r.alg, tokens: r.tokens, proxy: r.proxy, alive: r.proxy_alive_after !== false,
    requests: w.requests || 0, rps: w.rps, p50: w.lat_p50_us / 1000, p99: w.lat_p99_us / 1000,
    non2xx: (r.non2xx || 0) + (w.err_status || 0), errs,
    proxy_us: r.proxy_cpu_ns > 0 && w.requests ? r.proxy_cpu_ns / w.requests / 1000 : NaN,
    up_us: w.requests ? r.upstream_cpu_ns / w.requests / 1000 : NaN,
    sbusy: busy(r.cpu_before, r.cpu_after, scpu), cbusy: busy(r.cpu_before, r.cpu_after, ccpu),
  });
}
const rows = order.map((label) => {
  const rs = by[label];
  return {
    label, alg: rs[0].alg, tokens: rs[0].tokens, proxy: rs[0].proxy, n: rs.length,
    rps: median(rs.map((x) => x.rps)), rps_rounds: rs.map((x) => Math.round(x.rps)),
    requests_max: Math.max(...rs.map((x) => x.requests)),
    p50_ms: median(rs.map((x) => x.p50)), p99_ms: median(rs.map((x) => x.p99)),
    proxy_us_per_req: median(rs.map((x) => x.proxy_us)), upstream_us_per_req: median(rs.map((x) => x.up_us)),
    server_cpu_busy: median(rs.map((x) => x.sbusy)), client_cpu_busy: median(rs.map((x) => x.cbusy)),
    non2xx: rs.reduce((s, x) => s + x.non2xx, 0), socket_errors: rs.reduce((s, x) => s + x.errs, 0),
    died: rs.some((x) => !x.alive),
    rounds: rs,
  };
});
const find = (l) => rows.find((r) => r.label === l);
const direct = find('direct'), ngx = find('nginx-proxy');
for (const r of rows) {
  r.ratio_vs_direct = direct ? r.rps / direct.rps : NaN;
  r.ratio_vs_nginx_proxy = ngx ? r.rps / ngx.rps : NaN;
}

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const L = [];
L.push(`# gateway bench summary — ${meta.stamp || path.basename(dir)}`, '');
if (meta.quick) L.push('**QUICK smoke run** (short, single round): numbers are indicative only, not for the goals.', '');
L.push('```', env.trim(), '```', '');
L.push(`Median of ${meta.rounds} interleaved round(s) (wrk -t${meta.threads} -c${meta.conns} -d${meta.duration_s}s per target ` +
  `per round, ${meta.warmup_s}s warm-up each). proxy/upstream CPU = on-CPU µs per request of that process, all threads ` +
  `(/proc/<pid>/task/*/schedstat). srv/cli busy = utilisation of CPU ${meta.server_cpu} (upstream + proxy) / ` +
  `CPU ${meta.client_cpu} (wrk) ${meta.pin ? '(pinned)' : '(not pinned)'}. Expected status is 200 everywhere.`, '');

const dead = meta.dead || {};
for (const k of Object.keys(dead)) L.push(`**${k} was not running ${dead[k]}: its remaining targets were skipped (log copied as ${k}.crash.log / ${k}.log).**`, '');
L.push(`Functional checks: direct ${chk.direct || '-'}; gateway-plain 200 ${chk.gateway_plain || '-'}` +
  (meta.auth ? `; gateway-jwt 200 with a good token ${chk.gateway_jwt || '-'}; **gateway-jwt verify.sh: ${chk.gateway_jwt_verify}**` +
    ' (peerbench\'s 23 curl cases; FAIL makes its numbers meaningless, see verify-gateway-jwt.txt)' : '; gateway-jwt targets off (AUTH=0)') + '.', '');

L.push('| target | alg | tokens | req/s (median) | vs direct | vs nginx-proxy | p50 ms | p99 ms | proxy CPU µs/req | upstream CPU µs/req | srv/cli busy | req/s per round | non-2xx | sock err |');
L.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---:|');
for (const r of rows) {
  const bad = (x) => (x ? `**${x}**` : '0');
  L.push(`| ${r.label}${r.died ? ' **(died)**' : ''} | ${r.alg} | ${r.tokens} | ${f(r.rps)} | ${f(r.ratio_vs_direct, 3)} | ` +
    `${f(r.ratio_vs_nginx_proxy, 2)} | ${f(r.p50_ms, 2)} | ${f(r.p99_ms, 2)} | ${f(r.proxy_us_per_req, 1)} | ` +
    `${f(r.upstream_us_per_req, 1)} | ${f(r.server_cpu_busy * 100)}%/${f(r.client_cpu_busy * 100)}% | ` +
    `${r.rps_rounds.join(', ')} | ${bad(r.non2xx)} | ${bad(r.socket_errors)} |`);
}
L.push('');

// ---- goals ----------------------------------------------------------------------------------------------
const memOf = (l) => mem.find((m) => m.label === l);
const usOf = (o) => ({ RS256: 1e6 / o.rsa2048_verify_s, ES256: 1e6 / o.ecdsap256_verify_s });
const usVerify = ossl ? usOf(ossl) : {};
// µs/verify measured in the same round (the core's speed drifts on a shared VM); the start-of-run
// value when a round has none.
const usVerifyIn = (alg, round) => {
  const o = osslRounds.find((x) => x.round === round);
  return o && o.openssl[alg === 'RS256' ? 'rsa2048_verify_s' : 'ecdsap256_verify_s'] > 0 ? usOf(o.openssl)[alg] : usVerify[alg];
};
const perRound = (a, b, fn) => { // paired per-round values of fn(roundA, roundB)
  if (!a || !b) return [];
  return a.rounds.map((x) => { const y = b.rounds.find((z) => z.round === x.round); return y ? fn(x, y) : NaN; });
};
const suspect = (...rs) => rs.some((r) => r && (r.non2xx || r.socket_errors || r.died));
const goals = [];
const goal = (issue, name, value, op, target, digits, rounds, rs, note = "") => {
  let status = 'n/a';
  if (Number.isFinite(value)) {
    const ok = op === '>=' ? value >= target : op === '<' ? value < target : value <= target;
    status = ok ? 'PASS' : 'FAIL';
    if (note.startsWith('needs-verify') && chk.gateway_jwt_verify !== 'pass') status = 'INVALID (gateway-jwt failed verify.sh)';
    else if (note === 'needs-verify-miss' && !missRun) status = `not a miss run (NTOKENS=${N}: cache hits; use NTOKENS=300000)`;
    else if (suspect(...rs)) status += ' (suspect: errors/non-2xx)';
  }
  goals.push({ issue, name, value, op, target, status, rounds: rounds.filter(Number.isFinite), note: note || '' });
  L.push(`| #${issue} | ${name} | ${f(value, digits)} | ${op} ${target} | ${rounds.filter(Number.isFinite).map((x) => f(x, digits)).join(', ') || '-'} | ${status.startsWith('PASS') || status.startsWith('n/a') || status.startsWith('not a miss') ? status : `**${status}**`} |`);
};
const gp = find('gateway-plain'), hp = find('haproxy-plain');
// The N-token JWT-work goal is about cache misses: only a run whose cycle never wrapped, or whose
// cycle is far longer than a bounded verification cache (NTOKENS >= 100000), measures them.
const ntSent = Math.max(0, ...Object.entries(meta.tokens_sent || {})
  .filter(([k]) => k.startsWith('gateway-jwt-') && k.endsWith(`-${N}tok`)).map(([, v]) => v));
const missRun = ntSent <= N || N >= 100000;
L.push('Goals (all values from this run):', '');
L.push('| issue | measure | measured | goal | per round | status |', '|---|---|---:|---|---|---|');
goal(2, 'gateway-plain req/s ÷ nginx-proxy req/s', gp && ngx ? gp.rps / ngx.rps : NaN, '>=', 1.15, 2,
  perRound(gp, ngx, (x, y) => x.rps / y.rps), [gp, ngx]);
goal(2, 'gateway-plain proxy CPU µs/req', gp ? gp.proxy_us_per_req : NaN, '<', 14, 1,
  gp ? gp.rounds.map((x) => x.proxy_us) : [], [gp]);
goal(2, `gateway-plain p99 ms vs haproxy-plain p99 ${hp ? f(hp.p99_ms, 2) : '-'} ms (ratio)`, gp && hp ? gp.p99_ms / hp.p99_ms : NaN, '<=', 1.0, 2,
  perRound(gp, hp, (x, y) => x.p99 / y.p99), [gp, hp]);
const mg = memOf('gateway-plain');
goal(2, `gateway-plain idle bytes/conn (nginx-proxy ${memOf('nginx-proxy') ? memOf('nginx-proxy').per_conn_bytes : '-'}, ` +
  `haproxy-plain ${memOf('haproxy-plain') ? memOf('haproxy-plain').per_conn_bytes : '-'})`,
  mg && mg.open_at_measure === mg.n ? mg.per_conn_bytes : NaN, '<', 800, 0, [], []);
if (meta.auth) {
  const g1 = find('gateway-jwt-rs256-1tok'), h1 = find('haproxy-jwt-rs256-1tok');
  goal(3, 'gateway-jwt-rs256-1tok req/s ÷ haproxy-jwt-rs256-1tok', g1 && h1 ? g1.rps / h1.rps : NaN, '>=', 2.3, 2,
    perRound(g1, h1, (x, y) => x.rps / y.rps), [g1, h1], 'needs-verify');
  goal(3, 'gateway-jwt-rs256-1tok req/s ÷ gateway-plain', g1 && gp ? g1.rps / gp.rps : NaN, '>=', 0.95, 2,
    perRound(g1, gp, (x, y) => x.rps / y.rps), [g1, gp], 'needs-verify');
  for (const alg of ['RS256', 'ES256']) {
    const g = find(`gateway-jwt-${alg.toLowerCase()}-${N}tok`);
    // Paired within each round, against that round's own openssl speed; the median of the rounds.
    const pr = perRound(g, gp, (x, y) => (x.proxy_us - y.proxy_us) / usVerifyIn(alg, x.round));
    const v = osslRounds.length ? median(pr)
      : g && gp && usVerify[alg] ? (g.proxy_us_per_req - gp.proxy_us_per_req) / usVerify[alg] : NaN;
    const us = osslRounds.length ? `${osslRounds.map((o) => f(usOf(o.openssl)[alg], 1)).join('/')} µs per round`
      : `${f(usVerify[alg], 1)} µs`;
    goal(3, `gateway-jwt-${alg.toLowerCase()}-${N}tok JWT work ÷ openssl ${alg} verify (${us})`, v, '<=', 1.25, 2,
      pr, [g, gp], 'needs-verify-miss');
  }
}
L.push('');
if (meta.auth) {
  const nsent = ntSent;
  L.push(`N-token runs: wrk walks one continuous cycle through the ${N} tokens per target across its warm-up and all rounds ` +
    `(bench/wrk.lua), so the gateway sees a token again only after the ${N - 1} others; it got up to ${nsent} requests per ` +
    `N-token target (${nsent > N ? `the cycle wrapped ${Math.floor(nsent / N)} time(s)` : 'the cycle never wrapped: every request carried a token it had never seen'}). ` +
    (nsent <= N ? 'These rows measure the cache-miss path.'
      : missRun ? `A repeat comes ${N} requests after the previous use of that token, so a bounded verification cache ` +
        `with fewer entries (LRU) misses on every request: these rows measure the cache-miss path.`
      : `A verification cache holding ~${N} tokens turns the repeats into hits, so these rows measure the cache-hit ` +
        'path, not misses; NTOKENS=300000 is what makes every N-token request a miss.'), '');
}

// ---- JWT work ----------------------------------------------------------------------------------------------
const jwtRows = rows.filter((r) => /-jwt-(rs256|es256)-\d+tok$/.test(r.label));
if (jwtRows.length) {
  L.push('JWT work per request = proxy CPU µs/req of the JWT target − proxy CPU µs/req of the same proxy without auth ' +
    '(gateway-plain for gateway-jwt, haproxy-plain for haproxy-jwt: same HAProxy process), and that ÷ openssl speed µs/verify:', '');
  L.push('| target | JWT work µs/req | ÷ openssl verify (start of run) | ÷ openssl verify (same round, median) | req/s ÷ haproxy-jwt (same alg, tokens) | req/s ÷ own plain |', '|---|---:|---:|---:|---:|---:|');
  for (const r of jwtRows) {
    const plain = r.label.startsWith('gateway') ? gp : hp;
    const w = plain ? r.proxy_us_per_req - plain.proxy_us_per_req : NaN;
    const hj = r.label.startsWith('gateway') ? find(r.label.replace(/^gateway-jwt/, 'haproxy-jwt')) : null;
    const same = osslRounds.length && plain ? median(perRound(r, plain, (x, y) => (x.proxy_us - y.proxy_us) / usVerifyIn(r.alg, x.round))) : NaN;
    r.jwt_work_us = w; r.jwt_work_vs_openssl = w / usVerify[r.alg]; r.jwt_work_vs_openssl_same_round = same;
    L.push(`| ${r.label} | ${f(w, 1)} | ${f(w / usVerify[r.alg], 2)} | ${f(same, 2)} | ${hj ? f(r.rps / hj.rps, 2) : '-'} | ${plain ? f(r.rps / plain.rps, 2) : '-'} |`);
  }
  L.push('');
}
if (ossl) {
  L.push(`Crypto physical limit, one core (\`openssl speed\` pinned to the server CPU):`, '');
  L.push('| primitive | verify/s | µs/verify | sign/s |', '|---|---:|---:|---:|');
  L.push(`| RSA-2048 (RS256) | ${f(ossl.rsa2048_verify_s)} | ${f(usVerify.RS256, 1)} | ${f(ossl.rsa2048_sign_s)} |`);
  L.push(`| ECDSA P-256 (ES256) | ${f(ossl.ecdsap256_verify_s)} | ${f(usVerify.ES256, 1)} | ${f(ossl.ecdsap256_sign_s)} |`);
  L.push('');
  if (osslRounds.length) {
    L.push(`Measured again after each round: RSA-2048 verify ${osslRounds.map((o) => f(usOf(o.openssl).RS256, 1)).join(', ')} µs; ` +
      `P-256 verify ${osslRounds.map((o) => f(usOf(o.openssl).ES256, 1)).join(', ')} µs (rounds 1..${osslRounds.length}).`, '');
  }
}
if (mem.length) {
  L.push(`Idle keep-alive connection memory (${mem[0].n} connections, each after one request, then idle; RSS of the process tree, user space only; ` +
    'haproxy-plain is the haproxy-jwt process, probed once on its plain port):', '');
  L.push('| process | RSS before MiB | RSS with idle conns MiB | avg bytes/conn | marginal bytes/conn (2nd half) | RSS after close MiB | conns open / 2xx |', '|---|---:|---:|---:|---:|---:|---|');
  for (const m of mem) {
    const warn = m.open_at_measure !== m.n || m.status_2xx !== m.n ? ' **(not all open/2xx)**' : '';
    L.push(`| ${m.label} | ${f(m.rss_before_kb / 1024, 1)} | ${f(m.rss_idle_kb / 1024, 1)} | ${m.per_conn_bytes} | ${m.marginal_per_conn_bytes} | ` +
      `${f(m.rss_after_close_kb / 1024, 1)} | ${m.open_at_measure}/${m.status_2xx}${warn} |`);
  }
  L.push('');
} else {
  L.push('Idle-connection memory: not measured (SKIP_MEMORY=1 or QUICK=1).', '');
}
L.push(`bench/run.sh wall time: ${meta.wall_s}s`);
const md = L.join('\n') + '\n';
for (const r of rows) delete r.rounds;
fs.writeFileSync(rd('summary.md'), md);
fs.writeFileSync(rd('summary.json'), JSON.stringify({ meta, checks: chk, openssl: ossl, openssl_rounds: osslRounds, rows, goals, memory: mem }, null, 2) + '\n');
process.stdout.write(md);
