'use strict';
// Assertions for the gateway's token answers (SPEC "Answers the gateway gives
// itself", RFC 6750 §3, RFC 9728 §5.1): the WWW-Authenticate challenge parsed
// into its parameters, and the JSON body. Used by auth.test.js and jwks.test.js.
const assert = require('node:assert/strict');
const { assertGatewayError, rawValues } = require('./wire');

const bearer = (t) => ({ Authorization: `Bearer ${t}` });

// Parses one challenge `Scheme k=v, k="quoted \" v"` (RFC 9110 §11.2).
// Returns {scheme, params, dup} where dup lists parameters given twice.
// Throws on syntax it cannot read, so a broken header fails the test clearly.
function parseChallenge(value) {
  const s = String(value);
  const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)/.exec(s);
  if (!m) throw new Error(`WWW-Authenticate has no scheme: ${JSON.stringify(s)}`);
  const scheme = m[1];
  const params = {};
  const dup = [];
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
      const tm = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+/.exec(s.slice(i));
      if (!tm) throw new Error(`WWW-Authenticate: bad value for ${name}: ${JSON.stringify(s)}`);
      v = tm[0];
      i += v.length;
    }
    if (name in params) dup.push(name);
    params[name] = v;
  }
  return { scheme, params, dup };
}

function headerOf(res, name) {
  if (res.rawHeaders) return rawValues(res.rawHeaders, name);
  const v = res.headers[name];
  return v === undefined ? [] : [v];
}

// The one Bearer challenge of a response; fails when there is none or several.
function challenge(res, ctx = '') {
  const vals = headerOf(res, 'www-authenticate');
  assert.equal(vals.length, 1, `exactly one WWW-Authenticate header expected${ctx}, got ${JSON.stringify(vals)}`);
  const c = parseChallenge(vals[0]);
  assert.match(c.scheme, /^bearer$/i, `challenge scheme${ctx}: ${vals[0]}`);
  assert.deepEqual(c.dup, [], `parameters given twice${ctx}: ${vals[0]}`);
  c.raw = vals[0];
  return c;
}

function bodyText(res) { return res.body ? res.body.toString('utf8') : ''; }

// Long pieces of a token that must never appear in an answer or a log.
function tokenPieces(token) {
  if (!token) return [];
  const out = [];
  if (token.length >= 16) out.push(token);
  for (const p of String(token).split('.')) if (p.length >= 16) out.push(p);
  return out;
}

function assertNoTokenEcho(text, token, what) {
  for (const p of tokenPieces(token)) {
    assert.ok(!text.includes(p), `${what} echoes (part of) the token: ${text.slice(0, 400)}`);
  }
}

// 401 "no token": challenge without error, body error "unauthorized".
function expectNoToken(res, meta, what = '') {
  const ctx = what ? ` (${what})` : '';
  assertGatewayError(res, 401, 'unauthorized', what);
  const c = challenge(res, ctx);
  assert.equal(c.params.error, undefined, `a request without a token gets a challenge without error${ctx}: ${c.raw}`);
  assert.equal(c.params.error_description, undefined, `no error_description in a no-token challenge${ctx}: ${c.raw}`);
  assert.equal(c.params.resource_metadata, meta, `resource_metadata${ctx}: ${c.raw}`);
  return c;
}

// 401 invalid_token whose description names the failed check (desc regexp)
// in the challenge and in the body, without echoing the token.
function expectInvalidToken(res, { desc, meta, token }, what = '') {
  const ctx = what ? ` (${what})` : '';
  const body = assertGatewayError(res, 401, 'invalid_token', what);
  const c = challenge(res, ctx);
  assert.equal(c.params.error, 'invalid_token', `challenge error${ctx}: ${c.raw}`);
  assert.equal(typeof c.params.error_description, 'string', `challenge error_description${ctx}: ${c.raw}`);
  assert.ok(c.params.error_description.length > 0, `empty error_description${ctx}`);
  assert.equal(c.params.resource_metadata, meta, `resource_metadata${ctx}: ${c.raw}`);
  if (desc) {
    assert.match(c.params.error_description, desc, `challenge error_description names the failed check${ctx}`);
    assert.match(body.error_description, desc, `body error_description names the failed check${ctx}`);
  }
  assertNoTokenEcho(c.raw, token, `WWW-Authenticate${ctx}`);
  assertNoTokenEcho(bodyText(res), token, `body${ctx}`);
  return { challenge: c, body };
}

// 403 insufficient_scope naming exactly the missing scopes (space-separated,
// compared as a set) in the challenge and in the body's "scope".
function expectInsufficientScope(res, { scope, meta }, what = '') {
  const ctx = what ? ` (${what})` : '';
  const body = assertGatewayError(res, 403, 'insufficient_scope', what);
  const c = challenge(res, ctx);
  assert.equal(c.params.error, 'insufficient_scope', `challenge error${ctx}: ${c.raw}`);
  assert.equal(c.params.resource_metadata, meta, `resource_metadata${ctx}: ${c.raw}`);
  const want = scope.split(' ').filter(Boolean).sort();
  assert.equal(typeof c.params.scope, 'string', `challenge has no scope parameter${ctx}: ${c.raw}`);
  assert.deepEqual(c.params.scope.split(' ').filter(Boolean).sort(), want, `challenge scope${ctx}: ${c.raw}`);
  assert.equal(typeof body.scope, 'string', `body has no "scope"${ctx}: ${bodyText(res)}`);
  assert.deepEqual(body.scope.split(' ').filter(Boolean).sort(), want, `body scope${ctx}`);
  return { challenge: c, body };
}

// 400 invalid_request with a Bearer challenge carrying error="invalid_request".
function expectInvalidRequest(res, { meta, token } = {}, what = '') {
  const ctx = what ? ` (${what})` : '';
  const body = assertGatewayError(res, 400, 'invalid_request', what);
  const c = challenge(res, ctx);
  assert.equal(c.params.error, 'invalid_request', `challenge error${ctx}: ${c.raw}`);
  if (meta && c.params.resource_metadata !== undefined) {
    assert.equal(c.params.resource_metadata, meta, `resource_metadata${ctx}: ${c.raw}`);
  }
  assertNoTokenEcho(c.raw, token, `WWW-Authenticate${ctx}`);
  assertNoTokenEcho(bodyText(res), token, `body${ctx}`);
  return { challenge: c, body };
}

// 503 while an issuer has no key set: Retry-After, no challenge, JSON.
function expectUnavailable(res, what = '') {
  const ctx = what ? ` (${what})` : '';
  assert.equal(res.status, 503, `status${ctx}; body: ${bodyText(res).slice(0, 300)}`);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i, `Content-Type${ctx}`);
  assert.match(String(res.headers['cache-control'] || ''), /no-store/i, `Cache-Control${ctx}`);
  const ra = res.headers['retry-after'];
  assert.ok(ra !== undefined, `503 without Retry-After${ctx}`);
  assert.match(String(ra), /^\d+$/, `Retry-After is a number of seconds${ctx}: ${ra}`);
  assert.equal(res.headers['www-authenticate'], undefined, `503 carries no challenge${ctx}`);
  const body = JSON.parse(bodyText(res));
  assert.equal(typeof body.error, 'string', `body error${ctx}`);
  assert.equal(typeof body.error_description, 'string', `body error_description${ctx}`);
  return body;
}

module.exports = {
  bearer, parseChallenge, challenge, expectNoToken, expectInvalidToken, expectInsufficientScope,
  expectInvalidRequest, expectUnavailable, assertNoTokenEcho, tokenPieces,
};
