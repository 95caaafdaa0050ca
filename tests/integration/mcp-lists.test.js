'use strict';
// MCP list filtering, byte for byte (SPEC "MCP upstreams", the Lists
// paragraph): the upstream is a raw socket (lib/rawupstream.js, 'script'
// mode) that answers tools/list, prompts/list and resources/list with bytes
// each test chooses, as a JSON body or as a chunked text/event-stream, and
// each test asserts the exact bytes the client got. mcp.test.js checks the
// same with the real SDK server; this file checks what that server never
// sends: odd whitespace and member order, unknown members, mismatched ids,
// unreadable or oversized answers, CRLF events, ids in SSE, priming events,
// and that an event stream is forwarded as it comes (not buffered whole).
//
// Every test also carries a list answer that must come out filtered, so a
// gateway that did not filter fails each of them.
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
const MAX = 4096; // mcp_max_body = 4k

// alpha needs a, beta needs b, free and p_free and res://pub have no section
// (mcp_unlisted defaults to allow).
const POLICY = `
[* /mcp]
auth = token

[mcp-tool:alpha]
scopes = a

[mcp-tool:beta]
scopes = b

[mcp-prompt:p_a]
scopes = a

[mcp-resource:res://a/*]
scopes = a
`;

let up;
let dir;
// What the upstream answers next: a queue of (request, sock) => bytes | null.
const plan = [];
const fx = new GatewayFixture(() => mcpGatewayConfig({
  dir, policyFile: path.join(dir, 'policy.ini'),
  upstreams: [{ name: 'mcp', prefix: '/mcp', url: up.url, protocol: 'mcp', mcp_max_body: '4k' }],
}));

before(async () => {
  dir = tmpDir();
  fs.writeFileSync(path.join(dir, 'policy.ini'), POLICY);
  up = await startRawUpstream({
    mode: 'script',
    answer: (c, req, sock) => {
      const next = plan.shift();
      if (!next) return 'close';
      return next(bodyOf(req), sock);
    },
  });
  await fx.ensure();
});
after(async () => {
  await fx.stop();
  if (up) await up.stop();
});

const TOK = {
  none: mintToken([]),
  a: mintToken(['a']),
  b: mintToken(['b']),
  ab: mintToken(['a', 'b']),
};

// ---- the wire ----

// The body of a request as the upstream got it (Content-Length or chunked).
function bodyOf(req) {
  const he = req.indexOf('\r\n\r\n');
  const head = req.subarray(0, he).toString('latin1');
  let rest = req.subarray(he + 4);
  if (!/\r\ntransfer-encoding:[^\r]*chunked/i.test(head)) return rest.toString('utf8');
  const parts = [];
  for (let g = 0; g < 10000; g++) {
    const le = rest.indexOf('\r\n');
    const n = parseInt(rest.subarray(0, le).toString('latin1'), 16);
    if (!(n > 0)) break;
    parts.push(rest.subarray(le + 2, le + 2 + n));
    rest = rest.subarray(le + 2 + n + 2);
  }
  return Buffer.concat(parts).toString('utf8');
}

function postBytes(body, token) {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(
    'POST /mcp HTTP/1.1\r\nHost: gw.test\r\n' +
    `Authorization: Bearer ${token}\r\n` +
    'Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n' +
    `Content-Length: ${b.length}\r\n\r\n`), b]);
}

// An upstream JSON answer with a correct Content-Length (body: string or Buffer).
function jsonAnswer(body) {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(
    `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n`), b]);
}
const SSE_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n';
const chunk = (s) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]); };
const END = '0\r\n\r\n';
// A whole event-stream answer: each piece one chunk, then the end.
const sseAnswer = (...pieces) => Buffer.concat([Buffer.from(SSE_HEAD), ...pieces.map(chunk), Buffer.from(END)]);

