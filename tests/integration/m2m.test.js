'use strict';
// The built-in M2M token endpoint (issue 5, gateway/m2m.h): the docs' flow
// end to end with the real curl binary. A gateway with [m2m] enabled (the
// development key and demo clients of conf/dev/), an [issuer:m2m] that trusts
// the gateway's own JWKS URL, the repo's policies/profile-api.ini and an echo
// upstream: token by JSON body, HTTP Basic and form body; the token then calls
// the API (identity headers, 200, 403 for a missing scope); every error answer
// of RFC 6749 §5.2; the lockout after max_failures wrong secrets; the JWKS
// document and the token's claims; the access log; [m2m] disabled.
//
// Every request comes from 127.0.0.1, so failed authentications of all tests
// add up in the issuer's per-address counter: FailurePacer (lib/m2m-kit.js)
// waits the lockout out before a test could push the address over the limit.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const { SCALE, sleep } = require('./lib/wire');
const { startUpstream, startGateway, GatewayFixture, freePorts } = require('./lib/procs');
const { parseChallenge, challenge, expectInsufficientScope, assertNoTokenEcho } = require('./lib/auth-assert');
const { curlHttp } = require('./lib/m2m-curl');
const {
  PROFILE_POLICY, TOKEN_PATH, JWKS_PATH, CLIENTS, m2mSections, waitReady, jsonTokenArgs, basicTokenArgs,
  formTokenArgs, decodeJwt, assertTokenAnswer, assertTokenError, FailurePacer,
} = require('./lib/m2m-kit');

const AUD = 'https://api.example.test';
const META = `${AUD}/.well-known/oauth-protected-resource`;
const MAX_FAILURES = 3;
const LOCKOUT_MS = 5000;
const T = { timeout: 30000 * SCALE };
const T_LONG = { timeout: 60000 * SCALE };

let api;
let selfUrl = '';
const fx = new GatewayFixture(async () => {
  const [port, adminPort] = await freePorts(2);
  selfUrl = `http://127.0.0.1:${port}`;
  return {
    port, adminPort,
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    policyFile: PROFILE_POLICY,
    extra: m2mSections({ port, audience: AUD, maxFailures: MAX_FAILURES, lockout: `${LOCKOUT_MS / 1000}s` }),
  };
});
const pacer = new FailurePacer({ maxFailures: MAX_FAILURES, lockoutMs: LOCKOUT_MS });

// Everything that must never show up in a log: the secrets we sent (also as
// the Basic credentials they travel in) and every token the endpoint issued.
const SECRETS = new Set();
const ISSUED = new Set();
// Token requests sent to the current gateway process (a crash restarts the
// fixture with a fresh stdout; the crash itself is reported by the last test).
const sent = { pid: 0, n: 0 };
for (const c of Object.values(CLIENTS)) {
  SECRETS.add(c.secret);
  SECRETS.add(Buffer.from(`${c.id}:${c.secret}`).toString('base64'));
}
function secret(s) { SECRETS.add(s); return s; }

async function gateway() {
  const gw = await fx.ensure();
  await waitReady(gw.adminPort);
  return gw;
}
const base = (gw) => `http://127.0.0.1:${gw.port}`;

// One token request through curl; records issued tokens for the log scans.
async function tokenCurl(args) {
  const pid = fx.gw ? fx.gw.child.pid : 0;
  if (pid !== sent.pid) { sent.pid = pid; sent.n = 0; }
  sent.n++;
  const res = await curlHttp(args);
  if (res.status === 200) {
    try { const t = res.json().access_token; if (typeof t === 'string') ISSUED.add(t); } catch (e) { /* asserted by the caller */ }
  }
  return res;
}

