'use strict';
// JWKS key sets (SPEC "Tokens", "JWKS and readiness", [issuer:NAME]; issue 3
// "Keys" and "Tests"): jwks_uri fetched at start-up with retries, 503 +
// Retry-After and /readyz 503 until an issuer has keys; key rotation through
// the unknown-kid refetch (one fetch per issuer per 30 s, shared by concurrent
// misses, across workers); periodic refresh; fetch failures (500, garbage,
// 10 MB, down) keep the last good keys; two issuers side by side; a bad
// jwks_file is a configuration error.
//
// Every test has its own JWKS server (lib/auth-jwks-server.js, in this
// process, counting fetches) and its own gateway, so that the per-issuer
// 30 s refetch limit of one test never affects another.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { HOST, SCALE, sleep, request } = require('./lib/wire');
const { startUpstream, startGateway, runGatewaySync, configText, freePort, freePorts, tmpDir, getStatus, stopChild } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');
const { JwksServer, startJwksServer } = require('./lib/auth-jwks-server');
const { bearer, expectInvalidToken, expectNoToken, expectUnavailable } = require('./lib/auth-assert');

const T = { timeout: 60000 * SCALE };
const ISS = 'https://login.example.test';
const ISS2 = 'https://m2m.example.test';
const AUD = 'https://api.example.test';
const META = `${AUD}/.well-known/oauth-protected-resource`;

const K1 = makeKey('rsa', 'k1');
const K2 = makeKey('p256', 'k2');
const K3 = makeKey('rsa', 'k3');

let seq = 0;
// A distinct token each call (jti), so no answer comes from the token cache.
function token(key, over = {}) {
  const alg = key.kind === 'rsa' ? 'RS256' : 'ES256';
  return sign({ alg, key, claims: claims({ iss: ISS, jti: `t-${process.pid}-${++seq}`, ...over }) });
}

let upstream;
const gateways = new Set();
const jwksServers = new Set();
after(async () => {
  for (const gw of gateways) await gw.stop('SIGKILL');
  for (const s of jwksServers) await s.stop();
  if (upstream) await upstream.stop();
});

async function up() {
  if (!upstream) upstream = await startUpstream({ name: 'api' });
  return upstream;
}

async function jwksServer(opts) {
  const s = await startJwksServer(opts);
  jwksServers.add(s);
  return s;
}

// issuers: [{name, iss, jwks_uri | jwks_file, ...other keys}]. No [policy]:
// every route under /api/v4 needs a valid token.
async function gateway({ issuers, server = {}, dir } = {}) {
  const u = await up();
  const lines = ['[resource]', `identifier = ${AUD}`, `authorization_servers = ${ISS}`, ''];
  for (const { name, ...kv } of issuers) {
    lines.push(`[issuer:${name}]`);
    for (const [k, v] of Object.entries(Object.assign({ algorithms: 'RS256 ES256', refresh_interval: '1h' }, kv))) {
      lines.push(`${k} = ${v}`);
    }
    lines.push('');
  }
  const gw = await startGateway({
    dir,
    server: Object.assign({ max_connections: 400 }, server),
    upstreams: [{ name: 'api', prefix: '/api/v4', url: u.url, response_timeout: '10s' }],
    policyFile: null,
    extra: lines.join('\n'),
  });
  gateways.add(gw);
  return gw;
}

// SIGTERM with a short drain wait (SIGKILL after it): a gateway whose worker
// hangs must not cost the full default wait.
async function stopGw(gw) {
  if (!gw) return;
  await stopChild(gw.child, { timeoutMs: 2000 * SCALE });
  gateways.delete(gw);
}

async function stopJwks(s) {
  if (!s) return;
  await s.stop();
  jwksServers.delete(s);
}

// Polls /readyz until it answers `want` (bounded); resolves the last status.
async function waitReadyz(gw, want = 200, timeoutMs = 15000 * SCALE) {
  const deadline = Date.now() + timeoutMs;
  let st = 0;
  for (let i = 0; i < 10000 && Date.now() < deadline; i++) {
    st = await getStatus(gw.adminPort, '/readyz', 2000 * SCALE);
    if (st === want) return st;
    await sleep(50);
  }
  return st;
}

