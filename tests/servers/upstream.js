#!/usr/bin/env node
'use strict';
// Test upstream for the gateway's integration tests (and the demo upstream of
// `make run`). Node standard library only.
//
//   node tests/servers/upstream.js [--port 0] [--host 127.0.0.1] [--name api]
//                                  [--keep-alive-timeout MS] [--demo] [--exit-with-stdin]
//
// Prints one JSON line {"port":N,"name":...} on stdout once listening.
//
// Endpoints match on the path suffix, so /api/v4/echo and /mcp/echo are the
// same endpoint; any path that matches nothing below is answered by echo.
//   .../echo            JSON: method, url, httpVersion, rawHeaders, headers,
//                       bodyLength, bodySha256, conn (id of the TCP connection),
//                       n (request number), upstream (--name)
//   .../big?bytes=N     N bytes of big_pattern (byte i = i % 251), Content-Length
//   .../chunked?n=5&ms=200   chunked body "chunk K\n", one every ms (first at once)
//   .../sse?n=5&ms=200  text/event-stream, `data: {"i":K}\n\n` every ms, then end
//   .../delay?ms=N      answers JSON after N ms
//   .../status/N        status N (204/304 and 1xx without a body)
//   .../head            1234-byte body with Content-Length; HEAD gets the headers only
//   .../close           answers with Connection: close, then destroys the socket
//   .../hop             response carrying hop-by-hop headers (Connection-named,
//                       Keep-Alive, Proxy-Authenticate, Upgrade)
// Upstream's own (not under a prefix, exact path):
//   /__stats            {requests, connections, urls, log:[{n,url,method,conn,bodyBytes,complete}]}
//   /__reset            (any method) clears requests/urls/log/connections counters
// --demo adds plausible JSON for /api/v4/* and a minimal MCP endpoint on /mcp.
const http = require('node:http');
const crypto = require('node:crypto');

function parseArgs(argv) {
  const o = { port: 0, host: '127.0.0.1', name: 'upstream', keepAliveTimeout: 60000, demo: false, exitWithStdin: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) { throw new Error(`${a} needs a value`); }
      return argv[++i];
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--host') o.host = next();
    else if (a === '--name') o.name = next();
    else if (a === '--keep-alive-timeout') o.keepAliveTimeout = Number(next());
    else if (a === '--demo') o.demo = true;
    else if (a === '--exit-with-stdin') o.exitWithStdin = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: upstream.js [--port N] [--host H] [--name NAME] [--keep-alive-timeout MS] [--demo] [--exit-with-stdin]\n');
      process.exit(0);
    } else { throw new Error(`unknown argument ${a}`); }
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error('bad --port');
  if (!Number.isFinite(o.keepAliveTimeout) || o.keepAliveTimeout < 0) throw new Error('bad --keep-alive-timeout');
  return o;
}

const opts = parseArgs(process.argv);
const MAX_LOG = 2000;
const MAX_BIG = 512 * 1024 * 1024;
const MAX_WAIT_MS = 120000;
const MAX_EVENTS = 10000;

const state = { connSeq: 0, connections: 0, reqSeq: 0, requests: 0, urls: [], log: [] };

function bigPattern(offset, len) {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (offset + i) % 251;
  return b;
}

function clampInt(v, def, min, max) {
  const n = v === null || v === undefined || v === '' ? def : Number(v);
  if (!Number.isFinite(n)) return def;
  return Math.min(max, Math.max(min, Math.trunc(n)));
}

function sendJson(res, status, obj, extra) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, Object.assign({ 'Content-Type': 'application/json', 'Content-Length': body.length }, extra || {}));
  res.end(body);
}

// Collects the request body while counting bytes into the log entry, so a test
// can see a body arriving before it is complete.
function readBody(req, entry, cb) {
  const hash = crypto.createHash('sha256');
  const parts = [];
  let keep = true; // keep at most 1 MB of body for handlers that parse it
  let total = 0;
  req.on('data', (d) => {
    hash.update(d);
    total += d.length;
    entry.bodyBytes = total;
    if (keep) {
      if (total <= 1024 * 1024) parts.push(d); else { keep = false; parts.length = 0; }
    }
  });
  req.on('end', () => {
    entry.complete = true;
    cb({ length: total, sha256: hash.digest('hex'), text: keep ? Buffer.concat(parts).toString('utf8') : null });
  });
}

