'use strict';
// Bodies through the gateway: large bodies intact both ways, chunked request
// bodies (node client, curl -T -), request bodies streamed before they are
// complete, slow chunked responses and SSE delivered incrementally, SSE
// longer than idle_timeout not cut, and a stalled reader not making the
// gateway hold a whole response in memory.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const { SCALE, sleep, sha256, bigPattern, request, RawConn } = require('./lib/wire');
const { startUpstream, GatewayFixture } = require('./lib/procs');

let api; let mcp;
const fx = new GatewayFixture(() => ({
  upstreams: [
    { name: 'api', prefix: '/api/v4', url: api.url },
    { name: 'mcp', prefix: '/mcp', url: mcp.url, response_timeout: '2s' },
  ],
}));
const T = { timeout: 40000 * SCALE };

before(async () => {
  api = await startUpstream({ name: 'api' });
  mcp = await startUpstream({ name: 'mcp' });
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  for (const u of [api, mcp]) if (u) await u.stop();
});

test('2 MB response arrives intact (sha256)', T, async () => {
  const gw = await fx.ensure();
  const n = 2 * 1024 * 1024;
  const res = await request(gw.port, { path: `/api/v4/big?bytes=${n}`, timeoutMs: 20000 * SCALE });
  assert.equal(res.status, 200);
  assert.equal(res.body.length, n);
  assert.equal(sha256(res.body), sha256(bigPattern(n)));
});

test('5 MB request body (Content-Length) arrives intact at the upstream (sha256)', T, async () => {
  const gw = await fx.ensure();
  const body = crypto.randomBytes(5 * 1024 * 1024);
  const res = await request(gw.port, { method: 'POST', path: '/api/v4/echo?big-upload', body, timeoutMs: 20000 * SCALE });
  assert.equal(res.status, 200);
  const e = res.json();
  assert.equal(e.bodyLength, body.length);
  assert.equal(e.bodySha256, sha256(body));
});

test('chunked request body (no Content-Length, 40 chunks) arrives intact at the upstream', T, async () => {
  const gw = await fx.ensure();
  const chunks = [];
  for (let i = 0; i < 40; i++) chunks.push(crypto.randomBytes(1000 + i * 997));
  const all = Buffer.concat(chunks);
  const res = await request(gw.port, { method: 'POST', path: '/api/v4/echo?chunked-upload', chunks, timeoutMs: 20000 * SCALE });
  assert.equal(res.status, 200);
  const e = res.json();
  assert.equal(e.bodyLength, all.length);
  assert.equal(e.bodySha256, sha256(all));
});