async function readyGateway(opts) {
  const gw = await gateway(opts);
  const st = await waitReadyz(gw, 200);
  assert.equal(st, 200, `gateway did not turn ready; stderr:\n${gw.stderr().slice(-2000)}`);
  return gw;
}

// Every answer here is due within a few seconds (a kid-triggered fetch from
// loopback included); a bounded wait keeps a hung gateway from eating the
// file's time budget.
function get(gw, tok, p = '/api/v4/echo') {
  return request(gw.port, { path: p, headers: tok ? bearer(tok) : {}, timeoutMs: 5000 * SCALE });
}

function expectOk(res, what = '') {
  assert.equal(res.status, 200, `${what}: status ${res.status}; body: ${res.body.toString('utf8').slice(0, 300)}`);
  assert.equal(res.headers['x-upstream-name'], 'api', `${what}: answered by the upstream`);
}

const KID_DESC = /key|kid/i;

// ---- start-up ----

test('jwks_uri start-up with the JWKS server down: 503 + Retry-After and /readyz 503, then ready and 200 once it is up, without restart', T, async () => {
  const port = await freePort();
  const js = new JwksServer({ doc: jwks(K1) });
  jwksServers.add(js);
  const dir = tmpDir();
  const KL = makeKey('p256', 'local-1');
  fs.writeFileSync(path.join(dir, 'local.json'), JSON.stringify(jwks(KL)));
  const gw = await gateway({
    dir,
    issuers: [
      { name: 'login', iss: ISS, jwks_uri: `http://${HOST}:${port}/jwks.json` },
      { name: 'local', iss: ISS2, jwks_file: path.join(dir, 'local.json') },
    ],
  });
  try {
    assert.equal(await getStatus(gw.adminPort, '/readyz'), 503, '/readyz while an issuer has no keys');
    expectUnavailable(await get(gw, token(K1)), 'token of the issuer without keys');
    expectUnavailable(await get(gw, token(K1, { exp: Math.floor(Date.now() / 1000) + 60 })), 'a second one');
    // Only requests whose token names that issuer wait for its keys.
    expectNoToken(await get(gw, null), META, 'no token');
    expectOk(await get(gw, sign({ alg: 'ES256', key: KL, claims: claims({ iss: ISS2 }) })), 'token of the issuer with a jwks_file');
    const bad = token(K1, { iss: 'https://evil.example.test' });
    expectInvalidToken(await get(gw, bad), { desc: /iss/i, meta: META, token: bad }, 'unknown issuer');
    assert.equal(await getStatus(gw.adminPort, '/readyz'), 503, '/readyz still 503');

    await sleep(1500);
    await js.up(port);
    const upAt = Date.now();
    const st = await waitReadyz(gw, 200, 20000 * SCALE);
    assert.equal(st, 200, `/readyz did not turn 200 after the JWKS server came up; stderr:\n${gw.stderr().slice(-2000)}`);
    const took = Date.now() - upAt;
    assert.ok(took < 10000 * SCALE, `ready ${took} ms after the JWKS server came up (retry backoff from 1 s)`);
    assert.ok(js.fetches >= 1, 'the JWKS server was fetched');
    expectOk(await get(gw, token(K1)), 'after the keys arrived');
    assert.ok(!gw.exited(), 'same process');
  } finally {
    await stopGw(gw);
    await stopJwks(js);
  }
});

// ---- rotation ----

test('key rotation: a token with a new kid is accepted after the JWKS server switches sets, without restart (one refetch)', T, async () => {
  const js = await jwksServer({ doc: jwks(K1) });
  const gw = await readyGateway({ issuers: [{ name: 'login', iss: ISS, jwks_uri: js.url }] });
  try {
    const old = token(K1);
    expectOk(await get(gw, old), 'old key');
    assert.equal(js.fetches, 1, 'one start-up fetch');
    const pid = gw.child.pid;
    js.setKeys(jwks(K2)); // the new set: K1 retired
    expectOk(await get(gw, token(K2)), 'new kid after the switch');
    assert.equal(js.fetches, 2, 'the unknown kid caused exactly one refetch');
    expectOk(await get(gw, token(K2)), 'new kid again');
    assert.equal(js.fetches, 2, 'a known kid causes no fetch');
    // K1 is gone from the set: its token (verified and cached before) is refused now.
    expectInvalidToken(await get(gw, old), { desc: KID_DESC, meta: META, token: old }, 'retired key, cached token');
    assert.equal(gw.child.pid, pid);
    assert.ok(!gw.exited());
  } finally {
    await stopGw(gw);
    await stopJwks(js);
  }
});

