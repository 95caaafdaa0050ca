'use strict';
// MCP test kit: the SDK's MCP server (tests/servers/mcp-server.js) started by
// PID, a gateway config with MCP upstreams (`protocol = mcp`), tokens with
// chosen scopes and principals, the official SDK Client over
// StreamableHTTPClientTransport with a bearer token (every HTTP response it
// gets recorded, so a test can read the gateway's status and challenge), and
// raw JSON-RPC POSTs whose bytes the test chooses.
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');
const { HOST, SCALE, request } = require('./wire');
const { REPO, getJson, stopChild } = require('./procs');
const { makeKey, jwks, sign, claims } = require('./tokens');

const MCP_SERVER_JS = path.join(REPO, 'tests', 'servers', 'mcp-server.js');
const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
const PUBLIC = 'https://gw.example.test';
const WK = '/.well-known/oauth-protected-resource';
const ORIGIN = 'https://app.example.test';
const BAD_ORIGIN = 'https://evil.example.test';
const ACCEPT = 'application/json, text/event-stream';

// The SDK is an npm package (package.json at the repo root, installed by
// tests/deps.sh): say so instead of a bare MODULE_NOT_FOUND.
function sdk(mod) {
  try {
    return require(`@modelcontextprotocol/sdk/${mod}`);
  } catch (e) {
    if (e && e.code === 'MODULE_NOT_FOUND') {
      throw new Error(`@modelcontextprotocol/sdk is not installed: run \`sh tests/deps.sh\` (npm ci) in ${REPO}`);
    }
    throw e;
  }
}

// ---- the MCP server ----

const servers = new Set();
process.on('exit', () => { for (const c of servers) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } } });

// Starts tests/servers/mcp-server.js. opts: json (JSON responses instead of
// SSE), stateless (no sessions). Resolves {port, url, child, executions(),
// requests(), sessions(), reset(), stop()}.
async function startMcpServer({ json = false, stateless = false } = {}) {
  const args = [MCP_SERVER_JS, '--port', '0', '--exit-with-stdin'];
  if (json) args.push('--json');
  if (stateless) args.push('--stateless');
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO });
  servers.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 65536) stderr = stderr.slice(-65536); });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`mcp-server did not start: ${stderr}`)), 15000 * SCALE);
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        try { resolve(JSON.parse(buf.slice(0, nl)).port); } catch (e) { reject(e); }
      }
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`mcp-server exited ${code}: ${stderr}`)); });
  });
  child.stdout.resume();
  return {
    port, child, json, stateless, url: `http://${HOST}:${port}`,
    stderr: () => stderr,
    // [{n, kind: 'tool'|'prompt'|'resource', name, args, sessionId}]
    executions: () => getJson(port, '/__executions'),
    // [{n, method, url, rawHeaders, sessionId, body: Buffer, text, json}]
    async requests() {
      const rs = await getJson(port, '/__requests');
      return rs.map((r) => {
        const body = Buffer.from(r.body, 'base64');
        let parsed;
        try { parsed = JSON.parse(body.toString('utf8')); } catch (e) { parsed = undefined; }
        return Object.assign(r, { body, text: body.toString('utf8'), json: parsed });
      });
    },
    sessions: () => getJson(port, '/__sessions'),
    reset: () => getJson(port, '/__reset'),
    async stop() { servers.delete(child); return stopChild(child); },
  };
}

// ---- tokens ----

const KEY = makeKey('rsa', 'mcp-k1');

// A token for a principal: scopes (array), sub, client_id; `over` overrides
// any other claim. Each call gets a fresh jti, so two tokens of the same
// principal differ.
function mintToken(scopes, { sub = 'user-a', client_id: clientId = 'app-1', ...over } = {}) {
  return sign({ alg: 'RS256', key: KEY, claims: claims({ iss: ISS, aud: AUD, sub, client_id: clientId,
    scope: scopes.join(' '), jti: crypto.randomUUID(), ...over }) });
}

// ---- the gateway's config ----

// Writes jwks.json into dir and returns the config pieces for startGateway:
// {server, upstreams, extra}. upstreams are given whole ({name, prefix, url,
// protocol: 'mcp', ...}); their resource is `${AUD}${prefix}` unless set.
function mcpGatewayConfig({ dir, upstreams, policyFile, server = {} }) {
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(KEY)));
  return {
    dir,
    server: Object.assign({ public_url: PUBLIC, idle_timeout: '5s', max_connections: 200 }, server),
    upstreams: upstreams.map((u) => Object.assign({ resource: `${AUD}${u.prefix}`, response_timeout: '5s' }, u)),
    policyFile,
    extra: [
      '[resource]',
      `identifier = ${AUD}`,
      `authorization_servers = ${ISS}`,
      '',
      '[issuer:login]',
      `iss = ${ISS}`,
      `jwks_file = ${path.join(dir, 'jwks.json')}`,
      'algorithms = RS256',
      '',
    ].join('\n'),
  };
}

// The metadata document an MCP upstream's challenges point at.
const metaFor = (prefix) => `${PUBLIC}${WK}${prefix}`;

// ---- the SDK client ----

