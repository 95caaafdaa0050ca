'use strict';
// Bearer token verification (SPEC "Tokens", "Answers the gateway gives
// itself", "Precise rules", [resource], [issuer:NAME], [forward], [cors];
// issue 3 "Tests"): valid RS256/ES256/ES384/PS256 tokens are forwarded with
// the identity headers; one test per rejection reason, each asserting the
// status, the WWW-Authenticate parameters and the JSON body; scopes; the
// RFC 9728 metadata documents; per-upstream audiences; the access log; CORS.
//
// Keys are generated at test time with node's crypto (lib/tokens.js) and
// published to the gateway as a jwks_file. The jwks_uri fetcher is covered
// by jwks.test.js.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const crypto = require('node:crypto');
const path = require('node:path');
const { SCALE, sleep, request, rawExchange, rawValues } = require('./lib/wire');
const { startUpstream, GatewayFixture, tmpDir } = require('./lib/procs');
const { makeKey, jwks, sign, claims, forgeHs256, b64u } = require('./lib/tokens');
const {
  bearer, challenge, expectNoToken, expectInvalidToken, expectInsufficientScope, expectInvalidRequest,
  assertNoTokenEcho,
} = require('./lib/auth-assert');
const { startJwksServer } = require('./lib/auth-jwks-server');

const T = { timeout: 20000 * SCALE };
const ISS = 'https://login.example.test';
const ISS_STRICT = 'https://strict.example.test';
const AUD = 'https://api.example.test';
const PUBLIC = 'https://gw.example.test';
const WK = '/.well-known/oauth-protected-resource';
const META = `${PUBLIC}${WK}`;
const META_MCP = `${PUBLIC}${WK}/mcp`;
const META_EXCL = `${PUBLIC}${WK}/excl`;
const RES_MCP = `${AUD}/mcp`;
const RES_EXCL = `${AUD}/excl`;
const ORIGIN = 'https://dash.example.test';
const BAD_ORIGIN = 'https://evil.example.test';

// In the JWKS: RSA-2048, P-256, P-384. KX is a key the gateway does not know.
const KR = makeKey('rsa', 'rsa-1');
const KE = makeKey('p256', 'ec-1');
const KE3 = makeKey('p384', 'ec384-1');
const KX = makeKey('rsa', 'rsa-x');

const POLICY = `
[GET /api/v4/profiles]
scopes = profiles:read

[POST /api/v4/profiles]
scopes = profiles:write

[GET /api/v4/multi]
scopes = profiles:read tags:read

[* /api/v4/echo/**]
auth = token

[POST /api/v4/auth]
auth = none

[* /mcp/**]
auth = token

[GET /mcp/tools]
scopes = mcp:use

[* /excl/**]
auth = token
`;
const ALL_SCOPES = ['mcp:use', 'profiles:read', 'profiles:write', 'tags:read'];

// token({alg, key, header, ...claims overrides}); claims default: valid for an
// hour, iss ISS, aud AUD, sub user-1, scope profiles:read.
function token({ alg, key = KR, header = {}, ...over } = {}) {
  const a = alg || (key.kind === 'rsa' ? 'RS256' : key.kind === 'p384' ? 'ES384' : 'ES256');
  return sign({ alg: a, key, header, claims: claims(over) });
}
const now = () => Math.floor(Date.now() / 1000);
// An HMAC-signed token (alg HS256/384/512) keyed with `secret`.
function hmacToken(alg, hash, secret, hdr, cl) {
  const input = `${b64u(JSON.stringify({ alg, typ: 'at+jwt', ...hdr }))}.${b64u(JSON.stringify(cl))}`;
  return `${input}.${b64u(crypto.createHmac(hash, secret).update(input).digest())}`;
}

let api;
let dir;
const fx = new GatewayFixture(() => ({
  dir,
  server: { public_url: PUBLIC, max_connections: 200 },
  upstreams: [
    { name: 'api', prefix: '/api/v4', url: api.url },
    { name: 'mcp', prefix: '/mcp', url: api.url, resource: RES_MCP },
    { name: 'excl', prefix: '/excl', url: api.url, resource: RES_EXCL, exclusive_audience: 'yes' },
  ],
  policyFile: path.join(dir, 'policy.ini'),
  extra: [
    '[resource]',
    `identifier = ${AUD}`,
    `authorization_servers = ${ISS}`,
    'documentation = https://docs.example.test/profile-api',
    'resource_name = Profile API',
    '',
    '[issuer:login]',
    `iss = ${ISS}`,
    `jwks_file = ${path.join(dir, 'jwks.json')}`,
    'algorithms = RS256 ES256 ES384 PS256',
    'leeway = 30s',
    '',
    '[issuer:strict]',
    `iss = ${ISS_STRICT}`,
    `jwks_file = ${path.join(dir, 'jwks.json')}`,
    'algorithms = RS256',
    'require_typ = at+jwt',
    '',
    '[forward]',
    'header.X-Auth-Subject = sub',
    'header.X-Auth-Client-Id = client_id',
    'header.X-Auth-Scopes = scope',
    'header.X-Auth-Tenant = tenant',
    '',
    '[cors]',
    `allow_origins = ${ORIGIN} https://other.example.test`,
    '',
  ].join('\n'),
}));

// Same upstream, no [policy], no [cors], no public_url (defaults to the
// [resource] identifier).
let dir2;
const bare = new GatewayFixture(() => ({
  dir: dir2,
  upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
  policyFile: null,
  extra: [
    '[resource]',
    `identifier = ${AUD}`,
    `authorization_servers = ${ISS}`,
    '',
    '[issuer:login]',
    `iss = ${ISS}`,
    `jwks_file = ${path.join(dir2, 'jwks.json')}`,
    'algorithms = RS256 ES256',
    '',
  ].join('\n'),
}));

before(async () => {
  api = await startUpstream({ name: 'api' });
  dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(KR, KE, KE3)));
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  dir2 = tmpDir();
  fs.writeFileSync(path.join(dir2, 'jwks.json'), JSON.stringify(jwks(KR, KE)));
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  await bare.stop();
  if (api) await api.stop();
});