async function concurrentUnknownKid({ newSet, key, expect }) {
  const js = await jwksServer({ doc: jwks(K1) });
  const gw = await readyGateway({ issuers: [{ name: 'login', iss: ISS, jwks_uri: js.url }], server: { workers: 4 } });
  try {
    assert.equal(js.fetches, 1, 'one start-up fetch');
    js.setKeys(newSet);
    js.setMode('slow', { delayMs: 800 });
    const toks = Array.from({ length: 100 }, () => token(key));
    const t0 = Date.now();
    const at = [];
    const results = await Promise.allSettled(toks.map((t, i) => get(gw, t).then((r) => { at[i] = Date.now() - t0; return r; })));
    const ms = Date.now() - t0;
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
    assert.deepEqual(failed, [], 'every request was answered');
    const statuses = {};
    for (const r of results) statuses[r.value.status] = (statuses[r.value.status] || 0) + 1;
    // For a failure message: the odd answers, when they came, and when the
    // JWKS server was asked (ms since the requests started).
    const odd = results.map((r, i) => ({ i, st: r.value.status, ms: at[i], d: r.value.body.toString('utf8').slice(0, 120) }))
      .filter((x) => x.st !== expect).slice(0, 5);
    const why = `statuses ${JSON.stringify(statuses)}; fetches at ${JSON.stringify(js.log.map((l) => l.t - t0))} ms; first odd answers: ${JSON.stringify(odd)}`;
    if (expect === 200) {
      assert.deepEqual(statuses, { 200: 100 }, why);
    } else {
      assert.deepEqual(statuses, { 401: 100 }, why);
      for (const [i, r] of results.entries()) expectInvalidToken(r.value, { desc: KID_DESC, meta: META, token: toks[i] }, `request ${i}`);
    }
    await sleep(500);
    assert.equal(js.fetches, 2, `100 concurrent unknown-kid requests caused ${js.fetches - 1} fetches`);
    assert.ok(ms < 15000 * SCALE, `answers took ${ms} ms`);
  } finally {
    await stopGw(gw);
    await stopJwks(js);
  }
}

test('100 concurrent requests with an unknown kid (4 workers, slow JWKS): exactly one fetch, all 200 when the new set has the key', T, () =>
  concurrentUnknownKid({ newSet: jwks(K1, K2), key: K2, expect: 200 }));

test('100 concurrent requests with an unknown kid the new set lacks: exactly one fetch, all answered 401 invalid_token', T, () =>
  concurrentUnknownKid({ newSet: jwks(K1), key: K3, expect: 401 }));

test('refetch rate limit: a second unknown kid within 30 s causes no fetch and gets 401 quickly', T, async () => {
  const js = await jwksServer({ doc: jwks(K1) });
  const gw = await readyGateway({ issuers: [{ name: 'login', iss: ISS, jwks_uri: js.url }] });
  try {
    const t1 = token(K3);
    expectInvalidToken(await get(gw, t1), { desc: KID_DESC, meta: META, token: t1 }, 'first unknown kid');
    assert.equal(js.fetches, 2, 'the first unknown kid refetched');
    js.setKeys(jwks(K1, K2)); // would make K2 valid, but no refetch is allowed yet
    const t2 = token(K2);
    const t0 = Date.now();
    expectInvalidToken(await get(gw, t2), { desc: KID_DESC, meta: META, token: t2 }, 'second unknown kid');
    const ms = Date.now() - t0;
    assert.ok(ms < 1500 * SCALE, `second unknown kid answered after ${ms} ms`);
    for (let i = 0; i < 5; i++) {
      const t = token(K2);
      expectInvalidToken(await get(gw, t), { desc: KID_DESC, meta: META, token: t }, `unknown kid #${i + 3}`);
    }
    await sleep(300);
    assert.equal(js.fetches, 2, 'no fetch within 30 s of the last kid-triggered one');
    expectOk(await get(gw, token(K1)), 'known key still fine');
  } finally {
    await stopGw(gw);
    await stopJwks(js);
  }
});

