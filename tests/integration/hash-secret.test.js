'use strict';
// `gateway --hash-secret` (issue: small things): reads a client secret on
// stdin and prints the `secret =` value of an [m2m] clients file, made by the
// issuer's own m2m_hash_secret(). Proof that it is right: a gateway whose
// clients file holds that line issues a token for that client and secret,
// and refuses another secret.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { SCALE, request } = require('./lib/wire');
const { startUpstream, startGateway, freePorts, tmpDir, GATEWAY_BIN } = require('./lib/procs');
const { PROFILE_POLICY, TOKEN_PATH, m2mSections } = require('./lib/m2m-kit');

const T = { timeout: 60000 * SCALE };
const BIN = GATEWAY_BIN || process.env.GATEWAY_BIN;
const SECRET = 'a-fresh-secret_for.the~test';

let api;
let gw;
after(async () => {
  if (gw) await gw.stop();
  if (api) await api.stop();
});

function hash(input) {
  const r = spawnSync(BIN, ['--hash-secret'], { input, encoding: 'utf8', timeout: 30000 * SCALE });
  assert.equal(r.error, undefined, r.error && r.error.message);
  return r;
}

test('--hash-secret prints a PBKDF2 line; a token request with that client and secret works', T, async () => {
  const r = hash(`${SECRET}\n`);
  assert.equal(r.status, 0, r.stderr);
  const line = r.stdout.trim();
  assert.match(line, /^pbkdf2-sha256\$\d+\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.ok(!r.stdout.includes(SECRET) && !r.stderr.includes(SECRET), 'the secret is never echoed');

  const dir = tmpDir();
  const clients = path.join(dir, 'clients.ini');
  fs.writeFileSync(clients, `[client:hashed]\nsecret = ${line}\nscopes = profiles:read\n`);
  api = await startUpstream({ name: 'api' });
  const [port, adminPort] = await freePorts(2);
  const extra = m2mSections({ port }).replace(/^clients = .*$/m, `clients = ${clients}`);
  gw = await startGateway({
    port, adminPort, dir, policyFile: PROFILE_POLICY, extra,
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
  });
  const ask = (secret) => request(port, {
    method: 'POST', path: TOKEN_PATH, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'hashed', client_secret: secret }),
    timeoutMs: 30000 * SCALE,
  });
  const ok = await ask(SECRET);
  assert.equal(ok.status, 200, ok.text());
  assert.equal(typeof ok.json().access_token, 'string');
  const bad = await ask(`${SECRET}x`);
  assert.equal(bad.status, 401, bad.text());
});

test('--hash-secret refuses an empty secret and takes no arguments', T, () => {
  const r = hash('');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /empty secret/);
  const s = spawnSync(BIN, ['--hash-secret', SECRET], { encoding: 'utf8', timeout: 10000 * SCALE });
  assert.notEqual(s.status, 0, 'a secret on the command line is refused');
  assert.equal(s.stdout, '');
});

test('conf/dev/mint-token.js --help prints its options and exits 0', T, () => {
  const script = path.join(__dirname, '..', '..', 'conf', 'dev', 'mint-token.js');
  const r = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8', timeout: 10000 * SCALE });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: /);
  for (const opt of ['--scope', '--sub', '--client-id', '--m2m', '--ttl', '--alg', '--aud']) assert.ok(r.stdout.includes(opt), opt);
  assert.doesNotMatch(r.stdout, /^eyJ/m, 'no token is printed');
});