// The client's side: one keep-alive connection, requests one after another.
class Client {
  static async open(port) { const c = new Client(); c.conn = await RawConn.connect(port); c.n = 0; return c; }
  // Sends body with token while the upstream answers with `answer`; resolves
  // the response ({status, headers, body}) once complete.
  async send(body, token, answer) {
    let got;
    plan.push((reqBody, sock) => { got = reqBody; return answer(reqBody, sock); });
    await this.conn.write(postBytes(body, token));
    this.n++;
    const rs = await this.conn.waitResponses(this.n, WAIT);
    const res = rs[this.n - 1];
    assert.ok(res && res.complete, `response ${this.n} incomplete; got: ${JSON.stringify(this.conn.text().slice(-800))}`);
    assert.equal(got, body, 'the upstream got the request body as sent');
    return res;
  }
  close() { this.conn.destroy(); }
}

async function client() { const gw = await fx.ensure(); return Client.open(gw.port); }

// The response is 200, framed so that the client reads exactly `body`
// (chunked, or a Content-Length equal to the body's length), and its body is
// exactly `body`.
function expectBody(res, body, what) {
  assert.equal(res.status, 200, `${what}: status; body ${res.body.toString('latin1').slice(0, 300)}`);
  if (res.headers['content-length'] !== undefined) {
    assert.equal(Number(res.headers['content-length']), res.body.length, `${what}: Content-Length matches the body`);
  } else {
    assert.match(String(res.headers['transfer-encoding'] || ''), /chunked/i, `${what}: framed`);
  }
  assert.equal(res.body.toString('latin1'), Buffer.from(body).toString('latin1'), what);
}

// A list request and its answer on c that must be filtered: the companion
// check that makes a pass-through test fail when filtering is off.
async function expectFilteredOn(c, what) {
  const res = await c.send('{"jsonrpc":"2.0","id":99,"method":"tools/list"}', TOK.none,
    () => jsonAnswer('{"jsonrpc":"2.0","id":99,"result":{"tools":[{"name":"alpha"},{"name":"free"}]}}'));
  expectBody(res, '{"jsonrpc":"2.0","id":99,"result":{"tools":[{"name":"free"}]}}', `${what}: the list after it is filtered`);
}

const listReq = (id, method = 'tools/list') => `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":"${method}","params":{}}`;
const rpcError = (id, message) => `{"jsonrpc":"2.0","id":${id},"error":{"code":-32603,"message":"${message}"}}`;

// ---- JSON answers ----

// Odd whitespace, result before id, unknown members at every level, a
// nextCursor, and a "tools" array outside result that is not the list.
const A = '{"name":"alpha","x":1}';
const B = '{"description":"b","name":"beta"}';
const F = '{"name":"free","inputSchema":{"type":"object","properties":{"tools":[{"name":"alpha"}]}}}';
const odd = (arr) => `{ "result" : {"nextCursor":"c2","tools" : ${arr},"_meta":{"k":[1,2]}},"jsonrpc":"2.0" , "id":1 ,"extra":{"tools":[${A}]}}\n`;

test('JSON tools/list: each token gets exactly its tools, every other byte kept', T, async () => {
  const upstream = odd(`[ ${A} ,\n ${B},${F} ]`);
  const want = {
    none: odd(`[ ${F} ]`),
    a: odd(`[ ${A},${F} ]`),
    b: odd(`[ ${B},${F} ]`),
    ab: upstream,
  };
  const c = await client();
  try {
    for (const [who, body] of Object.entries(want)) {
      const res = await c.send(listReq(1), TOK[who], () => jsonAnswer(upstream));
      expectBody(res, body, `token ${who}`);
      assert.match(String(res.headers['content-type']), /^application\/json/, `token ${who}: Content-Type kept`);
    }
  } finally { c.close(); }
});

test('JSON tools/list: nothing allowed leaves "[ ]"; an empty array stays "[]"', T, async () => {
  const c = await client();
  try {
    let res = await c.send(listReq(1), TOK.none, () => jsonAnswer(odd(`[ ${A} ,\n ${B} ]`)));
    expectBody(res, odd('[ ]'), 'none allowed');
    res = await c.send(listReq(1), TOK.none, () => jsonAnswer(odd('[]')));
    expectBody(res, odd('[]'), 'empty array');
    await expectFilteredOn(c, 'after empty');
  } finally { c.close(); }
});

