'use strict';
// The scope policy through the real binary (SPEC "policies/*.ini", "Tokens",
// "Answers the gateway gives itself"; issue 4 "Tests"): every route of the
// repo's policies/profile-api.ini, enumerated by parsing the file here, is
// tried without a token (401 + resource_metadata challenge), with a token
// holding exactly its scopes (forwarded: the upstream echo shows the method and
// path it received) and with tokens lacking each of them (403
// insufficient_scope naming exactly the missing scope). Public and token-only
// routes, HEAD served by GET routes, fail-closed refusal of unmatched paths
// and unlisted methods, and `-t` on policy files with errors.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { request } = require('./lib/wire');
const { tmpDir, freePorts, configText, runGatewaySync } = require('./lib/procs');
const { jwks } = require('./lib/tokens');
const {
  POLICY_FILE, ISS, AUD, T, ROUTES, ALL_SCOPES, KEY, concretePath, upstreamOf, routeLabel,
  tokenWith, badSignatureToken, expiredToken, bearer, policyGateway,
  expectNoToken, expectInvalidToken, expectInsufficientScope, expectForbidden,
} = require('./lib/policy-kit');

const g = policyGateway();
before(() => g.start());
after(() => g.stop());

const ALL = tokenWith(ALL_SCOPES);
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH']);

async function send(method, p, headers = {}) {
  const gw = await g.fx.ensure();
  const h = Object.assign({}, headers);
  let body;
  if (BODY_METHODS.has(method)) { body = '{"probe":true}'; h['Content-Type'] = 'application/json'; }
  return request(gw.port, { method, path: p, headers: h, body });
}

// The request is forwarded unchanged to the upstream owning the path, and to
// nothing else.
async function expectForwarded(method, p, headers, what) {
  await g.reset();
  const res = await send(method, p, headers);
  const up = upstreamOf(p);
  assert.equal(res.status, 200, `${what}: ${method} ${p} → ${res.status} ${res.body.toString('utf8').slice(0, 300)}`);
  assert.equal(res.headers['x-upstream-name'], up, `${what}: answered by the ${up} upstream`);
  if (method !== 'HEAD') {
    const e = res.json();
    assert.equal(e.method, method, `${what}: method the upstream received`);
    assert.equal(e.url, p, `${what}: path the upstream received`);
  }
  assert.deepEqual(await g.received(), [{ upstream: up, method, url: p }], `${what}: what the upstreams received`);
  return res;
}

// Runs a request that must be refused and asserts no upstream saw it.
async function refused(method, p, headers) {
  await g.reset();
  const res = await send(method, p, headers);
  assert.deepEqual(await g.received(), [], `${method} ${p} (status ${res.status}) reached an upstream`);
  return res;
}

// ---- the table ----

test('the test reads policies/profile-api.ini: at least 30 routes, 5 scopes, one public route, MCP token routes', T, () => {
  assert.ok(ROUTES.length >= 30, `only ${ROUTES.length} routes parsed from ${POLICY_FILE}`);
  assert.deepEqual(ALL_SCOPES, ['account:read', 'account:write', 'profiles:read', 'profiles:write', 'tags:manage']);
  assert.ok(ROUTES.some((r) => r.pattern === '/api/v4/auth' && r.auth === 'none' && r.methods.includes('POST')));
  assert.ok(ROUTES.some((r) => r.pattern === '/api/v4/test' && r.auth === 'token'));
  assert.ok(ROUTES.some((r) => r.pattern === '/mcp' && r.auth === 'token'));
  for (const r of ROUTES) {
    assert.ok(r.auth || r.scopes.length || r.anyScopes.length, `${routeLabel(r)} has no requirement`);
    assert.ok(!(r.auth === 'none' && (r.scopes.length || r.anyScopes.length)), `${routeLabel(r)}: auth = none with scopes`);
  }
});

// Methods to try for a route: its own list; for `*`, a selection. GET routes
// also get HEAD unless a HEAD route exists on the same pattern.
function methodsOf(r) {
  const ms = r.methods[0] === '*' ? ['GET', 'HEAD', 'POST', 'DELETE'] : [...r.methods];
  const headRoute = ROUTES.some((o) => o.pattern === r.pattern && o.methods.includes('HEAD'));
  if (ms.includes('GET') && !ms.includes('HEAD') && !headRoute) ms.push('HEAD');
  return ms;
}

