'use strict';
// The systemd units (systemd/gateway.service, systemd/gateway.socket, the
// drop-in systemd/gateway-tls.conf):
// `systemd-analyze verify` on copies pointing at the binary under test and a
// temp config, their paths against what `make install PREFIX=/usr/local`
// does, the settings they must keep, the `systemd-analyze security` exposure
// score, and the two protocols the units rely on, exercised without systemd
// as PID 1: sd_notify (READY / RELOADING / STOPPING datagrams to
// NOTIFY_SOCKET, received by a perl script: node has no AF_UNIX datagram
// sockets and perl-base is Essential on Debian) and socket activation
// (systemd-socket-activate binds the port and execs the gateway with
// LISTEN_FDS).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const { HOST, SCALE, sleep, request } = require('./lib/wire');
const { makeKey, jwks } = require('./lib/tokens');
const { makeCa, makeLeaf } = require('./lib/tls-certs');
const {
  REPO, GATEWAY_BIN, tmpDir, freePorts, startUpstream, configText, publicPolicy, waitExit,
  stopChild, getStatus,
} = require('./lib/procs');

const T = { timeout: 60000 * SCALE };
const SERVICE = path.join(REPO, 'systemd', 'gateway.service');
const SOCKET = path.join(REPO, 'systemd', 'gateway.socket');
const EXAMPLE_INI = path.join(REPO, 'conf', 'gateway.example.ini');
const PREFIX_BIN = '/usr/local/bin/gateway';
const PREFIX_CONF = '/usr/local/etc/gateway/gateway.ini';

let api;
const mine = new Set(); // processes started here, stopped in after()
before(async () => { api = await startUpstream({ name: 'api' }); });
after(async () => {
  for (const c of mine) await stopChild(c, { signal: 'SIGKILL' });
  if (api) await api.stop();
});

function track(child) {
  mine.add(child);
  return child;
}

// [section] -> [[key, value], ...] (keys may repeat); comments and blank lines skipped.
function parseUnit(text) {
  const out = {};
  let sec = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) { sec = m[1]; out[sec] = out[sec] || []; continue; }
    const eq = line.indexOf('=');
    assert.ok(sec && eq > 0, `unit line outside a section or without '=': ${line}`);
    out[sec].push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return out;
}
const values = (unit, sec, key) => (unit[sec] || []).filter(([k]) => k === key).map(([, v]) => v);
const one = (unit, sec, key) => {
  const v = values(unit, sec, key);
  assert.equal(v.length, 1, `[${sec}] ${key}= appears ${v.length} times`);
  return v[0];
};

function durationMs(s) {
  const m = /^(\d+)\s*(ms|s|sec|m|min|h)?$/.exec(s.trim());
  assert.ok(m, `not a duration: ${s}`);
  const mult = { ms: 1, s: 1000, sec: 1000, m: 60000, min: 60000, h: 3600000 }[m[2] || 's'];
  return Number(m[1]) * mult;
}

// `key = value` of [section] in an INI file (first occurrence), or undefined.
function iniValue(file, section, key) {
  let sec = null;
  for (const raw of fs.readFileSync(file, 'utf8').split('\n')) {
    const line = raw.replace(/\s;.*$/, '').trim();
    if (!line || line.startsWith(';') || line.startsWith('#')) continue;
    const m = /^\[(.+)\]$/.exec(line);
    if (m) { sec = m[1]; continue; }
    const eq = line.indexOf('=');
    if (sec === section && eq > 0 && line.slice(0, eq).trim() === key) return line.slice(eq + 1).trim();
  }
  return undefined;
}

const service = () => parseUnit(fs.readFileSync(SERVICE, 'utf8'));
const socket = () => parseUnit(fs.readFileSync(SOCKET, 'utf8'));

function haveTool(name) {
  return spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
}