// ---- helpers ----

async function get(p, headers = {}, method = 'GET') {
  const gw = await fx.ensure();
  return request(gw.port, { method, path: p, headers });
}

function echoOf(res, what = '') {
  assert.equal(res.status, 200, `${what} status; body: ${res.body.toString('utf8').slice(0, 300)}`);
  assert.equal(res.headers['x-upstream-name'], 'api', `${what} answered by the upstream`);
  return res.json();
}

// Values of one header as the upstream received it (all occurrences).
function upstreamSaw(e, name) { return rawValues(e.rawHeaders, name); }

// Runs fn and asserts that the upstream received no request meanwhile.
async function notForwarded(fn) {
  await api.reset();
  const r = await fn();
  const s = await api.stats();
  assert.equal(s.requests, 0, `the upstream was reached: ${JSON.stringify(s.urls)}`);
  return r;
}

// One request over a raw socket (for what node's client will not send).
async function raw(lines, p = '/api/v4/profiles', method = 'GET') {
  const gw = await fx.ensure();
  const head = [`${method} ${p} HTTP/1.1`, 'Host: 127.0.0.1', ...lines, 'Connection: close', '', ''].join('\r\n');
  const r = await rawExchange(gw.port, head, { timeoutMs: 5000 * SCALE });
  assert.equal(r.responses.length, 1, `one response expected, got: ${JSON.stringify(r.text.slice(0, 500))}`);
  return r.responses[0];
}

async function refusedInvalid(tok, desc, what, p = '/api/v4/profiles', meta = META) {
  const res = await notForwarded(() => get(p, bearer(tok)));
  return expectInvalidToken(res, { desc, meta, token: tok }, what);
}

async function waitLog(gw, pred, ms = 3000 * SCALE) {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const rec = gw.accessLog().find(pred);
    if (rec) return rec;
    await sleep(50);
  }
  return gw.accessLog().find(pred);
}

// ---- valid tokens ----

async function validForwarded(alg, key) {
  const tok = token({ alg, key, sub: `user-${alg}`, client_id: 'app-1', scope: 'profiles:read tags:read', tenant: 'acme' });
  const e = echoOf(await get('/api/v4/profiles', bearer(tok)), alg);
  assert.equal(e.url, '/api/v4/profiles');
  assert.deepEqual(upstreamSaw(e, 'x-auth-subject'), [`user-${alg}`], 'X-Auth-Subject from sub');
  assert.deepEqual(upstreamSaw(e, 'x-auth-client-id'), ['app-1'], 'X-Auth-Client-Id from client_id');
  assert.deepEqual(upstreamSaw(e, 'x-auth-scopes'), ['profiles:read tags:read'], 'X-Auth-Scopes: the token scopes in order');
  assert.deepEqual(upstreamSaw(e, 'x-auth-tenant'), ['acme'], 'X-Auth-Tenant from a custom claim');
  assert.deepEqual(upstreamSaw(e, 'authorization'), [`Bearer ${tok}`], 'Authorization passed on unchanged');
}

test('valid RS256 token: forwarded with X-Auth-Subject/Client-Id/Scopes/Tenant from its claims, Authorization unchanged', T, () => validForwarded('RS256', KR));
test('valid ES256 token (P-256 key): forwarded with identity headers', T, () => validForwarded('ES256', KE));
test('valid ES384 token (P-384 key): forwarded with identity headers', T, () => validForwarded('ES384', KE3));
test('valid PS256 token (RSA key, PSS): forwarded with identity headers', T, () => validForwarded('PS256', KR));

test('the Bearer scheme is case-insensitive: "bearer" and "BEARER" work', T, async () => {
  const tok = token();
  echoOf(await get('/api/v4/profiles', { Authorization: `bearer ${tok}` }), 'bearer');
  echoOf(await get('/api/v4/profiles', { Authorization: `BEARER ${tok}` }), 'BEARER');
});

// ---- no token ----

test('no Authorization header: 401 unauthorized, challenge with resource_metadata only, not forwarded', T, async () => {
  const res = await notForwarded(() => get('/api/v4/profiles'));
  expectNoToken(res, META);
});

test('Basic scheme: treated as no token (401 unauthorized, challenge without error)', T, async () => {
  const res = await notForwarded(() => get('/api/v4/profiles', { Authorization: 'Basic dXNlcjpwYXNz' }));
  expectNoToken(res, META);
});

test('a valid token only in the access_token query parameter is never used: 401 as no token', T, async () => {
  const tok = token();
  const res = await notForwarded(() => get(`/api/v4/profiles?access_token=${tok}`));
  expectNoToken(res, META);
  assertNoTokenEcho(res.body.toString('utf8'), tok, 'body');
});

test('Basic header plus an access_token query parameter: 401 as no token (not 400)', T, async () => {
  const tok = token();
  const res = await notForwarded(() => get(`/api/v4/profiles?access_token=${tok}`, { Authorization: 'Basic dXNlcjpwYXNz' }));
  expectNoToken(res, META);
});

// ---- malformed Authorization / not a JWS ----

test('"Authorization: Bearer" with nothing after it: 401 invalid_token', T, async () => {
  await api.reset();
  const res = await raw(['Authorization: Bearer']);
  expectInvalidToken(res, { desc: /empty|missing|no token|no bearer/i, meta: META }, 'Bearer alone');
  const res2 = await raw(['Authorization: Bearer    ']);
  expectInvalidToken(res2, { desc: /empty|missing|no token|no bearer/i, meta: META }, 'Bearer and spaces');
  assert.equal((await api.stats()).requests, 0, 'forwarded');
});

test('Bearer followed by non-token68 characters: 401 invalid_token', T, async () => {
  const tok = token();
  // The good token first, so that it sits in the verification cache: the
  // token68 check runs on a miss, and a cached prefix must not help.
  const good = await raw([`Authorization: Bearer ${tok}`]);
  assert.equal(good.status, 200, 'the good token is accepted');
  const spaced = await raw([`Authorization: Bearer ${tok} extra`]);
  expectInvalidToken(spaced, { desc: /token68/, meta: META, token: tok }, 'cached token + " extra"');
  await api.reset();
  for (const v of [`Bearer ${tok} extra`, 'Bearer ab"cd', 'Bearer abc,def', `Bearer ${tok.replace('.', '!')}`, 'Bearer ==abc']) {
    const res = await raw([`Authorization: ${v}`]);
    expectInvalidToken(res, { desc: /token68|malformed|character|syntax|well-formed|JWS/i, meta: META, token: tok }, v.slice(0, 40));
  }
  assert.equal((await api.stats()).requests, 0, 'forwarded');
});

