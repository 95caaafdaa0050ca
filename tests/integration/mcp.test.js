'use strict';
// MCP-aware authorization (SPEC "MCP upstreams (`protocol = mcp`)" and
// "Required scopes" under "Answers the gateway gives itself"), end to end:
// the official MCP TypeScript SDK's Client talks through the gateway to the
// SDK's McpServer (tests/servers/mcp-server.js), once with SSE answers and
// sessions (/mcp) and once with JSON answers and no sessions (/mcpj).
//
// Every refusal is checked twice: the gateway's answer (status, challenge,
// JSON or JSON-RPC body) and the server's own record, which shows that
// nothing was forwarded and nothing ran. Raw POSTs send what the SDK never
// would: batches, duplicate members, escapes, bad UTF-8, deep nesting, big
// bodies, odd media types and Mcp-Method/Mcp-Name headers.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { SCALE, sleep, request } = require('./lib/wire');
const { GatewayFixture, startGateway, tmpDir, configText, runGatewaySync } = require('./lib/procs');
const { challenge, expectInsufficientScope } = require('./lib/auth-assert');
const {
  ORIGIN, BAD_ORIGIN, CALL, startMcpServer, mintToken, mcpGatewayConfig, metaFor, sdkClient, rpcText, toolCall,
  rpc, rawSession,
} = require('./lib/mcp-kit');

const T = { timeout: 30000 * SCALE };
const MAX_BODY = 16384; // mcp_max_body = 16k
const ROUTE = 'mcp:use';
const READ = [ROUTE, 'profiles:read'];
const ALL = [ROUTE, 'profiles:read', 'profiles:write', 'tags:manage', 'account:read', 'account:write'];

// The route needs mcp:use; each item adds its own. greet, draft_invite and
// account://demo have no section (mcp_unlisted defaults to allow).
const POLICY = `
[* /mcp]
scopes = ${ROUTE}

[* /mcpj]
scopes = ${ROUTE}

[mcp-tool:list_profiles]
scopes = profiles:read

[mcp-tool:get_profile]
scopes = profiles:read

[mcp-tool:create_profile]
scopes = profiles:write

[mcp-tool:list_tags]
scopes = tags:manage

[mcp-tool:get_account]
any_scopes = account:read account:write

[mcp-tool:update_account]
scopes = account:write

[mcp-tool:secret]
scopes = account:write profiles:write

[mcp-prompt:summarize_profile]
scopes = profiles:read

[mcp-resource:profile://demo/*]
scopes = profiles:read

[mcp-resource:file:///private/keys.txt]
scopes = account:write
`;

const ALL_TOOLS = ['create_profile', 'get_account', 'get_profile', 'greet', 'list_profiles', 'list_tags', 'secret', 'update_account'];

let sse; // sessions, SSE answers: behind /mcp
let js; // no sessions, JSON answers: behind /mcpj
let dir;
const upstreamsFor = (a, b) => [
  { name: 'mcp', prefix: '/mcp', url: a.url, protocol: 'mcp', mcp_max_body: '16k', allow_origins: ORIGIN },
  { name: 'mcpj', prefix: '/mcpj', url: b.url, protocol: 'mcp', mcp_max_body: '16k', allow_origins: ORIGIN },
];
const fx = new GatewayFixture(() => mcpGatewayConfig({ dir, policyFile: path.join(dir, 'policy.ini'), upstreams: upstreamsFor(sse, js) }));
const open = new Set(); // SDK clients to close at the end

before(async () => {
  dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  sse = await startMcpServer();
  js = await startMcpServer({ json: true, stateless: true });
  await fx.ensure();
});
after(async () => {
  for (const c of open) await c.close();
  await fx.stop();
  for (const s of [sse, js]) if (s) await s.stop();
});
beforeEach(async () => { if (sse) await sse.reset(); if (js) await js.reset(); });

// ---- helpers ----

async function connect(token, prefix = '/mcp', headers) {
  const gw = await fx.ensure();
  const c = await sdkClient(gw.port, { token, prefix, headers });
  open.add(c);
  return c;
}
async function done(c) { open.delete(c); await c.close(); }
async function post(body, opts = {}) { const gw = await fx.ensure(); return rpc(gw.port, body, Object.assign({ prefix: '/mcpj' }, opts)); }

// The server received no request and ran nothing since the last reset.
async function nothingReached(srv, what) {
  assert.deepEqual(await srv.requests().then((rs) => rs.map((r) => `${r.method} ${r.text.slice(0, 120)}`)), [], `${what}: forwarded to the MCP server`);
  assert.deepEqual(await srv.executions(), [], `${what}: something ran`);
}
// What ran, as "kind name" strings.
async function ran(srv) { return (await srv.executions()).map((e) => `${e.kind} ${e.name}`); }

