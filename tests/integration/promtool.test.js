'use strict';
// /metrics through Prometheus's own linter: a gateway that has seen traffic
// of every kind (proxied 200, 401, 403, 429, M2M token requests issued and
// refused, MCP calls) is scraped and its text fed to `promtool check
// metrics`, which must exit 0 and print nothing: every line it prints is a
// lint problem (a counter without _total, a missing HELP, a non-base unit,
// a duplicate series...), and none is allowed.
//
// promtool comes from Debian's prometheus package, taken out of the .deb by
// tests/deps.sh into build/.promtool/ (PROMTOOL=/path overrides it; one on
// PATH is used too). Without it the test says so and falls back to the
// strict format check of lib/metrics.js; under CI=true a missing promtool
// is a failure.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { SCALE, request } = require('./lib/wire');
const { REPO, startUpstream, startGateway, freePorts, tmpDir } = require('./lib/procs');
const { scrape, value, strictFormatErrors } = require('./lib/metrics');
const { TOKEN_PATH, CLIENTS, m2mSections, waitReady } = require('./lib/m2m-kit');

const T = { timeout: 60000 * SCALE };
const POLICY = `
[GET /api/v4/profiles]
scopes = profiles:read

[GET /api/v4/admin]
scopes = profiles:write

[GET /api/v4/limited]
auth = token
rate = 1/h

[POST ${TOKEN_PATH}]
auth = none

[* /mcp]
scopes = profiles:read

[mcp-tool:get_profile]
scopes = profiles:read

[mcp-tool:set_profile]
scopes = profiles:write
`;

function findPromtool() {
  const cands = [process.env.PROMTOOL, path.join(REPO, 'build', '.promtool', 'promtool')];
  const onPath = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  if (onPath.status === 0) cands.push(onPath.stdout.trim());
  for (const c of cands) {
    if (c && fs.existsSync(c) && spawnSync(c, ['--version'], { timeout: 20000 * SCALE }).status === 0) return c;
  }
  return null;
}

let api; let mcp; let gw;

before(async () => {
  api = await startUpstream({ name: 'api' });
  mcp = await startUpstream({ name: 'mcp' });
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  const [port, adminPort] = await freePorts(2);
  gw = await startGateway({
    dir, port, adminPort,
    policyFile: path.join(dir, 'policy.ini'),
    upstreams: [
      { name: 'api', prefix: '/api/v4', url: api.url },
      { name: 'mcp', prefix: '/mcp', url: mcp.url, protocol: 'mcp' },
    ],
    extra: m2mSections({ port }),
  });
  await waitReady(adminPort);
});
after(async () => {
  if (gw) await gw.stop();
  if (mcp) await mcp.stop();
  if (api) await api.stop();
});

const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
function tokenRequest(authorization) {
  return request(gw.port, {
    method: 'POST', path: TOKEN_PATH, body: 'grant_type=client_credentials',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization },
  });
}
function mcpCall(token, tool) {
  return request(gw.port, {
    method: 'POST', path: '/mcp',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: {} } }),
    headers: {
      authorization: `Bearer ${token}`, 'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
  });
}

// Traffic of every kind; returns the scrape after it.
async function traffic() {
  const { id, secret } = CLIENTS.demo; // profiles:read tags:manage
  const tok = await tokenRequest(basic(id, secret));
  assert.equal(tok.status, 200, `token: ${tok.body}`);
  const token = JSON.parse(tok.body.toString()).access_token;
  assert.equal((await tokenRequest(basic(id, `${secret}-wrong`))).status, 401, 'wrong secret');
  const two = await tokenRequest([basic(id, secret), basic(id, secret)]);
  assert.equal(two.status, 400, 'two Authorization headers: refused before the issuer runs');
  const bearer = { authorization: `Bearer ${token}` };
  assert.equal((await request(gw.port, { path: '/api/v4/profiles', headers: bearer })).status, 200);
  assert.equal((await request(gw.port, { path: '/api/v4/profiles' })).status, 401);
  assert.equal((await request(gw.port, { path: '/api/v4/admin', headers: bearer })).status, 403);
  assert.equal((await request(gw.port, { path: '/api/v4/limited', headers: bearer })).status, 200);
  assert.equal((await request(gw.port, { path: '/api/v4/limited', headers: bearer })).status, 429);
  assert.equal((await request(gw.port, { path: '/nowhere' })).status, 404);
  assert.notEqual((await mcpCall(token, 'get_profile')).status, 403, 'an allowed MCP call is forwarded');
  assert.equal((await mcpCall(token, 'set_profile')).status, 403, 'an MCP call without the tool scope');
  const m = await scrape(gw.adminPort);
  assert.equal(m.status, 200);
  return m.body;
}

test('/metrics after traffic of every kind passes `promtool check metrics` without a single lint line', T, async (t) => {
  const text = await traffic();
  if (process.env.PROMTOOL_DUMP) fs.writeFileSync(process.env.PROMTOOL_DUMP, text);
  // the traffic reached the families it is meant to exercise
  assert.equal(value(text, 'gateway_m2m_token_requests_total{outcome="issued"}'), 1);
  assert.equal(value(text, 'gateway_m2m_token_requests_total{outcome="bad_secret"}'), 1);
  assert.equal(value(text, 'gateway_m2m_token_requests_total{outcome="invalid_request"}'), 1, 'the early refusal counts');
  assert.ok(value(text, 'gateway_responses_total{code="429"}') >= 1);
  assert.ok(value(text, 'gateway_request_duration_seconds_count{upstream="api",answered_by="upstream"}') >= 2);
  assert.ok(value(text, 'gateway_request_duration_seconds_count{upstream="none",answered_by="gateway"}') >= 1);
  assert.ok(/^gateway_mcp_requests_total\{/m.test(text), 'MCP series present');

  const promtool = findPromtool();
  if (!promtool) {
    assert.notEqual(process.env.CI, 'true', 'promtool is missing under CI=true: `sh tests/deps.sh` takes it from the prometheus .deb');
    t.diagnostic('promtool not found (sh tests/deps.sh fetches it): falling back to the strict format check');
    assert.deepEqual(strictFormatErrors(text), [], 'format errors');
    return;
  }
  t.diagnostic(`promtool: ${promtool}`);
  const r = spawnSync(promtool, ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30000 * SCALE });
  const lines = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '');
  assert.equal(r.status, 0, `promtool check metrics exited ${r.status}:\n${lines.join('\n')}`);
  assert.deepEqual(lines, [], 'promtool lint output');
});

test('promtool here is live: it flags what it should', T, (t) => {
  const promtool = findPromtool();
  if (!promtool) {
    assert.notEqual(process.env.CI, 'true', 'promtool is missing under CI=true');
    t.skip('promtool not found: the fallback check is tested in metrics-mcp.test.js');
    return;
  }
  const bad = '# HELP gateway_x_count A counter.\n# TYPE gateway_x_count counter\ngateway_x_count 1\n';
  const r = spawnSync(promtool, ['check', 'metrics'], { input: bad, encoding: 'utf8', timeout: 30000 * SCALE });
  assert.match(r.stdout + r.stderr, /_total/, `a counter without _total went unnoticed: ${r.stdout}${r.stderr}`);
});
