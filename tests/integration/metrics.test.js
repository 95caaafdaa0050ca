'use strict';
// /metrics on the admin listener: Prometheus text whose values move as
// requests are made (scrape, act, scrape, compare), for requests, auth
// decisions, the token cache, upstream durations and errors, JWKS key
// sets and reloads.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SCALE, sleep, request } = require('./lib/wire');
const { startUpstream, startGateway, tmpDir, freePort } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');
const { scrape, value } = require('./lib/metrics');

const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
const T = { timeout: 30000 * SCALE };
let api; let gw; let key; let dir; let closedPort;

before(async () => {
  api = await startUpstream({ name: 'api' });
  closedPort = await freePort();
  dir = tmpDir();
  key = makeKey('rsa', 'k1');
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(key)));
  fs.writeFileSync(path.join(dir, 'policy.ini'),
    '[GET /api/v4/profiles]\nscopes = profiles:read\n[POST /api/v4/auth]\nauth = none\n' +
    '[* /down/**]\nauth = none\n');
  gw = await startGateway({
    policyFile: path.join(dir, 'policy.ini'),
    upstreams: [
      { name: 'api', prefix: '/api/v4', url: api.url },
      { name: 'down', prefix: '/down', url: `http://127.0.0.1:${closedPort}` },
    ],
    extra: `[resource]\nidentifier = ${AUD}\n[issuer:login]\niss = ${ISS}\njwks_file = ${path.join(dir, 'jwks.json')}\n`,
  });
});
after(async () => {
  if (gw) await gw.stop();
  if (api) await api.stop();
});

test('/metrics answers Prometheus text with build info, HELP and TYPE lines', T, async () => {
  const m = await scrape(gw.adminPort);
  assert.equal(m.status, 200);
  assert.match(m.type, /^text\/plain; version=0\.0\.4/);
  assert.match(m.body, /^# HELP gateway_requests_total /m);
  assert.match(m.body, /^# TYPE gateway_upstream_request_duration_seconds histogram$/m);
  assert.equal(value(m.body, 'gateway_build_info{version="0.1.0"}'), 1);
  assert.equal(value(m.body, 'gateway_jwks_keys{issuer="login"}'), 1, 'one key loaded from the jwks_file');
});

test('requests, auth decisions and the token cache move as requests are made', T, async () => {
  const before1 = (await scrape(gw.adminPort)).body;
  const good = sign({ key, claims: claims({ iss: ISS, aud: AUD, scope: 'profiles:read' }) });
  const noScope = sign({ key, claims: claims({ iss: ISS, aud: AUD, scope: 'other' }) });
  const bad = `${good.slice(0, -4)}AAAA`;
  for (let i = 0; i < 3; i++) {
    const r = await request(gw.port, { path: '/api/v4/profiles', headers: { authorization: `Bearer ${good}` } });
    assert.equal(r.status, 200);
  }
  assert.equal((await request(gw.port, { path: '/api/v4/profiles' })).status, 401);
  assert.equal((await request(gw.port, { path: '/api/v4/profiles', headers: { authorization: `Bearer ${bad}` } })).status, 401);
  assert.equal((await request(gw.port, { path: '/api/v4/profiles', headers: { authorization: `Bearer ${noScope}` } })).status, 403);
  const after1 = (await scrape(gw.adminPort)).body;
  const d = (s) => value(after1, s) - value(before1, s);
  assert.equal(d('gateway_requests_total{upstream="api",route="GET /api/v4/profiles",status_class="2xx"}'), 3);
  assert.equal(d('gateway_requests_total{upstream="api",route="GET /api/v4/profiles",status_class="4xx"}'), 3);
  assert.equal(d('gateway_auth_decisions_total{outcome="allow",reason="none"}'), 3);
  assert.equal(d('gateway_auth_decisions_total{outcome="unauthorized",reason="missing_token"}'), 1);
  assert.equal(d('gateway_auth_decisions_total{outcome="invalid_token",reason="bad_signature"}'), 1);
  assert.equal(d('gateway_auth_decisions_total{outcome="insufficient_scope",reason="none"}'), 1);
  assert.equal(d('gateway_token_cache_hits_total'), 2, 'the same token twice more: cache hits');
  assert.ok(d('gateway_token_cache_misses_total') >= 3, 'first use of each token: misses');
  assert.equal(d('gateway_upstream_request_duration_seconds_count{upstream="api"}'), 3);
  assert.equal(d('gateway_token_cache_entries'), 2, 'the two valid tokens are cached, the forged one is not');
  assert.ok(value(after1, 'gateway_upstream_pool_idle{upstream="api"}') >= 1, 'a keep-alive upstream connection waits in the pool');
});

test('a bearer value that is not token68 is refused without counting as a token cache lookup', T, async () => {
  const before = (await scrape(gw.adminPort)).body;
  const r = await request(gw.port, { path: '/api/v4/profiles', headers: { authorization: 'Bearer abc,def' } });
  assert.equal(r.status, 401);
  const after = (await scrape(gw.adminPort)).body;
  const d = (s) => value(after, s) - value(before, s);
  assert.equal(d('gateway_token_cache_hits_total'), 0);
  assert.equal(d('gateway_token_cache_misses_total'), 0);
});

test('an unreachable upstream counts a connect error', T, async () => {
  const before1 = (await scrape(gw.adminPort)).body;
  const r = await request(gw.port, { path: '/down/x' });
  assert.equal(r.status, 502);
  const after1 = (await scrape(gw.adminPort)).body;
  assert.equal(value(after1, 'gateway_upstream_connect_errors_total{upstream="down"}') -
               value(before1, 'gateway_upstream_connect_errors_total{upstream="down"}'), 1);
  assert.equal(value(after1, 'gateway_requests_total{upstream="down",route="* /down/**",status_class="5xx"}') -
               value(before1, 'gateway_requests_total{upstream="down",route="* /down/**",status_class="5xx"}'), 1);
});

test('reloads are counted by result, and a reload keeps the counters', T, async () => {
  const before1 = (await scrape(gw.adminPort)).body;
  const cfg = gw.configPath;
  const text = fs.readFileSync(cfg, 'utf8');
  gw.child.kill('SIGHUP');
  let after1 = '';
  for (let i = 0; i < 50 * SCALE; i++) {
    await sleep(100);
    after1 = (await scrape(gw.adminPort)).body;
    if (value(after1, 'gateway_reloads_total{result="ok"}') > value(before1, 'gateway_reloads_total{result="ok"}')) break;
  }
  assert.equal(value(after1, 'gateway_reloads_total{result="ok"}') - value(before1, 'gateway_reloads_total{result="ok"}'), 1);
  const series = 'gateway_requests_total{upstream="api",route="GET /api/v4/profiles",status_class="2xx"}';
  assert.ok(value(after1, series) >= value(before1, series) && value(before1, series) >= 3, 'counters survive a reload');
  fs.writeFileSync(cfg, `${text}\n[server]\nbogus = 1\n`);
  gw.child.kill('SIGHUP');
  let after2 = '';
  for (let i = 0; i < 50 * SCALE; i++) {
    await sleep(100);
    after2 = (await scrape(gw.adminPort)).body;
    if (value(after2, 'gateway_reloads_total{result="failed"}') > value(after1, 'gateway_reloads_total{result="failed"}')) break;
  }
  fs.writeFileSync(cfg, text);
  assert.equal(value(after2, 'gateway_reloads_total{result="failed"}') - value(after1, 'gateway_reloads_total{result="failed"}'), 1);
});
