'use strict';
// TLS (issue 6; SPEC [server] tls_listen/tls_cert/tls_key, [upstream:NAME]
// https url + ca_file/client_cert/client_key, [issuer:NAME] https jwks_uri +
// ca_file):
//   - the TLS listener: curl --cacert GET, keep-alive, a 2 MB response and a
//     5 MB upload intact (sha256), SSE event by event, X-Forwarded-Proto
//     https, ALPN http/1.1 only, TLS 1.2/1.3 only with ECDHE+AEAD, session
//     resumption, plain HTTP answered 400, resets mid-handshake, handshake
//     timeout;
//   - https upstreams: verified against ca_file (host name and IP SAN), SNI,
//     pooled connections reused, wrong host / expired / other CA / system
//     store refused with 502 and the reason, mTLS with client_cert;
//   - https jwks_uri: verified fetch, a failed fetch leaves no keys (503) or
//     keeps the old ones;
//   - SIGHUP certificate rotation (new clients see the new certificate, an
//     old keep-alive connection keeps working) and a broken new certificate
//     (reload refused, logged with FILE:LINE, the old one keeps serving).
// Certificates are made at test time with the openssl CLI (lib/tls-certs.js);
// https peers run in this process (lib/tls-servers.js); curl and openssl are
// run asynchronously with bounded time (lib/tls-client.js).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const https = require('node:https');
const http2 = require('node:http2');
const { HOST, SCALE, sleep, sha256, bigPattern, request, RawConn, rawExchange, assertGatewayError } = require('./lib/wire');
const { startUpstream, startGateway, GatewayFixture, freePort, tmpDir, getStatus, configText, runGatewaySync } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');
const { makeCerts, normSerial } = require('./lib/tls-certs');
const { startTlsUpstream, startHttpsJwks } = require('./lib/tls-servers');
const { curl, sClient, httpsRequest, handshake, clientHelloBytes } = require('./lib/tls-client');

const T = { timeout: 30000 * SCALE };
const HEADER_TIMEOUT_MS = 1000; // configText's default header_timeout = 1s

let dir; let certs; let api; let tlsPort;
let good; let expiredUp; let wrongUp; let otherUp; let mtlsUp;
const servers = [];
const gateways = new Set();
const fx = new GatewayFixture(() => ({
  dir,
  server: { tls_listen: `${HOST}:${tlsPort}`, tls_cert: certs.serverRsa.crt, tls_key: certs.serverRsa.key, idle_timeout: '5s' },
  upstreams: [
    { name: 'api', prefix: '/api/v4', url: api.url, response_timeout: '10s' },
    { name: 'good', prefix: '/good', url: good.origin, ca_file: certs.ca.crt, response_timeout: '10s' },
    { name: 'goodip', prefix: '/goodip', url: `https://127.0.0.1:${good.port}`, ca_file: certs.ca.crt },
    { name: 'expired', prefix: '/expired', url: expiredUp.origin, ca_file: certs.ca.crt },
    { name: 'wronghost', prefix: '/wronghost', url: wrongUp.origin, ca_file: certs.ca.crt },
    { name: 'wronghostip', prefix: '/wronghostip', url: `https://127.0.0.1:${wrongUp.port}`, ca_file: certs.ca.crt },
    { name: 'otherca', prefix: '/otherca', url: otherUp.origin, ca_file: certs.ca.crt },
    { name: 'sysstore', prefix: '/sysstore', url: good.origin },
    { name: 'mtls', prefix: '/mtls', url: mtlsUp.origin, ca_file: certs.ca.crt, client_cert: certs.client.crt, client_key: certs.client.key },
    { name: 'mtlsnocert', prefix: '/mtlsnocert', url: mtlsUp.origin, ca_file: certs.ca.crt },
  ],
}));

before(async () => {
  dir = tmpDir();
  certs = makeCerts(dir);
  api = await startUpstream({ name: 'api' });
  const peer = (c, extra = {}) => Object.assign({ cert: c.pem, key: c.keyPem }, extra);
  good = await startTlsUpstream(peer(certs.server, { name: 'good' }));
  expiredUp = await startTlsUpstream(peer(certs.expired, { name: 'expired' }));
  wrongUp = await startTlsUpstream(peer(certs.wrongHost, { name: 'wronghost' }));
  otherUp = await startTlsUpstream(peer(certs.otherCa, { name: 'otherca' }));
  mtlsUp = await startTlsUpstream(peer(certs.server, { name: 'mtls', ca: certs.ca.pem, requestCert: true }));
  servers.push(good, expiredUp, wrongUp, otherUp, mtlsUp);
  tlsPort = await freePort();
  await fx.ensure();
});

after(async () => {
  await fx.stop();
  for (const gw of gateways) await gw.stop('SIGKILL');
  for (const s of servers) await s.stop();
  if (api) await api.stop();
});

const url = (p) => `https://localhost:${tlsPort}${p}`;
const get = (p, opts = {}) => httpsRequest(tlsPort, Object.assign({ ca: certs.ca.pem, path: p }, opts));

function curlOk(r, what) {
  assert.equal(r.code, 0, `${what}: curl exited ${r.code}${r.timedOut ? ' (timed out)' : ''}; stderr: ${r.stderr.slice(-1500)}`);
}

// Waits (bounded) until the gateway's stderr matches re; resolves the match or null.
async function waitStderr(gw, re, fromLen = 0, timeoutMs = 5000 * SCALE) {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100000; i++) {
    const m = re.exec(gw.stderr().slice(fromLen));
    if (m) return m;
    if (Date.now() > deadline) return null;
    await sleep(30);
  }
  return null;
}