// Tokens per client, for the current gateway process (its port is the iss).
let tokenCache = {};
let tokenCachePid = 0;
async function tokenOf(client) {
  const gw = await gateway();
  if (gw.child.pid !== tokenCachePid) { tokenCache = {}; tokenCachePid = gw.child.pid; }
  if (tokenCache[client.id]) return tokenCache[client.id];
  await pacer.before(0);
  const res = await tokenCurl(jsonTokenArgs(base(gw), { grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret }));
  const b = assertTokenAnswer(res, { scopes: client.scopes }, `token for ${client.id}`);
  tokenCache[client.id] = b.access_token;
  return b.access_token;
}

function assertBasicChallenge(res, what) {
  const vals = [];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    if (res.rawHeaders[i].toLowerCase() === 'www-authenticate') vals.push(res.rawHeaders[i + 1]);
  }
  assert.equal(vals.length, 1, `exactly one WWW-Authenticate (${what}): ${JSON.stringify(vals)}`);
  const c = parseChallenge(vals[0]);
  assert.match(c.scheme, /^basic$/i, `challenge scheme (${what}): ${vals[0]}`);
  assert.equal(c.params.realm, 'm2m', `realm (${what}): ${vals[0]}`);
}

// A wrong-secret attempt; returns the answer (already asserted as 401).
async function wrongSecret(gw, mode, id = CLIENTS.demo.id) {
  const bad = secret(`wrong-${crypto.randomBytes(6).toString('hex')}`);
  const args = mode === 'basic' ? basicTokenArgs(base(gw), id, bad)
    : jsonTokenArgs(base(gw), { grant_type: 'client_credentials', client_id: id, client_secret: bad });
  const res = await tokenCurl(args);
  pacer.failed();
  assertTokenError(res, 401, 'invalid_client', `${mode}, client ${id}, wrong secret`);
  assertBasicChallenge(res, `${mode}, client ${id}`);
  assert.ok(!res.text().includes(bad), `the error answer echoes the secret: ${res.text()}`);
  return res;
}

before(async () => {
  api = await startUpstream({ name: 'api' });
  await gateway();
});
after(async () => {
  await fx.stop();
  if (api) await api.stop();
});

// ---- the docs' flow ----

test('POST /api/v4/auth with a JSON body (the docs\' curl) -> 200 {access_token, token_type Bearer, expires_in 3600, scope}', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const res = await tokenCurl(jsonTokenArgs(base(gw), { grant_type: 'client_credentials', client_id: 'demo', client_secret: 'demo-secret' }));
  const b = assertTokenAnswer(res, { scopes: CLIENTS.demo.scopes, lifetimeS: 3600 }, 'JSON body');
});

test('HTTP Basic (curl -u demo:demo-secret) without a body -> 200 with a token', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const res = await tokenCurl(basicTokenArgs(base(gw), 'demo', 'demo-secret'));
  assert.equal(res.curl.args.includes('-d'), false);
  assertTokenAnswer(res, { scopes: CLIENTS.demo.scopes }, 'Basic, no body');
});

test('form body (application/x-www-form-urlencoded) -> 200 with a token', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const res = await tokenCurl(formTokenArgs(base(gw), { grant_type: 'client_credentials', client_id: 'demo', client_secret: 'demo-secret' }));
  assertTokenAnswer(res, { scopes: CLIENTS.demo.scopes }, 'form body');
});

test('HTTP Basic with a form body grant_type=client_credentials -> 200 with a token', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const res = await tokenCurl(basicTokenArgs(base(gw), 'demo-writer', 'demo-writer-secret', ['-d', 'grant_type=client_credentials']));
  assertTokenAnswer(res, { scopes: CLIENTS.writer.scopes }, 'Basic + form grant_type');
});

