'use strict';
// A JWKS server on loopback for the jwks_uri tests, in the test process (node
// http only). It counts every fetch and can be switched at any time to:
//   'keys'     serve the current key set (200, application/json)
//   '500'      answer 500
//   'garbage'  answer 200 with a body that is not JSON
//   'huge'     answer 200 with a 10 MB body (Content-Length 10485760)
//   'slow'     serve the current key set after `delayMs`
// and taken down (listener closed, connections destroyed: connection refused)
// and brought back up on the same port.
const http = require('node:http');
const { HOST, SCALE, sleep } = require('./wire');

const HUGE_BYTES = 10 * 1024 * 1024;

class JwksServer {
  constructor({ doc = { keys: [] }, path = '/jwks.json', maxAge = null } = {}) {
    this.doc = doc;
    this.path = path;
    this.mode = 'keys';
    this.delayMs = 0;
    this.maxAge = maxAge; // Cache-Control max-age in seconds, or null for none
    this.fetches = 0; // requests received (any path)
    this.log = []; // [{t, path, mode}]
    this.port = 0;
    this.server = null;
    this.sockets = new Set();
    this.timers = new Set();
  }

  get url() { return `http://${HOST}:${this.port}${this.path}`; }

  setKeys(doc) { this.doc = doc; }

  setMode(mode, { delayMs } = {}) {
    if (!['keys', '500', 'garbage', 'huge', 'slow'].includes(mode)) throw new Error(`unknown mode ${mode}`);
    this.mode = mode;
    if (delayMs !== undefined) this.delayMs = delayMs;
  }

  _handle(req, res) {
    this.fetches++;
    if (this.log.length < 10000) this.log.push({ t: Date.now(), path: req.url, mode: this.mode });
    req.resume();
    res.on('error', () => {});
    const mode = this.mode;
    const sendKeys = () => {
      const body = Buffer.from(JSON.stringify(this.doc));
      const h = { 'Content-Type': 'application/json', 'Content-Length': body.length };
      if (this.maxAge !== null) h['Cache-Control'] = `public, max-age=${this.maxAge}`;
      res.writeHead(200, h);
      res.end(body);
    };
    if (mode === 'keys') return sendKeys();
    if (mode === 'slow') {
      const t = setTimeout(() => { this.timers.delete(t); if (!res.destroyed) sendKeys(); }, this.delayMs);
      this.timers.add(t);
      return undefined;
    }
    if (mode === '500') {
      const body = Buffer.from('{"error":"internal"}');
      res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      return res.end(body);
    }
    if (mode === 'garbage') {
      const body = Buffer.from('<html>this is { not "a" JWKS');
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      return res.end(body);
    }
    // huge: a well-formed start of a key set, then 10 MB of padding; written
    // with back-pressure, stopped when the client goes away.
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': HUGE_BYTES });
    const head = Buffer.from('{"keys":[');
    const tail = Buffer.from(']}');
    const pad = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = () => {
      if (sent === 0) { res.write(head); sent += head.length; }
      for (let g = 0; g < 1000 && sent < HUGE_BYTES - tail.length; g++) {
        if (res.destroyed) return;
        const n = Math.min(pad.length, HUGE_BYTES - tail.length - sent);
        sent += n;
        if (!res.write(pad.subarray(0, n))) { res.once('drain', pump); return; }
      }
      if (sent >= HUGE_BYTES - tail.length) res.end(tail);
      else setImmediate(pump);
    };
    res.socket.on('close', () => { sent = HUGE_BYTES; });
    pump();
    return undefined;
  }

  // Listens on `port` (0 = any). Resolves this.
  async up(port = this.port) {
    if (this.server) return this;
    const server = http.createServer((req, res) => this._handle(req, res));
    server.keepAliveTimeout = 5000;
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, HOST, () => { server.removeListener('error', reject); resolve(); });
    });
    this.server = server;
    this.port = server.address().port;
    return this;
  }

  // Closes the listener and every connection: the port refuses connections.
  async down() {
    const s = this.server;
    if (!s) return;
    this.server = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    await new Promise((r) => s.close(() => r()));
  }

  stop() { return this.down(); }

  // Waits (bounded) until at least n fetches were received; resolves the count.
  async waitFetches(n, timeoutMs = 10000 * SCALE) {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100000 && this.fetches < n && Date.now() < deadline; i++) await sleep(20);
    return this.fetches;
  }
}

// Starts a JwksServer. opts: doc, path, maxAge, port (0 = any).
async function startJwksServer(opts = {}) {
  const s = new JwksServer(opts);
  await s.up(opts.port || 0);
  return s;
}

module.exports = { JwksServer, startJwksServer, HUGE_BYTES };
