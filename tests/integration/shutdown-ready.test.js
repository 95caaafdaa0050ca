'use strict';
// SPEC "Lifecycle": `[server] shutdown_delay` (on SIGTERM /readyz answers 503
// at once while the listeners keep serving that long, then the drain) and a
// /readyz 503 that names what is not ready (an issuer without keys).
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, request } = require('./lib/wire');
const { startUpstream, startGateway, freePorts, canConnect, waitExit } = require('./lib/procs');

const T = { timeout: 60000 * SCALE };

async function readyz(gw) {
  const r = await request(gw.adminPort, { path: '/readyz' });
  return { status: r.status, body: r.body.toString() };
}

test('/readyz 503 names the issuer that has no key set yet', T, async () => {
  const [dead] = await freePorts(1);
  const gw = await startGateway({
    extra: '[issuer:login]\niss = https://login.example.test\n' +
      `jwks_uri = http://127.0.0.1:${dead}/jwks.json\n\n` +
      '[resource]\nidentifier = https://api.example.test\n',
  });
  try {
    const r = await readyz(gw);
    assert.equal(r.status, 503);
    const body = JSON.parse(r.body);
    assert.match(body.error_description, /no key set .*issuer login/, r.body);
  } finally { await gw.stop(); }
});

test('shutdown_delay: after SIGTERM /readyz is 503 at once, requests are still served for the delay, then the drain', T, async () => {
  const api = await startUpstream({ name: 'api' });
  const delayMs = 2000 * SCALE;
  const gw = await startGateway({
    server: { shutdown_delay: `${delayMs}ms` },
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
  });
  try {
    assert.equal((await readyz(gw)).status, 200);
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    let r;
    for (let i = 0; i < 100; i++) {
      r = await readyz(gw);
      if (r.status === 503) break;
      await sleep(20);
    }
    assert.equal(r.status, 503);
    assert.match(JSON.parse(r.body).error_description, /shutting down/);
    // Within the delay, a new connection is accepted and forwarded.
    if (Date.now() - t0 < delayMs - 500) {
      const res = await request(gw.port, { path: '/api/v4/echo' });
      assert.equal(res.status, 200);
    }
    const ex = await waitExit(gw.child, delayMs + 15000 * SCALE);
    assert.deepEqual(ex, { code: 0, signal: null }, gw.stderr());
    assert.ok(Date.now() - t0 >= delayMs - 50, `exited ${Date.now() - t0} ms after SIGTERM, before shutdown_delay ${delayMs} ms`);
    assert.equal(await canConnect(gw.port, 500), false);
  } finally {
    await gw.stop();
    await api.stop();
  }
});