test('the M2M token calls POST /api/v4/test -> 200, and the upstream sees the X-Auth-* identity headers', T, async () => {
  const gw = await gateway();
  const token = await tokenOf(CLIENTS.demo);
  await api.reset();
  const res = await curlHttp(['--request', 'POST', '--url', `${base(gw)}/api/v4/test`,
    '--header', `Authorization: Bearer ${token}`, '--header', 'Content-Type: application/json', '--data', '{"ping": "pong"}']);
  assert.equal(res.status, 200, `body: ${res.text().slice(0, 300)}`);
  assert.equal(res.headers['x-upstream-name'], 'api');
  const e = res.json();
  assert.equal(e.method, 'POST');
  assert.equal(e.url, '/api/v4/test');
  assert.equal(e.bodyLength, Buffer.byteLength('{"ping": "pong"}'));
  assert.equal(e.headers['x-auth-subject'], 'demo', `X-Auth-Subject: ${JSON.stringify(e.headers)}`);
  assert.equal(e.headers['x-auth-client-id'], 'demo', 'X-Auth-Client-Id');
  assert.deepEqual(String(e.headers['x-auth-scopes']).split(' ').sort(), [...CLIENTS.demo.scopes].sort(), 'X-Auth-Scopes');
  assert.equal(e.headers.authorization, `Bearer ${token}`, 'the bearer token is forwarded');
  const st = await api.stats();
  assert.equal(st.requests, 1);
});

test('the demo token (profiles:read) lists profiles: GET /api/v4/profiles -> 200', T, async () => {
  const gw = await gateway();
  const token = await tokenOf(CLIENTS.demo);
  const res = await curlHttp(['-H', `Authorization: Bearer ${token}`, `${base(gw)}/api/v4/profiles`]);
  assert.equal(res.status, 200, `body: ${res.text().slice(0, 300)}`);
  assert.equal(res.headers['x-upstream-name'], 'api');
  assert.equal(res.json().url, '/api/v4/profiles');
});

test('the demo token lacks profiles:write: POST /api/v4/profiles -> 403 insufficient_scope naming profiles:write', T, async () => {
  const gw = await gateway();
  const token = await tokenOf(CLIENTS.demo);
  await api.reset();
  const res = await curlHttp(['-X', 'POST', '-H', `Authorization: Bearer ${token}`, `${base(gw)}/api/v4/profiles`]);
  expectInsufficientScope(res, { scope: 'profiles:write', meta: META }, 'demo token, POST /api/v4/profiles');
  assert.equal((await api.stats()).requests, 0, 'the refused request reached the upstream');
});

test('the demo-writer token (profiles:write) can POST /api/v4/profiles', T, async () => {
  const gw = await gateway();
  const token = await tokenOf(CLIENTS.writer);
  const res = await curlHttp(['-X', 'POST', '-H', `Authorization: Bearer ${token}`, '-H', 'Content-Type: application/json',
    '-d', '{"name": "Ada"}', `${base(gw)}/api/v4/profiles`]);
  assert.equal(res.status, 200, `body: ${res.text().slice(0, 300)}`);
  const e = res.json();
  assert.equal(e.url, '/api/v4/profiles');
  assert.equal(e.method, 'POST');
  assert.equal(e.headers['x-auth-subject'], 'demo-writer');
  assert.equal(e.headers['x-auth-client-id'], 'demo-writer');
});

test('without a token the API answers 401 with the Bearer challenge (the token endpoint is the way in)', T, async () => {
  const gw = await gateway();
  const res = await curlHttp([`${base(gw)}/api/v4/profiles`]);
  assert.equal(res.status, 401);
  const c = challenge(res);
  assert.equal(c.params.resource_metadata, META);
});

// ---- the token and the JWKS ----

