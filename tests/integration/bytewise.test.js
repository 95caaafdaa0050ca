'use strict';
// The client-side parser fed one byte per write through the real binary:
// the verdict and what reaches the upstream must not depend on how the
// bytes are cut. Each write is flushed separately (TCP_NODELAY on the test
// side, a short pause between writes) so the gateway really sees 1-byte reads.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, RawConn, sha256 } = require('./lib/wire');
const { startUpstream, GatewayFixture } = require('./lib/procs');

let api;
const fx = new GatewayFixture(() => ({
  server: { header_timeout: '20s' },
  upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
}));
const T = { timeout: 60000 * SCALE };

before(async () => {
  api = await startUpstream({ name: 'api' });
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  if (api) await api.stop();
});

async function dribble(payload, responses) {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  c.sock.setNoDelay(true);
  try {
    for (let i = 0; i < payload.length; i++) {
      await c.write(payload.subarray(i, i + 1));
      if (i % 8 === 7) await sleep(1); // let the gateway read in between
    }
    return await c.waitResponses(responses, 10000 * SCALE);
  } finally {
    c.destroy();
  }
}

test('a GET written one byte at a time is forwarded intact', T, async () => {
  await api.reset();
  const req = Buffer.from('GET /api/v4/echo?q=1&r=%20 HTTP/1.1\r\nHost: bytes.example\r\nX-One: a b c\r\nAccept: */*\r\n\r\n');
  const [res] = await dribble(req, 1);
  assert.equal(res.status, 200);
  const e = JSON.parse(res.body.toString('utf8'));
  assert.equal(e.url, '/api/v4/echo?q=1&r=%20');
  assert.equal(e.headers['x-one'], 'a b c');
  assert.equal(e.headers.host, 'bytes.example');
});

test('a chunked POST written one byte at a time arrives whole, then a pipelined GET', T, async () => {
  await api.reset();
  const body = Buffer.from('hello, byte by byte: 0123456789abcdef');
  const chunked = Buffer.concat([
    Buffer.from('POST /api/v4/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'),
    Buffer.from('5\r\n'), body.subarray(0, 5), Buffer.from('\r\n'),
    Buffer.from(`${(body.length - 5).toString(16)}\r\n`), body.subarray(5), Buffer.from('\r\n'),
    Buffer.from('0\r\n\r\n'),
    Buffer.from('GET /api/v4/echo?second HTTP/1.1\r\nHost: x\r\n\r\n'),
  ]);
  const res = await dribble(chunked, 2);
  assert.equal(res.length, 2, 'two responses');
  const e1 = JSON.parse(res[0].body.toString('utf8'));
  assert.equal(e1.bodyLength, body.length);
  assert.equal(e1.bodySha256, sha256(body));
  const e2 = JSON.parse(res[1].body.toString('utf8'));
  assert.equal(e2.url, '/api/v4/echo?second');
  const s = await api.stats();
  assert.equal(s.requests, 2, 'the upstream saw exactly the two requests');
});

test('a head ended by CR LF CR X written one byte at a time is refused with 400', T, async () => {
  await api.reset();
  const req = Buffer.from('GET /api/v4/echo HTTP/1.1\r\nHost: x\r\n\rXGET /api/v4/smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
  const [res] = await dribble(req, 1);
  assert.equal(res.status, 400);
  const s = await api.stats();
  assert.equal(s.requests, 0, 'nothing reached the upstream');
});
