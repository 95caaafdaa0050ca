'use strict';
// Decision mode (SPEC "Decision mode"): a [decision] listener judges the
// request its caller received and answers, never forwards. Real nginx with
// auth_request in front of the test upstream (allowed: the identity headers
// reach the upstream, a client's spoofed copy does not; 401 with the
// gateway's challenge; 403 with scope=), direct Envoy ext_authz-style and
// Traefik ForwardAuth-style requests, and the access log marking decision
// answers.
//
// nginx (Debian package `nginx`, tests/deps.sh) runs in the foreground on a
// loopback port with a config written here (pid and temp paths in a temp
// dir, error log to stderr), as `nobody` when the tests run as root, and is
// stopped by its PID. Without the nginx binary its tests are skipped, saying so.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { HOST, SCALE, sleep, request } = require('./lib/wire');
const { startUpstream, startGateway, tmpDir, freePorts, stopChild, canConnect } = require('./lib/procs');
const { makeKey, jwks, sign, claims } = require('./lib/tokens');
const { bearer, challenge, expectNoToken, expectInsufficientScope } = require('./lib/auth-assert');

const T = { timeout: 30000 * SCALE };
const ISS = 'https://login.example.test';
const AUD = 'https://api.example.test';
const PUBLIC = 'https://gw.example.test';
const META = `${PUBLIC}/.well-known/oauth-protected-resource`;
const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const KR = makeKey('rsa', 'rsa-1');
const POLICY = `
[GET /api/v4/profiles]
scopes = profiles:read

[POST /api/v4/profiles]
scopes = profiles:write

[GET /api/v4/public]
auth = none
`;

const token = (over = {}) => sign({ alg: 'RS256', key: KR, claims: claims({ iss: ISS, aud: AUD, ...over }) });

let api; let gw; let decPort; let nginx; let nginxPort; let nginxErr = '';

function nginxConf(dir) {
  const t = (n) => path.join(dir, n);
  return `daemon off;
worker_processes 1;
pid ${t('nginx.pid')};
error_log stderr notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${t('body')};
  proxy_temp_path ${t('proxy')};
  fastcgi_temp_path ${t('fastcgi')};
  uwsgi_temp_path ${t('uwsgi')};
  scgi_temp_path ${t('scgi')};
  server {
    listen ${HOST}:${nginxPort};
    location / {
      auth_request /_gateway_auth;
      auth_request_set $auth_sub $upstream_http_x_auth_subject;
      auth_request_set $auth_client $upstream_http_x_auth_client_id;
      auth_request_set $auth_scopes $upstream_http_x_auth_scopes;
      auth_request_set $auth_challenge $upstream_http_www_authenticate;
      proxy_set_header X-Auth-Subject $auth_sub;
      proxy_set_header X-Auth-Client-Id $auth_client;
      proxy_set_header X-Auth-Scopes $auth_scopes;
      error_page 403 = @gateway_forbidden;
      proxy_pass http://${HOST}:${api.port};
    }
    location @gateway_forbidden {
      add_header WWW-Authenticate $auth_challenge always;
      add_header Cache-Control no-store always;
      default_type application/json;
      return 403 '{"error":"insufficient_scope"}\\n';
    }
    location = /_gateway_auth {
      internal;
      proxy_pass http://${HOST}:${decPort};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Forwarded-Method $request_method;
      proxy_set_header X-Forwarded-Host $host;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`;
}

async function startNginx() {
  const dir = tmpDir();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, nginxConf(dir));
  const opts = { stdio: ['ignore', 'ignore', 'pipe'] };
  if (process.getuid && process.getuid() === 0) {
    // Unprivileged: as nobody, owning only its temp dir.
    fs.chmodSync(dir, 0o755);
    fs.chownSync(dir, 65534, 65534);
    Object.assign(opts, { uid: 65534, gid: 65534 });
  }
  const child = spawn(NGINX, ['-p', dir, '-e', 'stderr', '-c', conf], opts);
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { nginxErr = (nginxErr + d).slice(-20000); });
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) break;
    if (await canConnect(nginxPort, 500)) return child;
    await sleep(50);
  }
  throw new Error(`nginx did not start (exit ${child.exitCode}): ${nginxErr}`);
}