// A JSON-RPC error answer of the gateway: status, JSON, {"jsonrpc":"2.0","error":{code, message}}.
function expectRpcError(res, status, code, what) {
  const text = res.body.toString('utf8');
  assert.equal(res.status, status, `${what}: status; body: ${text.slice(0, 300)}`);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i, `${what}: Content-Type`);
  let b;
  try { b = JSON.parse(text); } catch (e) { assert.fail(`${what}: body is not JSON: ${JSON.stringify(text.slice(0, 300))}`); }
  assert.equal(b.jsonrpc, '2.0', `${what}: a JSON-RPC error body: ${text.slice(0, 300)}`);
  assert.equal(typeof b.error, 'object', `${what}: "error" member: ${text.slice(0, 300)}`);
  if (code !== undefined) assert.equal(b.error.code, code, `${what}: JSON-RPC error code: ${text.slice(0, 300)}`);
  assert.equal(typeof b.error.message, 'string', `${what}: error.message`);
  return b;
}

// A response the SDK client saw, in the shape auth-assert reads.
const asRes = (seen) => ({ status: seen.status, headers: seen.headers, body: Buffer.from(seen.body || '') });

// Runs an SDK call that the gateway must refuse with 403 insufficient_scope
// naming `scope`; checks the answer the transport got and that nothing ran.
async function sdkRefused(c, srv, call, scope, prefix, what) {
  await assert.rejects(call(), (e) => {
    assert.equal(e.code, 403, `${what}: the SDK reports HTTP 403, got ${e.code}: ${e.message}`);
    return true;
  }, `${what}: the call must fail`);
  const last = c.lastPost();
  expectInsufficientScope(asRes(last), { scope, meta: metaFor(prefix) }, what);
  assert.deepEqual(await srv.executions(), [], `${what}: ran on the server`);
}

// ---- the SDK client through the gateway, on both upstreams ----

