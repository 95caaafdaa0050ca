'use strict';
// SIGHUP hot reload (SPEC "Command line", issue 4 "Hot reload"): the gateway
// re-reads gateway.ini, the policy and the jwks_files, validates everything
// and swaps one snapshot; a reload that fails validation changes nothing and
// logs every error as FILE:LINE; in-flight requests finish on the snapshot
// they started with; reloads under load lose no request; repeated reloads do
// not grow the process.
//
// Every test starts its own gateway in its own directory and rewrites its
// files atomically (write + rename) before each SIGHUP, so the gateway never
// reads a half-written file.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');
const { HOST, SCALE, sleep, request, assertGatewayError } = require('./lib/wire');
const { startUpstream, launchGateway, configText, freePorts, tmpDir, getStatus, stopChild } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');

const T = { timeout: 60000 * SCALE };
const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
const OK_MARK = 'SIGHUP: configuration reloaded';
const FAIL_MARK = 'SIGHUP: reload of';

const K1 = makeKey('rsa', 'k1');
const K2 = makeKey('p256', 'k2');
const token = (key, scope, alg = key.kind === 'rsa' ? 'RS256' : 'ES256') =>
  sign({ alg, key, claims: claims({ iss: ISS, aud: AUD, scope }) });
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

const ups = {};
async function upstream(name) {
  if (!ups[name]) ups[name] = await startUpstream({ name });
  return ups[name];
}
const running = new Set();
after(async () => {
  for (const gw of running) await gw.stop('SIGKILL');
  for (const u of Object.values(ups)) await u.stop();
});

// ---- files ----

function writeAtomic(file, text) {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

// 1-based line number of the first line of `text` matching re.
function lineOf(text, re) {
  const i = text.split('\n').findIndex((l) => re.test(l));
  assert.ok(i >= 0, `no line matching ${re} in:\n${text}`);
  return i + 1;
}

// gateway.ini text for one api upstream, one jwks_file issuer and a policy.
// opts: upstreamUrl, policyFile, jwksFile, workers, serverExtra, tail.
function iniText(env, opts) {
  const extra = [
    '[resource]',
    `identifier = ${AUD}`,
    '',
    '[issuer:login]',
    `iss = ${ISS}`,
    `jwks_file = ${opts.jwksFile || env.jwksFile}`,
    'algorithms = RS256 ES256',
    '',
    opts.tail || '',
  ].join('\n');
  return configText({
    port: env.port,
    adminPort: env.adminPort,
    server: Object.assign({ workers: opts.workers || 2, idle_timeout: '10s' }, opts.serverExtra || {}),
    upstreams: [{ name: 'api', prefix: '/api/v4', url: opts.upstreamUrl, response_timeout: '10s' }],
    policyFile: opts.policyFile,
    log: opts.log || {},
    extra,
  }).text;
}

// A gateway in a fresh directory. files: {name: text} written first;
// ini: options for iniText (policyFile etc. as names inside dir).
async function startEnv({ files = {}, ini }) {
  const dir = tmpDir();
  const [port, adminPort] = await freePorts(2);
  const env = { dir, port, adminPort, configPath: path.join(dir, 'gateway.ini'), jwksFile: path.join(dir, 'jwks.json') };
  env.file = (n) => path.join(dir, n);
  env.write = (n, text) => writeAtomic(env.file(n), text);
  env.writeIni = (o) => { const t = iniText(env, o); writeAtomic(env.configPath, t); env.iniText = t; return t; };
  for (const [n, t] of Object.entries(files)) env.write(n, t);
  const text = env.writeIni(ini);
  env.gw = await launchGateway({ configPath: env.configPath, port, adminPort, dir, where: {}, text });
  running.add(env.gw);
  return env;
}

async function stopEnv(env) {
  if (!env || !env.gw) return;
  const r = await env.gw.stop();
  running.delete(env.gw);
  return r;
}

// Sends SIGHUP and waits (bounded) for the outcome line. Resolves
// {ok, log}: ok true for "configuration reloaded", false for "reload of X
// failed"; log is stderr written since the signal.
async function hup(env, { timeoutMs = 10000 * SCALE } = {}) {
  const gw = env.gw;
  const from = gw.stderr().length;
  assert.ok(!gw.exited(), `gateway exited before SIGHUP: ${gw.stderr().slice(-2000)}`);
  gw.child.kill('SIGHUP');
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100000 && Date.now() < deadline; i++) {
    const log = gw.stderr().slice(from);
    if (log.includes(OK_MARK)) return { ok: true, log };
    if (log.includes(FAIL_MARK)) {
      await sleep(100); // the error lines follow the header line
      return { ok: false, log: gw.stderr().slice(from) };
    }
    if (gw.exited()) break;
    await sleep(20);
  }
  assert.fail(`no reload outcome within ${timeoutMs} ms (exited: ${gw.exited()}); stderr since SIGHUP:\n${gw.stderr().slice(from)}`);
}

