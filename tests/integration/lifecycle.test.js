'use strict';
// The command line (--version, --help, -t, exit codes 0/1/2), config errors as
// FILE:LINE, long config lines, SIGTERM/SIGINT drain, and workers = 2.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const http = require('node:http');
const { spawn } = require('node:child_process');
const { SCALE, sleep, request, RawConn } = require('./lib/wire');
const {
  GATEWAY_BIN, startUpstream, startGateway, configText, runGatewaySync, tmpDir, freePorts,
  publicPolicy, waitExit, stopChild,
} = require('./lib/procs');

let api;
const T = { timeout: 40000 * SCALE };
const started = new Set(); // gateways started by a test, stopped in after()

before(async () => { api = await startUpstream({ name: 'api' }); });
after(async () => {
  for (const g of started) await g.stop('SIGKILL');
  if (api) await api.stop();
});

async function gateway(cfg) {
  const gw = await startGateway(Object.assign({ upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }] }, cfg));
  started.add(gw);
  return gw;
}

async function writeConfig(opts = {}, name = 'gateway.ini') {
  const dir = tmpDir();
  const [port, adminPort] = await freePorts(2);
  const { text, where } = configText(Object.assign({
    port, adminPort, policyFile: publicPolicy(dir),
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
  }, opts));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return { dir, file, where, port, adminPort, text };
}

test('--version exits 0 and prints a version', T, () => {
  const r = runGatewaySync(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /\d+\.\d+/);
});

test('--help exits 0 and documents -c and -t', T, () => {
  const r = runGatewaySync(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout + r.stderr, /-c\b/);
  assert.match(r.stdout + r.stderr, /-t\b/);
});

test('-t on a good config prints "configuration ok" and exits 0', T, async () => {
  const c = await writeConfig();
  const r = runGatewaySync(['-t', '-c', c.file]);
  assert.equal(r.code, 0, `stderr: ${r.stderr}`);
  assert.match(r.stdout, /configuration ok/);
});

test('-t on a config with an unknown key prints FILE:LINE: for that key and exits 1', T, async () => {
  const c = await writeConfig({ server: { bogus_key: 'x' } });
  const r = runGatewaySync(['-t', '-c', c.file]);
  assert.equal(r.code, 1, `stdout: ${r.stdout} stderr: ${r.stderr}`);
  assert.ok(r.stderr.includes(`${c.file}:${c.where['server.bogus_key']}:`), `expected "${c.file}:${c.where['server.bogus_key']}:" in stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stdout, /configuration ok/);
});

test('-t on an unknown section prints FILE:LINE: for the section and exits 1', T, async () => {
  const c = await writeConfig({ extra: '[bogus_section]\nkey = 1\n' });
  const line = c.text.split('\n').indexOf('[bogus_section]') + 1;
  const r = runGatewaySync(['-t', '-c', c.file]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^${escapeRe(c.file)}:(${line}|${line + 1}):`, 'm'));
});

test('-t reports every error, each as FILE:LINE: message (unknown key and bad duration)', T, async () => {
  const c = await writeConfig({
    server: { bogus_key: 'x' },
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url, response_timeout: 'banana' }],
  });
  const r = runGatewaySync(['-t', '-c', c.file]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^${escapeRe(c.file)}:${c.where['server.bogus_key']}: \\S`, 'm'));
  assert.match(r.stderr, new RegExp(`^${escapeRe(c.file)}:${c.where['upstream:api.response_timeout']}: \\S`, 'm'));
});

test('-t prints FILE as given on the command line (relative path)', T, async () => {
  const c = await writeConfig({ server: { bogus_key: 'x' } }, 'rel.ini');
  const r = spawnSyncIn(c.dir, ['-t', '-c', 'rel.ini']);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^rel\\.ini:${c.where['server.bogus_key']}: `, 'm'));
});

test('-t on a missing config file exits 1 with a message', T, () => {
  const r = runGatewaySync(['-t', '-c', '/nonexistent/dir/gateway.ini']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /nonexistent\/dir\/gateway\.ini/);
});

