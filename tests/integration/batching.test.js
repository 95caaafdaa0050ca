'use strict';
// Request heads written to upstreams in one turn of the event loop go out in
// one io_submit (gateway/upstream.c, "batched head writes"): the upstream is
// woken once per turn instead of once per request. The gateway is stopped
// (SIGSTOP, by PID) while 20 keep-alive clients each send a request, so that
// all 20 are ready in the same turn when it continues; the metrics then show
// how the heads went out. GATEWAY_UPSTREAM_AIO=0 turns batching off, and the
// same burst must be answered the same way through the plain write path.
//
// "Ready in the same turn" is established from what the kernel shows, never
// from a sleep: every thread of the gateway is stopped before the first byte
// is sent, every byte sits in the gateway's receive queues before it goes on,
// and 20 idle pooled upstream connections wait for the 20 heads (a fresh
// connect would complete, and write its head, in a later turn).
const fs = require('node:fs');
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, RawConn } = require('./lib/wire');
const { startUpstream, startGateway } = require('./lib/procs');
const { scrape, value } = require('./lib/metrics');

const T = { timeout: 60000 * SCALE };
const N = 20;
const WAIT_MS = 10000 * SCALE;
const started = [];
after(async () => { for (const p of started.reverse()) await p.stop(); });

// The gateway's own timeouts must not fire because the test stopped it or the
// machine is slow: each would close a connection the burst needs.
const GW_CFG = (api) => ({
  server: { header_timeout: '30s', idle_timeout: '30s' },
  upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url, connect_timeout: '10s', response_timeout: '10s' }],
});

async function metrics(gw) {
  const m = (await scrape(gw.adminPort)).body;
  return {
    batches: value(m, 'gateway_upstream_write_batches_total'),
    heads: value(m, 'gateway_upstream_batched_writes_total'),
    idle: value(m, 'gateway_upstream_pool_idle{upstream="api"}'),
  };
}

// Polls pred (sync or async) until it returns a truthy value; throws after timeoutMs.
async function waitUntil(what, pred, timeoutMs = WAIT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (let i = 0; i < 1000000; i++) {
    last = await pred();
    if (last) return last;
    if (Date.now() > deadline) break;
    await sleep(Math.min(2 + i, 50));
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}`);
}

// One letter per thread of pid (/proc/PID/task/*/stat): 'T' stopped, 't' stopped by a tracer.
function threadStates(pid) {
  const states = [];
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      states.push(s[s.lastIndexOf(')') + 2]);
    } catch (e) { /* the thread ended meanwhile */ }
  }
  return states;
}

// Unread bytes in the gateway's end of each established connection to port,
// keyed by the client's port (/proc/net/tcp: the listener is IPv4 loopback).
function gatewayRecvQ(port) {
  const q = new Map();
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[3] !== '01') continue;
    if (parseInt(f[1].split(':')[1], 16) !== port) continue;
    q.set(parseInt(f[2].split(':')[1], 16), parseInt(f[4].split(':')[1], 16));
  }
  return q;
}

// Sends texts[i] on conns[i] while the gateway is stopped; it continues only
// when every request is whole in its socket buffers, so one poll finds them all.
async function sendWhileStopped(gw, conns, texts) {
  const pid = gw.child.pid;
  process.kill(pid, 'SIGSTOP');
  try {
    // kill(2) returns before the threads stop: one still running could read
    // the first requests on their own, in a turn before the others.
    await waitUntil('every gateway thread stopped', () => {
      assert.ok(!gw.exited(), 'the gateway is alive');
      const s = threadStates(pid);
      return s.length > 0 && s.every((c) => c === 'T' || c === 't');
    });
    await Promise.all(conns.map((c, i) => c.write(texts[i])));
    await waitUntil('every request queued unread at the gateway', () => {
      const q = gatewayRecvQ(gw.port);
      return conns.every((c, i) => q.get(c.sock.localPort) === Buffer.byteLength(texts[i]));
    });
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

async function responses(conns) {
  const out = [];
  for (const c of conns) {
    const [res] = await c.waitResponses(1, WAIT_MS);
    assert.ok(res && res.complete, 'a complete response on every connection');
    assert.equal(res.status, 200);
    out.push(res);
    c.data = Buffer.alloc(0);
  }
  return out;
}

const reqText = (i) => `GET /api/v4/burst/${i} HTTP/1.1\r\nHost: gw.test\r\nX-Burst: ${i}\r\n\r\n`;
const texts = (tag) => Array.from({ length: N }, (_, i) => reqText(`${tag}${i}`));

// One request per connection, all 20 sent while the gateway is stopped.
async function burst(gw, api) {
  const conns = [];
  for (let i = 0; i < N; i++) conns.push(await RawConn.connect(gw.port));
  try {
    // Warm-up, sent the same way: the 20 requests start together, so each
    // takes an upstream connection of its own, and all 20 go back to the pool
    // (a request that came later could reuse one already answered).
    await sendWhileStopped(gw, conns, texts('w'));
    await responses(conns);
    await waitUntil(`${N} idle pooled upstream connections`, async () => (await metrics(gw)).idle >= N);
    await api.reset();
    const before = await metrics(gw);
    await sendWhileStopped(gw, conns, texts(''));
    const bodies = (await responses(conns)).map((res) => JSON.parse(res.body.toString()));
    const after1 = await metrics(gw);
    const st = await api.stats();
    return { before, after: after1, bodies, seen: st.urls.slice().sort(), upConns: st.connections };
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
  const gw = await startGateway(GW_CFG(api)); started.push(gw);
  if (/no Linux AIO/.test(gw.logLines().join('\n') + gw.stderr())) {
    t.skip('io_setup refused on this machine: heads are written one by one (covered by the next test)');
    return;
  }
  const r = await burst(gw, api);
  checkAnswers(r);
  // The only connection the upstream saw opened since its reset is the test's own /__stats.
  assert.equal(r.upConns, 1, 'the burst used pooled upstream connections only');
  const heads = r.after.heads - r.before.heads;
  const batches = r.after.batches - r.before.batches;
  assert.equal(heads, N, 'every head of the burst went out through io_submit');
  assert.equal(batches, 1, `the ${N} heads, ready in one turn, took ${batches} io_submit call(s)`);
});

test('GATEWAY_UPSTREAM_AIO=0 writes each head at once, with the same answers', T, async () => {
  const api = await startUpstream({ name: 'api' }); started.push(api);
  const saved = process.env.GATEWAY_UPSTREAM_AIO;
  process.env.GATEWAY_UPSTREAM_AIO = '0';
  let gw;
  try {
    gw = await startGateway(GW_CFG(api));
  } finally {
    if (saved === undefined) delete process.env.GATEWAY_UPSTREAM_AIO; else process.env.GATEWAY_UPSTREAM_AIO = saved;
  }
  started.push(gw);
  const r = await burst(gw, api);
  checkAnswers(r);
  assert.equal(r.after.heads, 0, 'no head went through io_submit');
  assert.equal(r.after.batches, 0);
});