test('not a compact JWS (two parts): 401 invalid_token', T, async () => {
  const tok = token();
  const two = tok.split('.').slice(0, 2).join('.');
  await refusedInvalid(two, /JWS|malformed|well-formed|format/i, 'two parts');
});

test('not a compact JWS (four parts): 401 invalid_token', T, async () => {
  await refusedInvalid(`${token()}.AAAA`, /JWS|malformed|well-formed|format/i, 'four parts');
});

test('not a compact JWS (bad base64url in the header part: "+", "/", padding): 401 invalid_token', T, async () => {
  const [h, p, s] = token().split('.');
  await refusedInvalid(`${h.slice(0, 5)}+${h.slice(6)}.${p}.${s}`, /JWS|malformed|well-formed|format|base64/i, 'plus in header');
  await refusedInvalid(`${h.slice(0, 5)}/${h.slice(6)}.${p}.${s}`, /JWS|malformed|well-formed|format|base64/i, 'slash in header');
  await refusedInvalid(`${h}.${p}.${s}=`, /JWS|malformed|well-formed|format|base64|signature/i, 'padded signature');
});

test('header or payload that is not a JSON object: 401 invalid_token', T, async () => {
  const [, p, s] = token().split('.');
  await refusedInvalid(`${b64u('not json')}.${p}.${s}`, /JWS|malformed|well-formed|format|header/i, 'header not JSON');
  await refusedInvalid(`${b64u('[1,2]')}.${p}.${s}`, /JWS|malformed|well-formed|format|header/i, 'header an array');
});

// ---- algorithm ----

test('alg "none" (unsigned token): 401 invalid_token naming the algorithm', T, async () => {
  const tok = sign({ alg: 'none', key: KR, claims: claims() });
  assert.ok(tok.endsWith('.'), 'the alg none token has an empty signature');
  await refusedInvalid(tok, /alg/i, 'alg none');
  const tok2 = sign({ alg: 'none', key: KR, header: { kid: undefined }, claims: claims() });
  await refusedInvalid(tok2, /alg/i, 'alg none without kid');
});

test('alg not in the issuer allowlist (RS384, correctly signed by a known key): 401 invalid_token', T, async () => {
  await refusedInvalid(token({ alg: 'RS384', key: KR }), /alg/i, 'RS384');
  await refusedInvalid(token({ alg: 'RS512', key: KR }), /alg/i, 'RS512');
});

test('alg confusion: HS256 MACed with the RSA public key PEM (kid of that key, and without kid) is refused with 401', T, async () => {
  const tok = forgeHs256(KR, claims({ scope: 'profiles:read profiles:write' }));
  await refusedInvalid(tok, /alg/i, 'HS256 with kid');
  const noKid = sign({ alg: 'HS256', key: { secret: KR.publicPem }, header: { kid: undefined }, claims: claims() });
  await refusedInvalid(noKid, /alg/i, 'HS256 without kid');
  // Also keyed with the DER bytes and the JWK text of the public key.
  const der = KR.publicKey.export({ type: 'spki', format: 'der' });
  await refusedInvalid(sign({ alg: 'HS256', key: { kid: KR.kid, secret: der }, claims: claims() }), /alg/i, 'HS256 keyed with DER');
  await refusedInvalid(hmacToken('HS384', 'sha384', KR.publicPem, { kid: KR.kid }, claims()), /alg/i, 'HS384');
  await refusedInvalid(hmacToken('HS512', 'sha512', KR.publicPem, { kid: KR.kid }, claims()), /alg/i, 'HS512');
});

test('crit header present: 401 invalid_token naming crit', T, async () => {
  await refusedInvalid(token({ header: { crit: ['exp'] } }), /crit/i, 'crit [exp]');
  await refusedInvalid(token({ header: { crit: ['b64'], b64: true } }), /crit/i, 'crit [b64]');
});

test('jku / x5u / jwk headers are ignored and never fetched: a token signed by the key it names there is refused', T, async () => {
  // A loopback server that counts requests stands in for the attacker's URL.
  const bait = await startJwksServer({ doc: jwks(KX) });
  try {
    const hdr = { jwk: KX.jwk, jku: bait.url, x5u: `http://127.0.0.1:${bait.port}/cert.pem` };
    const tok = sign({ alg: 'RS256', key: KX, header: { kid: KR.kid, ...hdr }, claims: claims() });
    await refusedInvalid(tok, /signature/i, 'embedded jwk under a known kid');
    const tok2 = sign({ alg: 'RS256', key: KX, header: hdr, claims: claims() });
    await refusedInvalid(tok2, /key|kid/i, 'embedded jwk under its own (unknown) kid');
    const tok3 = sign({ alg: 'RS256', key: KX, header: { ...hdr, kid: undefined }, claims: claims() });
    const res = await notForwarded(() => get('/api/v4/profiles', bearer(tok3)));
    expectInvalidToken(res, { meta: META, token: tok3 }, 'embedded jwk, no kid');
    await sleep(200);
    assert.equal(bait.fetches, 0, 'the gateway fetched a URL named in a token header');
  } finally {
    await bait.stop();
  }
});

// ---- issuer ----

test('unknown issuer (validly signed by a known key): 401 invalid_token naming the issuer', T, async () => {
  await refusedInvalid(token({ iss: 'https://evil.example.test' }), /iss/i, 'unknown iss');
  await refusedInvalid(token({ iss: `${ISS}/` }), /iss/i, 'iss with a trailing slash');
});

test('missing iss: 401 invalid_token naming the issuer', T, async () => {
  await refusedInvalid(token({ iss: undefined }), /iss/i, 'no iss');
});

