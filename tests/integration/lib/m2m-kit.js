'use strict';
// Shared pieces of the built-in M2M token endpoint tests (m2m.test.js,
// ops.test.js): the demo clients of conf/dev/, the gateway config that
// enables [m2m] and trusts its own JWKS, the docs' token requests as curl
// argument lists, JWT decoding, and the pacing that keeps the per-address
// failure counter of the issuer from locking unrelated tests out.
const path = require('node:path');
const assert = require('node:assert/strict');
const { SCALE, sleep } = require('./wire');
const { REPO, getStatus } = require('./procs');

const DEV = path.join(REPO, 'conf', 'dev');
const SIGNING_KEY = path.join(DEV, 'm2m_private.pem');
const CLIENTS_FILE = path.join(DEV, 'm2m-clients.ini');
const PROFILE_POLICY = path.join(REPO, 'policies', 'profile-api.ini');
const TOKEN_PATH = '/api/v4/auth';
const JWKS_PATH = '/.well-known/m2m-jwks.json';

const CLIENTS = {
  demo: { id: 'demo', secret: 'demo-secret', scopes: ['profiles:read', 'tags:manage'] },
  writer: { id: 'demo-writer', secret: 'demo-writer-secret', scopes: ['profiles:read', 'profiles:write'] },
};

// The [resource], [issuer:m2m], [m2m] and [forward] sections for a gateway
// listening on `port`, as INI text (for configText's `extra`).
function m2mSections({ port, enable = true, audience = 'https://api.example.test', maxFailures = 3, lockout = '5s',
  lifetime = '1h', trustSelf = true, forward = true }) {
  const self = `http://127.0.0.1:${port}`;
  const s = [
    '[resource]',
    `identifier = ${audience}`,
    'authorization_servers = https://login.example.test',
    '',
  ];
  if (trustSelf) {
    s.push('[issuer:m2m]', `iss = ${self}`, `jwks_uri = ${self}${JWKS_PATH}`, 'algorithms = ES256', 'leeway = 30s', '');
  }
  s.push('[m2m]', `enable = ${enable ? 'yes' : 'no'}`, `issuer = ${self}`, `signing_key = ${SIGNING_KEY}`,
    `clients = ${CLIENTS_FILE}`, `lifetime = ${lifetime}`, `max_failures = ${maxFailures}`, `lockout = ${lockout}`, '');
  if (forward) {
    s.push('[forward]', 'header.X-Auth-Subject = sub', 'header.X-Auth-Client-Id = client_id', 'header.X-Auth-Scopes = scope', '');
  }
  return s.join('\n');
}

// Waits (bounded) until the admin /readyz answers 200: the gateway then has
// fetched its own JWKS through [issuer:m2m] jwks_uri.
async function waitReady(adminPort, ms = 15000 * SCALE) {
  const deadline = Date.now() + ms;
  let last = 0;
  for (let i = 0; i < 10000 && Date.now() < deadline; i++) {
    last = await getStatus(adminPort, '/readyz', 1000 * SCALE);
    if (last === 200) return;
    await sleep(100);
  }
  throw new Error(`/readyz on ${adminPort} not 200 within ${ms} ms (last ${last})`);
}

// ---- curl argument lists, as in the docs ----
function jsonTokenArgs(base, body) {
  return ['-X', 'POST', `${base}${TOKEN_PATH}`, '-H', 'Content-Type: application/json',
    '-d', typeof body === 'string' ? body : JSON.stringify(body)];
}
function basicTokenArgs(base, id, secret, extra = []) {
  return ['-X', 'POST', '-u', `${id}:${secret}`, `${base}${TOKEN_PATH}`, ...extra];
}
function formTokenArgs(base, fields) {
  const args = ['-X', 'POST', `${base}${TOKEN_PATH}`];
  for (const [k, v] of Object.entries(fields)) args.push('--data-urlencode', `${k}=${v}`);
  return args; // curl sends application/x-www-form-urlencoded
}