test('JWKS at GET /.well-known/m2m-jwks.json: one public key with kid, alg and use "sig"', T, async () => {
  const gw = await gateway();
  const res = await curlHttp([`${base(gw)}${JWKS_PATH}`]);
  assert.equal(res.status, 200, `body: ${res.text().slice(0, 300)}`);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i);
  const doc = res.json();
  assert.ok(Array.isArray(doc.keys), `keys: ${res.text().slice(0, 300)}`);
  assert.equal(doc.keys.length, 1, `one key: ${res.text().slice(0, 500)}`);
  const k = doc.keys[0];
  assert.equal(typeof k.kid, 'string');
  assert.ok(k.kid.length > 0);
  assert.equal(k.alg, 'ES256', 'conf/dev/m2m_private.pem is a P-256 key');
  assert.equal(k.use, 'sig');
  assert.equal(k.kty, 'EC');
  assert.equal(k.crv, 'P-256');
  assert.equal(k.d, undefined, 'the JWKS publishes the private key');
});

test('the issued token: header alg/kid/typ at+jwt; claims iss, sub = client_id, client_id, aud, scope, iat, exp = iat + 3600, jti; signature verifies with the JWKS key', T, async () => {
  const gw = await gateway();
  const token = await tokenOf(CLIENTS.demo);
  const { header, payload } = decodeJwt(token);
  const jwks = (await curlHttp([`${base(gw)}${JWKS_PATH}`])).json();
  const k = jwks.keys[0];
  assert.equal(header.typ, 'at+jwt');
  assert.equal(header.alg, k.alg);
  assert.equal(header.kid, k.kid);
  assert.equal(payload.iss, selfUrl);
  assert.equal(payload.sub, 'demo');
  assert.equal(payload.client_id, 'demo');
  assert.equal(Array.isArray(payload.aud) ? payload.aud.join(' ') : payload.aud, AUD);
  assert.deepEqual(String(payload.scope).split(' ').sort(), [...CLIENTS.demo.scopes].sort());
  assert.equal(typeof payload.iat, 'number');
  assert.equal(typeof payload.exp, 'number');
  assert.equal(payload.exp - payload.iat, 3600, 'lifetime = 1h');
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(payload.iat - now) < 120, `iat ${payload.iat} is now (${now})`);
  assert.equal(typeof payload.jti, 'string');
  assert.ok(payload.jti.length >= 16, `jti: ${payload.jti}`);
  const [h, p, s] = token.split('.');
  const pub = crypto.createPublicKey({ key: k, format: 'jwk' });
  assert.ok(crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url')),
    'the signature does not verify with the published key');
});

test('two tokens for the same client have different jti', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const a = assertTokenAnswer(await tokenCurl(basicTokenArgs(base(gw), 'demo', 'demo-secret')), {}, 'first');
  const b = assertTokenAnswer(await tokenCurl(basicTokenArgs(base(gw), 'demo', 'demo-secret')), {}, 'second');
  assert.notEqual(decodeJwt(a.access_token).payload.jti, decodeJwt(b.access_token).payload.jti);
});

// ---- errors (RFC 6749 §5.2) ----

test('wrong secret in a JSON body -> 401 invalid_client with WWW-Authenticate: Basic realm="m2m"', T, async () => {
  const gw = await gateway();
  await pacer.before(1);
  await wrongSecret(gw, 'json');
});

test('wrong secret with HTTP Basic -> 401 invalid_client with WWW-Authenticate: Basic realm="m2m"', T, async () => {
  const gw = await gateway();
  await pacer.before(1);
  await wrongSecret(gw, 'basic');
});

test('unknown client -> exactly the answer of a wrong secret (status, challenge, body), JSON and Basic', T, async () => {
  const gw = await gateway();
  for (const mode of ['json', 'basic']) {
    await pacer.before(2);
    const known = await wrongSecret(gw, mode, 'demo');
    const unknown = await wrongSecret(gw, mode, `nobody-${crypto.randomBytes(4).toString('hex')}`);
    assert.equal(unknown.status, known.status, mode);
    assert.equal(unknown.text(), known.text(), `${mode}: bodies differ`);
    assert.equal(unknown.headers['www-authenticate'], known.headers['www-authenticate'], `${mode}: challenges differ`);
    const names = (r) => r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()).filter((n) => n !== 'date').sort();
    assert.deepEqual(names(unknown), names(known), `${mode}: header names differ`);
  }
});

