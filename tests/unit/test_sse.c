/* sse: the WHATWG event-stream rules, each stream fed whole, byte by byte
 * and in random cuts: the same events every time, and the bytes the caller
 * is told to forward (SSE_PASS, plus ev->raw of the events it held) are
 * the input, in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "tap.h"

enum { HOLD_NONE, HOLD_ALL, HOLD_ODD };

typedef struct {
  int policy, on_overflow, nbegin;
  outbuf_t fwd; /* what a proxy would forward */
  outbuf_t log; /* the events, described */
} rec_t;

static void put_esc(outbuf_t *o, const char *p, size_t n) {
  if (!p) {
    OUTBUF_LIT(o, "(null)");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f && c != '\\') outbuf_append(o, &p[i], 1);
    else outbuf_printf(o, "\\x%02x", c);
  }
}

static int cb(void *ud, sse_what_t what, const char *p, size_t n, const sse_event_t *ev) {
  rec_t *r = ud;
  switch (what) {
  case SSE_PASS: outbuf_append(&r->fwd, p, n); return 0;
  case SSE_BEGIN:
    r->nbegin++;
    return r->policy == HOLD_ALL || (r->policy == HOLD_ODD && r->nbegin % 2) ? SSE_HOLD : SSE_STREAM;
  case SSE_OVERFLOW: return r->on_overflow;
  case SSE_EVENT:
    outbuf_printf(&r->log, "[c%d d%d tl%d h%d x%d r%lld type=", ev->complete, ev->has_data,
                  ev->too_large, ev->held, ev->dropped, (long long)ev->retry);
    put_esc(&r->log, ev->type, ev->type_len);
    OUTBUF_LIT(&r->log, " id=");
    put_esc(&r->log, ev->id, ev->id_len);
    OUTBUF_LIT(&r->log, " data=");
    put_esc(&r->log, ev->data, ev->data_len);
    OUTBUF_LIT(&r->log, " raw=");
    put_esc(&r->log, ev->raw, ev->raw_len);
    OUTBUF_LIT(&r->log, "]");
    if (ev->held) outbuf_append(&r->fwd, ev->raw, ev->raw_len);
    return 0;
  }
  return -1;
}

enum { WHOLE, BYTES, CUTS };

/* Runs input through a parser; the event log, NUL-terminated, in *log. */
static void run(const char *in, size_t n, size_t max, int policy, int on_overflow, int mode,
                rec_t *r) {
  memset(r, 0, sizeof *r);
  r->policy = policy;
  r->on_overflow = on_overflow;
  sse_t *s = sse_new(max);
  size_t i = 0;
  while (i < n) {
    size_t k = mode == WHOLE ? n : mode == BYTES ? 1 : 1 + (size_t)rand() % 7;
    if (k > n - i) k = n - i;
    /* a copy of just this cut, so a read past it is an ASan report */
    char *cut = malloc(k);
    memcpy(cut, in + i, k);
    sse_feed(s, cut, k, cb, r);
    free(cut);
    i += k;
  }
  sse_finish(s, cb, r);
  sse_free(s);
  outbuf_append(&r->log, "", 1);
}

static void rec_free(rec_t *r) {
  outbuf_free(&r->fwd);
  outbuf_free(&r->log);
}

/* Checks the events of in against want (for each holding policy and each
 * way of cutting) and the pass-through invariant. */
static void expect_max(const char *what, const char *in, size_t n, size_t max, const char *want) {
  int ok = 1, fwd_ok = 1;
  char first[4096] = "";
  for (int policy = HOLD_NONE; policy <= HOLD_ODD; policy++)
    for (int mode = WHOLE; mode <= CUTS; mode++) {
      rec_t r;
      run(in, n, max, policy, SSE_STREAM, mode, &r);
      /* raw= differs with the policy: compare the log without it for
       * policy != HOLD_ALL only against its own whole run */
      if (policy == HOLD_ALL && mode == WHOLE) snprintf(first, sizeof first, "%s", r.log.data);
      if (policy == HOLD_ALL && strcmp(r.log.data, want) != 0) {
        if (ok) printf("#   got  %s\n#   want %s\n", r.log.data, want);
        ok = 0;
      }
      if (r.fwd.len != n || memcmp(r.fwd.data, in, n) != 0) fwd_ok = 0;
      rec_free(&r);
    }
  CHECK(ok, what);
  char w[300];
  snprintf(w, sizeof w, "%s: forwarded bytes are the input (every policy, every cut)", what);
  CHECK(fwd_ok, w);
}

