'use strict';
// Hardening, the operational items: what an operator sees when things go
// wrong at the edges.
//   - a client that closes (FIN) or resets (RST) after a complete request and
//     before its answer leaves an access-log line (499, reason client_closed,
//     the upstream's status when it had answered) and a request metric;
//   - UTF-8 in a logged claim (sub "jörg") is logged as UTF-8;
//   - an uploader that goes silent mid-body gets 408 and is not counted as
//     an upstream timeout;
//   - a JWKS refused for its size says so, and a failed fetch says whether
//     there are previous keys to keep;
//   - [issuer:NAME] max_rsa_bits (default 4096): a larger RSA key in a
//     jwks_file is refused at load with FILE:LINE, one from a jwks_uri is
//     skipped with a log line (an 8192-bit key made by openssl at test time);
//   - a reload that moves an issuer (same iss) to a jwks_uri that does not
//     answer keeps its previous keys and /readyz ready; a new issuer not yet
//     loaded makes only its own tokens 503.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const { HOST, SCALE, sleep, request } = require('./lib/wire');
const crypto = require('node:crypto');
const { startUpstream, startGateway, tmpDir, configText, runGatewaySync, getStatus, freePort } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');
const { scrape, value } = require('./lib/metrics');
const { startJwksServer } = require('./lib/auth-jwks-server');

const T = { timeout: 60000 * SCALE };
const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';

// Polls fn() until it returns a truthy value; fails after timeoutMs.
async function waitFor(fn, what, timeoutMs = 10000 * SCALE) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100000; i++) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
  return assert.fail(`gave up waiting for ${what}`);
}

let api;
let gw;
let key;
before(async () => {
  api = await startUpstream({ name: 'api' });
  const dir = tmpDir();
  key = makeKey('rsa', 'k1');
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(key)));
  fs.writeFileSync(path.join(dir, 'policy.ini'),
    '[POST /api/v4/delay]\nscopes = orders:write\n[POST /api/v4/echo]\nscopes = orders:write\n[GET /api/v4/chunked]\nscopes = orders:write\n');
  gw = await startGateway({
    policyFile: path.join(dir, 'policy.ini'),
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url, response_timeout: '20s' }],
    extra: `[resource]\nidentifier = ${AUD}\n[issuer:login]\niss = ${ISS}\njwks_file = ${path.join(dir, 'jwks.json')}\n`,
  });
});
after(async () => {
  if (gw) await gw.stop();
  if (api) await api.stop();
});

const token = () => sign({ key, claims: claims({ iss: ISS, aud: AUD, scope: 'orders:write', sub: 'jörg' }) });

function connect(port) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: HOST, port });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

// Sends an authenticated request on a raw socket and waits until the upstream
// has received it (so it is executed whatever the client does next).
async function sendAndWaitUpstream(head, body, mark) {
  const s = await connect(gw.port);
  s.on('error', () => {});
  const got = [];
  s.on('data', (d) => got.push(d));
  s.write(head + body);
  await waitFor(async () => (await api.stats()).log.find((e) => e.url.includes(mark)), `the upstream to get ${mark}`);
  return { s, got };
}

async function abortedPost(how) {
  const mark = `abort-${how}-${Date.now()}`;
  const series = 'gateway_requests_total{upstream="api",route="POST /api/v4/delay",status_class="4xx"}';
  const m0 = value((await scrape(gw.adminPort)).body, series);
  const body = '{"order":1}';
  const head = `POST /api/v4/delay?ms=${5000 * SCALE}&m=${mark} HTTP/1.1\r\nHost: x\r\n` +
    `Authorization: Bearer ${token()}\r\nX-Request-Id: ${mark}\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${body.length}\r\n\r\n`;
  const { s } = await sendAndWaitUpstream(head, body, mark);
  if (how === 'rst') s.resetAndDestroy(); else s.end();
  const line = await waitFor(() => gw.accessLog().find((l) => l.request_id === mark), 'the access-log line of the aborted request');
  assert.equal(line.status, 499, JSON.stringify(line));
  assert.equal(line.reason, 'client_closed');
  assert.equal(line.decision, 'allow');
  assert.equal(line.upstream, 'api');
  assert.equal(line.method, 'POST');
  assert.equal(line.upstream_status, undefined, 'the upstream had not answered');
  await waitFor(async () => value((await scrape(gw.adminPort)).body, series) === m0 + 1, 'the 4xx request metric to count it');
  s.destroy();
}