// ---------------------------------------------------------------- listener

test('GET through the TLS listener with curl --cacert: 200 from the upstream, the certificate verified for localhost', T, async () => {
  await fx.ensure();
  const r = await curl(certs.ca.crt, ['-i', url('/api/v4/echo?curl-get')]);
  curlOk(r, 'GET');
  const text = r.stdout.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 /, text.slice(0, 300));
  const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
  assert.equal(body.upstream, 'api');
  assert.equal(body.url, '/api/v4/echo?curl-get');
});

test('the upstream sees X-Forwarded-Proto: https from a TLS client and http from the plain listener', T, async () => {
  const gw = await fx.ensure();
  const viaTls = await get('/api/v4/echo?proto', { headers: { 'X-Forwarded-Proto': 'http' } });
  assert.equal(viaTls.status, 200);
  assert.equal(viaTls.json().headers['x-forwarded-proto'], 'https', 'X-Forwarded-Proto for a TLS client (an incoming value is replaced)');
  const viaPlain = await request(gw.port, { path: '/api/v4/echo?proto', headers: { 'X-Forwarded-Proto': 'https' } });
  assert.equal(viaPlain.status, 200);
  assert.equal(viaPlain.json().headers['x-forwarded-proto'], 'http', 'X-Forwarded-Proto for a plain client');
});

test('keep-alive over TLS: curl sends two requests on one TLS connection', T, async () => {
  await fx.ensure();
  const r = await curl(certs.ca.crt, ['-v', '-o', '/dev/null', '-o', '/dev/null', url('/api/v4/echo?ka1'), url('/api/v4/echo?ka2')]);
  curlOk(r, 'two URLs');
  assert.match(r.stderr, /Re-using existing connection/i, `curl did not re-use the connection:\n${r.stderr.slice(-2000)}`);
  assert.equal((r.stderr.match(/SSL connection using/g) || []).length, 1, 'exactly one TLS handshake');
  assert.equal((r.stderr.match(/< HTTP\/1\.1 200/g) || []).length, 2, 'two 200 answers');
});

test('keep-alive over TLS: a node https.Agent (keepAlive, 1 socket) sends 5 requests on one connection', T, async () => {
  await fx.ensure();
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.ca.pem });
  try {
    const socks = new Set();
    for (let i = 0; i < 5; i++) {
      const r = await get(`/api/v4/echo?agent=${i}`, { agent });
      assert.equal(r.status, 200);
      if (i > 0) assert.ok(r.reused, `request ${i} was not sent on a reused connection`);
      socks.add(r.tls.sock);
    }
    assert.equal(socks.size, 1, `sockets used: ${socks.size}`);
  } finally { agent.destroy(); }
});

test('a 2 MB response over TLS arrives intact (curl, sha256)', T, async () => {
  await fx.ensure();
  const n = 2 * 1024 * 1024;
  const r = await curl(certs.ca.crt, ['-o', '-', url(`/api/v4/big?bytes=${n}`)]);
  curlOk(r, '2 MB GET');
  assert.equal(r.stdout.length, n, 'length');
  assert.equal(sha256(r.stdout), sha256(bigPattern(n)), 'sha256');
});

test('a 5 MB upload over TLS (Content-Length) arrives intact at the upstream (curl, sha256)', T, async () => {
  await fx.ensure();
  const body = bigPattern(5 * 1024 * 1024);
  const f = path.join(dir, 'upload-5m.bin');
  fs.writeFileSync(f, body);
  const r = await curl(certs.ca.crt, ['--data-binary', `@${f}`, '-H', 'Content-Type: application/octet-stream', url('/api/v4/echo?upload')]);
  curlOk(r, '5 MB POST');
  const e = JSON.parse(r.stdout.toString('utf8'));
  assert.equal(e.bodyLength, body.length, 'length at the upstream');
  assert.equal(e.bodySha256, sha256(body), 'sha256 at the upstream');
});

test('a 5 MB chunked upload over TLS arrives intact at the upstream (curl, sha256)', T, async () => {
  await fx.ensure();
  const body = bigPattern(5 * 1024 * 1024);
  const f = path.join(dir, 'upload-5m-chunked.bin');
  fs.writeFileSync(f, body);
  const r = await curl(certs.ca.crt, ['--data-binary', `@${f}`, '-H', 'Transfer-Encoding: chunked', '-H', 'Content-Type: application/octet-stream', url('/api/v4/echo?chunked-upload')]);
  curlOk(r, '5 MB chunked POST');
  const e = JSON.parse(r.stdout.toString('utf8'));
  assert.equal(e.bodyLength, body.length, 'length at the upstream');
  assert.equal(e.bodySha256, sha256(body), 'sha256 at the upstream');
});

test('SSE over TLS: events arrive one by one as the upstream sends them (curl -N)', T, async () => {
  await fx.ensure();
  const n = 5; const ms = 400;
  const seen = []; // arrival time of each event
  let acc = '';
  const t0 = Date.now();
  const r = await curl(certs.ca.crt, ['-N', url(`/api/v4/sse?n=${n}&ms=${ms}`)], {
    onStdout: (d, t) => {
      acc += d.toString('utf8');
      const count = (acc.match(/data: \{"i":\d+\}\n\n/g) || []).length;
      while (seen.length < count) seen.push(t - t0);
    },
  });
  curlOk(r, 'SSE');
  assert.equal(seen.length, n, `events: ${JSON.stringify(acc)}`);
  for (let i = 1; i < n; i++) {
    assert.ok(seen[i] - seen[i - 1] >= ms / 4, `event ${i} arrived ${seen[i] - seen[i - 1]} ms after event ${i - 1} (sent ${ms} ms apart): buffered? times ${JSON.stringify(seen)}`);
  }
});