async function hupOk(env) {
  const r = await hup(env);
  assert.ok(r.ok, `reload refused:\n${r.log}`);
  return r;
}

async function status(env, p, t, method = 'GET') {
  const res = await request(env.gw.port, { method, path: p, headers: t ? bearer(t) : {} });
  return res;
}

async function expectStatus(env, p, t, want, what) {
  const res = await status(env, p, t);
  assert.equal(res.status, want, `${what}: GET ${p} answered ${res.status}: ${res.body.toString('utf8').slice(0, 300)}`);
  return res;
}

// ---- policies and key sets used below ----

const POLICY_A = [
  '[GET /api/v4/things]', 'scopes = alpha', '',
  '[GET /api/v4/other]', 'scopes = beta', '',
  '[GET /api/v4/echo]', 'auth = token', '',
  '[GET /api/v4/delay]', 'scopes = alpha', '',
].join('\n');
const POLICY_B = [
  '[GET /api/v4/things]', 'scopes = beta', '',
  '[GET /api/v4/other]', 'scopes = alpha', '',
  '[GET /api/v4/echo]', 'auth = token', '',
  '[GET /api/v4/delay]', 'scopes = beta', '',
].join('\n');

const JWKS_K1 = JSON.stringify(jwks(K1));
const JWKS_K1K2 = JSON.stringify(jwks(K1, K2));
const JWKS_K2 = JSON.stringify(jwks(K2));

async function baseEnv(extraFiles = {}) {
  const one = await upstream('one');
  return startEnv({
    files: Object.assign({ 'a.ini': POLICY_A, 'b.ini': POLICY_B, 'jwks.json': JWKS_K1 }, extraFiles),
    ini: { upstreamUrl: one.url, policyFile: 'a.ini' },
  });
}

// ---- policy ----

test('SIGHUP applies a policy change: a route that answered 403 now answers 200, and the reverse', T, async () => {
  const env = await baseEnv();
  try {
    const t = token(K1, 'alpha');
    await expectStatus(env, '/api/v4/things', t, 200, 'before reload, alpha token on a route needing alpha');
    const r403 = await expectStatus(env, '/api/v4/other', t, 403, 'before reload, alpha token on a route needing beta');
    assertGatewayError(r403, 403, 'insufficient_scope', 'before reload');

    // Same config file, new policy content (the file the config names).
    env.write('a.ini', POLICY_B);
    await hupOk(env);
    await expectStatus(env, '/api/v4/other', t, 200, 'after reload, the route now needing alpha');
    const after403 = await expectStatus(env, '/api/v4/things', t, 403, 'after reload, the route now needing beta');
    const body = assertGatewayError(after403, 403, 'insufficient_scope', 'after reload');
    assert.match(String(after403.headers['www-authenticate'] || ''), /scope="beta"/, 'the challenge names the new requirement');
    assert.equal(body.scope, 'beta');

    // And back, through a config that names the other file.
    env.write('a.ini', POLICY_A);
    await hupOk(env);
    await expectStatus(env, '/api/v4/things', t, 200, 'after second reload');
    await expectStatus(env, '/api/v4/other', t, 403, 'after second reload');
  } finally { await stopEnv(env); }
});

test('SIGHUP: a policy change also applies to a keep-alive connection opened before the reload', T, async (ctx) => {
  const env = await baseEnv();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const t = token(K1, 'alpha');
    const r1 = await request(env.gw.port, { path: '/api/v4/things', headers: bearer(t), agent });
    assert.equal(r1.status, 200);
    env.write('a.ini', POLICY_B);
    await hupOk(env);
    const r2 = await request(env.gw.port, { path: '/api/v4/things', headers: bearer(t), agent });
    // Closing idle connections on reload is allowed; then there is nothing to check here.
    if (!r2.reused) ctx.skip('the gateway closed the idle keep-alive connection at the reload');
    assert.equal(r2.status, 403, `the old policy still applies on a connection opened before the reload: ${r2.body.toString('utf8').slice(0, 200)}`);
  } finally { agent.destroy(); await stopEnv(env); }
});

