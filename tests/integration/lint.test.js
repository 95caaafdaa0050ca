'use strict';
// `gateway -t` warnings (SPEC "Command line"; issue: `-t`): a configuration
// that loads but most likely does not do what was meant is reported as
// `FILE:LINE: warning: ...` on stderr with exit 0 and "configuration ok";
// `-T` (or --strict) turns the same warnings into a failed check (exit 1).
// Errors stay errors, and the error for a missing policy file names the
// config line that points at it.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { tmpDir, configText, runGatewaySync } = require('./lib/procs');
const { SCALE } = require('./lib/wire');

const T = { timeout: 30000 * SCALE };
const REPO = path.resolve(__dirname, '..', '..');

// Writes the policy and a config naming it; returns {cfg, policy, where}.
function setup(policyText, { upstreams, scopesSupported, policyName = 'p.ini' } = {}) {
  const dir = tmpDir();
  const policy = path.join(dir, 'p.ini');
  if (policyText !== null) fs.writeFileSync(policy, policyText);
  const { text, where } = configText({
    port: 9, adminPort: 0,
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
