'use strict';
// Client-side limits: max_header_bytes (431, or 414 for the request line),
// max_headers (431), header_timeout (408, slowloris), idle_timeout on
// keep-alive connections, max_connections. Config: max_header_bytes = 8k,
// header_timeout = 1s, idle_timeout = 2s, max_headers = 50.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, rawExchange, RawConn, assertGatewayError, request } = require('./lib/wire');
const { startUpstream, startGateway, GatewayFixture } = require('./lib/procs');

let api;
const fx = new GatewayFixture(() => ({ upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }] }));
const T = { timeout: 30000 * SCALE };

before(async () => {
  api = await startUpstream({ name: 'api' });
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  if (api) await api.stop();
});

function headers(n, size, name = 'X-H') {
  let s = '';
  for (let i = 0; i < n; i++) s += `${name}${i}: ${'v'.repeat(size)}\r\n`;
  return s;
}

async function expectLimit(payload, status, code) {
  const gw = await fx.ensure();
  await api.reset();
  const r = await rawExchange(gw.port, payload, { timeoutMs: 4000 * SCALE });
  assert.ok(r.responses.length >= 1, `no response; got ${JSON.stringify(r.text.slice(0, 300))}`);
  assertGatewayError(r.responses[0], status, code);
  assert.ok(r.closed, `connection left open after ${status}`);
  const st = await api.stats();
  assert.equal(st.requests, 0, `upstream saw ${JSON.stringify(st.urls)}`);
}

test('headers adding up to more than max_header_bytes (10 x 1000 bytes > 8k) → 431, close, not forwarded', T, () =>
  expectLimit(`GET /api/v4/echo HTTP/1.1\r\nHost: t\r\n${headers(10, 1000)}\r\n`, 431, 'request_header_fields_too_large'));

test('one header line larger than max_header_bytes → 431, close, not forwarded', T, () =>
  expectLimit(`GET /api/v4/echo HTTP/1.1\r\nHost: t\r\nX-Big: ${'b'.repeat(9000)}\r\n\r\n`, 431, 'request_header_fields_too_large'));

test('request line alone longer than max_header_bytes → 414, close, not forwarded', T, () =>
  expectLimit(`GET /api/v4/echo?${'q'.repeat(9000)} HTTP/1.1\r\nHost: t\r\n\r\n`, 414, 'uri_too_long'));

test('request line under the limit plus headers over it → 431 (not 414)', T, () =>
  expectLimit(`GET /api/v4/echo?${'q'.repeat(5000)} HTTP/1.1\r\nHost: t\r\nX-Pad: ${'p'.repeat(4000)}\r\n\r\n`, 431, 'request_header_fields_too_large'));

test('request line + headers just under max_header_bytes (~7.6k) are served', T, async () => {
  const gw = await fx.ensure();
  const line = `GET /api/v4/echo?${'q'.repeat(2000)} HTTP/1.1\r\n`;
  const head = line + `Host: t\r\nX-Pad: ${'p'.repeat(5500)}\r\n`;
  assert.ok(head.length > 7500 && head.length < 8000);
  const c = await RawConn.connect(gw.port);
  try {
    await c.write(head + '\r\n');
    const rs = await c.waitResponses(1, 5000 * SCALE);
    assert.equal(rs.length, 1, `got ${JSON.stringify(c.text().slice(0, 300))}`);
    assert.equal(rs[0].status, 200);
    assert.equal(rs[0].json().headers['x-pad'].length, 5500);
  } finally { c.destroy(); }
});

test('more headers than max_headers (60 > 50) → 431, close, not forwarded', T, () =>
  expectLimit(`GET /api/v4/echo HTTP/1.1\r\nHost: t\r\n${headers(59, 3)}\r\n`, 431, 'request_header_fields_too_large'));

test('45 headers (under max_headers = 50) are served', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    await c.write(`GET /api/v4/echo HTTP/1.1\r\nHost: t\r\n${headers(44, 3)}\r\n`);
    const rs = await c.waitResponses(1, 5000 * SCALE);
    assert.equal(rs.length, 1);
    assert.equal(rs[0].status, 200);
    assert.equal(rs[0].json().headers['x-h43'], 'vvv');
  } finally { c.destroy(); }
});

test('slowloris: head trickled one byte per 200 ms → 408 request_timeout after header_timeout (1s), then close', T, async () => {
  const gw = await fx.ensure();
  await api.reset();
  const c = await RawConn.connect(gw.port);
  try {
    const t0 = Date.now();
    await c.write('GET /api/v4/echo HTTP/1.1\r\n');
    const trickle = `Host: t\r\nX-Slow: ${'s'.repeat(100)}\r\n`;
    for (let i = 0; i < trickle.length && i < 50; i++) {
      if (c.closed || c.data.length > 0) break;
      if (Date.now() - t0 > 8000 * SCALE) break;
      await c.write(trickle[i]);
      await sleep(200);
    }
    await c.waitClose(3000 * SCALE);
    const firstByte = c.chunksAt.length ? c.chunksAt[0].t - t0 : -1;
    const rs = await c.waitResponses(1, 10);
    assert.ok(rs.length >= 1, `no 408; got ${JSON.stringify(c.text().slice(0, 300))} closed=${c.closed}`);
    assertGatewayError(rs[0], 408, 'request_timeout');
    assert.ok(firstByte >= 900, `408 after only ${firstByte} ms`);
    assert.ok(firstByte <= 1000 + 1500 * SCALE, `408 after ${firstByte} ms: the timer restarts on every byte?`);
    assert.ok(c.closed, 'connection left open after 408');
    const st = await api.stats();
    assert.equal(st.requests, 0);
  } finally { c.destroy(); }
});

