'use strict';
// gateway_mcp_requests_total through a real gateway with an MCP upstream
// (protocol = mcp) in front of the SDK's MCP server: each decision moves its
// own series (method, item from the policy or other/none), and the whole
// /metrics output passes a strict reading of the text format.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SCALE } = require('./lib/wire');
const { GatewayFixture, tmpDir } = require('./lib/procs');
const { scrape, value, strictFormatErrors } = require('./lib/metrics');
const { startMcpServer, mintToken, mcpGatewayConfig, rpcText, toolCall, rpc } = require('./lib/mcp-kit');

const T = { timeout: 30000 * SCALE };
const POLICY = `
[defaults]
mcp_unlisted = deny

[* /mcpj]
scopes = mcp:use

[mcp-tool:get_profile]
scopes = profiles:read

[mcp-tool:greet]
scopes = mcp:use

[mcp-prompt:summarize_profile]
scopes = profiles:read
`;

let srv;
let dir;
const fx = new GatewayFixture(() => mcpGatewayConfig({
  dir, policyFile: path.join(dir, 'policy.ini'),
  upstreams: [{ name: 'mcpj', prefix: '/mcpj', url: srv.url, protocol: 'mcp', mcp_max_body: '16k' }],
}));

before(async () => {
  dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  srv = await startMcpServer({ json: true, stateless: true });
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  if (srv) await srv.stop();
});

const S = (method, item, decision) =>
  `gateway_mcp_requests_total{upstream="mcpj",method="${method}",item="${item}",decision="${decision}"}`;

async function post(body, opts = {}) {
  const gw = await fx.ensure();
  return rpc(gw.port, body, Object.assign({ prefix: '/mcpj' }, opts));
}
async function metricsText() {
  const gw = await fx.ensure();
  const r = await scrape(gw.adminPort);
  assert.equal(r.status, 200);
  return r.body;
}

test('each MCP decision counts under its method, item and decision', T, async () => {
  const READ = mintToken(['mcp:use', 'profiles:read']);
  const BASIC = mintToken(['mcp:use']);
  const before0 = await metricsText();
  const cases = [
    // [body, opts, expected status, series]
    [toolCall('get_profile', { id: '1' }), { token: READ }, 200, S('tools/call', 'tool:get_profile', 'allow')],
    [toolCall('get_profile', { id: '1' }), { token: BASIC }, 403, S('tools/call', 'tool:get_profile', 'insufficient_scope')],
    [toolCall('no_such_tool'), { token: READ }, 403, S('tools/call', 'other', 'unlisted')],
    [rpcText('tools/list'), { token: READ }, 200, S('tools/list', 'none', 'allow')],
    [rpcText('prompts/get', { name: 'summarize_profile', arguments: { id: '1' } }), { token: BASIC }, 403,
      S('prompts/get', 'prompt:summarize_profile', 'insufficient_scope')],
    [rpcText('ping'), { token: READ }, 200, S('ping', 'none', 'allow')],
    [rpcText('x/unknown'), { token: READ, headers: { 'Mcp-Method': 'tools/list' } }, 400, S('other', 'none', 'invalid')],
    ['{"jsonrpc":"2.0",', { token: READ }, 400, S('other', 'none', 'invalid')],
    [toolCall('get_profile'), {}, 401, null], // no token: refused before the body is read, no MCP series
  ];
  for (const [body, opts, status, series] of cases) {
    const text = await metricsText();
    const was = series ? value(text, series) : 0;
    const res = await post(body, opts);
    assert.equal(res.status, status, `${body.slice(0, 80)}: status; body ${res.body.toString('utf8').slice(0, 200)}`);
    if (!series) continue;
    // the counter moves when the decision is made, before the answer is sent
    const now = value(await metricsText(), series);
    assert.equal(now, was + 1, `${series} moved by one (was ${was}, now ${now})`);
  }
  const after0 = await metricsText();
  const total = (t) => t.split('\n').filter((l) => l.startsWith('gateway_mcp_requests_total{'))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  assert.equal(total(after0) - total(before0), cases.length - 1, 'one count per JSON-RPC message judged, none for the 401 before the body');
});

test('the whole /metrics output passes a strict text-format check', T, async () => {
  // some traffic first, so that the label-carrying families have samples
  await post(toolCall('greet', { name: 'x' }), { token: mintToken(['mcp:use']) });
  const text = await metricsText();
  assert.deepEqual(strictFormatErrors(text), [], 'format errors');
  assert.match(text, /^# TYPE gateway_mcp_requests_total counter$/m);
  // the checker itself: it catches what it claims to
  assert.ok(strictFormatErrors('# TYPE a counter\na 1\n').length > 0, 'counter without _total caught');
  assert.ok(strictFormatErrors('# TYPE a_total counter\na_total 1\na_total 2\n').length > 0, 'duplicate caught');
  assert.ok(strictFormatErrors('a_total 1\n').length > 0, 'sample without TYPE caught');
  assert.ok(strictFormatErrors('# TYPE a_total counter\n# TYPE a_total counter\n').length > 0, 'two TYPEs caught');
  assert.ok(strictFormatErrors('# TYPE 1a_total counter\n').length > 0, 'bad name caught');
});
