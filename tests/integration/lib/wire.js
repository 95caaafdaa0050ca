'use strict';
// Client-side helpers: HTTP requests through node's http client, raw sockets
// for what that client refuses to send, and a small HTTP/1.1 response parser.
// Every wait is bounded in time.
const http = require('node:http');
const net = require('node:net');
const crypto = require('node:crypto');
const assert = require('node:assert/strict');

const HOST = '127.0.0.1';

// Time scale for waits that depend on the gateway's speed (not on its
// configured timeouts): the ASan+UBSan build is 2-3x slower.
const SCALE = /asan/i.test(process.env.GATEWAY_BIN || '') ? 3 : 1;

function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

function sha256(buf) { return crypto.createHash('sha256').update(buf).digest('hex'); }

// Same pattern as tests/servers/upstream.js /big: byte i = i % 251.
function bigPattern(len) {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = i % 251;
  return b;
}

// One HTTP request. Resolves {status, headers, rawHeaders, body(Buffer), reused,
// json()}; rejects on socket errors or after timeoutMs.
// opts: method, path, headers, body (Buffer|string), agent (default false = new
// connection), timeoutMs, onResponse(res) (streaming access; the helper still
// collects the body), chunks ([Buffer|string] written one by one without a
// Content-Length, i.e. chunked), chunkGapMs.
function request(port, opts = {}) {
  const timeoutMs = opts.timeoutMs || 10000 * SCALE;
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err); else resolve(v);
    };
    const headers = Object.assign({}, opts.headers || {});
    if (opts.body !== undefined && opts.body !== null && headers['Content-Length'] === undefined && headers['content-length'] === undefined) {
      headers['Content-Length'] = Buffer.byteLength(opts.body);
    }
    const req = http.request({
      host: HOST, port, method: opts.method || 'GET', path: opts.path || '/', headers,
      agent: opts.agent === undefined ? false : opts.agent,
    }, (res) => {
      const parts = [];
      if (opts.onResponse) opts.onResponse(res);
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const body = Buffer.concat(parts);
        finish(null, {
          status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body,
          reused: req.reusedSocket, complete: res.complete,
          text() { return body.toString('utf8'); },
          json() { return JSON.parse(body.toString('utf8')); },
        });
      });
      res.on('error', (e) => finish(e));
      res.on('aborted', () => finish(new Error('response aborted')));
    });
    const timer = setTimeout(() => {
      req.destroy();
      finish(new Error(`request ${opts.method || 'GET'} ${opts.path} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (e) => finish(e));
    if (opts.chunks) {
      const gap = opts.chunkGapMs || 0;
      let i = 0;
      const next = () => {
        if (done) return;
        if (i >= opts.chunks.length) { req.end(); return; }
        req.write(opts.chunks[i++]);
        if (gap) setTimeout(next, gap); else setImmediate(next);
      };
      next();
    } else if (opts.body !== undefined && opts.body !== null) {
      req.end(opts.body);
    } else {
      req.end();
    }
  });
}

// A raw TCP connection that records every byte received.
class RawConn {
  constructor(sock) {
    this.sock = sock;
    this.data = Buffer.alloc(0);
    this.closed = false;
    this.error = null;
    this.closedAt = 0;
    this.chunksAt = []; // [{t, len}]
    this._waiters = new Set();
    sock.on('data', (d) => {
      this.data = Buffer.concat([this.data, d]);
      this.chunksAt.push({ t: Date.now(), len: d.length });
      this._wake();
    });
    sock.on('error', (e) => { this.error = e; });
    sock.on('close', () => { this.closed = true; this.closedAt = Date.now(); this._wake(); });
  }

  static connect(port, timeoutMs = 5000 * SCALE) {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: HOST, port });
      const conn = new RawConn(sock);
      const t = setTimeout(() => { sock.destroy(); reject(new Error('connect timed out')); }, timeoutMs);
      sock.once('connect', () => { clearTimeout(t); resolve(conn); });
      sock.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  _wake() { for (const w of [...this._waiters]) w(); }

  write(data) {
    return new Promise((resolve) => {
      if (this.closed || this.sock.destroyed) return resolve(false);
      this.sock.write(data, (err) => resolve(!err));
    });
  }

  text() { return this.data.toString('latin1'); }

  // Waits until pred(this) is true, or the connection closed, or timeoutMs.
  // Resolves true when pred became true.
  waitFor(pred, timeoutMs) {
    return new Promise((resolve) => {
      const check = () => {
        if (pred(this)) { cleanup(); resolve(true); return true; }
        if (this.closed) { cleanup(); resolve(!!pred(this)); return true; }
        return false;
      };
      const w = () => { check(); };
      const t = setTimeout(() => { cleanup(); resolve(!!pred(this)); }, timeoutMs);
      const cleanup = () => { clearTimeout(t); this._waiters.delete(w); };
      this._waiters.add(w);
      check();
    });
  }

  // Waits for the peer to close; resolves true if it did within timeoutMs.
  waitClose(timeoutMs) { return this.waitFor((c) => c.closed, timeoutMs).then(() => this.closed); }

  // Resolves when `n` complete responses are in the buffer (see parseResponses).
  async waitResponses(n, timeoutMs, headMethods) {
    await this.waitFor((c) => parseResponses(c.data, { methods: headMethods, closed: c.closed }).responses.filter((r) => !r.interim && r.complete).length >= n, timeoutMs);
    return parseResponses(this.data, { methods: headMethods, closed: this.closed }).responses.filter((r) => !r.interim);
  }

  destroy() { if (!this.sock.destroyed) this.sock.destroy(); }
}

// Sends `payload` on a new connection and waits for the peer to close it (or
// timeoutMs). Resolves {data, text, closed, error, responses}.
async function rawExchange(port, payload, { timeoutMs = 3000 * SCALE, methods } = {}) {
  const c = await RawConn.connect(port);
  try {
    await c.write(payload);
    await c.waitClose(timeoutMs);
    const parsed = parseResponses(c.data, { methods, closed: c.closed });
    return { data: c.data, text: c.text(), closed: c.closed, error: c.error, responses: parsed.responses.filter((r) => !r.interim) };
  } finally {
    c.destroy();
  }
}

// Parses as many HTTP/1.x responses as `buf` holds. `methods` lists the request
// methods in order (so responses to HEAD have no body); `closed` says the
// connection ended (a body delimited by close is then complete).
// Returns {responses:[{status, statusLine, headers, rawHeaders, body, complete, interim}], rest}.
function parseResponses(buf, { methods = [], closed = false } = {}) {
  const out = [];
  let pos = 0;
  let reqIdx = 0;
  for (let guard = 0; guard < 1000 && pos < buf.length; guard++) {
    const headEnd = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd < 0) break;
    const head = buf.subarray(pos, headEnd).toString('latin1');
    const lines = head.split('\r\n');
    const statusLine = lines[0];
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
    if (!m) { out.push({ status: 0, statusLine, headers: {}, rawHeaders: [], body: Buffer.alloc(0), complete: false, garbage: true }); break; }
    const status = Number(m[1]);
    const headers = {};
    const rawHeaders = [];
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i <= 0) continue;
      const k = l.slice(0, i).trim().toLowerCase();
      const v = l.slice(i + 1).trim();
      rawHeaders.push(l.slice(0, i), v);
      if (headers[k] === undefined) headers[k] = v; else headers[k] += ', ' + v;
    }
    let p = headEnd + 4;
    const interim = status >= 100 && status < 200;
    const method = interim ? null : (methods[reqIdx] || 'GET');
    let body = Buffer.alloc(0);
    let complete = true;
    if (interim || method === 'HEAD' || status === 204 || status === 304) {
      // no body
    } else if (/(^|,)\s*chunked\s*$/i.test(headers['transfer-encoding'] || '')) {
      const parts = [];
      complete = false;
      for (let g = 0; g < 1000000; g++) {
        const le = buf.indexOf('\r\n', p, 'latin1');
        if (le < 0) break;
        const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0].trim(), 16);
        if (!Number.isFinite(size)) break;
        if (size === 0) {
          // trailers until empty line
          let q = le + 2;
          let ok = false;
          for (let t = 0; t < 100; t++) {
            const e = buf.indexOf('\r\n', q, 'latin1');
            if (e < 0) break;
            if (e === q) { q = e + 2; ok = true; break; }
            q = e + 2;
          }
          if (ok) { p = q; complete = true; }
          break;
        }
        if (le + 2 + size + 2 > buf.length) break;
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (p + len <= buf.length) { body = buf.subarray(p, p + len); p += len; } else { body = buf.subarray(p); complete = false; p = buf.length; }
    } else {
      body = buf.subarray(p);
      p = buf.length;
      complete = closed;
    }
    out.push({ status, statusLine, headers, rawHeaders, body, complete, interim,
      json() { return JSON.parse(body.toString('utf8')); } });
    if (!interim) reqIdx++;
    if (!complete) break;
    pos = p;
  }
  return { responses: out, rest: buf.subarray(pos) };
}

// Asserts one of the gateway's own answers: status, JSON body with `error`
// equal to code and a string `error_description`, Content-Type
// application/json and Cache-Control no-store. `res` is from request() or
// parseResponses().
function assertGatewayError(res, status, code, what = '') {
  const ctx = what ? ` (${what})` : '';
  assert.equal(res.status, status, `status${ctx}; body: ${res.body && res.body.toString('utf8').slice(0, 300)}`);
  assert.match(String(res.headers['content-type'] || ''), /^application\/json\b/i, `Content-Type${ctx}`);
  assert.match(String(res.headers['cache-control'] || ''), /no-store/i, `Cache-Control${ctx}`);
  let body;
  try { body = JSON.parse(res.body.toString('utf8')); } catch (e) {
    assert.fail(`body is not JSON${ctx}: ${JSON.stringify(res.body.toString('utf8').slice(0, 300))}`);
  }
  assert.equal(body.error, code, `error code${ctx}`);
  assert.equal(typeof body.error_description, 'string', `error_description${ctx}`);
  return body;
}

// Header values from rawHeaders (case-insensitive name), all occurrences.
function rawValues(rawHeaders, name) {
  const out = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1]);
  }
  return out;
}

// Connection tokens of a response: true when it says close.
function saysClose(headers) { return /(^|,)\s*close\s*(,|$)/i.test(String(headers.connection || '')); }

module.exports = {
  HOST, SCALE, sleep, sha256, bigPattern, request, RawConn, rawExchange, parseResponses,
  assertGatewayError, rawValues, saysClose,
};
