'use strict';
// The map of gateway/ (gateway/README.md) as checks over the #include lines
// and sizes of the sources: a dependency the map forbids fails here, so it
// cannot creep back in unnoticed.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const GW = path.resolve(__dirname, '..', '..', 'gateway');
const MAX_LINES = 950;

function files(dir) {
  return fs.readdirSync(path.join(GW, dir))
    .filter((f) => /\.[ch]$/.test(f))
    .map((f) => path.join(dir, f));
}
const LIB = files('lib');
const LOOP = files('loop');
const ALL = [...LIB, ...LOOP, 'main.c'];

function includes(rel) {
  const text = fs.readFileSync(path.join(GW, rel), 'utf8');
  const out = [];
  for (const m of text.matchAll(/^\s*#\s*include\s*([<"])([^>"]+)[>"]/gm)) out.push({ sys: m[1] === '<', name: m[2] });
  return out;
}
const base = (f) => path.basename(f);
const loopHeaders = new Set(LOOP.filter((f) => f.endsWith('.h')).map(base));
const libHeaders = new Set(LIB.filter((f) => f.endsWith('.h')).map(base));
// The module a header belongs to: "conn.h" -> conn; "-t.h" headers are
// types only and carry no call dependency.
const moduleOf = (h) => (h.endsWith('-t.h') ? null : h.replace(/\.h$/, ''));

test('gateway/lib has no libuv and nothing of gateway/loop', () => {
  for (const f of LIB) {
    for (const inc of includes(f)) {
      assert.ok(!(inc.sys && inc.name === 'uv.h'), `${f} includes <uv.h>`);
      assert.ok(!loopHeaders.has(inc.name), `${f} includes ${inc.name} from gateway/loop`);
    }
  }
});

test('every quoted include names a header of lib or loop (or llhttp)', () => {
  for (const f of ALL) {
    for (const inc of includes(f)) {
      if (inc.sys) continue;
      assert.ok(libHeaders.has(inc.name) || loopHeaders.has(inc.name) || inc.name === 'llhttp.h',
        `${f} includes "${inc.name}", which is neither in gateway/lib nor gateway/loop`);
    }
  }
});

test('server, worker and main are reached only from above them', () => {
  // main.c -> server -> worker; their types (-t.h) may be shared.
  const allowed = { 'server.h': ['main.c', 'loop/server.c'], 'worker.h': ['loop/worker.c', 'loop/server.c'] };
  for (const f of ALL) {
    for (const inc of includes(f)) {
      if (allowed[inc.name]) assert.ok(allowed[inc.name].includes(f), `${f} includes ${inc.name}`);
      assert.ok(!/main\.[ch]$/.test(inc.name), `${f} includes ${inc.name}`);
    }
  }
});

test('the client connection is opaque outside conn.c', () => {
  for (const f of ALL) {
    const text = fs.readFileSync(path.join(GW, f), 'utf8');
    if (f === 'loop/conn.c') assert.match(text, /^struct client \{/m);
    else assert.doesNotMatch(text, /^struct client \{/m, `${f} defines struct client`);
  }
});

test('conn does no token, policy or issuer work itself', () => {
  const banned = ['jwt.h', 'jwks.h', 'policy.h', 'm2m.h', 'verify.h', 'keys.h', 'auth.h', 'tokcache.h'];
  for (const inc of includes('loop/conn.c')) assert.ok(!banned.includes(inc.name), `conn.c includes ${inc.name}`);
});

test('the only circle among the loop rooms is conn <-> {gate, local, upstream, revocations}', () => {
  const mods = new Set(LOOP.filter((f) => f.endsWith('.c')).map((f) => base(f).replace(/\.c$/, '')));
  const edges = new Map();
  for (const m of mods) {
    const deps = new Set();
    for (const src of [`loop/${m}.c`, `loop/${m}.h`]) {
      if (!fs.existsSync(path.join(GW, src))) continue;
      for (const inc of includes(src)) {
        const d = moduleOf(inc.name);
        if (d && d !== m && mods.has(d)) deps.add(d);
      }
    }
    edges.set(m, deps);
  }
  // Without conn the graph must have no cycle at all.
  const state = new Map();
  const visit = (m, trail) => {
    if (state.get(m) === 2) return;
    assert.notEqual(state.get(m), 1, `include cycle without conn: ${[...trail, m].join(' -> ')}`);
    state.set(m, 1);
    for (const d of edges.get(m)) if (d !== 'conn') visit(d, [...trail, m]);
    state.set(m, 2);
  };
  for (const m of mods) if (m !== 'conn') visit(m, []);
  // And the rooms on a circle through conn are only the three it calls.
  const reach = (from, next) => {
    const seen = new Set([from]);
    const todo = [from];
    while (todo.length) for (const d of next(todo.pop())) if (!seen.has(d)) { seen.add(d); todo.push(d); }
    return seen;
  };
  const down = reach('conn', (m) => edges.get(m));
  const up = reach('conn', (m) => [...mods].filter((x) => edges.get(x).has(m)));
  const circle = [...down].filter((m) => up.has(m) && m !== 'conn');
  for (const m of circle) assert.ok(['gate', 'local', 'upstream', 'revocations'].includes(m), `${m} is on a circle through conn`);
});

test('no proxy.h, and no source file over the size of one concern', () => {
  assert.ok(!fs.existsSync(path.join(GW, 'proxy.h')) && !fs.existsSync(path.join(GW, 'loop', 'proxy.h')));
  for (const f of ALL) {
    const n = fs.readFileSync(path.join(GW, f), 'utf8').split('\n').length - 1;
    assert.ok(n <= MAX_LINES, `${f} has ${n} lines (at most ${MAX_LINES})`);
  }
});
