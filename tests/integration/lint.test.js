'use strict';
// `gateway -t` warnings (SPEC "Command line"; issue: `-t`): a configuration
// that loads but most likely does not do what was meant is reported as
// `FILE:LINE: warning: ...` on stderr with exit 0 and "configuration ok";
// `-T` (or --strict) turns the same warnings into a failed check (exit 1), and
// so does `[server] strict = on`, also at start and on reload.
// Errors stay errors, and the error for a missing policy file names the
// config line that points at it.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tmpDir, configText, runGatewaySync, startGateway, startUpstream } = require('./lib/procs');
const { SCALE, request } = require('./lib/wire');
const { scrape, value } = require('./lib/metrics');

const T = { timeout: 30000 * SCALE };
const REPO = path.resolve(__dirname, '..', '..');

// Writes the policy and a config naming it; returns {cfg, policy, where}.
function setup(policyText, { upstreams, scopesSupported, policyName = 'p.ini', server } = {}) {
  const dir = tmpDir();
  const policy = path.join(dir, 'p.ini');
  if (policyText !== null) fs.writeFileSync(policy, policyText);
  const { text, where } = configText({
    port: 9, adminPort: 0, server,
    upstreams: upstreams || [{ name: 'api', prefix: '/api/v4', url: 'http://127.0.0.1:9' }],
    policyFile: path.join(dir, policyName),
    extra: scopesSupported ? `[resource]\nscopes_supported = ${scopesSupported}\n` : '',
  });
  const cfg = path.join(dir, 'gateway.ini');
  fs.writeFileSync(cfg, text);
  return { cfg, policy, where };
}

function check(cfg, flag = '-t') {
  const r = runGatewaySync([flag, '-c', cfg]);
  assert.equal(r.error, undefined, r.error && r.error.message);
  return r;
}

// One warning per case: the policy, the line it must name, what it says.
const CASES = [
  ['an unknown method', '[GIT /api/v4/repo]\nauth = token\n', 1, /unknown method 'GIT'/],
  ['a route shadowed by more specific ones',
    '[* /api/v4/a]\nauth = token\n[* /api/v4/a/*]\nauth = token\n' +
    '[* /api/v4/a/*/**]\nauth = token\n[* /api/v4/a/**]\nauth = token\n', 7,
    /route \[\* \/api\/v4\/a\/\*\*\] is shadowed/],
  ['a route outside every upstream prefix',
    '[GET /api/v4/**]\nauth = token\n\n[GET /apx/**]\nauth = token\n', 4,
    /route \[GET \/apx\/\*\*\] is outside every upstream prefix/],
  ['an [mcp-tool] section with no mcp upstream',
    '[* /api/v4/**]\nauth = token\n[mcp-tool:search]\nscopes = profiles:read\n', 3,
    /\[mcp-tool:search\] is never used: no upstream has protocol = mcp/],
  ['a scope one route names that the docs do not (no scopes_supported)',
    '[GET /api/v4/profiles]\nscopes = profiles:read\n[GET /api/v4/tags]\nscopes = tags:mange\n', 3,
    /scope 'tags:mange' is named by this section only/],
];

for (const [name, policyText, line, re] of CASES) {
  test(`-t warns about ${name}; -T fails on it`, T, () => {
    const { cfg, policy } = setup(policyText);
    const r = check(cfg);
    assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
    assert.match(r.stdout, /configuration ok/);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `exactly one warning expected; stderr: ${r.stderr}`);
    assert.ok(lines[0].startsWith(`${policy}:${line}: warning: `), lines[0]);
    assert.match(lines[0], re);
    for (const flag of ['-T', '--strict']) {
      const s = check(cfg, flag);
      assert.equal(s.code, 1, `${flag}: exit ${s.code}; stderr: ${s.stderr}`);
      assert.doesNotMatch(s.stdout, /configuration ok/);
      assert.match(s.stderr, re);
    }
  });
}

test('-t warns about an empty policy', T, () => {
  const { cfg, policy } = setup('[defaults]\nunmatched = deny\n');
  const r = check(cfg);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`^${policy.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: warning: the policy has no routes`));
  assert.equal(check(cfg, '-T').code, 1);
});

test('no warning for what is meant: mcp items with an mcp upstream, listed scopes, reachable routes', T, () => {
  const policyText = '[GET /api/v4/things]\nscopes = things:read\n[* /mcp]\nauth = token\n' +
    '[mcp-tool:search]\nscopes = things:read\n[GET /api/v4/a/**]\nauth = token\n[GET /api/v4/a/*]\nauth = token\n';
  const upstreams = [
    { name: 'api', prefix: '/api/v4', url: 'http://127.0.0.1:9' },
    { name: 'mcp', prefix: '/mcp', url: 'http://127.0.0.1:9', protocol: 'mcp' },
  ];
  const { cfg } = setup(policyText, { upstreams, scopesSupported: 'things:read' });
  const r = check(cfg, '-T');
  assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
});

