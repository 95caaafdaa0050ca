'use strict';
// A real redis-server for the cluster tests (Debian's /usr/bin/redis-server):
// on a free loopback port, no persistence, in a temp dir of its own, in the
// foreground so that its PID is the child's (stopped and killed by that PID,
// started again on the same port). And a tiny RESP2 client over a raw socket
// (no npm client) for checks and FLUSHALL between tests.
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { HOST, SCALE, sleep } = require('./wire');
const { tmpDir, freePort, waitExit } = require('./procs');

const REDIS_BIN = process.env.REDIS_SERVER || '/usr/bin/redis-server';

const children = new Set();
process.on('exit', () => {
  for (const c of children) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } }
});

// ---- RESP ----

function encode(args) {
  const parts = [`*${args.length}\r\n`];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(`$${b.length}\r\n`, b, '\r\n');
  }
  return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
}

class RedisError extends Error {}

// Parses one RESP2 reply at buf[off]; returns {value, next} or null when the
// reply is not complete yet. Errors come back as RedisError values.
function parse(buf, off = 0) {
  if (off >= buf.length) return null;
  const nl = buf.indexOf('\r\n', off);
  if (nl < 0) return null;
  const type = String.fromCharCode(buf[off]);
  const line = buf.toString('utf8', off + 1, nl);
  const after = nl + 2;
  switch (type) {
    case '+': return { value: line, next: after };
    case '-': return { value: new RedisError(line), next: after };
    case ':': return { value: Number(line), next: after };
    case '$': {
      const n = Number(line);
      if (n < 0) return { value: null, next: after };
      if (buf.length < after + n + 2) return null;
      return { value: buf.toString('utf8', after, after + n), next: after + n + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, next: after };
      const out = [];
      let p = after;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (!r) return null;
        out.push(r.value);
        p = r.next;
      }
      return { value: out, next: p };
    }
    default: throw new Error(`not a RESP reply: ${JSON.stringify(buf.toString('utf8', off, Math.min(buf.length, off + 40)))}`);
  }
}

// One connection; commands are answered in order (RESP pipelining).
class RedisClient {
  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.waiting = [];
    this.closed = false;
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (let g = 0; g < 100000 && this.waiting.length; g++) {
        let r;
        try { r = parse(this.buf); } catch (e) { this._fail(e); return; }
        if (!r) break;
        this.buf = this.buf.subarray(r.next);
        this.waiting.shift().resolve(r.value);
      }
    });
    sock.on('error', (e) => this._fail(e));
    sock.on('close', () => { this.closed = true; this._fail(new Error('redis connection closed')); });
  }

  _fail(e) {
    for (const w of this.waiting.splice(0)) w.reject(e);
    this.sock.destroy();
  }

  static connect(port, { password, timeoutMs = 2000 * SCALE } = {}) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: HOST, port });
      const t = setTimeout(() => { sock.destroy(); reject(new Error(`redis connect to ${port} timed out`)); }, timeoutMs);
      sock.once('error', (e) => { clearTimeout(t); reject(e); });
      sock.once('connect', async () => {
        clearTimeout(t);
        const c = new RedisClient(sock);
        if (password !== undefined) {
          try { await c.cmd('AUTH', password); } catch (e) { c.close(); reject(e); return; }
        }
        resolve(c);
      });
    });
  }

  // Resolves the reply (a RedisError reply rejects), or rejects after timeoutMs.
  raw(args, timeoutMs = 5000 * SCALE) {
    if (this.closed) return Promise.reject(new Error('redis connection closed'));
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { reject(new Error(`redis ${args[0]} timed out`)); this.sock.destroy(); }, timeoutMs);
      this.waiting.push({
        resolve: (v) => { clearTimeout(t); resolve(v); },
        reject: (e) => { clearTimeout(t); reject(e); },
      });
      this.sock.write(encode(args));
    });
  }

  async cmd(...args) {
    const v = await this.raw(args);
    if (v instanceof RedisError) throw v;
    return v;
  }

  close() { this.closed = true; this.sock.destroy(); }
}

// One command on a fresh connection.
async function redisCmd(port, args, { password } = {}) {
  const c = await RedisClient.connect(port, { password });
  try { return await c.cmd(...args); } finally { c.close(); }
}

// ---- the server ----

// Starts redis-server; resolves {port, password, child, pid, dir, log(),
// client(), cmd(...), flushall(), kill(), stop(), restart()}.
// password: --requirepass (the tests' AUTH checks). port: a fixed port (a
// restart reuses it); default a free one.
async function startRedis({ port, password } = {}) {
  const r = {
    port: port || await freePort(),
    password,
    dir: tmpDir(),
    child: null,
    logText: '',
    get pid() { return this.child ? this.child.pid : 0; },
    log() { return this.logText; },
    client() { return RedisClient.connect(this.port, { password: this.password }); },
    async cmd(...args) { return redisCmd(this.port, args, { password: this.password }); },
    flushall() { return this.cmd('FLUSHALL'); },
    running() { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; },
    // SIGKILL by PID: no shutdown, the kernel resets its connections.
    async kill() { return this._end('SIGKILL'); },
    async stop() { return this._end('SIGTERM'); },
    // A new redis-server on the same port (empty: nothing is persisted).
    async restart() { if (this.running()) await this.stop(); await launch(this); return this; },
    async _end(sig) {
      const c = this.child;
      if (!c) return null;
      if (c.exitCode === null && c.signalCode === null) { try { c.kill(sig); } catch (e) { /* gone */ } }
      let x = await waitExit(c, 10000 * SCALE);
      if (!x) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } x = await waitExit(c, 5000); }
      children.delete(c);
      return x;
    },
  };
  await launch(r);
  return r;
}

async function launch(r) {
  if (!fs.existsSync(REDIS_BIN)) throw new Error(`${REDIS_BIN} not found (apt-get install redis-server; tests/deps.sh lists it)`);
  const args = ['--bind', HOST, '--port', String(r.port), '--save', '', '--appendonly', 'no', '--daemonize', 'no',
    '--dir', r.dir, '--logfile', '', '--protected-mode', 'yes'];
  if (r.password !== undefined) args.push('--requirepass', r.password);
  // The log goes to stdout: kept for the failure messages.
  const child = spawn(REDIS_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: r.dir });
  children.add(child);
  r.child = child;
  let spawnError = null;
  child.on('error', (e) => { spawnError = e; });
  const keep = (d) => { r.logText += d; if (r.logText.length > 65536) r.logText = r.logText.slice(-65536); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  // Ready when it answers PING (NOAUTH also proves it serves, before AUTH).
  const deadline = Date.now() + 10000 * SCALE;
  for (let i = 0; i < 100000; i++) {
    if (spawnError) throw new Error(`cannot start ${REDIS_BIN}: ${spawnError.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      throw new Error(`redis-server exited (${child.exitCode}/${child.signalCode}) on port ${r.port}:\n${r.logText.slice(-2000)}`);
    }
    if (Date.now() > deadline) {
      await r.kill();
      throw new Error(`redis-server on ${r.port} did not answer PING within ${10 * SCALE} s:\n${r.logText.slice(-2000)}`);
    }
    try {
      if ((await redisCmd(r.port, ['PING'], { password: r.password })) === 'PONG') return r;
    } catch (e) { /* not up yet */ }
    await sleep(50);
  }
  return r;
}

module.exports = { REDIS_BIN, startRedis, RedisClient, RedisError, redisCmd, encode, parse };