test('ALPN: curl --http1.1 negotiates http/1.1 and gets 200', T, async () => {
  await fx.ensure();
  const r = await curl(certs.ca.crt, ['-v', '--http1.1', '-o', '/dev/null', url('/api/v4/echo?alpn')]);
  curlOk(r, '--http1.1');
  assert.match(r.stderr, /ALPN: server accepted http\/1\.1/, r.stderr.slice(-1500));
  assert.match(r.stderr, /< HTTP\/1\.1 200/);
});

test('ALPN: a client offering h2 and http/1.1 (curl default, nghttp2) is given http/1.1 and gets 200', T, async () => {
  await fx.ensure();
  const r = await curl(certs.ca.crt, ['-v', '-o', '/dev/null', url('/api/v4/echo?alpn-h2')]);
  curlOk(r, 'default ALPN');
  assert.match(r.stderr, /ALPN: offers h2/, 'curl offered h2 (curl built with HTTP/2)');
  assert.match(r.stderr, /ALPN: server accepted http\/1\.1/, r.stderr.slice(-1500));
  assert.match(r.stderr, /< HTTP\/1\.1 200/);
});

test('ALPN: an h2-only client does not get h2 (openssl s_client -alpn h2: no ALPN negotiated)', T, async () => {
  await fx.ensure();
  const r = await sClient(tlsPort, ['-CAfile', certs.ca.crt, '-alpn', 'h2']);
  const out = r.stdout.toString('latin1');
  assert.doesNotMatch(out, /ALPN protocol: h2/, out.slice(-1500));
  assert.match(out, /No ALPN negotiated/, out.slice(-1500));
  const hs = await handshake(tlsPort, { ca: certs.ca.pem, ALPNProtocols: ['h2'] });
  if (hs.ok) assert.notEqual(hs.alpn, 'h2', 'node tls client offering only h2 was given h2');
});

test('ALPN: node http2.connect gets no HTTP/2 response from the TLS listener', T, async () => {
  await fx.ensure();
  const outcome = await new Promise((resolve) => {
    const done = (v) => { clearTimeout(timer); try { sess.destroy(); } catch (e) { /* gone */ } resolve(v); };
    const sess = http2.connect(url(''), { ca: certs.ca.pem });
    sess.on('error', (e) => done({ error: e.code || e.message }));
    const req = sess.request({ ':path': '/api/v4/echo?h2' });
    req.on('response', (h) => done({ status: h[':status'] }));
    req.on('error', (e) => done({ error: e.code || e.message }));
    req.end();
    const timer = setTimeout(() => done({ error: 'timeout' }), 5000 * SCALE);
  });
  assert.equal(outcome.status, undefined, `an HTTP/2 response came back: ${JSON.stringify(outcome)}`);
});

for (const [flag, name] of [['-tls1_1', 'TLS 1.1'], ['-tls1', 'TLS 1.0']]) {
  test(`${name} is refused (openssl s_client ${flag}: protocol_version alert, no session)`, T, async () => {
    await fx.ensure();
    // SECLEVEL=0 so the client itself is willing to speak the old version.
    const r = await sClient(tlsPort, ['-CAfile', certs.ca.crt, flag, '-cipher', 'DEFAULT:@SECLEVEL=0']);
    const out = r.stdout.toString('latin1') + r.stderr;
    assert.notEqual(r.code, 0, `s_client ${flag} succeeded:\n${out.slice(-1500)}`);
    assert.match(out, /alert protocol version|unsupported protocol|wrong version number/i, out.slice(-1500));
    assert.match(out, /Cipher is \(NONE\)/, out.slice(-1500));
  });
}