for (const r of ROUTES) {
  const p = concretePath(r.pattern);
  const label = routeLabel(r);
  for (const m of methodsOf(r)) {
    const head = m === 'HEAD';
    const req = `${m} ${p}`;
    const viaGet = head && !r.methods.includes('HEAD') && r.methods[0] !== '*' ? ' (HEAD served like GET)' : '';

    if (r.auth === 'none') {
      test(`${label}: ${req} without a token is forwarded (public route)`, T, () =>
        expectForwarded(m, p, {}, req));
      test(`${label}: ${req} with a badly signed token is forwarded (the token is ignored)`, T, () =>
        expectForwarded(m, p, bearer(badSignatureToken()), req));
      test(`${label}: ${req} with an expired token is forwarded (the token is ignored)`, T, () =>
        expectForwarded(m, p, bearer(expiredToken()), req));
      test(`${label}: ${req} with a token that is not a JWS is forwarded (the token is ignored)`, T, () =>
        expectForwarded(m, p, bearer('not-a-jwt'), req));
      continue;
    }

    test(`${label}: ${req}${viaGet} without a token → 401 with the resource_metadata challenge, not forwarded`, T, async () => {
      const res = await refused(m, p, {});
      expectNoToken(res, req, { head });
    });

    if (r.auth === 'token') {
      test(`${label}: ${req}${viaGet} with a valid token carrying no scope is forwarded (auth = token)`, T, () =>
        expectForwarded(m, p, bearer(tokenWith(null)), req));
      test(`${label}: ${req}${viaGet} with a valid token holding every scope is forwarded (auth = token)`, T, () =>
        expectForwarded(m, p, bearer(ALL), req));
      if (!head) {
        test(`${label}: ${req} with an expired token → 401 invalid_token, not forwarded`, T, async () => {
          const res = await refused(m, p, bearer(expiredToken()));
          expectInvalidToken(res, req);
        });
      }
      continue;
    }

    // scopes / any_scopes
    const exact = [...r.scopes, ...(r.anyScopes.length ? [r.anyScopes[0]] : [])];
    test(`${label}: ${req}${viaGet} with a token holding exactly ${exact.join(' ')} is forwarded`, T, () =>
      expectForwarded(m, p, bearer(tokenWith(exact)), req));

    for (const s of r.scopes) {
      const others = ALL_SCOPES.filter((x) => x !== s);
      test(`${label}: ${req}${viaGet} with every scope but ${s} → 403 insufficient_scope naming exactly ${s}`, T, async () => {
        const res = await refused(m, p, bearer(tokenWith(others)));
        expectInsufficientScope(res, [s], `${req} with ${others.join(' ')}`, { head });
      });
    }
    if (r.scopes.length) {
      test(`${label}: ${req}${viaGet} with a valid token carrying no scope → 403 insufficient_scope naming exactly ${r.scopes.join(' ')}`, T, async () => {
        const res = await refused(m, p, bearer(tokenWith(null)));
        expectInsufficientScope(res, r.scopes, `${req} without scopes`, { head });
      });
    }
    if (r.anyScopes.length) {
      const none = ALL_SCOPES.filter((x) => !r.anyScopes.includes(x));
      test(`${label}: ${req}${viaGet} with none of ${r.anyScopes.join(' ')} → 403 insufficient_scope naming them`, T, async () => {
        const res = await refused(m, p, bearer(tokenWith(none)));
        expectInsufficientScope(res, r.anyScopes, `${req} with ${none.join(' ')}`, { head });
      });
    }
    if (!head) {
      test(`${label}: ${req} with an expired token holding ${exact.join(' ')} → 401 invalid_token, not forwarded`, T, async () => {
        const res = await refused(m, p, bearer(expiredToken(exact)));
        expectInvalidToken(res, req);
      });
    }
  }
}

// ---- HEAD beyond the table ----

test('HEAD /api/v4/profiles with a token holding profiles:read: the upstream receives HEAD, the answer has no body', T, async () => {
  const res = await expectForwarded('HEAD', '/api/v4/profiles', bearer(tokenWith(['profiles:read'])), 'HEAD');
  assert.equal(res.body.length, 0);
});

test('HEAD on a POST-only route (HEAD /api/v4/test) with a valid token → 403, not forwarded (HEAD falls back to GET only)', T, async () => {
  expectForbidden(await refused('HEAD', '/api/v4/test', bearer(ALL)), 'HEAD /api/v4/test', { head: true });
});

// ---- fail closed ----