// ---- signature ----

test('bad signature: payload tampered after signing: 401 invalid_token naming the signature', T, async () => {
  const [h, , s] = token({ scope: 'profiles:read' }).split('.');
  const evil = b64u(JSON.stringify(claims({ scope: 'profiles:read profiles:write', sub: 'admin' })));
  await refusedInvalid(`${h}.${evil}.${s}`, /signature/i, 'tampered payload');
});

test('bad signature: one signature byte flipped (RS256 and ES256): 401 invalid_token', T, async () => {
  for (const [alg, key] of [['RS256', KR], ['ES256', KE]]) {
    const [h, p, s] = token({ alg, key }).split('.');
    const sig = Buffer.from(s, 'base64url');
    sig[10] ^= 0x01;
    await refusedInvalid(`${h}.${p}.${b64u(sig)}`, /signature/i, `${alg} flipped byte`);
  }
});

test('bad signature: signed by another RSA key under a known kid: 401 invalid_token', T, async () => {
  await refusedInvalid(sign({ alg: 'RS256', key: KX, header: { kid: KR.kid }, claims: claims() }), /signature/i, 'foreign key');
});

test('bad signature: truncated and empty signature: 401 invalid_token', T, async () => {
  const [h, p, s] = token().split('.');
  await refusedInvalid(`${h}.${p}.${s.slice(0, 100)}`, /signature|JWS|malformed|well-formed/i, 'truncated');
  await refusedInvalid(`${h}.${p}.`, /signature|JWS|malformed|well-formed/i, 'empty');
});

// ---- time claims ----

test('expired token (exp 120 s ago, leeway 30 s): 401 invalid_token naming expiry', T, async () => {
  await refusedInvalid(token({ iat: now() - 600, exp: now() - 120 }), /expired|exp/i, 'expired');
});

test('exp missing: 401 invalid_token naming exp', T, async () => {
  await refusedInvalid(token({ exp: undefined }), /exp/i, 'no exp');
});

test('exp as a string: 401 invalid_token naming exp', T, async () => {
  await refusedInvalid(token({ exp: String(now() + 3600) }), /exp/i, 'exp string');
  await refusedInvalid(token({ exp: null }), /exp/i, 'exp null');
});

test('nbf in the future (120 s, leeway 30 s): 401 invalid_token naming nbf', T, async () => {
  await refusedInvalid(token({ nbf: now() + 120 }), /nbf|not (yet )?valid/i, 'nbf future');
});

test('iat in the future (120 s, leeway 30 s): 401 invalid_token naming iat', T, async () => {
  await refusedInvalid(token({ iat: now() + 120 }), /iat|issued/i, 'iat future');
});

test('leeway 30 s: exp 10 s ago, nbf 10 s ahead and iat 10 s ahead are accepted; exp 60 s ago is not', T, async () => {
  echoOf(await get('/api/v4/profiles', bearer(token({ iat: now() - 600, exp: now() - 10 }))), 'exp 10 s ago');
  echoOf(await get('/api/v4/profiles', bearer(token({ nbf: now() + 10 }))), 'nbf in 10 s');
  echoOf(await get('/api/v4/profiles', bearer(token({ iat: now() + 10 }))), 'iat in 10 s');
  await refusedInvalid(token({ iat: now() - 600, exp: now() - 60 }), /expired|exp/i, 'exp 60 s ago');
});

// ---- audience ----

test('wrong aud: 401 invalid_token naming the audience', T, async () => {
  await refusedInvalid(token({ aud: 'https://other.example.test' }), /aud/i, 'other aud');
  await refusedInvalid(token({ aud: `${AUD}/` }), /aud/i, 'aud with trailing slash');
});

test('aud missing: 401 invalid_token naming the audience', T, async () => {
  await refusedInvalid(token({ aud: undefined }), /aud/i, 'no aud');
});

test('aud as an array containing the audience is accepted; an array without it is refused', T, async () => {
  echoOf(await get('/api/v4/profiles', bearer(token({ aud: ['https://other.example.test', AUD] }))), 'array with aud');
  await refusedInvalid(token({ aud: ['https://other.example.test', 'https://x.example.test'] }), /aud/i, 'array without aud');
  await refusedInvalid(token({ aud: [] }), /aud/i, 'empty array');
});

// ---- typ ----

test('typ "JWT", "at+jwt", "application/at+jwt", "AT+JWT" and no typ are accepted', T, async () => {
  for (const typ of ['JWT', 'at+jwt', 'application/at+jwt', 'AT+JWT', 'Application/AT+JWT', undefined]) {
    echoOf(await get('/api/v4/profiles', bearer(token({ header: { typ } }))), `typ ${typ}`);
  }
});

test('typ "foo" (and "application/foo", "jwt+at"): 401 invalid_token naming typ', T, async () => {
  for (const typ of ['foo', 'application/foo', 'jwt+at']) {
    await refusedInvalid(token({ header: { typ } }), /typ|type/i, `typ ${typ}`);
  }
});

test('require_typ = at+jwt: at+jwt and application/at+jwt accepted; JWT and a missing typ refused', T, async () => {
  for (const typ of ['at+jwt', 'application/at+jwt']) {
    echoOf(await get('/api/v4/profiles', bearer(token({ iss: ISS_STRICT, header: { typ } }))), `strict typ ${typ}`);
  }
  await refusedInvalid(token({ iss: ISS_STRICT, header: { typ: 'JWT' } }), /typ|type/i, 'strict typ JWT');
  await refusedInvalid(token({ iss: ISS_STRICT, header: { typ: undefined } }), /typ|type/i, 'strict no typ');
});

// ---- key selection ----

test('kid/alg mismatch: RS256 header with the EC key\'s kid, ES256 header with the P-384 key\'s kid: 401', T, async () => {
  await refusedInvalid(sign({ alg: 'RS256', key: KR, header: { kid: KE.kid }, claims: claims() }), /alg|key/i, 'RS256 with EC kid');
  await refusedInvalid(sign({ alg: 'ES256', key: KE3, header: { kid: KE3.kid }, claims: claims() }), /alg|key|curve/i, 'ES256 with P-384 kid');
  await refusedInvalid(sign({ alg: 'ES256', key: KE, header: { kid: KR.kid }, claims: claims() }), /alg|key/i, 'ES256 with RSA kid');
});

