'use strict';
// Request smuggling defences. Every vector is sent on a raw socket and must be
// answered 400 invalid_request with the connection closed; the upstream must
// never see the smuggled request (path /api/v4/smuggled), and for vectors
// that are wrong in the head it must see nothing at all (the gateway decides
// when the head is complete). Controls prove the same shapes, when valid,
// are served.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, rawExchange, RawConn, assertGatewayError } = require('./lib/wire');
const { startUpstream, GatewayFixture } = require('./lib/procs');

let api;
const fx = new GatewayFixture(() => ({ upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }] }));
const T = { timeout: 20000 * SCALE };

before(async () => {
  api = await startUpstream({ name: 'api' });
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  if (api) await api.stop();
});

const SMUGGLED = 'GET /api/v4/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';

async function expectRefused(payload, { headLevel = true } = {}) {
  const gw = await fx.ensure();
  await api.reset();
  const r = await rawExchange(gw.port, payload, { timeoutMs: 3000 * SCALE });
  assert.match(r.text, /^HTTP\/1\.1 400 /, `expected 400; got ${JSON.stringify(r.text.slice(0, 300))}`);
  assert.ok(r.responses.length >= 1);
  assertGatewayError(r.responses[0], 400, 'invalid_request');
  assert.equal(r.responses.length, 1, `more than one response: ${JSON.stringify(r.text.slice(0, 600))}`);
  assert.ok(r.closed, 'connection left open after the 400');
  await sleep(150);
  const st = await api.stats();
  assert.ok(!st.urls.some((u) => u.includes('smuggled')), `upstream saw the smuggled request: ${JSON.stringify(st.urls)}`);
  if (headLevel) {
    assert.equal(st.requests, 0, `upstream saw a refused request: ${JSON.stringify(st.urls)}`);
  } else {
    assert.ok(st.requests <= 1, `upstream saw ${st.requests} requests: ${JSON.stringify(st.urls)}`);
  }
}

const post = (headers, rest = '') => `POST /api/v4/echo HTTP/1.1\r\nHost: x\r\n${headers}\r\n${rest}`;
const chunked = (body) => post('Transfer-Encoding: chunked\r\n', body);

// ---- framing headers ----
test('Content-Length together with Transfer-Encoding: chunked → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUGGLED}`)));

test('Transfer-Encoding: chunked before Content-Length → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', `0\r\n\r\n${SMUGGLED}`)));

test('two differing Content-Length headers → 400, close, nothing forwarded', T, () =>
  expectRefused(post(`Content-Length: 0\r\nContent-Length: ${SMUGGLED.length}\r\n`, SMUGGLED)));

test('Content-Length list "5, 6" → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Content-Length: 5, 6\r\n', `hello${SMUGGLED}`)));

test('Content-Length "+5" → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Content-Length: +5\r\n', `hello${SMUGGLED}`)));

test('Content-Length "-1" → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Content-Length: -1\r\n', SMUGGLED)));

test('Content-Length overflowing 64 bits (2^64+5) → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Content-Length: 18446744073709551621\r\n', `hello${SMUGGLED}`)));

test('Transfer-Encoding: gzip (not chunked) → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding: gzip\r\n', SMUGGLED)));

test('Transfer-Encoding: chunked, gzip (chunked not final) → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding: chunked, gzip\r\n', `0\r\n\r\n${SMUGGLED}`)));

test('Transfer-Encoding: identity → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding: identity\r\n', SMUGGLED)));

test('Transfer-Encoding: xchunked → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding: xchunked\r\n', `0\r\n\r\n${SMUGGLED}`)));

test('Transfer-Encoding: chunked, chunked (chunked twice) → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding: chunked, chunked\r\n', `0\r\n\r\n${SMUGGLED}`)));

test('two Transfer-Encoding headers "chunked" + "chunked" → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', `0\r\n\r\n${SMUGGLED}`)));

test('Transfer-Encoding with a vertical tab before chunked → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding: \x0bchunked\r\n', `0\r\n\r\n${SMUGGLED}`)));

test('Transfer-Encoding obs-folded onto a continuation line → 400, close, nothing forwarded', T, () =>
  expectRefused(post('Transfer-Encoding:\r\n chunked\r\n', `0\r\n\r\n${SMUGGLED}`)));