test('a client that sends FIN after a complete authenticated POST: logged as 499 client_closed and counted', T, () => abortedPost('fin'));

test('a client that resets after a complete authenticated POST: logged as 499 client_closed and counted', T, () => abortedPost('rst'));

test('a client that leaves mid-response: 499 client_closed with the upstream_status the upstream answered', T, async () => {
  const mark = `midresp-${Date.now()}`;
  const head = `GET /api/v4/chunked?n=5&ms=${3000 * SCALE}&m=${mark} HTTP/1.1\r\nHost: x\r\n` +
    `Authorization: Bearer ${token()}\r\nX-Request-Id: ${mark}\r\n\r\n`;
  const { s, got } = await sendAndWaitUpstream(head, '', mark);
  await waitFor(() => Buffer.concat(got).includes('chunk 0'), 'the first chunk');
  s.end();
  const line = await waitFor(() => gw.accessLog().find((l) => l.request_id === mark), 'the access-log line');
  assert.equal(line.status, 499, JSON.stringify(line));
  assert.equal(line.reason, 'client_closed');
  assert.equal(line.upstream_status, 200);
  s.destroy();
});

test('a client that closes after its complete answer is logged with that answer, not 499', T, async () => {
  const mark = `done-${Date.now()}`;
  const head = `POST /api/v4/delay?ms=0&m=${mark} HTTP/1.1\r\nHost: x\r\n` +
    `Authorization: Bearer ${token()}\r\nX-Request-Id: ${mark}\r\nContent-Length: 2\r\n\r\n{}`;
  const { s, got } = await sendAndWaitUpstream(head, '', mark);
  await waitFor(() => Buffer.concat(got).includes('"delayed"'), 'the answer');
  s.end();
  const line = await waitFor(() => gw.accessLog().find((l) => l.request_id === mark), 'the access-log line');
  assert.equal(line.status, 200);
  assert.equal(line.reason, undefined);
  assert.equal(line.sub, 'jörg', 'UTF-8 in a claim is logged as is, not as escaped Latin-1 bytes');
  s.destroy();
});

test('an uploader that goes silent mid-body: 408 request_timeout, counted as 4xx and not as an upstream timeout', T, async () => {
  const mark = `silent-${Date.now()}`;
  const tmo = 'gateway_upstream_timeouts_total{upstream="api"}';
  const m0 = value((await scrape(gw.adminPort)).body, tmo);
  const head = `POST /api/v4/echo?m=${mark} HTTP/1.1\r\nHost: x\r\n` +
    `Authorization: Bearer ${token()}\r\nX-Request-Id: ${mark}\r\nContent-Length: 100\r\n\r\n`;
  const { s, got } = await sendAndWaitUpstream(head, '0123456789', mark);
  const ended = new Promise((r) => s.once('close', r));
  // idle_timeout is 2 s in this gateway's configuration.
  await waitFor(() => Buffer.concat(got).includes('\r\n\r\n'), 'the answer to the silent upload', 15000 * SCALE);
  const text = Buffer.concat(got).toString('latin1');
  assert.match(text, /^HTTP\/1\.1 408 /, text);
  assert.match(text, /"error":"request_timeout"/);
  assert.match(text, /\r\nconnection: close\r\n/i);
  await Promise.race([ended, sleep(5000 * SCALE)]);
  const line = await waitFor(() => gw.accessLog().find((l) => l.request_id === mark), 'the access-log line');
  assert.equal(line.status, 408, JSON.stringify(line));
  assert.equal(line.reason, 'client_timeout');
  assert.equal(value((await scrape(gw.adminPort)).body, tmo), m0, 'not an upstream timeout');
  s.destroy();
});