// ---- refresh ----

test('periodic refresh (refresh_interval 3s) picks up a rotated set without an unknown kid; the retired key\'s cached token is then refused', T, async () => {
  const js = await jwksServer({ doc: jwks(K1) });
  const gw = await readyGateway({ issuers: [{ name: 'login', iss: ISS, jwks_uri: js.url, refresh_interval: '3s' }] });
  try {
    const old = token(K1);
    expectOk(await get(gw, old), 'old key');
    js.setKeys(jwks(K2));
    const n = await js.waitFetches(2, 10000 * SCALE);
    assert.ok(n >= 2, `no periodic refetch within 10 s (fetches ${n})`);
    await sleep(300);
    const before = js.fetches;
    expectOk(await get(gw, token(K2)), 'new key after the periodic refresh');
    assert.equal(js.fetches, before, 'the new kid was known without a kid-triggered fetch');
    expectInvalidToken(await get(gw, old), { desc: KID_DESC, meta: META, token: old }, 'retired key');
  } finally {
    await stopGw(gw);
    await stopJwks(js);
  }
});

test('Cache-Control max-age=1 on the JWKS does not make the gateway refetch faster than every 30 s', T, async () => {
  const js = await jwksServer({ doc: jwks(K1), maxAge: 1 });
  const gw = await readyGateway({ issuers: [{ name: 'login', iss: ISS, jwks_uri: js.url, refresh_interval: '1h' }] });
  try {
    await sleep(3500);
    assert.equal(js.fetches, 1, `fetches within 3.5 s of start-up: ${js.fetches}`);
    expectOk(await get(gw, token(K1)));
  } finally {
    await stopGw(gw);
    await stopJwks(js);
  }
});

// ---- fetch failures ----

async function failureKeepsKeys(mode) {
  const js = await jwksServer({ doc: jwks(K1) });
  const gw = await readyGateway({ issuers: [{ name: 'login', iss: ISS, jwks_uri: js.url }] });
  try {
    const cached = token(K1);
    expectOk(await get(gw, cached), 'before the failure');
    const errBefore = gw.stderr().length;
    js.setKeys(jwks(K1, K2)); // were it readable, K2 would become valid
    if (mode === 'down') await js.down(); else js.setMode(mode);
    const t2 = token(K2);
    const t0 = Date.now();
    expectInvalidToken(await get(gw, t2), { desc: KID_DESC, meta: META, token: t2 }, `unknown kid, JWKS ${mode}`);
    const ms = Date.now() - t0;
    assert.ok(ms < 12000 * SCALE, `unknown kid with the JWKS ${mode} answered after ${ms} ms`);
    if (mode !== 'down') assert.equal(js.fetches, 2, `the unknown kid fetched the JWKS (${mode})`);
    expectOk(await get(gw, token(K1)), `a new token of the old key after the failed fetch (${mode})`);
    expectOk(await get(gw, cached), `the old token after the failed fetch (${mode})`);
    assert.equal(await getStatus(gw.adminPort, '/readyz'), 200, '/readyz stays 200 after a failed fetch');
    const log = gw.stderr().slice(errBefore);
    assert.match(log, /jwks|key set|keys/i, `the failed fetch is logged; stderr since: ${log.slice(0, 500)}`);
    assert.ok(!gw.exited());
  } finally {
    await stopGw(gw);
    await stopJwks(js);
  }
}

test('JWKS server answering 500: the old keys keep working', T, () => failureKeepsKeys('500'));
test('JWKS server answering garbage: the old keys keep working', T, () => failureKeepsKeys('garbage'));
test('JWKS server answering a 10 MB body: the old keys keep working', T, () => failureKeepsKeys('huge'));
test('JWKS server down (connection refused): the old keys keep working', T, () => failureKeepsKeys('down'));

// ---- two issuers ----

