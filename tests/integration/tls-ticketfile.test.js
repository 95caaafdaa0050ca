'use strict';
// [server] tls_ticket_key_file (SPEC "Revocation, rate limits and several
// instances"): two gateway processes reading the same 80-byte key file
// resume each other's TLS sessions (TLS 1.3 and 1.2 tickets); one with
// another file, or none, does not; a file of the wrong size is a config
// error naming the line.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { HOST, SCALE } = require('./lib/wire');
const { startUpstream, startGateway, freePort, tmpDir, configText, runGatewaySync } = require('./lib/procs');
const { makeCerts } = require('./lib/tls-certs');
const { handshake } = require('./lib/tls-client');

const T = { timeout: 60000 * SCALE };
let dir; let certs; let api;
const gws = {};

async function start(name, keyFile) {
  const tlsPort = await freePort();
  const gw = await startGateway({
    dir: fs.mkdtempSync(path.join(dir, `${name}-`)),
    server: Object.assign({ tls_listen: `${HOST}:${tlsPort}`, tls_cert: certs.serverRsa.crt, tls_key: certs.serverRsa.key },
      keyFile ? { tls_ticket_key_file: keyFile } : {}),
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
  });
  gw.tlsPort = tlsPort;
  return gw;
}

before(async () => {
  dir = tmpDir();
  certs = makeCerts(dir);
  api = await startUpstream({ name: 'api' });
  fs.writeFileSync(path.join(dir, 'ticket.key'), crypto.randomBytes(80));
  fs.writeFileSync(path.join(dir, 'other.key'), crypto.randomBytes(80));
  gws.a = await start('a', path.join(dir, 'ticket.key'));
  gws.b = await start('b', path.join(dir, 'ticket.key'));
  gws.c = await start('c', path.join(dir, 'other.key'));
  gws.d = await start('d', null);
});
after(async () => {
  for (const g of Object.values(gws)) await g.stop();
  if (api) await api.stop();
});

async function resumedAt(from, to, v) {
  const first = await handshake(from.tlsPort, { ca: certs.ca.pem, minVersion: v, maxVersion: v, keepForTicketMs: 200 });
  assert.ok(first.ok && first.session, `${v}: ${first.error || 'no ticket'}`);
  const second = await handshake(to.tlsPort, { ca: certs.ca.pem, minVersion: v, maxVersion: v, session: first.session });
  assert.ok(second.ok, `${v}: ${second.error}`);
  return second.reused;
}

test('instances sharing a ticket key file resume each other\'s sessions', T, async () => {
  for (const v of ['TLSv1.3', 'TLSv1.2']) {
    assert.equal(await resumedAt(gws.a, gws.b, v), true, `${v}: a -> b not resumed`);
    assert.equal(await resumedAt(gws.b, gws.a, v), true, `${v}: b -> a not resumed`);
  }
});

test('another key file, or none, does not open those tickets', T, async () => {
  for (const v of ['TLSv1.3', 'TLSv1.2']) {
    assert.equal(await resumedAt(gws.a, gws.c, v), false, `${v}: a -> c resumed`);
    assert.equal(await resumedAt(gws.a, gws.d, v), false, `${v}: a -> d resumed`);
  }
});

test('a key file of the wrong size is a config error at its line', T, async () => {
  const bad = path.join(dir, 'short.key');
  fs.writeFileSync(bad, crypto.randomBytes(32));
  const tlsPort = await freePort();
  const { text, where } = configText({ port: await freePort(),
    server: { tls_listen: `${HOST}:${tlsPort}`, tls_cert: certs.serverRsa.crt, tls_key: certs.serverRsa.key, tls_ticket_key_file: bad } });
  const cfg = path.join(dir, 'bad.ini');
  fs.writeFileSync(cfg, text);
  const r = runGatewaySync(['-t', '-c', cfg]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, new RegExp(`bad\\.ini:${where['server.tls_ticket_key_file']}: tls_ticket_key_file .*32 bytes; expected 80`));
});
