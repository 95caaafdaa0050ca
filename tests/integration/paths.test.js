'use strict';
// Hostile request-targets through the real binary (SPEC "Paths and matching",
// policies/*.ini normalization rules, gateway/pathnorm.h; issue 4 "Path
// normalization"). Every request is written byte for byte on a raw socket
// (node's and curl's clients would normalize or refuse some of these
// themselves) with the repo's policies/profile-api.ini in force. Each case
// asserts the status and, when forwarded, the exact request-target the
// upstream received (normalized path + original query) and that nothing else
// reached an upstream; refusals assert that nothing did. "Judged as" cases
// use tokens with a single scope to prove which route decided.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { assertGatewayError } = require('./lib/wire');
const {
  T, ALL_SCOPES, upstreamOf, tokenWith, policyGateway, rawRequest,
  expectNoToken, expectInsufficientScope, expectForbidden,
} = require('./lib/policy-kit');

const g = policyGateway();
before(() => g.start());
after(() => g.stop());

const ALL = tokenWith(ALL_SCOPES);
const READ = tokenWith(['profiles:read']);
const TAGS = tokenWith(['tags:manage']);
const NOSCOPE = tokenWith(null);

// One raw request; token null = no Authorization header. host overrides Host.
async function send(target, { method = 'GET', token = ALL, host, headers = [] } = {}) {
  const gw = await g.fx.ensure();
  const h = [`Host: ${host === undefined ? `127.0.0.1:${gw.port}` : host}`];
  if (token) h.push(`Authorization: Bearer ${token}`);
  h.push(...headers);
  await g.reset();
  const res = await rawRequest(gw.port, { method, target, headers: h, body: method === 'POST' ? '{}' : null });
  const received = await g.received();
  return { res, received };
}

const show = (res) => `${res.statusLine} ${res.body.toString('latin1').slice(0, 300)}`;

// Forwarded to the upstream owning `want`'s path, which received exactly `want`.
async function forwarded(target, want, opts = {}) {
  const method = opts.method || 'GET';
  const { res, received } = await send(target, opts);
  const up = upstreamOf(want.split('?')[0]);
  assert.equal(res.status, 200, `${method} ${JSON.stringify(target)}: ${show(res)}`);
  assert.equal(res.headers['x-upstream-name'], up, `${JSON.stringify(target)} answered by ${res.headers['x-upstream-name']}`);
  assert.equal(res.json().url, want, `request-target the upstream received for ${JSON.stringify(target)}`);
  assert.deepEqual(received, [{ upstream: up, method, url: want }], `what the upstreams received for ${JSON.stringify(target)}`);
}

// Refused with the gateway's own `status`/`code`, nothing forwarded.
async function refusedWith(target, status, code, opts = {}) {
  const { res, received } = await send(target, opts);
  assert.deepEqual(received, [], `${JSON.stringify(target)} (answered ${res.status}) reached an upstream`);
  assert.equal(res.status, status, `${JSON.stringify(target)}: ${show(res)}`);
  return assertGatewayError(res, status, code, JSON.stringify(target));
}

async function refused403(target, opts = {}) {
  const { res, received } = await send(target, opts);
  assert.deepEqual(received, [], `${JSON.stringify(target)} (answered ${res.status}) reached an upstream`);
  return expectForbidden(res, JSON.stringify(target));
}

async function refusedScope(target, missing, opts = {}) {
  const { res, received } = await send(target, opts);
  assert.deepEqual(received, [], `${JSON.stringify(target)} (answered ${res.status}) reached an upstream`);
  return expectInsufficientScope(res, missing, JSON.stringify(target));
}

async function refusedNoToken(target, opts = {}) {
  const { res, received } = await send(target, Object.assign({ token: null }, opts));
  assert.deepEqual(received, [], `${JSON.stringify(target)} (answered ${res.status}) reached an upstream`);
  return expectNoToken(res, JSON.stringify(target));
}

// ---- normalized, then forwarded as normalized ----

test('/api/v4/tags/../profiles is forwarded as /api/v4/profiles', T, () =>
  forwarded('/api/v4/tags/../profiles', '/api/v4/profiles'));
test('/api/v4/tags/../profiles is judged as GET /api/v4/profiles: a tags:manage-only token → 403 naming profiles:read', T, () =>
  refusedScope('/api/v4/tags/../profiles', ['profiles:read'], { token: TAGS }));