for (const [label, prefix, srvOf] of [['SSE + sessions', '/mcp', () => sse], ['JSON, stateless', '/mcpj', () => js]]) {
  test(`${label}: the SDK client initializes, and tools/list holds only the tools the token may use`, T, async () => {
    const c = await connect(mintToken(READ), prefix);
    assert.equal(c.client.getServerVersion().name, 'profile-demo-mcp');
    const tools = (await c.client.listTools(undefined, CALL)).tools.map((t) => t.name).sort();
    assert.deepEqual(tools, ['get_profile', 'greet', 'list_profiles'], 'profiles:read sees its tools and the unlisted greet');
    const prompts = (await c.client.listPrompts(undefined, CALL)).prompts.map((p) => p.name).sort();
    assert.deepEqual(prompts, ['draft_invite', 'summarize_profile']);
    const res = (await c.client.listResources(undefined, CALL)).resources.map((r) => r.uri).sort();
    assert.deepEqual(res, ['account://demo', 'profile://demo/1', 'profile://demo/2'], 'file:///private/keys.txt needs account:write');
    await done(c);
    const all = await connect(mintToken(ALL), prefix);
    assert.deepEqual((await all.client.listTools(undefined, CALL)).tools.map((t) => t.name).sort(), ALL_TOOLS);
    await done(all);
  });

  test(`${label}: an allowed tools/call runs on the server`, T, async () => {
    const srv = srvOf();
    const c = await connect(mintToken(READ), prefix);
    const r = await c.client.callTool({ name: 'get_profile', arguments: { id: '1' } }, undefined, CALL);
    assert.match(r.content[0].text, /Ada Example/);
    assert.deepEqual(await ran(srv), ['tool get_profile']);
    const g = await c.client.callTool({ name: 'greet', arguments: { name: 'Ada' } }, undefined, CALL);
    assert.equal(g.content[0].text, 'Hello, Ada!', 'an unlisted tool needs only the route');
    await done(c);
  });

  test(`${label}: a tools/call without the tool's scopes is 403 naming route + tool scopes, and never runs`, T, async () => {
    const srv = srvOf();
    const c = await connect(mintToken(READ), prefix);
    await sdkRefused(c, srv, () => c.client.callTool({ name: 'list_tags', arguments: {} }, undefined, CALL),
      'mcp:use tags:manage', prefix, 'list_tags');
    await sdkRefused(c, srv, () => c.client.callTool({ name: 'secret', arguments: {} }, undefined, CALL),
      'mcp:use account:write profiles:write', prefix, 'secret (two scopes)');
    await sdkRefused(c, srv, () => c.client.callTool({ name: 'get_account', arguments: {} }, undefined, CALL),
      'mcp:use account:read account:write', prefix, 'get_account (any_scopes)');
    await done(c);
    // any_scopes: one of the two is enough.
    const w = await connect(mintToken([ROUTE, 'account:write']), prefix);
    const r = await w.client.callTool({ name: 'get_account', arguments: {} }, undefined, CALL);
    assert.match(r.content[0].text, /Example Org/);
    assert.deepEqual(await ran(srv), ['tool get_account']);
    await done(w);
  });

  test(`${label}: re-authorizing with exactly the challenge's scope list passes (step-up)`, T, async () => {
    const srv = srvOf();
    const c = await connect(mintToken(READ), prefix);
    await assert.rejects(() => c.client.callTool({ name: 'create_profile', arguments: { name: 'N', email: 'n@example.test' } }, undefined, CALL));
    const scope = challenge(asRes(c.lastPost())).params.scope;
    assert.equal(typeof scope, 'string', 'the 403 challenge carries scope=');
    await done(c);
    const up = await connect(mintToken(scope.split(' ')), prefix);
    const r = await up.client.callTool({ name: 'create_profile', arguments: { name: 'N', email: 'n@example.test' } }, undefined, CALL);
    assert.match(r.content[0].text, /"invited":true/);
    assert.deepEqual(await ran(srv), ['tool create_profile']);
    await done(up);
  });

  test(`${label}: prompts/get is judged by [mcp-prompt:NAME]`, T, async () => {
    const srv = srvOf();
    const c = await connect(mintToken(READ), prefix);
    const p = await c.client.getPrompt({ name: 'summarize_profile', arguments: { id: '1' } }, CALL);
    assert.match(p.messages[0].content.text, /profile 1/);
    assert.deepEqual(await ran(srv), ['prompt summarize_profile']);
    await done(c);
    await srv.reset();
    const n = await connect(mintToken([ROUTE]), prefix);
    await sdkRefused(n, srv, () => n.client.getPrompt({ name: 'summarize_profile', arguments: { id: '1' } }, CALL),
      'mcp:use profiles:read', prefix, 'summarize_profile');
    const d = await n.client.getPrompt({ name: 'draft_invite', arguments: { name: 'Ada' } }, CALL);
    assert.match(d.messages[0].content.text, /Ada/, 'an unlisted prompt needs only the route');
    await done(n);
  });

  test(`${label}: resources/read is judged by [mcp-resource:URI], exact and prefix`, T, async () => {
    const srv = srvOf();
    const c = await connect(mintToken(READ), prefix);
    const r = await c.client.readResource({ uri: 'profile://demo/2' }, CALL);
    assert.match(r.contents[0].text, /Grace/);
    assert.deepEqual(await ran(srv), ['resource profile://demo/2'], 'profile://demo/* covers profile://demo/2');
    await srv.reset();
    await sdkRefused(c, srv, () => c.client.readResource({ uri: 'file:///private/keys.txt' }, CALL),
      'mcp:use account:write', prefix, 'file:///private/keys.txt (exact)');
    await done(c);
    const n = await connect(mintToken([ROUTE, 'account:write']), prefix);
    await sdkRefused(n, srv, () => n.client.readResource({ uri: 'profile://demo/1' }, CALL),
      'mcp:use profiles:read', prefix, 'profile://demo/1 (prefix)');
    const k = await n.client.readResource({ uri: 'file:///private/keys.txt' }, CALL);
    assert.equal(k.contents[0].text, 'not for everyone\n');
    const a = await n.client.readResource({ uri: 'account://demo' }, CALL);
    assert.match(a.contents[0].text, /Example Org/, 'an unlisted resource needs only the route');
    assert.deepEqual(await ran(srv), ['resource file:///private/keys.txt', 'resource account://demo']);
    await done(n);
  });
}

test('the route\'s scopes are part of every requirement: no mcp:use, 403 naming route + tool', T, async () => {
  const res = await post(toolCall('list_tags'), { token: mintToken(['tags:manage']) });
  expectInsufficientScope(res, { scope: 'mcp:use tags:manage', meta: metaFor('/mcpj') }, 'list_tags without mcp:use');
  const g = await post(toolCall('greet', { name: 'x' }), { token: mintToken(['tags:manage']) });
  expectInsufficientScope(g, { scope: 'mcp:use', meta: metaFor('/mcpj') }, 'greet without mcp:use');
  await nothingReached(js, 'refused');
});

