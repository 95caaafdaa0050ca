'use strict';
// https upstreams limited to one TLS version (hardening issue: a TLS 1.2
// upstream never finished the handshake, every request ended in 502
// "upstream connect timed out"; node peers negotiate TLS 1.3, so nothing else
// in the suite saw it). In TLS 1.2 the client's handshake is not done after
// its second flight (ClientKeyExchange, ChangeCipherSpec, Finished): that
// flight has to go out while the handshake still waits for the server's
// Finished. In TLS 1.3 the client is done when it sends its only reply.
//
// Upstreams, each TLS 1.2-only and TLS 1.3-only:
//   - node https (maxVersion / minVersion), once pooled (keep-alive: later
//     requests reuse the TLS connection) and once with pool_size = 0 (every
//     request a fresh connection and a full handshake);
//   - openssl s_server -www (a non-node TLS stack): it answers HTTP/1.0
//     without a length and closes every connection with close_notify, then
//     FIN, so every request is a fresh connection after the upstream closed
//     the last one, and close_notify is what ends each response (it used to
//     be taken for a TLS failure: the response was cut off). Its page says
//     which version was negotiated.
// The gateway keeps no client TLS sessions for upstreams (its client contexts
// have the session cache off), so there is no resumption to test: fresh
// connections are full handshakes, which is what is checked.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const { HOST, SCALE, sleep, request } = require('./lib/wire');
const { GatewayFixture, freePort, tmpDir } = require('./lib/procs');
const { makeCa, makeLeaf } = require('./lib/tls-certs');
const { TlsUpstream } = require('./lib/tls-servers');

const T = { timeout: 30000 * SCALE };
const N = 4; // requests in a row per case

let dir; let ca; let leaf;
const nodeUps = {}; // '1.2' / '1.3' -> TlsUpstream
const sservers = {}; // '1.2' / '1.3' -> {port, child, out()}
const children = new Set();

process.on('exit', () => { for (const c of children) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } } });

// openssl s_server -www limited to one version; resolves once it listens.
async function startSServer(flag) {
  const port = await freePort();
  const child = spawn('openssl', ['s_server', '-www', flag, '-accept', `${HOST}:${port}`,
    '-cert', leaf.crt, '-key', leaf.key], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { out = (out + d).slice(-65536); });
  child.stderr.on('data', (d) => { out = (out + d).slice(-65536); });
  const deadline = Date.now() + 10000 * SCALE;
  for (let i = 0; i < 100000 && !/^ACCEPT/m.test(out); i++) {
    if (child.exitCode !== null) throw new Error(`openssl s_server ${flag} exited ${child.exitCode}: ${out}`);
    if (Date.now() > deadline) throw new Error(`openssl s_server ${flag} not listening: ${out}`);
    await sleep(20);
  }
  return { port, child, out: () => out };
}

async function stopSServer(s) {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
  const gone = new Promise((r) => s.child.once('exit', r));
  s.child.kill('SIGTERM');
  await Promise.race([gone, sleep(5000)]);
  if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  children.delete(s.child);
}

const up = (name, url, extra = {}) => Object.assign({
  name, prefix: `/${name}`, url, ca_file: ca.crt, connect_timeout: '2s', response_timeout: '5s',
}, extra);

const fx = new GatewayFixture(() => ({
  dir,
  upstreams: [
    up('n12', nodeUps['1.2'].origin),
    up('n12fresh', nodeUps['1.2'].origin, { pool_size: 0 }),
    up('n13', nodeUps['1.3'].origin),
    up('n13fresh', nodeUps['1.3'].origin, { pool_size: 0 }),
    up('s12', `https://localhost:${sservers['1.2'].port}`),
    up('s13', `https://localhost:${sservers['1.3'].port}`),
  ],
}));

