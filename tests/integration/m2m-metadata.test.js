'use strict';
// RFC 8414 metadata of the built-in M2M issuer for an issuer with a path:
// served at /.well-known/oauth-authorization-server + that path (§3), where
// the official MCP SDK looks first, naming the gateway's token endpoint and
// JWKS; only GET/HEAD; the issuer's own trailing slash does not change it.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE } = require('./lib/wire');
const { startUpstream, startGateway, freePorts } = require('./lib/procs');
const { PROFILE_POLICY, m2mSections, waitReady } = require('./lib/m2m-kit');
const { sdk } = require('./lib/mcp-kit');

const T = { timeout: 60000 * SCALE };
const WK = '/.well-known/oauth-authorization-server';
const live = [];
after(async () => { for (const p of live) await p.stop(); });

async function gatewayWithIssuer(suffix) {
  const api = await startUpstream({ name: 'api' });
  live.push(api);
  const [port, adminPort] = await freePorts(2);
  const self = `http://127.0.0.1:${port}`;
  const extra = m2mSections({ port, audience: 'https://api.example.test' })
    .replace(`issuer = ${self}\n`, `issuer = ${self}${suffix}\n`);
  assert.ok(extra.includes(`issuer = ${self}${suffix}\n`));
  // Endpoint URLs are built on public_url (where clients reach the gateway).
  const gw = await startGateway({ port, adminPort, policyFile: PROFILE_POLICY, extra, server: { public_url: self },
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }] });
  live.push(gw);
  await waitReady(adminPort);
  return { gw, self };
}

test('an issuer with a path: the metadata sits at /.well-known/oauth-authorization-server/PATH and the SDK finds it', T, async () => {
  const { self } = await gatewayWithIssuer('/tenant-1/');
  const res = await fetch(`${self}${WK}/tenant-1`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /application\/json/);
  const md = await res.json();
  assert.equal(md.issuer, `${self}/tenant-1/`);
  assert.equal(md.token_endpoint, `${self}/api/v4/auth`);
  assert.equal(md.jwks_uri, `${self}/.well-known/m2m-jwks.json`);
  assert.deepEqual(md.grant_types_supported, ['client_credentials']);
  const head = await fetch(`${self}${WK}/tenant-1`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal((await fetch(`${self}${WK}/tenant-1`, { method: 'DELETE' })).status, 405);
  // Not at the root: that would be another issuer's document.
  assert.notEqual((await fetch(`${self}${WK}`)).status, 200);
  const { discoverAuthorizationServerMetadata } = sdk('client/auth.js');
  const found = await discoverAuthorizationServerMetadata(`${self}/tenant-1`);
  assert.equal(found.token_endpoint, `${self}/api/v4/auth`);
});