// ---- header syntax ----
test('obs-fold (header continuation line starting with SP) → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n b\r\n\r\n${SMUGGLED}`));

test('obs-fold with HTAB → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n\tb\r\n\r\n${SMUGGLED}`));

test('whitespace before the colon ("Host : x") → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost : x\r\n\r\n${SMUGGLED}`));

test('whitespace before the colon ("Transfer-Encoding : chunked" with Content-Length) → 400, close, nothing forwarded', T, () =>
  expectRefused(post(`Content-Length: ${5 + SMUGGLED.length}\r\nTransfer-Encoding : chunked\r\n`, `0\r\n\r\n${SMUGGLED}`)));

test('tab before the colon → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\r\nX-Tab\t: y\r\n\r\n${SMUGGLED}`));

test('NUL inside a header value → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\r\nX-Nul: a\x00b\r\n\r\n${SMUGGLED}`));

test('bare CR inside a header value → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\r\nX-Cr: a\rb\r\n\r\n${SMUGGLED}`));

test('bare LF inside a header line hiding a Content-Length (CVE-2023-30589) → 400, close, nothing forwarded', T, () =>
  expectRefused(`POST /api/v4/echo HTTP/1.1\r\nHost: x\r\nX-Lf: a\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}`));

test('head with bare LF line endings (CVE-2023-30589) → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\nHost: x\n\n${SMUGGLED}`));

test('head whose final empty line is a bare LF ("\\r\\n\\n") → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\r\n\n${SMUGGLED}`));

test('last header line ended by a bare LF before the final CRLF → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\n\r\n${SMUGGLED}`));

test('request line ended by a bare LF → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\nHost: x\r\n\r\n${SMUGGLED}`));

test('head ended by "\\r\\n\\rX" (CVE-2025-23167) → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\r\n\rX${SMUGGLED}`));

test('header name with a non-token character → 400, close, nothing forwarded', T, () =>
  expectRefused(`GET /api/v4/echo HTTP/1.1\r\nHost: x\r\nX(Bad): y\r\n\r\n${SMUGGLED}`));

// ---- chunked body: the head may have been forwarded, the rest never ----
test('chunk size overflowing 64 bits (0x10000000000000005) → 400, close, no smuggled request', T, () =>
  expectRefused(chunked(`10000000000000005\r\nhello\r\n0\r\n\r\n${SMUGGLED}`), { headLevel: false }));

test('negative chunk size "-5" → 400, close, no smuggled request', T, () =>
  expectRefused(chunked(`-5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`), { headLevel: false }));

test('chunk size "0x5" → 400, close, no smuggled request', T, () =>
  expectRefused(chunked(`0x5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`), { headLevel: false }));

test('chunk size with a leading space " 5" → 400, close, no smuggled request', T, () =>
  expectRefused(chunked(` 5\r\nhello\r\n0\r\n\r\n${SMUGGLED}`), { headLevel: false }));

test('non-hex chunk size "g" → 400, close, no smuggled request', T, () =>
  expectRefused(chunked(`g\r\nhello\r\n0\r\n\r\n${SMUGGLED}`), { headLevel: false }));

test('chunk size line ended by a bare LF → 400, close, no smuggled request', T, () =>
  expectRefused(chunked(`5\nhello\r\n0\r\n\r\n${SMUGGLED}`), { headLevel: false }));

test('chunk data not followed by CRLF → 400, close, no smuggled request', T, () =>
  expectRefused(chunked(`5\r\nhelloXX0\r\n\r\n${SMUGGLED}`), { headLevel: false }));

// ---- controls: the valid forms are served ----
async function expectServed(payload, urls) {
  const gw = await fx.ensure();
  await api.reset();
  const c = await RawConn.connect(gw.port);
  let rs;
  try {
    await c.write(payload);
    rs = await c.waitResponses(urls.length, 5000 * SCALE);
    assert.equal(rs.length, urls.length, `responses: ${JSON.stringify(c.text().slice(0, 600))}`);
    for (let i = 0; i < urls.length; i++) {
      assert.equal(rs[i].status, 200, `response ${i}: ${rs[i].statusLine}`);
      assert.equal(rs[i].json().url, urls[i]);
    }
  } finally {
    c.destroy();
  }
  const st = await api.stats();
  assert.deepEqual(st.urls, urls, 'the upstream saw exactly the requests sent');
  return rs;
}

test('control: a valid chunked POST and a pipelined GET are both served', T, async () => {
  const rs = await expectServed(chunked('5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n') + 'GET /api/v4/echo?second HTTP/1.1\r\nHost: x\r\n\r\n',
    ['/api/v4/echo', '/api/v4/echo?second']);
  assert.equal(rs[0].json().bodyLength, 11);
});

test('control: Transfer-Encoding "   chunked  " (surrounding OWS) is accepted', T, async () => {
  await expectServed(post('Transfer-Encoding:   chunked  \r\n', '3\r\nabc\r\n0\r\n\r\n'), ['/api/v4/echo']);
});

test('control: Transfer-Encoding "CHUNKED" (coding names are case-insensitive) is accepted', T, async () => {
  await expectServed(post('Transfer-Encoding: CHUNKED\r\n', '3\r\nabc\r\n0\r\n\r\n'), ['/api/v4/echo']);
});

test('control: a Content-Length POST and a pipelined GET are both served', T, async () => {
  const rs = await expectServed(post('Content-Length: 5\r\n', 'hello') + 'GET /api/v4/echo?after HTTP/1.1\r\nHost: x\r\n\r\n',
    ['/api/v4/echo', '/api/v4/echo?after']);
  assert.equal(rs[0].json().bodyLength, 5);
});

test('the gateway process stayed up through this file (no crash)', T, async () => {
  const gw = await fx.ensure();
  assert.deepEqual(fx.crashes, [], `gateway crashed: ${JSON.stringify(fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
});
