'use strict';
// Forwarding through the gateway: what the upstream receives (method, path,
// query, headers, body, rebuilt framing), header rules (hop-by-hop, X-Forwarded-*,
// Host, Authorization), bodiless responses, 100-continue, keep-alive and
// pooling, pipelining, and the gateway's own 502/504/413 answers.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const {
  SCALE, sleep, request, RawConn, parseResponses, assertGatewayError, rawValues,
} = require('./lib/wire');
const { startUpstream, GatewayFixture, freePort } = require('./lib/procs');
const { startRawUpstream } = require('./lib/rawupstream');

let api; let mcp; let short; let raw; let flaky; let dropper; let garbage; let closedPort;
const fx = new GatewayFixture(() => ({
  upstreams: [
    { name: 'api', prefix: '/api/v4', url: api.url },
    { name: 'mcp', prefix: '/mcp', url: mcp.url },
    { name: 'down', prefix: '/down', url: `http://127.0.0.1:${closedPort}` },
    { name: 'limited', prefix: '/limited', url: api.url, max_body: '1k' },
    { name: 'short', prefix: '/short', url: short.url },
    { name: 'raw', prefix: '/raw', url: raw.url },
    { name: 'flaky', prefix: '/flaky', url: flaky.url },
    { name: 'dropper', prefix: '/dropper', url: dropper.url },
    { name: 'garbage', prefix: '/garbage', url: garbage.url },
  ],
}));
const T = { timeout: 30000 * SCALE };

before(async () => {
  api = await startUpstream({ name: 'api' });
  mcp = await startUpstream({ name: 'mcp' });
  short = await startUpstream({ name: 'short', keepAliveTimeout: 300 });
  raw = await startRawUpstream({ mode: 'ok' });
  flaky = await startRawUpstream({ mode: 'drop-second' });
  dropper = await startRawUpstream({ mode: 'drop' });
  garbage = await startRawUpstream({ mode: 'garbage' });
  closedPort = await freePort();
  await fx.ensure();
});

after(async () => {
  await fx.stop();
  for (const u of [api, mcp, short, raw, flaky, dropper, garbage]) if (u) await u.stop();
});

function echoOf(res) {
  assert.equal(res.status, 200, `status; body: ${res.body.toString('utf8').slice(0, 300)}`);
  return res.json();
}

test('GET: method, path and query string reach the upstream unchanged', T, async () => {
  const gw = await fx.ensure();
  const path = '/api/v4/echo/a/b-c?x=1&y=%20z&x=2&empty=';
  const e = echoOf(await request(gw.port, { path }));
  assert.equal(e.upstream, 'api');
  assert.equal(e.method, 'GET');
  assert.equal(e.url, path);
  assert.equal(e.httpVersion, '1.1');
});

test('POST, PUT, PATCH, DELETE and OPTIONS pass with their bodies intact', T, async () => {
  const gw = await fx.ensure();
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    const body = Buffer.from(`payload for ${method} \u00e9\u0000\u00ff`, 'utf8');
    const e = echoOf(await request(gw.port, { method, path: `/api/v4/echo?m=${method}`, body, headers: { 'Content-Type': 'application/octet-stream' } }));
    assert.equal(e.method, method);
    assert.equal(e.url, `/api/v4/echo?m=${method}`);
    assert.equal(e.bodyLength, body.length, `${method} body length`);
    assert.equal(e.bodySha256, require('node:crypto').createHash('sha256').update(body).digest('hex'), `${method} body sha256`);
    assert.equal(e.headers['content-type'], 'application/octet-stream');
  }
});

test('end-to-end request headers reach the upstream, repeated headers keep every value', T, async () => {
  const gw = await fx.ensure();
  const e = echoOf(await request(gw.port, {
    path: '/api/v4/echo',
    headers: { 'X-Custom': 'abc def', 'X-Multi': ['one', 'two'], Accept: 'application/json', 'User-Agent': 'it-test/1' },
  }));
  assert.deepEqual(rawValues(e.rawHeaders, 'x-custom'), ['abc def']);
  assert.deepEqual(rawValues(e.rawHeaders, 'x-multi').join(',').split(',').map((s) => s.trim()), ['one', 'two']);
  assert.deepEqual(rawValues(e.rawHeaders, 'accept'), ['application/json']);
  assert.deepEqual(rawValues(e.rawHeaders, 'user-agent'), ['it-test/1']);
});

