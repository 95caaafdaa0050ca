'use strict';
// Upstreams that lie about where their responses end, or send what llhttp
// 8.1 accepts but a proxy must not pass on: bodies on 1xx/204, lengths on 304,
// transfer codings other than chunked, status codes below 100, a bare CR in
// the status line. Whatever they send, the client's next response on a
// keep-alive connection must be its own, and a bodiless answer must not wait
// for a body. Also which failures are retried on a fresh connection: the
// keep-alive race (the upstream closed the pooled connection), never a
// timeout. Each upstream is a raw socket (lib/rawupstream.js, 'script' mode)
// that answers by path; the body of an honest answer is the request's path.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, RawConn, parseResponses, request, assertGatewayError } = require('./lib/wire');
const { GatewayFixture } = require('./lib/procs');
const { startRawUpstream } = require('./lib/rawupstream');
const { scrape, value } = require('./lib/metrics');

const IDLE_MS = 4000 * SCALE;   // idle_timeout: how long a stalled response would wait
const PROMPT_MS = 1500 * SCALE; // "answered at once": well under idle_timeout
const RT_MS = 2000 * SCALE;     // response_timeout of the 'slow' upstream
const T = { timeout: 30000 * SCALE };

function pathOf(req) { return /^\S+ (\S+)/.exec(req.toString('latin1'))[1]; }
function ok(body) { return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`; }

const SMUGGLED = 'HTTP/1.1 200 OK\r\nSet-Cookie: session=attacker\r\nContent-Length: 0\r\n\r\n';
// For a request whose path ends in /lie: what the upstream sends instead of
// an honest answer. Other paths get ok(path).
const LIES = {
  s102: (p) => `HTTP/1.1 102 Processing\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}${ok(p)}`,
  s204cl: () => 'HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n{}',
  s304cl: () => 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 1234\r\n\r\n',
  s204te: () => 'HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n',
  s000: (p) => `HTTP/1.1 000 Zero\r\nContent-Length: ${p.length}\r\n\r\n${p}`,
  s099: (p) => `HTTP/1.1 099 Low\r\nContent-Length: ${p.length}\r\n\r\n${p}`,
  gzip: () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b\x08\x00\x00\x00\x00\x00',
  gzipch: () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n',
  gzip2: () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\x1f\x8b\x08\x00\r\n0\r\n\r\n',
  barecr: (p) => `HTTP/1.1 200 OK\rXSet-Cookie: injected=1\r\nContent-Length: ${p.length}\r\n\r\n${p}`,
};

const ups = {};
const fx = new GatewayFixture(() => ({
  server: { idle_timeout: `${IDLE_MS}ms` },
  upstreams: Object.entries(ups).map(([name, u]) => Object.assign(
    { name, prefix: `/${name}`, url: u.url }, name === 'slow' ? { response_timeout: `${RT_MS}ms` } : {})),
}));

before(async () => {
  for (const [name, lie] of Object.entries(LIES)) {
    ups[name] = await startRawUpstream({
      mode: 'script',
      answer: (c, req) => { const p = pathOf(req); return p.endsWith('/lie') ? lie(p) : ok(p); },
    });
  }
  // Answers /slow/warm; never answers /slow/hang.
  ups.slow = await startRawUpstream({
    mode: 'script', answer: (c, req) => (pathOf(req).endsWith('/hang') ? null : ok(pathOf(req))),
  });
  // The keep-alive race: the second request on a connection finds it closed.
  ups.race = await startRawUpstream({
    mode: 'script', answer: (c, req) => (c.requests.length >= 2 ? 'close' : ok(pathOf(req))),
  });
  await fx.ensure();
});

after(async () => {
  await fx.stop();
  for (const u of Object.values(ups)) await u.stop();
});

// Sends the paths one after another on one keep-alive client connection,
// each once the previous answer is complete. Resolves [{res, ms}] (res
// undefined when no answer came within PROMPT_MS).
async function sequence(port, paths) {
  const c = await RawConn.connect(port);
  const out = [];
  try {
    for (let i = 0; i < paths.length; i++) {
      const t0 = Date.now();
      await c.write(`GET ${paths[i]} HTTP/1.1\r\nHost: gw.test\r\n\r\n`);
      const done = await c.waitFor((k) => parseResponses(k.data).responses.filter((r) => !r.interim && r.complete).length > i, PROMPT_MS);
      const rs = parseResponses(c.data, { closed: c.closed }).responses.filter((r) => !r.interim);
      out.push({ res: done ? rs[i] : undefined, ms: Date.now() - t0 });
      if (!done) break;
    }
    return { out, data: c.text() };
  } finally {
    c.destroy();
  }
}

function assertOwn(step, path) {
  assert.ok(step && step.res, `no complete answer to ${path} within ${PROMPT_MS} ms`);
  assert.equal(step.res.status, 200, `${path}: ${step.res.statusLine}`);
  assert.equal(step.res.body.toString('latin1'), path, `the answer to ${path} is its own`);
}

test('102 with a Content-Length whose "body" is a response: later answers on the connection are not shifted', T, async () => {
  const gw = await fx.ensure();
  const { out, data } = await sequence(gw.port, ['/s102/lie', '/s102/next', '/s102/last']);
  assert.ok(out[0].res, `first request answered; got ${JSON.stringify(data.slice(0, 400))}`);
  assertOwn(out[1], '/s102/next');
  assertOwn(out[2], '/s102/last');
  assert.equal(ups.s102.conns.length, 2, 'the lying connection is not reused; one fresh one for the rest');
});

test('204 with Content-Length: 2 and "{}": the bytes are discarded, the next answer is intact', T, async () => {
  const gw = await fx.ensure();
  const { out, data } = await sequence(gw.port, ['/s204cl/lie', '/s204cl/next']);
  assert.ok(out[0].res, 'the 204 came');
  assert.equal(out[0].res.status, 204);
  assert.equal(out[0].res.headers['content-length'], undefined, '204 carries no Content-Length');
  assert.ok(!data.includes('{}'), `the body of the 204 reached the client: ${JSON.stringify(data)}`);
  assertOwn(out[1], '/s204cl/next');
  assert.equal(ups.s204cl.conns.length, 2, 'the connection that sent a body after 204 is not reused');
});

test('304 with Content-Length: 1234 (RFC 9110 §8.6) is complete after its head; the connection stays pooled', T, async () => {
  const gw = await fx.ensure();
  const { out } = await sequence(gw.port, ['/s304cl/lie', '/s304cl/next']);
  assert.ok(out[0].res, `no 304 within ${PROMPT_MS} ms (idle_timeout ${IDLE_MS} ms)`);
  assert.equal(out[0].res.status, 304);
  assert.equal(out[0].res.headers['content-length'], '1234', 'the metadata passes through');
  assertOwn(out[1], '/s304cl/next');
  assert.equal(ups.s304cl.conns.length, 1, 'an honest 304 leaves the connection reusable');
  assert.equal(ups.s304cl.conns[0].requests.length, 2);
});

test('204 with Transfer-Encoding: chunked is complete after its head; the next request is answered at once', T, async () => {
  const gw = await fx.ensure();
  const { out } = await sequence(gw.port, ['/s204te/lie', '/s204te/next']);
  assert.ok(out[0].res, `no 204 within ${PROMPT_MS} ms (idle_timeout ${IDLE_MS} ms)`);
  assert.equal(out[0].res.status, 204);
  assert.equal(out[0].res.headers['transfer-encoding'], undefined);
  assertOwn(out[1], '/s204te/next');
});

test('status 000 and 099 are 502 bad_gateway', T, async () => {
  const gw = await fx.ensure();
  for (const name of ['s000', 's099']) {
    const res = await request(gw.port, { path: `/${name}/lie` });
    assertGatewayError(res, 502, 'bad_gateway', name);
  }
});

test('a transfer coding other than chunked is 502 bad_gateway, never re-chunked without it', T, async () => {
  const gw = await fx.ensure();
  for (const name of ['gzip', 'gzipch', 'gzip2']) {
    const res = await request(gw.port, { path: `/${name}/lie` });
    assertGatewayError(res, 502, 'bad_gateway', name);
  }
});

test('a bare CR in the status line is 502 bad_gateway (the byte after it would be lost)', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { path: '/barecr/lie' });
  assertGatewayError(res, 502, 'bad_gateway');
  assert.equal(res.headers['set-cookie'], undefined);
});

test('response timeout on a pooled connection: one 504 after one response_timeout, the upstream saw it once', T, async () => {
  const gw = await fx.ensure();
  const warm = await request(gw.port, { path: '/slow/warm' });
  assert.equal(warm.status, 200);
  const before1 = (await scrape(gw.adminPort)).body;
  const t0 = Date.now();
  const res = await request(gw.port, { path: '/slow/hang', timeoutMs: 6 * RT_MS });
  const dt = Date.now() - t0;
  assertGatewayError(res, 504, 'gateway_timeout');
  const hangs = ups.slow.requests().filter((q) => pathOf(q.raw) === '/slow/hang');
  assert.equal(hangs.length, 1, `the upstream got the request ${hangs.length} times`);
  assert.ok(dt >= 0.9 * RT_MS, `504 after only ${dt} ms`);
  assert.ok(dt < 1.75 * RT_MS, `504 after ${dt} ms; response_timeout is ${RT_MS} ms`);
  const after1 = (await scrape(gw.adminPort)).body;
  const d = (k) => value(after1, `gateway_upstream_${k}{upstream="slow"}`) - value(before1, `gateway_upstream_${k}{upstream="slow"}`);
  assert.equal(d('timeouts_total'), 1);
  assert.equal(d('retries_total'), 0);
});

test('keep-alive race: the upstream closed the pooled connection; the GET is retried once, transparently, and counted', T, async () => {
  const gw = await fx.ensure();
  const warm = await request(gw.port, { path: '/race/warm' });
  assert.equal(warm.status, 200);
  const before1 = (await scrape(gw.adminPort)).body;
  const res = await request(gw.port, { path: '/race/again' });
  assert.equal(res.status, 200, `not retried: ${res.status} ${res.text().slice(0, 200)}`);
  assert.equal(res.text(), '/race/again');
  assert.equal(ups.race.conns.length, 2, 'the retry went out on a fresh connection');
  const after1 = (await scrape(gw.adminPort)).body;
  const series = 'gateway_upstream_retries_total{upstream="race"}';
  assert.match(after1, /^# TYPE gateway_upstream_retries_total counter$/m);
  assert.equal(value(after1, series) - value(before1, series), 1);
});

test('the gateway did not crash', () => {
  assert.deepEqual(fx.crashes, []);
  assert.ok(fx.gw && !fx.gw.exited(), 'gateway still running');
});