// A valid config in a temp dir, for -t and for the units' copies.
async function tempConfig(dir, server = {}, extra = '') {
  const [port, adminPort] = await freePorts(2);
  const { text } = configText({
    port, adminPort, policyFile: publicPolicy(dir), server, extra,
    upstreams: [{ name: 'api', prefix: '/api/v4', url: api.url }],
  });
  const file = path.join(dir, 'gateway.ini');
  fs.writeFileSync(file, text);
  return { file, port, adminPort };
}

// Copies of both units in dir, pointing at GATEWAY_BIN and configFile.
function unitCopies(dir, configFile) {
  const fix = (t) => t.split(PREFIX_BIN).join(GATEWAY_BIN).split(PREFIX_CONF).join(configFile);
  const svc = path.join(dir, 'gateway.service');
  const sock = path.join(dir, 'gateway.socket');
  fs.writeFileSync(svc, fix(fs.readFileSync(SERVICE, 'utf8')));
  fs.writeFileSync(sock, fs.readFileSync(SOCKET, 'utf8'));
  return { svc, sock };
}

function analyze(args) {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8', timeout: 60000 * SCALE });
  return { code: r.status, stdout: r.stdout || '', stderr: r.stderr || '', error: r.error };
}

// ---- the unit files as written --------------------------------------------

test('systemd-analyze is installed (Debian package systemd)', T, () => {
  assert.ok(haveTool('systemd-analyze'), 'systemd-analyze not found: apt-get install systemd');
});

test('gateway.service: Type=notify, ExecStartPre runs -t, ExecStart -c, ExecReload sends SIGHUP, Restart=on-failure', T, () => {
  const u = service();
  assert.equal(one(u, 'Service', 'Type'), 'notify');
  assert.equal(one(u, 'Service', 'ExecStartPre'), `${PREFIX_BIN} -t -c ${PREFIX_CONF}`);
  assert.equal(one(u, 'Service', 'ExecStart'), `${PREFIX_BIN} -c ${PREFIX_CONF}`);
  assert.equal(one(u, 'Service', 'ExecReload'), '/bin/kill -HUP $MAINPID');
  assert.equal(one(u, 'Service', 'Restart'), 'on-failure');
  assert.ok(durationMs(one(u, 'Service', 'RestartSec')) > 0, 'RestartSec');
  assert.deepEqual(values(u, 'Install', 'WantedBy'), ['multi-user.target']);
});

test('gateway.service: TimeoutStopSec is above the drain_timeout of the shipped config', T, () => {
  const stop = durationMs(one(service(), 'Service', 'TimeoutStopSec'));
  const drain = durationMs(iniValue(EXAMPLE_INI, 'server', 'drain_timeout') || '30s');
  assert.ok(stop > drain, `TimeoutStopSec ${stop} ms <= drain_timeout ${drain} ms`);
});

test('gateway.service: the hardening settings are all there', T, () => {
  const u = service();
  const want = {
    DynamicUser: 'yes', NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes',
    PrivateTmp: 'yes', PrivateDevices: 'yes', ProtectKernelTunables: 'yes',
    ProtectKernelModules: 'yes', ProtectKernelLogs: 'yes', ProtectControlGroups: 'yes',
    ProtectClock: 'yes', ProtectHostname: 'yes', RestrictNamespaces: 'yes', RestrictRealtime: 'yes',
    RestrictSUIDSGID: 'yes', LockPersonality: 'yes', MemoryDenyWriteExecute: 'yes',
    SystemCallArchitectures: 'native', CapabilityBoundingSet: 'CAP_NET_BIND_SERVICE',
    AmbientCapabilities: 'CAP_NET_BIND_SERVICE', RestrictAddressFamilies: 'AF_INET AF_INET6 AF_UNIX',
    LimitNOFILE: '65536',
  };
  for (const [k, v] of Object.entries(want)) assert.equal(one(u, 'Service', k), v, `${k}=`);
  assert.deepEqual(values(u, 'Service', 'SystemCallFilter'), ['@system-service', '~@privileged @resources']);
  assert.match(one(u, 'Service', 'UMask'), /^0[0-7]77$/, 'UMask keeps group and others out');
});