test('[defaults] mcp_unlisted = deny: an unlisted tool is 403 and hidden from tools/list', T, async () => {
  const d = tmpDir();
  fs.writeFileSync(path.join(d, 'policy.ini'), `[defaults]\nmcp_unlisted = deny\n\n[* /mcp]\nscopes = ${ROUTE}\n\n[mcp-tool:get_profile]\nscopes = profiles:read\n`);
  const srv = await startMcpServer({ json: true, stateless: true });
  const gw = await startGateway(mcpGatewayConfig({ dir: d, policyFile: path.join(d, 'policy.ini'),
    upstreams: [{ name: 'mcp', prefix: '/mcp', url: srv.url, protocol: 'mcp' }] }));
  try {
    const tok = mintToken(ALL);
    const c = await sdkClient(gw.port, { token: tok });
    try {
      assert.deepEqual((await c.client.listTools(undefined, CALL)).tools.map((t) => t.name), ['get_profile']);
    } finally {
      await c.close();
    }
    await srv.reset();
    const res = await rpc(gw.port, toolCall('greet', { name: 'x' }), { token: tok });
    assert.equal(res.status, 403, `unlisted greet under deny; body: ${res.body.toString('utf8').slice(0, 300)}`);
    assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i);
    assert.equal(typeof JSON.parse(res.body.toString('utf8')).error, 'string');
    await nothingReached(srv, 'unlisted greet');
    const ok = await rpc(gw.port, toolCall('get_profile', { id: '2' }), { token: tok });
    assert.equal(ok.status, 200, ok.body.toString('utf8').slice(0, 300));
    assert.match(ok.rpc().result.content[0].text, /Grace/);
  } finally {
    await gw.stop();
    await srv.stop();
  }
});

// ---- raw JSON-RPC on /mcpj (no sessions: every POST stands alone) ----

test('raw: a plain tools/call runs (the control for the raw cases)', T, async () => {
  const res = await post(toolCall('greet', { name: 'raw' }), { token: mintToken(READ) });
  assert.equal(res.status, 200, res.body.toString('utf8').slice(0, 300));
  assert.equal(res.rpc().result.content[0].text, 'Hello, raw!');
  assert.deepEqual(await ran(js), ['tool greet']);
});

test('raw: a batch (JSON array) is 400 with JSON-RPC -32600 and never forwarded', T, async () => {
  const tok = mintToken(ALL);
  for (const body of [`[${toolCall('greet', { name: 'a' })}]`, `[${toolCall('greet', { name: 'a' }, 1)},${toolCall('secret', {}, 2)}]`, '[]']) {
    expectRpcError(await post(body, { token: tok }), 400, -32600, `batch ${body.slice(0, 40)}`);
  }
  expectRpcError(await post('"tools/call"', { token: tok }), 400, -32600, 'a JSON string');
  await nothingReached(js, 'batches');
});

test('raw: duplicate member names at any depth are 400 -32700 and never forwarded', T, async () => {
  const tok = mintToken(ALL);
  const cases = {
    'method twice': '{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"secret"}}',
    'name twice': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","name":"secret","arguments":{"name":"x"}}}',
    'params twice': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"x"}},"params":{"name":"secret"}}',
    'name twice, once escaped': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","n\\u0061me":"secret","arguments":{"name":"x"}}}',
    'uri twice': '{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"account://demo","uri":"file:///private/keys.txt"}}',
    'deep inside arguments': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"x","o":{"k":1,"k":2}}}}',
    'id twice': '{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"greet","arguments":{"name":"x"}}}',
  };
  for (const [what, body] of Object.entries(cases)) expectRpcError(await post(body, { token: tok }), 400, -32700, what);
  await nothingReached(js, 'duplicates');
});

test('raw: "Name" is another member: {"name":"greet","Name":"secret"} runs greet only', T, async () => {
  const body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","Name":"secret","arguments":{"name":"x"}}}';
  const res = await post(body, { token: mintToken(READ) });
  assert.equal(res.status, 200, `judged as greet (allowed); body: ${res.body.toString('utf8').slice(0, 300)}`);
  assert.equal(res.rpc().result.content[0].text, 'Hello, x!');
  assert.deepEqual(await ran(js), ['tool greet']);
});

test('raw: escapes are decoded before judging: escaped allowed name runs, escaped refused name is refused', T, async () => {
  const tok = mintToken(READ);
  const ok = await post('{"jsonrpc":"2.0","id":1,"method":"tools\\/call","params":{"name":"gr\\u0065et","arguments":{"name":"x"}}}', { token: tok });
  assert.equal(ok.status, 200, ok.body.toString('utf8').slice(0, 300));
  assert.equal(ok.rpc().result.content[0].text, 'Hello, x!');
  assert.deepEqual(await ran(js), ['tool greet']);
  await js.reset();
  const secretAs = {
    'name escaped': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"s\\u0065cret"}}',
    'name all escaped': '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\\u0073\\u0065\\u0063\\u0072\\u0065\\u0074"}}',
    'method and name escaped': '{"jsonrpc":"2.0","id":1,"method":"tools\\u002fcall","params":{"name":"secre\\u0074"}}',
    'member names escaped': '{"jsonrpc":"2.0","id":1,"m\\u0065thod":"tools/call","p\\u0061rams":{"n\\u0061me":"secret"}}',
  };
  for (const [what, body] of Object.entries(secretAs)) {
    expectInsufficientScope(await post(body, { token: tok }), { scope: 'mcp:use account:write profiles:write', meta: metaFor('/mcpj') }, what);
  }
  const uri = '{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:\\/\\/\\/private\\/keys.txt"}}';
  expectInsufficientScope(await post(uri, { token: tok }), { scope: 'mcp:use account:write', meta: metaFor('/mcpj') }, 'escaped uri');
  await nothingReached(js, 'escaped refused names');
});