test('JSON prompts/list by name and resources/list by uri', T, async () => {
  const c = await client();
  try {
    const prompts = (arr) => `{"jsonrpc":"2.0","id":5,"result":{"prompts":${arr},"nextCursor":"p2"}}`;
    let res = await c.send(listReq(5, 'prompts/list'), TOK.none,
      () => jsonAnswer(prompts('[{"name":"p_a","arguments":[]},{"name":"p_free"}]')));
    expectBody(res, prompts('[{"name":"p_free"}]'), 'prompts, token none');
    res = await c.send(listReq(5, 'prompts/list'), TOK.a,
      () => jsonAnswer(prompts('[{"name":"p_a","arguments":[]},{"name":"p_free"}]')));
    expectBody(res, prompts('[{"name":"p_a","arguments":[]},{"name":"p_free"}]'), 'prompts, token a');
    // A resource's "name" is not what is judged: "alpha" here is no tool.
    const resources = (arr) => `{"jsonrpc":"2.0","id":6,"result":{"resources":${arr}}}`;
    const r1 = '{"uri":"res://a/1","name":"free"}';
    const r2 = '{"name":"alpha","uri":"res://pub"}';
    const r3 = '{"uri":"res:\\/\\/a/2","name":"escaped"}'; // the uri is judged decoded
    res = await c.send(listReq(6, 'resources/list'), TOK.none, () => jsonAnswer(resources(`[${r1},${r2},${r3}]`)));
    expectBody(res, resources(`[${r2}]`), 'resources, token none');
    res = await c.send(listReq(6, 'resources/list'), TOK.a, () => jsonAnswer(resources(`[${r1},${r2},${r3}]`)));
    expectBody(res, resources(`[${r1},${r2},${r3}]`), 'resources, token a');
  } finally { c.close(); }
});

test('JSON: ids as string and number are matched as sent', T, async () => {
  const c = await client();
  try {
    const ans = (id) => `{"jsonrpc":"2.0","id":${id},"result":{"tools":[${A},${F}]}}`;
    const want = (id) => `{"jsonrpc":"2.0","id":${id},"result":{"tools":[${F}]}}`;
    let res = await c.send(listReq('req-7'), TOK.none, () => jsonAnswer(ans('"req-7"')));
    expectBody(res, want('"req-7"'), 'string id');
    res = await c.send(listReq(123456), TOK.none, () => jsonAnswer(ans('123456')));
    expectBody(res, want('123456'), 'number id');
    // "1" and 1 are different ids: the answer to "1" with id 1 is not ours.
    res = await c.send(listReq('1'), TOK.none, () => jsonAnswer(ans('1')));
    expectBody(res, ans('1'), 'string "1" answered with number 1: untouched');
  } finally { c.close(); }
});

test('JSON: an answer for another id, and an error for our id, pass untouched', T, async () => {
  const c = await client();
  try {
    const other = `{"jsonrpc":"2.0","id":2,"result":{"tools":[${A},${B}]}}`;
    let res = await c.send(listReq(1), TOK.none, () => jsonAnswer(other));
    expectBody(res, other, 'id 2 for request id 1');
    const err = '{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no tools here","data":{"tools":[{"name":"alpha"}]}}}';
    res = await c.send(listReq(1), TOK.none, () => jsonAnswer(err));
    expectBody(res, err, 'error for our id');
    await expectFilteredOn(c, 'after pass-through');
  } finally { c.close(); }
});

test('JSON: a list larger than mcp_max_body becomes a JSON-RPC error for its id', T, async () => {
  const c = await client();
  try {
    const pad = 'x'.repeat(MAX);
    const big = `{"jsonrpc":"2.0","id":3,"result":{"tools":[${A},{"name":"free","description":"${pad}"}]}}`;
    const res = await c.send(listReq(3), TOK.none, () => jsonAnswer(big));
    expectBody(res, rpcError(3, 'the list answer is larger than mcp_max_body'), 'oversized list');
    // Just under the limit is filtered.
    const fit = (arr) => `{"jsonrpc":"2.0","id":4,"result":{"tools":${arr}}}`;
    const near = `{"name":"free","description":"${'y'.repeat(MAX - 200)}"}`;
    const res2 = await c.send(listReq(4), TOK.none, () => jsonAnswer(fit(`[${A},${near}]`)));
    expectBody(res2, fit(`[${near}]`), 'a list under the limit');
  } finally { c.close(); }
});

