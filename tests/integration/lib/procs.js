'use strict';
// Process helpers: free ports, the test upstream (tests/servers/upstream.js),
// the gateway under test (GATEWAY_BIN) with a generated config. Every process
// started here is recorded and stopped by its PID (child.kill), also when the
// test process exits early.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const net = require('node:net');
const http = require('node:http');
const { spawn, spawnSync } = require('node:child_process');
const { HOST, SCALE, sleep } = require('./wire');

const REPO = path.resolve(__dirname, '..', '..', '..');
const UPSTREAM_JS = path.join(REPO, 'tests', 'servers', 'upstream.js');
const GATEWAY_BIN = process.env.GATEWAY_BIN ? path.resolve(process.env.GATEWAY_BIN) : path.join(REPO, 'build', 'gateway');

const children = new Set();
const tmpDirs = new Set();
function cleanupAll() {
  for (const c of children) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } }
  children.clear();
  for (const d of tmpDirs) { try { fs.rmSync(d, { recursive: true, force: true }); } catch (e) { /* ignore */ } }
  tmpDirs.clear();
}
process.on('exit', cleanupAll);
// Killed from outside (e.g. tests/run.sh's timeout): stop our children first.
for (const [sig, n] of [['SIGTERM', 15], ['SIGINT', 2], ['SIGHUP', 1]]) {
  process.once(sig, () => { cleanupAll(); process.exit(128 + n); });
}

function tmpDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-it-'));
  tmpDirs.add(d);
  return d;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function freePorts(n) {
  // Hold all listeners open until every port is known, so they differ.
  const servers = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      await new Promise((res, rej) => { s.on('error', rej); s.listen(0, HOST, res); });
      servers.push(s);
    }
    return servers.map((s) => s.address().port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

// Resolves with the exit {code, signal} of a child, or null after timeoutMs.
function waitExit(child, timeoutMs) {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => {
    const t = setTimeout(() => { child.removeListener('exit', on); resolve(null); }, timeoutMs);
    const on = (code, signal) => { clearTimeout(t); resolve({ code, signal }); };
    child.once('exit', on);
  });
}

// Stops a child by PID: signal, wait, then SIGKILL. Resolves the exit info.
async function stopChild(child, { signal = 'SIGTERM', timeoutMs = 8000 * SCALE } = {}) {
  if (!child) return null;
  if (child.exitCode !== null || child.signalCode !== null) { children.delete(child); return { code: child.exitCode, signal: child.signalCode }; }
  try { child.kill(signal); } catch (e) { /* gone */ }
  let r = await waitExit(child, timeoutMs);
  if (!r) {
    try { child.kill('SIGKILL'); } catch (e) { /* gone */ }
    r = await waitExit(child, 5000);
  }
  children.delete(child);
  return r;
}

// ---- upstream ----
// Starts tests/servers/upstream.js; resolves {port, child, url, stats(), reset(), stop()}.
async function startUpstream({ name = 'upstream', keepAliveTimeout, demo = false, port: want = 0 } = {}) {
  const args = [UPSTREAM_JS, '--port', String(want), '--name', name, '--exit-with-stdin'];
  if (keepAliveTimeout !== undefined) args.push('--keep-alive-timeout', String(keepAliveTimeout));
  if (demo) args.push('--demo');
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 65536) stderr = stderr.slice(-65536); });
  const port = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`upstream did not start: ${stderr}`)), 10000 * SCALE);
    child.stdout.on('data', (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(t);
        try { resolve(JSON.parse(buf.slice(0, nl)).port); } catch (e) { reject(e); }
      }
    });
    child.once('exit', (code) => { clearTimeout(t); reject(new Error(`upstream exited ${code}: ${stderr}`)); });
  });
  child.stdout.resume();
  const up = {
    name, port, child, url: `http://${HOST}:${port}`,
    stderr: () => stderr,
    async stats() { return getJson(port, '/__stats'); },
    async reset() { return getJson(port, '/__reset'); },
    stop() { return stopChild(child); },
  };
  return up;
}