test('the units\' paths are where `make install PREFIX=/usr/local` puts the binary, the config, the policies and the units', T, () => {
  const r = spawnSync('make', ['-n', '--no-print-directory', 'install', 'PREFIX=/usr/local', 'DESTDIR=/DESTDIR'],
    { cwd: REPO, encoding: 'utf8', timeout: 60000 * SCALE });
  assert.equal(r.status, 0, `make -n install: ${r.stderr}`);
  const cmds = r.stdout;
  assert.match(cmds, new RegExp(`/DESTDIR${PREFIX_BIN}(\\s|$)`, 'm'), `binary not installed at ${PREFIX_BIN}:\n${cmds}`);
  assert.ok(cmds.includes(`/DESTDIR${PREFIX_CONF}`), `config not installed at ${PREFIX_CONF}:\n${cmds}`);
  assert.ok(cmds.includes('/DESTDIR/usr/local/etc/gateway/policies'), `policies dir:\n${cmds}`);
  assert.ok(cmds.includes('/DESTDIR/usr/local/lib/systemd/system'), `unit dir:\n${cmds}`);
  assert.ok(cmds.includes('systemd/gateway.service') && cmds.includes('systemd/gateway.socket'), 'both units installed');
  // the installed config's policy is one that make install puts in policies/
  const pol = iniValue(EXAMPLE_INI, 'policy', 'file');
  assert.ok(pol, 'conf/gateway.example.ini names a policy');
  const installedPolicy = path.posix.join('/usr/local/etc/gateway', pol);
  assert.ok(cmds.includes(`/DESTDIR${path.posix.dirname(installedPolicy)}`) && fs.existsSync(path.join(REPO, 'policies', path.basename(pol))),
    `${installedPolicy} is not installed by make install`);
});

test('gateway.socket listens exactly where the shipped config does ([server] listen and [admin] listen)', T, () => {
  const u = socket();
  const listen = values(u, 'Socket', 'ListenStream');
  assert.ok(listen.includes(iniValue(EXAMPLE_INI, 'server', 'listen')), `ListenStream ${listen} lacks [server] listen`);
  const admin = iniValue(EXAMPLE_INI, 'admin', 'listen');
  if (admin) assert.ok(listen.includes(admin), `ListenStream ${listen} lacks [admin] listen`);
  assert.equal(one(u, 'Socket', 'Accept'), 'no');
  assert.equal(one(u, 'Socket', 'BindIPv6Only'), 'ipv6-only', 'IPv6 sockets IPv6-only, like the gateway\'s own');
  assert.deepEqual(values(u, 'Install', 'WantedBy'), ['sockets.target']);
});

// ---- systemd-analyze ---------------------------------------------------------

test('systemd-analyze verify passes on gateway.service and gateway.socket, without a warning', T, async () => {
  assert.ok(haveTool('systemd-analyze'), 'systemd-analyze not installed');
  const dir = tmpDir();
  const { file } = await tempConfig(dir);
  const { svc, sock } = unitCopies(dir, file);
  const r = analyze(['verify', svc, sock]);
  const ours = (r.stdout + r.stderr).split('\n').filter((l) => /gateway\.(service|socket)|\/gw-it-/.test(l));
  assert.equal(r.code, 0, `systemd-analyze verify exited ${r.code}:\n${r.stdout}${r.stderr}`);
  assert.deepEqual(ours, [], 'warnings about our units');
});

test('systemd-analyze verify is live here: it rejects a missing binary and reports an unknown setting', T, async () => {
  assert.ok(haveTool('systemd-analyze'), 'systemd-analyze not installed');
  const dir = tmpDir();
  const { file } = await tempConfig(dir);
  const { svc } = unitCopies(dir, file);
  const good = fs.readFileSync(svc, 'utf8');
  fs.writeFileSync(svc, good.split(GATEWAY_BIN).join(path.join(dir, 'no-such-gateway')));
  const r1 = analyze(['verify', svc]);
  assert.notEqual(r1.code, 0, 'a missing ExecStart binary passed verify');
  assert.match(r1.stderr, /no-such-gateway/);
  fs.writeFileSync(svc, good.replace('[Service]\n', '[Service]\nProtectEverythng=yes\n'));
  const r2 = analyze(['verify', svc]);
  assert.match(r2.stderr, /Unknown key.*ProtectEverythng/, 'a misspelt setting went unnoticed');
});