const UNMATCHED = [
  ['GET', '/api/v4/unknown', 'a path under /api/v4 no route matches'],
  ['GET', '/api/v4', 'the prefix itself'],
  ['GET', '/api/v4/', 'the prefix with a trailing slash'],
  ['GET', '/api/v4/profiles/', '/api/v4/profiles/ (trailing slash: not /api/v4/profiles nor /api/v4/profiles/{id})'],
  ['GET', '/api/v4/profiles/id-1/unknown', 'an unknown sub-resource of a profile'],
  ['GET', '/api/v4/profiles/id-1/disc/extra', 'a segment past /api/v4/profiles/{id}/disc'],
  ['GET', '/api/v4/Profiles', 'a case variant of /api/v4/profiles (matching is case-sensitive)'],
  ['DELETE', '/api/v4/account', 'a method not listed on the route (DELETE /api/v4/account)'],
  ['PATCH', '/api/v4/account', 'a method not listed on the route (PATCH /api/v4/account)'],
  ['POST', '/api/v4/assessments', 'a method not listed on the route (POST /api/v4/assessments)'],
  ['DELETE', '/api/v4/tags/id-1/profiles', 'a method not listed on the route (DELETE /api/v4/tags/{id}/profiles)'],
  ['PUT', '/api/v4/profiles', 'a method not listed on the route (PUT /api/v4/profiles)'],
  ['GET', '/api/v4/test', 'GET on the POST-only token route /api/v4/test'],
  ['OPTIONS', '/api/v4/profiles', 'OPTIONS (not a CORS preflight) on /api/v4/profiles'],
];

for (const [m, p, why] of UNMATCHED) {
  test(`fail closed: ${m} ${p} (${why}) without a token → 401 with the challenge, not forwarded`, T, async () => {
    expectNoToken(await refused(m, p, {}), `${m} ${p}`);
  });
  test(`fail closed: ${m} ${p} (${why}) with a token holding every scope → 403, not forwarded`, T, async () => {
    expectForbidden(await refused(m, p, bearer(ALL)), `${m} ${p}`);
  });
}

test('fail closed: GET /api/v4/auth (the public route is public for POST only) without a token → 401, not forwarded', T, async () => {
  expectNoToken(await refused('GET', '/api/v4/auth', {}), 'GET /api/v4/auth');
});

test('fail closed: GET /api/v4/auth with a token holding every scope → 403, not forwarded', T, async () => {
  expectForbidden(await refused('GET', '/api/v4/auth', bearer(ALL)), 'GET /api/v4/auth');
});

test('fail closed: an invalid token on an unmatched path → 401 invalid_token, not forwarded', T, async () => {
  expectInvalidToken(await refused('GET', '/api/v4/unknown', bearer(expiredToken())), 'GET /api/v4/unknown');
});

test('/mcpx (outside every upstream prefix) → 404 not_found, not forwarded', T, async () => {
  const res = await refused('GET', '/mcpx', bearer(ALL));
  assert.equal(res.status, 404);
  assert.equal(res.json().error, 'not_found');
});