static void expect(const char *what, const char *in, const char *want) {
  expect_max(what, in, strlen(in), 1 << 20, want);
}

static void test_rules(void) {
  expect("LF lines, one space dropped", "data: a\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=data: a\\x0a\\x0a]");
  expect("no space after the colon", "data:a\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=data:a\\x0a\\x0a]");
  expect("only one space is dropped", "data:  a\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data= a raw=data:  a\\x0a\\x0a]");
  expect("CRLF lines; the last LF passes after the event", "data: a\r\n\r\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=data: a\\x0d\\x0a\\x0d]");
  expect("CR lines", "data: a\rdata: b\r\r",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a\\x0ab raw=data: a\\x0ddata: b\\x0d\\x0d]");
  expect("data lines joined by LF, mixed line ends", "data: a\r\ndata\ndata: c\r\r\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a\\x0a\\x0ac "
         "raw=data: a\\x0d\\x0adata\\x0adata: c\\x0d\\x0d]");
  expect("a line without a colon is a field with an empty value", "data\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data= raw=data\\x0a\\x0a]");
  expect("a comment before the event is not part of it; one inside is", ": hi\ndata: a\n: in\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=data: a\\x0a: in\\x0a\\x0a]");
  expect("comments and empty lines alone are no event", ": ping\n\n\r\n:\r", "");
  expect("event type kept, reset after each event", "event: up\ndata: 1\n\ndata: 2\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type=up id= data=1 raw=event: up\\x0adata: 1\\x0a\\x0a]"
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=2 raw=data: 2\\x0a\\x0a]");
  expect("last event id carries over; an empty one resets it",
         "id: 7\ndata: a\n\ndata: b\n\nid\ndata: d\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id=7 data=a raw=id: 7\\x0adata: a\\x0a\\x0a]"
         "[c1 d1 tl0 h1 x0 r-1 type= id=7 data=b raw=data: b\\x0a\\x0a]"
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=d raw=id\\x0adata: d\\x0a\\x0a]");
  expect("retry: digits only", "retry: 3000\ndata: a\n\nretry: 3a\ndata: b\n\n",
         "[c1 d1 tl0 h1 x0 r3000 type= id= data=a raw=retry: 3000\\x0adata: a\\x0a\\x0a]"
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=b raw=retry: 3a\\x0adata: b\\x0a\\x0a]");
  expect("unknown fields are ignored, their bytes kept", "foo: bar\ndata: a\nDATA: b\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=foo: bar\\x0adata: a\\x0aDATA: b\\x0a\\x0a]");
  expect("an event without data is no message (a client does not dispatch it)",
         "event: x\nid: 3\n\n", "[c1 d0 tl0 h1 x0 r-1 type=x id=3 data= raw=event: x\\x0aid: 3\\x0a\\x0a]");
  expect("a BOM at the very start is ignored and passed on", "\xEF\xBB\xBF" "data: a\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=data: a\\x0a\\x0a]");
  expect("a BOM later is part of a field name", "data: a\n\n\xEF\xBB\xBF" "data: b\n\n",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=data: a\\x0a\\x0a]"
         "[c1 d0 tl0 h1 x0 r-1 type= id= data= raw=\\xef\\xbb\\xbfdata: b\\x0a\\x0a]");
  expect("half a BOM starts a field name", "\xEF\xBB" "data: a\n\n",
         "[c1 d0 tl0 h1 x0 r-1 type= id= data= raw=\\xef\\xbbdata: a\\x0a\\x0a]");
  expect("half a BOM later starts an event that never ends", "data: a\n\n\xEF\xBB",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=data: a\\x0a\\x0a]"
         "[c0 d0 tl0 h1 x0 r-1 type= id= data=(null) raw=\\xef\\xbb]");
  expect("a stream of only half a BOM", "\xEF\xBB", "");
  expect("an event cut off by the end is not complete", "data: a\n\ndata: b\nda",
         "[c1 d1 tl0 h1 x0 r-1 type= id= data=a raw=data: a\\x0a\\x0a]"
         "[c0 d1 tl0 h1 x0 r-1 type= id= data=(null) raw=data: b\\x0ada]");
  expect("a JSON-RPC message in two data lines",
         "event: message\r\nid: s1-4\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":1}\r\n\r\n",
         "[c1 d1 tl0 h1 x0 r-1 type=message id=s1-4 data={\"jsonrpc\":\"2.0\",\\x0a\"id\":1} "
         "raw=event: message\\x0d\\x0aid: s1-4\\x0d\\x0adata: {\"jsonrpc\":\"2.0\",\\x0d\\x0adata: "
         "\"id\":1}\\x0d\\x0a\\x0d]");

  static const char nul[] = "id: 7\ndata: a\n\nid: 8\0\ndata: c\n\n";
  expect_max("an id with a NUL is ignored", nul, sizeof nul - 1, 1 << 20,
             "[c1 d1 tl0 h1 x0 r-1 type= id=7 data=a raw=id: 7\\x0adata: a\\x0a\\x0a]"
             "[c1 d1 tl0 h1 x0 r-1 type= id=7 data=c raw=id: 8\\x00\\x0adata: c\\x0a\\x0a]");
  /* Tabs, a NUL and other control bytes inside long lines: the line-end
   * scan looks at such words byte by byte and goes on past them. */
  static const char ctl[] = "data: {\"a\":\t1,\t\"b\":\"0123456789abcdef\"}\r\n"
                            "data: \x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\0 tail of it\n\n";
  expect_max("control bytes in long data lines are data", ctl, sizeof ctl - 1, 1 << 20,
             "[c1 d1 tl0 h1 x0 r-1 type= id= "
             "data={\"a\":\\x091,\\x09\"b\":\"0123456789abcdef\"}\\x0a"
             "\\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x0b\\x0c\\x00 tail of it "
             "raw=data: {\"a\":\\x091,\\x09\"b\":\"0123456789abcdef\"}\\x0d\\x0a"
             "data: \\x01\\x02\\x03\\x04\\x05\\x06\\x07\\x08\\x0b\\x0c\\x00 tail of it\\x0a\\x0a]");
}