// ---- JWT ----
function decodeJwt(token) {
  const parts = String(token).split('.');
  assert.equal(parts.length, 3, `a compact JWS has three parts: ${String(token).slice(0, 80)}`);
  const dec = (p, what) => {
    assert.match(p, /^[A-Za-z0-9_-]*$/, `${what} is unpadded base64url`);
    return JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  };
  return { header: dec(parts[0], 'header'), payload: dec(parts[1], 'payload'), signature: parts[2] };
}

// The success answer of the token endpoint (RFC 6749 §5.1).
function assertTokenAnswer(res, { scopes, lifetimeS = 3600 }, what = '') {
  const ctx = what ? ` (${what})` : '';
  assert.equal(res.status, 200, `status${ctx}; body: ${res.text().slice(0, 300)}`);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i, `Content-Type${ctx}`);
  assert.match(String(res.headers['cache-control'] || ''), /no-store/i, `Cache-Control: no-store${ctx}`);
  assert.match(String(res.headers.pragma || ''), /no-cache/i, `Pragma: no-cache${ctx}`);
  const b = res.json();
  assert.equal(typeof b.access_token, 'string', `access_token${ctx}: ${res.text().slice(0, 300)}`);
  assert.ok(b.access_token.split('.').length === 3, `access_token is a JWS${ctx}`);
  assert.equal(b.token_type, 'Bearer', `token_type${ctx}`);
  assert.equal(b.expires_in, lifetimeS, `expires_in${ctx}`);
  assert.equal(typeof b.scope, 'string', `scope${ctx}`);
  if (scopes) assert.deepEqual(b.scope.split(' ').filter(Boolean).sort(), [...scopes].sort(), `scope${ctx}`);
  return b;
}

// An RFC 6749 §5.2 error answer of the token endpoint.
function assertTokenError(res, status, code, what = '') {
  const ctx = what ? ` (${what})` : '';
  assert.equal(res.status, status, `status${ctx}; body: ${res.text().slice(0, 300)}`);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i, `Content-Type${ctx}`);
  assert.match(String(res.headers['cache-control'] || ''), /no-store/i, `Cache-Control: no-store${ctx}`);
  let b;
  try { b = res.json(); } catch (e) { assert.fail(`body is not JSON${ctx}: ${res.text().slice(0, 300)}`); }
  assert.equal(b.error, code, `error${ctx}: ${res.text().slice(0, 300)}`);
  assert.equal(typeof b.error_description, 'string', `error_description${ctx}`);
  assert.equal(b.access_token, undefined, `no access_token in an error${ctx}`);
  return b;
}

// ---- pacing of failed authentications ----
// The issuer counts failures per client id and per client address; every test
// connects from 127.0.0.1, so `maxFailures` failures anywhere in the file lock
// the address for `lockoutMs`. Tests declare the failures they are about to
// cause; the pacer waits the lockout out (plus a second of whole-second
// rounding and a margin) before the address could reach the limit.
class FailurePacer {
  constructor({ maxFailures, lockoutMs }) {
    this.max = maxFailures;
    this.lockoutMs = lockoutMs;
    this.pending = 0;
    this.last = 0;
  }
  quietAt() { return this.last + this.lockoutMs + 1500; }
  _age() { if (this.pending && Date.now() > this.quietAt()) this.pending = 0; }
  // Before a test that causes `n` failures (0: needs an unlocked address).
  async before(n = 0) {
    this._age();
    if (this.pending > 0 && (this.pending >= this.max || this.pending + n >= this.max)) await this.settle();
  }
  // After each failure the test caused (call once per failed attempt).
  failed() { this.pending++; this.last = Date.now(); }
  async settle() {
    const wait = this.quietAt() - Date.now();
    if (wait > 0) await sleep(wait);
    this.pending = 0;
  }
}

module.exports = {
  DEV, SIGNING_KEY, CLIENTS_FILE, PROFILE_POLICY, TOKEN_PATH, JWKS_PATH, CLIENTS,
  m2mSections, waitReady, jsonTokenArgs, basicTokenArgs, formTokenArgs, decodeJwt,
  assertTokenAnswer, assertTokenError, FailurePacer,
};