test('raw: invalid UTF-8 is 400 -32700 and never forwarded', T, async () => {
  const tok = mintToken(ALL);
  const wrap = (bytes) => Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"'),
    Buffer.from(bytes), Buffer.from('"}}}')]);
  const cases = {
    'a lone 0xff': [0xff],
    'an overlong /': [0xc0, 0xaf],
    'a truncated sequence': [0xe2, 0x82],
    'an encoded surrogate': [0xed, 0xa0, 0x80],
    'above U+10FFFF': [0xf4, 0x90, 0x80, 0x80],
  };
  for (const [what, bytes] of Object.entries(cases)) expectRpcError(await post(wrap(bytes), { token: tok }), 400, -32700, what);
  const lone = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"\\ud800"}}}';
  expectRpcError(await post(lone, { token: tok }), 400, -32700, 'a lone surrogate escape');
  await nothingReached(js, 'invalid UTF-8');
});

test('raw: nesting deeper than 64 is 400 -32700; 64 passes', T, async () => {
  const tok = mintToken(READ);
  // The top-level object is depth 1, params 2, arguments 3, then arrays.
  const nested = (depth) => {
    const n = depth - 3;
    return `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"d","deep":${'['.repeat(n)}${']'.repeat(n)}}}}`;
  };
  expectRpcError(await post(nested(65), { token: tok }), 400, -32700, 'depth 65');
  expectRpcError(await post(nested(1000), { token: tok }), 400, -32700, 'depth 1000');
  await nothingReached(js, 'too deep');
  const ok = await post(nested(64), { token: tok });
  assert.equal(ok.status, 200, `depth 64; body: ${ok.body.toString('utf8').slice(0, 300)}`);
  assert.deepEqual(await ran(js), ['tool greet']);
});

test('raw: a body over mcp_max_body is 413 and never forwarded; exactly mcp_max_body runs', T, async () => {
  const tok = mintToken(READ);
  const sized = (len) => {
    const head = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"greet","arguments":{"name":"';
    const tail = '"}}}';
    return head + 'x'.repeat(len - head.length - tail.length) + tail;
  };
  assert.equal(Buffer.byteLength(sized(MAX_BODY + 1)), MAX_BODY + 1);
  const big = await post(sized(MAX_BODY + 1), { token: tok });
  assert.equal(big.status, 413, `body: ${big.body.toString('utf8').slice(0, 300)}`);
  const huge = await post(sized(MAX_BODY * 8), { token: tok });
  assert.equal(huge.status, 413, 'eight times the limit');
  await nothingReached(js, 'over mcp_max_body');
  const ok = await post(sized(MAX_BODY), { token: tok });
  assert.equal(ok.status, 200, `exactly mcp_max_body; body: ${ok.body.toString('utf8').slice(0, 300)}`);
  assert.deepEqual(await ran(js), ['tool greet']);
});

test('raw: Content-Type other than application/json is 415; the media type is case-insensitive with parameters', T, async () => {
  const tok = mintToken(READ);
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'text/json']) {
    const res = await post(toolCall('greet', { name: 'x' }), { token: tok, contentType: ct });
    assert.equal(res.status, 415, `Content-Type ${ct}; body: ${res.body.toString('utf8').slice(0, 300)}`);
  }
  await nothingReached(js, '415');
  for (const ct of ['Application/JSON; charset=utf-8', 'application/json;charset=UTF-8']) {
    const res = await post(toolCall('greet', { name: 'ct' }), { token: tok, contentType: ct });
    assert.equal(res.status, 200, `Content-Type ${ct}; body: ${res.body.toString('utf8').slice(0, 300)}`);
  }
  assert.deepEqual(await ran(js), ['tool greet', 'tool greet']);
});

