'use strict';
// Access-log fields (SPEC "Precise rules", Token details): `client` (the
// peer's address, or behind [server] trusted_proxies the rightmost
// X-Forwarded-For entry that is not itself a trusted proxy, nginx
// real_ip_recursive), `host`, `user_agent` (escaped and cut), `proto`,
// `bytes_in`, `upstream_status` (every proxied request, not only aborted
// ones), `upstream_addr`, and `trace_id`/`span_id` of a valid W3C traceparent;
// durations in microseconds (`duration_us`, `upstream_us`).
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, sleep, rawExchange } = require('./lib/wire');
const { startUpstream, startGateway } = require('./lib/procs');

const T = { timeout: 30000 * SCALE };

let api;
let gw;      // trusts 127.0.0.0/8 and 10.0.0.0/8
let plain;   // trusts nobody
before(async () => {
  api = await startUpstream({ name: 'api' });
  const upstreams = [{ name: 'api', prefix: '/api/v4', url: api.url }];
  gw = await startGateway({ upstreams, server: { trusted_proxies: '127.0.0.0/8 10.0.0.0/8' } });
  plain = await startGateway({ upstreams });
});
after(async () => {
  if (gw) await gw.stop();
  if (plain) await plain.stop();
  if (api) await api.stop();
});

async function lineOf(g, mark) {
  const deadline = Date.now() + 10000 * SCALE;
  for (let i = 0; i < 100000; i++) {
    const l = g.accessLog().find((x) => x.request_id === mark);
    if (l) return l;
    if (Date.now() > deadline) assert.fail(`no access-log line for ${mark}`);
    await sleep(25);
  }
  return null;
}

let seq = 0;
// Sends one request (extra header lines, optional body) and returns
// {line, head} once its access-log line is written.
async function logged(g, { path = '/api/v4/things', method = 'GET', headers = [], body = '', version = '1.1' } = {}) {
  const mark = `al-${process.pid}-${++seq}`;
  const lines = [`${method} ${path} HTTP/${version}`, 'Host: api.example.test', `X-Request-Id: ${mark}`,
    'Connection: close', ...headers];
  if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const head = lines.join('\r\n') + '\r\n\r\n';
  const r = await rawExchange(g.port, head + body);
  assert.ok(r.responses.length >= 1, r.text);
  return { line: await lineOf(g, mark), head, status: r.responses[0].status };
}

test('a proxied request: client, host, proto, bytes_in, upstream_status, upstream_addr', T, async () => {
  const body = '{"hello":"world"}';
  const { line, head, status } = await logged(plain, { method: 'POST', body, headers: ['User-Agent: probe/1.0'] });
  assert.equal(status, 200);
  assert.equal(line.client, '127.0.0.1');
  assert.equal(line.host, 'api.example.test');
  assert.equal(line.user_agent, 'probe/1.0');
  assert.equal(line.proto, 'HTTP/1.1');
  assert.equal(line.bytes_in, Buffer.byteLength(head) + Buffer.byteLength(body));
  assert.equal(line.upstream_status, 200);
  assert.equal(line.upstream_addr, `127.0.0.1:${api.port}`);
});

test("the gateway's own answer has no upstream_status or upstream_addr; HTTP/1.0 is logged as such", T, async () => {
  const { line, status } = await logged(plain, { path: '/elsewhere', version: '1.0' });
  assert.equal(status, 404);
  assert.equal(line.upstream_status, undefined);
  assert.equal(line.upstream_addr, undefined);
  assert.equal(line.proto, 'HTTP/1.0');
});

test('durations are microsecond-exact: duration_us and upstream_us beside the ms fields', T, async () => {
  const lines = [];
  for (let i = 0; i < 6; i++) lines.push((await logged(plain, { path: i % 2 ? '/elsewhere' : '/api/v4/things' })).line);
  for (const l of lines) {
    assert.ok(Number.isInteger(l.duration_us) && l.duration_us >= 0, `duration_us ${l.duration_us}`);
    assert.equal(l.duration_ms, Math.floor(l.duration_us / 1000), 'duration_ms is the same span, cut to ms');
    if (l.status === 404) {
      assert.equal(l.upstream_us, undefined, "the gateway's own answer has no upstream time");
      continue;
    }
    assert.ok(Number.isInteger(l.upstream_us), `upstream_us ${l.upstream_us}`);
    assert.equal(l.upstream_ms, Math.floor(l.upstream_us / 1000));
    assert.ok(l.upstream_us <= l.duration_us, `the upstream span ${l.upstream_us} lies inside the request's ${l.duration_us}`);
  }
  // whole milliseconds times 1000 would end in 000 every time (odds of
  // that by chance for 6 exact clocks: 1e-18)
  assert.ok(lines.some((l) => l.duration_us % 1000 !== 0), `only whole ms: ${lines.map((l) => l.duration_us)}`);
});