test('TLS 1.2 is accepted with an ECDHE AEAD cipher (openssl s_client -tls1_2 and node)', T, async () => {
  await fx.ensure();
  const r = await sClient(tlsPort, ['-CAfile', certs.ca.crt, '-tls1_2']);
  const out = r.stdout.toString('latin1');
  assert.equal(r.code, 0, `${out.slice(-1500)}\n${r.stderr}`);
  assert.match(out, /Protocol\s*: TLSv1\.2/);
  const m = /Cipher is (\S+)/.exec(out);
  assert.ok(m, out.slice(-1500));
  assert.match(m[1], /^ECDHE-(RSA|ECDSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/, `cipher ${m[1]}`);
  assert.match(out, /Verify return code: 0 \(ok\)/);
  const hs = await handshake(tlsPort, { ca: certs.ca.pem, maxVersion: 'TLSv1.2' });
  assert.ok(hs.ok, String(hs.error));
  assert.equal(hs.protocol, 'TLSv1.2');
});

test('TLS 1.3 is accepted (openssl s_client -tls1_3 and node)', T, async () => {
  await fx.ensure();
  const r = await sClient(tlsPort, ['-CAfile', certs.ca.crt, '-tls1_3']);
  const out = r.stdout.toString('latin1');
  assert.equal(r.code, 0, `${out.slice(-1500)}\n${r.stderr}`);
  assert.match(out, /New, TLSv1\.3, Cipher is TLS_(AES_128_GCM_SHA256|AES_256_GCM_SHA384|CHACHA20_POLY1305_SHA256)/, out.slice(-1500));
  const hs = await handshake(tlsPort, { ca: certs.ca.pem, minVersion: 'TLSv1.3' });
  assert.ok(hs.ok, String(hs.error));
  assert.equal(hs.protocol, 'TLSv1.3');
});

// The listener has an RSA certificate, so every suite below could be chosen
// if the server allowed it: a refusal is the cipher list's doing.
for (const cipher of ['AES128-SHA', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384', 'DHE-RSA-AES128-GCM-SHA256']) {
  test(`TLS 1.2 offering only ${cipher} (no ECDHE or no AEAD) is refused`, T, async () => {
    await fx.ensure();
    const r = await sClient(tlsPort, ['-CAfile', certs.ca.crt, '-tls1_2', '-cipher', `${cipher}:@SECLEVEL=0`]);
    const out = r.stdout.toString('latin1') + r.stderr;
    assert.notEqual(r.code, 0, `handshake with ${cipher} succeeded:\n${out.slice(-1500)}`);
    assert.match(out, /Cipher is \(NONE\)/, out.slice(-1500));
    assert.match(out, /handshake failure|no shared cipher/i, out.slice(-1500));
  });
}

for (const cipher of ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305']) {
  test(`TLS 1.2 offering only ${cipher} (ECDHE + AEAD) is accepted`, T, async () => {
    await fx.ensure();
    const r = await sClient(tlsPort, ['-CAfile', certs.ca.crt, '-tls1_2', '-cipher', cipher]);
    const out = r.stdout.toString('latin1');
    assert.equal(r.code, 0, `${out.slice(-1500)}\n${r.stderr}`);
    assert.match(out, new RegExp(`New, TLSv1\\.2, Cipher is ${cipher}`), out.slice(-1500));
  });
}

test('session resumption: TLS 1.3 with a session ticket and TLS 1.2 with a session are resumed', T, async () => {
  await fx.ensure();
  for (const v of ['TLSv1.3', 'TLSv1.2']) {
    const first = await handshake(tlsPort, { ca: certs.ca.pem, minVersion: v, maxVersion: v, keepForTicketMs: 200 });
    assert.ok(first.ok, `${v}: ${first.error}`);
    assert.ok(first.session, `${v}: no session/ticket received`);
    assert.equal(first.reused, false);
    const second = await handshake(tlsPort, { ca: certs.ca.pem, minVersion: v, maxVersion: v, session: first.session });
    assert.ok(second.ok, `${v}: ${second.error}`);
    assert.equal(second.reused, true, `${v}: the session was not resumed`);
  }
});

test('plain HTTP sent to the TLS port gets a plain-text 400 JSON answer and the connection is closed', T, async () => {
  await fx.ensure();
  const r = await rawExchange(tlsPort, 'GET /api/v4/echo HTTP/1.1\r\nHost: localhost\r\n\r\n', { timeoutMs: 5000 * SCALE });
  assert.ok(r.closed, `connection not closed; got ${JSON.stringify(r.text.slice(0, 300))}`);
  assert.equal(r.responses.length, 1, `responses: ${JSON.stringify(r.text.slice(0, 400))}`);
  assertGatewayError(r.responses[0], 400, 'invalid_request', 'plain HTTP on the TLS port');
  const r2 = await rawExchange(tlsPort, 'POST /api/v4/echo?plain-on-tls HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc', { timeoutMs: 5000 * SCALE });
  assert.ok(r2.closed);
  assert.equal(r2.responses[0] && r2.responses[0].status, 400);
  const st = await api.stats();
  assert.ok(!st.urls.includes('/api/v4/echo?plain-on-tls'), 'a plain request on the TLS port reached the upstream');
});

test('clients that reset or close mid-handshake (half a ClientHello, a full one) leave the gateway healthy', T, async () => {
  const gw = await fx.ensure();
  const hello = await clientHelloBytes();
  assert.ok(hello.length > 100 && hello[0] === 0x16, `captured ClientHello: ${hello.length} bytes`);
  const half = hello.subarray(0, Math.floor(hello.length / 2));
  for (let i = 0; i < 30; i++) {
    const c = await RawConn.connect(tlsPort);
    await c.write(i % 3 === 2 ? hello : half);
    if (i % 3 === 2) await c.waitFor((x) => x.data.length > 0, 2000 * SCALE); // the server's first flight
    if (i % 2 === 0) c.sock.resetAndDestroy(); else c.destroy();
  }
  await sleep(200);
  assert.ok(!gw.exited(), `gateway exited: ${gw.stderr().slice(-2000)}`);
  const r = await get('/api/v4/echo?after-resets');
  assert.equal(r.status, 200);
  assert.equal(await getStatus(gw.adminPort, '/healthz'), 200);
});

test('handshake timeout: a TCP connection to the TLS port that sends nothing is closed after header_timeout', T, async () => {
  await fx.ensure();
  const c = await RawConn.connect(tlsPort);
  const t0 = Date.now();
  try {
    const closed = await c.waitClose(HEADER_TIMEOUT_MS + 4000 * SCALE);
    const dt = Date.now() - t0;
    assert.ok(closed, `still open after ${dt} ms (header_timeout = ${HEADER_TIMEOUT_MS} ms)`);
    assert.ok(dt >= HEADER_TIMEOUT_MS * 0.7, `closed after ${dt} ms, before header_timeout`);
  } finally { c.destroy(); }
});

test('handshake timeout: half a ClientHello, then silence, is closed after header_timeout', T, async () => {
  await fx.ensure();
  const hello = await clientHelloBytes();
  const c = await RawConn.connect(tlsPort);
  const t0 = Date.now();
  try {
    await c.write(hello.subarray(0, 40));
    const closed = await c.waitClose(HEADER_TIMEOUT_MS + 4000 * SCALE);
    const dt = Date.now() - t0;
    assert.ok(closed, `still open after ${dt} ms`);
    assert.ok(dt >= HEADER_TIMEOUT_MS * 0.7, `closed after ${dt} ms, before header_timeout`);
  } finally { c.destroy(); }
});

test('header_timeout after the handshake: a TLS connection that never sends a request head is closed', T, async () => {
  await fx.ensure();
  const tls = require('node:tls');
  const outcome = await new Promise((resolve) => {
    const t0 = Date.now();
    let secureAt = 0;
    const s = tls.connect({ host: HOST, port: tlsPort, servername: 'localhost', ca: certs.ca.pem });
    const timer = setTimeout(() => { s.destroy(); resolve({ closed: false, dt: Date.now() - t0 }); }, HEADER_TIMEOUT_MS + 5000 * SCALE);
    let data = '';
    s.on('secureConnect', () => { secureAt = Date.now(); });
    s.on('data', (d) => { data += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve({ closed: true, dt: Date.now() - t0, secure: secureAt > 0, data }); });
  });
  assert.ok(outcome.secure, 'handshake did not complete');
  assert.ok(outcome.closed, `still open after ${outcome.dt} ms`);
  if (outcome.data) assert.match(outcome.data, /^HTTP\/1\.1 408 /, `answer before close: ${JSON.stringify(outcome.data.slice(0, 200))}`);
});

// ---------------------------------------------------------------- upstreams

test('https upstream verified against ca_file: 200, SNI localhost and ALPN http/1.1 sent', T, async () => {
  const gw = await fx.ensure();
  const r = await request(gw.port, { path: '/good/echo?verified' });
  assert.equal(r.status, 200, r.text().slice(0, 300));
  const e = r.json();
  assert.equal(e.upstream, 'good');
  assert.equal(e.url, '/good/echo?verified');
  assert.equal(e.sni, 'localhost', 'SNI sent to the upstream');
  assert.equal(e.alpn, 'http/1.1', 'ALPN offered to the upstream');
});

test('TLS on both sides: a 5 MB upload through the TLS listener to an https upstream arrives intact', T, async () => {
  await fx.ensure();
  const body = bigPattern(5 * 1024 * 1024);
  const r = await get('/good/echo?both-sides', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' }, timeoutMs: 20000 * SCALE });
  assert.equal(r.status, 200, r.text().slice(0, 300));
  const e = r.json();
  assert.equal(e.bodyLength, body.length);
  assert.equal(e.bodySha256, sha256(body));
});

test('TLS on both sides: a 2 MB response from an https upstream through the TLS listener arrives intact', T, async () => {
  await fx.ensure();
  const n = 2 * 1024 * 1024;
  const r = await get(`/good/big?bytes=${n}`, { timeoutMs: 20000 * SCALE });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, n);
  assert.equal(sha256(r.body), sha256(bigPattern(n)));
});

test('https upstream by IP literal is verified against the IP SAN: 200, no SNI sent', T, async () => {
  const gw = await fx.ensure();
  const r = await request(gw.port, { path: '/goodip/echo' });
  assert.equal(r.status, 200, r.text().slice(0, 300));
  assert.equal(r.json().sni, null, 'an IP literal is not sent as SNI (RFC 6066 §3)');
});

test('pooled TLS upstream connection is reused: 6 sequential requests, 1 TLS connection at the upstream', T, async () => {
  const gw = await fx.ensure();
  // Let earlier pooled connections go idle and away first would take too long:
  // count the handshakes that these requests cause instead.
  const before0 = good.connections;
  const conns = new Set();
  for (let i = 0; i < 6; i++) {
    const r = await request(gw.port, { path: `/good/echo?pool=${i}` });
    assert.equal(r.status, 200);
    conns.add(r.json().conn);
  }
  const made = good.connections - before0;
  assert.ok(made <= 1, `${made} new TLS connections for 6 sequential requests (upstream connection ids ${[...conns]})`);
  assert.equal(conns.size, 1, `requests spread over upstream connections ${[...conns]}`);
});

async function refused(prefix, reason, up) {
  const gw = await fx.ensure();
  const errs0 = up ? up.tlsErrors.length : 0;
  const reqs0 = up ? up.requests : 0;
  const len0 = gw.stderr().length;
  const r = await request(gw.port, { path: `${prefix}/echo?refused` });
  const body = assertGatewayError(r, 502, 'bad_gateway', prefix);
  assert.match(body.error_description, reason, `error_description: ${body.error_description}`);
  const logged = await waitStderr(gw, reason, len0);
  assert.ok(logged, `reason not in the log; stderr tail:\n${gw.stderr().slice(-1500)}`);
  if (up) {
    assert.equal(up.requests, reqs0, 'the request reached the upstream');
    await up.waitFor(() => up.tlsErrors.length > errs0, 2000 * SCALE);
  }
}

test('https upstream with a certificate for another host name: 502 bad_gateway, reason "hostname mismatch" logged', T,
  () => refused('/wronghost', /hostname mismatch/i, wrongUp));
test('https upstream by IP literal whose certificate lacks that IP: 502 bad_gateway (IP mismatch)', T,
  () => refused('/wronghostip', /IP address mismatch|mismatch/i, wrongUp));
test('https upstream with an expired certificate: 502 bad_gateway, reason "certificate has expired" logged', T,
  () => refused('/expired', /expired/i, expiredUp));
test('https upstream signed by another CA: 502 bad_gateway, reason "unable to get local issuer certificate" logged', T,
  () => refused('/otherca', /unable to get local issuer certificate/i, otherUp));
test('https upstream without ca_file is checked against the system store (the test CA is not in it): 502', T,
  () => refused('/sysstore', /unable to get local issuer certificate|self.signed/i, null));

test('after refused upstream handshakes, the verified https upstream still answers 200', T, async () => {
  const gw = await fx.ensure();
  const r = await request(gw.port, { path: '/good/echo?still' });
  assert.equal(r.status, 200);
});

test('mTLS: the gateway presents client_cert to an https upstream that requires one: 200, the upstream sees CN gateway-client', T, async () => {
  const gw = await fx.ensure();
  const r = await request(gw.port, { path: '/mtls/echo?client-cert' });
  assert.equal(r.status, 200, r.text().slice(0, 400));
  const e = r.json();
  assert.equal(e.upstream, 'mtls');
  assert.equal(e.clientCN, 'gateway-client');
  assert.equal(e.authorized, true);
});

test('mTLS: without client_cert the upstream that requires one refuses the handshake: 502 bad_gateway', T, async () => {
  const gw = await fx.ensure();
  const reqs0 = mtlsUp.requests;
  const r = await request(gw.port, { path: '/mtlsnocert/echo' });
  assertGatewayError(r, 502, 'bad_gateway', 'mTLS upstream without a client certificate');
  assert.equal(mtlsUp.requests, reqs0);
});

// ---------------------------------------------------------------- JWKS over https

const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
const K1 = makeKey('p256', 'tls-k1');
const K2 = makeKey('p256', 'tls-k2');
let seq = 0;
const token = (key) => sign({ alg: 'ES256', key, claims: claims({ iss: ISS, aud: AUD, jti: `tls-${process.pid}-${++seq}` }) });

async function jwksGateway(jwksUrl, issuerExtra = {}) {
  const lines = ['[resource]', `identifier = ${AUD}`, `authorization_servers = ${ISS}`, '', '[issuer:login]', `iss = ${ISS}`,
    `jwks_uri = ${jwksUrl}`, 'algorithms = ES256', 'refresh_interval = 1h'];
  for (const [k, v] of Object.entries(issuerExtra)) lines.push(`${k} = ${v}`);
  const gw = await startGateway({
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url, response_timeout: '10s' }],
    policyFile: null, // no policy: every route under /api/v4 needs a valid token
    extra: lines.join('\n') + '\n',
  });
  gateways.add(gw);
  return gw;
}

