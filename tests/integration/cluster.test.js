'use strict';
// Several instances sharing state through Redis (SPEC "Revocation, rate
// limits and several instances", `[cluster] redis`): a real redis-server
// (lib/redis.js) and two to four gateway processes.
//   - revocations made at any instance (admin POST and DELETE, SSF push)
//     are applied by every instance within 1 s, listed there with the same
//     id; a starting instance is not ready (/readyz 503 naming redis) until
//     it has loaded the current set, and refuses those tokens once ready;
//   - route rate limits and the M2M lockout are counted once across the
//     instances (a second address is not locked out);
//   - Redis killed: instances stay ready, keep enforcing what they have,
//     limit and lock out locally, show it in /metrics; a revocation made
//     meanwhile reaches the others once Redis is back ("catch up");
//   - AUTH with redis_password_file (a wrong password: unready, a log line
//     naming AUTH, never the password); a bad `redis` URL fails `-t`.
// Timing: "within 1 s" is the SPEC's bound, polled every 50 ms up to
// 1 s x SCALE; everything else waits for an observable state with a
// generous bound.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { SCALE, sleep, request } = require('./lib/wire');
const { startUpstream, startGateway, tmpDir, freePort, freePorts, configText, runGatewaySync } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');
const { scrape, value } = require('./lib/metrics');
const { SIGNING_KEY, CLIENTS_FILE, TOKEN_PATH, CLIENTS } = require('./lib/m2m-kit');
const { startRedis } = require('./lib/redis');

const T = { timeout: 60000 * SCALE };
const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
const ADMIN_TOKEN = 'adm-' + 'c'.repeat(40);
const KR = makeKey('rsa', 'rsa-1');
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const MAX_FAILURES = 3;
const SPEC_APPLY_MS = 1000; // "every instance applies a revocation ... within 1 s"
const now = () => Math.floor(Date.now() / 1000);

const POLICY = [
  '[GET /api/v4/profiles]', 'scopes = profiles:read', '',
  '[GET /api/v4/limited]', 'scopes = profiles:read', 'rate = 10/m', '',
  '[GET /api/v4/few]', 'scopes = profiles:read', 'rate = 3/m', '',
].join('\n');

let api;
let redis;
const gws = []; // every gateway started here, stopped in after()

// ---- gateways ----

// [cluster] lines: redis URL (default: the shared server), optional password file.
function clusterLines({ url, passwordFile, timeout } = {}) {
  return ['[cluster]', `redis = ${url || `redis://127.0.0.1:${redis.port}/0`}`,
    ...(passwordFile ? [`redis_password_file = ${passwordFile}`] : []),
    ...(timeout ? [`redis_timeout = ${timeout}`] : []), ''];
}

// The sections every instance shares (identity, revocation, M2M), plus cluster lines.
function sections(dir, port, cluster) {
  return [
    '[resource]', `identifier = ${AUD}`, `authorization_servers = ${ISS}`, '',
    '[issuer:login]', `iss = ${ISS}`, `jwks_file = ${path.join(dir, 'jwks.json')}`, 'algorithms = RS256', '',
    '[revocation]', `admin_token_file = ${path.join(dir, 'admin.token')}`, 'ssf_issuer = login', 'ssf_path = /ssf/push', '',
    '[m2m]', 'enable = yes', `issuer = http://127.0.0.1:${port}`, `signing_key = ${SIGNING_KEY}`,
    `clients = ${CLIENTS_FILE}`, 'lifetime = 1h', `max_failures = ${MAX_FAILURES}`, 'lockout = 60s', '',
    ...(cluster ? clusterLines(cluster) : []),
  ].join('\n');
}

function writeFiles(dir) {
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(KR)));
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  fs.writeFileSync(path.join(dir, 'admin.token'), ADMIN_TOKEN + '\n');
}

