'use strict';
// `make run` as an agent developer meets it (issue "MCP responses and agent
// onboarding"), scripted: the processes conf/run-demo.sh starts, on free
// ports, with conf/gateway.ini itself (lib/demo-stack.js).
// - The official SDK's ClientCredentialsProvider with demo / demo-secret,
//   given nothing but the MCP URL, discovers everything from the 401 and
//   calls an allowed tool; pointed at the gateway's built-in issuer, it finds
//   that issuer's RFC 8414 metadata and works too.
// - A user signs in at the demo authorization server (authorization_code +
//   PKCE, dynamic registration), by plain HTTP requests: the token works on
//   /api/v4 (and its missing scope is a 403 that names it); /mcp's 401 leads
//   to the same authorization server with /mcp's own resource and scopes.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE } = require('./lib/wire');
const { startDemoStack } = require('./lib/demo-stack');
const { sdk } = require('./lib/mcp-kit');
const { decodeJwt } = require('./lib/m2m-kit');

const T = { timeout: 120000 * SCALE };
const CALL = { timeout: 20000 * SCALE };
const SCOPES = ['profiles:read', 'profiles:write', 'tags:manage', 'account:read', 'account:write'];
let stack;

before(async () => { stack = await startDemoStack(); });
after(async () => { if (stack) await stack.stop(); });

// The Set-Cookie values a browser would keep for the authorization server.
class Jar {
  constructor() { this.c = new Map(); }
  take(res) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair] = sc.split(';');
      const eq = pair.indexOf('=');
      this.c.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
  }
  header() { return [...this.c].map(([k, v]) => `${k}=${v}`).join('; '); }
}

async function connectWith(authProvider) {
  const { Client } = sdk('client/index.js');
  const { StreamableHTTPClientTransport } = sdk('client/streamableHttp.js');
  const client = new Client({ name: 'demo-flow-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${stack.base}/mcp`), { authProvider });
  await client.connect(transport, CALL);
  return client;
}

function profileNames(result) {
  assert.ok(!result.isError, `list_profiles failed: ${JSON.stringify(result).slice(0, 400)}`);
  const text = result.content.map((c) => c.text || '').join('');
  assert.match(text, /Ada|Grace|profile/i, `list_profiles answered ${text.slice(0, 300)}`);
  return text;
}

test('the /mcp metadata names the URL the client uses, an authorization server the demo runs, and the tools\' scopes', T, async () => {
  const res = await fetch(`${stack.base}/mcp`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }) });
  assert.equal(res.status, 401);
  const m = /resource_metadata="([^"]+)"/.exec(res.headers.get('www-authenticate') || '');
  assert.ok(m, `no resource_metadata in ${res.headers.get('www-authenticate')}`);
  assert.equal(m[1], `${stack.base}/.well-known/oauth-protected-resource/mcp`);
  const prm = await (await fetch(m[1])).json();
  assert.equal(prm.resource, `${stack.base}/mcp`);
  assert.deepEqual(prm.authorization_servers, [stack.as.issuer, stack.base]);
  assert.deepEqual([...prm.scopes_supported].sort(), [...SCOPES].sort());
  const root = await (await fetch(`${stack.base}/.well-known/oauth-protected-resource`)).json();
  assert.equal(root.resource, stack.base);
});