// ---- keys ----

test('SIGHUP re-reads jwks_file: a token with a new kid is 401 before and 200 after; a removed key is refused after', T, async () => {
  const env = await baseEnv();
  try {
    const t1 = token(K1, 'alpha');
    const t2 = token(K2, 'alpha');
    await expectStatus(env, '/api/v4/things', t1, 200, 'k1 token, k1 in the key set');
    const before = await expectStatus(env, '/api/v4/things', t2, 401, 'k2 token before k2 is in the key set');
    assertGatewayError(before, 401, 'invalid_token', 'unknown kid');

    env.write('jwks.json', JWKS_K1K2);
    await hupOk(env);
    await expectStatus(env, '/api/v4/things', t2, 200, 'k2 token after adding k2');
    await expectStatus(env, '/api/v4/things', t1, 200, 'k1 token still in the key set');

    env.write('jwks.json', JWKS_K2);
    await hupOk(env);
    // t1 was verified (and may have been cached) before: it must be refused now.
    const gone = await expectStatus(env, '/api/v4/things', t1, 401, 'k1 token after k1 was removed');
    assertGatewayError(gone, 401, 'invalid_token', 'removed key');
    // A fresh token signed with the removed key too.
    await expectStatus(env, '/api/v4/things', token(K1, 'alpha beta'), 401, 'new k1 token after k1 was removed');
    await expectStatus(env, '/api/v4/things', t2, 200, 'k2 token after k1 was removed');
  } finally { await stopEnv(env); }
});

// ---- invalid reloads change nothing ----

// Checks the old behaviour: /things 200 and /other 403 for an alpha k1 token,
// upstream "one".
async function oldBehaviour(env, what) {
  const t = token(K1, 'alpha');
  const r = await expectStatus(env, '/api/v4/things', t, 200, `${what}: old policy`);
  assert.equal(r.headers['x-upstream-name'], 'one', `${what}: old upstream`);
  await expectStatus(env, '/api/v4/other', t, 403, `${what}: old policy`);
}

// Asserts that `log` has a line naming file:line (file as the gateway was
// given it: absolute here, so match on the absolute path).
function assertNames(log, file, line, what) {
  const want = `${file}:${line}:`;
  assert.ok(log.includes(want), `${what}: stderr does not name ${want}; got:\n${log}`);
}

test('SIGHUP with a bad policy (two bad lines): nothing changes; both errors logged as FILE:LINE', T, async () => {
  const env = await baseEnv();
  try {
    await oldBehaviour(env, 'before');
    // POLICY_B (which would flip both routes) plus two errors.
    const bad = `${POLICY_B}\n[GET api/v4/no-slash]\nscopes = alpha\n\n[GET /api/v4/x]\nscopez = alpha\n`;
    env.write('a.ini', bad);
    const r = await hup(env);
    assert.equal(r.ok, false, `an invalid policy was accepted:\n${r.log}`);
    assert.match(r.log, /SIGHUP: reload of .* failed; the running configuration stays:/);
    assertNames(r.log, env.file('a.ini'), lineOf(bad, /^\[GET api\/v4\/no-slash\]/), 'pattern without a leading /');
    assertNames(r.log, env.file('a.ini'), lineOf(bad, /^scopez/), 'unknown key');
    await oldBehaviour(env, 'after the refused reload');
    assert.ok(!env.gw.exited());

    // Fixing the file and reloading again works.
    env.write('a.ini', POLICY_B);
    await hupOk(env);
    await expectStatus(env, '/api/v4/other', token(K1, 'alpha'), 200, 'after the fixed reload');
  } finally { await stopEnv(env); }
});

test('SIGHUP with an unknown key in gateway.ini: nothing changes; the error names gateway.ini:LINE', T, async () => {
  const env = await baseEnv();
  try {
    await oldBehaviour(env, 'before');
    const two = await upstream('two');
    // Would switch both the policy and the upstream, if applied.
    const text = env.writeIni({ upstreamUrl: two.url, policyFile: 'b.ini', serverExtra: { no_such_key: 'yes' } });
    const r = await hup(env);
    assert.equal(r.ok, false, `a config with an unknown key was accepted:\n${r.log}`);
    assertNames(r.log, env.configPath, lineOf(text, /^no_such_key\b/), 'unknown config key');
    await oldBehaviour(env, 'after the refused reload');
  } finally { await stopEnv(env); }
});