async function waitReadyz(gw, want, timeoutMs = 10000 * SCALE) {
  const deadline = Date.now() + timeoutMs;
  let st = 0;
  for (let i = 0; i < 10000 && Date.now() < deadline; i++) {
    st = await getStatus(gw.adminPort, '/readyz');
    if (st === want) return st;
    await sleep(50);
  }
  return st;
}

async function stopGw(gw) { await gw.stop(); gateways.delete(gw); }

test('JWKS over https verified with ca_file: keys fetched, /readyz 200, a token is accepted', T, async () => {
  const js = await startHttpsJwks({ cert: certs.server.pem, key: certs.server.keyPem, doc: jwks(K1) });
  servers.push(js);
  const gw = await jwksGateway(js.url, { ca_file: certs.ca.crt });
  try {
    assert.equal(await waitReadyz(gw, 200), 200, `not ready; stderr:\n${gw.stderr().slice(-2000)}`);
    assert.ok(js.fetches >= 1, 'no fetch reached the https JWKS server');
    const r = await request(gw.port, { path: '/api/v4/echo?jwks-https', headers: { Authorization: `Bearer ${token(K1)}` } });
    assert.equal(r.status, 200, r.text().slice(0, 300));
    assert.equal(r.headers['x-upstream-name'], 'api');
    const no = await request(gw.port, { path: '/api/v4/echo' });
    assert.equal(no.status, 401, 'a request without a token is still refused');
  } finally { await stopGw(gw); await js.stop(); }
});