function getJson(port, p, timeoutMs = 5000 * SCALE) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: HOST, port, path: p, agent: false }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => { try { resolve(JSON.parse(b)); } catch (e) { reject(e); } });
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
  });
}

function getStatus(port, p, timeoutMs = 2000 * SCALE) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: p, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
      res.on('error', () => resolve(0));
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

// ---- gateway config ----
const PUBLIC_POLICY = '[* /**]\nauth = none\n';

// Absolute path of the public policy: the repo's policies/public.ini when it
// exists, else a copy with the same content in `dir`.
function publicPolicy(dir) {
  const p = path.join(REPO, 'policies', 'public.ini');
  if (fs.existsSync(p)) return p;
  const mine = path.join(dir, 'public.ini');
  fs.writeFileSync(mine, PUBLIC_POLICY);
  return mine;
}

// Builds gateway.ini text. `server` keys override the defaults below;
// upstreams: [{name, prefix, url, ...other keys}]. Returns {text, lines} where
// lines maps "section.key" to its 1-based line number.
function configText({ port, adminPort, server = {}, upstreams = [], policyFile, log = {}, extra = '' }) {
  const lines = [];
  const where = {};
  const section = (name, kv) => {
    lines.push(`[${name}]`);
    where[name] = lines.length;
    for (const [k, v] of Object.entries(kv)) {
      if (v === undefined || v === null) continue;
      lines.push(`${k} = ${v}`);
      where[`${name}.${k}`] = lines.length;
    }
    lines.push('');
  };
  section('server', Object.assign({
    listen: `${HOST}:${port}`,
    workers: 1,
    max_header_bytes: '8k',
    header_timeout: '1s',
    idle_timeout: '2s',
    drain_timeout: '5s',
    max_headers: 50,
    max_connections: 100,
  }, server));
  for (const u of upstreams) {
    const { name, ...kv } = u;
    section(`upstream:${name}`, Object.assign({ connect_timeout: '1s', response_timeout: '1s' }, kv));
  }
  if (policyFile) section('policy', { file: policyFile });
  if (adminPort) section('admin', { listen: `${HOST}:${adminPort}` });
  section('log', Object.assign({ level: 'info', access: '-' }, log));
  let text = lines.join('\n');
  if (extra) text += extra.endsWith('\n') ? extra : extra + '\n';
  return { text, where };
}

// Runs GATEWAY_BIN synchronously with args (e.g. ['-t', '-c', file]).
function runGatewaySync(args, timeoutMs = 20000 * SCALE) {
  const r = spawnSync(GATEWAY_BIN, args, { encoding: 'utf8', timeout: timeoutMs, cwd: REPO });
  return { code: r.status, signal: r.signal, stdout: r.stdout || '', stderr: r.stderr || '', error: r.error };
}

// Starts the gateway with a generated config (see configText). Waits until the
// admin /healthz answers 200 and the main listener accepts a connection.
// Resolves an object: {port, adminPort, child, dir, configPath, logLines(),
// accessLog(), stderr(), exited(), stop(signal)}.
async function startGateway(cfg = {}) {
  const dir = cfg.dir || tmpDir();
  const [p1, p2] = await freePorts(2);
  const port = cfg.port || p1;
  const adminPort = cfg.adminPort || p2;
  const policyFile = cfg.policyFile === undefined ? publicPolicy(dir) : cfg.policyFile;
  const { text, where } = configText(Object.assign({}, cfg, { port, adminPort, policyFile }));
  const configPath = path.join(dir, cfg.configName || 'gateway.ini');
  fs.writeFileSync(configPath, text);
  return launchGateway({ configPath, port, adminPort, dir, where, text, wrapper: cfg.wrapper });
}