test('JSON: an unreadable list answer becomes a JSON-RPC error for its id', T, async () => {
  const c = await client();
  try {
    const fail = rpcError(1, 'the list answer could not be filtered');
    const cases = {
      'duplicate keys': Buffer.from(`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"free","name":"alpha"}]}}`),
      'duplicate id': Buffer.from(`{"jsonrpc":"2.0","id":1,"id":2,"result":{"tools":[${A}]}}`),
      'invalid UTF-8': Buffer.concat([Buffer.from(`{"jsonrpc":"2.0","id":1,"result":{"tools":[${A},{"name":"free","d":"`),
        Buffer.from([0xc3, 0x28]), Buffer.from('"}]}}')]),
      'truncated': Buffer.from(`{"jsonrpc":"2.0","id":1,"result":{"tools":[${A}`),
      'no tools array': Buffer.from('{"jsonrpc":"2.0","id":1,"result":{"tools":{"name":"alpha"}}}'),
      'same id spelled 1.0': Buffer.from(`{"jsonrpc":"2.0","id":1.0,"result":{"tools":[${A}]}}`),
    };
    for (const [what, body] of Object.entries(cases)) {
      const res = await c.send(listReq(1), TOK.none, () => jsonAnswer(body));
      expectBody(res, fail, what);
    }
  } finally { c.close(); }
});

test('tools/call is never filtered, even when its answer looks like a list', T, async () => {
  const c = await client();
  try {
    const looks = `{"jsonrpc":"2.0","id":1,"result":{"tools":[${A},${B}],"content":[]}}`;
    let res = await c.send('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"free","arguments":{}}}',
      TOK.none, () => jsonAnswer(looks));
    expectBody(res, looks, 'tools/call JSON');
    const ev = `event: message\ndata: ${looks}\n\n`;
    res = await c.send('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"free","arguments":{}}}',
      TOK.none, () => sseAnswer(ev));
    expectBody(res, ev, 'tools/call SSE');
    await expectFilteredOn(c, 'after tools/call');
  } finally { c.close(); }
});

// ---- SSE answers ----

const note = (n, nl = '\n') => `event: message${nl}data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t","progress":${n}}}${nl}${nl}`;
const listJson = (id, arr) => `{"jsonrpc":"2.0","id":${id},"result":{"tools":${arr},"nextCursor":null}}`;

test('SSE: forwarded as it comes; the list event filtered with its id:/event: lines; the stream goes on', T, async () => {
  const c = await client();
  let sock;
  const ready = new Promise((resolve) => {
    c.conn.write(postBytes(listReq(1), TOK.none));
    plan.push((reqBody, s) => { sock = s; resolve(); return SSE_HEAD + chunk(note(1)).toString('latin1'); });
  });
  try {
    await ready;
    // The first notification reaches the client before the list exists:
    // the gateway does not buffer the stream.
    assert.ok(await c.conn.waitFor((k) => k.text().includes('"progress":1}}\n\n'), WAIT),
      `the first notification did not arrive on its own; got ${JSON.stringify(c.conn.text())}`);
    const listEv = `id: ev-3\nevent: message\ndata: ${listJson(1, `[${A},${F}]`)}\n\n`;
    // The list event in two chunks, cut inside its data.
    sock.write(chunk(listEv.slice(0, 40)));
    sock.write(chunk(listEv.slice(40)));
    assert.ok(await c.conn.waitFor((k) => k.text().includes('"nextCursor":null}}\n\n'), WAIT), 'the list event did not arrive');
    assert.ok(!c.conn.text().includes('"progress":2'), 'nothing was written after the list yet');
    sock.write(chunk(note(2)));
    assert.ok(await c.conn.waitFor((k) => k.text().includes('"progress":2}}\n\n'), WAIT), 'a notification after the list did not arrive');
    sock.write(END);
    const [res] = await c.conn.waitResponses(1, WAIT);
    expectBody(res, note(1) + `id: ev-3\nevent: message\ndata: ${listJson(1, `[${F}]`)}\n\n` + note(2), 'the stream');
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
  } finally { c.close(); }
});