// FILE:LINE for a jwks_file that cannot be read: the line of gateway.ini
// that names it, or of its [issuer:login] section (the file itself has no
// line to point at).
function assertJwksLine(log, env, text) {
  const lines = [lineOf(text, /^jwks_file\b/), lineOf(text, /^\[issuer:login\]/)];
  const named = lines.some((l) => log.includes(`${env.configPath}:${l}:`));
  assert.ok(named, `stderr names no FILE:LINE for the unreadable jwks_file (expected ${env.configPath}:${lines[0]}: or :${lines[1]}:); got:\n${log}`);
}

test('SIGHUP with an unreadable jwks_file: nothing changes (old keys kept); the error names FILE:LINE', T, async () => {
  const env = await baseEnv();
  try {
    await oldBehaviour(env, 'before');
    const two = await upstream('two');
    const missing = env.file('missing-jwks.json');
    const text = env.writeIni({ upstreamUrl: two.url, policyFile: 'b.ini', jwksFile: missing });
    const r = await hup(env);
    assert.equal(r.ok, false, `a config whose jwks_file cannot be read was accepted:\n${r.log}`);
    assert.ok(r.log.includes('missing-jwks.json'), `the error does not name the jwks file:\n${r.log}`);
    // FILE:LINE: the line of gateway.ini that names the file (or its
    // [issuer:login] section); the missing file itself has no line.
    assertJwksLine(r.log, env, text);
    await oldBehaviour(env, 'after the refused reload'); // old key set kept: the k1 token still passes
  } finally { await stopEnv(env); }
});

test('SIGHUP with a jwks_file that became unreadable (config unchanged): nothing changes; the error names FILE:LINE', T, async () => {
  const env = await baseEnv();
  try {
    await oldBehaviour(env, 'before');
    // A policy change that would show if the reload went through.
    env.write('a.ini', POLICY_B);
    fs.renameSync(env.jwksFile, env.file('jwks.json.moved'));
    const r = await hup(env);
    assert.equal(r.ok, false, `a reload whose jwks_file is gone was accepted:\n${r.log}`);
    assert.ok(r.log.includes(env.jwksFile), `the error does not name ${env.jwksFile}:\n${r.log}`);
    assertJwksLine(r.log, env, env.iniText);
    await oldBehaviour(env, 'after the refused reload');
  } finally { await stopEnv(env); }
});

// ---- upstream ----

test('SIGHUP changes an upstream url: requests now reach the second upstream', T, async () => {
  const env = await baseEnv();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const two = await upstream('two');
    const t = token(K1, 'alpha');
    const r1 = await request(env.gw.port, { path: '/api/v4/echo?before', headers: bearer(t), agent });
    assert.equal(r1.status, 200);
    assert.equal(r1.headers['x-upstream-name'], 'one');
    env.writeIni({ upstreamUrl: two.url, policyFile: 'a.ini' });
    await two.reset();
    await hupOk(env);
    const r2 = await request(env.gw.port, { path: '/api/v4/echo?after-new-conn', headers: bearer(t) });
    assert.equal(r2.status, 200);
    assert.equal(r2.headers['x-upstream-name'], 'two', 'a new connection after the reload');
    const r3 = await request(env.gw.port, { path: '/api/v4/echo?after-kept-conn', headers: bearer(t), agent });
    assert.equal(r3.status, 200);
    assert.equal(r3.headers['x-upstream-name'], 'two', 'a keep-alive connection opened before the reload');
    const s = await two.stats();
    assert.ok(s.urls.includes('/api/v4/echo?after-new-conn') && s.urls.includes('/api/v4/echo?after-kept-conn'),
      `upstream two saw: ${JSON.stringify(s.urls)}`);
  } finally { agent.destroy(); await stopEnv(env); }
});

// ---- in flight ----