test('/api/v4/tags/../profiles with a profiles:read-only token is forwarded as /api/v4/profiles', T, () =>
  forwarded('/api/v4/tags/../profiles', '/api/v4/profiles', { token: READ }));
test('/api/v4/profiles/../tags is judged as GET /api/v4/tags: a profiles:read-only token → 403 naming tags:manage', T, () =>
  refusedScope('/api/v4/profiles/../tags', ['tags:manage'], { token: READ }));

test('/api/v4/%70rofiles (encoded unreserved letter) is forwarded as /api/v4/profiles', T, () =>
  forwarded('/api/v4/%70rofiles', '/api/v4/profiles'));
test('/api/v4/%70rofiles is judged as GET /api/v4/profiles: a tags:manage-only token → 403 naming profiles:read', T, () =>
  refusedScope('/api/v4/%70rofiles', ['profiles:read'], { token: TAGS }));
test('/%61pi/v4/%61ccount (encoded letters in the prefix too) is forwarded as /api/v4/account', T, () =>
  forwarded('/%61pi/v4/%61ccount', '/api/v4/account'));

test('/api/v4//profiles is forwarded as /api/v4/profiles (// merged)', T, () =>
  forwarded('/api/v4//profiles', '/api/v4/profiles'));
test('//api/v4///profiles is forwarded as /api/v4/profiles (leading and repeated // merged)', T, () =>
  forwarded('//api/v4///profiles', '/api/v4/profiles'));

test('/api/v4/tags/%2e%2e/profiles (encoded ..) is forwarded as /api/v4/profiles', T, () =>
  forwarded('/api/v4/tags/%2e%2e/profiles', '/api/v4/profiles'));
test('/api/v4/tags/%2E%2E/profiles (upper-case encoded ..) is forwarded as /api/v4/profiles', T, () =>
  forwarded('/api/v4/tags/%2E%2E/profiles', '/api/v4/profiles'));
test('/api/v4/tags/.%2e/profiles (half-encoded ..) is judged as /api/v4/profiles: a tags:manage-only token → 403 naming profiles:read', T, () =>
  refusedScope('/api/v4/tags/.%2e/profiles', ['profiles:read'], { token: TAGS }));
test('/api/v4/./profiles is forwarded as /api/v4/profiles (. removed)', T, () =>
  forwarded('/api/v4/./profiles', '/api/v4/profiles'));
test('/api/v4/tags/x/../../profiles/id-1/./disc is forwarded as /api/v4/profiles/id-1/disc', T, () =>
  forwarded('/api/v4/tags/x/../../profiles/id-1/./disc', '/api/v4/profiles/id-1/disc'));

test('/api/v4/profiles/. keeps a trailing slash (/api/v4/profiles/): no route matches → 403, not forwarded', T, () =>
  refused403('/api/v4/profiles/.'));
test('/api/v4/profiles/%2e keeps a trailing slash (/api/v4/profiles/): no route matches → 403, not forwarded', T, () =>
  refused403('/api/v4/profiles/%2e'));

test('/api/v4/profiles/%7Eada is forwarded with ~ decoded: /api/v4/profiles/~ada', T, () =>
  forwarded('/api/v4/profiles/%7Eada', '/api/v4/profiles/~ada'));
test('/api/v4/profiles/a%2ab (escaped reserved *) stays escaped with upper-case hex: /api/v4/profiles/a%2Ab', T, () =>
  forwarded('/api/v4/profiles/a%2ab', '/api/v4/profiles/a%2Ab'));
test('/api/v4/profiles/a%252Fb (double-encoded /) is not decoded twice: forwarded as /api/v4/profiles/a%252Fb', T, () =>
  forwarded('/api/v4/profiles/a%252Fb', '/api/v4/profiles/a%252Fb'));
test('/api/v4/profiles/a%0Ab (escaped LF, not %00) stays escaped and is forwarded as is', T, () =>
  forwarded('/api/v4/profiles/a%0Ab', '/api/v4/profiles/a%0Ab'));

// Normalization before routing: a path cannot borrow another prefix's policy.
test('/mcp/../api/v4/profiles is routed to the api upstream and judged as /api/v4/profiles: a scope-less token (enough for /mcp) → 403 naming profiles:read', T, () =>
  refusedScope('/mcp/../api/v4/profiles', ['profiles:read'], { token: NOSCOPE }));