// ---- the TLS drop-in: LoadCredential= under DynamicUser ----------------------

const TLS_DROPIN = path.join(REPO, 'systemd', 'gateway-tls.conf');
const CRED_DIR = '/run/credentials/gateway.service';

// LoadCredential=NAME:SOURCE lines of the drop-in, and the gateway.ini lines
// its comment tells the operator to write (`#   key = value` under `#   [server]`).
function tlsDropin() {
  const text = fs.readFileSync(TLS_DROPIN, 'utf8');
  const creds = values(parseUnit(text), 'Service', 'LoadCredential').map((v) => {
    const i = v.indexOf(':');
    return { name: v.slice(0, i), source: v.slice(i + 1) };
  });
  const ini = {};
  let inServer = false;
  for (const line of text.split('\n')) {
    if (/^#\s+\[server\]\s*$/.test(line)) { inServer = true; continue; }
    const m = /^#\s+([a-z_]+) = (\S+)\s*$/.exec(line);
    if (inServer && m) ini[m[1]] = m[2];
    else if (inServer) inServer = false;
  }
  return { creds, ini };
}

test('gateway-tls.conf: the key and certificate come as credentials, and the config it shows names exactly those', T, () => {
  const { creds, ini } = tlsDropin();
  assert.deepEqual(creds.map((c) => c.name).sort(), ['tls.crt', 'tls.key']);
  for (const c of creds) assert.ok(path.isAbsolute(c.source), `credential source ${c.source} is absolute`);
  assert.equal(ini.tls_cert, `${CRED_DIR}/tls.crt`);
  assert.equal(ini.tls_key, `${CRED_DIR}/tls.key`);
  assert.ok(ini.tls_listen, 'the example enables a TLS listener');
  assert.equal(one(service(), 'Service', 'DynamicUser'), 'yes', 'the drop-in is for the DynamicUser unit');
});

test('systemd-analyze verify passes on gateway.service with the TLS drop-in, and reads the drop-in', T, async () => {
  assert.ok(haveTool('systemd-analyze'), 'systemd-analyze not installed');
  const dir = tmpDir();
  const { file } = await tempConfig(dir);
  const { svc } = unitCopies(dir, file);
  const dropDir = path.join(dir, 'gateway.service.d');
  fs.mkdirSync(dropDir);
  const conf = path.join(dropDir, 'tls.conf');
  const text = fs.readFileSync(TLS_DROPIN, 'utf8');
  fs.writeFileSync(conf, text);
  const r = analyze(['verify', svc]);
  const ours = (r.stdout + r.stderr).split('\n').filter((l) => /gateway\.(service|socket)|\/gw-it-/.test(l));
  assert.equal(r.code, 0, `systemd-analyze verify exited ${r.code}:\n${r.stdout}${r.stderr}`);
  assert.deepEqual(ours, [], 'warnings about the unit or the drop-in');
  // live: the same place with a misspelt setting is reported, so the drop-in was read
  fs.writeFileSync(conf, text.replace('[Service]\n', '[Service]\nLoadCredentail=x:/y\n'));
  const r2 = analyze(['verify', svc]);
  assert.match(r2.stderr, /tls\.conf.*Unknown key.*LoadCredentail/, `the drop-in was not read:\n${r2.stderr}`);
});

test('the config gateway-tls.conf shows passes `gateway -t` with the credentials where systemd puts them', T, async () => {
  // systemd is not PID 1 here: a directory stands in for /run/credentials/gateway.service
  const { creds, ini } = tlsDropin();
  const dir = tmpDir();
  const credDir = path.join(dir, 'credentials');
  fs.mkdirSync(credDir, { mode: 0o700 });
  const ca = makeCa(dir, 'ca', 'Credential Test CA', 'ec');
  const leaf = makeLeaf(dir, 'server', ca, { dns: ['localhost'], ips: ['127.0.0.1'], kind: 'ec' });
  const src = { 'tls.crt': leaf.crt, 'tls.key': leaf.key };
  for (const c of creds) fs.copyFileSync(src[c.name], path.join(credDir, c.name));
  const [tlsPort] = await freePorts(1);
  const at = (v) => v.split(CRED_DIR).join(credDir);
  const { file } = await tempConfig(dir, {
    tls_listen: `${HOST}:${tlsPort}`, tls_cert: at(ini.tls_cert), tls_key: at(ini.tls_key),
  });
  const r = spawnSync(GATEWAY_BIN, ['-T', '-c', file], { encoding: 'utf8', timeout: 20000 * SCALE });
  assert.equal(r.status, 0, `gateway -T: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /configuration ok/);
  // and it really reads them: without the key the check fails, naming it
  fs.unlinkSync(path.join(credDir, 'tls.key'));
  const r2 = spawnSync(GATEWAY_BIN, ['-t', '-c', file], { encoding: 'utf8', timeout: 20000 * SCALE });
  assert.equal(r2.status, 1, `without the key: ${r2.stdout}${r2.stderr}`);
  assert.match(r2.stderr, /tls\.key/);
});

test('the ExecStartPre command line checks a valid configuration: exit 0, "configuration ok"', T, async () => {
  const dir = tmpDir();
  const { file } = await tempConfig(dir);
  const pre = one(service(), 'Service', 'ExecStartPre').split(/\s+/);
  assert.equal(pre[0], PREFIX_BIN);
  const args = pre.slice(1).map((a) => (a === PREFIX_CONF ? file : a));
  const r = spawnSync(GATEWAY_BIN, args, { encoding: 'utf8', timeout: 20000 * SCALE });
  assert.equal(r.status, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout + r.stderr, /configuration ok/);
});

test('systemd-analyze security: exposure level of gateway.service is 2.0 or lower ("OK")', T, async (t) => {
  assert.ok(haveTool('systemd-analyze'), 'systemd-analyze not installed');
  const dir = tmpDir();
  const { file } = await tempConfig(dir);
  const { svc } = unitCopies(dir, file);
  const r = analyze(['security', '--offline=yes', '--no-pager', svc]);
  const m = /Overall exposure level for gateway\.service: ([\d.]+) (\S+)/.exec(r.stdout + r.stderr);
  if (r.code !== 0 || !m) {
    t.skip(`systemd-analyze security --offline cannot run here (exit ${r.code}): ${(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' / ')}`);
    return;
  }
  t.diagnostic(`systemd-analyze security: exposure ${m[1]} ${m[2]}`);
  assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} ${m[2]} (was 1.6 OK when the unit was written)`);
});

// ---- the protocols behind Type=notify and gateway.socket ---------------------

// perl: bind an AF_UNIX datagram socket at $ARGV[0], print each datagram in hex.
const RECEIVER = `
use strict; use IO::Socket::UNIX; use Socket;
$| = 1;
my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $ARGV[0]) or die "bind: $!";
print "BOUND\\n";
while (1) { my $b; defined($s->recv($b, 65536)) or die "recv: $!"; print unpack("H*", $b), "\\n"; }
`;

function startReceiver(sockPath) {
  const child = track(spawn('perl', ['-e', RECEIVER, sockPath], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const msgs = [];
  let buf = '';
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const bound = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === 'BOUND') resolve();
        else msgs.push(Buffer.from(line, 'hex').toString('utf8'));
      }
    });
    child.once('exit', (code) => reject(new Error(`perl receiver exited ${code}: ${err}`)));
  });
  return { child, msgs, bound };
}

