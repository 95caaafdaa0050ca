'use strict';
// Shared by policy.test.js and paths.test.js: the repo's Profile API policy
// (policies/profile-api.ini) read and enumerated in the test, a gateway
// fixture that enforces it (one RSA key published as a jwks_file, api and
// mcp upstreams), tokens with chosen scope sets, a raw-socket exchange that
// sends a request-target byte for byte, and assertions for the gateway's
// 401/403 answers and their WWW-Authenticate challenge.
const fs = require('node:fs');
const path = require('node:path');
const assert = require('node:assert/strict');
const { SCALE, RawConn, assertGatewayError, rawValues } = require('./wire');
const { REPO, startUpstream, GatewayFixture, tmpDir } = require('./procs');
const { makeKey, jwks, sign, claims } = require('./tokens');

const POLICY_FILE = path.join(REPO, 'policies', 'profile-api.ini');
const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
// No public_url configured: challenges point at the [resource] identifier.
const META = `${AUD}/.well-known/oauth-protected-resource`;
const T = { timeout: 20000 * SCALE };

// ---- the policy file, read by the test ----

const ROUTE_KEYS = new Set(['scopes', 'any_scopes', 'auth']);

// Parses a policy INI into [{methods: ['GET',...] | ['*'], pattern, scopes,
// anyScopes, auth, line}]. Throws on anything it does not understand, so a
// change of format is noticed instead of silently testing fewer routes.
function parsePolicy(text, file = 'policy') {
  const routes = [];
  let cur = null;
  let section = null;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith(';') || line.startsWith('#')) continue;
    const sec = /^\[([^\]]*)\]\s*(?:[;#].*)?$/.exec(line);
    if (sec) {
      section = sec[1].trim();
      const m = /^(\*|[A-Z][A-Z0-9_-]*(?:\s*,\s*[A-Z][A-Z0-9_-]*)*)\s+(\/\S*)$/.exec(section);
      if (m) {
        cur = { methods: m[1] === '*' ? ['*'] : m[1].split(',').map((s) => s.trim()), pattern: m[2],
          scopes: [], anyScopes: [], auth: null, line: i + 1, section };
        routes.push(cur);
      } else if (section === 'defaults' || /^mcp-(tool|prompt|resource):/.test(section)) {
        cur = null;
      } else {
        throw new Error(`${file}:${i + 1}: section [${section}] not understood by the test`);
      }
      continue;
    }
    const kv = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (!kv) throw new Error(`${file}:${i + 1}: line not understood by the test: ${line}`);
    const key = kv[1].trim();
    const value = kv[2].replace(/\s+;.*$/, '').trim();
    if (!cur) continue; // [defaults], [mcp-tool:*], [mcp-prompt:*], [mcp-resource:*]
    if (!ROUTE_KEYS.has(key)) throw new Error(`${file}:${i + 1}: route key ${key} not understood by the test`);
    if (key === 'scopes') cur.scopes = value.split(/\s+/).filter(Boolean);
    else if (key === 'any_scopes') cur.anyScopes = value.split(/\s+/).filter(Boolean);
    else cur.auth = value;
  }
  return routes;
}

const ROUTES = parsePolicy(fs.readFileSync(POLICY_FILE, 'utf8'), POLICY_FILE);
const ALL_SCOPES = [...new Set(ROUTES.flatMap((r) => [...r.scopes, ...r.anyScopes]))].sort();

// A concrete path for a pattern: `{name}` and `*` segments become ids, a final
// `**` becomes two segments.
function concretePath(pattern) {
  let n = 0;
  return pattern.split('/').map((seg) => {
    if (seg === '**') return 'deep/er';
    if (seg === '*' || /^\{[^}]*\}$/.test(seg)) return `id-${1001 + n++}`;
    return seg;
  }).join('/');
}

// The upstream owning a path (the fixture's two prefixes).
function upstreamOf(p) { return p === '/mcp' || p.startsWith('/mcp/') ? 'mcp' : 'api'; }

function routeLabel(r) { return `[${r.methods.join(',')} ${r.pattern}]`; }

// ---- fixture ----

const KEY = makeKey('rsa', 'k1');
const OTHER_KEY = makeKey('rsa', 'k1'); // same kid, not in the JWKS: bad signature

