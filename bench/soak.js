'use strict';
// The soak run behind bench/soak.sh (not part of make test): SOAK_SECONDS of
// mixed load against one gateway — good tokens (from the built-in M2M
// issuer), bad tokens, wrong-secret token requests, connections aborted
// mid-request, a SIGHUP every 5 s and an upstream restart every 20 s —
// sampling the gateway's RSS each second. Prints the RSS slope (least
// squares over the second half, after warm-up), the error counts and
// whatever the sanitizers wrote.
const fs = require('node:fs');
const net = require('node:net');
const http = require('node:http');
const path = require('node:path');
const { startGateway, startUpstream, freePorts } = require('../tests/integration/lib/procs');
const { PROFILE_POLICY, TOKEN_PATH, CLIENTS, m2mSections, waitReady } = require('../tests/integration/lib/m2m-kit');

const SECONDS = Number(process.env.SOAK_SECONDS || 600);
const CONC = Number(process.env.SOAK_CONCURRENCY || 16);
const AUD = 'https://api.example.test';

function req(port, { method = 'GET', p, headers = {}, body, timeoutMs = 5000 }) {
  return new Promise((resolve) => {
    const r = http.request({ host: '127.0.0.1', port, method, path: p, headers, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
      res.on('error', () => resolve({ status: 0 }));
    });
    r.setTimeout(timeoutMs, () => r.destroy());
    r.on('error', () => resolve({ status: 0 }));
    r.end(body);
  });
}

function rss(pid) {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return m ? Number(m[1]) : null;
  } catch (e) { return null; }
}

function slope(samples) { // kB per minute over [t s, kB]
  const n = samples.length;
  if (n < 2) return 0;
  let sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const [x, y] of samples) { sx += x; sy += y; sxx += x * x; sxy += x * y; }
  return ((n * sxy - sx * sy) / (n * sxx - sx * sx)) * 60;
}

async function main() {
  let up = await startUpstream({ name: 'api' });
  const upPort = up.port;
  const [port, adminPort] = await freePorts(2);
  const gw = await startGateway({
    port, adminPort,
    server: { workers: 2, max_connections: 1000, idle_timeout: '5s' },
    upstreams: [{ name: 'api', prefix: '/api/v4', url: `http://localhost:${upPort}` }],
    policyFile: PROFILE_POLICY,
    log: { access: 'off' },
    extra: m2mSections({ port, audience: AUD, maxFailures: 0 }),
  });
  await waitReady(adminPort);
  const tok = await req(port, { method: 'POST', p: TOKEN_PATH, headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: CLIENTS.demo.id, client_secret: CLIENTS.demo.secret }) });
  const good = JSON.parse(tok.body).access_token;
  if (!good) throw new Error(`no token: ${tok.status} ${tok.body}`);

  const counts = {};
  const count = (k) => { counts[k] = (counts[k] || 0) + 1; };
  const end = Date.now() + SECONDS * 1000;
  const kinds = [
    async () => { const r = await req(port, { method: 'POST', p: '/api/v4/test', headers: { authorization: `Bearer ${good}`, 'content-length': 0 } }); count(`good ${r.status}`); },
    async () => { const r = await req(port, { p: '/api/v4/test', headers: { authorization: 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.AAAA' } }); count(`bad ${r.status}`); },
    async () => {
      const r = await req(port, { method: 'POST', p: TOKEN_PATH, headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'demo', client_secret: 'wrong' }) });
      count(`wrong-secret ${r.status}`);
    },
    () => new Promise((resolve) => { // aborted mid-head
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.write('GET /api/v4/test HTTP/1.1\r\nHost: x\r\nAuthor'); setTimeout(() => { s.destroy(); count('aborted'); resolve(); }, 5); });
      s.on('error', () => { count('aborted-error'); resolve(); });
    }),
  ];
  const loops = Array.from({ length: CONC }, async (_, i) => {
    for (let k = i; Date.now() < end; k++) await kinds[k % kinds.length]();
  });

  const samples = [];
  const t0 = Date.now();
  let hups = 0, restarts = 0, health = 0;
  const ticker = (async () => {
    for (let s = 1; Date.now() < end; s++) {
      await new Promise((r) => setTimeout(r, 1000));
      const kb = rss(gw.child.pid);
      if (kb !== null) samples.push([(Date.now() - t0) / 1000, kb]);
      if ((await req(adminPort, { p: '/healthz', timeoutMs: 3000 })).status !== 200) health++;
      if (s % 5 === 0) { gw.child.kill('SIGHUP'); hups++; }
      if (s % 20 === 0) {
        await up.stop();
        up = await startUpstream({ name: 'api', port: upPort });
        restarts++;
      }
    }
  })();
  await Promise.all([...loops, ticker]);
  const exitedEarly = gw.exited();
  const stopped = await gw.stop();
  await up.stop();

  const half = samples.filter(([t]) => t >= SECONDS / 2);
  const errors = Object.entries(counts).filter(([k]) => / (0|5\d\d)$/.test(k) && !/^wrong-secret 503$/.test(k));
  const san = [];
  const dir = process.env.SOAK_SAN_DIR;
  if (dir && fs.existsSync(dir)) for (const f of fs.readdirSync(dir)) san.push(fs.readFileSync(path.join(dir, f), 'utf8'));
  const errLog = gw.stderr();
  const sanInStderr = errLog.match(/==\d+==ERROR: \w+Sanitizer[\s\S]{0,3000}|runtime error:.*/g) || [];
  console.log(JSON.stringify({
    seconds: SECONDS, concurrency: CONC, hups, upstream_restarts: restarts,
    rss_kb_first: samples.length ? samples[0][1] : null, rss_kb_last: samples.length ? samples[samples.length - 1][1] : null,
    rss_kb_max: Math.max(...samples.map(([, y]) => y)),
    rss_slope_kb_per_min_second_half: Math.round(slope(half) * 10) / 10,
    healthz_failures: health, gateway_exited_early: exitedEarly, exit: stopped,
    counts, error_count: errors.reduce((a, [, n]) => a + n, 0), errors: Object.fromEntries(errors),
    sanitizer_reports: san.length + sanInStderr.length,
  }, null, 2));
  for (const s of [...san, ...sanInStderr]) console.log(s.slice(0, 4000));
}

main().catch((e) => { console.error(e); process.exit(1); });