test('user_agent is JSON-escaped and cut', T, async () => {
  const ua = 'a"b\\c ' + 'x'.repeat(2000);
  const { line } = await logged(plain, { headers: [`User-Agent: ${ua}`] });
  assert.ok(line.user_agent.startsWith('a"b\\c x'), line.user_agent.slice(0, 20));
  assert.ok(line.user_agent.length <= 260, `cut: ${line.user_agent.length} chars`);
  assert.ok(line.user_agent.endsWith('...'));
});

test('trace_id and span_id of a valid traceparent only', T, async () => {
  const tid = '4bf92f3577b34da6a3ce929d0e0e4736';
  const sid = '00f067aa0ba902b7';
  const ok = await logged(plain, { headers: [`traceparent: 00-${tid}-${sid}-01`] });
  assert.equal(ok.line.trace_id, tid);
  assert.equal(ok.line.span_id, sid);
  const later = await logged(plain, { headers: [`traceparent: 01-${tid}-${sid}-01-future`] });
  assert.equal(later.line.trace_id, tid, 'a later version may append fields');
  for (const bad of [
    `00-${tid.toUpperCase()}-${sid}-01`,            // upper-case hex
    `00-${'0'.repeat(32)}-${sid}-01`,               // all-zero trace id
    `00-${tid}-${'0'.repeat(16)}-01`,               // all-zero parent id
    `ff-${tid}-${sid}-01`,                          // forbidden version
    `00-${tid}-${sid}-01-extra`,                    // version 00 has no more fields
    `00-${tid}-${sid}`,                             // too short
  ]) {
    const { line } = await logged(plain, { headers: [`traceparent: ${bad}`] });
    assert.equal(line.trace_id, undefined, bad);
    assert.equal(line.span_id, undefined, bad);
  }
  const two = await logged(plain, { headers: [`traceparent: 00-${tid}-${sid}-01`, `traceparent: 00-${tid}-${sid}-01`] });
  assert.equal(two.line.trace_id, undefined, 'two traceparent headers are no trace context');
});

test('trusted_proxies: the rightmost untrusted X-Forwarded-For entry is the client', T, async () => {
  const cases = [
    [[], '127.0.0.1'],
    [['X-Forwarded-For: 203.0.113.7'], '203.0.113.7'],
    [['X-Forwarded-For: 198.51.100.1, 203.0.113.7, 10.1.1.1'], '203.0.113.7'],
    [['X-Forwarded-For: 198.51.100.1', 'X-Forwarded-For: 203.0.113.7,10.2.2.2'], '203.0.113.7'],
    [['X-Forwarded-For: 10.9.9.9, 10.1.1.1'], '10.9.9.9'],         // all trusted: the leftmost
    [['X-Forwarded-For: 203.0.113.7, junk, 10.1.1.1'], '10.1.1.1'], // the walk stops at garbage
    [['X-Forwarded-For: 2001:db8::1'], '2001:db8::1'],
  ];
  for (const [headers, want] of cases) {
    const { line } = await logged(gw, { headers });
    assert.equal(line.client, want, JSON.stringify(headers));
  }
});

test('without trusted_proxies X-Forwarded-For is not believed', T, async () => {
  const { line } = await logged(plain, { headers: ['X-Forwarded-For: 203.0.113.7'] });
  assert.equal(line.client, '127.0.0.1');
});

test('[log] format = json: every error-log line is a JSON object with time, level, msg', T, async () => {
  const g = await startGateway({ log: { format: 'json', access_format: 'json' } });
  try {
    const deadline = Date.now() + 10000 * SCALE;
    while (!/started/.test(g.stderr()) && Date.now() < deadline) await sleep(25);
    const lines = g.stderr().trim().split('\n');
    assert.ok(lines.length >= 1);
    for (const l of lines) {
      const rec = JSON.parse(l);
      assert.match(rec.time, /^\d{4}-\d\d-\d\dT/);
      assert.ok(['debug', 'info', 'warn', 'error'].includes(rec.level), l);
      assert.equal(typeof rec.msg, 'string');
    }
    assert.ok(lines.some((l) => /listening on/.test(JSON.parse(l).msg)), g.stderr());
  } finally {
    await g.stop();
  }
});