async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('sd_notify: READY=1 once serving, RELOADING=1 + MONOTONIC_USEC then READY=1 around SIGHUP, STOPPING=1 on SIGTERM', T, async () => {
  assert.ok(haveTool('perl'), 'perl not installed');
  const dir = tmpDir();
  const { file, port, adminPort } = await tempConfig(dir);
  const rx = startReceiver(path.join(dir, 'notify'));
  await rx.bound;
  const gw = track(spawn(GATEWAY_BIN, ['-c', file], {
    stdio: ['ignore', 'ignore', 'pipe'], env: Object.assign({}, process.env, { NOTIFY_SOCKET: path.join(dir, 'notify') }),
  }));
  let stderr = '';
  gw.stderr.on('data', (d) => { stderr += d; });
  const lines = (m) => m.split('\n');
  const ctx = () => `\nmessages: ${JSON.stringify(rx.msgs)}\ngateway stderr:\n${stderr}`;
  try {
    await waitFor('READY=1', () => rx.msgs.some((m) => lines(m).includes('READY=1')), 15000 * SCALE)
      .catch((e) => { throw new Error(e.message + ctx()); });
    // READY=1 means serving: both listeners answer at once
    assert.equal(await getStatus(adminPort, '/healthz'), 200, 'admin listener not up at READY=1');
    const res = await request(port, { path: '/api/v4/ready-check' });
    assert.equal(res.status, 200, 'main listener not serving at READY=1');
    assert.ok(!rx.msgs.some((m) => /^(RELOADING|STOPPING)=1$/m.test(m)), `unexpected state before SIGHUP${ctx()}`);

    const before = rx.msgs.length;
    const monoBefore = process.hrtime.bigint() / 1000n;
    gw.kill('SIGHUP');
    await waitFor('RELOADING=1 then READY=1 after SIGHUP', () => {
      const after = rx.msgs.slice(before);
      const r = after.findIndex((m) => lines(m).includes('RELOADING=1'));
      return r >= 0 && after.slice(r + 1).some((m) => lines(m).includes('READY=1'));
    }, 15000 * SCALE).catch((e) => { throw new Error(e.message + ctx()); });
    const reloading = rx.msgs.slice(before).find((m) => lines(m).includes('RELOADING=1'));
    const mono = /^MONOTONIC_USEC=(\d+)$/m.exec(reloading);
    assert.ok(mono, `RELOADING=1 without MONOTONIC_USEC (systemd >= 253 Type=notify-reload wants it): ${JSON.stringify(reloading)}`);
    const usec = BigInt(mono[1]);
    assert.ok(usec >= monoBefore && usec <= process.hrtime.bigint() / 1000n, `MONOTONIC_USEC ${usec} is not CLOCK_MONOTONIC now (${monoBefore})`);

    const beforeStop = rx.msgs.length;
    gw.kill('SIGTERM');
    const ex = await waitExit(gw, 15000 * SCALE);
    assert.deepEqual(ex, { code: 0, signal: null }, `exit after SIGTERM${ctx()}`);
    await sleep(100);
    assert.ok(rx.msgs.slice(beforeStop).some((m) => lines(m).includes('STOPPING=1')), `no STOPPING=1 after SIGTERM${ctx()}`);
  } finally {
    await stopChild(gw, { signal: 'SIGKILL' });
    await stopChild(rx.child, { signal: 'SIGKILL' });
  }
});

