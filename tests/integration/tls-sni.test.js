'use strict';
// TLS, issue 6, second part: several certificates chosen by SNI ([tls:NAME]
// sections) and session ticket keys that rotate on a timer
// ([server] tls_ticket_rotate).
//   - each listed name (any case) gets its section's certificate, a
//     "*.domain" name covers exactly one label, anything else (no SNI, an
//     unknown name) gets [server] tls_cert; HTTP and ALPN work after the
//     switch; a session resumes under its own name;
//   - a broken [tls:NAME] certificate fails `-t` with FILE:LINE, and a reload
//     that brings one keeps the running certificates;
//   - ticket keys: a new key every period, a ticket sealed in one period opens
//     in the next (and is renewed under the new key) but not after that, and
//     tickets survive a SIGHUP (the key secret belongs to the process).
// Certificates come from the openssl CLI at test time (lib/tls-certs.js).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { HOST, SCALE, sleep } = require('./lib/wire');
const { startUpstream, startGateway, freePort, tmpDir, runGatewaySync } = require('./lib/procs');
const { makeCa, makeLeaf, normSerial } = require('./lib/tls-certs');
const { curl, handshake } = require('./lib/tls-client');

const T = { timeout: 30000 * SCALE };
const ROTATE_S = 2; // tls_ticket_rotate of the rotation gateway

let dir; let ca; let dflt; let api; let wild; let up;
const gws = [];

before(async () => {
  dir = tmpDir();
  ca = makeCa(dir, 'ca', 'SNI Test CA', 'ec');
  const local = { dns: ['localhost'], ips: ['127.0.0.1'] };
  dflt = makeLeaf(dir, 'default', ca, local);
  api = makeLeaf(dir, 'api', ca, { cn: 'api.example.test', dns: ['api.example.test', 'api.other.test'] });
  wild = makeLeaf(dir, 'wild', ca, { cn: '*.wild.example.test', dns: ['*.wild.example.test'] });
  up = await startUpstream({ name: 'api' });
});

after(async () => {
  for (const gw of gws) await gw.stop('SIGKILL');
  if (up) await up.stop();
});

function sniSections(apiCert = api) {
  return [
    '[tls:api]',
    'server_names = api.example.test API.Other.Test',
    `cert = ${apiCert.crt}`,
    `key = ${apiCert.key}`,
    '',
    '[tls:wild]',
    'server_names = *.wild.example.test',
    `cert = ${wild.crt}`,
    `key = ${wild.key}`,
    '',
  ].join('\n');
}

async function sniGateway(extraServer = {}, extra = sniSections()) {
  const port = await freePort();
  const gw = await startGateway({
    dir: tmpDir(),
    server: Object.assign({ tls_listen: `${HOST}:${port}`, tls_cert: dflt.crt, tls_key: dflt.key, idle_timeout: '5s' }, extraServer),
    upstreams: [{ name: 'api', prefix: '/api/v4', url: up.url, response_timeout: '10s' }],
    extra,
  });
  gw.tlsPort = port;
  gws.push(gw);
  return gw;
}

let shared = null;
async function gateway() {
  if (!shared || shared.exited()) shared = await sniGateway();
  return shared;
}

// Handshake with `servername` ('' sends no SNI); the certificate is checked
// against the CA only, so that the test sees which one was served.
async function served(port, servername, extra = {}) {
  const r = await handshake(port, Object.assign({ ca: ca.pem, servername, rejectUnauthorized: false }, extra));
  assert.ok(r.ok, `handshake with SNI ${JSON.stringify(servername)}: ${r.error}`);
  return r;
}

test('each listed SNI name, in any case, gets the certificate of its [tls:NAME]', T, async () => {
  const gw = await gateway();
  for (const name of ['api.example.test', 'api.other.test', 'API.EXAMPLE.TEST', 'Api.Other.Test']) {
    const r = await served(gw.tlsPort, name);
    assert.equal(normSerial(r.serial), api.serial, `${name}: not the [tls:api] certificate`);
  }
});

test('"*.wild.example.test" covers exactly one label: a.wild.example.test yes; the bare domain and two labels get the default', T, async () => {
  const gw = await gateway();
  assert.equal(normSerial((await served(gw.tlsPort, 'a.wild.example.test')).serial), wild.serial);
  assert.equal(normSerial((await served(gw.tlsPort, 'X-1.Wild.Example.Test')).serial), wild.serial);
  for (const name of ['wild.example.test', 'b.a.wild.example.test', 'awild.example.test']) {
    const r = await served(gw.tlsPort, name);
    assert.equal(normSerial(r.serial), dflt.serial, `${name}: expected the default certificate`);
  }
});

