#!/usr/bin/env node
// The demo OAuth 2.1 authorization server of `make run`: oidc-provider (a
// maintained, certified implementation; pinned in package.json) on loopback,
// so that an MCP client (MCP Inspector, the official SDK) can sign a demo
// user in against the gateway without any outside service.
//
//   node tests/servers/demo-as.mjs [--port 9003] [--resource URL]... [--exit-with-stdin]
//
// --resource names a resource (RFC 8707) it issues tokens for; give the
// gateway's identifier and each upstream's resource (default
// http://127.0.0.1:8080 and http://127.0.0.1:8080/mcp). Prints one JSON
// line {"port":N,"issuer":URL} on stdout once listening.
//
// What it does (all a development setup, never production):
// - issuer http://127.0.0.1:PORT, RFC 8414 metadata and OIDC discovery;
// - authorization_code with PKCE (S256, required for every client),
//   dynamic client registration (RFC 7591, open), refresh tokens;
// - client_credentials for the same demo clients as the gateway's built-in
//   issuer (demo / demo-secret, demo-writer / demo-writer-secret), so that a
//   client that picks this server from the metadata works either way;
// - access tokens are JWTs (RFC 9068, ES256, key made at start and published
//   at /jwks) whose aud is the requested resource;
// - one user: demo-user / demo-password. The login page says so; consent is
//   given for whatever the client asked (of the five Profile API scopes).
import http from 'node:http';
import crypto from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

export const DEMO_USER = 'demo-user';
export const DEMO_PASSWORD = 'demo-password';
export const SCOPES = ['profiles:read', 'profiles:write', 'tags:manage', 'account:read', 'account:write'];
const M2M_CLIENTS = [
  { client_id: 'demo', client_secret: 'demo-secret', scope: 'profiles:read tags:manage' },
  { client_id: 'demo-writer', client_secret: 'demo-writer-secret', scope: 'profiles:read profiles:write' },
];

function parseArgs(argv) {
  const o = { port: 9003, host: '127.0.0.1', resources: [], exitWithStdin: false };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--resource') o.resources.push(next());
    else if (a === '--exit-with-stdin') o.exitWithStdin = true;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new Error('bad --port');
  if (!o.resources.length) o.resources = ['http://127.0.0.1:8080', 'http://127.0.0.1:8080/mcp'];
  return o;
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${esc(title)}</title></head>
<body style="font-family: sans-serif; max-width: 30em; margin: 3em auto">${body}</body></html>`;
}

function loginPage(uid, clientId, scope, error) {
  return page('Sign in (demo)', `<h1>Sign in to the Profile API demo</h1>
<p>${esc(clientId)} asks for: <code>${esc(scope || '(no scope)')}</code></p>
${error ? `<p style="color: #b00">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login">
<p><label>User <input name="username" value="${DEMO_USER}" autofocus></label></p>
<p><label>Password <input name="password" type="password"></label></p>
<p><button type="submit">Sign in and allow</button></p>
</form><p>Demo user: <code>${DEMO_USER}</code> / <code>${DEMO_PASSWORD}</code></p>`);
}

async function readForm(req, max = 16 * 1024) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > max) throw new Error('body too large');
  }
  return new URLSearchParams(body);
}

// Consent for the demo: everything the client asked for, nothing more.
async function grantRequested(provider, details) {
  const { prompt, params, session, grantId } = details;
  const grant = grantId ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const d = prompt.details || {};
  if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
  if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(d.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

export async function startDemoAs({ port = 9003, host = '127.0.0.1', resources }) {
  // Generated as PEM and loaded again: exporting a key object straight from
  // generateKeyPairSync can deadlock Node 20 (see tests/integration/lib/tokens.js).
  const pem = crypto.generateKeyPairSync('ec', {
    namedCurve: 'P-256', privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' },
  }).privateKey;
  const privateKey = crypto.createPrivateKey(pem);
  const jwk = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: crypto.randomUUID() };
  const server = http.createServer();
  await new Promise((res, rej) => { server.once('error', rej); server.listen(port, host, res); });
  const actual = server.address().port;
  const issuer = `http://${host}:${actual}`;

  const provider = new Provider(issuer, {
    clients: M2M_CLIENTS.map((c) => ({
      ...c, grant_types: ['client_credentials'], response_types: [], redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post'],
    clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code', 'refresh_token'] },
    responseTypes: ['code'],
    jwks: { keys: [jwk] },
    cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access', ...SCOPES],
    claims: { openid: ['sub'] },
    pkce: { required: () => true },
    findAccount: (ctx, id) => (id === DEMO_USER ? { accountId: id, claims: () => ({ sub: id }) } : undefined),
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      registration: { enabled: true },
      clientCredentials: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // A request without resource gets the gateway's identifier; with
        // several allowed ones (a refresh), the first the grant has.
        defaultResource: (ctx, client, oneOf) => (oneOf ? oneOf[0] : resources[0]),
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, indicator) => {
          if (!resources.includes(indicator)) throw new errors.InvalidTarget(`unknown resource ${indicator}`);
          return {
            scope: SCOPES.join(' '), audience: indicator, accessTokenTTL: 3600,
            accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    // MCP clients that run in a browser (the Inspector) call the token and
    // registration endpoints cross-origin.
    clientBasedCORS: () => true,
    issueRefreshToken: (ctx, client, code) => client.grantTypeAllowed('refresh_token')
      && code.scopes.has('offline_access'),
    ttl: { AccessToken: 3600, AuthorizationCode: 60, Interaction: 600, Session: 3600, Grant: 3600,
      RefreshToken: 86400, ClientCredentials: 3600 },
  });
  provider.on('server_error', (ctx, err) => process.stderr.write(`demo-as: ${err && err.stack}\n`));
  const callback = provider.callback();

  server.on('request', async (req, res) => {
    const m = /^\/interaction\/([A-Za-z0-9_-]{1,128})(\/login)?$/.exec(req.url.split('?')[0]);
    if (!m) { callback(req, res); return; }
    const send = (status, html) => {
      res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(html);
    };
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.uid !== m[1]) { send(400, page('Error', '<p>This sign-in has expired; start again.</p>')); return; }
      const clientId = details.params.client_id;
      if (details.prompt.name === 'login') {
        if (!m[2] || req.method !== 'POST') {
          send(200, loginPage(details.uid, clientId, details.params.scope));
          return;
        }
        const form = await readForm(req);
        if (form.get('username') !== DEMO_USER || form.get('password') !== DEMO_PASSWORD) {
          send(401, loginPage(details.uid, clientId, details.params.scope, 'Wrong user or password.'));
          return;
        }
        await provider.interactionFinished(req, res, { login: { accountId: DEMO_USER } }, { mergeWithLastSubmission: false });
        return;
      }
      if (details.prompt.name === 'consent') {
        const grantId = await grantRequested(provider, details);
        await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
        return;
      }
      send(400, page('Error', `<p>Unsupported prompt ${esc(details.prompt.name)}.</p>`));
    } catch (err) {
      send(400, page('Error', `<p>${esc(err && err.message)}</p>`));
    }
  });
  return { server, provider, port: actual, issuer };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const opts = parseArgs(process.argv);
  const { port, issuer } = await startDemoAs(opts);
  process.stdout.write(`${JSON.stringify({ port, issuer })}\n`);
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // A test that dies without stopping us leaves no orphan behind.
  if (opts.exitWithStdin) { process.stdin.on('end', stop); process.stdin.on('close', stop); process.stdin.resume(); }
}