// A JWKS endpoint answering 500 until ok = true, then the key set.
async function jwksEndpoint(doc) {
  const st = { ok: false, fetches: 0 };
  const server = http.createServer((req, res) => {
    st.fetches++;
    req.resume();
    const body = Buffer.from(st.ok ? JSON.stringify(doc) : '{"error":"down"}');
    res.writeHead(st.ok ? 200 : 500, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  st.url = `http://${HOST}:${server.address().port}/jwks.json`;
  st.stop = () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); });
  return st;
}

test('sd_notify: with a jwks_uri issuer, READY=1 waits for its first key set (none while /readyz is 503)', T, async () => {
  assert.ok(haveTool('perl'), 'perl not installed');
  const keys = await jwksEndpoint(jwks(makeKey('p256', 'k1')));
  const dir = tmpDir();
  const { file, adminPort } = await tempConfig(dir, {}, [
    '[resource]', 'identifier = https://gateway.test', '',
    '[issuer:login]', 'iss = https://login.test', `jwks_uri = ${keys.url}`, '',
  ].join('\n'));
  const rx = startReceiver(path.join(dir, 'notify'));
  await rx.bound;
  const gw = track(spawn(GATEWAY_BIN, ['-c', file], {
    stdio: ['ignore', 'ignore', 'pipe'], env: Object.assign({}, process.env, { NOTIFY_SOCKET: path.join(dir, 'notify') }),
  }));
  let stderr = '';
  gw.stderr.on('data', (d) => { stderr += d; });
  const ready = () => rx.msgs.some((m) => m.split('\n').includes('READY=1'));
  const ctx = () => `\nmessages: ${JSON.stringify(rx.msgs)}\ngateway stderr:\n${stderr}`;
  try {
    await waitFor('a failed JWKS fetch', () => keys.fetches >= 1, 10000 * SCALE);
    await waitFor('/healthz 200', async () => (await getStatus(adminPort, '/healthz')) === 200, 10000 * SCALE);
    assert.equal(await getStatus(adminPort, '/readyz'), 503, `/readyz before any key set${ctx()}`);
    await sleep(300);
    assert.ok(!ready(), `READY=1 sent before the issuer had keys${ctx()}`);
    keys.ok = true;
    await waitFor('READY=1 after the key set loaded', ready, 20000 * SCALE)
      .catch((e) => { throw new Error(e.message + ctx()); });
    assert.equal(await getStatus(adminPort, '/readyz'), 200, `/readyz at READY=1${ctx()}`);
  } finally {
    await stopChild(gw, { signal: 'SIGKILL' });
    await stopChild(rx.child, { signal: 'SIGKILL' });
    await keys.stop();
  }
});