function echo(req, res, entry, extra) {
  readBody(req, entry, (body) => {
    sendJson(res, 200, Object.assign({
      upstream: opts.name,
      method: req.method,
      url: req.url,
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders,
      headers: req.headers,
      bodyLength: body.length,
      bodySha256: body.sha256,
      conn: req.socket.__connId,
      n: entry.n,
    }, extra || {}));
  });
}

function timed(res) {
  // Runs fn(k) at k*ms steps; stops when the client goes away.
  const timers = new Set();
  res.on('close', () => { for (const t of timers) clearTimeout(t); timers.clear(); });
  return (delay, f) => {
    const t = setTimeout(() => { timers.delete(t); if (!res.destroyed) f(); }, delay);
    timers.add(t);
  };
}

// ---- demo (make run) ----
const DEMO = {
  profiles: [
    { id: 'p_1001', name: 'Ada Lovelace', email: 'ada@example.com', team: 'Engineering', style: 'Analytical' },
    { id: 'p_1002', name: 'Grace Hopper', email: 'grace@example.com', team: 'Research', style: 'Driver' },
    { id: 'p_1003', name: 'Alan Turing', email: 'alan@example.com', team: 'Research', style: 'Thinker' },
  ],
  tags: [{ id: 't_1', name: 'engineering' }, { id: 't_2', name: 'leadership' }],
  assessments: [{ id: 'a_1', kind: 'disc', profile_id: 'p_1001', completed_at: '2025-01-10T09:00:00Z' }],
  'resource-aliases': [{ id: 'r_1', alias: 'team-handbook', target: '/docs/handbook' }],
};
const DEMO_PROFILES = DEMO.profiles;
const MCP_TOOLS = [
  { name: 'get_profile', description: 'Get one profile by id',
    inputSchema: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
  { name: 'list_profiles', description: 'List the profiles of the account',
    inputSchema: { type: 'object', properties: {} } },
];

// Plausible, stateless answers for the Profile API routes (nothing is stored).
function demoApi(req, res, path, body) {
  const seg = path.slice('/api/v4/'.length).split('/');
  const m = req.method;
  let parsed = null;
  try { parsed = body.text ? JSON.parse(body.text) : null; } catch (e) { parsed = null; }
  if (seg[0] === 'test') return sendJson(res, 200, { ok: true, message: 'authenticated request reached the API', received: parsed });
  if (seg[0] === 'auth') return sendJson(res, 200, { message: 'demo: use an OAuth access token instead of an API key' });
  if (seg[0] === 'account') {
    if (seg.length === 1) return sendJson(res, 200, { id: 'acct_42', name: 'Demo Account', plan: 'team', seats: 25 });
    if (seg[1] === 'preferences') return sendJson(res, 200, Object.assign({ locale: 'en', timezone: 'UTC' }, m === 'GET' ? {} : parsed || {}));
    if (seg[1] === 'logo') return sendJson(res, 200, { url: 'https://example.invalid/logo.png', updated: m !== 'GET' });
    return sendJson(res, 404, { error: 'not_found' });
  }
  const coll = DEMO[seg[0]];
  if (!coll) return sendJson(res, 404, { error: 'not_found', message: `no such resource: ${seg[0]}` });
  if (seg.length === 1) {
    if (m === 'POST') return sendJson(res, 201, Object.assign({ id: `${seg[0][0]}_${crypto.randomInt(10000, 99999)}` }, parsed || {}));
    return sendJson(res, 200, { data: coll, total: coll.length });
  }
  const item = coll.find((x) => x.id === seg[1]);
  if (!item) return sendJson(res, 404, { error: 'not_found', message: `no ${seg[0]} ${seg[1]}` });
  if (seg.length === 2) {
    if (m === 'DELETE') { res.writeHead(204); return res.end(); }
    if (m === 'PUT' || m === 'PATCH') return sendJson(res, 200, Object.assign({}, item, parsed || {}));
    return sendJson(res, 200, item);
  }
  if (seg[0] === 'tags' && seg[2] === 'profiles') return sendJson(res, 200, { data: DEMO.profiles.slice(0, 2) });
  return sendJson(res, m === 'POST' ? 201 : 200, { id: item.id, [seg[2]]: { demo: true, summary: `${seg[2]} for ${item.id}` } });
}

function mcpResult(msg) {
  const id = msg.id === undefined ? null : msg.id;
  switch (msg.method) {
    case 'initialize':
      return { jsonrpc: '2.0', id, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} },
        serverInfo: { name: 'profile-demo-mcp', version: '0.1.0' } } };
    case 'tools/list':
      return { jsonrpc: '2.0', id, result: { tools: MCP_TOOLS } };
    case 'tools/call': {
      const name = msg.params && msg.params.name;
      const args = (msg.params && msg.params.arguments) || {};
      let data;
      if (name === 'list_profiles') data = DEMO_PROFILES;
      else if (name === 'get_profile') data = DEMO_PROFILES.find((x) => x.id === args.id) || null;
      else return { jsonrpc: '2.0', id, error: { code: -32602, message: `unknown tool ${name}` } };
      return { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text: JSON.stringify(data) }], isError: data === null } };
    }
    case 'ping':
      return { jsonrpc: '2.0', id, result: {} };
    default:
      return { jsonrpc: '2.0', id, error: { code: -32601, message: `method not found: ${msg.method}` } };
  }
}