function decodeRawBody(reqBuf) {
  const he = reqBuf.indexOf('\r\n\r\n');
  const head = reqBuf.subarray(0, he).toString('latin1');
  let p = he + 4;
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
    const parts = [];
    for (let g = 0; g < 10000; g++) {
      const le = reqBuf.indexOf('\r\n', p);
      const size = parseInt(reqBuf.subarray(p, le).toString('latin1').split(';')[0], 16);
      if (!size) break;
      parts.push(reqBuf.subarray(le + 2, le + 2 + size));
      p = le + 2 + size + 2;
    }
    return { head, body: Buffer.concat(parts) };
  }
  return { head, body: reqBuf.subarray(p) };
}

test('request is rebuilt for the upstream: CRLF head, chunk extensions not copied, body intact', T, async () => {
  const gw = await fx.ensure();
  const before_ = raw.requests().length;
  const c = await RawConn.connect(gw.port);
  try {
    await c.write('POST /raw/rebuilt?q=1 HTTP/1.1\r\nHost: rebuild.example\r\nTransfer-Encoding: chunked\r\n'
      + 'X-Token-Ext: keep\r\n\r\n5;ext=secret-ext\r\nhello\r\n6;name="q"\r\n world\r\n0\r\n\r\n');
    const rs = await c.waitResponses(1, 5000 * SCALE);
    assert.equal(rs.length >= 1 && rs[0].status, 200, `client got: ${JSON.stringify(c.text().slice(0, 300))}`);
  } finally { c.destroy(); }
  const reqs = raw.requests().slice(before_);
  assert.equal(reqs.length, 1, 'upstream saw exactly one request');
  const bytes = reqs[0].raw;
  const { head, body } = decodeRawBody(bytes);
  assert.match(head, /^POST \/raw\/rebuilt\?q=1 HTTP\/1\.1\r\n/);
  assert.ok(!/(^|[^\r])\n/.test(head) && !/\r(?!\n)/.test(head), `every head line ends with CRLF: ${JSON.stringify(head)}`);
  assert.ok(!bytes.toString('latin1').includes('secret-ext'), 'chunk extension was copied through: raw bytes forwarded');
  assert.ok(/\r\nx-token-ext: keep(\r\n|$)/i.test(head), 'X-Token-Ext forwarded');
  assert.ok(/\r\nx-forwarded-for:/i.test(head), 'X-Forwarded-For added: request rebuilt');
  assert.equal(body.toString('latin1'), 'hello world');
});

test('hop-by-hop request headers are removed: Connection and the headers it names, Keep-Alive, TE, Trailer, Upgrade, Proxy-*', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  let e;
  try {
    await c.write('GET /api/v4/echo?hop=1 HTTP/1.1\r\nHost: t\r\n'
      + 'Connection: close, X-Secret\r\nX-Secret: must-not-pass\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\n'
      + 'Trailer: X-Trail\r\nUpgrade: h2c\r\nProxy-Authorization: Basic cHJveHk6c2VjcmV0\r\n'
      + 'Proxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n');
    const rs = await c.waitResponses(1, 5000 * SCALE);
    assert.equal(rs.length, 1, `no response: ${JSON.stringify(c.text().slice(0, 300))}`);
    e = echoOf({ status: rs[0].status, body: rs[0].body, json: () => rs[0].json() });
  } finally { c.destroy(); }
  const names = [];
  for (let i = 0; i < e.rawHeaders.length; i += 2) names.push(e.rawHeaders[i].toLowerCase());
  for (const h of ['x-secret', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-connection']) {
    assert.ok(!names.includes(h), `${h} reached the upstream: ${JSON.stringify(e.rawHeaders)}`);
  }
  for (const v of rawValues(e.rawHeaders, 'connection')) {
    assert.ok(!/x-secret/i.test(v), `Connection header forwarded as is: ${v}`);
  }
  assert.deepEqual(rawValues(e.rawHeaders, 'x-kept'), ['yes']);
});