test('raw: Mcp-Method / Mcp-Name headers that differ from the body are 400 -32020', T, async () => {
  const tok = mintToken(ALL); // everything allowed: the headers are the only reason to refuse
  const call = toolCall('secret');
  const bad = {
    'Mcp-Method differs': { 'Mcp-Method': 'tools/list' },
    'Mcp-Name differs': { 'Mcp-Method': 'tools/call', 'Mcp-Name': 'greet' },
    'Mcp-Name alone differs': { 'Mcp-Name': 'greet' },
    'Mcp-Name case differs': { 'Mcp-Name': 'Secret' },
  };
  for (const [what, headers] of Object.entries(bad)) expectRpcError(await post(call, { token: tok, headers }), 400, -32020, what);
  const uriBad = await post(rpcText('resources/read', { uri: 'file:///private/keys.txt' }), { token: tok, headers: { 'Mcp-Method': 'resources/read', 'Mcp-Name': 'account://demo' } });
  expectRpcError(uriBad, 400, -32020, 'Mcp-Name differs from params.uri');
  await nothingReached(js, '-32020');
  const ok = await post(call, { token: tok, headers: { 'Mcp-Method': 'tools/call', 'Mcp-Name': 'secret' } });
  assert.equal(ok.status, 200, `matching headers; body: ${ok.body.toString('utf8').slice(0, 300)}`);
  const okUri = await post(rpcText('resources/read', { uri: 'account://demo' }), { token: tok, headers: { 'Mcp-Method': 'resources/read', 'Mcp-Name': 'account://demo' } });
  assert.equal(okUri.status, 200, okUri.body.toString('utf8').slice(0, 300));
  assert.deepEqual(await ran(js), ['tool secret', 'resource account://demo']);
});

test('raw: the forwarded body is byte for byte what the client sent (whitespace, key order, escapes)', T, async () => {
  const body = '\t{ "params" :{"arguments":{"name":"\\u00e9t\\u00e9 \\ud83d\\ude00 \u00e9 \\/"} , "name":"gr\\u0065et"},\r\n'
    + '  "id":  7.0e0 ,"method":"tools/call","jsonrpc":"2.0"}  \r\n';
  const tok = mintToken(READ);
  const res = await post(body, { token: tok });
  assert.equal(res.status, 200, res.body.toString('utf8').slice(0, 300));
  const seen = (await js.requests()).filter((r) => r.method === 'POST');
  assert.equal(seen.length, 1);
  assert.ok(seen[0].body.equals(Buffer.from(body)), `forwarded body differs:\n${JSON.stringify(seen[0].text)}\n${JSON.stringify(body)}`);
  // Through the SSE upstream, inside a session, too.
  const gw = await fx.ensure();
  const sid = await rawSession(gw.port, { token: tok });
  await sse.reset();
  const r2 = await rpc(gw.port, body, { token: tok, sessionId: sid });
  assert.equal(r2.status, 200, r2.body.toString('utf8').slice(0, 300));
  assert.match(r2.rpc().result.content[0].text, /^Hello, été/);
  const seen2 = (await sse.requests()).filter((r) => r.method === 'POST');
  assert.ok(seen2.length === 1 && seen2[0].body.equals(Buffer.from(body)), 'forwarded body differs (SSE upstream)');
});

// ---- Origin ----

test('Origin: an allowed origin and no Origin pass; another origin is 403 with a JSON-RPC error without id, before any token work', T, async () => {
  const tok = mintToken(READ);
  const a = await post(toolCall('greet', { name: 'o' }), { token: tok, origin: ORIGIN });
  assert.equal(a.status, 200, `allowed Origin; body: ${a.body.toString('utf8').slice(0, 300)}`);
  const n = await post(toolCall('greet', { name: 'o' }), { token: tok });
  assert.equal(n.status, 200, 'no Origin');
  assert.deepEqual(await ran(js), ['tool greet', 'tool greet']);
  await js.reset();
  for (const [what, opts] of [
    ['other origin, valid token', { token: tok, origin: BAD_ORIGIN }],
    ['other origin, no token', { origin: BAD_ORIGIN }],
    ['other origin, bad token', { token: 'not.a.token', origin: BAD_ORIGIN }],
    ['allowed origin with another port', { token: tok, origin: `${ORIGIN}:8443` }],
    ['Origin: null', { token: tok, origin: 'null' }],
  ]) {
    const res = await post(toolCall('greet', { name: 'o' }), opts);
    const b = expectRpcError(res, 403, undefined, what);
    assert.ok(!('id' in b), `${what}: the JSON-RPC error has no "id": ${res.body.toString('utf8')}`);
    assert.equal(res.headers['www-authenticate'], undefined, `${what}: no token challenge: decided before any token work`);
  }
  await nothingReached(js, 'other origins');
});

// ---- sessions (the SSE upstream) ----

async function sessionOf(tokenA) {
  const before0 = await sse.sessions();
  const c = await connect(tokenA);
  const srvIds = (await sse.sessions()).filter((id) => !before0.includes(id));
  assert.equal(srvIds.length, 1, `one new server session: ${JSON.stringify(srvIds)}`);
  return { c, gwSid: c.sessionId, srvSid: srvIds[0] };
}