test('grant_type other than client_credentials -> 400 unsupported_grant_type (JSON, and Basic with a form body)', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const r1 = await tokenCurl(jsonTokenArgs(base(gw), { grant_type: 'password', client_id: 'demo', client_secret: 'demo-secret' }));
  assertTokenError(r1, 400, 'unsupported_grant_type', 'JSON grant_type=password');
  const r2 = await tokenCurl(basicTokenArgs(base(gw), 'demo', 'demo-secret', ['-d', 'grant_type=authorization_code']));
  assertTokenError(r2, 400, 'unsupported_grant_type', 'Basic + grant_type=authorization_code');
});

test('missing fields -> 400 invalid_request (no grant_type; client_id without secret; secret without client_id)', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const cases = [
    [{ client_id: 'demo', client_secret: 'demo-secret' }, 'no grant_type'],
    [{ grant_type: 'client_credentials', client_id: 'demo' }, 'no client_secret'],
    [{ grant_type: 'client_credentials', client_secret: 'demo-secret' }, 'no client_id'],
  ];
  for (const [body, what] of cases) {
    const res = await tokenCurl(jsonTokenArgs(base(gw), body));
    assertTokenError(res, 400, 'invalid_request', what);
    assert.equal(res.headers['www-authenticate'], undefined, `a 400 carries no challenge (${what})`);
  }
  const form = await tokenCurl(formTokenArgs(base(gw), { grant_type: 'client_credentials', client_id: 'demo' }));
  assertTokenError(form, 400, 'invalid_request', 'form body without client_secret');
});

test('GET on the token path -> 405 with Allow: POST', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const res = await tokenCurl([`${base(gw)}${TOKEN_PATH}`]);
  assert.equal(res.status, 405, `body: ${res.text().slice(0, 300)}`);
  assert.match(String(res.headers.allow || ''), /^\s*POST\s*$/, `Allow: ${res.headers.allow}`);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i);
  assert.equal(typeof res.json().error, 'string');
});

test('HTTP Basic plus client_secret in the body -> 400 invalid_request', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const res = await tokenCurl(basicTokenArgs(base(gw), 'demo', 'demo-secret',
    ['-d', 'grant_type=client_credentials&client_secret=demo-secret']));
  assertTokenError(res, 400, 'invalid_request', 'Basic + client_secret in the body');
  const json = await tokenCurl(basicTokenArgs(base(gw), 'demo', 'demo-secret',
    ['-H', 'Content-Type: application/json', '-d', JSON.stringify({ grant_type: 'client_credentials', client_id: 'demo', client_secret: 'demo-secret' })]));
  assertTokenError(json, 400, 'invalid_request', 'Basic + client_secret in a JSON body');
});

test('two Authorization headers on the token endpoint -> 400 invalid_request, and the gateway keeps serving', T, async () => {
  const gw = await gateway();
  await pacer.before(0);
  const basic = `Basic ${Buffer.from('demo:demo-secret').toString('base64')}`;
  const alive = async (what) => {
    await sleep(200 * SCALE);
    assert.ok(!gw.exited(), `the gateway died after answering ${what} (signal ${gw.child.signalCode}, exit code ${gw.child.exitCode}); stderr: ${gw.stderr().slice(-600)}`);
  };
  const res = await tokenCurl(['-X', 'POST', `${base(gw)}${TOKEN_PATH}`, '-H', `Authorization: ${basic}`, '-H', `Authorization: ${basic}`,
    '-d', 'grant_type=client_credentials']);
  assertTokenError(res, 400, 'invalid_request', 'two Authorization headers');
  await alive('two Authorization headers with a body');
  // The same without a body (the whole request is its head).
  const nobody = await tokenCurl(['-X', 'POST', `${base(gw)}${TOKEN_PATH}`, '-H', `Authorization: ${basic}`, '-H', `Authorization: ${basic}`]);
  assertTokenError(nobody, 400, 'invalid_request', 'two Authorization headers, no body');
  await alive('two Authorization headers without a body');
  const next = await tokenCurl(basicTokenArgs(base(gw), 'demo', 'demo-secret'));
  assertTokenAnswer(next, { scopes: CLIENTS.demo.scopes }, 'a token request after the 400');
});