test('curl -T - (chunked upload from stdin, 300 KB) arrives intact at the upstream', T, async () => {
  const gw = await fx.ensure();
  const body = crypto.randomBytes(300 * 1024);
  const out = await new Promise((resolve, reject) => {
    const ch = spawn('curl', ['-sS', '--max-time', String(20 * SCALE), '-T', '-', '-X', 'POST',
      `http://127.0.0.1:${gw.port}/api/v4/echo?curl-upload`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let o = ''; let e = '';
    ch.stdout.on('data', (d) => { o += d; });
    ch.stderr.on('data', (d) => { e += d; });
    ch.on('error', reject);
    ch.on('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(`curl exited ${code}: ${e}`))));
    ch.stdin.on('error', () => {});
    ch.stdin.end(body);
  });
  const e = JSON.parse(out);
  assert.equal(e.method, 'POST');
  assert.ok(/chunked/i.test(e.headers['transfer-encoding'] || '') || e.headers['content-length'] !== undefined);
  assert.equal(e.bodyLength, body.length);
  assert.equal(e.bodySha256, sha256(body));
});

test('request body is streamed: the upstream receives the first part before the client sends the rest', T, async () => {
  const gw = await fx.ensure();
  const total = 1024 * 1024;
  const body = crypto.randomBytes(total);
  const c = await RawConn.connect(gw.port);
  try {
    await c.write(`POST /api/v4/echo?stream-req HTTP/1.1\r\nHost: t\r\nContent-Length: ${total}\r\n\r\n`);
    await c.write(body.subarray(0, 64 * 1024));
    let seen = 0;
    const deadline = Date.now() + 5000 * SCALE;
    for (let i = 0; i < 200 && Date.now() < deadline; i++) {
      const st = await api.stats();
      const entry = st.log.find((x) => x.url === '/api/v4/echo?stream-req');
      if (entry && entry.bodyBytes > 0) { seen = entry.bodyBytes; break; }
      await sleep(50);
    }
    assert.ok(seen > 0, 'upstream had received no body bytes while the client held back the rest (request body buffered whole?)');
    await c.write(body.subarray(64 * 1024));
    const rs = await c.waitResponses(1, 10000 * SCALE);
    assert.equal(rs.length, 1);
    assert.equal(rs[0].status, 200);
    assert.equal(rs[0].json().bodySha256, sha256(body));
  } finally { c.destroy(); }
});

// Streams GET path and records when each marker first appears in the body.
function timedStream(port, path, markers, timeoutMs) {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const seen = new Array(markers.length).fill(-1);
    let text = '';
    let headers = null;
    let status = 0;
    const sock = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`stream ${path} timed out; got ${JSON.stringify(text.slice(0, 400))}`)); }, timeoutMs);
    let buf = '';
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n\r\n`));
    sock.setEncoding('latin1');
    sock.on('data', (d) => {
      buf += d;
      const now = Date.now() - t0;
      for (let i = 0; i < markers.length; i++) if (seen[i] < 0 && buf.includes(markers[i])) seen[i] = now;
      if (!headers) {
        const he = buf.indexOf('\r\n\r\n');
        if (he >= 0) {
          const head = buf.slice(0, he);
          status = Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] || 0);
          headers = head.toLowerCase();
        }
      }
      text = buf;
      // done when the chunked terminator or close arrives after the last marker
      if (seen[markers.length - 1] >= 0 && /\r\n0\r\n\r\n$/.test(buf)) {
        clearTimeout(timer);
        sock.destroy();
        resolve({ seen, text, headers, status, ended: true, endAt: now });
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ seen, text, headers, status, ended: seen[markers.length - 1] >= 0, endAt: Date.now() - t0, closed: true });
    });
    sock.on('error', () => {});
  });
}

test('slow chunked response (5 chunks, 300 ms apart) is delivered incrementally', T, async () => {
  const gw = await fx.ensure();
  const markers = [0, 1, 2, 3, 4].map((k) => `chunk ${k}\n`);
  const r = await timedStream(gw.port, '/api/v4/chunked?n=5&ms=300', markers, 15000 * SCALE);
  assert.equal(r.status, 200);
  assert.ok(r.seen.every((t) => t >= 0), `missing chunks; got ${JSON.stringify(r.text.slice(-300))}`);
  assert.ok(r.seen[4] - r.seen[0] >= 800, `chunks arrived together (buffered): times ${r.seen.join(',')} ms`);
  for (let k = 0; k < 4; k++) {
    assert.ok(r.seen[k + 1] - r.seen[k] >= 100, `chunk ${k + 1} arrived with chunk ${k}: times ${r.seen.join(',')} ms`);
  }
});

test('SSE: events (5, 300 ms apart) arrive one by one, each before the next is sent and before the end', T, async () => {
  const gw = await fx.ensure();
  const markers = [0, 1, 2, 3, 4].map((k) => `data: {"i":${k}}\n\n`);
  const r = await timedStream(gw.port, '/mcp/sse?n=5&ms=300', markers, 15000 * SCALE);
  assert.equal(r.status, 200);
  assert.match(r.headers, /\r\ncontent-type: text\/event-stream/);
  assert.ok(r.seen.every((t) => t >= 0), `missing events; got ${JSON.stringify(r.text.slice(-300))}`);
  for (let k = 0; k < 4; k++) {
    assert.ok(r.seen[k + 1] - r.seen[k] >= 150, `event ${k + 1} arrived with event ${k}: times ${r.seen.join(',')} ms`);
  }
  assert.ok(r.endAt - r.seen[0] >= 900, 'first event arrived only at the end of the stream');
});

test('SSE stream longer than idle_timeout (12 events over 3.3 s, idle_timeout 2s) is not cut', T, async () => {
  const gw = await fx.ensure();
  const markers = [];
  for (let k = 0; k < 12; k++) markers.push(`data: {"i":${k}}\n\n`);
  const r = await timedStream(gw.port, '/mcp/sse?n=12&ms=300', markers, 20000 * SCALE);
  assert.equal(r.status, 200);
  const got = r.seen.filter((t) => t >= 0).length;
  assert.equal(got, 12, `stream cut after ${got} events (at ${r.endAt} ms)`);
});

// MCP servers stay silent for minutes during a long tool call: an event
// stream is never cut for silence; any other body still is (idle_timeout 2s).
test('SSE silent for more than 2x idle_timeout (events 4.5 s apart, idle_timeout 2s) keeps flowing', T, async () => {
  const gw = await fx.ensure();
  const markers = [0, 1].map((k) => `data: {"i":${k}}\n\n`);
  const r = await timedStream(gw.port, '/mcp/sse?n=2&ms=4500', markers, 30000 * SCALE);
  assert.equal(r.status, 200);
  const got = r.seen.filter((t) => t >= 0).length;
  assert.equal(got, 2, `stream cut after ${got} events (at ${r.endAt} ms)`);
  assert.ok(r.seen[1] - r.seen[0] >= 4000, `the events were not apart: ${r.seen.join(',')}`);
});

test('a chunked (non-SSE) body silent for longer than idle_timeout is cut', T, async () => {
  const gw = await fx.ensure();
  const markers = [0, 1].map((k) => `chunk ${k}\n`);
  const r = await timedStream(gw.port, '/api/v4/chunked?n=2&ms=3000', markers, 30000 * SCALE);
  assert.ok(r.seen[0] >= 0, 'the first chunk arrived');
  assert.ok(r.seen[1] < 0 && r.closed, `a silent non-SSE body must be cut, got ${JSON.stringify(r.text.slice(-200))}`);
});

function rssKb(pid) {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(s)[1]);
}

test('a client that stops reading a 64 MB response does not make the gateway buffer it (RSS growth < 24 MB), then gets it intact', T, async () => {
  const gw = await fx.ensure();
  const n = 64 * 1024 * 1024;
  const rss0 = rssKb(gw.child.pid);
  const sock = net.connect({ host: '127.0.0.1', port: gw.port });
  const hash = crypto.createHash('sha256');
  try {
    await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
    sock.write(`GET /api/v4/big?bytes=${n} HTTP/1.1\r\nHost: t\r\n\r\n`);
    sock.pause();
    await sleep(1200); // under idle_timeout (2s); the upstream writes as fast as it can meanwhile
    const rssStalled = rssKb(gw.child.pid);
    const growthMb = (rssStalled - rss0) / 1024;
    // Now read everything.
    let head = null; let rest = Buffer.alloc(0); let got = 0;
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`read timed out at ${got} bytes`)), 30000 * SCALE);
      sock.on('data', (d) => {
        if (!head) {
          rest = Buffer.concat([rest, d]);
          const he = rest.indexOf('\r\n\r\n');
          if (he < 0) return;
          head = rest.subarray(0, he).toString('latin1');
          d = rest.subarray(he + 4);
        }
        hash.update(d);
        got += d.length;
        if (got >= n) { clearTimeout(t); resolve(); }
      });
      sock.on('close', () => { clearTimeout(t); resolve(); });
      sock.resume();
    });
    assert.match(head || '', /^HTTP\/1\.1 200 /);
    assert.ok(/\r\ncontent-length: 67108864/i.test(head), `expected the upstream Content-Length to be kept: ${head}`);
    assert.equal(got, n);
    const expect = crypto.createHash('sha256');
    for (let off = 0; off < n; off += 1 << 20) {
      const b = Buffer.allocUnsafe(1 << 20);
      for (let i = 0; i < b.length; i++) b[i] = (off + i) % 251;
      expect.update(b);
    }
    assert.equal(hash.digest('hex'), expect.digest('hex'));
    assert.ok(growthMb < 24, `gateway RSS grew by ${growthMb.toFixed(1)} MB while the client was not reading`);
  } finally { sock.destroy(); }
});

test('the gateway process stayed up through this file (no crash)', T, async () => {
  const gw = await fx.ensure();
  assert.deepEqual(fx.crashes, [], `gateway crashed: ${JSON.stringify(fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
});
