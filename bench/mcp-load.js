#!/usr/bin/env node
// MCP bench helper (bench/mcp-bench.sh). Node core modules only.
//   node bench/mcp-load.js bodies COUNT BYTES OUTFILE
//       COUNT tools/call bodies, one a line, each exactly BYTES long, ids 1..COUNT:
//       {"jsonrpc":"2.0","id":N,"method":"tools/call","params":{"name":"get_profile","arguments":{...}}}
//       The padding is ordinary text inside the arguments, so that the gateway's JSON reader walks
//       about BYTES of a realistic body (strings, an array, nesting), not one huge token.
//   node bench/mcp-load.js post PORT PATH TOKENFILE BODIESFILE COUNT CONCURRENCY
//       exactly COUNT POSTs (keep-alive, CONCURRENCY connections) with the headers wrk-mcp.lua sends,
//       cycling through the bodies; prints {"status":{"200":COUNT,...},"ms":...}; exit 1 unless all 200.
//       Used for the fixed request counts of the callgrind measurement (wrk runs for a duration).
'use strict';
const fs = require('fs');
const http = require('http');

const [mode, ...a] = process.argv.slice(2);

function body(id, bytes) {
  const head = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"get_profile","arguments":`
    + `{"profile_id":"p-${100000 + id}","fields":["name","email","tags","created_at"],"include":{"history":false,"limit":20},"note":"`;
  const tail = '"}}}';
  const n = bytes - head.length - tail.length;
  if (n < 0) throw new Error(`BYTES ${bytes} is below the minimum body of ${head.length + tail.length}`);
  const words = 'the quick brown fox jumps over the lazy dog while profiles are read ';
  return head + words.repeat(Math.ceil(n / words.length) + 1).slice(0, n) + tail;
}

if (mode === 'bodies') {
  const [count, bytes, out] = [Number(a[0]), Number(a[1]), a[2]];
  if (!(count >= 1) || !(bytes >= 1) || !out) { console.error('usage: bodies COUNT BYTES OUTFILE'); process.exit(2); }
  const lines = [];
  for (let i = 1; i <= count; i++) {
    const b = body(i, bytes);
    JSON.parse(b); // must be valid JSON, or the bench measures 400s
    lines.push(b);
  }
  fs.writeFileSync(out, lines.join('\n') + '\n');
} else if (mode === 'post') {
  const [port, path, tokFile, bodiesFile] = a;
  const count = Number(a[4]), conc = Number(a[5]);
  const token = fs.readFileSync(tokFile, 'utf8').split('\n')[0].trim();
  const bodies = fs.readFileSync(bodiesFile, 'utf8').split('\n').filter(Boolean);
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
  const status = {};
  let sent = 0, done = 0;
  const t0 = Date.now();
  const one = () => {
    if (sent >= count) return;
    const b = bodies[sent++ % bodies.length];
    const req = http.request({ host: '127.0.0.1', port: Number(port), path, method: 'POST', agent,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream', 'Content-Length': Buffer.byteLength(b) } }, (res) => {
      res.resume();
      res.on('end', () => { status[res.statusCode] = (status[res.statusCode] || 0) + 1; done++; if (done === count) fin(); else one(); });
    });
    req.on('error', (e) => { status[e.code || 'error'] = (status[e.code || 'error'] || 0) + 1; done++; if (done === count) fin(); else one(); });
    req.end(b);
  };
  const fin = () => {
    agent.destroy();
    console.log(JSON.stringify({ status, ms: Date.now() - t0 }));
    process.exit(status[200] === count ? 0 : 1);
  };
  for (let i = 0; i < Math.min(conc, count); i++) one();
} else {
  console.error('usage: mcp-load.js bodies COUNT BYTES OUTFILE | post PORT PATH TOKENFILE BODIESFILE COUNT CONCURRENCY');
  process.exit(2);
}
