'use strict';
// Descriptor exhaustion: under a low `ulimit -n`, with two workers, more
// connections than descriptors must not wedge the gateway. It clamps
// max_connections to what the limit allows (and says so), refuses what is
// over it, pauses accepting while accept() fails with EMFILE (and says so,
// and counts it), keeps serving what it already accepted, answers again
// once the flood is gone, and still drains and exits 0 on SIGTERM.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const { HOST, SCALE, sleep, request, RawConn } = require('./lib/wire');
const { startUpstream, startGateway, waitExit } = require('./lib/procs');
const { scrape, value } = require('./lib/metrics');

// The soft limit starts low; the gateway raises it to the hard one.
const SOFT = 128;
const HARD = 384;
const MAIN_FLOOD = 1500; // far over the clamped max_connections, and over HARD
const ADMIN_FLOOD = 400; // admin connections are not limited: these exhaust descriptors
const ROUNDS = 6;
const T = { timeout: 180000 * SCALE };

let api;
const started = new Set();

before(async () => { api = await startUpstream({ name: 'api' }); });
after(async () => {
  for (const g of started) await g.stop('SIGKILL');
  if (api) await api.stop();
});

async function gateway() {
  const gw = await startGateway({
    wrapper: ['sh', '-c', `ulimit -S -n ${SOFT} && ulimit -H -n ${HARD} && exec "$0" "$@"`],
    // Held connections stay held for the whole test; drain stays bounded.
    server: { workers: 2, max_connections: 10000, header_timeout: '60s', idle_timeout: '60s', drain_timeout: '3s' },
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url, pool_size: 4 }],
  });
  started.add(gw);
  return gw;
}

// Opens n connections at once; resolves the sockets once each connected,
// failed or timed out (a full backlog may drop a SYN: that is fine here).
async function flood(port, n) {
  const socks = [];
  const settled = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host: HOST, port });
    s.on('error', () => {});
    socks.push(s);
    settled.push(new Promise((resolve) => {
      const t = setTimeout(resolve, 5000 * SCALE);
      s.once('connect', () => { clearTimeout(t); resolve(); });
      s.once('close', () => { clearTimeout(t); resolve(); });
    }));
  }
  await Promise.all(settled);
  return socks;
}

// Until the flood's connections are closed on the gateway's side too (the
// scrape and `held` count): before that a new connection may rightly be
// refused at max_connections.
async function waitQuiet(gw, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let open = NaN;
  for (let i = 0; i < 10000 && Date.now() < deadline; i++) {
    try {
      open = value((await scrape(gw.adminPort)).body, 'gateway_open_connections');
      if (open <= 2) return;
    } catch (e) { /* accepting may be paused for a moment */ }
    await sleep(100);
  }
  assert.fail(`the gateway still has ${open} open connections ${timeoutMs} ms after the flood ended`);
}

// Sequential requests, each on a new connection and without retries, so
// that a worker that stopped serving is found (the kernel spreads new
// connections over both workers' sockets).
async function allAnswered(port, n, timeoutMs) {
  for (let i = 0; i < n; i++) {
    const r = await request(port, { path: `/api/v4/after-flood/${i}`, timeoutMs });
    assert.equal(r.status, 200, `request ${i} after the flood: ${r.status}`);
  }
}

test('start-up: the soft descriptor limit is raised to the hard one and max_connections clamped to it', T, async () => {
  const gw = await gateway();
  await gw.waitStderr(/max_connections 10000 lowered to \d+/);
  assert.match(gw.stderr(), new RegExp(`descriptor limit raised from ${SOFT} to ${HARD}`));
  const m = /max_connections 10000 lowered to (\d+)/.exec(gw.stderr());
  assert.ok(m, `start-up log does not say max_connections was clamped:\n${gw.stderr().slice(-2000)}`);
  const cap = Number(m[1]);
  assert.ok(cap > 0 && cap < HARD / 2, `clamped max_connections ${cap} does not fit ${HARD} descriptors`);
  assert.equal((await gw.stop()).code, 0);
});

test('floods beyond the descriptor limit with 2 workers: refused, paused, served again, SIGTERM exits 0', T, async () => {
  const gw = await gateway();
  // Accepted before the flood: must keep being served while accepting pauses.
  const held = await RawConn.connect(gw.adminPort);
  const healthz = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
  await held.write(healthz);
  assert.equal((await held.waitResponses(1, 5000 * SCALE))[0].status, 200);

  for (let round = 0; round < ROUNDS; round++) {
    const socks = [];
    try {
      const floods = await Promise.all([flood(gw.port, MAIN_FLOOD), flood(gw.adminPort, ADMIN_FLOOD)]);
      for (const f of floods) socks.push(...f);
      if (round === 0) {
        await held.write(healthz);
        const rs = await held.waitResponses(2, 10000 * SCALE);
        assert.equal(rs.length, 2, 'an accepted connection was not served during the flood');
        assert.equal(rs[1].status, 200);
      }
    } finally {
      for (const s of socks) s.destroy();
    }
    await waitQuiet(gw, 15000 * SCALE);
    await allAnswered(gw.port, 10, 10000 * SCALE);
  }
  held.sock.destroy();

  const met = await scrape(gw.adminPort);
  assert.ok(value(met.body, 'gateway_connections_refused_total{reason="max_connections"}') > 0,
    'refusals at max_connections not counted');
  assert.ok(value(met.body, 'gateway_connections_refused_total{reason="descriptors"}') > 0,
    'accept failures on descriptors not counted');
  await gw.waitStderr(/connection limit \(\d+\) reached/);
  await gw.waitStderr(/Too many open files.*not accepting/);

  const t0 = Date.now();
  gw.child.kill('SIGTERM');
  const ex = await waitExit(gw.child, 3000 + 5000 * SCALE);
  assert.ok(ex, `gateway still running ${Date.now() - t0} ms after SIGTERM`);
  assert.equal(ex.code, 0, `exit ${ex.code} signal ${ex.signal}`);
});

test('SIGTERM while descriptors are exhausted: the gateway drains and exits 0', T, async () => {
  const gw = await gateway();
  const socks = [];
  try {
    const floods = await Promise.all([flood(gw.port, MAIN_FLOOD), flood(gw.adminPort, ADMIN_FLOOD)]);
    for (const f of floods) socks.push(...f);
    // The connections are complete in the kernel's backlog before the
    // gateway accepts them: wait until it has run out of descriptors (its
    // log says so), or the SIGTERM may come first and find nothing to test.
    await gw.waitStderr(/Too many open files.*not accepting/);
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    const ex = await waitExit(gw.child, 3000 + 5000 * SCALE);
    assert.ok(ex, `gateway still running ${Date.now() - t0} ms after SIGTERM with descriptors exhausted`);
    assert.equal(ex.code, 0, `exit ${ex.code} signal ${ex.signal}`);
  } finally {
    for (const s of socks) s.destroy();
  }
});