before(async () => {
  dir = tmpDir();
  ca = makeCa(dir, 'ca', 'TLS Version Test CA', 'ec');
  leaf = makeLeaf(dir, 'server', ca, { dns: ['localhost'], ips: ['127.0.0.1'] });
  const limits = { '1.2': { maxVersion: 'TLSv1.2' }, '1.3': { minVersion: 'TLSv1.3' } };
  for (const v of ['1.2', '1.3']) {
    const u = new TlsUpstream({ cert: leaf.pem, key: leaf.keyPem, name: `node-tls${v}` });
    Object.assign(u.tlsOpts, limits[v]);
    nodeUps[v] = await u.start();
  }
  sservers['1.2'] = await startSServer('-tls1_2');
  sservers['1.3'] = await startSServer('-tls1_3');
  await fx.ensure();
});

after(async () => {
  await fx.stop();
  for (const u of Object.values(nodeUps)) await u.stop();
  for (const s of Object.values(sservers)) await stopSServer(s);
});

// N requests in a row through prefix; each must be a 200 with a body.
async function inARow(prefix, tag) {
  const gw = await fx.ensure();
  const rs = [];
  for (let i = 0; i < N; i++) {
    const r = await request(gw.port, { path: `/${prefix}/echo?${tag}=${i}` });
    assert.equal(r.status, 200, `request ${i + 1} of ${N} via /${prefix}: ${r.status} ${r.body.toString('utf8').slice(0, 300)}`);
    rs.push(r);
  }
  return rs;
}

for (const v of ['1.2', '1.3']) {
  const id = v.replace('.', '');
  const proto = `TLSv${v}`;

  test(`node TLS ${v}-only upstream, pooled: ${N} requests in a row answer 200 over ${proto}, the connection reused`, T, async () => {
    const u = nodeUps[v];
    const hs0 = u.connections;
    const rs = await inARow(`n${id}`, 'pooled');
    const conns = new Set();
    for (const r of rs) {
      const e = r.json();
      assert.equal(e.upstream, `node-tls${v}`);
      assert.equal(e.protocol, proto, 'negotiated version at the upstream');
      conns.add(e.conn);
    }
    // Sequential requests: each finds the previous one's connection idle.
    assert.equal(conns.size, 1, `requests spread over upstream connections ${[...conns]}`);
    assert.ok(u.connections - hs0 <= 1, `${u.connections - hs0} handshakes for ${N} pooled requests`);
  });

  test(`node TLS ${v}-only upstream, pool_size = 0: ${N} requests in a row answer 200, each on a fresh ${proto} connection`, T, async () => {
    const u = nodeUps[v];
    const hs0 = u.connections;
    const rs = await inARow(`n${id}fresh`, 'fresh');
    const conns = new Set();
    for (const r of rs) {
      const e = r.json();
      assert.equal(e.protocol, proto, 'negotiated version at the upstream');
      conns.add(e.conn);
    }
    assert.equal(conns.size, N, `upstream connection ids ${[...conns]}: a connection was reused with pool_size = 0`);
    assert.ok(u.connections - hs0 >= N, `${u.connections - hs0} finished handshakes for ${N} fresh connections`);
  });

  test(`openssl s_server -www -tls1_${v.slice(2)}: ${N} requests in a row answer 200, each after the upstream closed the last connection`, T, async () => {
    const rs = await inARow(`s${id}`, 'sserver');
    for (const r of rs) {
      const page = r.body.toString('utf8');
      // s_server's status page names the session: "New, TLSv1.2, Cipher is ...".
      assert.match(page, new RegExp(`New, ${proto.replace('.', '\\.')}, Cipher is `), `s_server page: ${page.slice(-400)}`);
    }
  });
}

test('the gateway is still running (no crash during the tests)', T, async () => {
  assert.ok(fx.gw && !fx.gw.exited(), `gateway exited; stderr: ${fx.gw && fx.gw.stderr().slice(-2000)}`);
  assert.deepEqual(fx.crashes, [], 'gateway crashes');
});
