'use strict';
// Request heads written to upstreams in one turn of the event loop go out in
// one io_submit (gateway/upstream.c, "batched head writes"): the upstream is
// woken once per turn instead of once per request. The gateway is stopped
// (SIGSTOP, by PID) while 20 keep-alive clients each send a request, so that
// all 20 are ready in the same turn when it continues; the metrics then show
// how the heads went out. GATEWAY_UPSTREAM_AIO=0 turns batching off, and the
// same burst must be answered the same way through the plain write path.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, RawConn } = require('./lib/wire');
const { startUpstream, startGateway } = require('./lib/procs');
const { scrape, value } = require('./lib/metrics');

const T = { timeout: 60000 * SCALE };
const N = 20;
const started = [];
after(async () => { for (const p of started.reverse()) await p.stop(); });

async function counters(gw) {
  const m = (await scrape(gw.adminPort)).body;
  return {
    batches: value(m, 'gateway_upstream_write_batches_total'),
    heads: value(m, 'gateway_upstream_batched_writes_total'),
  };
}

const reqText = (i) => `GET /api/v4/burst/${i} HTTP/1.1\r\nHost: gw.test\r\nX-Burst: ${i}\r\n\r\n`;

// One request per connection, all 20 sent while the gateway is stopped.
async function burst(gw, api) {
  const conns = [];
  for (let i = 0; i < N; i++) conns.push(await RawConn.connect(gw.port));
  try {
    // Warm-up: every client connection and a pool of upstream connections exist.
    await Promise.all(conns.map((c, i) => c.write(reqText(`w${i}`))));
    for (const c of conns) assert.equal((await c.waitResponses(1, 10000 * SCALE))[0].status, 200);
    for (const c of conns) c.data = Buffer.alloc(0);
    await api.reset();
    const before = await counters(gw);
    process.kill(gw.child.pid, 'SIGSTOP');
    try {
      await Promise.all(conns.map((c, i) => c.write(reqText(i))));
      await sleep(300 * SCALE); // all 20 requests are in the gateway's socket buffers
    } finally {
      process.kill(gw.child.pid, 'SIGCONT');
    }
    const bodies = [];
    for (const c of conns) {
      const [res] = await c.waitResponses(1, 10000 * SCALE);
      assert.ok(res && res.complete, 'a complete response on every connection');
      assert.equal(res.status, 200);
      bodies.push(JSON.parse(res.body.toString()));
    }
    const after1 = await counters(gw);
    const seen = (await api.stats()).urls.slice().sort();
    return { before, after: after1, bodies, seen };
  } finally {
    for (const c of conns) c.destroy();
  }
}

function checkAnswers(r) {
  // Each client got the answer to its own request, and the upstream saw each once.
  r.bodies.forEach((b, i) => assert.equal(b.path || b.url, `/api/v4/burst/${i}`, `client ${i} got its own answer`));
  assert.deepEqual(r.seen, Array.from({ length: N }, (_, i) => `/api/v4/burst/${i}`).sort());
}

test('a burst of heads ready in one loop turn reaches the upstream in one batch', T, async (t) => {
  const api = await startUpstream({ name: 'api' }); started.push(api);
  const gw = await startGateway({ upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }] }); started.push(gw);
  if (/no Linux AIO/.test(gw.logLines().join('\n') + gw.stderr())) {
    t.skip('io_setup refused on this machine: heads are written one by one (covered by the next test)');
    return;
  }
  const r = await burst(gw, api);
  checkAnswers(r);
  const heads = r.after.heads - r.before.heads;
  const batches = r.after.batches - r.before.batches;
  assert.equal(heads, N, 'every head of the burst went out through io_submit');
  assert.ok(batches >= 1 && batches <= 2, `the ${N} heads took ${batches} io_submit call(s)`);
});

test('GATEWAY_UPSTREAM_AIO=0 writes each head at once, with the same answers', T, async () => {
  const api = await startUpstream({ name: 'api' }); started.push(api);
  const saved = process.env.GATEWAY_UPSTREAM_AIO;
  process.env.GATEWAY_UPSTREAM_AIO = '0';
  let gw;
  try {
    gw = await startGateway({ upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }] });
  } finally {
    if (saved === undefined) delete process.env.GATEWAY_UPSTREAM_AIO; else process.env.GATEWAY_UPSTREAM_AIO = saved;
  }
  started.push(gw);
  const r = await burst(gw, api);
  checkAnswers(r);
  assert.equal(r.after.heads, 0, 'no head went through io_submit');
  assert.equal(r.after.batches, 0);
});