test('no SNI, an unknown name or a prefix of a listed one: the default certificate ([server] tls_cert)', T, async () => {
  const gw = await gateway();
  for (const name of ['', 'localhost', 'unknown.test', 'api.example', 'xapi.example.test']) {
    const r = await served(gw.tlsPort, name);
    assert.equal(normSerial(r.serial), dflt.serial, `SNI ${JSON.stringify(name)}: expected the default certificate`);
  }
});

test('curl over an SNI certificate: verified for the name, ALPN http/1.1, the request reaches the upstream', T, async () => {
  const gw = await gateway();
  const r = await curl(ca.crt, ['-v', '--resolve', `api.example.test:${gw.tlsPort}:${HOST}`,
    '-o', '-', `https://api.example.test:${gw.tlsPort}/api/v4/echo?sni=1`]);
  assert.equal(r.code, 0, `curl exited ${r.code}: ${r.stderr.slice(-1500)}`);
  assert.match(r.stderr, /subject: CN=api\.example\.test/, r.stderr.slice(-2000));
  assert.match(r.stderr, /ALPN[^\n]*(server accepted|accepted)[^\n]*http\/1\.1/i, r.stderr.slice(-2000));
  const body = JSON.parse(r.stdout.toString('utf8'));
  assert.equal(body.url, '/api/v4/echo?sni=1');
  assert.equal(body.headers['x-forwarded-proto'], 'https');
  const h = await served(gw.tlsPort, 'api.example.test', { ALPNProtocols: ['h2', 'http/1.1'] });
  assert.equal(h.alpn, 'http/1.1', 'ALPN after the context switch');
});

test('a session made under an SNI name is resumed under that name (TLS 1.3 ticket, TLS 1.2)', T, async () => {
  const gw = await gateway();
  for (const v of ['TLSv1.3', 'TLSv1.2']) {
    const o = { minVersion: v, maxVersion: v };
    const first = await served(gw.tlsPort, 'api.example.test', Object.assign({ keepForTicketMs: 200 }, o));
    assert.ok(first.session, `${v}: no session`);
    const again = await served(gw.tlsPort, 'api.example.test', Object.assign({ session: first.session }, o));
    assert.equal(again.reused, true, `${v}: not resumed`);
  }
});

test('a session made under one certificate is not resumed under another name', T, async () => {
  const gw = await gateway();
  for (const v of ['TLSv1.3', 'TLSv1.2']) {
    const o = { minVersion: v, maxVersion: v };
    const first = await served(gw.tlsPort, 'api.example.test', Object.assign({ keepForTicketMs: 200 }, o));
    assert.ok(first.session, `${v}: no session`);
    const other = await served(gw.tlsPort, 'a.wild.example.test', Object.assign({ session: first.session }, o));
    assert.equal(other.reused, false, `${v}: the api.example.test session was resumed for a.wild.example.test`);
    assert.equal(normSerial(other.serial), wild.serial);
  }
});

