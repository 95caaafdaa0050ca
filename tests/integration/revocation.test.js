'use strict';
// Revocations (SPEC "Revocation, rate limits and several instances"): one
// case per matching rule (sub + client_id, jti, `before` vs `iat`, missing
// iat, a cached token, another client unaffected, expiry after `retain`),
// the admin API's authentication (none, wrong, API off without
// admin_token_file), and RFC 8935 SET pushes (valid, bad signature, wrong
// aud, wrong typ, replayed jti, unknown event type).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SCALE, sleep, request } = require('./lib/wire');
const { startUpstream, startGateway, tmpDir } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');

const T = { timeout: 30000 * SCALE };
const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
const ADMIN_TOKEN = 'adm-' + 'x'.repeat(40);
const KR = makeKey('rsa', 'rsa-1');
const KX = makeKey('rsa', 'rsa-x'); // not in the JWKS
const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
const now = () => Math.floor(Date.now() / 1000);

const POLICY = '[GET /api/v4/profiles]\nscopes = profiles:read\n';

let api;
let gw;
let gwOff;

function extra(dir, revocation) {
  return [
    '[resource]', `identifier = ${AUD}`, `authorization_servers = ${ISS}`, '',
    '[issuer:login]', `iss = ${ISS}`, `jwks_file = ${path.join(dir, 'jwks.json')}`, 'algorithms = RS256', '',
    ...(revocation ? ['[revocation]', ...revocation, ''] : []),
  ].join('\n');
}

async function start(revocation, retainOpt) {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(KR)));
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  fs.writeFileSync(path.join(dir, 'admin.token'), ADMIN_TOKEN + '\n');
  return startGateway({
    dir,
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    policyFile: path.join(dir, 'policy.ini'),
    extra: extra(dir, revocation && revocation.map((l) => l.replace('DIR', dir))),
  });
}

before(async () => {
  api = await startUpstream();
  gw = await start(['admin_token_file = DIR/admin.token', 'ssf_issuer = login', 'ssf_path = /ssf/push',
    'retain = 3s']);
  gwOff = await start(null);
});
after(async () => {
  if (gw) await gw.stop();
  if (gwOff) await gwOff.stop();
  if (api) await api.stop();
});

function token(over = {}) { return sign({ key: KR, claims: claims(over) }); }
const get = (g, tok) => request(g.port, { path: '/api/v4/profiles', headers: { Authorization: `Bearer ${tok}` } });

