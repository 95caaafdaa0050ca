'use strict';
// Helpers for ops.test.js: `make` runs (bounded), the file tree an install
// produced, fixed-port checks for `make run`, and a process group started
// with `detached: true` and stopped by its (negative) PID.
const fs = require('node:fs');
const path = require('node:path');
const net = require('node:net');
const { spawn, spawnSync } = require('node:child_process');
const { SCALE, sleep } = require('./wire');
const { REPO } = require('./procs');

// make -C REPO ARGS..., synchronously, bounded. -> {code, signal, stdout, stderr, error}
function runMake(args, { timeoutMs = 180000 * SCALE, env = process.env } = {}) {
  const r = spawnSync('make', ['-C', REPO, ...args], { encoding: 'utf8', timeout: timeoutMs, env, killSignal: 'SIGKILL' });
  return { code: r.status, signal: r.signal, stdout: r.stdout || '', stderr: r.stderr || '', error: r.error };
}

// Every regular file and symlink under root, as sorted relative paths (bounded).
function listTree(root, max = 10000) {
  const out = [];
  const walk = (dir, rel) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (out.length >= max) return;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else out.push(r);
    }
  };
  walk(root, '');
  return out.sort();
}

// Resolves the subset of `ports` on 127.0.0.1 that cannot be bound because
// something listens there (EADDRINUSE); other bind errors reject.
async function portsInUse(ports) {
  const busy = [];
  for (const port of ports) {
    const err = await new Promise((resolve) => {
      const s = net.createServer();
      s.once('error', (e) => resolve(e));
      s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(null)));
    });
    if (err && err.code === 'EADDRINUSE') busy.push(port);
    else if (err) throw err;
  }
  return busy;
}

// Whether something accepts connections on 127.0.0.1:port.
function listening(port, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => { s.destroy(); resolve(false); }, timeoutMs);
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true); });
    s.once('error', () => { clearTimeout(t); resolve(false); });
  });
}

// A command in its own process group; its output is collected (bounded).
const groups = new Set();
function killGroupsNow() {
  for (const pid of groups) { try { process.kill(-pid, 'SIGKILL'); } catch (e) { /* gone */ } }
  groups.clear();
}
process.on('exit', killGroupsNow);

function spawnGroup(cmd, args, { env = process.env, cwd = REPO } = {}) {
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env, cwd });
  groups.add(child.pid);
  const g = { child, pid: child.pid, out: '', err: '', exit: null };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => { if (g.out.length < 1048576) g.out += d; });
  child.stderr.on('data', (d) => { if (g.err.length < 1048576) g.err += d; });
  child.once('exit', (code, signal) => { g.exit = { code, signal }; });
  g.exited = () => g.exit !== null;
  g.waitExit = async (ms) => {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 100000 && !g.exited() && Date.now() < deadline; i++) await sleep(50);
    return g.exit;
  };
  // Signal the whole group (negative PID); true if any member was there.
  g.signal = (sig) => {
    try { process.kill(-g.pid, sig); return true; } catch (e) { if (e.code === 'ESRCH') return false; throw e; }
  };
  // Whether any process of the group is still alive.
  g.groupAlive = () => {
    try { process.kill(-g.pid, 0); return true; } catch (e) { return e.code !== 'ESRCH'; }
  };
  // SIGINT (Ctrl-C) to the group, bounded wait for the leader, then SIGKILL
  // whatever is left. Resolves {exit, killed}.
  g.stop = async (ms = 15000 * SCALE) => {
    let killed = false;
    if (!g.exited()) g.signal('SIGINT');
    const exit = await g.waitExit(ms);
    const deadline = Date.now() + 3000 * SCALE;
    for (let i = 0; i < 1000 && g.groupAlive() && Date.now() < deadline; i++) await sleep(50);
    if (g.groupAlive() || !exit) { killed = true; g.signal('SIGKILL'); await g.waitExit(5000); }
    groups.delete(g.pid);
    return { exit, killed };
  };
  return g;
}

module.exports = { runMake, listTree, portsInUse, listening, spawnGroup };
