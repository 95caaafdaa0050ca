'use strict';
// An SSE list answer among other events in the same upstream read
// (gateway/loop/mcpresp.c): the events that go as they came are sent as a
// run of the read's own bytes, uncopied, until a piece that is not the next
// bytes of the read (the filtered answer, an event that began in an earlier
// read) comes; from there on the rest of the read is copied after it. Each
// test puts the answer inside one chunk with events before and after it
// and asserts the exact bytes the client got, in order.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { SCALE, RawConn } = require('./lib/wire');
const { GatewayFixture, tmpDir } = require('./lib/procs');
const { startRawUpstream } = require('./lib/rawupstream');
const { mintToken, mcpGatewayConfig } = require('./lib/mcp-kit');

const T = { timeout: 30000 * SCALE };
const WAIT = 10000 * SCALE;

let up;
let dir;
const plan = []; // the upstream's next answers, in order
const fx = new GatewayFixture(() => mcpGatewayConfig({
  dir, policyFile: path.join(dir, 'policy.ini'),
  upstreams: [{ name: 'mcp', prefix: '/mcp', url: up.url, protocol: 'mcp', mcp_max_body: '4k' }],
}));

before(async () => {
  dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'policy.ini'), '[* /mcp]\nauth = token\n\n[mcp-tool:alpha]\nscopes = a\n');
  up = await startRawUpstream({ mode: 'script', answer: () => plan.shift() || 'close' });
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  if (up) await up.stop();
});

const TOK = mintToken([]);
const REQ = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}';
const A = '{"name":"alpha"}';
const F = '{"name":"free"}';
const note = (n) => `data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":${n}}}\n\n`;
const list = (arr) => `id: 4\ndata: {"jsonrpc":"2.0","id":1,"result":{"tools":${arr}}}\n\n`;
const chunk = (s) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

// The client's bytes of one list request whose upstream answers with these
// chunks (each one write of the upstream).
async function through(chunks) {
  const gw = await fx.ensure();
  const c = await RawConn.connect(gw.port);
  try {
    plan.push('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n' +
      chunks.map(chunk).join('') + '0\r\n\r\n');
    await c.write(`POST /mcp HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer ${TOK}\r\n` +
      `Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${REQ.length}\r\n\r\n${REQ}`);
    const [res] = await c.waitResponses(1, WAIT);
    assert.ok(res && res.complete, `incomplete; got ${JSON.stringify(c.text().slice(-600))}`);
    assert.equal(res.status, 200);
    return res.body.toString('latin1');
  } finally { c.destroy(); }
}

test('SSE: the answer between other events of one read, filtered; the events around it byte for byte', T, async () => {
  const got = await through([note(1) + note(2) + list(`[${A},${F}]`) + note(3) + ': ping\n\n' + note(4)]);
  assert.equal(got, note(1) + note(2) + list(`[${F}]`) + note(3) + ': ping\n\n' + note(4));
});

test('SSE: an answer begun in one read and ended in the next, with events after it in that read', T, async () => {
  const ev = list(`[${A},${F}]`);
  const cut = ev.length - 20;
  const got = await through([note(1) + ev.slice(0, cut), ev.slice(cut) + note(2) + note(3), note(4)]);
  assert.equal(got, note(1) + list(`[${F}]`) + note(2) + note(3) + note(4));
});

test('SSE: an answer in several data lines (its data copied) between events of one read', T, async () => {
  const multi = (arr) => `data: {"jsonrpc":"2.0","id":1,\r\ndata: "result":{"tools":${arr}}}\r\n\r\n`;
  const got = await through([note(1) + multi(`[${A},${F}]`) + note(2), note(3) + multi(`[${A}]`) + note(5)]);
  assert.equal(got, note(1) + multi(`[${F}]`) + note(2) + note(3) + multi('[]') + note(5));
});
