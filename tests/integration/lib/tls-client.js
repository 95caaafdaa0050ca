'use strict';
// TLS clients for tests/integration/tls.test.js: curl and openssl run as
// child processes (asynchronously: the https upstreams and JWKS servers of
// the tests live in this process and must keep answering), node https
// requests, bare tls.connect handshakes, and the bytes of a real ClientHello.
// Every child is stopped by its PID when its time is up or at exit.
const https = require('node:https');
const tls = require('node:tls');
const net = require('node:net');
const { spawn } = require('node:child_process');
const { HOST, SCALE } = require('./wire');

const running = new Set();
const sockIds = new WeakMap();
let sockSeq = 0;
function sockId(s) { if (!sockIds.has(s)) sockIds.set(s, ++sockSeq); return sockIds.get(s); }
process.on('exit', () => { for (const c of running) { try { c.kill('SIGKILL'); } catch (e) { /* gone */ } } });

// Runs cmd with args. opts: input (written then stdin closed; default: stdin
// closed at once), timeoutMs, onStdout(chunk, t). Resolves {code, signal,
// stdout: Buffer, stderr: string, timedOut, ms}.
function run(cmd, args, { input, timeoutMs = 20000 * SCALE, onStdout, env } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env || process.env });
    running.add(child);
    const out = [];
    let err = '';
    let timedOut = false;
    let spawnError = null;
    child.stdout.on('data', (d) => { out.push(d); if (onStdout) onStdout(d, Date.now()); });
    child.stderr.setEncoding('latin1');
    child.stderr.on('data', (d) => { if (err.length < 1 << 20) err += d; });
    child.on('error', (e) => { spawnError = e; });
    child.stdin.on('error', () => {});
    if (input !== undefined) child.stdin.end(input); else child.stdin.end();
    const timer = setTimeout(() => { timedOut = true; try { child.kill('SIGKILL'); } catch (e) { /* gone */ } }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err + (spawnError ? `\nspawn error: ${spawnError.message}` : ''), timedOut, ms: Date.now() - t0 });
    });
  });
}

// curl against the gateway's TLS port with the test CA; `args` follow.
function curl(caFile, args, opts) {
  return run('curl', ['-sS', '--max-time', String(Math.ceil(15 * SCALE)), '--cacert', caFile, ...args], opts);
}

// openssl s_client: connect to 127.0.0.1:port with extra args; stdin closed
// at once (so it stops after the handshake).
function sClient(port, args, opts) {
  return run('openssl', ['s_client', '-connect', `${HOST}:${port}`, '-servername', 'localhost', ...args], Object.assign({ input: '' }, opts));
}

// One https request to 127.0.0.1:port (SNI localhost, verified against ca).
// Resolves {status, headers, body, reused, socket info, json()}.
function httpsRequest(port, opts = {}) {
  const timeoutMs = opts.timeoutMs || 10000 * SCALE;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (e, v) => { if (done) return; done = true; clearTimeout(timer); if (e) reject(e); else resolve(v); };
    const headers = Object.assign({}, opts.headers || {});
    if (opts.body !== undefined && headers['Content-Length'] === undefined) headers['Content-Length'] = Buffer.byteLength(opts.body);
    const req = https.request({
      host: HOST, port, servername: 'localhost', ca: opts.ca, method: opts.method || 'GET', path: opts.path || '/',
      headers, agent: opts.agent === undefined ? false : opts.agent,
    }, (res) => {
      const parts = [];
      const sock = res.socket;
      const info = {
        serial: (() => { try { return sock.getPeerCertificate().serialNumber; } catch (e) { return null; } })(),
        protocol: sock.getProtocol && sock.getProtocol(),
        alpn: sock.alpnProtocol,
        sock: sockId(sock),
      };
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        finish(null, { status: res.statusCode, headers: res.headers, body, reused: req.reusedSocket, tls: info,
          text() { return body.toString('utf8'); }, json() { return JSON.parse(body.toString('utf8')); } });
      });
      res.on('error', (e) => finish(e));
      res.on('aborted', () => finish(new Error('response aborted')));
    });
    const timer = setTimeout(() => { req.destroy(); finish(new Error(`https ${opts.path} timed out after ${timeoutMs} ms`)); }, timeoutMs);
    req.on('error', (e) => finish(e));
    req.end(opts.body);
  });
}

// A TLS handshake to 127.0.0.1:port. opts: ca, servername (default
// localhost), minVersion, maxVersion, session, ALPNProtocols, ciphers.
// Resolves {ok, error, serial, protocol, alpn, reused, session, cipher}; the
// socket is closed before resolving (after waiting briefly for TLS 1.3
// tickets when keepForTicketMs is set).
function handshake(port, opts = {}) {
  const timeoutMs = opts.timeoutMs || 10000 * SCALE;
  return new Promise((resolve) => {
    let done = false;
    let session = null;
    const s = tls.connect({
      host: HOST, port, servername: opts.servername === undefined ? 'localhost' : opts.servername, ca: opts.ca,
      minVersion: opts.minVersion, maxVersion: opts.maxVersion, session: opts.session,
      ALPNProtocols: opts.ALPNProtocols, ciphers: opts.ciphers,
      rejectUnauthorized: opts.rejectUnauthorized !== false,
    });
    s.on('session', (sess) => { session = sess; });
    const finish = (v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!session && v.ok) { try { session = s.getSession(); } catch (e) { /* none */ } }
      // The ticket as the server sealed it: its first 16 bytes name the key.
      let ticket;
      try { ticket = s.getTLSTicket(); } catch (e) { /* none */ }
      s.destroy();
      resolve(Object.assign(v, { session, ticket }));
    };
    const timer = setTimeout(() => finish({ ok: false, error: new Error('handshake timed out') }), timeoutMs);
    s.on('secureConnect', () => {
      const info = {
        ok: true,
        serial: s.getPeerCertificate().serialNumber,
        protocol: s.getProtocol(),
        alpn: s.alpnProtocol,
        reused: s.isSessionReused(),
        cipher: s.getCipher(),
      };
      if (opts.keepForTicketMs) setTimeout(() => finish(info), opts.keepForTicketMs);
      else finish(info);
    });
    s.on('error', (e) => finish({ ok: false, error: e }));
  });
}

// The first flight of a real TLS client (a ClientHello record), captured
// from node's TLS client against a local TCP listener that never answers.
function clientHelloBytes() {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const srv = net.createServer((sock) => {
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          sock.destroy();
          srv.close();
          clearTimeout(t);
          resolve(buf.subarray(0, 5 + buf.readUInt16BE(3)));
        }
      });
      sock.on('error', () => {});
    });
    const t = setTimeout(() => { srv.close(); reject(new Error('no ClientHello captured')); }, 5000 * SCALE);
    srv.listen(0, HOST, () => {
      const c = tls.connect({ host: HOST, port: srv.address().port, servername: 'localhost', rejectUnauthorized: false });
      c.on('error', () => {});
      c.on('close', () => {});
    });
  });
}

module.exports = { run, curl, sClient, httpsRequest, handshake, clientHelloBytes };