function gatewayCfg(cluster = {}) {
  return async () => {
    const dir = tmpDir();
    writeFiles(dir);
    const [port, adminPort] = await freePorts(2);
    return {
      dir, port, adminPort,
      // The M2M tests speak for two client addresses through X-Forwarded-For.
      server: { trusted_proxies: '127.0.0.1/32' },
      upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
      policyFile: path.join(dir, 'policy.ini'),
      extra: sections(dir, port, cluster),
    };
  };
}

async function gateway(cluster) {
  const g = await startGateway(await gatewayCfg(cluster)());
  gws.push(g);
  return g;
}

async function stopGateway(g) {
  const i = gws.indexOf(g);
  if (i >= 0) gws.splice(i, 1);
  await g.stop();
}

// ---- waiting ----

// Polls fn every stepMs until it returns truthy or ms have passed; resolves
// the last value (callers assert on it, with what they saw).
async function poll(fn, ms, stepMs = 50) {
  const deadline = Date.now() + ms;
  let v;
  for (let i = 0; i < 100000; i++) {
    v = await fn();
    if (v || Date.now() >= deadline) return v;
    await sleep(stepMs);
  }
  return v;
}

async function readyz(g) {
  const r = await request(g.adminPort, { path: '/readyz', timeoutMs: 3000 * SCALE }).catch(() => null);
  return r ? { status: r.status, text: r.text() } : { status: 0, text: '' };
}

async function waitReady(g, ms = 15000 * SCALE) {
  const r = await poll(async () => { const x = await readyz(g); return x.status === 200 ? x : null; }, ms, 100);
  assert.ok(r, `/readyz of the gateway on ${g.port} not 200 within ${ms} ms: ${JSON.stringify(await readyz(g))}\n${g.stderr().slice(-2000)}`);
}

async function metric(g, series) { return value((await scrape(g.adminPort)).body, series); }

async function waitMetric(g, series, want, ms = 15000 * SCALE) {
  const got = await poll(async () => ((await metric(g, series)) === want ? true : null), ms, 100);
  assert.ok(got, `${series} at the gateway on ${g.port} is ${await metric(g, series)}, not ${want}, after ${ms} ms`);
}

// ---- requests ----

const token = (over = {}) => sign({ key: KR, claims: claims(over) });
const get = (g, tok, p = '/api/v4/profiles') => request(g.port, { path: p, headers: { Authorization: `Bearer ${tok}` } });
const brief = (r) => `${r.status} ${r.text().slice(0, 200)}`;
const isRevoked = (r) => r.status === 401 && /revoked/.test(r.text());