test('unknown kid with a jwks_file issuer: 401 invalid_token at once (no refetch, no hang)', T, async () => {
  const t0 = Date.now();
  await refusedInvalid(sign({ alg: 'RS256', key: KR, header: { kid: 'no-such-kid' }, claims: claims() }), /key|kid/i, 'unknown kid');
  const ms = Date.now() - t0;
  assert.ok(ms < 2000 * SCALE, `unknown kid took ${ms} ms`);
});

// ---- scopes ----

test('scp as an array grants its scopes (and is forwarded in X-Auth-Scopes)', T, async () => {
  const e = echoOf(await get('/api/v4/profiles', bearer(token({ scope: undefined, scp: ['profiles:read', 'tags:read'] }))));
  assert.deepEqual(upstreamSaw(e, 'x-auth-scopes'), ['profiles:read tags:read']);
  echoOf(await get('/api/v4/multi', bearer(token({ scope: undefined, scp: ['tags:read', 'profiles:read'] }))), 'multi with scp array');
});

test('scp as a space-separated string grants its scopes', T, async () => {
  const e = echoOf(await get('/api/v4/multi', bearer(token({ scope: undefined, scp: 'tags:read profiles:read' }))));
  assert.deepEqual(upstreamSaw(e, 'x-auth-scopes'), ['tags:read profiles:read'], 'token order kept');
});

test('scope wins over scp when both are present', T, async () => {
  const tok = token({ scope: 'tags:read', scp: ['profiles:read'] });
  const res = await notForwarded(() => get('/api/v4/profiles', bearer(tok)));
  expectInsufficientScope(res, { scope: 'profiles:read', meta: META });
  const e = echoOf(await get('/api/v4/echo/scopes', bearer(tok)));
  assert.deepEqual(upstreamSaw(e, 'x-auth-scopes'), ['tags:read'], 'forwarded scopes are the scope claim');
});

// SPEC "Required scopes": every scope the route needs, not only the missing
// ones, so that re-authorizing with exactly that list gives a token that passes.
test('missing scope: 403 insufficient_scope naming every scope the route requires, not forwarded', T, async () => {
  const res = await notForwarded(() => get('/api/v4/multi', bearer(token({ scope: 'profiles:read' }))));
  expectInsufficientScope(res, { scope: 'profiles:read tags:read', meta: META }, 'multi');
  echoOf(await get('/api/v4/multi', bearer(token({ scope: 'profiles:read tags:read' }))));
  const res2 = await notForwarded(() => get('/api/v4/profiles', bearer(token({ scope: 'tags:read profiles:write' }))));
  expectInsufficientScope(res2, { scope: 'profiles:read', meta: META }, 'profiles');
});

test('no token on a route that needs scopes: the 401 challenge names them (scope=); none on a token-only route', T, async () => {
  const c = expectNoToken(await notForwarded(() => get('/api/v4/multi')), META, 'multi');
  assert.equal(c.params.scope, 'profiles:read tags:read', `scope= lists the route's scopes: ${c.raw}`);
  const c2 = expectNoToken(await notForwarded(() => get('/mcp/x')), META_MCP, 'token-only route');
  assert.equal(c2.params.scope, undefined, `no scope= when the route needs no scope: ${c2.raw}`);
});

test('a token with no scope at all on a route needing two scopes: 403 naming both', T, async () => {
  const res = await notForwarded(() => get('/api/v4/multi', bearer(token({ scope: undefined }))));
  expectInsufficientScope(res, { scope: 'profiles:read tags:read', meta: META });
});

test('method-specific scopes: POST /api/v4/profiles with only profiles:read is 403 profiles:write; with it, forwarded', T, async () => {
  const res = await notForwarded(() => get('/api/v4/profiles', bearer(token({ scope: 'profiles:read' })), 'POST'));
  expectInsufficientScope(res, { scope: 'profiles:write', meta: META });
  echoOf(await get('/api/v4/profiles', bearer(token({ scope: 'profiles:write' })), 'POST'));
});

// ---- Authorization conflicts ----

test('two Authorization headers (both valid Bearer tokens): 400 invalid_request, not forwarded', T, async () => {
  const tok = token();
  await api.reset();
  const res = await raw([`Authorization: Bearer ${tok}`, `Authorization: Bearer ${tok}`]);
  expectInvalidRequest(res, { meta: META, token: tok });
  const res2 = await raw([`Authorization: Bearer ${tok}`, 'authorization: Basic dXNlcjpwYXNz']);
  expectInvalidRequest(res2, { meta: META, token: tok }, 'Bearer + Basic headers');
  assert.equal((await api.stats()).requests, 0, 'forwarded');
});

test('Bearer header plus an access_token query parameter: 400 invalid_request, not forwarded', T, async () => {
  const tok = token();
  const res = await notForwarded(() => get(`/api/v4/profiles?x=1&access_token=${tok}`, bearer(tok)));
  expectInvalidRequest(res, { meta: META, token: tok });
});

// ---- public routes, identity headers ----

test('public route (auth = none) with an invalid token: forwarded, Authorization unchanged, no identity headers', T, async () => {
  const tok = `${token()}x`;
  const e = echoOf(await get('/api/v4/auth', bearer(tok), 'POST'));
  assert.equal(e.method, 'POST');
  assert.deepEqual(upstreamSaw(e, 'authorization'), [`Bearer ${tok}`]);
  assert.deepEqual(upstreamSaw(e, 'x-auth-subject'), []);
  const e2 = echoOf(await get('/api/v4/auth', { Authorization: 'Bearer not-a-jwt' }, 'POST'));
  assert.deepEqual(upstreamSaw(e2, 'authorization'), ['Bearer not-a-jwt']);
});

