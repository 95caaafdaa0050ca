#!/usr/bin/env node
'use strict';
// The MCP server behind the gateway in the MCP tests, and the demo MCP server
// of `make run`: the official TypeScript SDK's McpServer on its
// StreamableHTTPServerTransport, over node:http on loopback. Needs the npm
// packages of the repo's package.json (tests/deps.sh installs them).
//
//   node tests/servers/mcp-server.js [--port 0] [--host 127.0.0.1] [--json]
//                                    [--stateless] [--exit-with-stdin]
//
// Prints one JSON line {"port":N,"json":bool,"stateless":bool} on stdout once
// listening. --json answers POSTs with application/json instead of an SSE
// stream; --stateless runs without sessions (no Mcp-Session-Id), one server
// per request. By default every initialize opens a session of its own.
//
// MCP (Streamable HTTP) is served on every path not starting with /__ (the
// gateway forwards /mcp as /mcp). What it offers, one tool per Profile API
// scope so that a policy can give each its scope:
//   tools      list_profiles, get_profile {id}      profiles:read
//              create_profile {name, email}         profiles:write
//              list_tags                            tags:manage
//              get_account                          account:read
//              update_account {logo_url}            account:write
//              greet {name}, secret                 for the tests
//   prompts    summarize_profile {id}, draft_invite {name}
//   resources  profile://demo/1, profile://demo/2, account://demo,
//              file:///private/keys.txt
// Test endpoints (plain HTTP, exact paths, any method):
//   /__executions  [{n, kind: tool|prompt|resource, name, args, sessionId}]
//                  every tool call, prompt get and resource read that ran
//   /__requests    [{n, method, url, rawHeaders, sessionId, body (base64)}]
//                  every request to the MCP endpoint as received: the body's
//                  raw bytes and the Mcp-Session-Id the server saw
//   /__sessions    [id, ...] the session ids this server issued
//   /__reset       clears executions and requests (sessions stay open)
const http = require('node:http');
const crypto = require('node:crypto');
const { McpServer } = require('@modelcontextprotocol/sdk/server/mcp.js');
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { isInitializeRequest } = require('@modelcontextprotocol/sdk/types.js');
const z = require('zod');

function parseArgs(argv) {
  const o = { port: 0, host: '127.0.0.1', json: false, stateless: false, exitWithStdin: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--host') o.host = next();
    else if (a === '--json') o.json = true;
    else if (a === '--stateless') o.stateless = true;
    else if (a === '--exit-with-stdin') o.exitWithStdin = true;
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: mcp-server.js [--port N] [--host H] [--json] [--stateless] [--exit-with-stdin]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error('bad --port');
  return o;
}

const opts = parseArgs(process.argv);
// Bounds, so a test that goes wrong cannot make this process grow without end.
const MAX_LOG = 5000;
const MAX_BODY = 8 * 1024 * 1024;
const MAX_SESSIONS = 1000;

const state = { seq: 0, executions: [], requests: [], issued: [] };
const sessions = new Map(); // session id -> transport

function record(kind, name, args, extra) {
  if (state.executions.length >= MAX_LOG) state.executions.shift();
  state.executions.push({ n: ++state.seq, kind, name, args: args === undefined ? null : args,
    sessionId: (extra && extra.sessionId) || null });
}

// ---- demo data ----
const PROFILES = [
  { id: '1', name: 'Ada Example', email: 'ada@example.test', disc: { D: 72, I: 40, S: 35, C: 81 } },
  { id: '2', name: 'Grace Sample', email: 'grace@example.test', disc: { D: 55, I: 77, S: 48, C: 30 } },
];
const TAGS = [{ id: 't1', name: 'engineering', color: '#2266aa' }, { id: 't2', name: 'sales', color: '#aa6622' }];
const ACCOUNT = { name: 'Example Org', logo_url: 'https://example.test/logo.png', preferences: { locale: 'en' } };

const text = (t) => ({ content: [{ type: 'text', text: t }] });
const jsonText = (v) => text(JSON.stringify(v));

function buildServer() {
  const server = new McpServer({ name: 'profile-demo-mcp', version: '1.0.0' });
  const tool = (name, description, inputSchema, fn) => {
    server.registerTool(name, { description, inputSchema }, async (...a) => {
      const extra = a[a.length - 1];
      const args = a.length > 1 ? a[0] : undefined;
      record('tool', name, args, extra);
      return fn(args || {});
    });
  };
  tool('list_profiles', 'List the profiles of the account (profiles:read)', undefined,
    () => jsonText(PROFILES.map(({ id, name }) => ({ id, name }))));
  tool('get_profile', 'A profile with its DISC scores (profiles:read)', { id: z.string() }, ({ id }) => {
    const p = PROFILES.find((x) => x.id === id);
    return p ? jsonText(p) : { isError: true, ...text(`no profile ${id}`) };
  });
  tool('create_profile', 'Invite a new profile (profiles:write)', { name: z.string(), email: z.string() },
    ({ name, email }) => jsonText({ id: String(100 + state.seq), name, email, invited: true }));
  tool('list_tags', 'List the tags (tags:manage)', undefined, () => jsonText(TAGS));
  tool('get_account', 'Account name, logo and preferences (account:read)', undefined, () => jsonText(ACCOUNT));
  tool('update_account', 'Update the account logo (account:write)', { logo_url: z.string() },
    ({ logo_url: logo }) => jsonText({ ...ACCOUNT, logo_url: logo }));
  tool('greet', 'Say hello', { name: z.string() }, ({ name }) => text(`Hello, ${name}!`));
  tool('secret', 'Something only some tokens may run', undefined, () => text('the secret ran'));

  server.registerPrompt('summarize_profile', { description: 'Summarize a profile\'s behaviour',
    argsSchema: { id: z.string() } }, (args, extra) => {
    record('prompt', 'summarize_profile', args, extra);
    return { messages: [{ role: 'user', content: { type: 'text', text: `Summarize the DISC profile of profile ${args.id}.` } }] };
  });
  server.registerPrompt('draft_invite', { description: 'Draft an assessment invite',
    argsSchema: { name: z.string() } }, (args, extra) => {
    record('prompt', 'draft_invite', args, extra);
    return { messages: [{ role: 'user', content: { type: 'text', text: `Write a short invite for ${args.name}.` } }] };
  });

  const resource = (name, uri, mimeType, body) => {
    server.registerResource(name, uri, { mimeType }, (u, extra) => {
      record('resource', uri, null, extra);
      return { contents: [{ uri: u.href, mimeType, text: body }] };
    });
  };
  for (const p of PROFILES) resource(`profile-${p.id}`, `profile://demo/${p.id}`, 'application/json', JSON.stringify(p));
  resource('account', 'account://demo', 'application/json', JSON.stringify(ACCOUNT));
  resource('private-keys', 'file:///private/keys.txt', 'text/plain', 'not for everyone\n');
  return server;
}

// ---- HTTP ----
function sendJson(res, status, obj, extra) {
  const body = Buffer.from(JSON.stringify(obj));
  res.writeHead(status, Object.assign({ 'Content-Type': 'application/json', 'Content-Length': body.length }, extra || {}));
  res.end(body);
}

function jsonRpcError(res, status, code, message) {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    let n = 0;
    req.on('data', (d) => {
      n += d.length;
      if (n > MAX_BODY) { req.destroy(); reject(new Error('body too large')); return; }
      parts.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

function newTransport() {
  if (opts.stateless) return new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: opts.json });
  const t = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => crypto.randomUUID(),
    enableJsonResponse: opts.json,
    onsessioninitialized: (id) => {
      sessions.set(id, t);
      if (state.issued.length < MAX_SESSIONS) state.issued.push(id);
    },
  });
  t.onclose = () => { if (t.sessionId) sessions.delete(t.sessionId); };
  return t;
}