// Connects the SDK Client through the gateway at `port` + `prefix` with a
// bearer token (initialize + notifications/initialized, and the SDK's GET
// stream when the server has sessions). Resolves {client, transport, seen,
// sessionId, close()}: seen lists every HTTP response the transport got
// ({method, status, headers, body?}; the body only for non-2xx answers).
async function sdkClient(port, { token, prefix = '/mcp', headers = {} } = {}) {
  const { Client } = sdk('client/index.js');
  const { StreamableHTTPClientTransport } = sdk('client/streamableHttp.js');
  const seen = [];
  const recordingFetch = async (url, init) => {
    const res = await fetch(url, init);
    const entry = { method: (init && init.method) || 'GET', status: res.status, headers: Object.fromEntries(res.headers) };
    if (!res.ok) entry.body = await res.clone().text();
    if (seen.length < 1000) seen.push(entry);
    return res;
  };
  const reqHeaders = Object.assign({}, headers);
  if (token) reqHeaders.Authorization = `Bearer ${token}`;
  const transport = new StreamableHTTPClientTransport(new URL(`http://${HOST}:${port}${prefix}`), {
    requestInit: { headers: reqHeaders }, fetch: recordingFetch,
    reconnectionOptions: { maxReconnectionDelay: 1000, initialReconnectionDelay: 1000, reconnectionDelayGrowFactor: 1, maxRetries: 0 },
  });
  const client = new Client({ name: 'gateway-mcp-test', version: '1.0.0' });
  await client.connect(transport, { timeout: 10000 * SCALE });
  return {
    client, transport, seen,
    get sessionId() { return transport.sessionId; },
    // The last response to a POST (what answered the last request).
    lastPost() { for (let i = seen.length - 1; i >= 0; i--) if (seen[i].method === 'POST') return seen[i]; return null; },
    async close() { try { await client.close(); } catch (e) { /* already gone */ } },
  };
}

// Request options for the SDK's calls: bounded waits.
const CALL = { timeout: 10000 * SCALE };

// ---- raw JSON-RPC ----

// A JSON-RPC request as text (JSON.stringify: no surprises). For bodies with
// chosen bytes, tests write the string themselves.
function rpcText(method, params, id = 1) {
  const m = { jsonrpc: '2.0', id, method };
  if (params !== undefined) m.params = params;
  return JSON.stringify(m);
}
const toolCall = (name, args = {}, id = 1) => rpcText('tools/call', { name, arguments: args }, id);

// One POST to the gateway with the body's bytes as given (string or Buffer).
// opts: prefix, token, sessionId, contentType (null: none), accept, origin,
// headers (extra), method (default POST). Resolves wire.request's result plus
// rpc(): the JSON-RPC message of the answer (from a JSON body, or the SSE
// event whose data carries an id or error).
async function rpc(port, body, { prefix = '/mcp', token, sessionId, contentType = 'application/json',
  accept = ACCEPT, origin, headers = {}, method = 'POST', protocolVersion = '2025-06-18' } = {}) {
  const h = {};
  if (contentType !== null) h['Content-Type'] = contentType;
  if (accept !== null) h.Accept = accept;
  if (token) h.Authorization = `Bearer ${token}`;
  if (sessionId) h['Mcp-Session-Id'] = sessionId;
  if (origin) h.Origin = origin;
  if (protocolVersion) h['Mcp-Protocol-Version'] = protocolVersion;
  Object.assign(h, headers);
  const res = await request(port, { method, path: prefix, headers: h, body: body === undefined ? undefined : body });
  res.rpc = () => rpcOf(res);
  return res;
}

// The JSON-RPC answer in a response: the JSON body, or in an SSE body the
// last event whose data is a response (has result or error).
function rpcOf(res) {
  const ct = String(res.headers['content-type'] || '');
  const text = res.body.toString('utf8');
  if (!/^text\/event-stream/i.test(ct)) return JSON.parse(text);
  let found;
  for (const ev of text.split(/\r?\n\r?\n/)) {
    const data = ev.split(/\r?\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
    if (!data) continue;
    let m;
    try { m = JSON.parse(data); } catch (e) { continue; }
    if (m && ('result' in m || 'error' in m)) found = m;
  }
  if (found === undefined) throw new Error(`no JSON-RPC response in the SSE body: ${text.slice(0, 300)}`);
  return found;
}

// Opens a session over raw POSTs (initialize, then notifications/initialized);
// resolves the Mcp-Session-Id the gateway handed out.
async function rawSession(port, opts) {
  const init = rpcText('initialize', { protocolVersion: '2025-06-18', capabilities: {},
    clientInfo: { name: 'raw-test', version: '1' } }, 0);
  const r = await rpc(port, init, opts);
  if (r.status !== 200) throw new Error(`initialize: ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
  const sid = r.headers['mcp-session-id'];
  if (!sid) throw new Error('initialize: no Mcp-Session-Id in the answer');
  const n = await rpc(port, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), Object.assign({}, opts, { sessionId: sid }));
  if (n.status !== 202) throw new Error(`notifications/initialized: ${n.status} ${n.body.toString('utf8').slice(0, 300)}`);
  return sid;
}

module.exports = {
  ISS, AUD, PUBLIC, WK, ORIGIN, BAD_ORIGIN, ACCEPT, KEY, CALL, MCP_SERVER_JS,
  sdk, startMcpServer, mintToken, mcpGatewayConfig, metaFor, sdkClient, rpcText, toolCall, rpc, rpcOf, rawSession,
};
