#!/usr/bin/env node
// Helper of bench/revocations-bench.sh (node core modules only).
//   node bench/revocations-load.js load ADMIN_PORT ADMIN_TOKEN_FILE N [CONC]
//     POSTs N revocations to http://127.0.0.1:ADMIN_PORT/revocations over CONC keep-alive
//     connections (default 16); prints one JSON line {loaded, seconds, per_s}. Exit 1 on any
//     answer other than 201.
//   node bench/revocations-load.js count ADMIN_PORT ADMIN_TOKEN_FILE
//     prints how many entries GET /revocations lists.
// The entries mix the shapes an operator makes (each shape is one more index lookup per request,
// so the mix is what the check costs): 60 % "revoke a connected app" (sub + client_id), 30 % "revoke
// one token" (jti), 5 % a user (sub), 5 % an app for everyone (client_id). Their values are
// rv-sub-I, rv-app-I, rv-jti-I: the bench token (sub user-42, client_id bench-app) matches none;
// a canary token with sub rv-sub-0 and client_id rv-app-0 matches entry 0.
'use strict';
const fs = require('fs');
const http = require('http');

const [mode, portArg, tokenFile, nArg, concArg] = process.argv.slice(2);
const port = Number(portArg);
if (!['load', 'count'].includes(mode) || !Number.isInteger(port) || !tokenFile) {
  console.error('usage: revocations-load.js load ADMIN_PORT ADMIN_TOKEN_FILE N [CONC] | count ADMIN_PORT ADMIN_TOKEN_FILE');
  process.exit(2);
}
const auth = `Bearer ${fs.readFileSync(tokenFile, 'utf8').trim()}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function call(method, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const headers = { Authorization: auth };
    if (data) { headers['Content-Type'] = 'application/json'; headers['Content-Length'] = data.length; }
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(parts).toString('utf8') }));
      res.on('error', reject);
    });
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(data);
  });
}

function entry(i) {
  const k = i % 20;
  if (k < 12) return { sub: `rv-sub-${i}`, client_id: `rv-app-${i}` };
  if (k < 18) return { jti: `rv-jti-${i}` };
  if (k < 19) return { sub: `rv-sub-${i}` };
  return { client_id: `rv-app-${i}` };
}

async function load(n, conc) {
  let next = 0;
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const r = await call('POST', '/revocations', entry(i));
      if (r.status !== 201) throw new Error(`POST /revocations #${i}: ${r.status} ${r.body.slice(0, 200)}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, n) }, worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(JSON.stringify({ loaded: n, seconds: +s.toFixed(2), per_s: Math.round(n / s) }));
}

async function count() {
  const r = await call('GET', '/revocations');
  if (r.status !== 200) throw new Error(`GET /revocations: ${r.status} ${r.body.slice(0, 200)}`);
  console.log(JSON.parse(r.body).revocations.length);
}

(mode === 'load' ? load(Number(nArg), Number(concArg || 16)) : count())
  .then(() => { agent.destroy(); })
  .catch((e) => { console.error(`revocations-load: ${e.message}`); process.exit(1); });