test('lockout: after max_failures (3) wrong secrets even the right secret gets 429 slow_down with Retry-After; after the lockout it works again', T_LONG, async () => {
  const gw = await gateway();
  await pacer.before(MAX_FAILURES);
  for (let i = 0; i < MAX_FAILURES; i++) await wrongSecret(gw, 'json', 'demo');
  const lastFailure = Date.now();
  const good = () => tokenCurl(jsonTokenArgs(base(gw), { grant_type: 'client_credentials', client_id: 'demo', client_secret: 'demo-secret' }));
  const locked = await good();
  assertTokenError(locked, 429, 'slow_down', 'right secret during the lockout');
  const ra = String(locked.headers['retry-after'] || '');
  assert.match(ra, /^\d+$/, `Retry-After: ${JSON.stringify(ra)}`);
  assert.ok(Number(ra) >= 1 && Number(ra) <= LOCKOUT_MS / 1000, `Retry-After ${ra} within the ${LOCKOUT_MS / 1000} s lockout`);
  const basicLocked = await tokenCurl(basicTokenArgs(base(gw), 'demo', 'demo-secret'));
  assertTokenError(basicLocked, 429, 'slow_down', 'right secret with Basic during the lockout');
  assert.match(String(basicLocked.headers['retry-after'] || ''), /^\d+$/);

  // Wait Retry-After, then poll (bounded) until the right secret works again.
  await sleep(Number(ra) * 1000);
  const deadline = lastFailure + LOCKOUT_MS + 5000 * SCALE;
  let res = null;
  const seen = [];
  for (let i = 0; i < 100 && Date.now() < deadline; i++) {
    res = await good();
    seen.push(res.status);
    if (res.status !== 429) break;
    await sleep(250);
  }
  assert.ok(res, 'no attempt after the lockout');
  assertTokenAnswer(res, { scopes: CLIENTS.demo.scopes }, `right secret after the lockout (statuses: ${seen.join(',')})`);
  assert.ok(Date.now() - lastFailure >= LOCKOUT_MS - 1500, `unlocked after ${Date.now() - lastFailure} ms, before the ${LOCKOUT_MS} ms lockout`);
});

// ---- the access log ----

async function settleLog(gw) {
  // The access log is buffered per worker: wait (bounded) until the count of
  // token-path records stops growing.
  let prev = -1;
  for (let i = 0; i < 40; i++) {
    const n = gw.accessLog().filter((r) => typeof r.path === 'string' && r.path.startsWith(TOKEN_PATH)).length;
    if (n === prev && n >= sent.n) return;
    prev = n;
    await sleep(250 * SCALE);
  }
}