test('spoofed identity headers are removed: X-Auth-Subject/-Client-Id sent by the client never reach the upstream', T, async () => {
  const tok = token({ sub: 'user-real', client_id: undefined });
  const res = await raw([`Authorization: Bearer ${tok}`, 'X-Auth-Subject: admin', 'x-auth-subject: root',
    'X-Auth-Client-Id: evil-app', 'X-AUTH-SCOPES: profiles:write'], '/api/v4/echo/spoof');
  assert.equal(res.status, 200, res.body.toString('utf8'));
  const e = res.json();
  assert.deepEqual(upstreamSaw(e, 'x-auth-subject'), ['user-real'], 'X-Auth-Subject is the token\'s sub, once');
  assert.deepEqual(upstreamSaw(e, 'x-auth-client-id'), [], 'no client_id claim: the spoofed header is removed, none added');
  assert.deepEqual(upstreamSaw(e, 'x-auth-scopes'), ['profiles:read']);
});

test('spoofed identity headers are removed on a public route too', T, async () => {
  const res = await raw(['X-Auth-Subject: admin', 'X-Auth-Client-Id: evil-app', 'Content-Length: 0'], '/api/v4/auth', 'POST');
  assert.equal(res.status, 200, res.body.toString('utf8'));
  const e = res.json();
  assert.deepEqual(upstreamSaw(e, 'x-auth-subject'), []);
  assert.deepEqual(upstreamSaw(e, 'x-auth-client-id'), []);
});

test('identity claim with a control character: that header is omitted, the request still proceeds', T, async () => {
  const e = echoOf(await get('/api/v4/profiles', bearer(token({ sub: 'user\u0001x', tenant: 'a\tb', client_id: 'app-ok' }))));
  assert.deepEqual(upstreamSaw(e, 'x-auth-subject'), [], 'sub with \\u0001: omitted');
  assert.deepEqual(upstreamSaw(e, 'x-auth-tenant'), [], 'tenant with a tab: omitted');
  assert.deepEqual(upstreamSaw(e, 'x-auth-client-id'), ['app-ok'], 'a clean claim is still forwarded');
});

test('a claim cannot inject a header (CR LF in sub, DEL in client_id)', T, async () => {
  const e = echoOf(await get('/api/v4/profiles', bearer(token({ sub: 'u1\r\nX-Injected: yes', client_id: 'c\u007f' }))));
  assert.deepEqual(upstreamSaw(e, 'x-injected'), [], 'header injected from a claim');
  assert.deepEqual(upstreamSaw(e, 'x-auth-subject'), []);
  assert.deepEqual(upstreamSaw(e, 'x-auth-client-id'), []);
});

test('identity claims that are numbers are forwarded as their text; objects and arrays are omitted', T, async () => {
  const e = echoOf(await get('/api/v4/profiles', bearer(token({ tenant: 42 }))));
  assert.deepEqual(upstreamSaw(e, 'x-auth-tenant'), ['42']);
  const e1 = echoOf(await get('/api/v4/profiles', bearer(token({ tenant: 1.5 }))));
  assert.deepEqual(upstreamSaw(e1, 'x-auth-tenant'), ['1.5']);
  const e2 = echoOf(await get('/api/v4/profiles', bearer(token({ tenant: ['a', 'b'] }))));
  assert.deepEqual(upstreamSaw(e2, 'x-auth-tenant'), []);
  const e3 = echoOf(await get('/api/v4/profiles', bearer(token({ tenant: { a: 1 } }))));
  assert.deepEqual(upstreamSaw(e3, 'x-auth-tenant'), []);
});

// SPEC "Precise rules": identity header values are a string or a number;
// otherwise the header is omitted and the request still proceeds. This holds
// for the sub and client_id claims too.
test('a numeric sub is forwarded as X-Auth-Subject text (request proceeds)', T, async () => {
  const e = echoOf(await get('/api/v4/profiles', bearer(token({ sub: 12345, client_id: 'app-1' }))), 'numeric sub');
  assert.deepEqual(upstreamSaw(e, 'x-auth-subject'), ['12345']);
  assert.deepEqual(upstreamSaw(e, 'x-auth-client-id'), ['app-1']);
});

test('a client_id that is an object: X-Auth-Client-Id omitted, the request proceeds', T, async () => {
  const e = echoOf(await get('/api/v4/profiles', bearer(token({ client_id: { a: 1 } }))), 'object client_id');
  assert.deepEqual(upstreamSaw(e, 'x-auth-client-id'), []);
  assert.deepEqual(upstreamSaw(e, 'x-auth-subject'), ['user-1']);
});

// ---- access log ----

test('access log: an m2m token (sub == client_id) is logged with kind m2m, sub and client_id', T, async () => {
  const gw = await fx.ensure();
  const p = `/api/v4/echo/kind-m2m-${process.pid}`;
  echoOf(await get(p, bearer(token({ sub: 'svc-7', client_id: 'svc-7' }))));
  const rec = await waitLog(gw, (r) => typeof r.path === 'string' && r.path.startsWith(p));
  assert.ok(rec, `no access log record for ${p}; last lines: ${JSON.stringify(gw.logLines().slice(-3))}`);
  assert.equal(rec.kind, 'm2m', JSON.stringify(rec));
  assert.equal(rec.sub, 'svc-7');
  assert.equal(rec.client_id, 'svc-7');
});

test('access log: gty=client-credentials is m2m; a user token (sub != client_id) is kind user', T, async () => {
  const gw = await fx.ensure();
  const p1 = `/api/v4/echo/kind-gty-${process.pid}`;
  const p2 = `/api/v4/echo/kind-user-${process.pid}`;
  echoOf(await get(p1, bearer(token({ sub: 'robot', client_id: 'svc-9', gty: 'client-credentials' }))));
  echoOf(await get(p2, bearer(token({ sub: 'alice', client_id: 'web-app' }))));
  const r1 = await waitLog(gw, (r) => typeof r.path === 'string' && r.path.startsWith(p1));
  const r2 = await waitLog(gw, (r) => typeof r.path === 'string' && r.path.startsWith(p2));
  assert.ok(r1 && r2, 'access log records missing');
  assert.equal(r1.kind, 'm2m', JSON.stringify(r1));
  assert.equal(r2.kind, 'user', JSON.stringify(r2));
  assert.equal(r2.sub, 'alice');
  assert.equal(r2.client_id, 'web-app');
});