test('hop-by-hop response headers from the upstream are removed, end-to-end ones kept', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { path: '/api/v4/hop' });
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-normal'], 'kept');
  assert.equal(res.headers['x-resp-secret'], undefined, 'header named by upstream Connection reached the client');
  assert.equal(res.headers['proxy-authenticate'], undefined, 'Proxy-Authenticate reached the client');
  assert.equal(res.headers['proxy-connection'], undefined, 'Proxy-Connection reached the client');
  assert.equal(res.headers.upgrade, undefined, 'Upgrade reached the client');
  assert.ok(!/max=999/.test(res.headers['keep-alive'] || ''), `upstream Keep-Alive passed through: ${res.headers['keep-alive']}`);
  assert.ok(!/x-resp-secret/i.test(res.headers.connection || ''), `upstream Connection passed through: ${res.headers.connection}`);
  assert.deepEqual(res.json(), { hop: true });
});

function listOf(values) { return values.join(',').split(',').map((s) => s.trim()).filter(Boolean); }

test('X-Forwarded-For: the client address is appended to an incoming value', T, async () => {
  const gw = await fx.ensure();
  const e = echoOf(await request(gw.port, { path: '/api/v4/echo', headers: { 'X-Forwarded-For': '203.0.113.7, 198.51.100.2' } }));
  assert.deepEqual(listOf(rawValues(e.rawHeaders, 'x-forwarded-for')), ['203.0.113.7', '198.51.100.2', '127.0.0.1']);
});

test('X-Forwarded-For lines with other headers between and after them: one list line, every other header intact', T, async () => {
  const gw = await fx.ensure();
  const before_ = raw.requests().length;
  const c = await RawConn.connect(gw.port);
  try {
    await c.write('GET /raw/xff HTTP/1.1\r\nHost: xff.example\r\nX-Forwarded-For: 203.0.113.7\r\nX-Between: one\r\n'
      + 'X-Forwarded-For: 198.51.100.2\r\nX-After: two\r\n\r\n');
    const rs = await c.waitResponses(1, 5000 * SCALE);
    assert.equal(rs.length >= 1 && rs[0].status, 200, `client got: ${JSON.stringify(c.text().slice(0, 300))}`);
  } finally { c.destroy(); }
  const reqs = raw.requests().slice(before_);
  assert.equal(reqs.length, 1, 'upstream saw exactly one request');
  const head = reqs[0].raw.toString('latin1').split('\r\n\r\n')[0];
  const lines = head.split('\r\n');
  const xff = lines.filter((l) => /^x-forwarded-for:/i.test(l));
  assert.deepEqual(xff, ['X-Forwarded-For: 203.0.113.7, 198.51.100.2, 127.0.0.1'], JSON.stringify(head));
  assert.ok(lines.includes('X-Between: one') && lines.includes('X-After: two'), `other headers kept whole: ${JSON.stringify(head)}`);
});

test('X-Forwarded-For is the client address when the client sent none', T, async () => {
  const gw = await fx.ensure();
  const e = echoOf(await request(gw.port, { path: '/api/v4/echo' }));
  assert.deepEqual(listOf(rawValues(e.rawHeaders, 'x-forwarded-for')), ['127.0.0.1']);
});