test('access log: every token request is a JSON line with decision m2m; issued ones name the client_id', T, async () => {
  const gw = await gateway();
  await settleLog(gw);
  const recs = gw.accessLog().filter((r) => typeof r.path === 'string' && r.path.split('?')[0] === TOKEN_PATH);
  assert.equal(sent.pid, gw.child.pid, 'no token request reached the current gateway process');
  assert.ok(sent.n > 0);
  assert.ok(recs.length >= sent.n, `${recs.length} token-path log records for ${sent.n} token requests`);
  const wrong = recs.filter((r) => r.decision !== 'm2m');
  assert.deepEqual(wrong.map((r) => `${r.method} ${r.status} decision=${r.decision} reason=${r.reason}`), [],
    'token requests logged without decision m2m');
  const issued = recs.filter((r) => r.status === 200);
  assert.ok(issued.length > 0, 'no issued token in the log');
  for (const r of issued) {
    assert.equal(r.reason, 'issued', JSON.stringify(r));
    assert.ok(['demo', 'demo-writer'].includes(r.client_id), `client_id of an issued token: ${JSON.stringify(r)}`);
  }
  const denied = recs.filter((r) => r.status === 401);
  assert.ok(denied.length > 0, 'no 401 in the log');
  for (const r of denied) assert.ok(['bad_secret', 'unknown_client'].includes(r.reason), JSON.stringify(r));
  const locked = recs.filter((r) => r.status === 429);
  assert.ok(locked.length > 0, 'no 429 in the log');
  for (const r of locked) assert.ok(['locked_client', 'locked_address'].includes(r.reason), JSON.stringify(r));
});

test('access log: no stdout line contains a client secret, Basic credentials or any issued access token (or its signature)', T, async () => {
  const gw = await gateway();
  await settleLog(gw);
  assert.ok(ISSUED.size >= 3, `only ${ISSUED.size} tokens issued in this file`);
  const needles = [...SECRETS];
  for (const t of ISSUED) { needles.push(t); needles.push(t.split('.')[2]); needles.push(t.split('.').slice(0, 2).join('.')); }
  const lines = gw.logLines();
  assert.ok(lines.length > 0, 'nothing on stdout');
  for (const [i, l] of lines.entries()) {
    for (const n of needles) assert.ok(!l.includes(n), `stdout line ${i + 1} contains a secret or token piece (${n.slice(0, 12)}...): ${l.slice(0, 300)}`);
    let v = null;
    assert.doesNotThrow(() => { v = JSON.parse(l); }, `stdout line ${i + 1} is not JSON: ${l.slice(0, 300)}`);
    assert.equal(typeof v, 'object', `stdout line ${i + 1} is not a JSON object`);
  }
});

test('error log (stderr): no client secret or access token either', T, async () => {
  const gw = await gateway();
  const err = gw.stderr();
  for (const n of SECRETS) assert.ok(!err.includes(n), `stderr contains a secret: ${n.slice(0, 12)}...`);
  for (const t of ISSUED) assertNoTokenEcho(err, t, 'stderr');
});

// ---- [m2m] disabled ----

test('with [m2m] disabled, POST /api/v4/auth is forwarded to the upstream (a public route of profile-api.ini)', T, async () => {
  const [port, adminPort] = await freePorts(2);
  const gw2 = await startGateway({
    port, adminPort,
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    policyFile: PROFILE_POLICY,
    extra: m2mSections({ port, audience: AUD, enable: false, trustSelf: false }),
  });
  try {
    await api.reset();
    const body = JSON.stringify({ grant_type: 'client_credentials', client_id: 'demo', client_secret: 'demo-secret' });
    const res = await curlHttp(jsonTokenArgs(`http://127.0.0.1:${port}`, body));
    assert.equal(res.status, 200, `body: ${res.text().slice(0, 300)}`);
    assert.equal(res.headers['x-upstream-name'], 'api', 'the answer comes from the upstream');
    const e = res.json();
    assert.equal(e.access_token, undefined, 'a token was issued with [m2m] disabled');
    assert.equal(e.method, 'POST');
    assert.equal(e.url, TOKEN_PATH);
    assert.equal(e.bodyLength, Buffer.byteLength(body));
    const st = await api.stats();
    assert.equal(st.requests, 1, 'the upstream did not receive the token request');
    assert.ok(!gw2.exited(), 'the gateway with [m2m] disabled exited');
  } finally {
    await gw2.stop();
  }
});

test('the gateway process stayed up through this file (no crash)', T, async () => {
  const gw = await fx.ensure();
  assert.deepEqual(fx.crashes, [], `gateway crashed: ${JSON.stringify(fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
});
