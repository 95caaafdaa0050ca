'use strict';
// Listen conflicts (SPEC "Lifecycle": a listen address that another process
// has bound is an error, exit 2, never shared). SO_REUSEPORT is only for the
// gateway's own workers: a second gateway on the same address must not join
// the first one's group and take half its connections.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { HOST, SCALE } = require('./lib/wire');
const { startGateway, tmpDir, freePorts, configText, publicPolicy, runGatewaySync } = require('./lib/procs');

const T = { timeout: 60000 * SCALE };
let first;
after(async () => { if (first) await first.stop(); });

// Runs a gateway (workers = 2) on the given addresses; it must exit by itself.
function runConflicting({ port, adminPort, decisionPort }) {
  const dir = tmpDir();
  const extra = decisionPort ? `[decision]\nlisten = ${HOST}:${decisionPort}\n` : '';
  const { text } = configText({ port, adminPort, server: { workers: 2 }, policyFile: publicPolicy(dir), extra });
  const file = path.join(dir, 'gateway.ini');
  fs.writeFileSync(file, text);
  return runGatewaySync(['-c', file], 8000 * SCALE);
}

function expectExit2(r, addr) {
  // Killed by the timeout (SIGTERM, a clean drain) when it started: it shared the port.
  assert.doesNotMatch(r.stderr, /started with/, `the second gateway started on a taken address: ${r.stderr.slice(-500)}`);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(r.stderr.includes(addr), `the error names ${addr}: ${r.stderr}`);
  assert.match(r.stderr, /in use/i);
}

test('a second gateway on the same listen address exits 2 naming it; the first keeps serving', T, async () => {
  first = await startGateway({ server: { workers: 2 } });
  const [admin2] = await freePorts(1);
  const r = runConflicting({ port: first.port, adminPort: admin2 });
  expectExit2(r, `${HOST}:${first.port}`);
  assert.equal(first.exited(), false);
});

test('an address another process listens on: exit 2 naming it (proxy and decision listeners)', T, async () => {
  const [p, a] = await freePorts(2);
  const other = net.createServer();
  await new Promise((res) => other.listen(p, HOST, res));
  try {
    expectExit2(runConflicting({ port: p, adminPort: a }), `${HOST}:${p}`);
    const [p2] = await freePorts(1);
    expectExit2(runConflicting({ port: p2, adminPort: a, decisionPort: p }), `${HOST}:${p}`);
  } finally {
    await new Promise((res) => other.close(res));
  }
});
