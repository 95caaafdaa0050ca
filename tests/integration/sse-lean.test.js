'use strict';
// An event stream outlives its request head: once the response head is out
// the gateway keeps of that head only what the access log reads at the end
// (conn_response_streaming, reqhead_compact), so that thousands of idle
// streams stay cheap. The line written when the stream ends must be the
// same as for any other request: method, path, host, user_agent, trace
// context, the client behind trusted proxies, bytes both ways, statuses.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, rawExchange } = require('./lib/wire');
const { startUpstream, startGateway } = require('./lib/procs');

const T = { timeout: 30000 * SCALE };

let api;
let gw;
before(async () => {
  api = await startUpstream({ name: 'api' });
  gw = await startGateway({ upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    server: { trusted_proxies: '127.0.0.0/8 10.0.0.0/8' } });
});
after(async () => {
  if (gw) await gw.stop();
  if (api) await api.stop();
});

async function lineOf(mark) {
  const deadline = Date.now() + 10000 * SCALE;
  for (let i = 0; i < 100000; i++) {
    const l = gw.accessLog().find((x) => x.request_id === mark);
    if (l) return l;
    if (Date.now() > deadline) assert.fail(`no access-log line for ${mark}`);
    await sleep(25);
  }
  return null;
}

test('the access-log line of an event stream keeps every field of its head', T, async () => {
  const tid = '4bf92f3577b34da6a3ce929d0e0e4736';
  const sid = '00f067aa0ba902b7';
  const mark = `lean-${process.pid}`;
  // Headers before and between the kept ones, a large one among them (the
  // arena grows past its first 2 KiB), two X-Forwarded-For lines (last: the
  // upstream head joins them into one line that ends the client's headers).
  const head = [
    'GET /api/v4/sse?n=3&ms=150&access_token=secret HTTP/1.1', 'X-Pad-1: ' + 'a'.repeat(3000),
    'Host: api.example.test', `X-Request-Id: ${mark}`, 'Accept: text/event-stream',
    'User-Agent: lean-probe/2.0', 'X-Pad-2: ' + 'b'.repeat(100), `traceparent: 00-${tid}-${sid}-01`,
    'X-Forwarded-For: 198.51.100.1', 'X-Forwarded-For: 203.0.113.7, 10.1.1.1', 'Connection: close',
  ].join('\r\n') + '\r\n\r\n';
  const r = await rawExchange(gw.port, head, { timeoutMs: 10000 * SCALE });
  assert.equal(r.responses.length, 1, r.text.slice(0, 300));
  const res = r.responses[0];
  assert.equal(res.status, 200, res.body.toString('latin1'));
  assert.match(res.headers['content-type'] || '', /^text\/event-stream/);
  for (let k = 0; k < 3; k++) assert.ok(res.body.toString('latin1').includes(`data: {"i":${k}}\n\n`), `event ${k}`);
  const line = await lineOf(mark);
  assert.equal(line.method, 'GET');
  assert.equal(line.path, '/api/v4/sse', 'the path without the query');
  assert.equal(line.status, 200);
  assert.equal(line.upstream_status, 200);
  assert.equal(line.upstream, 'api');
  assert.equal(line.upstream_addr, `127.0.0.1:${api.port}`);
  assert.equal(line.host, 'api.example.test');
  assert.equal(line.user_agent, 'lean-probe/2.0');
  assert.equal(line.trace_id, tid);
  assert.equal(line.span_id, sid);
  assert.equal(line.client, '203.0.113.7', 'the rightmost untrusted X-Forwarded-For entry');
  assert.equal(line.proto, 'HTTP/1.1');
  assert.equal(line.bytes_in, Buffer.byteLength(head));
  assert.equal(line.bytes, r.data.length, 'every response byte sent');
  assert.ok(!JSON.stringify(line).includes('secret'), 'the query is never logged');
});

test('a keep-alive request after an event stream is parsed whole again', T, async () => {
  const mark = `lean-next-${process.pid}`;
  const first = 'GET /api/v4/sse?n=2&ms=50 HTTP/1.1\r\nHost: a\r\nAccept: text/event-stream\r\n\r\n';
  const second = `GET /api/v4/things HTTP/1.1\r\nHost: b.example.test\r\nUser-Agent: after/1\r\nX-Request-Id: ${mark}\r\nConnection: close\r\n\r\n`;
  const r = await rawExchange(gw.port, first + second, { timeoutMs: 10000 * SCALE });
  assert.equal(r.responses.length, 2, r.text.slice(0, 400));
  assert.deepEqual(r.responses.map((x) => x.status), [200, 200]);
  const line = await lineOf(mark);
  assert.equal(line.host, 'b.example.test');
  assert.equal(line.user_agent, 'after/1');
  assert.equal(line.path, '/api/v4/things');
});