test('gateway -t: a [tls:NAME] certificate that cannot be loaded or does not match its key is an error at its line', T, async () => {
  const d = tmpDir();
  const garbage = path.join(d, 'garbage.crt');
  fs.writeFileSync(garbage, '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n');
  const cases = [
    { cert: path.join(d, 'missing.crt'), key: api.key, line: 8, re: /cannot load cert .*missing\.crt/ },
    { cert: garbage, key: api.key, line: 8, re: /cannot load cert/ },
    { cert: api.crt, key: wild.key, line: 9, re: /cannot load key|key does not match cert/ },
  ];
  for (const c of cases) {
    const file = path.join(d, 'gw.ini');
    fs.writeFileSync(file, [
      '[server]', `listen = ${HOST}:1`, `tls_listen = ${HOST}:2`, `tls_cert = ${dflt.crt}`, `tls_key = ${dflt.key}`,
      '[tls:api]', 'server_names = api.example.test', `cert = ${c.cert}`, `key = ${c.key}`, '',
    ].join('\n'));
    const r = runGatewaySync(['-t', '-c', file]);
    assert.notEqual(r.code, 0, `-t accepted ${c.cert} / ${c.key}`);
    assert.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${c.line}: `), r.stderr);
    assert.match(r.stderr, c.re, r.stderr);
  }
});

test('SIGHUP: a new [tls:NAME] certificate is served to new clients; a broken one is refused and the old one keeps serving', T, async () => {
  const d = tmpDir();
  const crt = path.join(d, 'api.crt');
  const key = path.join(d, 'api.key');
  fs.copyFileSync(api.crt, crt);
  fs.copyFileSync(api.key, key);
  const gw = await sniGateway({}, sniSections({ crt, key }));
  assert.equal(normSerial((await served(gw.tlsPort, 'api.example.test')).serial), api.serial);

  const api2 = makeLeaf(d, 'api2', ca, { cn: 'api.example.test', dns: ['api.example.test', 'api.other.test'] });
  fs.copyFileSync(api2.crt, crt);
  fs.copyFileSync(api2.key, key);
  await hup(gw, /configuration reloaded/);
  assert.equal(normSerial((await served(gw.tlsPort, 'api.example.test')).serial), api2.serial, 'the new certificate after SIGHUP');

  fs.writeFileSync(crt, 'broken\n');
  await hup(gw, /reload of .* failed/);
  assert.match(gw.stderr(), /cannot load cert/);
  assert.equal(normSerial((await served(gw.tlsPort, 'api.example.test')).serial), api2.serial, 'the running certificate after a failed reload');
  assert.equal(normSerial((await served(gw.tlsPort, 'localhost')).serial), dflt.serial);
});

async function hup(gw, okRe) {
  const len0 = gw.stderr().length;
  gw.child.kill('SIGHUP');
  const deadline = Date.now() + 10000 * SCALE;
  for (let i = 0; i < 10000 && Date.now() < deadline; i++) {
    const tail = gw.stderr().slice(len0);
    if (/SIGHUP: (configuration reloaded|reload of .* failed)/.test(tail)) {
      assert.match(tail, okRe, tail);
      return;
    }
    await sleep(30);
  }
  assert.fail(`no reload outcome logged; stderr:\n${gw.stderr().slice(-2000)}`);
}

// ------------------------------------------------------------ ticket keys

const keyName = (r) => {
  assert.ok(r.ticket && r.ticket.length > 48, `no session ticket received (${r.protocol})`);
  return r.ticket.subarray(0, 16).toString('hex');
};
const TLS12 = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' };

// Polls (bounded) with fresh handshakes until the ticket key changes, so
// that the caller starts right at the beginning of a rotation period.
async function periodStart(port) {
  const first = keyName(await served(port, 'localhost', TLS12));
  const deadline = Date.now() + (ROTATE_S * 1000 + 3000) * SCALE;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    await sleep(50);
    const r = await served(port, 'localhost', TLS12);
    if (keyName(r) !== first) return r;
  }
  assert.fail(`the ticket key did not change within ${ROTATE_S}s (tls_ticket_rotate = ${ROTATE_S}s)`);
  return null;
}

test('tls_ticket_rotate: a new ticket key every period; a ticket opens in the next period (renewed under the new key), not later', { timeout: 60000 * SCALE }, async () => {
  const gw = await sniGateway({ tls_ticket_rotate: `${ROTATE_S}s` });
  const start = await periodStart(gw.tlsPort);
  const t0 = Date.now();
  const name0 = keyName(start);
  // Same period: same key, resumed.
  const same = await served(gw.tlsPort, 'localhost', Object.assign({ session: start.session }, TLS12));
  assert.equal(same.reused, true, 'not resumed in the period it was issued');

  // Well inside the next period.
  await sleep(Math.max(0, t0 + ROTATE_S * 1000 * 1.5 - Date.now()));
  const next = await served(gw.tlsPort, 'localhost', Object.assign({ session: start.session }, TLS12));
  assert.equal(next.reused, true, 'a ticket of the previous period was not accepted');
  const name1 = keyName(next);
  assert.notEqual(name1, name0, 'the ticket was not renewed under the new key');
  assert.equal(name1.slice(0, 16), name0.slice(0, 16), 'key names of one process share their prefix');

  // Two periods on: refused (full handshake, a fresh ticket).
  await sleep(Math.max(0, t0 + ROTATE_S * 1000 * 2.5 - Date.now()));
  const late = await served(gw.tlsPort, 'localhost', Object.assign({ session: start.session }, TLS12));
  assert.equal(late.reused, false, 'a ticket two periods old was accepted');
  assert.notEqual(keyName(late), name0);
});

test('session tickets survive a SIGHUP reload (TLS 1.3 and 1.2)', T, async () => {
  const gw = await sniGateway();
  const sessions = {};
  for (const v of ['TLSv1.3', 'TLSv1.2']) {
    const r = await served(gw.tlsPort, 'api.example.test', { minVersion: v, maxVersion: v, keepForTicketMs: 200 });
    sessions[v] = r.session;
  }
  await hup(gw, /configuration reloaded/);
  for (const v of ['TLSv1.3', 'TLSv1.2']) {
    const r = await served(gw.tlsPort, 'api.example.test', { minVersion: v, maxVersion: v, session: sessions[v] });
    assert.equal(r.reused, true, `${v}: a ticket from before the reload was not accepted`);
  }
});