test('access log and stderr never contain a token (valid, invalid, refused, in the query)', T, async () => {
  const gw = await fx.ensure();
  const toks = [
    token({ sub: 'log-check-1' }),
    token({ exp: now() - 3600, iat: now() - 7200 }),
    `${token()}AAAA`,
    token({ scope: 'none:here' }),
    token({ iss: 'https://evil.example.test' }),
  ];
  const p = `/api/v4/echo/tokenlog-${process.pid}`;
  for (const t of toks) await get(p, bearer(t));
  await get('/api/v4/multi', bearer(toks[3]));
  await get(`/api/v4/profiles?access_token=${toks[0]}`);
  await get('/api/v4/auth', bearer(toks[2]), 'POST');
  await waitLog(gw, (r) => r.path === '/api/v4/auth' && r.method === 'POST');
  await sleep(200);
  const out = gw.logLines().join('\n');
  const err = gw.stderr();
  assert.ok(out.includes('tokenlog'), 'the requests were logged');
  for (const t of toks) {
    assertNoTokenEcho(out, t, 'access log (stdout)');
    assertNoTokenEcho(err, t, 'stderr');
  }
});

// ---- metadata documents ----

test('GET /.well-known/oauth-protected-resource: RFC 9728 document for [resource], no token needed', T, async () => {
  const res = await get(WK);
  assert.equal(res.status, 200, res.body.toString('utf8'));
  assert.match(String(res.headers['content-type']), /^application\/json\b/i);
  const d = res.json();
  assert.equal(d.resource, AUD);
  assert.deepEqual(d.authorization_servers, [ISS]);
  assert.deepEqual(d.bearer_methods_supported, ['header']);
  assert.ok(Array.isArray(d.scopes_supported), 'scopes_supported');
  assert.deepEqual([...d.scopes_supported].sort(), ALL_SCOPES, 'every scope named in the policy');
  assert.equal(d.resource_name, 'Profile API');
  assert.equal(d.resource_documentation, 'https://docs.example.test/profile-api');
});

test('metadata without resource_name/documentation configured has neither; its resource is the identifier', T, async () => {
  const gw = await bare.ensure();
  const res = await request(gw.port, { path: WK });
  assert.equal(res.status, 200, res.body.toString('utf8'));
  const d = res.json();
  assert.equal(d.resource, AUD);
  assert.deepEqual(d.authorization_servers, [ISS]);
  assert.deepEqual(d.bearer_methods_supported, ['header']);
  assert.ok(!('resource_name' in d) && !('resource_documentation' in d), JSON.stringify(d));
});

test('path-suffixed metadata for the upstream with its own resource: resource exactly that identifier, its scopes', T, async () => {
  const res = await get(`${WK}/mcp`);
  assert.equal(res.status, 200, res.body.toString('utf8'));
  assert.match(String(res.headers['content-type']), /^application\/json\b/i);
  const d = res.json();
  assert.equal(d.resource, RES_MCP);
  assert.deepEqual(d.authorization_servers, [ISS]);
  assert.deepEqual(d.bearer_methods_supported, ['header']);
  assert.deepEqual([...d.scopes_supported].sort(), ['mcp:use'], 'the scopes used under /mcp');
  const r2 = await get(`${WK}/excl`);
  assert.equal(r2.status, 200);
  assert.equal(r2.json().resource, RES_EXCL);
});

test('any other metadata suffix is 404 JSON (upstream without own resource, unknown, deeper)', T, async () => {
  for (const p of [`${WK}/api/v4`, `${WK}/nope`, `${WK}/mcp/x`, `${WK}/mcpx`]) {
    const res = await notForwarded(() => get(p));
    assert.equal(res.status, 404, `${p}: ${res.status}`);
    assert.match(String(res.headers['content-type']), /^application\/json\b/i, p);
    const b = res.json();
    assert.equal(typeof b.error, 'string', p);
  }
});

test('challenges on routes of the upstream with its own resource point at its document (401 and 403)', T, async () => {
  expectNoToken(await notForwarded(() => get('/mcp/x')), META_MCP, 'no token');
  expectNoToken(await notForwarded(() => get('/mcp')), META_MCP, 'prefix itself');
  const bad = `${token()}x`;
  expectInvalidToken(await notForwarded(() => get('/mcp/x', bearer(bad))), { desc: /signature|JWS|malformed|well-formed/i, meta: META_MCP, token: bad }, 'invalid');
  expectInsufficientScope(await notForwarded(() => get('/mcp/tools', bearer(token({ scope: 'profiles:read' })))), { scope: 'mcp:use', meta: META_MCP }, 'scope');
  expectNoToken(await notForwarded(() => get('/excl/y')), META_EXCL, 'excl');
});

test('by default one token serves every upstream: a token for the [resource] identifier works under /mcp; one for /mcp works there', T, async () => {
  const e = echoOf(await get('/mcp/x', bearer(token({ aud: AUD }))));
  assert.equal(e.url, '/mcp/x');
  echoOf(await get('/mcp/x', bearer(token({ aud: RES_MCP }))), 'aud = mcp resource');
});

test('a token whose aud is only the /mcp resource is refused under /api/v4', T, async () => {
  await refusedInvalid(token({ aud: RES_MCP }), /aud/i, 'mcp-only token on api');
});

test('exclusive_audience = yes: a token for the root identifier is refused, one for its own resource accepted', T, async () => {
  const tok = token({ aud: AUD });
  const res = await notForwarded(() => get('/excl/y', bearer(tok)));
  expectInvalidToken(res, { desc: /aud/i, meta: META_EXCL, token: tok });
  echoOf(await get('/excl/y', bearer(token({ aud: RES_EXCL }))), 'own resource');
  echoOf(await get('/excl/y', bearer(token({ aud: [AUD, RES_EXCL] }))), 'both in an array');
});

// ---- CORS ----