test('two issuers at once (jwks_file and jwks_uri, same kid name): each token is accepted only with its own issuer\'s keys', T, async () => {
  const KA = makeKey('rsa', 'shared');
  const KB = makeKey('rsa', 'shared');
  const KB2 = makeKey('rsa', 'b-only');
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify(jwks(KA)));
  const js = await jwksServer({ doc: jwks(KB, KB2) });
  const gw = await readyGateway({
    dir,
    issuers: [
      { name: 'a', iss: ISS, jwks_file: path.join(dir, 'a.json') },
      { name: 'b', iss: ISS2, jwks_uri: js.url },
    ],
  });
  try {
    const ta = (key, kid) => sign({ alg: 'RS256', key, header: kid ? { kid } : {}, claims: claims({ iss: ISS }) });
    const tb = (key, kid) => sign({ alg: 'RS256', key, header: kid ? { kid } : {}, claims: claims({ iss: ISS2 }) });
    expectOk(await get(gw, ta(KA)), 'issuer a with its key');
    expectOk(await get(gw, tb(KB)), 'issuer b with its key');
    expectOk(await get(gw, tb(KB2)), 'issuer b with its second key');
    let t = ta(KB);
    expectInvalidToken(await get(gw, t), { desc: /signature/i, meta: META, token: t }, 'iss a signed by b\'s "shared" key');
    t = tb(KA);
    expectInvalidToken(await get(gw, t), { desc: /signature/i, meta: META, token: t }, 'iss b signed by a\'s "shared" key');
    t = ta(KB2);
    expectInvalidToken(await get(gw, t), { desc: KID_DESC, meta: META, token: t }, 'iss a with a kid only b has');
    assert.equal(js.fetches, 1, 'a\'s unknown kid never fetches b\'s JWKS');
  } finally {
    await stopGw(gw);
    await stopJwks(js);
  }
});

// ---- bad jwks_file ----

test('bad jwks_file content: -t exits 1 naming the file; starting exits 1 too', T, async () => {
  const dir = tmpDir();
  const [port, adminPort] = await freePorts(2);
  const cases = {
    'notjson.json': 'this is not json',
    'keys-not-array.json': '{"keys":"nope"}',
    'array.json': '[{"kty":"RSA"}]',
    'truncated.json': JSON.stringify(jwks(K1)).slice(0, 100),
  };
  for (const [name, text] of Object.entries(cases)) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    const { text: ini } = configText({
      port, adminPort, upstreams: [{ name: 'api', prefix: '/api/v4', url: 'http://127.0.0.1:9' }],
      extra: ['[resource]', `identifier = ${AUD}`, '', '[issuer:login]', `iss = ${ISS}`, `jwks_file = ${file}`, ''].join('\n'),
    });
    const cfg = path.join(dir, `gw-${name}.ini`);
    fs.writeFileSync(cfg, ini);
    const r = runGatewaySync(['-t', '-c', cfg]);
    assert.equal(r.code, 1, `-t with ${name}: exit ${r.code}; stdout ${r.stdout}; stderr ${r.stderr}`);
    assert.ok(r.stderr.includes(file), `-t with ${name}: stderr does not name ${file}:\n${r.stderr}`);
    // FILE:LINE: message, FILE being the jwks file or the config naming it.
    const esc = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(r.stderr, new RegExp(`^\\S+:\\d+: .*${esc}|^${esc}:\\d+: `, 'm'), `FILE:LINE: message naming the file:\n${r.stderr}`);
    assert.doesNotMatch(r.stdout, /configuration ok/);
    const run = runGatewaySync(['-c', cfg], 15000 * SCALE);
    assert.equal(run.code, 1, `starting with ${name}: exit ${run.code} (signal ${run.signal}); stderr ${run.stderr.slice(-500)}`);
  }
  // The same config with a good file passes.
  const good = path.join(dir, 'good.json');
  fs.writeFileSync(good, JSON.stringify(jwks(K1, K2)));
  const { text: ini } = configText({
    port, adminPort, upstreams: [{ name: 'api', prefix: '/api/v4', url: 'http://127.0.0.1:9' }],
    extra: ['[resource]', `identifier = ${AUD}`, '', '[issuer:login]', `iss = ${ISS}`, `jwks_file = ${good}`, ''].join('\n'),
  });
  const cfg = path.join(dir, 'gw-good.ini');
  fs.writeFileSync(cfg, ini);
  const r = runGatewaySync(['-t', '-c', cfg]);
  assert.equal(r.code, 0, `-t with a good jwks_file: ${r.stderr}`);
  assert.match(r.stdout + r.stderr, /configuration ok/);
});
