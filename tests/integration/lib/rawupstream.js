'use strict';
// An in-process upstream on raw sockets, for tests that need to see the exact
// bytes the gateway sends or to misbehave in ways node's http server won't.
// It records every byte per connection and answers each complete request
// (Content-Length or chunked body) with 200 and a small JSON body, unless
// `mode` says otherwise:
//   'ok'           answer every request, keep the connection open
//   'drop-second'  answer the first request on a connection; on the second
//                  request of that connection, close it without answering
//   'drop'         close every connection without answering, once a request came
//   'garbage'      answer every request with bytes that are not HTTP, then close
//   'script'       answer(conn, request, sock) decides: it returns the bytes to
//                  write (string or Buffer, one write), null to stay silent, or
//                  'close' to close the connection without answering; conn.id
//                  and conn.requests (this one included) tell where it is
const net = require('node:net');
const { HOST } = require('./wire');

function requestEnd(buf) {
  // Returns the index just past the first complete request in buf, or -1.
  const he = buf.indexOf('\r\n\r\n');
  if (he < 0) return -1;
  const head = buf.subarray(0, he).toString('latin1');
  let p = he + 4;
  const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  if (/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) {
    for (let g = 0; g < 100000; g++) {
      const le = buf.indexOf('\r\n', p);
      if (le < 0) return -1;
      const size = parseInt(buf.subarray(p, le).toString('latin1').split(';')[0], 16);
      if (!Number.isFinite(size)) return -1;
      if (size === 0) {
        // trailers until an empty line
        let q = le + 2;
        for (let t = 0; t < 100; t++) {
          const e = buf.indexOf('\r\n', q);
          if (e < 0) return -1;
          if (e === q) return e + 2;
          q = e + 2;
        }
        return -1;
      }
      p = le + 2 + size + 2;
      if (p > buf.length) return -1;
    }
    return -1;
  }
  if (cl) { const n = Number(cl[1]); return p + n <= buf.length ? p + n : -1; }
  return p;
}

async function startRawUpstream({ mode = 'ok', answer = null } = {}) {
  const conns = []; // [{id, data: Buffer, requests: [Buffer]}]
  const sockets = new Set();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    const c = { id: conns.length + 1, data: Buffer.alloc(0), requests: [] };
    conns.push(c);
    let pending = Buffer.alloc(0);
    sock.on('data', (d) => {
      c.data = Buffer.concat([c.data, d]);
      pending = Buffer.concat([pending, d]);
      for (let g = 0; g < 100; g++) {
        const end = requestEnd(pending);
        if (end < 0) break;
        c.requests.push(pending.subarray(0, end));
        pending = pending.subarray(end);
        if (mode === 'drop-second' && c.requests.length >= 2) { sock.destroy(); return; }
        if (mode === 'drop') { sock.destroy(); return; }
        if (mode === 'garbage') { sock.end('HELLO THIS IS NOT HTTP\r\n\r\n'); return; }
        if (mode === 'script') {
          const out = answer(c, c.requests[c.requests.length - 1], sock);
          if (out === 'close') { sock.destroy(); return; }
          if (out !== null && out !== undefined) sock.write(out);
          continue;
        }
        const body = Buffer.from(JSON.stringify({ raw: true, conn: c.id, n: c.requests.length }));
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
        sock.write(body);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise((res, rej) => { server.on('error', rej); server.listen(0, HOST, res); });
  const { port } = server.address();
  return {
    port, url: `http://${HOST}:${port}`, conns,
    requests() { return conns.flatMap((c) => c.requests.map((r) => ({ conn: c.id, raw: r }))); },
    stop() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

module.exports = { startRawUpstream };
