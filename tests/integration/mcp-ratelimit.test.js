'use strict';
// Rate limits on MCP item sections (SPEC "Revocation, rate limits and
// several instances": "a route or MCP item section may set rate"): the
// SDK's McpServer behind the gateway, raw JSON-RPC tools/call POSTs.
// - [mcp-tool:greet] rate = 3/m: the 4th call of one subject is 429 with
//   the RateLimit headers and never reaches the server; another subject
//   and another tool are unaffected;
// - rate_key = client_id; the item's own rate beside the route's;
// - a rate without scopes is a valid item; burst/rate_key without rate,
//   and a bad rate, are policy errors naming the line.
const { test, before, after, beforeEach } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SCALE } = require('./lib/wire');
const { GatewayFixture, tmpDir, runGatewaySync, configText } = require('./lib/procs');
const { startMcpServer, mintToken, mcpGatewayConfig, toolCall, rpc } = require('./lib/mcp-kit');

const T = { timeout: 30000 * SCALE };
const ROUTE = 'mcp:use';
const POLICY = `
[* /mcpj]
scopes = ${ROUTE}

[mcp-tool:greet]
rate = 3/m

[mcp-tool:list_profiles]
scopes = profiles:read
rate = 2/m
rate_key = client_id
`;

let js;
let dir;
const fx = new GatewayFixture(() => mcpGatewayConfig({
  dir, policyFile: path.join(dir, 'policy.ini'),
  upstreams: [{ name: 'mcpj', prefix: '/mcpj', url: js.url, protocol: 'mcp', mcp_max_body: '16k' }],
}));

before(async () => {
  dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  js = await startMcpServer({ json: true, stateless: true });
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  if (js) await js.stop();
});
beforeEach(async () => { if (js) await js.reset(); });

async function call(name, token, id = 1) {
  const gw = await fx.ensure();
  return rpc(gw.port, toolCall(name, name === 'greet' ? { name: 'x' } : {}, id), { prefix: '/mcpj', token });
}
const ran = async () => (await js.executions()).map((e) => `${e.kind} ${e.name}`);

test('an MCP tool with rate = 3/m: the 4th call of a subject is 429 with RateLimit headers and is not forwarded', T, async () => {
  const tok = mintToken([ROUTE], { sub: 'rl-a' });
  for (let i = 1; i <= 3; i++) {
    const r = await call('greet', tok, i);
    assert.equal(r.status, 200, `call ${i}: ${r.body.toString().slice(0, 200)}`);
  }
  await js.reset();
  const over = await call('greet', tok, 4);
  assert.equal(over.status, 429, over.body.toString().slice(0, 200));
  assert.match(String(over.headers['ratelimit-policy']), /^"default";q=3;w=60$/);
  assert.match(String(over.headers.ratelimit), /^"default";r=0;t=\d+$/);
  assert.ok(Number(over.headers['retry-after']) >= 1, 'Retry-After');
  assert.deepEqual(await ran(), [], 'the refused call reached the server');
  // Another subject has its own bucket; the route itself has no rate.
  const other = await call('greet', mintToken([ROUTE], { sub: 'rl-b' }));
  assert.equal(other.status, 200);
  const tools = await call('get_profile', tok);
  assert.equal(tools.status, 200, 'a tool without a rate is not limited');
});

test('rate_key = client_id: two subjects of one client share the item bucket', T, async () => {
  const scopes = [ROUTE, 'profiles:read'];
  const a = mintToken(scopes, { sub: 'u1', client_id: 'shared-app' });
  const b = mintToken(scopes, { sub: 'u2', client_id: 'shared-app' });
  assert.equal((await call('list_profiles', a)).status, 200);
  assert.equal((await call('list_profiles', b)).status, 200);
  assert.equal((await call('list_profiles', a)).status, 429, 'third call of the client');
  const c = mintToken(scopes, { sub: 'u1', client_id: 'other-app' });
  assert.equal((await call('list_profiles', c)).status, 200, 'another client id');
});

test('an item section with only a rate is valid; burst without rate and a bad rate are errors naming the line', T, () => {
  const d = tmpDir();
  const check = (policy) => {
    fs.writeFileSync(path.join(d, 'policy.ini'), policy);
    fs.writeFileSync(path.join(d, 'gw.ini'), configText({ port: 1, adminPort: 2,
      upstreams: [{ name: 'm', prefix: '/mcp', url: 'http://127.0.0.1:9', protocol: 'mcp' }],
      policyFile: path.join(d, 'policy.ini'),
      extra: '[resource]\nidentifier = https://api.example.test\nauthorization_servers = https://a.example.test\n' }).text);
    return runGatewaySync(['-t', '-c', path.join(d, 'gw.ini')]);
  };
  const ok = check('[* /mcp]\nscopes = mcp:use\n\n[mcp-tool:greet]\nrate = 5/s\nburst = 10\n');
  assert.equal(ok.code, 0, ok.stderr);
  const burst = check('[* /mcp]\nscopes = mcp:use\n\n[mcp-tool:greet]\nscopes = mcp:use\nburst = 10\n');
  assert.equal(burst.code, 1);
  assert.match(burst.stderr, /policy\.ini:6: burst needs rate in \[mcp-tool:greet\]/);
  const bad = check('[* /mcp]\nscopes = mcp:use\n\n[mcp-tool:greet]\nrate = 5/d\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /policy\.ini:5: rate must be COUNT\/s, COUNT\/m or COUNT\/h in \[mcp-tool:greet\]/);
});