test('SSE: id-less, other-id, priming and keep-alive events untouched; only our answer filtered', T, async () => {
  const c = await client();
  try {
    const idless = `data: {"jsonrpc":"2.0","result":{"tools":[${A}]}}\n\n`;
    const other = `id: e1\ndata: ${listJson(7, `[${A},${B}]`)}\n\n`;
    const priming = 'id: x\ndata: \n\n';
    const comment = ': keep-alive\n\n';
    const request = 'data: {"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{"tools":[{"name":"alpha"}]}}\n\n';
    const ours = (arr) => `event: message\nid: e2\ndata: ${listJson(1, arr)}\n\n`;
    const res = await c.send(listReq(1), TOK.none,
      () => sseAnswer(priming, idless, other, comment, request, ours(`[${A},${B},${F}]`), note(3)));
    expectBody(res, priming + idless + other + comment + request + ours(`[${F}]`) + note(3), 'the stream');
  } finally { c.close(); }
});

test('SSE: CRLF and LF line endings, multi-line data, string ids', T, async () => {
  const c = await client();
  try {
    const crlf = (arr) => `event: message\r\nid: 5\r\ndata: ${listJson('"L"', arr)}\r\n\r\n`;
    let res = await c.send(listReq('L'), TOK.a, () => sseAnswer(note(1, '\r\n'), crlf(`[${A},${B},${F}]`), note(2, '\r\n')));
    expectBody(res, note(1, '\r\n') + crlf(`[${A},${F}]`) + note(2, '\r\n'), 'CRLF');
    // Data over several lines is judged joined and keeps its lines.
    const multi = (arr) => `data: {"jsonrpc":"2.0","id":"M",\ndata: "result":{"tools":${arr}}}\n\n`;
    res = await c.send(listReq('M'), TOK.b, () => sseAnswer(multi(`[${A},${B},${F}]`), note(4)));
    expectBody(res, multi(`[${B},${F}]`) + note(4), 'multi-line data');
  } finally { c.close(); }
});

test('SSE: an oversized list event becomes an error event for our id; the stream goes on', T, async () => {
  const c = await client();
  try {
    const big = `id: 9\ndata: ${listJson(1, `[${A},{"name":"free","d":"${'z'.repeat(MAX)}"}]`)}\n\n`;
    const res = await c.send(listReq(1), TOK.none, () => sseAnswer(note(1), big, note(2)));
    const body = res.body.toString('latin1');
    assert.ok(!body.includes(A), 'the unfiltered list was sent');
    expectBody(res, note(1) + `event: message\ndata: ${rpcError(1, 'the list answer is larger than mcp_max_body')}\n\n` + note(2), 'the stream');
  } finally { c.close(); }
});

test('SSE: an unreadable event for our id becomes an error event; a later good answer is filtered', T, async () => {
  const c = await client();
  try {
    const dup = 'data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"free","name":"alpha"}]}}\n\n';
    const good = `data: ${listJson(1, `[${A},${F}]`)}\n\n`;
    const res = await c.send(listReq(1), TOK.none, () => sseAnswer(dup, good, note(1)));
    expectBody(res, `data: ${rpcError(1, 'the list answer could not be filtered')}\n\n` + `data: ${listJson(1, `[${F}]`)}\n\n` + note(1), 'the stream');
  } finally { c.close(); }
});

test('upstream framings: chunked JSON, no Content-Type, SSE with Content-Length, CRLF cut across chunks', T, async () => {
  const c = await client();
  try {
    const b = listJson(1, `[${A},${F}]`);
    const want = listJson(1, `[${F}]`);
    let res = await c.send(listReq(1), TOK.none, () => 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n' +
      chunk(b.slice(0, 10)) + chunk(b.slice(10)) + END);
    expectBody(res, want, 'chunked JSON');
    // Without a Content-Type the answer is read as JSON (fail closed).
    res = await c.send(listReq(1), TOK.none, () => `HTTP/1.1 200 OK\r\nContent-Length: ${b.length}\r\n\r\n${b}`);
    expectBody(res, want, 'no Content-Type');
    const ev = `data: ${b}\n\n`;
    res = await c.send(listReq(1), TOK.none, () => `HTTP/1.1 200 OK\r\nContent-Type: Text/Event-Stream; charset=utf-8\r\nContent-Length: ${ev.length}\r\n\r\n${ev}`);
    expectBody(res, `data: ${want}\n\n`, 'SSE with Content-Length');
    // The CR and the LF of one line end in two chunks are one line end.
    const crlf = (j) => `id: 1\r\ndata: ${j}\r\n\r\n`;
    const e = crlf(b);
    res = await c.send(listReq(1), TOK.none, () => sseAnswer(e.slice(0, -3), '\n\r', '\n', note(1, '\r\n')));
    expectBody(res, crlf(want) + note(1, '\r\n'), 'CRLF cut across chunks');
  } finally { c.close(); }
});