test('/mcp/../api/v4/profiles with a profiles:read token is forwarded to the api upstream as /api/v4/profiles', T, () =>
  forwarded('/mcp/../api/v4/profiles', '/api/v4/profiles', { token: READ }));
test('/api/v4/../../mcp is forwarded to the mcp upstream as /mcp', T, () =>
  forwarded('/api/v4/../../mcp', '/mcp'));
test('POST /api/v4/auth/../profiles without a token is judged as POST /api/v4/profiles (not the public route) → 401', T, () =>
  refusedNoToken('/api/v4/auth/../profiles', { method: 'POST' }));
test('POST /api/v4/tags/../auth without a token is judged as the public POST /api/v4/auth and forwarded as /api/v4/auth', T, () =>
  forwarded('/api/v4/tags/../auth', '/api/v4/auth', { method: 'POST', token: null }));
test('/api/v4/../../x normalizes to /x, outside every prefix → 404 not_found, not forwarded', T, () =>
  refusedWith('/api/v4/../../x', 404, 'not_found'));

// ---- queries ----

const Q = 'b=2&a=1&a=3&enc=%41%2f%2F&plus=a+b&semi=;x&q=?&slash=/x/../y&empty=&&flag&tilde=~&utf=%C3%A9&dots=%2e%2e';
test('the query is forwarded byte for byte (order, duplicates, escapes, +, ;, ?, /../, empty pairs)', T, () =>
  forwarded(`/api/v4/profiles?${Q}`, `/api/v4/profiles?${Q}`));
test('normalized path + original query: /api/v4/tags/../profiles?x=/../y&z=%2F → /api/v4/profiles?x=/../y&z=%2F', T, () =>
  forwarded('/api/v4/tags/../profiles?x=/../y&z=%2F', '/api/v4/profiles?x=/../y&z=%2F'));
test('/api/v4//%70rofiles?p=%70 → /api/v4/profiles?p=%70 (the query is not decoded)', T, () =>
  forwarded('/api/v4//%70rofiles?p=%70', '/api/v4/profiles?p=%70'));
test('an empty query is kept: /api/v4/profiles? → /api/v4/profiles?', T, () =>
  forwarded('/api/v4/profiles?', '/api/v4/profiles?'));

// ---- refused: 400 ----

const BAD = [
  ['/api/v4/tags%2F..%2Fprofiles', 'encoded / (%2F)'],
  ['/api/v4/tags%2f..%2fprofiles', 'encoded / (%2f, lower case)'],
  ['/api/v4/profiles%2Fid-1', 'encoded / between two route segments'],
  ['/api%2Fv4/profiles', 'encoded / inside the prefix'],
  ['/api/v4/tags%5C..%5Cprofiles', 'encoded \\ (%5C)'],
  ['/api/v4/tags%5c..%5cprofiles', 'encoded \\ (%5c, lower case)'],
  ['/api/v4/profiles%00', '%00'],
  ['/api/v4/profiles/%00/disc', '%00 as a whole segment'],
  ['/../x', '.. above the root'],
  ['/..', '.. above the root (alone)'],
  ['/api/v4/../../../x', '.. climbing above the root after descending'],
  ['/%2e%2e/api/v4/profiles', 'encoded .. above the root'],
  ['/api/v4/profiles%zz', 'invalid escape %zz'],
  ['/api/v4/profiles%4', 'truncated escape %4'],
  ['/api/v4/profiles%', 'lone % at the end'],
  ['/api/v4/%G0rofiles', 'invalid escape %G0'],
  ['/api/v4/profiles/%%32%46', '% followed by an escape (%%32%46)'],
  ['/api/v4\\profiles', 'raw \\'],
  ['/api/v4/profiles#frag', 'a fragment in the request-target'],
  ['api/v4/profiles', 'a target without the leading /'],
];
for (const [target, why] of BAD) {
  test(`${JSON.stringify(target)} (${why}) → 400 invalid_request, not forwarded`, T, () =>
    refusedWith(target, 400, 'invalid_request'));
}
test('/api/v4/tags%2F..%2Fprofiles without a token → 400 too (the path is checked before the token)', T, () =>
  refusedWith('/api/v4/tags%2F..%2Fprofiles', 400, 'invalid_request', { token: null }));

// ---- case and `;` ----