// wrapper: optional argv run in front of the gateway's own (e.g. a shell that
// sets a ulimit and execs "$0" "$@"), so the child's PID is still the gateway's.
async function launchGateway({ configPath, port, adminPort, dir, where, text, wrapper }) {
  const argv = [...(wrapper || []), GATEWAY_BIN, '-c', configPath];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: REPO });
  children.add(child);
  const out = { lines: [], partial: '' };
  let stderr = '';
  let spawnError = null;
  child.on('error', (e) => { spawnError = e; });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    out.partial += d;
    let nl;
    for (let g = 0; g < 100000 && (nl = out.partial.indexOf('\n')) >= 0; g++) {
      if (out.lines.length < 100000) out.lines.push(out.partial.slice(0, nl));
      out.partial = out.partial.slice(nl + 1);
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => { stderr += d; if (stderr.length > 262144) stderr = stderr.slice(-262144); });

  const gw = {
    port, adminPort, child, dir, configPath, where, configText: text,
    logLines: () => out.lines.slice(),
    accessLog() {
      const recs = [];
      for (const l of out.lines) {
        const s = l.trim();
        if (!s.startsWith('{')) continue;
        try { recs.push(JSON.parse(s)); } catch (e) { /* not JSON: reported by the access-log test */ }
      }
      return recs;
    },
    stderr: () => stderr,
    // The error log is written by a thread of its own (logring): a line
    // logged before an answer may reach the pipe after it. Waits (bounded)
    // until re matches, then resolves stderr; rejects with what was seen.
    async waitStderr(re, timeoutMs = 5000 * SCALE) {
      const deadline = Date.now() + timeoutMs;
      for (let i = 0; i < 100000 && !re.test(stderr) && Date.now() < deadline; i++) await sleep(20);
      if (!re.test(stderr)) throw new Error(`no ${re} in the gateway's stderr within ${timeoutMs} ms:\n${stderr.slice(-2000)}`);
      return stderr;
    },
    exited: () => child.exitCode !== null || child.signalCode !== null,
    stop: (signal = 'SIGTERM') => stopChild(child, { signal }),
  };

  const deadline = Date.now() + 10000 * SCALE;
  for (let i = 0; i < 100000; i++) {
    if (spawnError) throw new Error(`cannot start ${GATEWAY_BIN}: ${spawnError.message}`);
    if (gw.exited()) {
      throw new Error(`gateway exited (code ${child.exitCode}, signal ${child.signalCode}) before ready; stderr:\n${stderr.slice(-4000)}`);
    }
    if (Date.now() > deadline) {
      await gw.stop('SIGKILL');
      throw new Error(`gateway not ready within ${10 * SCALE} s (admin /healthz on ${adminPort}, listener ${port}); stderr:\n${stderr.slice(-4000)}`);
    }
    if ((await getStatus(adminPort, '/healthz', 1000)) === 200 && (await canConnect(port))) break;
    await sleep(50);
  }
  return gw;
}

function canConnect(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ host: HOST, port });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(t); resolve(false); });
  });
}

// Keeps one gateway for a test file and restarts it if it died, recording the
// crash so a final test can report it (instead of every later test failing).
class GatewayFixture {
  constructor(makeCfg) { this.makeCfg = makeCfg; this.gw = null; this.crashes = []; }
  async ensure() {
    if (this.gw && !this.gw.exited()) return this.gw;
    if (this.gw) {
      this.crashes.push({ code: this.gw.child.exitCode, signal: this.gw.child.signalCode, stderr: this.gw.stderr().slice(-3000) });
    }
    this.gw = await startGateway(await this.makeCfg());
    return this.gw;
  }
  async stop() { if (this.gw) { const r = await this.gw.stop(); this.gw = null; return r; } return null; }
}

module.exports = {
  REPO, GATEWAY_BIN, UPSTREAM_JS, PUBLIC_POLICY, tmpDir, freePort, freePorts, waitExit, stopChild,
  startUpstream, startGateway, launchGateway, configText, runGatewaySync, publicPolicy, getStatus, getJson,
  canConnect, GatewayFixture,
};