test('-c with a bad config exits 1 without serving', T, async () => {
  const c = await writeConfig({ server: { workers: 'many' } });
  const child = spawn(GATEWAY_BIN, ['-c', c.file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  child.stdout.resume();
  const r = await waitExit(child, 5000 * SCALE);
  if (!r) await stopChild(child, { signal: 'SIGKILL' });
  assert.ok(r, 'gateway kept running with a bad config');
  assert.equal(r.code, 1, err);
  assert.match(err, new RegExp(`${escapeRe(c.file)}:${c.where['server.workers']}:`));
});

test('a config line longer than 200 characters is read whole or rejected with FILE:LINE, never truncated', T, async () => {
  const longPrefix = '/long/' + 'l'.repeat(290);
  const c = await writeConfig({ upstreams: [{ name: 'long', prefix: longPrefix, url: api.url }] });
  assert.ok(c.text.split('\n')[c.where['upstream:long.prefix'] - 1].length > 250);
  const r = runGatewaySync(['-t', '-c', c.file]);
  if (r.code === 1) {
    assert.match(r.stderr, new RegExp(`^${escapeRe(c.file)}:${c.where['upstream:long.prefix']}: `, 'm'), 'rejected, but not at the long line');
    return;
  }
  assert.equal(r.code, 0, r.stderr);
  const gw = await gateway({ upstreams: [{ name: 'long', prefix: longPrefix, url: api.url }] });
  const full = await request(gw.port, { path: `${longPrefix}/echo` });
  assert.equal(full.status, 200, 'the full long prefix is not routed');
  const cut = await request(gw.port, { path: `${longPrefix.slice(0, 180)}/echo` });
  assert.equal(cut.status, 404, 'a truncated prefix is routed: the long line was cut');
  await gw.stop();
});

test('listening on a port already in use exits 2', T, async () => {
  const blocker = net.createServer();
  await new Promise((res, rej) => { blocker.on('error', rej); blocker.listen(0, '127.0.0.1', res); });
  try {
    const c = await writeConfig({ port: blocker.address().port });
    const child = spawn(GATEWAY_BIN, ['-c', c.file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    child.stdout.resume();
    const r = await waitExit(child, 5000 * SCALE);
    if (!r) await stopChild(child, { signal: 'SIGKILL' });
    assert.ok(r, 'gateway kept running without its listener');
    assert.equal(r.code, 2, err);
  } finally {
    await new Promise((r) => blocker.close(r));
  }
});

test('SIGTERM drain: in-flight slow request completes with 200 and Connection: close, new connections refused, exit 0', T, async () => {
  const gw = await gateway({ server: { drain_timeout: '5s' }, upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url, response_timeout: '10s' }] });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  try {
    const inflight = request(gw.port, { path: '/api/v4/delay?ms=1500', agent, timeoutMs: 10000 * SCALE });
    inflight.catch(() => {});
    await sleep(400);
    const tTerm = Date.now();
    gw.child.kill('SIGTERM');
    await sleep(300);
    // A new connection after SIGTERM: refused, or closed without being served.
    let c = null;
    try { c = await RawConn.connect(gw.port, 2000); } catch (e) { /* refused: fine */ }
    if (c) {
      await c.write('GET /api/v4/echo?after-term HTTP/1.1\r\nHost: t\r\n\r\n');
      await c.waitClose(3000 * SCALE);
      const rs = await c.waitResponses(1, 10);
      c.destroy();
      assert.ok(!(rs.length && rs[0].status === 200), 'a connection made after SIGTERM was served');
      assert.ok(c.closed || rs.length, 'a connection made after SIGTERM was left hanging');
    }
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.equal(res.json().delayed, 1500);
    assert.match(String(res.headers.connection || ''), /close/i, 'response sent during drain lacks Connection: close');
    const ex = await waitExit(gw.child, 5000 + 3000 * SCALE);
    assert.ok(ex, 'gateway did not exit within drain_timeout');
    assert.equal(ex.code, 0, `exit ${JSON.stringify(ex)}; stderr: ${gw.stderr().slice(-2000)}`);
    assert.ok(Date.now() - tTerm < 5000 + 2000 * SCALE);
  } finally { agent.destroy(); }
});

test('SIGTERM closes idle keep-alive connections and exits 0 promptly (drain_timeout 10s not waited)', T, async () => {
  const gw = await gateway({ server: { drain_timeout: '10s', idle_timeout: '30s' } });
  const c = await RawConn.connect(gw.port);
  try {
    await c.write('GET /api/v4/echo?idle-before-term HTTP/1.1\r\nHost: t\r\n\r\n');
    const rs = await c.waitResponses(1, 5000 * SCALE);
    assert.equal(rs.length === 1 && rs[0].status, 200);
    const t0 = Date.now();
    gw.child.kill('SIGTERM');
    const closed = await c.waitClose(3000 * SCALE);
    assert.ok(closed, 'idle keep-alive connection not closed on SIGTERM');
    const ex = await waitExit(gw.child, 3000 * SCALE);
    assert.ok(ex, `gateway still running ${Date.now() - t0} ms after SIGTERM with only idle connections`);
    assert.equal(ex.code, 0, gw.stderr().slice(-2000));
  } finally { c.destroy(); }
});

test('SIGTERM: a request longer than drain_timeout (1s) is cut and the process exits 0 after ~drain_timeout', T, async () => {
  const gw = await gateway({ server: { drain_timeout: '1s' }, upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url, response_timeout: '30s' }] });
  const inflight = request(gw.port, { path: '/api/v4/delay?ms=8000', timeoutMs: 15000 * SCALE }).then((r) => r, (e) => e);
  await sleep(300);
  const t0 = Date.now();
  gw.child.kill('SIGTERM');
  const ex = await waitExit(gw.child, 1000 + 3000 * SCALE);
  assert.ok(ex, `gateway still running ${Date.now() - t0} ms after SIGTERM (drain_timeout 1s)`);
  assert.equal(ex.code, 0, gw.stderr().slice(-2000));
  const dt = Date.now() - t0;
  assert.ok(dt >= 800, `exited after ${dt} ms, before drain_timeout`);
  const r = await inflight;
  assert.ok(r instanceof Error || r.status !== 200, 'the cut request was reported as a success');
});