test('/API/v4/profiles → 404 not_found (prefix matching is case-sensitive), not forwarded', T, () =>
  refusedWith('/API/v4/profiles', 404, 'not_found'));
test('/api/V4/profiles → 404 not_found (case-sensitive), not forwarded', T, () =>
  refusedWith('/api/V4/profiles', 404, 'not_found'));
test('/api/v4/PROFILES → 403 with a token holding every scope (no route matches: case-sensitive, fail closed)', T, () =>
  refused403('/api/v4/PROFILES'));
test('/api/v4/profiles;x=1 → 403 with a token holding every scope (; is an ordinary character, no route matches)', T, () =>
  refused403('/api/v4/profiles;x=1'));
test('/api/v4/profiles;x=1 without a token → 401 with the challenge, not forwarded', T, () =>
  refusedNoToken('/api/v4/profiles;x=1'));
test('/api/v4/profiles/p1;x=1 is a {id} segment "p1;x=1": forwarded byte for byte', T, () =>
  forwarded('/api/v4/profiles/p1;x=1', '/api/v4/profiles/p1;x=1'));
test('/api/v4;x=1/profiles is not under the /api/v4 prefix → 404 not_found', T, () =>
  refusedWith('/api/v4;x=1/profiles', 404, 'not_found'));

// ---- request-target forms ----

test('absolute-form with our Host (http://127.0.0.1:PORT/api/v4/profiles?x=1) is forwarded as /api/v4/profiles?x=1', T, async () => {
  const gw = await g.fx.ensure();
  await forwarded(`http://127.0.0.1:${gw.port}/api/v4/profiles?x=1`, '/api/v4/profiles?x=1');
});
test('absolute-form with our Host is normalized too: http://127.0.0.1:PORT/api/v4/tags/../profiles → /api/v4/profiles', T, async () => {
  const gw = await g.fx.ensure();
  await forwarded(`http://127.0.0.1:${gw.port}/api/v4/tags/../profiles`, '/api/v4/profiles');
});
test('absolute-form with our Host is judged like origin-form: a tags:manage-only token → 403 naming profiles:read', T, async () => {
  const gw = await g.fx.ensure();
  await refusedScope(`http://127.0.0.1:${gw.port}/api/v4/profiles`, ['profiles:read'], { token: TAGS });
});
test('absolute-form with another authority (http://evil.example.test/..., Host is ours) → 400, not forwarded', T, () =>
  refusedWith('http://evil.example.test/api/v4/profiles', 400, 'invalid_request'));
test('absolute-form with our host but another port → 400, not forwarded', T, async () => {
  const gw = await g.fx.ensure();
  await refusedWith(`http://127.0.0.1:${gw.port + 1}/api/v4/profiles`, 400, 'invalid_request');
});
test('absolute-form with userinfo (http://user@127.0.0.1:PORT/...) → 400, not forwarded', T, async () => {
  const gw = await g.fx.ensure();
  await refusedWith(`http://user@127.0.0.1:${gw.port}/api/v4/profiles`, 400, 'invalid_request');
});
test('absolute-form with a non-http scheme (ftp://127.0.0.1:PORT/...) → 400, not forwarded', T, async () => {
  const gw = await g.fx.ensure();
  await refusedWith(`ftp://127.0.0.1:${gw.port}/api/v4/profiles`, 400, 'invalid_request');
});

test('OPTIONS * (asterisk-form) is answered by the gateway without a token, not forwarded', T, async () => {
  const { res, received } = await send('*', { method: 'OPTIONS', token: null });
  assert.deepEqual(received, [], 'OPTIONS * reached an upstream');
  assert.ok(res.status >= 200 && res.status < 300, `OPTIONS *: ${show(res)}`);
});
test('GET * (asterisk-form with another method) → 400, not forwarded', T, () =>
  refusedWith('*', 400, 'invalid_request'));
test('authority-form with GET (GET 127.0.0.1:80) → 400, not forwarded', T, () =>
  refusedWith('127.0.0.1:80', 400, 'invalid_request'));

test('the gateway process stayed up through this file (no crash)', T, async () => {
  const gw = await g.fx.ensure();
  assert.deepEqual(g.fx.crashes, [], `gateway crashed: ${JSON.stringify(g.fx.crashes, null, 1)}`);
  assert.ok(!gw.exited());
});