before(async () => {
  api = await startUpstream({ name: 'api' });
  const dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(jwks(KR)));
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  [decPort, nginxPort] = await freePorts(2);
  gw = await startGateway({
    dir,
    server: { public_url: PUBLIC },
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
    policyFile: path.join(dir, 'policy.ini'),
    extra: [
      '[resource]', `identifier = ${AUD}`, `authorization_servers = ${ISS}`, '',
      '[issuer:login]', `iss = ${ISS}`, `jwks_file = ${path.join(dir, 'jwks.json')}`, '',
      '[forward]', 'header.X-Auth-Subject = sub', 'header.X-Auth-Client-Id = client_id',
      'header.X-Auth-Scopes = scope', '',
      '[decision]', `listen = ${HOST}:${decPort}`, '',
    ].join('\n'),
  });
  for (let i = 0; i < 100 && !(await canConnect(decPort, 500)); i++) await sleep(50);
  if (NGINX) nginx = await startNginx();
});
after(async () => {
  if (nginx) await stopChild(nginx, { signal: 'SIGQUIT' });
  if (gw) await gw.stop();
  if (api) await api.stop();
});

async function upstreamRequests(fn) {
  await api.reset();
  const r = await fn();
  const s = await api.stats();
  return { r, n: s.requests, urls: s.urls };
}

function dec(p, headers = {}, method = 'GET') {
  return request(decPort, { method, path: p, headers });
}

// Waits for an access-log line matching pred (the log is flushed on a tick).
async function accessLine(pred) {
  for (let i = 0; i < 100; i++) {
    const hit = gw.accessLog().find(pred);
    if (hit) return hit;
    await sleep(50 * SCALE);
  }
  assert.fail(`no access-log line matched; have: ${JSON.stringify(gw.accessLog().slice(-5))}`);
}

// ---- direct requests (Envoy ext_authz: the request as received; Traefik: X-Forwarded-*) ----

test('Envoy-style: an allowed request is answered 200 with the identity headers, empty body, and not forwarded', T, async () => {
  const tok = token({ sub: 'user-7', client_id: 'app-1', scope: 'profiles:read other' });
  const { r, n, urls } = await upstreamRequests(() => dec('/api/v4/profiles?x=1', bearer(tok)));
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.body.length, 0);
  assert.equal(r.headers['x-auth-subject'], 'user-7');
  assert.equal(r.headers['x-auth-client-id'], 'app-1');
  assert.equal(r.headers['x-auth-scopes'], 'profiles:read other');
  assert.equal(n, 0, `the decision listener forwarded: ${JSON.stringify(urls)}`);
  const line = await accessLine((l) => l.mode === 'decision' && l.path === '/api/v4/profiles' && l.status === 200);
  assert.equal(line.decision, 'allow');
  assert.equal(line.sub, 'user-7');
});

test('Envoy-style: no token is 401 with the challenge; a missing scope is 403 with scope=; nothing is forwarded', T, async () => {
  let x = await upstreamRequests(() => dec('/api/v4/profiles'));
  expectNoToken(x.r, META, 'decision, no token');
  assert.equal(x.n, 0);
  x = await upstreamRequests(() => dec('/api/v4/profiles', bearer(token({ scope: 'tags:read' }))));
  expectInsufficientScope(x.r, { scope: 'profiles:read', meta: META }, 'decision, missing scope');
  assert.equal(x.n, 0);
  await accessLine((l) => l.mode === 'decision' && l.status === 403 && l.decision === 'insufficient_scope');
});