function admin(g, method, p, body) {
  const headers = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return request(g.adminPort, { method, path: p, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function revoke(g, body) {
  const r = await admin(g, 'POST', '/revocations', body);
  assert.equal(r.status, 201, r.text());
  return r.json();
}

async function listed(g) {
  const r = await admin(g, 'GET', '/revocations');
  assert.equal(r.status, 200, r.text());
  return r.json().revocations;
}

function assertRevoked(r, what) {
  assert.equal(r.status, 401, `${what}: ${brief(r)}`);
  assert.match(r.headers['www-authenticate'], /error="invalid_token"/, what);
  assert.equal(r.json().error_description, 'token has been revoked', what);
}

// Within the SPEC's 1 s (x SCALE) the gateway refuses tok as revoked
// (revoked = true) or lets it through again (false).
async function expectWithinSpec(g, tok, revoked, what) {
  const t0 = Date.now();
  const r = await poll(async () => {
    const x = await get(g, tok);
    return (revoked ? isRevoked(x) : x.status === 200) ? x : null;
  }, SPEC_APPLY_MS * SCALE);
  const last = r || await get(g, tok);
  if (revoked) assertRevoked(last, `${what} (after ${Date.now() - t0} ms)`);
  else assert.equal(last.status, 200, `${what} (after ${Date.now() - t0} ms): ${brief(last)}`);
}

function set(over) {
  const c = { iss: ISS, aud: AUD, iat: now(), jti: `set-${crypto.randomBytes(8).toString('hex')}`, ...over };
  c.events = { [SESSION_REVOKED]: { event_timestamp: now() } };
  return sign({ key: KR, header: { typ: 'secevent+jwt' }, claims: c });
}

// One client_credentials request at g for `addr` (X-Forwarded-For; the
// gateway trusts 127.0.0.1 as a proxy).
function m2mToken(g, addr, id, secret) {
  return request(g.port, {
    method: 'POST', path: TOKEN_PATH,
    headers: { 'Content-Type': 'application/json', 'X-Forwarded-For': addr },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: id, client_secret: secret }),
  });
}
const wrong = () => `wrong-${crypto.randomBytes(6).toString('hex')}`;

async function assertLocked(g, addr, what) {
  const r = await m2mToken(g, addr, CLIENTS.demo.id, CLIENTS.demo.secret);
  assert.equal(r.status, 429, `${what}: ${brief(r)}`);
  assert.equal(r.json().error, 'slow_down', what);
  assert.ok(Number(r.headers['retry-after']) >= 1, `${what}: Retry-After ${r.headers['retry-after']}`);
}

// Sends n requests for tok, the i-th to instances[i % k], one at a time;
// resolves the statuses.
async function spread(instances, tok, n, p) {
  const codes = [];
  for (let i = 0; i < n; i++) codes.push((await get(instances[i % instances.length], tok, p)).status);
  return codes;
}

before(async () => {
  api = await startUpstream();
  redis = await startRedis();
});
after(async () => {
  for (const g of gws.splice(0)) await g.stop();
  if (redis) await redis.stop();
  if (api) await api.stop();
});

// ---- configuration ----

test('-t: a bad redis URL (scheme, port, db, a password in it) or redis_timeout is an error naming its line; good ones pass', T, () => {
  const dir = tmpDir();
  writeFiles(dir);
  const file = path.join(dir, 'gateway.ini');
  const check = (lines) => {
    const { text } = configText({ port: 1, adminPort: 2, policyFile: path.join(dir, 'policy.ini'),
      upstreams: [{ name: 'api', prefix: '/api/v4', url: 'http://127.0.0.1:9' }],
      extra: sections(dir, 1, null) + ['[cluster]', ...lines, ''].join('\n') });
    fs.writeFileSync(file, text);
    const all = text.split('\n');
    return { r: runGatewaySync(['-t', '-c', file]), line: (k) => all.findIndex((l) => l.startsWith(`${k} =`)) + 1 };
  };
  const esc = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const [lines, key] of [
    [['redis = http://127.0.0.1:6379/0'], 'redis'],
    [['redis = redis://127.0.0.1:notaport/0'], 'redis'],
    [['redis = redis://127.0.0.1:70000/0'], 'redis'],
    [['redis = redis://127.0.0.1:6379/x'], 'redis'],
    [['redis = redis://'], 'redis'],
    [['redis = redis://:hunter2-in-url@127.0.0.1:6379/0'], 'redis'],
    [[`redis = redis://127.0.0.1:${redis.port}/0`, 'redis_timeout = soon'], 'redis_timeout'],
  ]) {
    const { r, line } = check(lines);
    const what = lines.join(' / ');
    // SPEC: exit codes 0 clean, 1 config error.
    assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stdout}${r.stderr}`);
    assert.match(r.stderr, new RegExp(`${esc(file)}:${line(key)}: `), `${what}: the error names line ${line(key)}:\n${r.stderr}`);
    assert.ok(!r.stderr.includes('hunter2'), `${what}: the error echoes the password:\n${r.stderr}`);
  }
  for (const lines of [
    [`redis = redis://127.0.0.1:${redis.port}/0`],
    [`redis = redis://127.0.0.1:${redis.port}`, 'redis_timeout = 200ms'],
    [`redis = redis://127.0.0.1:${redis.port}/3`, `redis_password_file = ${path.join(dir, 'admin.token')}`],
  ]) {
    const { r } = check(lines);
    assert.equal(r.code, 0, `${lines.join(' / ')}: exit ${r.code}\n${r.stdout}${r.stderr}`);
  }
});