static void test_limits(void) {
  /* max 8: "123456789" is 9 bytes of data */
  const char *big = "data: 12345678\n\ndata: 123456789\n\n: c\n";
  expect_max("a held event up to max is held; over it overflows, the bytes still delimited", big,
             strlen(big), 16,
             "[c1 d1 tl0 h1 x0 r-1 type= id= data=12345678 raw=data: 12345678\\x0a\\x0a]"
             "[c1 d1 tl1 h0 x0 r-1 type= id= data=(null) raw=(null)]");
  /* max 8 over raw bytes held: the first event (16 bytes) overflows too */
  expect_max("a held event over max overflows; SSE_STREAM forwards it all", big, strlen(big), 8,
             "[c1 d1 tl1 h0 x0 r-1 type= id= data=(null) raw=(null)]"
             "[c1 d1 tl1 h0 x0 r-1 type= id= data=(null) raw=(null)]");
  for (int mode = WHOLE; mode <= CUTS; mode++) {
    rec_t r;
    run(big, strlen(big), 8, HOLD_ALL, SSE_DROP, mode, &r);
    CHECK(r.fwd.len == 4 && memcmp(r.fwd.data, ": c\n", 4) == 0,
          "SSE_DROP on overflow: the event's bytes are not forwarded, what follows is");
    CHECK(strstr(r.log.data, "x1") != NULL, "and the event says it was dropped");
    rec_free(&r);
  }
  for (int mode = WHOLE; mode <= CUTS; mode++) {
    rec_t r;
    const char *s = "data: 1\n\n";
    run(s, strlen(s), 1 << 20, HOLD_NONE, SSE_STREAM, mode, &r);
    CHECK_STR(r.log.data, "[c1 d1 tl0 h0 x0 r-1 type= id= data=(null) raw=(null)]",
              "an event not held: neither data nor raw kept");
    rec_free(&r);
  }
}

