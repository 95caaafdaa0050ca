'use strict';
// The MCP test server (tests/servers/mcp-server.js) and lib/mcp-kit.js on
// their own, without the gateway: mcp.test.js trusts their records (what ran,
// the bytes and session id each request arrived with), so those records are
// checked here against a known client, in all four server modes.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const { SCALE, request } = require('./lib/wire');
const { startMcpServer, mintToken, sdkClient, rpc, rawSession, CALL } = require('./lib/mcp-kit');

const T = { timeout: 30000 * SCALE };

for (const mode of [{}, { json: true }, { stateless: true }, { json: true, stateless: true }]) {
  const label = `${mode.json ? 'JSON' : 'SSE'}${mode.stateless ? ', stateless' : ', sessions'}`;
  test(`${label}: the SDK client lists and runs everything; the server records each execution and request`, T, async () => {
    const srv = await startMcpServer(mode);
    const c = await sdkClient(srv.port, { token: mintToken(['mcp:use']) });
    try {
      assert.equal((await c.client.listTools(undefined, CALL)).tools.length, 8);
      assert.equal((await c.client.callTool({ name: 'greet', arguments: { name: 'k' } }, undefined, CALL)).content[0].text, 'Hello, k!');
      await c.client.getPrompt({ name: 'summarize_profile', arguments: { id: '1' } }, CALL);
      await c.client.readResource({ uri: 'file:///private/keys.txt' }, CALL);
      const sids = await srv.sessions();
      assert.deepEqual(sids, mode.stateless ? [] : [c.sessionId]);
      const want = mode.stateless ? null : c.sessionId;
      assert.deepEqual((await srv.executions()).map((e) => [e.kind, e.name, e.sessionId]),
        [['tool', 'greet', want], ['prompt', 'summarize_profile', want], ['resource', 'file:///private/keys.txt', want]]);
      const posts = (await srv.requests()).filter((r) => r.method === 'POST');
      assert.equal(posts[0].json.method, 'initialize');
      assert.equal(posts[0].sessionId, null);
      for (const p of posts.slice(1)) assert.equal(p.sessionId, want, `${p.json.method}: session id seen`);
      await srv.reset();
      assert.deepEqual(await srv.executions(), []);
      assert.deepEqual(await srv.requests(), []);
    } finally {
      await c.close();
      await srv.stop();
    }
  });
}

test('raw POSTs: bytes recorded exactly; unknown session 404; bad JSON 400 -32700', T, async () => {
  const srv = await startMcpServer();
  try {
    const sid = await rawSession(srv.port, {});
    const body = '\t{ "params" :{"arguments":{"name":"\\u00e9 \u00e9"}, "name":"gr\\u0065et"},"id": 3 ,"method":"tools/call","jsonrpc":"2.0"}\r\n';
    await srv.reset();
    const r = await rpc(srv.port, body, { sessionId: sid });
    assert.equal(r.status, 200);
    assert.equal(r.rpc().result.content[0].text, 'Hello, é é!');
    const [seen] = await srv.requests();
    assert.ok(seen.body.equals(Buffer.from(body)), 'recorded body differs from what was sent');
    assert.equal(seen.sessionId, sid);
    const u = await rpc(srv.port, body, { sessionId: 'not-a-session' });
    assert.equal(u.status, 404);
    assert.equal(u.rpc().error.code, -32001);
    const bad = await rpc(srv.port, '{"jsonrpc":', { sessionId: sid });
    assert.equal(bad.status, 400);
    assert.equal(bad.rpc().error.code, -32700);
    const d = await request(srv.port, { method: 'DELETE', path: '/mcp', headers: { 'Mcp-Session-Id': sid } });
    assert.equal(d.status, 200);
    assert.equal((await rpc(srv.port, body, { sessionId: sid })).status, 404, 'a deleted session is gone');
  } finally {
    await srv.stop();
  }
});