test('sessions: the client gets the gateway\'s bound id, the server always sees its own', T, async () => {
  const { c, gwSid, srvSid } = await sessionOf(mintToken(READ));
  assert.equal(typeof gwSid, 'string');
  assert.notEqual(gwSid, srvSid, 'the gateway hands out its own binding, not the server\'s raw id');
  await sse.reset();
  await c.client.callTool({ name: 'greet', arguments: { name: 's' } }, undefined, CALL);
  const ex = await sse.executions();
  assert.deepEqual(ex.map((e) => [e.name, e.sessionId]), [['greet', srvSid]]);
  const reqs = await sse.requests();
  assert.ok(reqs.length >= 1);
  for (const r of reqs) assert.equal(r.sessionId, srvSid, `${r.method}: the server saw ${r.sessionId}`);
  await done(c);
});

test('sessions: another principal with A\'s session id gets 404 (JSON-RPC error); A\'s refreshed token keeps it', T, async () => {
  const gw = await fx.ensure();
  const { c, gwSid, srvSid } = await sessionOf(mintToken(READ, { sub: 'user-a', client_id: 'app-1' }));
  await sse.reset();
  for (const [what, tok] of [
    ['another sub', mintToken(READ, { sub: 'user-b', client_id: 'app-1' })],
    ['another client_id', mintToken(READ, { sub: 'user-a', client_id: 'app-2' })],
  ]) {
    const res = await rpc(gw.port, toolCall('greet', { name: 'b' }), { token: tok, sessionId: gwSid });
    expectRpcError(res, 404, undefined, `${what}, POST`);
    const g = await request(gw.port, { method: 'GET', path: '/mcp', headers: { Authorization: `Bearer ${tok}`, Accept: 'text/event-stream', 'Mcp-Session-Id': gwSid } });
    expectRpcError(g, 404, undefined, `${what}, GET`);
    const d = await request(gw.port, { method: 'DELETE', path: '/mcp', headers: { Authorization: `Bearer ${tok}`, 'Mcp-Session-Id': gwSid } });
    expectRpcError(d, 404, undefined, `${what}, DELETE`);
  }
  await nothingReached(sse, 'other principals');
  // Same iss/sub/client_id, a new token (new jti, iat, exp).
  const fresh = mintToken(READ, { sub: 'user-a', client_id: 'app-1', exp: Math.floor(Date.now() / 1000) + 7200 });
  const res = await rpc(gw.port, toolCall('greet', { name: 'a2' }), { token: fresh, sessionId: gwSid });
  assert.equal(res.status, 200, `refreshed token; body: ${res.body.toString('utf8').slice(0, 300)}`);
  assert.deepEqual((await sse.executions()).map((e) => [e.name, e.sessionId]), [['greet', srvSid]]);
  await done(c);
});

test('sessions: ids the gateway never handed out get 404, the server\'s raw id included', T, async () => {
  const gw = await fx.ensure();
  const tok = mintToken(READ);
  const { c, gwSid, srvSid } = await sessionOf(tok);
  await sse.reset();
  const flip = gwSid.slice(0, -1) + (gwSid.endsWith('0') ? '1' : '0');
  for (const [what, sid] of [['random', crypto.randomUUID()], ['the server\'s raw id', srvSid], ['one character changed', flip],
    ['A\'s id with a suffix', `${gwSid}x`]]) {
    if (sid === gwSid) assert.fail(`${what} is the id the client was handed: the gateway passed the server's id through unbound`);
    expectRpcError(await rpc(gw.port, toolCall('greet', { name: 'f' }), { token: tok, sessionId: sid }), 404, undefined, what);
  }
  await nothingReached(sse, 'forged ids');
  // A's own DELETE ends the session at the server.
  const d = await request(gw.port, { method: 'DELETE', path: '/mcp', headers: { Authorization: `Bearer ${tok}`, 'Mcp-Session-Id': gwSid } });
  assert.equal(d.status, 200, `A's DELETE; body: ${d.body.toString('utf8').slice(0, 300)}`);
  assert.deepEqual((await sse.requests()).map((r) => [r.method, r.sessionId]), [['DELETE', srvSid]]);
  await done(c);
});

// ---- session_key_file: bindings outlive the process ----

