'use strict';
// Operable out of the box (issue 5, "Tests"): `make install DESTDIR=...` puts
// exactly the binary, the configuration, the policy and the systemd units in
// place, the installed gateway checks its installed configuration, and a
// second install keeps an edited gateway.ini; `make run` started as a real
// process becomes ready, prints the curl instructions, and the docs' M2M flow
// works against it on 127.0.0.1:8080 (JSON and Basic token, /api/v4/test, a
// profiles route, the 403 for a missing scope, the 401 challenge); Ctrl-C
// stops it and everything it started.
//
// `make run` listens on fixed ports (8080, 9001, 9002, 9003, 9901): its tests are
// skipped, saying so, only when one of them is already taken before the start.
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { SCALE, sleep } = require('./lib/wire');
const { REPO, tmpDir, getStatus } = require('./lib/procs');
const { challenge, expectInsufficientScope } = require('./lib/auth-assert');
const { curlHttp } = require('./lib/m2m-curl');
const { CLIENTS, jsonTokenArgs, basicTokenArgs, assertTokenAnswer, decodeJwt } = require('./lib/m2m-kit');
const { runMake, listTree, portsInUse, listening, spawnGroup } = require('./lib/m2m-ops');

const T = { timeout: 240000 * SCALE };
const PREFIX = '/usr/local';
const EXPECTED_TREE = [
  'usr/local/bin/gateway',
  'usr/local/etc/gateway/gateway.ini',
  'usr/local/etc/gateway/policies/profile-api.ini',
  'usr/local/lib/systemd/system/gateway.service',
  'usr/local/lib/systemd/system/gateway.socket',
];

function install(destdir) {
  const r = runMake(['install', `DESTDIR=${destdir}`, `PREFIX=${PREFIX}`]);
  assert.equal(r.error, undefined, `make install could not run: ${r.error && r.error.message}`);
  assert.equal(r.code, 0, `make install exited ${r.code} (${r.signal}):\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-2000)}`);
  return r;
}
const same = (a, b) => fs.readFileSync(a).equals(fs.readFileSync(b));

test('make install DESTDIR=... PREFIX=/usr/local installs exactly bin/gateway, etc/gateway/gateway.ini, etc/gateway/policies/profile-api.ini and the two systemd units', T, () => {
  const d = tmpDir();
  install(d);
  assert.deepEqual(listTree(d), EXPECTED_TREE);
  const root = path.join(d, 'usr', 'local');
  const bin = path.join(root, 'bin', 'gateway');
  const st = fs.statSync(bin);
  assert.ok(st.isFile());
  assert.equal(st.mode & 0o111, 0o111, `bin/gateway mode ${(st.mode & 0o777).toString(8)} is not executable by all`);
  assert.ok(same(path.join(root, 'etc', 'gateway', 'gateway.ini'), path.join(REPO, 'conf', 'gateway.example.ini')),
    'etc/gateway/gateway.ini is conf/gateway.example.ini');
  assert.ok(same(path.join(root, 'etc', 'gateway', 'policies', 'profile-api.ini'), path.join(REPO, 'policies', 'profile-api.ini')),
    'the installed policy is policies/profile-api.ini');
  for (const u of ['gateway.service', 'gateway.socket']) {
    assert.ok(same(path.join(root, 'lib', 'systemd', 'system', u), path.join(REPO, 'systemd', u)), `${u} is systemd/${u}`);
  }
});

test('the installed gateway checks the installed configuration: bin/gateway -t -c etc/gateway/gateway.ini prints configuration ok', T, () => {
  const d = tmpDir();
  install(d);
  const root = path.join(d, 'usr', 'local');
  const r = spawnSync(path.join(root, 'bin', 'gateway'), ['-t', '-c', path.join(root, 'etc', 'gateway', 'gateway.ini')],
    { encoding: 'utf8', timeout: 30000 * SCALE, cwd: d });
  assert.equal(r.error, undefined, r.error && r.error.message);
  assert.equal(r.status, 0, `exit ${r.status}; stdout: ${r.stdout}; stderr: ${r.stderr}`);
  assert.match(r.stdout, /configuration ok/);
});

test('a second make install does not overwrite an edited gateway.ini (and still installs the rest)', T, () => {
  const d = tmpDir();
  install(d);
  const root = path.join(d, 'usr', 'local');
  const ini = path.join(root, 'etc', 'gateway', 'gateway.ini');
  const policy = path.join(root, 'etc', 'gateway', 'policies', 'profile-api.ini');
  const edited = fs.readFileSync(ini, 'utf8').replace('listen = 127.0.0.1:8080', 'listen = 127.0.0.1:8088')
    + '\n; edited by the operator\n';
  assert.ok(edited.includes('127.0.0.1:8088'), 'the example has no listen line to edit');
  fs.writeFileSync(ini, edited);
  fs.writeFileSync(policy, '; damaged\n');
  install(d);
  assert.equal(fs.readFileSync(ini, 'utf8'), edited, 'make install overwrote the edited gateway.ini');
  assert.ok(same(policy, path.join(REPO, 'policies', 'profile-api.ini')), 'the second install did not reinstall the policy');
  assert.deepEqual(listTree(d), EXPECTED_TREE);
});

// ---- make run ----

const RUN_PORTS = [8080, 9001, 9002, 9003, 9901];
const GW = 'http://127.0.0.1:8080';
let run = null;        // the `make run` process group
let runSkip = null;    // skip reason when the ports were taken before the start

