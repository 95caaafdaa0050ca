#!/usr/bin/env node
// Loopback MCP upstream of bench/mcp-lists-bench.sh. Node core modules only.
//   node bench/mcp-upstream.js PORT [TOOLS]
// Paths are matched by their end, so that it answers the same behind any gateway prefix:
//   POST any path     a tools/list result of TOOLS (100) fixed tools t0..t99 for the request's id;
//                     application/json (Content-Length), or one SSE event (chunked) when the query
//                     has sse=1 or the request has "X-Bench-Sse: 1"; with n=N[&batch=B], an SSE
//                     stream of N small notifications (B per write) and then that answer.
//   GET  .../stream?n=N[&batch=B]   N small SSE events ("data: {"seq":K}"), B (32) events per write,
//                     written as fast as the socket takes them (waits for 'drain'), then the end.
//   GET  .../idle     an SSE stream: one event, then silence until the client goes.
// Prints "listening PORT" once it listens. Stops on SIGTERM.
'use strict';
const http = require('http');

const port = Number(process.argv[2]);
const ntools = Number(process.argv[3] || 100);
if (!(port > 0) || !(ntools >= 1)) { console.error('usage: mcp-upstream.js PORT [TOOLS]'); process.exit(2); }

// About 200 bytes a tool, like a real server's descriptions and input schemas.
const tools = [];
for (let i = 0; i < ntools; i++) {
  tools.push({
    name: `t${i}`,
    description: `Tool number ${i}: reads one field of a profile and returns it with its history.`,
    inputSchema: { type: 'object', properties: { profile_id: { type: 'string' }, limit: { type: 'integer' } }, required: ['profile_id'] },
  });
}
const resultTail = `,"result":{"tools":${JSON.stringify(tools)},"nextCursor":"c-2"}}`;
const answer = (id) => `{"jsonrpc":"2.0","id":${id}${resultTail}`;

// An event stream of n events event(k), batch per write, as fast as the socket takes them, then last.
function pump(res, n, batch, event, last) {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  let k = 0;
  const more = () => {
    while (k < n) {
      let s = '';
      for (let j = 0; j < batch && k < n; j++, k++) s += event(k);
      if (!res.write(s)) { res.once('drain', more); return; }
    }
    res.end(last);
  };
  more();
}

const server = http.createServer((req, res) => {
  const [path, query = ''] = req.url.split('?');
  const q = new URLSearchParams(query);
  if (req.method === 'POST') {
    const parts = [];
    req.on('data', (d) => parts.push(d));
    req.on('end', () => {
      let id;
      try { id = JSON.stringify(JSON.parse(Buffer.concat(parts).toString('utf8')).id); } catch { id = undefined; }
      if (id === undefined) { res.writeHead(400, { 'Content-Type': 'text/plain' }); res.end('no JSON-RPC id\n'); return; }
      const json = answer(id);
      const n = Math.max(0, Number(q.get('n') || 0));
      if (n > 0) {
        // n small notifications before the answer, B (32) per write: a list request whose answer
        // stream the gateway must read event by event (the answer may be any of them).
        pump(res, n, Math.max(1, Number(q.get('batch') || 32)),
          (k) => `data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":${k}}}\n\n`,
          `event: message\ndata: ${json}\n\n`);
        return;
      }
      if (q.get('sse') === '1' || req.headers['x-bench-sse'] === '1') {
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.end(`event: message\ndata: ${json}\n\n`);
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
        res.end(json);
      }
    });
    return;
  }
  if (req.method === 'GET' && path.endsWith('/stream')) {
    pump(res, Math.max(0, Number(q.get('n') || 10000)), Math.max(1, Number(q.get('batch') || 32)),
      (k) => `data: {"seq":${k}}\n\n`, '');
    return;
  }
  if (req.method === 'GET' && path.endsWith('/idle')) {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
    res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/ready"}\n\n');
    return; // silent until the client (the gateway) closes
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('not found\n');
});
server.keepAliveTimeout = 300000;
server.headersTimeout = 310000;
server.requestTimeout = 0;
server.maxConnections = 100000;
server.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
process.on('SIGTERM', () => { server.closeAllConnections?.(); server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 1000).unref(); });