function demoMcp(req, res, entry) {
  if (req.method !== 'POST') {
    res.writeHead(405, { Allow: 'POST', 'Content-Length': 0 });
    return res.end();
  }
  readBody(req, entry, (body) => {
    let msg;
    try { msg = JSON.parse(body.text || ''); } catch (e) {
      return sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32700, message: 'parse error' } });
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
      return sendJson(res, 400, { jsonrpc: '2.0', id: null, error: { code: -32600, message: 'invalid request' } });
    }
    if (msg.id === undefined) { res.writeHead(202, { 'Content-Length': 0 }); return res.end(); } // notification
    const out = mcpResult(msg);
    const extra = msg.method === 'initialize' ? { 'Mcp-Session-Id': crypto.randomUUID() } : {};
    if (/text\/event-stream/.test(req.headers.accept || '')) {
      res.writeHead(200, Object.assign({ 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' }, extra));
      res.end(`event: message\ndata: ${JSON.stringify(out)}\n\n`);
    } else {
      sendJson(res, 200, out, extra);
    }
  });
}

// ---- request handling ----
function handle(req, res) {
  const u = new URL(req.url, 'http://upstream.invalid');
  const path = u.pathname;
  const q = u.searchParams;

  if (path === '/__stats') {
    req.resume();
    return sendJson(res, 200, { requests: state.requests, connections: state.connections, urls: state.urls, log: state.log });
  }
  if (path === '/__reset') {
    req.resume();
    state.requests = 0; state.connections = 0; state.urls = []; state.log = [];
    return sendJson(res, 200, { ok: true });
  }

  state.requests++;
  const entry = { n: ++state.reqSeq, url: req.url, method: req.method, conn: req.socket.__connId, bodyBytes: 0, complete: false };
  if (state.urls.length < MAX_LOG) state.urls.push(req.url);
  if (state.log.length < MAX_LOG) state.log.push(entry);
  req.on('end', () => { entry.complete = true; });
  res.setHeader('X-Upstream-Name', opts.name);

  if (opts.demo) {
    if (path === '/mcp' || path === '/mcp/') return demoMcp(req, res, entry);
    if (/^\/api\/v4\/(test|auth|account|profiles|tags|assessments|resource-aliases)(\/|$)/.test(path)) {
      return readBody(req, entry, (body) => demoApi(req, res, path, body));
    }
  }

  let m;
  if (/\/big$/.test(path)) {
    req.resume();
    const total = clampInt(q.get('bytes'), 1024, 0, MAX_BIG);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total });
    let off = 0;
    const pump = () => {
      while (off < total) {
        const n = Math.min(65536, total - off);
        const ok = res.write(bigPattern(off, n));
        off += n;
        if (!ok) return res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (/\/chunked$/.test(path)) {
    req.resume();
    const n = clampInt(q.get('n'), 5, 1, MAX_EVENTS);
    const ms = clampInt(q.get('ms'), 200, 0, MAX_WAIT_MS);
    const later = timed(res);
    res.writeHead(200, { 'Content-Type': 'text/plain' }); // no length: chunked
    for (let k = 0; k < n; k++) {
      later(k * ms, () => { res.write(`chunk ${k}\n`); if (k === n - 1) res.end(); });
    }
    return;
  }
  if (/\/sse$/.test(path)) {
    req.resume();
    const n = clampInt(q.get('n'), 5, 1, MAX_EVENTS);
    const ms = clampInt(q.get('ms'), 200, 0, MAX_WAIT_MS);
    const later = timed(res);
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    for (let k = 0; k < n; k++) {
      later(k * ms, () => { res.write(`data: {"i":${k}}\n\n`); if (k === n - 1) res.end(); });
    }
    return;
  }
  if (/\/delay$/.test(path)) {
    const ms = clampInt(q.get('ms'), 1000, 0, MAX_WAIT_MS);
    return readBody(req, entry, () => {
      const later = timed(res);
      later(ms, () => sendJson(res, 200, { upstream: opts.name, delayed: ms, url: req.url, conn: req.socket.__connId, n: entry.n }));
    });
  }
  if ((m = /\/status\/(\d{3})$/.exec(path))) {
    req.resume();
    const st = Number(m[1]);
    if (st === 204 || st === 304 || (st >= 100 && st < 200)) {
      res.writeHead(st, st === 304 ? { ETag: '"v1"' } : {});
      return res.end();
    }
    return sendJson(res, st, { status: st });
  }
  if (/\/head$/.test(path)) {
    req.resume();
    const body = Buffer.alloc(1234, 0x78);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length, 'X-Head-Test': 'yes' });
    return res.end(req.method === 'HEAD' ? undefined : body);
  }
  if (/\/close$/.test(path)) {
    req.resume();
    const body = Buffer.from('{"closing":true}');
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, Connection: 'close' });
    res.end(body, () => req.socket.destroy());
    return;
  }
  if (/\/hop$/.test(path)) {
    req.resume();
    const body = Buffer.from('{"hop":true}');
    res.writeHead(200, {
      'Content-Type': 'application/json',
      'Content-Length': body.length,
      Connection: 'keep-alive, X-Resp-Secret',
      'X-Resp-Secret': 'upstream-secret',
      'Keep-Alive': 'timeout=77, max=999',
      'Proxy-Authenticate': 'Basic realm="upstream-proxy"',
      'Proxy-Connection': 'keep-alive',
      Upgrade: 'h2c-test',
      'X-Normal': 'kept',
    });
    return res.end(body);
  }
  return echo(req, res, entry);
}