test('X-Forwarded-Proto and X-Forwarded-Host are replaced, not appended', T, async () => {
  const gw = await fx.ensure();
  const e = echoOf(await request(gw.port, {
    path: '/api/v4/echo',
    headers: { Host: 'public.example', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example' },
  }));
  assert.deepEqual(rawValues(e.rawHeaders, 'x-forwarded-proto'), ['http']);
  assert.deepEqual(rawValues(e.rawHeaders, 'x-forwarded-host'), ['public.example']);
});

test('X-Request-Id: a well-formed client id is kept; otherwise each request gets its own 32-hex id', T, async () => {
  const gw = await fx.ensure();
  const kept = echoOf(await request(gw.port, { path: '/api/v4/echo', headers: { 'X-Request-Id': 'abc-123.X:y_z' } }));
  assert.deepEqual(rawValues(kept.rawHeaders, 'x-request-id'), ['abc-123.X:y_z']);
  const ids = new Set();
  for (const sent of [undefined, undefined, 'bad id with spaces', 'x'.repeat(65)]) {
    const headers = sent === undefined ? {} : { 'X-Request-Id': sent };
    const got = rawValues(echoOf(await request(gw.port, { path: '/api/v4/echo', headers })).rawHeaders, 'x-request-id');
    assert.equal(got.length, 1, `one X-Request-Id, got ${JSON.stringify(got)}`);
    assert.match(got[0], /^[0-9a-f]{32}$/, 'a generated id replaces a missing or malformed one');
    ids.add(got[0]);
  }
  assert.equal(ids.size, 4, 'every generated id is new');
});

test('Host: the client\'s Host header is passed through', T, async () => {
  const gw = await fx.ensure();
  const e = echoOf(await request(gw.port, { path: '/api/v4/echo', headers: { Host: 'app.example:8080' } }));
  assert.deepEqual(rawValues(e.rawHeaders, 'host'), ['app.example:8080']);
});

test('Authorization is passed on unchanged', T, async () => {
  const gw = await fx.ensure();
  const auth = 'Basic dXNlcjpwYXNzd29yZA==';
  const e = echoOf(await request(gw.port, { path: '/api/v4/echo', headers: { Authorization: auth } }));
  assert.deepEqual(rawValues(e.rawHeaders, 'authorization'), [auth]);
});

// Sends one request on an open connection, waits for its head, checks that no
// body bytes follow within 300 ms, then proves the connection still works.
async function bodilessThenNext(gw, reqText, method, expectStatus) {
  const c = await RawConn.connect(gw.port);
  try {
    await c.write(reqText);
    const got = await c.waitFor((x) => x.data.indexOf('\r\n\r\n') >= 0, 5000 * SCALE);
    assert.ok(got, `no response head; got ${JSON.stringify(c.text().slice(0, 300))}`);
    await sleep(300);
    const p = parseResponses(c.data, { methods: [method] });
    assert.equal(p.responses.length, 1);
    const r = p.responses[0];
    assert.equal(r.status, expectStatus);
    assert.equal(p.rest.length, 0, `bytes after a bodiless ${expectStatus} response: ${JSON.stringify(p.rest.toString('latin1').slice(0, 200))}`);
    assert.ok(!c.closed, 'connection closed after a bodiless response');
    await c.write('GET /api/v4/echo?after=bodiless HTTP/1.1\r\nHost: t\r\n\r\n');
    const rs = await c.waitResponses(2, 5000 * SCALE, [method, 'GET']);
    assert.equal(rs.length, 2, `second response missing; got ${JSON.stringify(c.text().slice(0, 500))}`);
    assert.equal(rs[1].status, 200);
    assert.equal(rs[1].json().url, '/api/v4/echo?after=bodiless');
    return r;
  } finally { c.destroy(); }
}

test('HEAD: response headers (Content-Length) without a body, connection stays usable', T, async () => {
  const gw = await fx.ensure();
  const r = await bodilessThenNext(gw, 'HEAD /api/v4/head HTTP/1.1\r\nHost: t\r\n\r\n', 'HEAD', 200);
  assert.equal(r.headers['x-head-test'], 'yes');
  assert.equal(r.headers['content-length'], '1234');
});

test('204 No Content: no body, connection stays usable', T, async () => {
  const gw = await fx.ensure();
  await bodilessThenNext(gw, 'GET /api/v4/status/204 HTTP/1.1\r\nHost: t\r\n\r\n', 'GET', 204);
});

test('304 Not Modified: no body, connection stays usable', T, async () => {
  const gw = await fx.ensure();
  const r = await bodilessThenNext(gw, 'GET /api/v4/status/304 HTTP/1.1\r\nHost: t\r\nIf-None-Match: "v1"\r\n\r\n', 'GET', 304);
  assert.equal(r.headers.etag, '"v1"');
});

test('Expect: 100-continue: the upstream\'s 100 Continue is relayed before the body is sent, then 200', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    await c.write('POST /api/v4/echo?expect=1 HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n');
    const got100 = await c.waitFor((x) => /^HTTP\/1\.1 100 /.test(x.text()), 5000 * SCALE);
    assert.ok(got100, `no 100 Continue before the body; got ${JSON.stringify(c.text().slice(0, 300))}`);
    assert.ok(!/HTTP\/1\.1 [2-5]\d\d /.test(c.text()), 'final response before the body was sent');
    await c.write('hello world');
    const rs = await c.waitResponses(1, 5000 * SCALE, ['POST']);
    assert.equal(rs.length, 1, `no final response; got ${JSON.stringify(c.text().slice(0, 300))}`);
    assert.equal(rs[0].status, 200);
    const e = rs[0].json();
    assert.equal(e.bodyLength, 11);
    assert.deepEqual(rawValues(e.rawHeaders, 'expect'), ['100-continue'], 'Expect forwarded to the upstream');
  } finally { c.destroy(); }
});