test('the gateway process stayed up through this file (no crash)', T, async () => {
  const gw = await g.fx.ensure();
  assert.deepEqual(g.fx.crashes, [], `gateway crashed: ${JSON.stringify(g.fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
});

// ---- -t on policy files ----

// Writes a config naming `policyPath` (absolute) and runs `-t -c` on it.
async function checkConfig(policyPath, { scopesSupported } = {}) {
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(KEY)));
  const [port, adminPort] = await freePorts(2);
  const { text } = configText({
    port, adminPort,
    upstreams: [
      { name: 'api', prefix: '/api/v4', url: 'http://127.0.0.1:9' },
      { name: 'mcp', prefix: '/mcp', url: 'http://127.0.0.1:9' },
    ],
    policyFile: policyPath,
    extra: [
      '[resource]',
      `identifier = ${AUD}`,
      scopesSupported ? `scopes_supported = ${scopesSupported.join(' ')}` : '',
      '',
      '[issuer:login]',
      `iss = ${ISS}`,
      `jwks_file = ${path.join(dir, 'jwks.json')}`,
      '',
    ].join('\n'),
  });
  const cfg = path.join(dir, 'gateway.ini');
  fs.writeFileSync(cfg, text);
  return runGatewaySync(['-t', '-c', cfg]);
}

test('-t accepts policies/profile-api.ini: exit 0, "configuration ok"', T, async () => {
  const r = await checkConfig(POLICY_FILE);
  assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
  assert.match(r.stdout + r.stderr, /configuration ok/);
});

test('-t accepts policies/profile-api.ini with scopes_supported = its five scopes', T, async () => {
  const r = await checkConfig(POLICY_FILE, { scopesSupported: ALL_SCOPES });
  assert.equal(r.code, 0, `exit ${r.code}; stderr: ${r.stderr}`);
  assert.match(r.stdout + r.stderr, /configuration ok/);
});

// A policy with one error of every kind, between valid routes. `errs` maps the
// 1-based line where each error is expected to a description.
const BAD_POLICY = [
  /* 1 */ '[defaults]',
  /* 2 */ 'unmatched = deny',
  /* 3 */ '',
  /* 4 */ '[GET /api/v4/profiles]',
  /* 5 */ 'scopes = profiles:read',
  /* 6 */ 'colour = red',
  /* 7 */ '',
  /* 8 */ '[G@T /api/v4/a]',
  /* 9 */ 'scopes = profiles:read',
  /* 10 */ '',
  /* 11 */ '[get /api/v4/b]',
  /* 12 */ 'scopes = profiles:read',
  /* 13 */ '',
  /* 14 */ '[GET /api/v4/c/**/d]',
  /* 15 */ 'scopes = profiles:read',
  /* 16 */ '',
  /* 17 */ '[GET /api/v4/tags]',
  /* 18 */ 'scopes = tags:manage',
  /* 19 */ '',
  /* 20 */ '[GET /api/v4/profiles]',
  /* 21 */ 'scopes = profiles:read',
  /* 22 */ '',
  /* 23 */ '[POST /api/v4/auth]',
  /* 24 */ 'auth = none',
  /* 25 */ 'scopes = profiles:read',
  /* 26 */ '',
  /* 27 */ '[GET /api/v4/account]',
  /* 28 */ 'scopes = account:root',
  /* 29 */ '',
  /* 30 */ '[PUT, PATCH /api/v4/profiles/{id}]',
  /* 31 */ 'scopes = profiles:write',
  /* 32 */ '',
].join('\n');
const BAD_ERRORS = {
  6: 'unknown key',
  8: 'bad method (G@T)',
  11: 'bad method (lower-case get)',
  14: '`**` not last',
  20: 'duplicate route',
  25: 'auth = none with scopes', // the conflict is reported at the scopes line or at the auth line
  28: 'scope not in scopes_supported',
};
const SUPPORTED = ['profiles:read', 'profiles:write', 'tags:manage', 'account:read'];

function errorLines(stderr, file) {
  const out = new Set();
  for (const l of stderr.split('\n')) {
    if (l.startsWith(`${file}:`)) {
      const m = /^(\d+):/.exec(l.slice(file.length + 1));
      if (m) out.add(Number(m[1]));
    }
  }
  return out;
}

test('-t on a policy with an unknown key, bad methods, `**` not last, a duplicate route, auth = none with scopes and an unsupported scope: exit 1, every error as FILE:LINE', T, async () => {
  const dir = tmpDir();
  const pol = path.join(dir, 'bad-policy.ini');
  fs.writeFileSync(pol, BAD_POLICY);
  const r = await checkConfig(pol, { scopesSupported: SUPPORTED });
  assert.equal(r.code, 1, `exit ${r.code}; stdout: ${r.stdout}; stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /configuration ok/);
  const lines = errorLines(r.stderr, pol);
  const missing = [];
  for (const [ln, what] of Object.entries(BAD_ERRORS)) {
    const n = Number(ln);
    const ok = lines.has(n) || (what.startsWith('auth = none') && lines.has(n - 1));
    if (!ok) missing.push(`${what} at line ${n}`);
  }
  assert.deepEqual(missing, [], `errors not reported as ${pol}:LINE; stderr:\n${r.stderr}`);
  for (const good of [4, 5, 17, 18, 27, 30, 31]) {
    assert.ok(!lines.has(good), `an error reported at the valid line ${good}; stderr:\n${r.stderr}`);
  }
});

// Each kind of error alone is enough to fail the check.
const SINGLE = [
  ['an unknown key', '[GET /api/v4/x]\nscopes = profiles:read\nfrobnicate = yes\n', [3]],
  ['a bad method', '[GE(T /api/v4/x]\nscopes = profiles:read\n', [1]],
  ['`**` not the last segment', '[GET /api/v4/**/x]\nscopes = profiles:read\n', [1]],
  ['a duplicate route', '[GET /api/v4/x]\nscopes = profiles:read\n\n[GET /api/v4/x]\nscopes = tags:manage\n', [4]],
  ['a duplicate route spelled {id} vs *', '[GET /api/v4/x/{id}]\nscopes = profiles:read\n\n[GET /api/v4/x/*]\nscopes = tags:manage\n', [4]],
  ['auth = none with scopes', '[POST /api/v4/x]\nauth = none\nscopes = profiles:read\n', [2, 3]],
  ['a scope not in scopes_supported', '[GET /api/v4/x]\nscopes = profiles:delete\n', [2]],
];
for (const [what, text, at] of SINGLE) {
  test(`-t on a policy whose only error is ${what}: exit 1 and ${'FILE:LINE'} at line ${at.join(' or ')}`, T, async () => {
    const dir = tmpDir();
    const pol = path.join(dir, 'one-error.ini');
    fs.writeFileSync(pol, text);
    const r = await checkConfig(pol, { scopesSupported: SUPPORTED });
    assert.equal(r.code, 1, `exit ${r.code}; stdout: ${r.stdout}; stderr: ${r.stderr}`);
    const lines = errorLines(r.stderr, pol);
    assert.ok(at.some((n) => lines.has(n)), `no error at ${pol}:${at.join('/')}; stderr:\n${r.stderr}`);
  });
}