const server = http.createServer({ keepAliveTimeout: opts.keepAliveTimeout, requestTimeout: 0, headersTimeout: 60000 }, handle);
server.keepAliveTimeout = opts.keepAliveTimeout;
// Node adds a second to keepAliveTimeout on its own; close idle connections
// ourselves, exactly keepAliveTimeout ms after the last response ended.
function armIdle(sock) {
  clearTimeout(sock.__idle);
  if (sock.__inflight > 0 || sock.destroyed) return;
  sock.__idle = setTimeout(() => {
    if (sock.__inflight > 0) return;
    sock.end();
    setTimeout(() => sock.destroy(), 1000).unref();
  }, opts.keepAliveTimeout);
  sock.__idle.unref();
}
server.on('connection', (sock) => {
  sock.__connId = ++state.connSeq;
  sock.__inflight = 0;
  state.connections++;
  armIdle(sock);
  sock.on('close', () => clearTimeout(sock.__idle));
});
server.on('request', (req, res) => {
  const sock = req.socket;
  sock.__inflight++;
  clearTimeout(sock.__idle);
  res.on('close', () => { sock.__inflight--; armIdle(sock); });
});
server.on('clientError', (err, sock) => {
  if (sock.writable) sock.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  else sock.destroy();
});
server.listen(opts.port, opts.host, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, name: opts.name }) + '\n');
  if (opts.demo) {
    process.stderr.write(`demo upstream "${opts.name}" on http://${opts.host}:${server.address().port}\n`);
  }
});
server.on('error', (err) => {
  process.stderr.write(`upstream: ${err.message}\n`);
  process.exit(2);
});
const stop = () => { server.close(); server.closeAllConnections(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// --exit-with-stdin (used by the tests): exit when the parent closes our stdin.
if (opts.exitWithStdin) {
  process.stdin.on('end', stop);
  process.stdin.on('error', () => {});
  process.stdin.resume();
}