async function handleMcp(req, res) {
  const body = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
  const sid = req.headers['mcp-session-id'];
  if (state.requests.length >= MAX_LOG) state.requests.shift();
  state.requests.push({ n: ++state.seq, method: req.method, url: req.url, rawHeaders: req.rawHeaders,
    sessionId: sid === undefined ? null : sid, body: body.toString('base64') });

  let parsed;
  if (req.method === 'POST') {
    try { parsed = JSON.parse(body.toString('utf8')); } catch (e) {
      return jsonRpcError(res, 400, -32700, 'Parse error');
    }
  }
  if (opts.stateless) {
    const server = buildServer();
    const t = newTransport();
    res.on('close', () => { t.close(); server.close(); });
    await server.connect(t);
    return t.handleRequest(req, res, parsed);
  }
  if (sid !== undefined) {
    const t = sessions.get(sid);
    if (!t) return jsonRpcError(res, 404, -32001, 'Session not found');
    return t.handleRequest(req, res, parsed);
  }
  if (req.method === 'POST' && isInitializeRequest(parsed)) {
    if (sessions.size >= MAX_SESSIONS) return jsonRpcError(res, 503, -32000, 'too many sessions');
    const t = newTransport();
    await buildServer().connect(t);
    return t.handleRequest(req, res, parsed);
  }
  return jsonRpcError(res, 400, -32000, 'Bad Request: no valid session ID provided');
}

const httpServer = http.createServer((req, res) => {
  res.on('error', () => {});
  const p = req.url.split('?')[0];
  if (p.startsWith('/__')) {
    req.resume();
    if (p === '/__executions') return sendJson(res, 200, state.executions);
    if (p === '/__requests') return sendJson(res, 200, state.requests);
    if (p === '/__sessions') return sendJson(res, 200, state.issued);
    if (p === '/__reset') { state.executions = []; state.requests = []; return sendJson(res, 200, { ok: true }); }
    return sendJson(res, 404, { error: 'not_found' });
  }
  handleMcp(req, res).catch((e) => {
    process.stderr.write(`mcp-server: ${e && e.stack ? e.stack : e}\n`);
    if (!res.headersSent) jsonRpcError(res, 500, -32603, 'Internal error');
    else res.destroy();
  });
  return undefined;
});
httpServer.keepAliveTimeout = 60000;
httpServer.listen(opts.port, opts.host, () => {
  process.stdout.write(`${JSON.stringify({ port: httpServer.address().port, json: opts.json, stateless: opts.stateless })}\n`);
});
if (opts.exitWithStdin) {
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('close', () => process.exit(0));
  process.stdin.resume();
}
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