function admin(g, method, p, body, auth = `Bearer ${ADMIN_TOKEN}`) {
  const headers = {};
  if (auth) headers.Authorization = auth;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  return request(g.adminPort, { method, path: p, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function revoke(body) {
  const r = await admin(gw, 'POST', '/revocations', body);
  assert.equal(r.status, 201, r.text());
  return r.json();
}

function assertRevoked(r) {
  assert.equal(r.status, 401);
  assert.match(r.headers['www-authenticate'], /error="invalid_token"/);
  assert.equal(r.json().error_description, 'token has been revoked');
}

test('sub + client_id: the app is revoked, the user elsewhere and other users are not', T, async () => {
  const iat = now() - 10;
  const t = token({ sub: 'alice', client_id: 'app-1', iat });
  const other = token({ sub: 'alice', client_id: 'app-2', iat });
  const bob = token({ sub: 'bob', client_id: 'app-1', iat });
  assert.equal((await get(gw, t)).status, 200); // now cached
  const e = await revoke({ sub: 'alice', client_id: 'app-1' });
  assert.match(e.id, /^[0-9a-f]{16}$/);
  assert.equal(e.sub, 'alice');
  assert.equal(e.client_id, 'app-1');
  assertRevoked(await get(gw, t)); // the cached token is refused on the next request
  assert.equal((await get(gw, other)).status, 200);
  assert.equal((await get(gw, bob)).status, 200);
  let line;
  for (let i = 0; i < 100 && !line; i++) {
    line = gw.accessLog().find((l) => l.status === 401 && l.sub === 'alice' && l.reason === 'revoked');
    if (!line) await sleep(50 * SCALE);
  }
  assert.ok(line, 'the refusal is in the access log');
});

test('before vs iat: a token issued at or after before passes; one without iat is refused', T, async () => {
  const b = now() - 100;
  await revoke({ sub: 'carol', before: b });
  assertRevoked(await get(gw, token({ sub: 'carol', iat: b - 1 })));
  assert.equal((await get(gw, token({ sub: 'carol', iat: b }))).status, 200);
  assert.equal((await get(gw, token({ sub: 'carol', iat: b + 50 }))).status, 200);
  assertRevoked(await get(gw, token({ sub: 'carol', iat: undefined })));
});

test('jti: one token is revoked, another of the same user is not', T, async () => {
  await revoke({ jti: 'tok-1' });
  assertRevoked(await get(gw, token({ sub: 'dave', jti: 'tok-1', iat: now() - 5 })));
  assert.equal((await get(gw, token({ sub: 'dave', jti: 'tok-2', iat: now() - 5 }))).status, 200);
});

test('list, delete, and expiry after retain', T, async () => {
  const iat = now() - 5;
  const t = token({ sub: 'erin', iat });
  const e = await revoke({ sub: 'erin', iss: ISS });
  assertRevoked(await get(gw, t));
  const list = await admin(gw, 'GET', '/revocations');
  assert.equal(list.status, 200);
  assert.ok(list.json().revocations.some((x) => x.id === e.id && x.iss === ISS));
  assert.equal((await admin(gw, 'DELETE', `/revocations/${e.id}`)).status, 204);
  assert.equal((await admin(gw, 'DELETE', `/revocations/${e.id}`)).status, 404);
  assert.equal((await get(gw, t)).status, 200);
  // retain = 3s: an entry made now stops refusing once it expires.
  const t2 = token({ sub: 'frank', iat });
  const e2 = await revoke({ sub: 'frank' });
  assertRevoked(await get(gw, t2));
  assert.equal(e2.expires - e2.created, 3);
  let status = 0;
  for (let i = 0; i < 100 && status !== 200; i++) {
    await sleep(200);
    status = (await get(gw, t2)).status;
  }
  assert.equal(status, 200, 'the revocation expired after retain');
});

test('admin API: no token, a wrong token, bad bodies; off without admin_token_file', T, async () => {
  let r = await admin(gw, 'POST', '/revocations', { sub: 'x' }, null);
  assert.equal(r.status, 401);
  r = await admin(gw, 'GET', '/revocations', undefined, `Bearer ${ADMIN_TOKEN}y`);
  assert.equal(r.status, 401);
  r = await admin(gw, 'GET', '/revocations', undefined, `Basic ${ADMIN_TOKEN}`);
  assert.equal(r.status, 401);
  r = await admin(gw, 'POST', '/revocations', {});
  assert.equal(r.status, 400);
  r = await admin(gw, 'POST', '/revocations', { sub: 5 });
  assert.equal(r.status, 400);
  r = await admin(gw, 'POST', '/revocations', { nope: 'x' });
  assert.equal(r.status, 400);
  r = await admin(gwOff, 'POST', '/revocations', { sub: 'x' });
  assert.equal(r.status, 404);
  assert.equal((await admin(gw, 'GET', '/healthz', undefined, null)).status, 200);
});

// ---- SSF ----

function set({ key = KR, typ = 'secevent+jwt', over = {}, events } = {}) {
  const c = { iss: ISS, aud: AUD, iat: now(), jti: `set-${Math.random()}`, ...over };
  c.events = events || { [SESSION_REVOKED]: { event_timestamp: now() } };
  return sign({ key, header: { typ }, claims: c });
}
const push = (body, ct = 'application/secevent+jwt') =>
  request(gw.port, { method: 'POST', path: '/ssf/push', headers: { 'Content-Type': ct }, body });

function assertSsfError(r, err) {
  assert.equal(r.status, 400, r.text());
  assert.equal(r.json().err, err);
  assert.equal(typeof r.json().description, 'string');
}

test('SSF: a valid session-revoked SET (complex subject) revokes that app of that user', T, async () => {
  const iat = now() - 10;
  const t = token({ sub: 'gina', client_id: 'app-9', iat });
  const other = token({ sub: 'gina', client_id: 'app-8', iat });
  assert.equal((await get(gw, t)).status, 200);
  const jti = `set-gina-${Date.now()}`;
  const s = set({ over: { jti, sub_id: { format: 'complex', user: { format: 'iss_sub', iss: ISS, sub: 'gina' },
    application: { format: 'opaque', id: 'app-9' } } } });
  const r = await push(s);
  assert.equal(r.status, 202, r.text());
  assertRevoked(await get(gw, t));
  assert.equal((await get(gw, other)).status, 200);
  // Replayed: acknowledged, not applied again (the list has one entry for gina).
  assert.equal((await push(s)).status, 202);
  const list = (await admin(gw, 'GET', '/revocations')).json().revocations;
  assert.equal(list.filter((x) => x.sub === 'gina').length, 1);
  await gw.waitStderr(/replayed, ignored/);
});

test('SSF: iss_sub subject; bad signature, wrong aud, wrong typ, unknown event, no jti', T, async () => {
  const t = token({ sub: 'hank', iat: now() - 10 });
  const sub = { format: 'iss_sub', iss: ISS, sub: 'hank' };
  assertSsfError(await push(set({ key: KX, over: { sub_id: sub } })), 'invalid_key');
  const forged = set({ over: { sub_id: sub } }).split('.');
  forged[2] = forged[2].slice(0, -4) + (forged[2].endsWith('AAAA') ? 'BBBB' : 'AAAA');
  assertSsfError(await push(forged.join('.')), 'invalid_key');
  assertSsfError(await push(set({ over: { sub_id: sub, aud: 'https://other.example.test' } })), 'invalid_audience');
  assertSsfError(await push(set({ typ: 'at+jwt', over: { sub_id: sub } })), 'invalid_request');
  assertSsfError(await push(set({ over: { sub_id: sub }, events: { 'https://example.test/other': {} } })), 'invalid_request');
  assertSsfError(await push(set({ over: { sub_id: sub, jti: undefined } })), 'invalid_request');
  assertSsfError(await push(set({ over: { sub_id: sub } }), 'application/json'), 'invalid_request');
  assert.equal((await get(gw, t)).status, 200, 'nothing was applied');
  assert.equal((await push(set({ over: { sub_id: sub } }))).status, 202);
  assertRevoked(await get(gw, t));
  const r = await request(gw.port, { path: '/ssf/push' });
  assert.equal(r.status, 405);
});