test('JWKS over https with a certificate for another host: the fetch fails, /readyz stays 503, tokens get 503, the reason is logged', T, async () => {
  const js = await startHttpsJwks({ cert: certs.wrongHost.pem, key: certs.wrongHost.keyPem, doc: jwks(K1) });
  servers.push(js);
  const gw = await jwksGateway(js.url, { ca_file: certs.ca.crt });
  try {
    const tried = await js.waitFor(() => js.tlsErrors.length > 0, 5000 * SCALE);
    assert.ok(tried, 'the gateway never tried the https JWKS server');
    await sleep(500);
    assert.equal(await getStatus(gw.adminPort, '/readyz'), 503, '/readyz with no key set');
    assert.equal(js.fetches, 0, 'an HTTP request was sent over an unverified connection');
    const r = await request(gw.port, { path: '/api/v4/echo', headers: { Authorization: `Bearer ${token(K1)}` } });
    assert.equal(r.status, 503, r.text().slice(0, 300));
    assert.ok(r.headers['retry-after'], 'Retry-After on 503');
    const logged = await waitStderr(gw, /hostname mismatch/i);
    assert.ok(logged, `reason not logged; stderr:\n${gw.stderr().slice(-2000)}`);
  } finally { await stopGw(gw); await js.stop(); }
});