static int stop_cb(void *ud, sse_what_t what, const char *p, size_t n, const sse_event_t *ev) {
  return what == SSE_EVENT ? -1 : 0;
}

static void test_api(void) {
  sse_t *s = sse_new(64);
  CHECK_INT(sse_feed(s, "data: a\n\ndata: b\n\n", 18, stop_cb, NULL), -1,
            "a negative answer stops sse_feed");
  sse_free(s);

  outbuf_t o = {0};
  const char raw[] = "id: 1\r\ndata: {\"a\":\r\n: c\r\ndata:1}\r\nevent: m\r\n\r";
  CHECK_INT(sse_rewrite_data(raw, sizeof raw - 1, "{\"b\":\n2}", 8, &o), 0, "rewrite");
  const char want[] = "id: 1\r\ndata: {\"b\":\r\ndata: 2}\r\n: c\r\nevent: m\r\n\r";
  CHECK(o.len == sizeof want - 1 && memcmp(o.data, want, o.len) == 0,
        "rewrite: other lines in place, data lines replaced where the first stood");
  o.len = 0;
  const char raw2[] = "data\n\n";
  sse_rewrite_data(raw2, sizeof raw2 - 1, "x", 1, &o);
  CHECK(o.len == 9 && memcmp(o.data, "data: x\n\n", 9) == 0, "rewrite: a bare data line");
  outbuf_free(&o);
}

/* Random streams of SSE-ish tokens: the three ways of cutting agree and
 * the invariant holds, whatever the holding policy. */
static void test_random(void) {
  static const char *tok[] = {"data", "data:", "data: ", "id:", "id: ", "event:", "retry: 1", ":",
                              "x", "{}", " ", "\r", "\n", "\r\n", "\xEF\xBB\xBF", "\xEF", "\0"};
  int same = 1, fwd = 1;
  srand(7);
  for (int it = 0; it < 3000; it++) {
    char in[256];
    size_t n = 0;
    int k = rand() % 40;
    for (int j = 0; j < k; j++) {
      const char *t = tok[rand() % (int)(sizeof tok / sizeof tok[0])];
      size_t tl = *t ? strlen(t) : 1;
      if (n + tl > sizeof in) break;
      memcpy(in + n, t, tl);
      n += tl;
    }
    size_t max = 4 + (size_t)(rand() % 40);
    for (int policy = HOLD_NONE; policy <= HOLD_ODD; policy++) {
      rec_t a, b, c;
      run(in, n, max, policy, SSE_STREAM, WHOLE, &a);
      run(in, n, max, policy, SSE_STREAM, BYTES, &b);
      run(in, n, max, policy, SSE_STREAM, CUTS, &c);
      if (strcmp(a.log.data, b.log.data) || strcmp(a.log.data, c.log.data)) same = 0;
      if (a.fwd.len != n || b.fwd.len != n || c.fwd.len != n ||
          (n && (memcmp(a.fwd.data, in, n) || memcmp(b.fwd.data, in, n) || memcmp(c.fwd.data, in, n))))
        fwd = 0;
      rec_free(&a);
      rec_free(&b);
      rec_free(&c);
    }
  }
  CHECK(same, "3000 random streams: whole, byte by byte and random cuts give the same events");
  CHECK(fwd, "3000 random streams: the forwarded bytes are the input");
}

int main(void) {
  test_rules();
  test_limits();
  test_api();
  test_random();
  return TAP_DONE();
}