// ---- a list answer never slips through after another event ----

test('SSE: an oversized event that is not the list does not let the list through unfiltered', T, async () => {
  const c = await client();
  try {
    const bigNote = `data: {"jsonrpc":"2.0","method":"notifications/message","params":{"d":"${'q'.repeat(MAX)}"}}\n\n`;
    const res = await c.send(listReq(1), TOK.none, () => sseAnswer(bigNote, `data: ${listJson(1, `[${A},${F}]`)}\n\n`, note(1)));
    const body = res.body.toString('latin1');
    assert.ok(body.endsWith(note(1)), 'the stream goes on');
    assert.ok(!body.includes(A), `an unfiltered list reached the client: ${JSON.stringify(body.replace(/q{100,}/, 'q...'))}`);
  } finally { c.close(); }
});

test('SSE: a second answer for our id is not passed unfiltered', T, async () => {
  const c = await client();
  try {
    const ours = `data: ${listJson(1, `[${A},${F}]`)}\n\n`;
    const res = await c.send(listReq(1), TOK.none, () => sseAnswer(ours, ours));
    const body = res.body.toString('latin1');
    assert.ok(body.startsWith(`data: ${listJson(1, `[${F}]`)}\n\n`), 'the first answer is filtered');
    assert.ok(!body.includes(A), `an unfiltered list reached the client: ${JSON.stringify(body)}`);
  } finally { c.close(); }
});

// ---- events that cannot be an answer are not parsed ----

// A message that cannot hold a "result" member in any reading (no such
// letters in any case, no backslash that could spell them) answers nothing:
// it passes as it came, readable or not, without the strict parse. One
// that might (an escape, "Result") is still read strictly and, unreadable,
// becomes an error for our id.
test('SSE: an event that cannot hold a result passes untouched even unreadable; one that may is read strictly', T, async () => {
  const c = await client();
  try {
    const junk = 'data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}\n\n'; // unclosed
    const text = 'data: ping\ndata: {"a":[1,2}\n\n';
    const upper = `data: {"jsonrpc":"2.0","id":1,"Result":{"tools":[${A}]}\n\n`; // unclosed
    const esc = `data: {"jsonrpc":"2.0","id":1,"r\\u0065sult":{"tools":[${A}]}} x\n\n`;
    const good = `data: ${listJson(1, `[${A},${F}]`)}\n\n`;
    const res = await c.send(listReq(1), TOK.none, () => sseAnswer(junk, note(1), text, upper, esc, good, note(2)));
    const fail = `data: ${rpcError(1, 'the list answer could not be filtered')}\n\n`;
    expectBody(res, junk + note(1) + text + fail + fail + `data: ${listJson(1, `[${F}]`)}\n\n` + note(2), 'the stream');
  } finally { c.close(); }
});

test('SSE: many notifications before the answer go out in order, the answer filtered', T, async () => {
  const c = await client();
  try {
    const notes = Array.from({ length: 300 }, (_, k) => note(k)).join('');
    const res = await c.send(listReq(1), TOK.none, () => sseAnswer(notes, `data: ${listJson(1, `[${A},${F}]`)}\n\n`, note(300)));
    expectBody(res, notes + `data: ${listJson(1, `[${F}]`)}\n\n` + note(300), 'the stream');
  } finally { c.close(); }
});

test('the gateway did not crash', async () => {
  assert.deepEqual(fx.crashes, []);
  const gw = await fx.ensure();
  assert.ok(!gw.exited());
  assert.doesNotMatch(gw.stderr(), /AddressSanitizer|runtime error|LeakSanitizer/);
});
