'use strict';
// Test certificates made at test time with the openssl CLI (OpenSSL 3.0):
// two CAs, server certificates for localhost + 127.0.0.1, one for another
// host name, an expired one, one from the second CA, a client certificate for
// mTLS. Everything lands in a directory the caller owns (a tmpDir()).
//
// The expired certificate: OpenSSL 3.0's `x509 -req` cannot set a start date
// in the past (no -not_before before 3.4) and refuses negative -days, so it is
// issued with `openssl ca -startdate ... -enddate ...` from a throw-away CA
// database; makeCerts() checks with `openssl verify` that it really is
// reported as expired (and that the good ones verify).
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');

function openssl(args, { cwd, input } = {}) {
  const r = spawnSync('openssl', args, { cwd, input, encoding: 'utf8', timeout: 60000 });
  if (r.error) throw new Error(`openssl ${args.join(' ')}: ${r.error.message}`);
  return { code: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

function must(args, opts) {
  const r = openssl(args, opts);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout}`);
  return r;
}

// Key arguments for `openssl req -newkey`.
function newkeyArgs(kind) {
  if (kind === 'rsa') return ['-newkey', 'rsa:2048'];
  return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

// A random positive serial as hex (upper case, no leading zero byte issues).
function randomSerial() {
  const b = crypto.randomBytes(8);
  b[0] = (b[0] & 0x7f) | 0x10;
  return b.toString('hex').toUpperCase();
}

function makeCa(dir, name, cn, kind) {
  const key = path.join(dir, `${name}.key`);
  const crt = path.join(dir, `${name}.crt`);
  must(['req', '-x509', ...newkeyArgs(kind), '-nodes', '-keyout', key, '-out', crt, '-days', '30',
    '-subj', `/CN=${cn}`, '-set_serial', `0x${randomSerial()}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return { name, key, crt, pem: fs.readFileSync(crt, 'utf8') };
}

function extFile(dir, name, { dns = [], ips = [], usage = 'serverAuth' }) {
  const san = [...dns.map((d) => `DNS:${d}`), ...ips.map((i) => `IP:${i}`)].join(',');
  const p = path.join(dir, `${name}.ext`);
  fs.writeFileSync(p, [
    '[v3]',
    'basicConstraints = critical,CA:FALSE',
    'keyUsage = critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage = ${usage}`,
    san ? `subjectAltName = ${san}` : '',
    '',
  ].join('\n'));
  return p;
}

// A leaf certificate signed by `ca`. opts: cn, dns, ips, usage, kind, serial,
// expired (issued with dates in 2020 through `openssl ca`).
function makeLeaf(dir, name, ca, opts = {}) {
  const { cn = 'localhost', kind = 'ec', expired = false } = opts;
  const serial = opts.serial || randomSerial();
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const crt = path.join(dir, `${name}.crt`);
  must(['req', '-new', ...newkeyArgs(kind), '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${cn}`]);
  const ext = extFile(dir, name, opts);
  if (!expired) {
    must(['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-set_serial', `0x${serial}`,
      '-days', '30', '-sha256', '-extfile', ext, '-extensions', 'v3', '-out', crt]);
  } else {
    // openssl ca with explicit past dates and its own small database.
    const db = path.join(dir, `${name}-cadb`);
    fs.mkdirSync(db, { recursive: true });
    fs.writeFileSync(path.join(db, 'index.txt'), '');
    fs.writeFileSync(path.join(db, 'serial'), `${serial}\n`);
    const cnf = path.join(db, 'ca.cnf');
    fs.writeFileSync(cnf, [
      '[ca]', 'default_ca = testca', '',
      '[testca]',
      `dir = ${db}`,
      'database = $dir/index.txt',
      'new_certs_dir = $dir',
      'serial = $dir/serial',
      'default_md = sha256',
      'policy = anything',
      'unique_subject = no',
      'copy_extensions = none',
      '',
      '[anything]', 'commonName = supplied', '',
    ].join('\n'));
    must(['ca', '-config', cnf, '-batch', '-notext', '-in', csr, '-out', crt, '-cert', ca.crt, '-keyfile', ca.key,
      '-startdate', '20200101000000Z', '-enddate', '20200201000000Z', '-extfile', ext, '-extensions', 'v3']);
  }
  return { name, key, crt, serial: serialOf(crt), pem: fs.readFileSync(crt, 'utf8'), keyPem: fs.readFileSync(key, 'utf8') };
}

// Serial of a PEM certificate file, upper-case hex without leading zeros
// (the form of node's getPeerCertificate().serialNumber).
function serialOf(crtPath) {
  const x = new crypto.X509Certificate(fs.readFileSync(crtPath));
  return x.serialNumber.toUpperCase().replace(/^0+(?=.)/, '');
}

function normSerial(s) { return String(s || '').toUpperCase().replace(/^0+(?=.)/, ''); }

// `openssl verify -CAfile ca crt`: {ok, text}.
function verify(caCrt, crt) {
  const r = openssl(['verify', '-CAfile', caCrt, crt]);
  return { ok: r.code === 0, text: (r.stdout + r.stderr).trim() };
}

// Everything the TLS tests need, in `dir`. kind: 'ec' (fast) or 'rsa'.
function makeCerts(dir, { kind = 'ec' } = {}) {
  const ca = makeCa(dir, 'ca', 'Gateway Test CA', kind);
  const ca2 = makeCa(dir, 'ca2', 'Another Test CA', kind);
  const local = { dns: ['localhost'], ips: ['127.0.0.1'] };
  const c = {
    dir, ca, ca2,
    server: makeLeaf(dir, 'server', ca, { ...local, kind }),
    serverRsa: makeLeaf(dir, 'server-rsa', ca, { ...local, kind: 'rsa' }), // RSA key: ECDHE-RSA suites
    server2: makeLeaf(dir, 'server2', ca, { ...local, kind }), // for rotation: same names, new serial
    expired: makeLeaf(dir, 'expired', ca, { ...local, kind, expired: true }),
    wrongHost: makeLeaf(dir, 'wronghost', ca, { cn: 'wrong.example.test', dns: ['wrong.example.test'], kind }),
    otherCa: makeLeaf(dir, 'otherca', ca2, { ...local, kind }),
    client: makeLeaf(dir, 'client', ca, { cn: 'gateway-client', dns: [], ips: [], usage: 'clientAuth', kind }),
  };
  // Sanity: the fixtures are what their names say.
  for (const n of ['server', 'serverRsa', 'server2', 'wrongHost', 'client']) {
    const v = verify(ca.crt, c[n].crt);
    if (!v.ok) throw new Error(`test certificate ${n} does not verify: ${v.text}`);
  }
  const ve = verify(ca.crt, c.expired.crt);
  if (ve.ok || !/expired/i.test(ve.text)) throw new Error(`the "expired" certificate is not reported expired: ${ve.text}`);
  const vo = verify(ca.crt, c.otherCa.crt);
  if (vo.ok) throw new Error('the other-CA certificate verifies against the test CA');
  if (c.server.serial === c.server2.serial) throw new Error('rotation certificate has the same serial');
  return c;
}

module.exports = { openssl, makeCerts, makeCa, makeLeaf, serialOf, normSerial, verify, randomSerial };