test('a slow request in flight during SIGHUP completes with 200 on the old snapshot', T, async () => {
  const env = await baseEnv();
  try {
    const one = await upstream('one');
    const two = await upstream('two');
    const t = token(K1, 'alpha');
    await one.reset();
    const started = Date.now();
    const slow = request(env.gw.port, { path: '/api/v4/delay?ms=1500', headers: bearer(t), timeoutMs: 15000 * SCALE });
    // Wait until the request is at the upstream (bounded).
    let seen = false;
    for (let i = 0; i < 200 && Date.now() - started < 1200; i++) {
      const s = await one.stats();
      if (s.urls.some((u) => u.startsWith('/api/v4/delay'))) { seen = true; break; }
      await sleep(20);
    }
    assert.ok(seen, 'the slow request did not reach upstream one in time (test setup too slow)');
    // New snapshot: another upstream, and a policy that refuses the route.
    env.writeIni({ upstreamUrl: two.url, policyFile: 'b.ini' });
    await hupOk(env);
    const elapsedAtReload = Date.now() - started;
    // New requests see the new snapshot right away.
    await expectStatus(env, '/api/v4/delay?ms=1', t, 403, 'a new request after the reload (new policy)');
    const res = await slow;
    assert.equal(res.status, 200, `in-flight request: ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
    assert.equal(res.headers['x-upstream-name'], 'one', 'in-flight request finished on the old upstream');
    assert.equal(res.json().delayed, 1500);
    assert.ok(elapsedAtReload < 1500, `the reload happened after the slow response was due (${elapsedAtReload} ms): test proves nothing`);
  } finally { await stopEnv(env); }
});

// ---- restart-only settings ----

test('SIGHUP with a changed workers value warns that it needs a restart and applies the rest', T, async () => {
  const env = await baseEnv();
  try {
    const one = await upstream('one');
    env.write('a.ini', POLICY_B);
    env.writeIni({ upstreamUrl: one.url, policyFile: 'a.ini', workers: 1 });
    const r = await hupOk(env);
    assert.match(r.log, /restart/i, `no warning about workers needing a restart:\n${r.log}`);
    await expectStatus(env, '/api/v4/other', token(K1, 'alpha'), 200, 'the policy change was applied');
    assert.equal(await getStatus(env.adminPort, '/readyz'), 200);
  } finally { await stopEnv(env); }
});

// ---- under load ----

// Two valid configs that both answer 200 for an alpha token on /api/v4/echo,
// through different upstreams and policies.
async function loadEnv() {
  const one = await upstream('one');
  const two = await upstream('two');
  const env = await startEnv({
    files: {
      'pa.ini': '[GET /api/v4/**]\nscopes = alpha\n',
      'pb.ini': '[GET /api/v4/**]\nany_scopes = alpha beta\n\n[GET /api/v4/nothing]\nscopes = beta\n',
      'jwks.json': JWKS_K1K2,
    },
    ini: { upstreamUrl: one.url, policyFile: 'pa.ini', log: { access: 'off' } },
  });
  env.cfgA = () => env.writeIni({ upstreamUrl: one.url, policyFile: 'pa.ini', log: { access: 'off' } });
  env.cfgB = () => env.writeIni({ upstreamUrl: two.url, policyFile: 'pb.ini', log: { access: 'off' }, jwksFile: env.jwksFile });
  return env;
}

// 10 SIGHUPs 200 ms apart, alternating B, A, B, ... Resolves counts.
async function reloadStorm(env, n = 10, gapMs = 200) {
  const from = env.gw.stderr().length;
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) env.cfgB(); else env.cfgA();
    env.gw.child.kill('SIGHUP');
    await sleep(gapMs);
  }
  const count = (s, m) => s.split(m).length - 1;
  const deadline = Date.now() + 10000 * SCALE;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const log = env.gw.stderr().slice(from);
    if (count(log, OK_MARK) + count(log, FAIL_MARK) >= n || env.gw.exited()) break;
    await sleep(50);
  }
  const log = env.gw.stderr().slice(from);
  return { ok: count(log, OK_MARK), failed: count(log, FAIL_MARK), log };
}

test('reload under load: 8 keep-alive clients for ~4 s while SIGHUP is sent 10 times: every response 200, no connection error', T, async () => {
  const env = await loadEnv();
  const t = token(K1, 'alpha');
  const agents = [];
  try {
    const tally = { ok: 0, bad: {}, errors: [], upstreams: {} };
    let stop = false;
    const client = async (k) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      for (let i = 0; i < 1000000 && !stop; i++) {
        try {
          const res = await request(env.gw.port, { path: `/api/v4/echo?c=${k}&i=${i}`, headers: bearer(t), agent, timeoutMs: 5000 * SCALE });
          if (res.status === 200) tally.ok++;
          else tally.bad[res.status] = (tally.bad[res.status] || 0) + 1;
          const u = res.headers['x-upstream-name'];
          tally.upstreams[u] = (tally.upstreams[u] || 0) + 1;
        } catch (e) {
          if (tally.errors.length < 20) tally.errors.push(`client ${k} request ${i}: ${e.code || ''} ${e.message}`);
          else tally.errors.push('...');
        }
      }
    };
    const clients = [];
    for (let k = 0; k < 8; k++) clients.push(client(k));
    await sleep(500);
    const storm = await reloadStorm(env);
    await sleep(Math.max(0, 4000 - 500 - 10 * 200));
    stop = true;
    await Promise.all(clients);

    assert.equal(storm.failed, 0, `a valid reload was refused:\n${storm.log}`);
    assert.equal(storm.ok, 10, `reloads completed: ${storm.ok} of 10:\n${storm.log}`);
    assert.deepEqual(tally.errors, [], `connection errors under reload (${tally.ok} ok)`);
    assert.deepEqual(tally.bad, {}, `non-200 responses under reload (${tally.ok} ok)`);
    assert.ok(tally.ok >= 100, `only ${tally.ok} requests in ~4 s: the load proves little`);
    assert.ok(tally.upstreams.one > 0 && tally.upstreams.two > 0, `both configs served requests: ${JSON.stringify(tally.upstreams)}`);
    assert.ok(!env.gw.exited(), `gateway exited: ${env.gw.stderr().slice(-2000)}`);
    assert.equal(await getStatus(env.adminPort, '/readyz'), 200, '/readyz after the reloads');
    await expectStatus(env, '/api/v4/echo', t, 200, 'after the storm');
  } finally {
    for (const a of agents) a.destroy();
    await stopEnv(env);
  }
});

// Resolves p's value, or null after ms (the timer is cleared either way).
function withTimeout(p, ms) {
  let timer;
  return Promise.race([p, new Promise((r) => { timer = setTimeout(() => r(null), ms); })]).finally(() => clearTimeout(timer));
}

const WRK = (() => {
  const r = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
})();

test('reload under wrk load (wrk -t1 -c16 -d4s) with 10 SIGHUPs: zero failed requests', { ...T, skip: WRK ? false : 'wrk not installed' }, async (ctx) => {
  const env = await loadEnv();
  const t = token(K1, 'alpha');
  let wrk = null;
  try {
    // Counts every status other than 200 (wrk's own summary only counts >= 400).
    const lua = env.file('count.lua');
    fs.writeFileSync(lua, [
      '-- response() runs in the thread\'s own Lua state: done() reads it back.',
      'local threads = {}',
      'function setup(thread) table.insert(threads, thread) end',
      'function init(args) total = 0; non200 = 0 end',
      'function response(status, headers, body)',
      '  total = total + 1',
      '  if status ~= 200 then non200 = non200 + 1 end',
      'end',
      'function done(summary, latency, requests)',
      '  local t, n = 0, 0',
      '  for _, th in ipairs(threads) do t = t + th:get("total"); n = n + th:get("non200") end',
      '  io.write(string.format("LUA total=%d non200=%d\\n", t, n))',
      'end',
      '',
    ].join('\n'));
    wrk = spawn(WRK, ['-t1', '-c16', '-d4s', '--timeout', `${5 * SCALE}s`, '-H', `Authorization: Bearer ${t}`, '-s', lua,
      `http://${HOST}:${env.port}/api/v4/echo`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    wrk.stdout.on('data', (d) => { out += d; });
    wrk.stderr.on('data', (d) => { out += d; });
    const exited = new Promise((r) => wrk.once('exit', (code, signal) => r({ code, signal })));
    await sleep(500);
    const storm = await reloadStorm(env);
    const ex = await withTimeout(exited, 20000 * SCALE);
    assert.ok(ex, `wrk did not finish:\n${out}`);
    assert.equal(ex.code, 0, `wrk exit ${ex.code}:\n${out}`);

    const m = /LUA total=(\d+) non200=(\d+)/.exec(out);
    assert.ok(m, `no counts from the wrk script:\n${out}`);
    const reqs = /(\d+) requests in/.exec(out);
    assert.equal(storm.failed, 0, `a valid reload was refused:\n${storm.log}`);
    assert.equal(storm.ok, 10, `reloads completed: ${storm.ok} of 10:\n${storm.log}`);
    assert.ok(!/Socket errors/.test(out), `wrk saw socket errors:\n${out}`);
    assert.equal(Number(m[2]), 0, `non-200 responses under reload:\n${out}`);
    assert.ok(!/Non-2xx or 3xx responses/.test(out), `wrk counted error responses:\n${out}`);
    assert.ok(Number(m[1]) >= 100 && reqs && Number(reqs[1]) >= 100, `too few requests:\n${out}`);
    assert.ok(!env.gw.exited(), `gateway exited: ${env.gw.stderr().slice(-2000)}`);
    assert.equal(await getStatus(env.adminPort, '/readyz'), 200, '/readyz after the reloads');
    ctx.diagnostic(`wrk under 10 reloads: ${m[1]} responses, ${m[2]} not 200`);
  } finally {
    if (wrk) await stopChild(wrk, { signal: 'SIGKILL', timeoutMs: 2000 });
    await stopEnv(env);
  }
});

// ---- resources ----

function procStatus(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => { const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s); return m ? Number(m[1]) : NaN; };
  return { rssKb: kb('VmRSS'), threads: Number((/^Threads:\s+(\d+)/m.exec(s) || [])[1]) };
}
function fdCount(pid) { try { return fs.readdirSync(`/proc/${pid}/fd`).length; } catch (e) { return NaN; } }

