'use strict';
// A flood of wrong-secret token requests must not starve unrelated traffic
// (the hardening issue, item 3). PBKDF2 runs on the gateway's own bounded
// pool: when its queue is full the token endpoint answers 503 with
// Retry-After, and name resolution for a hostname upstream ("localhost",
// resolved for every request because pool_size = 0) never waits behind it.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { SCALE } = require('./lib/wire');
const { startGateway, startUpstream } = require('./lib/procs');
const { m2mSections, TOKEN_PATH } = require('./lib/m2m-kit');

function request({ port, method = 'GET', path, headers = {}, body, timeoutMs }) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: b, ms: Date.now() - t0 }));
      res.on('error', () => resolve({ status: 0, ms: Date.now() - t0 }));
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.on('error', () => resolve({ status: 0, ms: Date.now() - t0 }));
    req.end(body);
  });
}

test('wrong-secret token floods: 503 + Retry-After when the PBKDF2 queue is full, hostname upstreams unaffected', async () => {
  const up = await startUpstream({ name: 'named' });
  const port = await require('./lib/procs').freePort();
  const gw = await startGateway({
    port,
    server: { workers: 2, max_connections: 2000, idle_timeout: '30s' },
    // connect_timeout bounds resolving too: a resolution stuck behind
    // PBKDF2 jobs shows up as a 502 or a slow answer.
    upstreams: [{ name: 'named', prefix: '/api', url: `http://localhost:${up.port}`, pool_size: 0,
      connect_timeout: '2s', response_timeout: '5s' }],
    log: { access: 'off' },
    extra: m2mSections({ port, maxFailures: 0, trustSelf: false, forward: false }),
  });
  try {
    const body = JSON.stringify({ grant_type: 'client_credentials', client_id: 'demo', client_secret: 'wrong' });
    const tokenReq = () => request({ port: gw.port, method: 'POST', path: TOKEN_PATH, body, timeoutMs: 60000 * SCALE,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } });
    const results = [];
    let flooding = true;
    // Bounded: 300 token requests in flight, 2 rounds.
    const flood = (async () => {
      for (let round = 0; round < 2; round++) {
        const rs = await Promise.all(Array.from({ length: 300 }, tokenReq));
        results.push(...rs);
      }
      flooding = false;
    })();
    const api = [];
    for (let i = 0; i < 90 && flooding; i++) api.push(await request({ port: gw.port, path: `/api/n${i}`, timeoutMs: 10000 * SCALE }));
    await flood;

    const bad = api.filter((r) => r.status !== 200);
    assert.deepEqual(bad.map((r) => r.status), [], 'requests to the hostname upstream during the flood');
    assert.ok(api.length >= 10, `only ${api.length} upstream requests during the flood`);
    const slowest = Math.max(...api.map((r) => r.ms));
    assert.ok(slowest < 1500 * SCALE, `an upstream request took ${slowest} ms during the flood`);

    const statuses = {};
    for (const r of results) statuses[r.status] = (statuses[r.status] || 0) + 1;
    const busy = results.filter((r) => r.status === 503);
    assert.ok(busy.length > 0, `no 503 from a full queue: ${JSON.stringify(statuses)}`);
    assert.equal(busy[0].headers['retry-after'], '1');
    assert.equal(JSON.parse(busy[0].body).error, 'temporarily_unavailable');
    assert.equal((statuses[401] || 0) + busy.length, results.length, `only 401 and 503: ${JSON.stringify(statuses)}`);
    // Once the flood is over, the endpoint works again.
    const again = await tokenReq();
    assert.equal(again.status, 401);
  } finally {
    await gw.stop();
    await up.stop();
  }
});