// ---- revocations across instances ----

// The three instances most tests share (started by the first test that
// needs them, so that each test fails for its own reason).
let trio = [];
async function instances() {
  if (trio.length === 3 && trio.every((g) => !g.exited())) return trio;
  for (const g of trio) await stopGateway(g);
  trio = [];
  for (let i = 0; i < 3; i++) trio.push(await gateway());
  for (const g of trio) await waitReady(g);
  return trio;
}

test('three instances: a revocation (admin POST, SSF push) at one is enforced at the others within 1 s, listed there with its id; DELETE at one un-revokes everywhere', T, async () => {
  const [g1, g2, g3] = await instances();
  const iat = now() - 10;
  const t = token({ sub: 'c-alice', client_id: 'app-1', iat });
  const other = token({ sub: 'c-alice', client_id: 'app-2', iat });
  for (const g of [g1, g2, g3]) assert.equal((await get(g, t)).status, 200, 'before: allowed (and now cached)');

  const e = await revoke(g1, { sub: 'c-alice', client_id: 'app-1' });
  assertRevoked(await get(g1, t), 'at instance 1, at once');
  await expectWithinSpec(g2, t, true, 'instance 2 applies the revocation made at instance 1');
  await expectWithinSpec(g3, t, true, 'instance 3 applies the revocation made at instance 1');
  assert.equal((await get(g2, other)).status, 200, 'another app of the user is unaffected');
  for (const g of [g2, g3]) {
    const mine = (await listed(g)).find((x) => x.id === e.id);
    assert.ok(mine, `GET /revocations at ${g.port} lists ${e.id}`);
    assert.equal(mine.sub, 'c-alice');
    assert.equal(mine.client_id, 'app-1');
  }

  // An SSF push at instance 2 reaches 1 and 3.
  const ts = token({ sub: 'c-sam', iat });
  for (const g of [g1, g2, g3]) assert.equal((await get(g, ts)).status, 200);
  const p = await request(g2.port, { method: 'POST', path: '/ssf/push', headers: { 'Content-Type': 'application/secevent+jwt' },
    body: set({ sub_id: { format: 'iss_sub', iss: ISS, sub: 'c-sam' } }) });
  assert.equal(p.status, 202, brief(p));
  await expectWithinSpec(g1, ts, true, 'instance 1 applies the SSF push taken at instance 2');
  await expectWithinSpec(g3, ts, true, 'instance 3 applies the SSF push taken at instance 2');
  const ssf = (await listed(g2)).find((x) => x.sub === 'c-sam');
  assert.ok(ssf, 'the pushed revocation is listed at instance 2');
  assert.ok((await listed(g1)).some((x) => x.id === ssf.id), 'instance 1 lists the pushed revocation with the same id');

  // The gauge counts what each instance holds.
  for (const g of [g1, g2, g3]) {
    const n = (await listed(g)).length;
    assert.ok(n >= 2, `${n} entries listed at ${g.port}`);
    assert.equal(await metric(g, 'gateway_revocations'), n, `gateway_revocations at ${g.port}`);
  }

  // DELETE at instance 1, of its own entry and of the one pushed at instance 2.
  assert.equal((await admin(g1, 'DELETE', `/revocations/${e.id}`)).status, 204);
  await expectWithinSpec(g2, t, false, 'instance 2 un-revokes after DELETE at instance 1');
  await expectWithinSpec(g3, t, false, 'instance 3 un-revokes after DELETE at instance 1');
  assert.equal((await admin(g1, 'DELETE', `/revocations/${ssf.id}`)).status, 204, 'instance 1 deletes an entry pushed at instance 2');
  await expectWithinSpec(g2, ts, false, 'instance 2 un-revokes its SSF entry deleted at instance 1');
  assert.ok(!(await listed(g2)).some((x) => x.id === e.id || x.id === ssf.id), 'deleted entries are no longer listed at instance 2');

  const m = (await scrape(g1.adminPort)).body;
  for (const [name, type] of [['gateway_redis_up', 'gauge'], ['gateway_redis_connects_total', 'counter'],
    ['gateway_redis_command_duration_seconds', 'histogram'], ['gateway_redis_fallbacks_total', 'counter'], ['gateway_revocations', 'gauge']]) {
    assert.match(m, new RegExp(`^# TYPE ${name} ${type}$`, 'm'), `/metrics declares ${name} as a ${type}`);
  }
  assert.equal(value(m, 'gateway_redis_up'), 1);
  assert.ok(value(m, 'gateway_redis_connects_total') >= 1);
  assert.ok(value(m, 'gateway_redis_command_duration_seconds_count') > 0, 'Redis commands are timed');
});