test('JWKS over https without ca_file (system store, the test CA is not in it): the fetch fails, /readyz stays 503', T, async () => {
  const js = await startHttpsJwks({ cert: certs.server.pem, key: certs.server.keyPem, doc: jwks(K1) });
  servers.push(js);
  const gw = await jwksGateway(js.url);
  try {
    const tried = await js.waitFor(() => js.tlsErrors.length > 0, 5000 * SCALE);
    assert.ok(tried, 'the gateway never tried the https JWKS server');
    await sleep(300);
    assert.equal(await getStatus(gw.adminPort, '/readyz'), 503);
    assert.equal(js.fetches, 0);
  } finally { await stopGw(gw); await js.stop(); }
});

test('JWKS over https: with keys loaded, a refetch that fails verification keeps the old keys working', T, async () => {
  const js = await startHttpsJwks({ cert: certs.server.pem, key: certs.server.keyPem, doc: jwks(K1) });
  servers.push(js);
  const gw = await jwksGateway(js.url, { ca_file: certs.ca.crt });
  try {
    assert.equal(await waitReadyz(gw, 200), 200, `not ready; stderr:\n${gw.stderr().slice(-2000)}`);
    const ok1 = await request(gw.port, { path: '/api/v4/echo?k1', headers: { Authorization: `Bearer ${token(K1)}` } });
    assert.equal(ok1.status, 200);
    // The server now presents a certificate for another host, with a new key set.
    js.setCert({ cert: certs.wrongHost.pem, key: certs.wrongHost.keyPem });
    js.setKeys(jwks(K1, K2));
    const fetches0 = js.fetches;
    const errs0 = js.tlsErrors.length;
    // An unknown kid triggers a refetch; it fails verification.
    const unknown = await request(gw.port, { path: '/api/v4/echo?k2', headers: { Authorization: `Bearer ${token(K2)}` }, timeoutMs: 20000 * SCALE });
    assert.equal(unknown.status, 401, `token of a key behind the failed fetch: ${unknown.status} ${unknown.text().slice(0, 200)}`);
    const tried = await js.waitFor(() => js.tlsErrors.length > errs0, 5000 * SCALE);
    assert.ok(tried, 'no refetch was attempted on the unknown kid');
    assert.equal(js.fetches, fetches0, 'an HTTP request was sent over an unverified connection');
    const ok2 = await request(gw.port, { path: '/api/v4/echo?k1-again', headers: { Authorization: `Bearer ${token(K1)}` } });
    assert.equal(ok2.status, 200, `old key after a failed fetch: ${ok2.status} ${ok2.text().slice(0, 200)}`);
    assert.equal(await getStatus(gw.adminPort, '/readyz'), 200, '/readyz after a failed refetch');
  } finally { await stopGw(gw); await js.stop(); }
});

// ---------------------------------------------------------------- SIGHUP

let rot = null; // {gw, dir, crt, key, port}

async function rotGateway() {
  if (rot && !rot.gw.exited()) return rot;
  const d = tmpDir();
  const crt = path.join(d, 'tls.crt');
  const key = path.join(d, 'tls.key');
  fs.copyFileSync(certs.server.crt, crt);
  fs.copyFileSync(certs.server.key, key);
  const port = await freePort();
  const gw = await startGateway({
    dir: d,
    server: { tls_listen: `${HOST}:${port}`, tls_cert: 'tls.crt', tls_key: 'tls.key', idle_timeout: '30s' },
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
  });
  gateways.add(gw);
  rot = { gw, dir: d, crt, key, port };
  return rot;
}

// Replaces a file atomically (write + rename), as a deploy tool would.
function replaceFile(dst, content) {
  const tmp = `${dst}.new`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, dst);
}

async function hup(gw, okRe) {
  const len0 = gw.stderr().length;
  gw.child.kill('SIGHUP');
  const m = await waitStderr(gw, /SIGHUP: (configuration reloaded|reload of .* failed)/, len0);
  assert.ok(m, `no reload outcome logged; stderr:\n${gw.stderr().slice(-2000)}`);
  await sleep(100 * SCALE); // workers pick up the new snapshot
  return { ok: /reloaded/.test(m[1]), log: gw.stderr().slice(len0) };
}

test('SIGHUP certificate rotation: a new client sees the new certificate while a keep-alive connection opened before keeps working', T, async () => {
  const { gw, crt, key, port } = await rotGateway();
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.ca.pem });
  try {
    const r1 = await httpsRequest(port, { ca: certs.ca.pem, path: '/api/v4/echo?old-1', agent });
    assert.equal(r1.status, 200);
    assert.equal(normSerial(r1.tls.serial), certs.server.serial, 'the first certificate');
    replaceFile(crt, fs.readFileSync(certs.server2.crt));
    replaceFile(key, fs.readFileSync(certs.server2.key));
    const h = await hup(gw);
    assert.ok(h.ok, `reload failed:\n${h.log}`);
    const fresh = await handshake(port, { ca: certs.ca.pem });
    assert.ok(fresh.ok, String(fresh.error));
    assert.equal(normSerial(fresh.serial), certs.server2.serial, `a new client after SIGHUP sees serial ${fresh.serial}`);
    const rNew = await httpsRequest(port, { ca: certs.ca.pem, path: '/api/v4/echo?new' });
    assert.equal(rNew.status, 200);
    assert.equal(normSerial(rNew.tls.serial), certs.server2.serial);
    const r2 = await httpsRequest(port, { ca: certs.ca.pem, path: '/api/v4/echo?old-2', agent });
    assert.equal(r2.status, 200, 'the old keep-alive connection after the rotation');
    assert.ok(r2.reused, 'the old keep-alive connection was closed by the rotation');
    assert.equal(r2.tls.sock, r1.tls.sock);
    assert.equal(normSerial(r2.tls.serial), certs.server.serial, 'the old connection still has the old certificate');
  } finally { agent.destroy(); }
});