test('a head completed within header_timeout over several slow writes is served', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    const parts = ['GET /api/v4/echo?slow-ok HTTP/1.1\r\n', 'Host: t\r\n', 'X-A: 1\r\n', '\r\n'];
    for (const p of parts) { await c.write(p); await sleep(150); }
    const rs = await c.waitResponses(1, 5000 * SCALE);
    assert.equal(rs.length, 1, `got ${JSON.stringify(c.text().slice(0, 300))}`);
    assert.equal(rs[0].status, 200);
  } finally { c.destroy(); }
});

test('idle keep-alive connection is closed after idle_timeout (2s), not before ~1.5s', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    await c.write('GET /api/v4/echo?idle HTTP/1.1\r\nHost: t\r\n\r\n');
    const rs = await c.waitResponses(1, 5000 * SCALE);
    assert.equal(rs.length, 1);
    assert.equal(rs[0].status, 200);
    const t0 = Date.now();
    const closed = await c.waitClose(6000 * SCALE);
    const dt = Date.now() - t0;
    assert.ok(closed, `idle connection still open after ${dt} ms`);
    assert.ok(dt >= 1500, `idle keep-alive connection closed after only ${dt} ms (idle_timeout is 2s)`);
    assert.ok(dt <= 2000 + 2000 * SCALE, `closed after ${dt} ms`);
  } finally { c.destroy(); }
});

test('keep-alive connection used every 500 ms for 3.5 s (longer than idle_timeout) stays open', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    for (let i = 0; i < 8; i++) {
      await c.write(`GET /api/v4/echo?busy=${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
      const rs = await c.waitResponses(i + 1, 5000 * SCALE);
      assert.equal(rs.length, i + 1, `request ${i}: connection closed=${c.closed}`);
      assert.equal(rs[i].status, 200);
      assert.equal(rs[i].json().url, `/api/v4/echo?busy=${i}`);
      await sleep(500);
    }
    assert.ok(!c.closed);
  } finally { c.destroy(); }
});

test('a connection that never sends anything is closed (within idle/header timeout)', T, async () => {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    const closed = await c.waitClose(2000 + 3000 * SCALE);
    assert.ok(closed, 'silent connection kept open');
  } finally { c.destroy(); }
});

test('max_connections = 4: a 5th connection is closed or refused, the 4 existing ones keep working', T, async () => {
  const gw = await startGateway({ server: { max_connections: 4 }, upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }] });
  const conns = [];
  let extra = null;
  try {
    for (let i = 0; i < 4; i++) {
      const c = await RawConn.connect(gw.port);
      conns.push(c);
      await c.write(`GET /api/v4/echo?mc=${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
      const rs = await c.waitResponses(1, 5000 * SCALE);
      assert.equal(rs.length === 1 && rs[0].status, 200, `connection ${i} not served`);
    }
    // The 5th: refused at connect, or closed, or answered 503; never served.
    let refused = false;
    try { extra = await RawConn.connect(gw.port, 3000 * SCALE); } catch (e) { refused = true; }
    if (!refused) {
      await extra.write('GET /api/v4/echo?mc=extra HTTP/1.1\r\nHost: t\r\n\r\n');
      await extra.waitFor((x) => x.closed || /\r\n\r\n/.test(x.text()), 3000 * SCALE);
      const rs = await extra.waitResponses(1, 200);
      if (rs.length) assert.equal(rs[0].status, 503, `5th connection answered ${rs[0].statusLine}`);
      else assert.ok(extra.closed, '5th connection neither refused, closed, nor answered 503 within 3 s');
    }
    for (let i = 0; i < 4; i++) {
      const c = conns[i];
      assert.ok(!c.closed, `existing connection ${i} was closed`);
      await c.write(`GET /api/v4/echo?mc2=${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
      const rs = await c.waitResponses(2, 5000 * SCALE);
      assert.equal(rs.length, 2, `existing connection ${i} not served after the 5th was refused`);
      assert.equal(rs[1].status, 200);
    }
    // A slot freed: a new connection is served again.
    conns[0].destroy();
    if (extra) extra.destroy();
    let ok = false;
    for (let i = 0; i < 20 && !ok; i++) {
      await sleep(150);
      try {
        const res = await request(gw.port, { path: '/api/v4/echo?mc=again', timeoutMs: 2000 * SCALE });
        ok = res.status === 200;
      } catch (e) { /* still full */ }
    }
    assert.ok(ok, 'after closing one connection, a new one is still not served');
  } finally {
    for (const c of conns) c.destroy();
    if (extra) extra.destroy();
    await gw.stop();
  }
});

test('the gateway process stayed up through this file (no crash)', T, async () => {
  const gw = await fx.ensure();
  assert.deepEqual(fx.crashes, [], `gateway crashed: ${JSON.stringify(fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
});