test('a starting instance loads the current set before it is ready; with Redis unreachable it stays unready (503 naming redis) until Redis answers', T, async () => {
  const [g1] = await instances();
  const t = token({ sub: 'c-late', iat: now() - 10 });
  const e = await revoke(g1, { sub: 'c-late' });
  const g4 = await gateway();
  await waitReady(g4);
  // Made before g4 started: only the load at start-up can have brought it.
  assertRevoked(await get(g4, t), 'the first request after /readyz turned 200');
  assert.ok((await listed(g4)).some((x) => x.id === e.id), 'the new instance lists the entry with its id');
  await stopGateway(g4);

  // Nothing listens on this port yet.
  const port = await freePort();
  const g5 = await gateway({ url: `redis://127.0.0.1:${port}/0` });
  for (let i = 0; i < 8; i++) {
    const r = await readyz(g5);
    assert.equal(r.status, 503, `/readyz without Redis: ${r.status} ${r.text}`);
    assert.match(r.text, /redis/i, '/readyz says it waits for redis');
    await sleep(200);
  }
  assert.equal(await metric(g5, 'gateway_redis_up'), 0);
  const late = await startRedis({ port });
  try {
    await waitReady(g5); // reconnect backoff: at most ~2 s between attempts
    await waitMetric(g5, 'gateway_redis_up', 1);
  } finally {
    await stopGateway(g5);
    await late.stop();
  }
});

// ---- shared counters ----

test('a route rate (10/m) is counted once across two and three instances: 10 of 20 requests pass (+-1), the rest get 429', T, async () => {
  const [g1, g2, g3] = await instances();
  for (const [instances, sub] of [[[g1, g2], 'c-rate-2'], [[g1, g2, g3], 'c-rate-3']]) {
    const t = token({ sub });
    const codes = await spread(instances, t, 20, '/api/v4/limited');
    const ok = codes.filter((c) => c === 200).length;
    assert.ok(ok >= 9 && ok <= 11, `${instances.length} instances: ${ok} of 20 allowed (${codes.join(' ')})`);
    assert.equal(codes.filter((c) => c === 429).length, 20 - ok, `the others are 429: ${codes.join(' ')}`);
    // Every instance refuses once the shared bucket is empty.
    for (const g of instances) assert.equal((await get(g, t, '/api/v4/limited')).status, 429, `instance on ${g.port} refuses`);
  }
});

