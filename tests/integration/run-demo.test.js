'use strict';
// `make run` (conf/run-demo.sh) must not report another process's answer as
// its gateway's: with 127.0.0.1:9901 taken by something that answers /readyz
// 200, the script exits 2 naming the port and never prints "The gateway is up".
// Skipped, saying so, when one of its fixed ports is taken before the start.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { SCALE } = require('./lib/wire');
const { REPO, GATEWAY_BIN, canConnect, waitExit, stopChild } = require('./lib/procs');

const T = { timeout: 60000 * SCALE };

test('make run with :9901 answered by another process exits 2 and does not say the gateway is up', T, async (t) => {
  for (const p of [8080, 9901, 9001, 9002, 9003]) {
    if (await canConnect(p, 500)) { t.skip(`port ${p} is already in use`); return; }
  }
  const other = http.createServer((req, res) => { res.writeHead(200); res.end('{"status":"ready"}'); });
  await new Promise((res) => other.listen(9901, '127.0.0.1', res));
  try {
    const child = spawn('sh', [path.join(REPO, 'conf', 'run-demo.sh')], {
      cwd: REPO, env: Object.assign({}, process.env, { GATEWAY_BIN }), stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    let r = await waitExit(child, 30000 * SCALE);
    if (!r) r = await stopChild(child, { signal: 'SIGINT' });
    assert.doesNotMatch(out, /The gateway is up/);
    assert.equal(r.code, 2, out);
    assert.match(out, /9901/);
  } finally {
    await new Promise((res) => other.close(res));
  }
});