test('CORS preflight from an allowed origin: 204 with Access-Control-Allow-*, no token needed, not forwarded', T, async () => {
  const res = await notForwarded(() => get('/api/v4/profiles', {
    Origin: ORIGIN, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization',
  }, 'OPTIONS'));
  assert.equal(res.status, 204, res.body.toString('utf8'));
  assert.equal(res.headers['access-control-allow-origin'], ORIGIN);
  assert.match(String(res.headers.vary || ''), /\borigin\b/i, 'Vary: Origin');
  assert.match(String(res.headers['access-control-allow-methods'] || ''), /\bGET\b/);
  assert.match(String(res.headers['access-control-allow-headers'] || ''), /\bauthorization\b/i);
  assert.equal(res.headers['www-authenticate'], undefined);
});

test('CORS preflight on the metadata document and on an /mcp route from an allowed origin: 204', T, async () => {
  for (const p of [WK, `${WK}/mcp`, '/mcp/tools']) {
    const res = await notForwarded(() => get(p, { Origin: ORIGIN, 'Access-Control-Request-Method': 'GET' }, 'OPTIONS'));
    assert.equal(res.status, 204, `${p}: ${res.status}`);
    assert.equal(res.headers['access-control-allow-origin'], ORIGIN, p);
  }
});

test('CORS: an allowed origin gets Allow-Origin, Vary: Origin and Expose-Headers: WWW-Authenticate on a 401', T, async () => {
  const res = await get('/api/v4/profiles', { Origin: ORIGIN });
  expectNoToken(res, META);
  assert.deepEqual(rawValues(res.rawHeaders, 'access-control-allow-origin'), [ORIGIN]);
  assert.match(String(res.headers.vary || ''), /\borigin\b/i);
  assert.match(String(res.headers['access-control-expose-headers'] || ''), /\bwww-authenticate\b/i);
});

test('CORS: an allowed origin gets the same headers on a 403 and on a proxied 200', T, async () => {
  const r403 = await get('/api/v4/multi', { Origin: ORIGIN, ...bearer(token()) });
  assert.equal(r403.status, 403);
  assert.equal(r403.headers['access-control-allow-origin'], ORIGIN, '403');
  assert.match(String(r403.headers['access-control-expose-headers'] || ''), /\bwww-authenticate\b/i, '403');
  const res = await get('/api/v4/profiles', { Origin: 'https://other.example.test', ...bearer(token()) });
  echoOf(res, 'proxied');
  assert.deepEqual(rawValues(res.rawHeaders, 'access-control-allow-origin'), ['https://other.example.test']);
  assert.match(String(res.headers.vary || ''), /\borigin\b/i);
  assert.match(String(res.headers['access-control-expose-headers'] || ''), /\bwww-authenticate\b/i);
});

test('CORS: a disallowed origin gets no CORS headers (401, 200) and its preflight is an ordinary request (401)', T, async () => {
  const cors = (r) => Object.keys(r.headers).filter((k) => k.startsWith('access-control-'));
  const r401 = await get('/api/v4/profiles', { Origin: BAD_ORIGIN });
  expectNoToken(r401, META);
  assert.deepEqual(cors(r401), []);
  const r200 = await get('/api/v4/profiles', { Origin: BAD_ORIGIN, ...bearer(token()) });
  echoOf(r200);
  assert.deepEqual(cors(r200), []);
  const pre = await notForwarded(() => get('/api/v4/profiles', { Origin: BAD_ORIGIN, 'Access-Control-Request-Method': 'GET' }, 'OPTIONS'));
  expectNoToken(pre, META, 'preflight from a disallowed origin');
  assert.deepEqual(cors(pre), []);
});

test('an OPTIONS without Access-Control-Request-Method is not a preflight: ordinary request under the policy', T, async () => {
  const res = await notForwarded(() => get('/api/v4/profiles', { Origin: ORIGIN }, 'OPTIONS'));
  expectNoToken(res, META);
});

// ---- the gateway without [policy] and [cors] ----

test('without [policy]: every route under an upstream needs a valid token (401 without, 200 with)', T, async () => {
  const gw = await bare.ensure();
  const meta = `${AUD}${WK}`; // public_url defaults to the [resource] identifier
  for (const p of ['/api/v4', '/api/v4/anything', '/api/v4/auth']) {
    const res = await notForwarded(() => request(gw.port, { path: p }));
    expectNoToken(res, meta, p);
  }
  const e = echoOf(await request(gw.port, { path: '/api/v4/anything', headers: bearer(token({ scope: undefined })) }));
  assert.equal(e.url, '/api/v4/anything');
  const bad = token({ aud: 'https://nope.example.test' });
  expectInvalidToken(await request(gw.port, { path: '/api/v4/x', headers: bearer(bad) }), { desc: /aud/i, meta, token: bad });
});

test('without [cors]: no CORS header on 401 or 200, and OPTIONS with Origin is an ordinary request', T, async () => {
  const gw = await bare.ensure();
  const cors = (r) => Object.keys(r.headers).filter((k) => k.startsWith('access-control-'));
  const r401 = await request(gw.port, { path: '/api/v4/x', headers: { Origin: ORIGIN } });
  assert.equal(r401.status, 401);
  assert.deepEqual(cors(r401), []);
  const r200 = await request(gw.port, { path: '/api/v4/x', headers: { Origin: ORIGIN, ...bearer(token()) } });
  echoOf(r200);
  assert.deepEqual(cors(r200), []);
  const pre = await request(gw.port, { method: 'OPTIONS', path: '/api/v4/x', headers: { Origin: ORIGIN, 'Access-Control-Request-Method': 'GET' } });
  assert.equal(pre.status, 401, 'preflight without [cors] is not answered 204');
  assert.deepEqual(cors(pre), []);
});

test('the gateways stayed up through this file (no crash)', T, async () => {
  const gw = await fx.ensure();
  assert.deepEqual(fx.crashes, [], `gateway crashed: ${JSON.stringify(fx.crashes, null, 1)}`);
  assert.deepEqual(bare.crashes, [], `gateway crashed: ${JSON.stringify(bare.crashes, null, 1)}`);
  assert.ok(!gw.exited());
  // And it still answers.
  echoOf(await get('/api/v4/profiles', bearer(token())));
  assert.ok(challenge(await get('/api/v4/profiles'), '').params.resource_metadata);
});
