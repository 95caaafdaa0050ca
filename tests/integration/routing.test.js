'use strict';
// Routing by upstream prefix on segment boundaries, the 404 JSON answer, the
// admin listener (/healthz, /readyz) and the JSON access log on stdout.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, request, assertGatewayError } = require('./lib/wire');
const { startUpstream, GatewayFixture, freePort } = require('./lib/procs');

let api; let mcp; let closedPort;
const fx = new GatewayFixture(() => ({
  upstreams: [
    { name: 'api', prefix: '/api/v4', url: api.url },
    { name: 'mcp', prefix: '/mcp', url: mcp.url },
    { name: 'down', prefix: '/down', url: `http://127.0.0.1:${closedPort}` },
  ],
}));
const T = { timeout: 20000 * SCALE };

before(async () => {
  api = await startUpstream({ name: 'api' });
  mcp = await startUpstream({ name: 'mcp' });
  closedPort = await freePort();
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  for (const u of [api, mcp]) if (u) await u.stop();
});

async function routedTo(path, upstream, method = 'GET') {
  const gw = await fx.ensure();
  const res = await request(gw.port, { method, path });
  assert.equal(res.status, 200, `${path}: ${res.status} ${res.body.toString('utf8').slice(0, 200)}`);
  assert.equal(res.headers['x-upstream-name'], upstream, `${path} went to ${res.headers['x-upstream-name']}`);
  const e = res.json();
  assert.equal(e.url, path, 'the full path (prefix kept) and query are forwarded');
  return e;
}

test('/api/v4/x is routed to the api upstream', T, () => routedTo('/api/v4/x', 'api'));
test('/api/v4/profiles/123?fields=a,b is routed to the api upstream with its query', T, () => routedTo('/api/v4/profiles/123?fields=a,b', 'api'));
test('/api/v4 (the prefix itself) is routed to the api upstream', T, () => routedTo('/api/v4', 'api'));
test('/mcp (the prefix itself) is routed to the mcp upstream', T, () => routedTo('/mcp', 'mcp', 'POST'));
test('/mcp?session=1 (prefix with a query) is routed to the mcp upstream', T, () => routedTo('/mcp?session=1', 'mcp'));
test('/mcp/x is routed to the mcp upstream', T, () => routedTo('/mcp/x', 'mcp'));
test('/mcp/ (trailing slash) is routed to the mcp upstream', T, () => routedTo('/mcp/', 'mcp'));

async function notFound(path) {
  const gw = await fx.ensure();
  await api.reset(); await mcp.reset();
  const res = await request(gw.port, { path });
  assertGatewayError(res, 404, 'not_found', path);
  const a = await api.stats(); const m = await mcp.stats();
  assert.equal(a.requests + m.requests, 0, `${path} reached an upstream`);
}

test('/mcpx is not under /mcp (segment boundary): 404 not_found JSON', T, () => notFound('/mcpx'));
test('/mcpx/y is not under /mcp: 404 not_found JSON', T, () => notFound('/mcpx/y'));
test('/api/v4x is not under /api/v4: 404 not_found JSON', T, () => notFound('/api/v4x/echo'));
test('/api (a parent of the prefix) is not routed: 404 not_found JSON', T, () => notFound('/api'));
test('/ is not routed: 404 not_found JSON', T, () => notFound('/'));
test('/API/v4/x (prefix matching is case-sensitive): 404 not_found JSON', T, () => notFound('/API/v4/x'));

test('404 keeps the client connection usable (keep-alive)', T, async () => {
  const gw = await fx.ensure();
  const http = require('node:http');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const r1 = await request(gw.port, { path: '/nowhere', agent });
    assert.equal(r1.status, 404);
    const r2 = await request(gw.port, { path: '/api/v4/echo?after-404', agent });
    assert.equal(r2.status, 200);
    assert.ok(r2.reused, 'connection closed after a 404');
  } finally { agent.destroy(); }
});

test('admin listener: GET /healthz answers 200', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.adminPort, { path: '/healthz' });
  assert.equal(res.status, 200);
});

test('admin listener: GET /readyz answers 200 when ready', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.adminPort, { path: '/readyz' });
  assert.equal(res.status, 200);
});

async function waitLog(gw, pred, ms = 3000 * SCALE) {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const rec = gw.accessLog().find(pred);
    if (rec) return rec;
    await sleep(50);
  }
  return gw.accessLog().find(pred);
}

function checkFields(rec) {
  for (const k of ['time', 'method', 'path', 'status', 'upstream', 'bytes', 'duration_ms']) {
    assert.ok(k in rec, `access log record lacks "${k}": ${JSON.stringify(rec)}`);
  }
  assert.ok((typeof rec.time === 'string' && !Number.isNaN(Date.parse(rec.time))) || typeof rec.time === 'number', `time: ${rec.time}`);
  assert.equal(typeof rec.status, 'number');
  assert.equal(typeof rec.bytes, 'number');
  assert.equal(typeof rec.duration_ms, 'number');
  assert.ok(rec.duration_ms >= 0);
}

test('access log: a proxied request is one JSON line with time, method, path, status 200, upstream, bytes, duration_ms', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { method: 'POST', path: '/api/v4/echo?log=proxied', body: 'abc' });
  assert.equal(res.status, 200);
  const rec = await waitLog(gw, (r) => typeof r.path === 'string' && r.path.startsWith('/api/v4/echo') && r.method === 'POST');
  assert.ok(rec, `no access log line; stdout: ${JSON.stringify(gw.logLines().slice(-5))}`);
  checkFields(rec);
  assert.equal(rec.status, 200);
  assert.equal(rec.upstream, 'api');
  assert.ok(rec.bytes > 0, `bytes: ${rec.bytes}`);
  assert.equal(typeof rec.upstream_ms, 'number', 'upstream time logged');
  assert.ok(rec.upstream_ms >= 0 && rec.upstream_ms <= rec.duration_ms);
  assert.match(rec.request_id, /^[0-9a-f]{32}$/, 'a generated request id');
});

test('access log: the gateway\'s own 404 is logged with status 404', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { path: '/not-routed-for-log' });
  assert.equal(res.status, 404);
  const rec = await waitLog(gw, (r) => r.path === '/not-routed-for-log');
  assert.ok(rec, `no access log line; stdout: ${JSON.stringify(gw.logLines().slice(-5))}`);
  checkFields(rec);
  assert.equal(rec.status, 404);
  assert.equal(rec.method, 'GET');
});

test('access log: a 502 from an unreachable upstream is logged with status 502 and its upstream', T, async () => {
  const gw = await fx.ensure();
  const res = await request(gw.port, { path: '/down/for-log' });
  assert.equal(res.status, 502);
  const rec = await waitLog(gw, (r) => r.path === '/down/for-log');
  assert.ok(rec, `no access log line; stdout: ${JSON.stringify(gw.logLines().slice(-5))}`);
  checkFields(rec);
  assert.equal(rec.status, 502);
  assert.equal(rec.upstream, 'down');
});

test('access log: every stdout line is a JSON object', T, async () => {
  const gw = await fx.ensure();
  await sleep(200);
  const lines = gw.logLines().filter((l) => l.trim() !== '');
  assert.ok(lines.length > 0, 'nothing on stdout');
  for (const l of lines) {
    let v;
    assert.doesNotThrow(() => { v = JSON.parse(l); }, `not JSON: ${l}`);
    assert.equal(typeof v, 'object');
  }
});

test('the gateway process stayed up through this file (no crash)', T, async () => {
  const gw = await fx.ensure();
  assert.deepEqual(fx.crashes, [], `gateway crashed: ${JSON.stringify(fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
});