test('socket activation: with 2 workers the gateway serves on the socket systemd-socket-activate passed (LISTEN_FDS), not its own', T, async () => {
  assert.ok(haveTool('systemd-socket-activate'), 'systemd-socket-activate not installed (Debian package systemd)');
  const dir = tmpDir();
  const { file, port, adminPort } = await tempConfig(dir, { workers: 2 });
  // systemd-socket-activate binds port (no SO_REUSEPORT: a gateway binding
  // its own socket there would fail with EADDRINUSE and exit 2), waits for
  // the first connection, then execs the gateway in place (same pid) with
  // LISTEN_PID/LISTEN_FDS=1 and the socket as fd 3.
  const ssa = track(spawn('systemd-socket-activate', ['-l', `${HOST}:${port}`, GATEWAY_BIN, '-c', file],
    { stdio: ['ignore', 'ignore', 'pipe'] }));
  let stderr = '';
  ssa.stderr.on('data', (d) => { stderr += d; });
  try {
    await waitFor('systemd-socket-activate listening', () => /Listening on/.test(stderr), 10000 * SCALE);
    const results = [];
    for (let i = 0; i < 8; i++) {
      const r = await request(port, { path: `/api/v4/activated/${i}`, timeoutMs: 15000 * SCALE })
        .catch((e) => ({ status: 0, error: e.message }));
      results.push(r.status);
    }
    assert.deepEqual(results, Array(8).fill(200), `requests on the passed socket\nstderr:\n${stderr}`);
    assert.equal(await getStatus(adminPort, '/healthz'), 200, 'the admin listener (not passed) is bound by the gateway');
    assert.equal(ssa.exitCode, null, `the gateway exited\nstderr:\n${stderr}`);
    ssa.kill('SIGTERM');
    const ex = await waitExit(ssa, 15000 * SCALE);
    assert.deepEqual(ex, { code: 0, signal: null }, `exit after SIGTERM\nstderr:\n${stderr}`);
  } finally {
    await stopChild(ssa, { signal: 'SIGKILL' });
  }
});