test('scripts go as EVALSHA, loaded once per connection: after SCRIPT FLUSH the next decision is local, then they are shared again', T, async () => {
  const [g1, g2] = await instances();
  const fb = (g) => metric(g, 'gateway_redis_fallbacks_total{what="rate_limit"}');
  // Both connections have used the bucket script (one worker each).
  for (const g of [g1, g2]) assert.equal((await get(g, token({ sub: `c-warm-${g.port}` }), '/api/v4/few')).status, 200);
  const before1 = await fb(g1), before2 = await fb(g2);
  await redis.cmd('SCRIPT', 'FLUSH');
  // The next call at each finds no script: the local table answers, and the
  // connection loads the script again.
  const t = token({ sub: 'c-flush' });
  for (const g of [g1, g2]) assert.equal((await get(g, t, '/api/v4/few')).status, 200, `after SCRIPT FLUSH at ${g.port}`);
  assert.equal(await fb(g1), before1 + 1, 'one local decision at instance 1');
  assert.equal(await fb(g2), before2 + 1, 'one local decision at instance 2');
  // Shared again: the Redis bucket of 3 was not touched by those two.
  const codes = [];
  for (const g of [g1, g2, g1, g2]) codes.push((await get(g, t, '/api/v4/few')).status);
  assert.deepEqual(codes, [200, 200, 200, 429], `shared again: ${codes.join(' ')}`);
  assert.equal(await fb(g1), before1 + 1, 'no more local decisions at instance 1');
  assert.equal(await fb(g2), before2 + 1, 'no more local decisions at instance 2');
});

test('M2M lockout is counted once across instances: max_failures wrong secrets spread over two lock that id at that address at both; another address is not locked', T, async () => {
  const [g1, g2] = await instances();
  const A = '203.0.113.10';
  const B = '203.0.113.11';
  for (let i = 0; i < MAX_FAILURES; i++) {
    const r = await m2mToken(i % 2 ? g2 : g1, A, CLIENTS.demo.id, wrong());
    assert.equal(r.status, 401, `wrong secret ${i + 1}: ${brief(r)}`);
  }
  await assertLocked(g2, A, 'the right secret from A at instance 2');
  await assertLocked(g1, A, 'the right secret from A at instance 1');
  for (const g of [g1, g2]) {
    const r = await m2mToken(g, B, CLIENTS.demo.id, CLIENTS.demo.secret);
    assert.equal(r.status, 200, `the right secret from B at ${g.port}: ${brief(r)}`);
  }
  const w = await m2mToken(g2, A, CLIENTS.writer.id, CLIENTS.writer.secret);
  assert.equal(w.status, 200, `another client id from A (the address is under its own limit): ${brief(w)}`);
});

// ---- Redis away and back ----