// Token with exactly these scopes (array; null = no scope claim at all).
function tokenWith(scopes, over = {}) {
  const c = claims(Object.assign({ scope: scopes === null ? undefined : scopes.join(' ') }, over));
  return sign({ alg: 'RS256', key: KEY, claims: c });
}
function badSignatureToken(scopes = ALL_SCOPES) {
  return sign({ alg: 'RS256', key: OTHER_KEY, claims: claims({ scope: scopes.join(' ') }) });
}
function expiredToken(scopes = ALL_SCOPES) {
  const now = Math.floor(Date.now() / 1000);
  return tokenWith(scopes, { iat: now - 7200, exp: now - 3600 });
}
const bearer = (t) => ({ Authorization: `Bearer ${t}` });

// Starts the two upstreams and returns {fx, api(), mcp(), stop()}; the gateway
// is configured as in the brief: [resource], [issuer:login] with a jwks_file,
// [upstream:api] /api/v4, [upstream:mcp] /mcp, [policy] file = the repo's
// policies/profile-api.ini (absolute path).
function policyGateway() {
  const s = { api: null, mcp: null, dir: null };
  const fx = new GatewayFixture(() => ({
    dir: s.dir,
    upstreams: [
      { name: 'api', prefix: '/api/v4', url: s.api.url },
      { name: 'mcp', prefix: '/mcp', url: s.mcp.url },
    ],
    policyFile: POLICY_FILE,
    extra: [
      '[resource]',
      `identifier = ${AUD}`,
      `authorization_servers = ${ISS}`,
      '',
      '[issuer:login]',
      `iss = ${ISS}`,
      `jwks_file = ${path.join(s.dir, 'jwks.json')}`,
      '',
    ].join('\n'),
  }));
  return {
    fx,
    ups: s,
    async start() {
      s.dir = tmpDir();
      fs.writeFileSync(path.join(s.dir, 'jwks.json'), JSON.stringify(jwks(KEY)));
      s.api = await startUpstream({ name: 'api' });
      s.mcp = await startUpstream({ name: 'mcp' });
      await fx.ensure();
    },
    async stop() {
      await fx.stop();
      for (const u of [s.api, s.mcp]) if (u) await u.stop();
    },
    async reset() { await s.api.reset(); await s.mcp.reset(); },
    // Every request both upstreams received since reset(): [{upstream, method, url}].
    async received() {
      const out = [];
      for (const u of [s.api, s.mcp]) {
        const st = await u.stats();
        for (const e of st.log) out.push({ upstream: u.name, method: e.method, url: e.url });
      }
      return out;
    },
  };
}

// ---- raw exchange ----

// Sends one request head (lines joined with CRLF) on a new connection and
// resolves the first complete response (parsed), or fails after timeoutMs.
async function rawRequest(port, { method = 'GET', target, headers = [], body = null, timeoutMs = 5000 * SCALE }) {
  const lines = [`${method} ${target} HTTP/1.1`, ...headers];
  if (body !== null) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  lines.push('Connection: close', '', '');
  const payload = Buffer.concat([Buffer.from(lines.join('\r\n'), 'latin1'), Buffer.from(body || '', 'latin1')]);
  const c = await RawConn.connect(port);
  try {
    await c.write(payload);
    const rs = await c.waitResponses(1, timeoutMs, [method]);
    if (rs.length < 1 || !rs[0].complete) {
      assert.fail(`no complete response to ${method} ${JSON.stringify(target)} within ${timeoutMs} ms; got ${JSON.stringify(c.text().slice(0, 400))}`);
    }
    return rs[0];
  } finally {
    c.destroy();
  }
}

// ---- answers ----

// Parses one `Bearer k=v, k="v"` challenge into {scheme, params}.
function parseChallenge(value) {
  const s = String(value);
  const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)/.exec(s);
  if (!m) throw new Error(`WWW-Authenticate has no scheme: ${JSON.stringify(s)}`);
  const params = {};
  let i = m[0].length;
  for (let guard = 0; guard < 100; guard++) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === ',')) i++;
    if (i >= s.length) break;
    const nm = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*=\s*/.exec(s.slice(i));
    if (!nm) throw new Error(`WWW-Authenticate: cannot read a parameter at ${i}: ${JSON.stringify(s)}`);
    const name = nm[1].toLowerCase();
    i += nm[0].length;
    let v = '';
    if (s[i] === '"') {
      i++;
      let closed = false;
      for (; i < s.length; i++) {
        if (s[i] === '\\' && i + 1 < s.length) { v += s[++i]; continue; }
        if (s[i] === '"') { closed = true; i++; break; }
        v += s[i];
      }
      if (!closed) throw new Error(`WWW-Authenticate: unterminated quoted string: ${JSON.stringify(s)}`);
    } else {
      const tm = /^[!#$%&'*+.^_`|~0-9A-Za-z/=-]+/.exec(s.slice(i));
      if (!tm) throw new Error(`WWW-Authenticate: bad value for ${name}: ${JSON.stringify(s)}`);
      v = tm[0];
      i += v.length;
    }
    params[name] = v;
  }
  return { scheme: m[1], params, raw: s };
}