test('keep-alive: 20 sequential requests on one client connection use one upstream connection', T, async () => {
  const gw = await fx.ensure();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const s0 = await api.stats();
    const conns = new Set();
    for (let i = 0; i < 20; i++) {
      const res = await request(gw.port, { path: `/api/v4/echo?ka=${i}`, agent });
      const e = echoOf(res);
      assert.equal(e.url, `/api/v4/echo?ka=${i}`);
      if (i > 0) assert.ok(res.reused, `request ${i} did not reuse the client connection`);
      conns.add(e.conn);
    }
    assert.equal(conns.size, 1, `upstream connections used: ${[...conns].join(',')}`);
    const s1 = await api.stats();
    assert.ok(s1.connections - s0.connections <= 1, `upstream saw ${s1.connections - s0.connections} new connections`);
  } finally { agent.destroy(); }
});

test('pipelining: 3 requests written at once get 3 responses in order', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    let payload = '';
    for (let i = 1; i <= 3; i++) payload += `GET /api/v4/echo?pipe=${i} HTTP/1.1\r\nHost: t\r\n\r\n`;
    await c.write(payload);
    const rs = await c.waitResponses(3, 8000 * SCALE);
    assert.equal(rs.length, 3, `got ${rs.length} responses: ${JSON.stringify(c.text().slice(0, 500))}`);
    for (let i = 0; i < 3; i++) {
      assert.equal(rs[i].status, 200);
      assert.equal(rs[i].json().url, `/api/v4/echo?pipe=${i + 1}`);
    }
  } finally { c.destroy(); }
});

test('pipelining: a POST with a body between two GETs is answered in order', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    const payload = 'GET /api/v4/echo?pp=1 HTTP/1.1\r\nHost: t\r\n\r\n'
      + 'POST /api/v4/echo?pp=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nabcde'
      + 'GET /api/v4/echo?pp=3 HTTP/1.1\r\nHost: t\r\n\r\n';
    await c.write(payload);
    const rs = await c.waitResponses(3, 8000 * SCALE);
    assert.equal(rs.length, 3, `got ${rs.length} responses`);
    assert.deepEqual(rs.map((r) => r.json().url), ['/api/v4/echo?pp=1', '/api/v4/echo?pp=2', '/api/v4/echo?pp=3']);
    assert.equal(rs[1].json().bodyLength, 5);
  } finally { c.destroy(); }
});

test('502 bad_gateway when the upstream port is closed', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { path: '/down/anything' });
  assertGatewayError(res, 502, 'bad_gateway');
});