test('SIGINT drains and exits 0 like SIGTERM', T, async () => {
  const gw = await gateway({});
  const res = await request(gw.port, { path: '/api/v4/echo?before-int' });
  assert.equal(res.status, 200);
  gw.child.kill('SIGINT');
  const ex = await waitExit(gw.child, 5000 * SCALE);
  assert.ok(ex, 'gateway still running after SIGINT');
  assert.equal(ex.code, 0, gw.stderr().slice(-2000));
});

test('workers = 2: 60 parallel requests on separate connections are all answered 200, then SIGTERM exits 0', T, async () => {
  const gw = await gateway({ server: { workers: 2 } });
  const reqs = [];
  for (let i = 0; i < 60; i++) reqs.push(request(gw.port, { path: `/api/v4/echo?w=${i}`, timeoutMs: 15000 * SCALE }).then((r) => r, (e) => e));
  const rs = await Promise.all(reqs);
  const bad = rs.map((r, i) => [i, r instanceof Error ? r.message : r.status]).filter(([, s]) => s !== 200);
  assert.deepEqual(bad, [], 'requests not answered 200');
  for (let i = 0; i < 60; i++) assert.equal(rs[i].json().url, `/api/v4/echo?w=${i}`);
  const ex = await gw.stop('SIGTERM');
  assert.equal(ex && ex.code, 0, gw.stderr().slice(-2000));
});

test('workers = 2: keep-alive clients on both workers get pipelined and sequential answers', T, async () => {
  const gw = await gateway({ server: { workers: 2 } });
  const conns = [];
  try {
    for (let i = 0; i < 8; i++) conns.push(await RawConn.connect(gw.port));
    await Promise.all(conns.map((c, i) => c.write(`GET /api/v4/echo?k=${i}a HTTP/1.1\r\nHost: t\r\n\r\nGET /api/v4/echo?k=${i}b HTTP/1.1\r\nHost: t\r\n\r\n`)));
    for (let i = 0; i < conns.length; i++) {
      const rs = await conns[i].waitResponses(2, 8000 * SCALE);
      assert.equal(rs.length, 2, `connection ${i}`);
      assert.deepEqual(rs.map((r) => r.json().url), [`/api/v4/echo?k=${i}a`, `/api/v4/echo?k=${i}b`]);
    }
  } finally {
    for (const c of conns) c.destroy();
    await gw.stop();
  }
});

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }

function spawnSyncIn(cwd, args) {
  const r = require('node:child_process').spawnSync(GATEWAY_BIN, args, { cwd, encoding: 'utf8', timeout: 20000 * SCALE });
  return { code: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