test('Redis killed: instances stay ready, keep enforcing, limit and lock out locally (gateway_redis_up 0, fallbacks counted); back: they catch up', T, async () => {
  const [g1, g2] = await instances();
  const iat = now() - 10;
  const t1 = token({ sub: 'c-kept', iat });
  const t2 = token({ sub: 'c-while-down', iat });
  for (const g of [g1, g2]) assert.equal((await get(g, t2)).status, 200);
  await revoke(g1, { sub: 'c-kept' });
  await expectWithinSpec(g2, t1, true, 'instance 2 applies it while Redis is up');
  const connects = await metric(g2, 'gateway_redis_connects_total');

  const x = await redis.kill();
  assert.equal(x.signal, 'SIGKILL');
  for (const g of [g1, g2]) await waitMetric(g, 'gateway_redis_up', 0);
  for (const g of [g1, g2]) {
    const r = await readyz(g);
    assert.equal(r.status, 200, `/readyz at ${g.port} with Redis gone: ${r.status} ${r.text}`);
    assertRevoked(await get(g, t1), `instance on ${g.port} keeps enforcing what it had`);
  }

  // Rate limit, locally: a fresh subject on a 3/m route.
  const tr = token({ sub: 'c-rate-down' });
  const codes = [];
  for (let i = 0; i < 6; i++) codes.push((await get(g1, tr, '/api/v4/few')).status);
  const ok = codes.filter((c) => c === 200).length;
  assert.ok(ok >= 1 && ok <= 3, `3/m with Redis away: ${ok} of 6 allowed (${codes.join(' ')})`);
  assert.deepEqual(codes.slice(ok), Array(6 - ok).fill(429), `then 429: ${codes.join(' ')}`);
  assert.ok(await metric(g1, 'gateway_redis_fallbacks_total{what="rate_limit"}') >= 1, 'rate-limit fallbacks counted');

  // Lockout, locally.
  const C = '203.0.113.20';
  for (let i = 0; i < MAX_FAILURES; i++) {
    const r = await m2mToken(g1, C, CLIENTS.demo.id, wrong());
    assert.equal(r.status, 401, `wrong secret ${i + 1} with Redis away: ${brief(r)}`);
  }
  await assertLocked(g1, C, 'locked out locally with Redis away');
  assert.ok(await metric(g1, 'gateway_redis_fallbacks_total{what="m2m"}') >= 1, 'M2M fallbacks counted');

  // A revocation made now: enforced here at once, published later.
  const e2 = await revoke(g1, { sub: 'c-while-down' });
  assertRevoked(await get(g1, t2), 'instance 1 enforces its own revocation at once with Redis away');
  // Counted on the main loop, after the 201: wait for it.
  const deferred = await poll(async () => ((await metric(g1, 'gateway_redis_fallbacks_total{what="revocation"}')) >= 1 ? true : null),
    5000 * SCALE, 50);
  assert.ok(deferred, 'the deferred publish is counted');

  await redis.restart(); // same port, empty
  for (const g of [g1, g2]) await waitMetric(g, 'gateway_redis_up', 1, 20000 * SCALE);
  assert.ok(await metric(g2, 'gateway_redis_connects_total') > connects, 'instance 2 reconnected');
  const caught = await poll(async () => isRevoked(await get(g2, t2)), 10000 * SCALE, 100);
  assert.ok(caught, 'instance 2 caught up with the revocation made at instance 1 while Redis was away');
  assert.ok((await listed(g2)).some((x) => x.id === e2.id), 'instance 2 lists it with the same id');
  for (const g of [g1, g2]) assertRevoked(await get(g, t1), `instance on ${g.port} still enforces the older one`);
  for (const g of [g1, g2]) assert.equal((await readyz(g)).status, 200);
});

// ---- AUTH ----

test('redis_password_file: the right password works across instances; a wrong one keeps the instance unready, logs AUTH, never the password', T, async () => {
  const password = `pw-${crypto.randomBytes(12).toString('hex')}`;
  const badPassword = `bad-${crypto.randomBytes(12).toString('hex')}`;
  const pr = await startRedis({ password });
  const dir = tmpDir();
  const good = path.join(dir, 'redis.pass');
  const bad = path.join(dir, 'redis-bad.pass');
  fs.writeFileSync(good, password + '\n');
  fs.writeFileSync(bad, badPassword + '\n');
  const url = `redis://127.0.0.1:${pr.port}/0`;
  const started = [];
  try {
    const a = await gateway({ url, passwordFile: good });
    const b = await gateway({ url, passwordFile: good });
    started.push(a, b);
    await waitReady(a);
    await waitReady(b);
    const t = token({ sub: 'c-auth', iat: now() - 10 });
    assert.equal((await get(b, t)).status, 200);
    await revoke(a, { sub: 'c-auth' });
    await expectWithinSpec(b, t, true, 'a revocation through the password-protected Redis');

    const c = await gateway({ url, passwordFile: bad });
    started.push(c);
    await c.waitStderr(/AUTH/, 15000 * SCALE);
    for (let i = 0; i < 5; i++) {
      const r = await readyz(c);
      assert.equal(r.status, 503, `/readyz with a wrong password: ${r.status} ${r.text}`);
      assert.match(r.text, /redis/i);
      await sleep(200);
    }
    assert.equal(await metric(c, 'gateway_redis_up'), 0);
    for (const g of started) {
      for (const s of [password, badPassword]) assert.ok(!g.stderr().includes(s), `the gateway on ${g.port} logged a password`);
      assert.ok(!g.logLines().some((l) => l.includes(password) || l.includes(badPassword)), 'a password in the access log');
    }
  } finally {
    for (const g of started) await stopGateway(g);
    await pr.stop();
  }
});