function challengeOf(res, ctx) {
  const vals = res.rawHeaders ? rawValues(res.rawHeaders, 'www-authenticate')
    : (res.headers['www-authenticate'] === undefined ? [] : [res.headers['www-authenticate']]);
  assert.equal(vals.length, 1, `exactly one WWW-Authenticate expected${ctx}, got ${JSON.stringify(vals)}`);
  const c = parseChallenge(vals[0]);
  assert.match(c.scheme, /^bearer$/i, `challenge scheme${ctx}: ${c.raw}`);
  assert.equal(c.params.resource_metadata, META, `resource_metadata${ctx}: ${c.raw}`);
  return c;
}

const bodyOf = (res) => (res.body ? res.body.toString('utf8') : '');
const ctxOf = (what) => (what ? ` (${what})` : '');

// 401 for a request without a token: challenge with resource_metadata and no
// error; body error "unauthorized" (no body on HEAD).
function expectNoToken(res, what = '', { head = false } = {}) {
  const ctx = ctxOf(what);
  if (head) assert.equal(res.status, 401, `status${ctx}`);
  else assertGatewayError(res, 401, 'unauthorized', what);
  const c = challengeOf(res, ctx);
  assert.equal(c.params.error, undefined, `no error in a no-token challenge${ctx}: ${c.raw}`);
  return c;
}

// 401 invalid_token.
function expectInvalidToken(res, what = '') {
  const ctx = ctxOf(what);
  assertGatewayError(res, 401, 'invalid_token', what);
  const c = challengeOf(res, ctx);
  assert.equal(c.params.error, 'invalid_token', `challenge error${ctx}: ${c.raw}`);
  return c;
}

// 403 insufficient_scope naming exactly `missing` (array, compared as a set)
// in the challenge's scope="..." and in the body's "scope".
function expectInsufficientScope(res, missing, what = '', { head = false } = {}) {
  const ctx = ctxOf(what);
  const want = [...missing].sort();
  let body = null;
  if (head) assert.equal(res.status, 403, `status${ctx}`);
  else body = assertGatewayError(res, 403, 'insufficient_scope', what);
  const c = challengeOf(res, ctx);
  assert.equal(c.params.error, 'insufficient_scope', `challenge error${ctx}: ${c.raw}`);
  assert.equal(typeof c.params.scope, 'string', `challenge has no scope="..."${ctx}: ${c.raw}`);
  assert.deepEqual(c.params.scope.split(' ').filter(Boolean).sort(), want, `challenge scope${ctx}: ${c.raw}`);
  if (body) {
    assert.equal(typeof body.scope, 'string', `body has no "scope"${ctx}: ${bodyOf(res)}`);
    assert.deepEqual(body.scope.split(' ').filter(Boolean).sort(), want, `body "scope"${ctx}: ${bodyOf(res)}`);
  }
  return c;
}

// 403 for a valid token on something no route allows (fail closed): a JSON
// error with a description and a Bearer challenge.
function expectForbidden(res, what = '', { head = false } = {}) {
  const ctx = ctxOf(what);
  assert.equal(res.status, 403, `status${ctx}; body: ${bodyOf(res).slice(0, 300)}`);
  if (head) return challengeOf(res, ctx);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i, `Content-Type${ctx}`);
  assert.match(String(res.headers['cache-control'] || ''), /no-store/i, `Cache-Control${ctx}`);
  const body = JSON.parse(bodyOf(res));
  assert.equal(typeof body.error, 'string', `body error${ctx}`);
  assert.ok(typeof body.error_description === 'string' && body.error_description.length > 0, `error_description${ctx}`);
  challengeOf(res, ctx);
  return body;
}

module.exports = {
  POLICY_FILE, ISS, AUD, META, T, ROUTES, ALL_SCOPES, KEY, parsePolicy, concretePath, upstreamOf, routeLabel,
  tokenWith, badSignatureToken, expiredToken, bearer, policyGateway, rawRequest, parseChallenge,
  expectNoToken, expectInvalidToken, expectInsufficientScope, expectForbidden,
};