// A gateway config whose issuers ({name, iss, url}) load from jwks_uri.
function jwksUriConfig(issuers, dir = tmpDir()) {
  fs.writeFileSync(path.join(dir, 'policy.ini'), '[GET /api/v4/**]\nscopes = orders:write\n');
  const sections = issuers.map((i) => `[issuer:${i.name}]\niss = ${i.iss}\njwks_uri = ${i.url}\n`).join('');
  return {
    dir,
    policyFile: path.join(dir, 'policy.ini'),
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    extra: `[resource]\nidentifier = ${AUD}\n${sections}`,
  };
}

test('a JWKS refused for its size is logged as too large; the first failure says there are no keys yet, a later one that the previous keys stay', T, async () => {
  const k1 = makeKey('rsa', 'k1');
  const k2 = makeKey('rsa', 'k2');
  const keys = await startJwksServer({ doc: jwks(k1) });
  keys.setMode('huge');
  const g = await startGateway(jwksUriConfig([{ name: 'login', iss: ISS, url: keys.url }]));
  try {
    const first = await waitFor(() => /issuer login: JWKS fetch from \S+ failed: [^\n]*/.exec(g.stderr()), 'the first failed fetch');
    assert.match(first[0], /response body too large; no keys yet/, first[0]);
    assert.doesNotMatch(g.stderr(), /invalid HTTP response|keeping the previous keys/);
    keys.setMode('keys');
    await waitFor(() => /issuer login: loaded 1 key/.test(g.stderr()), 'the keys to load', 20000 * SCALE);
    keys.setMode('huge');
    const before1 = g.stderr().length;
    // An unknown kid makes the gateway refetch at once.
    const t = sign({ key: k2, claims: claims({ iss: ISS, aud: AUD, scope: 'orders:write' }) });
    await request(g.port, { path: '/api/v4/echo', headers: { authorization: `Bearer ${t}` } });
    const later = await waitFor(() => /issuer login: JWKS fetch from \S+ failed: [^\n]*/.exec(g.stderr().slice(before1)), 'the refetch to fail');
    assert.match(later[0], /response body too large; keeping the previous keys/, later[0]);
  } finally {
    await g.stop();
    await keys.stop();
  }
});

// An RSA-8192 key pair: tests/unit/fixtures/jwt/rsa8192.pem, made once with
// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:8192` (making it
// here cost every run ~10 s of CPU).
let big8192;
function rsa8192() {
  if (big8192) return big8192;
  const file = path.join(__dirname, '..', 'unit', 'fixtures', 'jwt', 'rsa8192.pem');
  const privateKey = crypto.createPrivateKey(fs.readFileSync(file));
  const publicKey = crypto.createPublicKey(privateKey);
  const jwk = Object.assign(publicKey.export({ format: 'jwk' }), { kid: 'big', use: 'sig' });
  big8192 = { kind: 'rsa', kid: 'big', privateKey, publicKey, jwk };
  return big8192;
}

const T_RSA = { timeout: 180000 * SCALE };