test('50 reloads do not grow the process: RSS growth < 20 MB, no descriptor or thread leak', T, async (ctx) => {
  // Under AddressSanitizer freed memory sits in a quarantine (256 MB by
  // default) instead of being reused, so RSS would measure ASan, not the
  // gateway: keep the quarantine small for this gateway only (leak
  // detection and report files stay as configured).
  const savedAsan = process.env.ASAN_OPTIONS;
  process.env.ASAN_OPTIONS = `${savedAsan ? `${savedAsan}:` : ''}quarantine_size_mb=1`;
  let env;
  try { env = await loadEnv(); } finally {
    if (savedAsan === undefined) delete process.env.ASAN_OPTIONS; else process.env.ASAN_OPTIONS = savedAsan;
  }
  const t = token(K1, 'alpha');
  const pid = env.gw.child.pid;
  try {
    const cycle = async (i) => {
      if (i % 2 === 0) env.cfgB(); else env.cfgA();
      await hupOk(env);
      // A request on each snapshot, so every worker takes it up and drops the old one.
      const r = await request(env.gw.port, { path: `/api/v4/echo?r=${i}`, headers: bearer(t) });
      assert.equal(r.status, 200, `request after reload ${i}`);
    };
    for (let i = 0; i < 6; i++) await cycle(i); // warm-up: pools, caches, arenas
    await sleep(1500); // the reaper frees retired snapshots every second
    const before = procStatus(pid);
    const fdBefore = fdCount(pid);
    for (let i = 0; i < 50; i++) await cycle(i);
    await sleep(1500);
    const afterS = procStatus(pid);
    const fdAfter = fdCount(pid);
    const growMb = (afterS.rssKb - before.rssKb) / 1024;
    ctx.diagnostic(`RSS ${before.rssKb} kB -> ${afterS.rssKb} kB after 50 reloads (${growMb.toFixed(1)} MB); fds ${fdBefore} -> ${fdAfter}; threads ${before.threads} -> ${afterS.threads}`);
    assert.ok(Number.isFinite(growMb), 'cannot read VmRSS');
    assert.ok(growMb < 20, `RSS grew ${growMb.toFixed(1)} MB over 50 reloads (${before.rssKb} -> ${afterS.rssKb} kB)`);
    assert.ok(fdAfter <= fdBefore + 4, `file descriptors ${fdBefore} -> ${fdAfter} over 50 reloads`);
    assert.ok(afterS.threads <= before.threads, `threads ${before.threads} -> ${afterS.threads} over 50 reloads`);
    assert.equal(await getStatus(env.adminPort, '/readyz'), 200);
  } finally { await stopEnv(env); }
});

test('a gateway stopped after reloads exits 0 (SIGTERM)', T, async () => {
  const env = await baseEnv();
  try {
    env.write('a.ini', POLICY_B);
    await hupOk(env);
    env.write('a.ini', POLICY_A);
    await hupOk(env);
  } finally {
    const r = await stopEnv(env);
    assert.deepEqual(r, { code: 0, signal: null }, `exit after reloads: ${JSON.stringify(r)}`);
  }
});