after(async () => {
  if (run) { await run.stop(); run = null; }
});

async function waitFor(pred, ms, stepMs = 100) {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 100000 && Date.now() < deadline; i++) {
    if (await pred()) return true;
    await sleep(stepMs);
  }
  return !!(await pred());
}

test('make run becomes ready, prints the curl instructions, and the docs\' M2M flow works on 127.0.0.1:8080', T, async (t) => {
  const busy = await portsInUse(RUN_PORTS);
  if (busy.length) {
    runSkip = `port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} on 127.0.0.1 already in use before the start (make run needs ${RUN_PORTS.join(', ')})`;
    t.skip(runSkip);
    return;
  }
  run = spawnGroup('make', ['-C', REPO, 'run']);
  const out = () => `make run exit ${JSON.stringify(run.exit)}\nstdout:\n${run.out.slice(-3000)}\nstderr:\n${run.err.slice(-3000)}`;

  const ready = await waitFor(async () => run.exited() || (await getStatus(9901, '/readyz', 1000)) === 200, 30000 * SCALE);
  assert.ok(!run.exited(), `make run exited before it was ready:\n${out()}`);
  assert.ok(ready, `http://127.0.0.1:9901/readyz not 200 within ${30 * SCALE} s:\n${out()}`);

  const printed = await waitFor(() => /Ctrl-C stops/.test(run.out) || run.exited(), 10000 * SCALE);
  assert.ok(printed, `no instructions printed:\n${out()}`);
  for (const s of ['http://127.0.0.1:8080', 'curl', '/api/v4/auth', 'client_credentials', '"client_id": "demo"',
    '"client_secret": "demo-secret"', '-u demo:demo-secret', '/api/v4/test', 'Authorization: Bearer $TOKEN', '/api/v4/profiles']) {
    assert.ok(run.out.includes(s), `the instructions do not mention ${JSON.stringify(s)}:\n${run.out.slice(-3000)}`);
  }

  // The docs' JSON token request, then the connectivity test with the token.
  const tok = await curlHttp(jsonTokenArgs(GW, '{"grant_type": "client_credentials", "client_id": "demo", "client_secret": "demo-secret"}'));
  const b = assertTokenAnswer(tok, { scopes: CLIENTS.demo.scopes, lifetimeS: 3600 }, 'make run: JSON token request');
  const { header, payload } = decodeJwt(b.access_token);
  assert.equal(header.typ, 'at+jwt');
  assert.equal(payload.iss, GW);
  assert.equal(payload.sub, 'demo');
  const ping = await curlHttp(['--request', 'POST', '--url', `${GW}/api/v4/test`, '--header', `Authorization: Bearer ${b.access_token}`,
    '--header', 'Content-Type: application/json', '--data', '{"ping": "pong"}']);
  assert.equal(ping.status, 200, `POST /api/v4/test: ${ping.text().slice(0, 300)}`);
  const pj = ping.json();
  assert.equal(pj.ok, true, `demo upstream answer: ${ping.text().slice(0, 300)}`);
  assert.deepEqual(pj.received, { ping: 'pong' });

  // The Basic form, a profiles route, the 403 for a missing scope, the 401.
  const basic = await curlHttp(basicTokenArgs(GW, 'demo', 'demo-secret'));
  const bb = assertTokenAnswer(basic, { scopes: CLIENTS.demo.scopes }, 'make run: Basic token request');
  const list = await curlHttp(['-H', `Authorization: Bearer ${bb.access_token}`, `${GW}/api/v4/profiles`]);
  assert.equal(list.status, 200, `GET /api/v4/profiles: ${list.text().slice(0, 300)}`);
  assert.ok(Array.isArray(list.json().data), 'the demo upstream lists profiles');
  const create = await curlHttp(['-X', 'POST', '-H', `Authorization: Bearer ${bb.access_token}`, `${GW}/api/v4/profiles`]);
  expectInsufficientScope(create, { scope: 'profiles:write', meta: `${GW}/.well-known/oauth-protected-resource` },
    'make run: POST /api/v4/profiles with the demo token');
  const none = await curlHttp([`${GW}/api/v4/profiles`]);
  assert.equal(none.status, 401, `GET /api/v4/profiles without a token: ${none.text().slice(0, 300)}`);
  const c = challenge(none);
  assert.equal(c.params.resource_metadata, `${GW}/.well-known/oauth-protected-resource`);
});

test('make run: Ctrl-C (SIGINT to its process group) stops the gateway and the demo upstreams, freeing 8080, 9001, 9002, 9003, 9901', T, async (t) => {
  if (runSkip) { t.skip(runSkip); return; }
  assert.ok(run, 'make run was not started (see the previous test)');
  assert.ok(!run.exited(), `make run exited on its own: ${JSON.stringify(run.exit)}\n${run.err.slice(-2000)}`);
  const g = run;
  const { exit, killed } = await g.stop();
  run = null;
  assert.ok(exit, `make run did not exit within ${15 * SCALE} s of SIGINT`);
  assert.equal(killed, false, 'processes of make run were still running after SIGINT and had to be killed');
  const freed = await waitFor(async () => {
    for (const p of RUN_PORTS) if (await listening(p, 500)) return false;
    return true;
  }, 5000 * SCALE);
  assert.ok(freed, 'a port of make run still accepts connections after it stopped');
});