test('max_rsa_bits: an RSA-8192 key in a jwks_file is refused at load with FILE:LINE; max_rsa_bits = 8192 accepts it', T_RSA, () => {
  const big = rsa8192();
  const small = makeKey('rsa', 'small');
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(small, big)));
  fs.writeFileSync(path.join(dir, 'policy.ini'), '[GET /api/v4/**]\nscopes = orders:write\n');
  const ini = (extra) => configText({
    port: 1, adminPort: 2, policyFile: path.join(dir, 'policy.ini'),
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    extra: `[resource]\nidentifier = ${AUD}\n[issuer:login]\niss = ${ISS}\njwks_file = ${path.join(dir, 'jwks.json')}\n${extra}`,
  }).text;
  const file = path.join(dir, 'gateway.ini');
  fs.writeFileSync(file, ini(''));
  const line = ini('').split('\n').indexOf('[issuer:login]') + 1;
  let r = runGatewaySync(['-t', '-c', file]);
  assert.notEqual(r.code, 0, `-t accepted an RSA-8192 key under the default max_rsa_bits:\n${r.stdout}${r.stderr}`);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}: .*8192 bits is over max_rsa_bits 4096`), r.stderr);
  fs.writeFileSync(file, ini('max_rsa_bits = 8192\n'));
  r = runGatewaySync(['-t', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  fs.writeFileSync(file, ini('max_rsa_bits = 1024\n'));
  r = runGatewaySync(['-t', '-c', file]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /max_rsa_bits: expected a whole number from 2048 to 8192/);
});

test('max_rsa_bits: an RSA-8192 key from a jwks_uri is skipped with a log line; its tokens are refused, the others work', T_RSA, async () => {
  const big = rsa8192();
  const small = makeKey('rsa', 'small');
  const keys = await startJwksServer({ doc: jwks(small, big) });
  const g = await startGateway(jwksUriConfig([{ name: 'login', iss: ISS, url: keys.url }]));
  try {
    await waitFor(() => /issuer login: loaded 1 key/.test(g.stderr()), 'the small key to load');
    assert.match(g.stderr(), /kid big\): RSA key of 8192 bits is over max_rsa_bits 4096; key skipped/);
    const c = claims({ iss: ISS, aud: AUD, scope: 'orders:write' });
    const ok = await request(g.port, { path: '/api/v4/echo', headers: { authorization: `Bearer ${sign({ key: small, claims: c })}` } });
    assert.equal(ok.status, 200);
    const no = await request(g.port, { path: '/api/v4/echo', headers: { authorization: `Bearer ${sign({ key: big, claims: c })}` } });
    assert.equal(no.status, 401);
  } finally {
    await g.stop();
    await keys.stop();
  }
});

// Rewrites g's gateway.ini for issuers, sends SIGHUP, waits for the reload.
async function reloadWith(g, issuers) {
  const cfg = jwksUriConfig(issuers, g.dir);
  const { text } = configText(Object.assign({}, cfg, { port: g.port, adminPort: g.adminPort }));
  const tmp = `${g.configPath}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, g.configPath);
  const n = (g.stderr().match(/SIGHUP: configuration reloaded/g) || []).length;
  g.child.kill('SIGHUP');
  await waitFor(() => (g.stderr().match(/SIGHUP: configuration reloaded/g) || []).length > n, 'the reload');
}

test('a reload moving an issuer to a jwks_uri that does not answer keeps its keys and /readyz; a new unloaded issuer makes only its own tokens 503', T, async () => {
  const k1 = makeKey('rsa', 'k1');
  const k2 = makeKey('rsa', 'k2');
  const ISS2 = 'https://other.example.test';
  const keys = await startJwksServer({ doc: jwks(k1) });
  const deadUrl = `http://127.0.0.1:${await freePort()}/jwks.json`;
  const g = await startGateway(jwksUriConfig([{ name: 'login', iss: ISS, url: keys.url }]));
  const call = (key, iss) => request(g.port, { path: '/api/v4/echo',
    headers: { authorization: `Bearer ${sign({ key, claims: claims({ iss, aud: AUD, scope: 'orders:write' }) })}` } });
  try {
    await waitFor(async () => (await getStatus(g.adminPort, '/readyz')) === 200, 'ready');
    assert.equal((await call(k1, ISS)).status, 200);

    // Same iss, a source that refuses connections.
    await reloadWith(g, [{ name: 'login', iss: ISS, url: deadUrl }]);
    await waitFor(() => /issuer login: JWKS fetch from \S+ failed: [^\n]*keeping the previous keys/.test(g.stderr()), 'the new source to fail');
    assert.equal((await call(k1, ISS)).status, 200, 'the previous keys still verify');
    assert.equal(await getStatus(g.adminPort, '/readyz'), 200, '/readyz stays ready');

    // Back to a source that works, plus a second issuer that does not.
    await reloadWith(g, [{ name: 'login', iss: ISS, url: keys.url }, { name: 'other', iss: ISS2, url: deadUrl }]);
    await waitFor(() => /issuer other: JWKS fetch from \S+ failed: [^\n]*no keys yet/.test(g.stderr()), 'the new issuer to fail');
    assert.equal(await getStatus(g.adminPort, '/readyz'), 200, 'a new issuer without keys does not make the gateway unready');
    assert.equal((await call(k1, ISS)).status, 200, 'the first issuer\'s tokens work');
    const other = await call(k2, ISS2);
    assert.equal(other.status, 503, 'the new issuer\'s tokens wait for its keys');
  } finally {
    await g.stop();
    await keys.stop();
  }
});