test('the built-in issuer publishes RFC 8414 metadata that the SDK reads: token endpoint, JWKS, client_credentials', T, async () => {
  const { discoverAuthorizationServerMetadata } = sdk('client/auth.js');
  const md = await discoverAuthorizationServerMetadata(stack.base);
  assert.ok(md, 'the SDK found no metadata for the built-in issuer');
  assert.equal(md.issuer, stack.base);
  assert.equal(md.token_endpoint, `${stack.base}/api/v4/auth`);
  assert.equal(md.jwks_uri, `${stack.base}/.well-known/m2m-jwks.json`);
  assert.deepEqual(md.grant_types_supported, ['client_credentials']);
  assert.deepEqual(md.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post']);
  assert.deepEqual([...md.scopes_supported].sort(), ['profiles:read', 'profiles:write', 'tags:manage']);
  const jwks = await (await fetch(md.jwks_uri)).json();
  assert.equal(jwks.keys.length, 1);
  // The authorization endpoint the SDK's parser insists on says what it is.
  const az = await fetch(`${md.authorization_endpoint}?response_type=code&client_id=x`);
  assert.equal(az.status, 400);
  assert.equal((await az.json()).error, 'unsupported_response_type');
  const post = await fetch(`${stack.base}/.well-known/oauth-authorization-server`, { method: 'POST' });
  assert.equal(post.status, 405);
});

test('SDK ClientCredentialsProvider (demo / demo-secret) discovers everything from the 401 alone and calls an allowed tool', T, async () => {
  const { ClientCredentialsProvider } = sdk('client/auth-extensions.js');
  const provider = new ClientCredentialsProvider({ clientId: 'demo', clientSecret: 'demo-secret', scope: 'profiles:read tags:manage' });
  const client = await connectWith(provider);
  try {
    const tok = provider.tokens();
    assert.ok(tok && tok.access_token, 'no token was obtained');
    const { payload } = decodeJwt(tok.access_token);
    assert.equal(payload.iss, stack.as.issuer, 'the SDK uses the first authorization server');
    assert.equal(payload.aud, `${stack.base}/mcp`, 'RFC 8707: the token is for /mcp');
    assert.equal(payload.client_id, 'demo');
    const tools = await client.listTools(undefined, CALL);
    assert.ok(tools.tools.some((t) => t.name === 'list_profiles'), JSON.stringify(tools.tools.map((t) => t.name)));
    profileNames(await client.callTool({ name: 'list_profiles', arguments: {} }, undefined, CALL));
  } finally {
    await client.close();
  }
});

test('SDK ClientCredentialsProvider pointed at the built-in issuer gets its token from /api/v4/auth and calls a tool', T, async () => {
  const { ClientCredentialsProvider } = sdk('client/auth-extensions.js');
  // discoveryState() is the SDK's way to pick an authorization server.
  class BuiltIn extends ClientCredentialsProvider {
    discoveryState() { return { authorizationServerUrl: stack.base }; }
    saveDiscoveryState() {}
  }
  const provider = new BuiltIn({ clientId: 'demo', clientSecret: 'demo-secret', expectedIssuer: stack.base });
  const client = await connectWith(provider);
  try {
    const { header, payload } = decodeJwt(provider.tokens().access_token);
    assert.equal(header.typ, 'at+jwt');
    assert.equal(payload.iss, stack.base);
    assert.equal(payload.sub, 'demo');
    assert.equal(payload.scope, 'profiles:read tags:manage');
    profileNames(await client.callTool({ name: 'list_profiles', arguments: {} }, undefined, CALL));
  } finally {
    await client.close();
  }
});

// authorization_code + PKCE against the demo AS, as a browser would do it.
async function userLogin({ resource, scope, password = 'demo-password' }) {
  const { discoverAuthorizationServerMetadata, registerClient, startAuthorization, exchangeAuthorization } = sdk('client/auth.js');
  const asUrl = stack.as.issuer;
  const metadata = await discoverAuthorizationServerMetadata(asUrl);
  assert.ok(metadata.registration_endpoint, 'the demo AS offers dynamic registration');
  assert.ok(metadata.code_challenge_methods_supported.includes('S256'));
  const redirectUrl = 'http://127.0.0.1:1/callback';
  const clientInformation = await registerClient(asUrl, { metadata, clientMetadata: {
    client_name: 'demo-flow-test', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'], token_endpoint_auth_method: 'none' } });
  const { authorizationUrl, codeVerifier } = await startAuthorization(asUrl, { metadata, clientInformation, redirectUrl, scope, resource });
  const jar = new Jar();
  let res = await fetch(authorizationUrl, { redirect: 'manual' });
  jar.take(res);
  assert.equal(res.status, 303, `authorize: ${res.status} ${await res.text()}`);
  const page = await fetch(new URL(res.headers.get('location'), asUrl), { headers: { Cookie: jar.header() } });
  const html = await page.text();
  assert.equal(page.status, 200, html);
  const action = /action="([^"]+)"/.exec(html);
  assert.ok(action, `no login form: ${html.slice(0, 300)}`);
  res = await fetch(new URL(action[1], asUrl), { method: 'POST', redirect: 'manual',
    headers: { Cookie: jar.header(), 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ username: 'demo-user', password }) });
  jar.take(res);
  // Login, then the (automatic) consent, then the redirect with the code.
  let back = null;
  for (let hop = 0; hop < 10 && (res.status === 302 || res.status === 303); hop++) {
    const next = new URL(res.headers.get('location'), asUrl);
    if (next.href.startsWith(redirectUrl)) { back = next; break; }
    res = await fetch(next, { redirect: 'manual', headers: { Cookie: jar.header() } });
    jar.take(res);
  }
  if (!back) return { status: res.status, body: await res.text() };
  assert.equal(back.searchParams.get('error'), null, `authorization error: ${back.search}`);
  const code = back.searchParams.get('code');
  assert.ok(code, `no code in ${back.href}`);
  const tokens = await exchangeAuthorization(asUrl, { metadata, clientInformation, authorizationCode: code, codeVerifier,
    redirectUri: redirectUrl, resource });
  return { tokens };
}

test('a user signs in at the demo AS (authorization_code + PKCE, no browser): the token works on /api/v4, a missing scope is a 403', T, async () => {
  const r = await fetch(`${stack.base}/api/v4/profiles`);
  assert.equal(r.status, 401);
  const meta = /resource_metadata="([^"]+)"/.exec(r.headers.get('www-authenticate'))[1];
  const prm = await (await fetch(meta)).json();
  assert.equal(prm.authorization_servers[0], stack.as.issuer);
  const { tokens } = await userLogin({ resource: prm.resource, scope: 'profiles:read account:read' });
  assert.ok(tokens && tokens.access_token, 'no user token');
  const { header, payload } = decodeJwt(tokens.access_token);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(payload.iss, stack.as.issuer);
  assert.equal(payload.sub, 'demo-user');
  assert.equal(payload.aud, stack.base);
  const auth = { Authorization: `Bearer ${tokens.access_token}` };
  const list = await fetch(`${stack.base}/api/v4/profiles`, { headers: auth });
  assert.equal(list.status, 200, await list.clone().text());
  assert.ok(Array.isArray((await list.json()).data));
  const acct = await fetch(`${stack.base}/api/v4/account`, { headers: auth });
  assert.equal(acct.status, 200, await acct.text());
  const create = await fetch(`${stack.base}/api/v4/profiles`, { method: 'POST', headers: auth });
  assert.equal(create.status, 403);
  assert.match(create.headers.get('www-authenticate'), /error="insufficient_scope"/);
  assert.match(create.headers.get('www-authenticate'), /scope="[^"]*profiles:write/);
});

test('a wrong password at the demo AS gets no code', T, async () => {
  const out = await userLogin({ resource: stack.base, scope: 'profiles:read', password: 'wrong' });
  assert.equal(out.tokens, undefined);
  assert.equal(out.status, 401);
  assert.match(out.body, /Wrong user or password/);
});

test('/mcp: the 401 leads to the demo AS, which issues a user token for /mcp\'s own resource', T, async () => {
  const { discoverOAuthServerInfo } = sdk('client/auth.js');
  const info = await discoverOAuthServerInfo(new URL(`${stack.base}/mcp`));
  assert.equal(info.authorizationServerUrl, stack.as.issuer);
  assert.equal(info.resourceMetadata.resource, `${stack.base}/mcp`);
  assert.ok(info.authorizationServerMetadata.authorization_endpoint.startsWith(stack.as.issuer));
  const { tokens } = await userLogin({ resource: info.resourceMetadata.resource,
    scope: info.resourceMetadata.scopes_supported.join(' ') });
  const { payload } = decodeJwt(tokens.access_token);
  assert.equal(payload.aud, `${stack.base}/mcp`);
  assert.deepEqual(payload.scope.split(' ').sort(), [...SCOPES].sort());
});
