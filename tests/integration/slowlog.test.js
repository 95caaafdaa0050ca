'use strict';
// A slow log reader must not stop the gateway (the hardening issue, item 4):
// stderr and the stdout access log are pipes this test stops reading; a
// flood of upstream failures (one warning and one access line each) fills
// them. The workers keep serving: /healthz answers, the dropped lines are
// counted in gateway_log_dropped_lines_total, and once the pipes are read
// again the repeated warnings come back summed up ("N more in the last 10 s").
const { test } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { SCALE, sleep } = require('./lib/wire');
const { startGateway, freePort, getStatus } = require('./lib/procs');

function get(agent, port, p, timeoutMs) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: b }));
      res.on('error', () => resolve({ status: 0, body: '' }));
    });
    req.setTimeout(timeoutMs, () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

function metric(text, name) {
  const m = text.match(new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : null;
}

test('a log reader that stops reading stalls neither the workers nor /healthz', async () => {
  const deadPort = await freePort(); // nothing listens: every request is a 502 and a warning
  const gw = await startGateway({
    server: { workers: 2, max_connections: 1000, idle_timeout: '30s' },
    upstreams: [{ name: 'down', prefix: '/x', url: `http://127.0.0.1:${deadPort}` }],
  });
  try {
    // Stop reading both pipes: node's buffers (16 KB) and the kernel's
    // (64 KB) fill, then a blocking write(2) would wait for us.
    gw.child.stdout.pause();
    gw.child.stderr.pause();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    let dropped = 0;
    let sent = 0;
    const deadline = Date.now() + 60000 * SCALE;
    // Bounded: batches of 400 requests until the gateway reports dropped
    // access lines (each is ~150 bytes: a few thousand overflow the pipe and
    // the ring), at most 60 batches.
    for (let batch = 0; batch < 60 && Date.now() < deadline; batch++) {
      const rs = await Promise.all(Array.from({ length: 400 }, (_, i) => get(agent, gw.port, `/x/${batch}/${i}`, 3000 * SCALE)));
      sent += rs.length;
      const answered = rs.filter((r) => r.status === 502).length;
      const m = await get(false, gw.adminPort, '/metrics', 3000 * SCALE);
      assert.equal(m.status, 200, `/metrics did not answer after ${sent} requests (${answered} of the last 400 answered 502)`);
      dropped = metric(m.body, 'gateway_log_dropped_lines_total{log="access"}') || 0;
      if (dropped > 0) break;
    }
    agent.destroy();
    assert.ok(dropped > 0, `no access lines dropped after ${sent} requests`);
    // The pipes are still full and unread: the workers answer anyway.
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      assert.equal(await getStatus(gw.adminPort, '/healthz', 2000 * SCALE), 200, '/healthz while the log pipes are full');
      assert.ok(Date.now() - t0 < 2000 * SCALE);
    }
    // Read again: the writers drain the rings, report what they dropped,
    // and the suppressed upstream warnings come back as one summary line.
    gw.child.stderr.resume();
    gw.child.stdout.resume();
    const until = Date.now() + 20000 * SCALE;
    while (Date.now() < until && !/upstream failures: \d+ more in the last 10 s/.test(gw.stderr())) await sleep(100);
    const err = gw.stderr();
    const m = err.match(/upstream failures: (\d+) more in the last 10 s/);
    assert.ok(m, `no summary of the suppressed warnings; stderr tail:\n${err.slice(-2000)}`);
    assert.ok(Number(m[1]) > 0);
    assert.match(err, /access log: \d+ line\(s\) dropped/);
    // Far fewer warnings than failures: each one would have been a line.
    const warned = (err.match(/warn upstream down: /g) || []).length;
    assert.ok(warned < 100, `${warned} single warnings for ${sent} failures`);
    assert.equal(await getStatus(gw.adminPort, '/healthz', 2000 * SCALE), 200);
  } finally {
    await gw.stop();
  }
});