test("-T passes the repository's own conf/gateway.ini", T, () => {
  const r = check(path.join(REPO, 'conf', 'gateway.ini'), '-T');
  assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
});

test('a missing policy file is an error on the config line that names it', T, () => {
  const { cfg, where } = setup(null, { policyName: 'missing.ini' });
  const r = check(cfg);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`^${cfg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${where['policy.file']}: .*missing\\.ini.*cannot open`, 'm'));
});

// `[server] strict = on`: the -T behaviour from the configuration itself,
// for -t, for the start and for every SIGHUP reload.
const WARN_POLICY = '[GET /api/v4/a]\nauth = none\n[GIT /api/v4/b]\nauth = none\n[GET /api/v4/c]\nauth = none\n';
const CLEAN_POLICY = '[GET /api/v4/a]\nauth = none\n';

test('strict = on: -t fails on a warning, passes a clean configuration; off is the default', T, () => {
  const warn = setup(WARN_POLICY, { server: { strict: 'on' } });
  const r = check(warn.cfg);
  assert.equal(r.code, 1, `exit ${r.code}; stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stdout, /configuration ok/);
  assert.match(r.stderr, /unknown method 'GIT'/);
  assert.match(r.stderr, /1 warning, which strict = on counts as errors/);
  const clean = setup(CLEAN_POLICY, { server: { strict: 'on' } });
  const c = check(clean.cfg);
  assert.equal(c.code, 0, `a clean configuration passes under strict: exit ${c.code}; stderr: ${c.stderr}`);
  const off = setup(WARN_POLICY, { server: { strict: 'off' } });
  const o = check(off.cfg);
  assert.equal(o.code, 0, `strict = off: warnings only; stderr: ${o.stderr}`);
  assert.match(o.stderr, /warning: .*unknown method 'GIT'/);
});

test('strict = on: a configuration with a warning does not start (exit 1, the warning logged)', T, () => {
  const { cfg } = setup(WARN_POLICY, { server: { strict: 'on' } });
  const r = runGatewaySync(['-c', cfg], 10000 * SCALE);
  assert.equal(r.signal, null, `the gateway kept running (${r.signal}): ${r.stderr}`);
  assert.equal(r.code, 1, `exit ${r.code}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /unknown method 'GIT'/);
  assert.match(r.stderr, /1 warning in .*gateway\.ini, which strict = on counts as errors/);
});

test('strict = on: a reload whose configuration has a warning is refused, the old one keeps serving', T, async () => {
  const api = await startUpstream({ name: 'api' });
  const dir = tmpDir();
  const policy = path.join(dir, 'p.ini');
  fs.writeFileSync(policy, CLEAN_POLICY);
  let gw;
  try {
    gw = await startGateway({
      dir, server: { strict: 'on' }, policyFile: policy,
      upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    });
    assert.equal((await request(gw.port, { path: '/api/v4/a' })).status, 200);
    assert.equal((await request(gw.port, { path: '/api/v4/c' })).status, 401, 'unmatched: refused');
    const tmp = `${policy}.new`;
    fs.writeFileSync(tmp, WARN_POLICY);
    fs.renameSync(tmp, policy);
    gw.child.kill('SIGHUP');
    await gw.waitStderr(/SIGHUP: 1 warning in .*, which strict = on counts as errors; the running configuration stays/);
    assert.match(gw.stderr(), /unknown method 'GIT'/);
    assert.equal((await request(gw.port, { path: '/api/v4/c' })).status, 401, 'the refused policy is not in force');
    assert.equal((await request(gw.port, { path: '/api/v4/a' })).status, 200, 'the old one still serves');
    const m = (await scrape(gw.adminPort)).body;
    assert.equal(value(m, 'gateway_reloads_total{result="failed"}'), 1);
    assert.equal(value(m, 'gateway_reloads_total{result="ok"}'), 0);
    // fixed: the next reload goes through
    fs.writeFileSync(tmp, '[GET /api/v4/a]\nauth = none\n[GET /api/v4/c]\nauth = none\n');
    fs.renameSync(tmp, policy);
    gw.child.kill('SIGHUP');
    await gw.waitStderr(/SIGHUP: configuration reloaded/);
    assert.equal((await request(gw.port, { path: '/api/v4/c' })).status, 200);
  } finally {
    if (gw) await gw.stop();
    await api.stop();
  }
});
