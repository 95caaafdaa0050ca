'use strict';
// TLS peers of the gateway for tests/integration/tls.test.js, in the test
// process (node https only), on 127.0.0.1:
//   TlsUpstream   an https upstream that echoes what it got as JSON and counts
//                 TCP connections, finished handshakes, requests and handshake
//                 errors; optional client-certificate check (mTLS).
//   HttpsJwks     an https JWKS server that counts fetches (HTTP requests) and
//                 handshake errors.
// Both can swap their certificate at run time (setCert), and both are stopped
// with stop(): listener closed, every connection destroyed.
const https = require('node:https');
const crypto = require('node:crypto');
const { HOST, SCALE, sleep } = require('./wire');

class TlsPeer {
  constructor({ cert, key, ca, requestCert = false, host = 'localhost' } = {}) {
    this.tlsOpts = { cert, key, ca, requestCert, rejectUnauthorized: requestCert };
    this.host = host; // the name the gateway is told to use (url host)
    this.port = 0;
    this.server = null;
    this.sockets = new Set();
    this.tcpConnections = 0;
    this.connections = 0; // finished handshakes
    this.tlsErrors = []; // [{t, message, code}]
  }

  get origin() { return `https://${this.host}:${this.port}`; }

  setCert({ cert, key }) {
    this.tlsOpts = Object.assign({}, this.tlsOpts, { cert, key });
    if (this.server) this.server.setSecureContext(this.tlsOpts);
  }

  resetCounters() {
    this.tcpConnections = 0;
    this.connections = 0;
    this.tlsErrors = [];
  }

  async start(handler) {
    const server = https.createServer(Object.assign({ ALPNProtocols: ['http/1.1'] }, this.tlsOpts), handler);
    server.keepAliveTimeout = 30000;
    server.headersTimeout = 35000;
    server.on('connection', (s) => {
      this.tcpConnections++;
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    server.on('secureConnection', (s) => {
      this.connections++;
      s.__connId = this.connections;
    });
    server.on('tlsClientError', (err) => {
      if (this.tlsErrors.length < 1000) this.tlsErrors.push({ t: Date.now(), message: String(err && err.message), code: err && err.code });
    });
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port || 0, HOST, () => { server.removeListener('error', reject); resolve(); });
    });
    this.server = server;
    this.port = server.address().port;
    return this;
  }

  async stop() {
    const s = this.server;
    if (!s) return;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    await new Promise((r) => s.close(() => r()));
  }

  // Waits (bounded) until pred() holds; resolves its last value.
  async waitFor(pred, timeoutMs = 5000 * SCALE) {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 100000 && !pred() && Date.now() < deadline; i++) await sleep(20);
    return pred();
  }
}

// An https upstream: every request is answered with JSON describing it.
class TlsUpstream extends TlsPeer {
  constructor(opts = {}) {
    super(opts);
    this.name = opts.name || 'tls-upstream';
    this.requests = 0;
    this.log = []; // [{conn, url, sni, alpn, clientCN, authorized}]
  }

  resetCounters() { super.resetCounters(); this.requests = 0; this.log = []; }

  start() {
    return super.start((req, res) => {
      this.requests++;
      const sock = req.socket;
      const peer = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : null;
      const entry = {
        conn: sock.__connId,
        url: req.url,
        sni: sock.servername || null,
        alpn: sock.alpnProtocol || null,
        protocol: typeof sock.getProtocol === 'function' ? sock.getProtocol() : null,
        clientCN: peer && peer.subject ? peer.subject.CN : null,
        authorized: !!sock.authorized,
      };
      if (this.log.length < 2000) this.log.push(entry);
      const big = /\/big\?bytes=(\d+)$/.exec(req.url);
      if (big) {
        // n bytes of the pattern byte i = i % 251 (as tests/servers/upstream.js)
        req.resume();
        const total = Math.min(Number(big[1]), 64 * 1024 * 1024);
        const b = Buffer.allocUnsafe(total);
        for (let i = 0; i < total; i++) b[i] = i % 251;
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total, 'X-Upstream-Name': this.name });
        res.end(b);
        return;
      }
      const hash = crypto.createHash('sha256');
      let len = 0;
      req.on('data', (d) => { hash.update(d); len += d.length; });
      req.on('end', () => {
        const body = Buffer.from(JSON.stringify(Object.assign({
          upstream: this.name, method: req.method, headers: req.headers, rawHeaders: req.rawHeaders,
          bodyLength: len, bodySha256: hash.digest('hex'), n: this.requests,
        }, entry)));
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'X-Upstream-Name': this.name });
        res.end(body);
      });
    });
  }
}

// An https JWKS server serving `doc` at `path`.
class HttpsJwks extends TlsPeer {
  constructor(opts = {}) {
    super(opts);
    this.doc = opts.doc || { keys: [] };
    this.path = opts.path || '/jwks.json';
    this.fetches = 0;
  }

  get url() { return `${this.origin}${this.path}`; }

  setKeys(doc) { this.doc = doc; }

  start() {
    return super.start((req, res) => {
      this.fetches++;
      req.resume();
      const body = Buffer.from(JSON.stringify(this.doc));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length });
      res.end(body);
    });
  }
}

async function startTlsUpstream(opts) { return new TlsUpstream(opts).start(); }
async function startHttpsJwks(opts) { return new HttpsJwks(opts).start(); }

module.exports = { TlsPeer, TlsUpstream, HttpsJwks, startTlsUpstream, startHttpsJwks };