test('Traefik-style: the original method and URI come from X-Forwarded-Method and X-Forwarded-Uri', T, async () => {
  const fwd = (method, uri, tok) => dec('/', Object.assign({
    'X-Forwarded-Method': method, 'X-Forwarded-Uri': uri, 'X-Forwarded-Host': 'api.example.test',
    'X-Forwarded-Proto': 'https',
  }, tok ? bearer(tok) : {}));
  // POST /api/v4/profiles needs profiles:write: a read token is refused...
  let { r, n } = await upstreamRequests(() => fwd('POST', '/api/v4/profiles', token({ scope: 'profiles:read' })));
  expectInsufficientScope(r, { scope: 'profiles:write', meta: META }, 'POST judged as POST');
  assert.equal(n, 0);
  // ...and a write token allowed, though the request itself was a GET of /.
  ({ r, n } = await upstreamRequests(() => fwd('POST', '/api/v4/profiles?a=b', token({ sub: 'w', scope: 'profiles:write' }))));
  assert.equal(r.status, 200, r.body.toString());
  assert.equal(r.headers['x-auth-subject'], 'w');
  assert.equal(n, 0);
  // A public route: allowed, with every identity header present and empty,
  // so that the proxy's copy replaces any the client sent.
  r = await dec('/', { 'X-Original-URI': '/api/v4/public', 'X-Auth-Subject': 'spoofed' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-auth-subject'], '');
  // A path outside every prefix is 404, and a repeated or bad original field is 400.
  r = await dec('/', { 'X-Forwarded-Uri': '/elsewhere' });
  assert.equal(r.status, 404);
  r = await dec('/', { 'X-Forwarded-Method': 'G E T', 'X-Forwarded-Uri': '/api/v4/profiles' });
  assert.equal(r.status, 400);
  r = await dec('/', { 'X-Forwarded-Uri': '/api/v4/a%2Fb' });
  assert.equal(r.status, 400);
});

// ---- real nginx with auth_request ----

const skipNginx = NGINX ? false : 'nginx is not installed (Debian package nginx; tests/deps.sh installs it)';

test('nginx auth_request: allowed requests reach the upstream with the identity headers, a spoofed one replaced', { ...T, skip: skipNginx }, async () => {
  const tok = token({ sub: 'user-9', client_id: 'app-9', scope: 'profiles:read' });
  const { r, n } = await upstreamRequests(() => request(nginxPort, {
    path: '/api/v4/profiles?q=1', headers: Object.assign({ 'X-Auth-Subject': 'admin' }, bearer(tok)),
  }));
  assert.equal(r.status, 200, `${r.body.toString()}\n${nginxErr}`);
  assert.equal(n, 1);
  const e = JSON.parse(r.body.toString());
  assert.equal(e.url, '/api/v4/profiles?q=1');
  assert.equal(e.headers['x-auth-subject'], 'user-9');
  assert.equal(e.headers['x-auth-client-id'], 'app-9');
  assert.equal(e.headers['x-auth-scopes'], 'profiles:read');
  // A public route: the client's X-Auth-Subject does not survive.
  const p = await upstreamRequests(() => request(nginxPort, { path: '/api/v4/public', headers: { 'X-Auth-Subject': 'admin' } }));
  assert.equal(p.r.status, 200);
  assert.equal(JSON.parse(p.r.body.toString()).headers['x-auth-subject'], undefined);
  await accessLine((l) => l.mode === 'decision' && l.path === '/api/v4/profiles' && l.sub === 'user-9');
});

test('nginx auth_request: 401 carries the gateway\'s challenge, 403 carries scope=, and nothing reaches the upstream', { ...T, skip: skipNginx }, async () => {
  let x = await upstreamRequests(() => request(nginxPort, { path: '/api/v4/profiles' }));
  assert.equal(x.r.status, 401);
  let c = challenge(x.r, 'nginx 401');
  assert.equal(c.params.resource_metadata, META);
  assert.equal(c.params.error, undefined);
  assert.equal(x.n, 0);
  x = await upstreamRequests(() => request(nginxPort, { path: '/api/v4/profiles', headers: bearer(token({ exp: 1000 })) }));
  assert.equal(x.r.status, 401);
  assert.equal(challenge(x.r, 'nginx 401 expired').params.error, 'invalid_token');
  x = await upstreamRequests(() => request(nginxPort, { method: 'POST', path: '/api/v4/profiles', body: '{}', headers: bearer(token({ scope: 'profiles:read' })) }));
  assert.equal(x.r.status, 403);
  c = challenge(x.r, 'nginx 403');
  assert.equal(c.params.error, 'insufficient_scope');
  assert.equal(c.params.scope, 'profiles:write');
  assert.equal(x.n, 0);
});