test('502 bad_gateway when the upstream closes the connection without answering', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { method: 'POST', path: '/dropper/x', body: 'abc' });
  assertGatewayError(res, 502, 'bad_gateway');
  assert.ok(dropper.conns.length >= 1, 'the upstream was never contacted');
});

test('502 bad_gateway when the upstream answers with something that is not HTTP', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { path: '/garbage/x' });
  assertGatewayError(res, 502, 'bad_gateway');
  assert.ok(garbage.conns.length >= 1, 'the upstream was never contacted');
});

test('504 gateway_timeout when the upstream is slower than response_timeout (1s)', T, async () => {
  const gw = await fx.ensure();
  const t0 = Date.now();
  const res = await request(gw.port, { path: '/api/v4/delay?ms=4000' });
  const dt = Date.now() - t0;
  assertGatewayError(res, 504, 'gateway_timeout');
  assert.ok(dt >= 900, `504 after only ${dt} ms`);
  assert.ok(dt < 3900, `504 after ${dt} ms, response_timeout is 1s`);
});

test('upstream answering just under response_timeout is not cut (200)', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { path: '/api/v4/delay?ms=300' });
  assert.equal(res.status, 200);
  assert.equal(res.json().delayed, 300);
});

test('pooled connection closed by the upstream while idle: the next request succeeds on a new connection', T, async () => {
  const gw = await fx.ensure();
  const r1 = await request(gw.port, { path: '/short/echo?first' });
  const e1 = echoOf(r1);
  await sleep(600); // upstream keepAliveTimeout is 300 ms: it has closed the pooled connection
  const r2 = await request(gw.port, { path: '/short/echo?second' });
  const e2 = echoOf(r2);
  assert.notEqual(e2.conn, e1.conn, 'second request used a connection the upstream had closed?');
});

test('pooled connection that the upstream drops on the next request: idempotent GET retried on a fresh connection', T, async () => {
  const gw = await fx.ensure();
  const r1 = await request(gw.port, { path: '/flaky/one' });
  assert.equal(r1.status, 200);
  assert.equal(r1.json().conn, flaky.conns.length);
  const r2 = await request(gw.port, { path: '/flaky/two' });
  assert.equal(r2.status, 200, `retry did not happen: ${r2.status} ${r2.body.toString('utf8').slice(0, 200)}`);
  const j = r2.json();
  assert.equal(j.n, 1, 'answered as the first request of a fresh connection');
  assert.ok(flaky.conns.length >= 2, 'the upstream saw a second connection');
});

test('upstream that closes after its response (Connection: close): the next request still works', T, async () => {
  const gw = await fx.ensure();
  const r1 = await request(gw.port, { path: '/api/v4/close' });
  assert.equal(r1.status, 200);
  assert.deepEqual(r1.json(), { closing: true });
  const r2 = await request(gw.port, { path: '/api/v4/echo?after-close' });
  assert.equal(echoOf(r2).url, '/api/v4/echo?after-close');
});

test('413 payload_too_large when the body exceeds the upstream max_body (1k); the upstream never sees it', T, async () => {
  const gw = await fx.ensure();
  await api.reset();
  const res = await request(gw.port, { method: 'POST', path: '/limited/echo?big', body: Buffer.alloc(2048, 0x61) });
  assertGatewayError(res, 413, 'payload_too_large');
  await sleep(100);
  const st = await api.stats();
  assert.ok(!st.urls.some((u) => u.startsWith('/limited/echo?big')), `upstream saw ${JSON.stringify(st.urls)}`);
});

test('a body within max_body (1000 bytes of 1k) is forwarded', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { method: 'POST', path: '/limited/echo?small', body: Buffer.alloc(1000, 0x62) });
  assert.equal(echoOf(res).bodyLength, 1000);
});

test('the gateway process stayed up through this file (no crash)', T, async () => {
  const gw = await fx.ensure();
  assert.deepEqual(fx.crashes, [], `gateway crashed: ${JSON.stringify(fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
});