// lineKeys: the config keys ("server.tls_cert") whose line the error may name.
async function brokenCertCase(write, lineKeys, reason) {
  const { gw, crt, key, port } = await rotGateway();
  const before0 = await handshake(port, { ca: certs.ca.pem });
  assert.ok(before0.ok, String(before0.error));
  const saved = { crt: fs.readFileSync(crt), key: fs.readFileSync(key) };
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: certs.ca.pem });
  try {
    const r0 = await httpsRequest(port, { ca: certs.ca.pem, path: '/api/v4/echo?before-bad', agent });
    assert.equal(r0.status, 200);
    write({ crt, key });
    const h = await hup(gw);
    assert.equal(h.ok, false, `the reload with a broken certificate succeeded:\n${h.log}`);
    assert.match(h.log, reason, `reason in the log:\n${h.log}`);
    const after0 = await handshake(port, { ca: certs.ca.pem });
    assert.ok(after0.ok, `handshake after the failed reload: ${after0.error}`);
    assert.equal(normSerial(after0.serial), normSerial(before0.serial), 'the old certificate keeps serving');
    const r1 = await httpsRequest(port, { ca: certs.ca.pem, path: '/api/v4/echo?after-bad' });
    assert.equal(r1.status, 200);
    const r2 = await httpsRequest(port, { ca: certs.ca.pem, path: '/api/v4/echo?after-bad-ka', agent });
    assert.equal(r2.status, 200);
    assert.ok(r2.reused, 'the keep-alive connection survived the failed reload');
    // Last, so that a failure here says only this: the error names the
    // config file and the line of the key whose file is bad.
    const want = lineKeys.map((k) => `${gw.configPath}:${gw.where[k]}:`);
    assert.ok(want.some((w) => h.log.includes(w)), `log does not say FILE:LINE (${want.join(' or ')}: the line of ${lineKeys.join(' or ')}):\n${h.log}`);
  } finally {
    agent.destroy();
    replaceFile(crt, saved.crt);
    replaceFile(key, saved.key);
  }
}

test('SIGHUP with a garbage new certificate: the reload fails with FILE:LINE in the log and the old certificate keeps serving', T,
  () => brokenCertCase(({ crt }) => replaceFile(crt, '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n'),
    ['server.tls_cert'], /tls_cert/));

test('SIGHUP with a new certificate that does not match the key: the reload fails with FILE:LINE in the log and the old certificate keeps serving', T,
  () => brokenCertCase(({ crt }) => replaceFile(crt, fs.readFileSync(certs.otherCa.crt)),
    ['server.tls_cert', 'server.tls_key'], /does not match|key values mismatch/i));

test('SIGHUP with the certificate file removed: the reload fails with FILE:LINE in the log and the old certificate keeps serving', T,
  () => brokenCertCase(({ crt }) => fs.rmSync(crt), ['server.tls_cert'], /tls_cert/));

// `gateway -t`: a TLS file that cannot be loaded is a configuration error at
// the line of the key that names it (SPEC: every error as FILE:LINE: message).
function checkConfig(server, upstreams) {
  const d = tmpDir();
  const { text, where } = configText({ port: 1, adminPort: 2, server, upstreams, policyFile: path.join(d, 'p.ini') });
  fs.writeFileSync(path.join(d, 'p.ini'), '[* /**]\nauth = none\n');
  const cfg = path.join(d, 'gateway.ini');
  fs.writeFileSync(cfg, text);
  return { r: runGatewaySync(['-t', '-c', cfg]), cfg, where };
}

test('gateway -t with a tls_cert file that does not exist: exit 1, FILE:LINE of tls_cert', T, async () => {
  const { r, cfg, where } = checkConfig({ tls_listen: `${HOST}:3`, tls_cert: path.join(dir, 'missing.crt'), tls_key: certs.server.key }, []);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 1, out);
  assert.match(out, /missing\.crt/, out);
  assert.ok(out.includes(`${cfg}:${where['server.tls_cert']}:`), `no ${cfg}:${where['server.tls_cert']}: in:\n${out}`);
});

test('gateway -t with an upstream ca_file that does not exist: exit 1, FILE:LINE in that [upstream] section', T, async () => {
  const { r, cfg, where } = checkConfig({}, [{ name: 'x', prefix: '/x', url: 'https://localhost:1', ca_file: path.join(dir, 'missing-ca.pem') }]);
  const out = r.stdout + r.stderr;
  assert.equal(r.code, 1, out);
  assert.match(out, /missing-ca\.pem/, out);
  const lines = [where['upstream:x'], where['upstream:x.ca_file']];
  assert.ok(lines.some((l) => out.includes(`${cfg}:${l}:`)), `no ${cfg}:${lines.join('|')}: in:\n${out}`);
});

test('the gateways stayed up through this file (no crash)', T, async () => {
  const gw = await fx.ensure();
  assert.deepEqual(fx.crashes, [], `gateway crashed: ${JSON.stringify(fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
  if (rot) assert.ok(!rot.gw.exited(), `rotation gateway exited: ${rot.gw.stderr().slice(-2000)}`);
});