function keyed(d, keyFile, srvUrl) {
  return mcpGatewayConfig({ dir: d, policyFile: path.join(d, 'policy.ini'),
    upstreams: [{ name: 'mcp', prefix: '/mcp', url: srvUrl, protocol: 'mcp', session_key_file: keyFile }] });
}
function keyedDir(keyFile) {
  const d = tmpDir();
  fs.writeFileSync(path.join(d, 'policy.ini'), POLICY);
  if (!fs.existsSync(keyFile)) fs.writeFileSync(keyFile, `${crypto.randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  return d;
}

async function hup(gw) {
  const from = gw.stderr().length;
  gw.child.kill('SIGHUP');
  const deadline = Date.now() + 10000 * SCALE;
  for (let i = 0; i < 100000 && Date.now() < deadline; i++) {
    const log = gw.stderr().slice(from);
    if (log.includes('SIGHUP: configuration reloaded')) return;
    if (log.includes('SIGHUP: reload of')) assert.fail(`reload failed: ${log}`);
    await sleep(25);
  }
  assert.fail('no reload outcome logged');
}

test('session_key_file: a binding survives SIGHUP and a restart; another principal still gets 404', T, async () => {
  const keyDir = tmpDir();
  const keyFile = path.join(keyDir, 'mcp-session.key');
  const d = keyedDir(keyFile);
  const tokA = mintToken(READ);
  const tokB = mintToken(READ, { sub: 'user-b' });
  let gw = await startGateway(keyed(d, keyFile, sse.url));
  try {
    const sid = await rawSession(gw.port, { token: tokA });
    await hup(gw);
    await sse.reset();
    const r1 = await rpc(gw.port, toolCall('greet', { name: 'hup' }), { token: tokA, sessionId: sid });
    assert.equal(r1.status, 200, `after SIGHUP; body: ${r1.body.toString('utf8').slice(0, 300)}`);
    await gw.stop();
    gw = await startGateway(keyed(d, keyFile, sse.url));
    const r2 = await rpc(gw.port, toolCall('greet', { name: 'restart' }), { token: mintToken(READ), sessionId: sid });
    assert.equal(r2.status, 200, `after a restart; body: ${r2.body.toString('utf8').slice(0, 300)}`);
    expectRpcError(await rpc(gw.port, toolCall('greet', { name: 'b' }), { token: tokB, sessionId: sid }), 404, undefined, 'B after restart');
    assert.deepEqual(await ran(sse), ['tool greet', 'tool greet']);
  } finally {
    await gw.stop();
  }
});

test('session_key_file: two gateways sharing the file serve one session', T, async () => {
  const keyDir = tmpDir();
  const keyFile = path.join(keyDir, 'mcp-session.key');
  const g1 = await startGateway(keyed(keyedDir(keyFile), keyFile, sse.url));
  const g2 = await startGateway(keyed(keyedDir(keyFile), keyFile, sse.url));
  try {
    const tokA = mintToken(READ);
    const sid = await rawSession(g1.port, { token: tokA });
    await sse.reset();
    const r = await rpc(g2.port, toolCall('greet', { name: 'g2' }), { token: tokA, sessionId: sid });
    assert.equal(r.status, 200, `the other instance; body: ${r.body.toString('utf8').slice(0, 300)}`);
    expectRpcError(await rpc(g2.port, toolCall('greet', { name: 'b' }), { token: mintToken(READ, { sub: 'user-b' }), sessionId: sid }), 404, undefined, 'B at the other instance');
    assert.deepEqual(await ran(sse), ['tool greet']);
  } finally {
    await g1.stop();
    await g2.stop();
  }
});

// ---- config ----

test('config: protocol = mcp with its keys is ok; protocol = grpc is a FILE:LINE error', T, async () => {
  const d = tmpDir();
  fs.writeFileSync(path.join(d, 'policy.ini'), POLICY);
  fs.writeFileSync(path.join(d, 'mcp-session.key'), `${crypto.randomBytes(32).toString('hex')}\n`);
  const check = (protocol) => {
    const cfg = mcpGatewayConfig({ dir: d, policyFile: path.join(d, 'policy.ini'), upstreams: [
      { name: 'mcp', prefix: '/mcp', url: 'http://127.0.0.1:9', protocol, mcp_max_body: '1m', allow_origins: ORIGIN,
        session_key_file: path.join(d, 'mcp-session.key') }] });
    const { text, where } = configText(Object.assign({ port: 9, adminPort: 10 }, cfg));
    const file = path.join(d, `gateway-${protocol}.ini`);
    fs.writeFileSync(file, text);
    return { r: runGatewaySync(['-t', '-c', file]), file, line: where['upstream:mcp.protocol'] };
  };
  const ok = check('mcp');
  assert.equal(ok.r.code, 0, `protocol = mcp: ${ok.r.stderr}`);
  assert.match(ok.r.stdout + ok.r.stderr, /configuration ok/);
  const bad = check('grpc');
  assert.equal(bad.r.code, 1, `protocol = grpc must fail: ${bad.r.stdout}${bad.r.stderr}`);
  const lines = bad.r.stderr.split('\n').filter((l) => l.startsWith(`${bad.file}:${bad.line}:`));
  assert.equal(lines.length, 1, `one error at ${bad.file}:${bad.line}; stderr:\n${bad.r.stderr}`);
  assert.match(lines[0], /grpc/, `the error names the value: ${lines[0]}`);
});
