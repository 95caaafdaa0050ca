'use strict';
// Rate limits on routes (SPEC "Revocation, rate limits and several
// instances"): `rate`, `burst`, `rate_key` in a route section; over it a
// 429 with Retry-After and the IETF httpapi RateLimit-Policy / RateLimit
// headers; one bucket per key (sub by default, client_id, or the caller's
// address on a public route), counted exactly across the workers of one
// instance. The rates are per minute or hour so that no refill happens
// while a test runs, whatever the machine's speed.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SCALE, request } = require('./lib/wire');
const { startUpstream, startGateway, tmpDir } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');

const T = { timeout: 30000 * SCALE };
const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
const K = makeKey('rsa', 'rsa-1');

const POLICY = [
  '[GET /api/v4/limited]', 'scopes = profiles:read', 'rate = 2/m', '',
  '[GET /api/v4/burst]', 'scopes = profiles:read', 'rate = 1/h', 'burst = 3', '',
  '[GET /api/v4/byclient]', 'auth = token', 'rate = 1/h', 'rate_key = client_id', '',
  '[GET /api/v4/open]', 'auth = none', 'rate = 1/h', 'rate_key = address', '',
  '[GET /api/v4/free]', 'scopes = profiles:read', '',
].join('\n');

let api;
let gw;

before(async () => {
  api = await startUpstream();
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(K)));
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  gw = await startGateway({
    dir,
    server: { workers: 2 },
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    policyFile: path.join(dir, 'policy.ini'),
    extra: ['[resource]', `identifier = ${AUD}`, `authorization_servers = ${ISS}`, '',
      '[issuer:login]', `iss = ${ISS}`, `jwks_file = ${path.join(dir, 'jwks.json')}`, 'algorithms = RS256', ''].join('\n'),
  });
});
after(async () => {
  if (gw) await gw.stop();
  if (api) await api.stop();
});

const tok = (over) => sign({ key: K, claims: claims(over) });
const get = (p, t) => request(gw.port, { path: p, headers: t ? { Authorization: `Bearer ${t}` } : {} });

function assert429(r, q, w) {
  assert.equal(r.status, 429, r.body.toString());
  const ra = Number(r.headers['retry-after']);
  assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= w, `Retry-After ${r.headers['retry-after']}`);
  assert.equal(r.headers['ratelimit-policy'], `"default";q=${q};w=${w}`);
  assert.equal(r.headers.ratelimit, `"default";r=0;t=${ra}`);
  assert.equal(r.headers['cache-control'], 'no-store');
  const body = JSON.parse(r.body.toString());
  assert.equal(body.error, 'rate_limited');
}

test('over the route rate: 429 with Retry-After, RateLimit-Policy and RateLimit', T, async () => {
  const t = tok({ sub: 'rl-a' });
  assert.equal((await get('/api/v4/limited', t)).status, 200);
  assert.equal((await get('/api/v4/limited', t)).status, 200);
  assert429(await get('/api/v4/limited', t), 2, 60);
  assert429(await get('/api/v4/limited', t), 2, 60);
  // Another subject has its own bucket; a route without rate is not limited.
  assert.equal((await get('/api/v4/limited', tok({ sub: 'rl-b' }))).status, 200);
  for (let i = 0; i < 4; i++) assert.equal((await get('/api/v4/free', t)).status, 200);
});

test('burst sets the bucket size, counted once across workers', T, async () => {
  const t = tok({ sub: 'rl-burst' });
  // In parallel: connections land on both workers; exactly 3 pass.
  const rs = await Promise.all([0, 1, 2, 3, 4, 5].map(() => get('/api/v4/burst', t)));
  const codes = rs.map((r) => r.status).sort();
  assert.deepEqual(codes, [200, 200, 200, 429, 429, 429]);
  for (const r of rs.filter((x) => x.status === 429)) assert429(r, 1, 3600);
});

test('rate_key = client_id: two subjects of one client share a bucket', T, async () => {
  assert.equal((await get('/api/v4/byclient', tok({ sub: 'u1', client_id: 'app-1' }))).status, 200);
  assert429(await get('/api/v4/byclient', tok({ sub: 'u2', client_id: 'app-1' })), 1, 3600);
  assert.equal((await get('/api/v4/byclient', tok({ sub: 'u2', client_id: 'app-2' }))).status, 200);
});

test('rate_key = address on a public route', T, async () => {
  assert.equal((await get('/api/v4/open')).status, 200);
  assert429(await get('/api/v4/open'), 1, 3600);
});
