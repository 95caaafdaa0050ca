/* libFuzzer driver for gateway/lib/sse.h, the event-stream reader of MCP
 * upstream responses (what an upstream server sends back).
 *
 * Input: FLAGS STREAM. FLAGS bits 0-5 pick max (1 + 4 * bits); bits 6-7
 * the holding policy (hold none, all, every other event, every third).
 *
 * Asserted (__builtin_trap() on violation):
 *   - fed whole, byte by byte, and in cuts of 1 to 16 bytes picked by the
 *     input's own bytes, the events are the same (every field sse_event_t
 *     reports, raw bytes included) in the same order;
 *   - answering SSE_STREAM to every SSE_OVERFLOW and forwarding ev->raw of
 *     every held event, the bytes forwarded are the input, in order;
 *   - answering SSE_DROP, no byte of a dropped event is forwarded: what is
 *     forwarded is the input minus whole spans, and never longer;
 *   - held events are at most max bytes, data at most max; data exactly
 *     for held complete events, never too_large while held; a held complete
 *     event's raw, fed alone into a fresh parser, is one event with the
 *     same data (unless it starts with a BOM's first byte, which a fresh
 *     stream would read as a BOM). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define CHECK(c)                    \
  do {                              \
    if (!(c)) __builtin_trap();     \
  } while (0)

typedef struct {
  int policy, on_overflow, n;
  size_t max;
  outbuf_t fwd;
  uint64_t digest; /* of every event, in order */
  size_t events;
  int check_raw;
} run_t;

static uint64_t mix(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3u;
  return (h ^ n) * 0x100000001b3u;
}

static int count_cb(void *ud, sse_what_t what, const char *p, size_t n, const sse_event_t *ev) {
  size_t *c = ud;
  if (what == SSE_EVENT) (*c)++;
  return what == SSE_BEGIN ? SSE_HOLD : 0;
}

typedef struct {
  const char *data;
  size_t len, count;
  int has_data;
} alone_t;

static int alone_cb(void *ud, sse_what_t what, const char *p, size_t n, const sse_event_t *ev) {
  alone_t *a = ud;
  if (what == SSE_BEGIN) return SSE_HOLD;
  if (what == SSE_EVENT && ev->complete) {
    a->count++;
    a->has_data = ev->has_data;
    a->len = ev->data_len;
    a->data = NULL;
    if (ev->data && ev->data_len) {
      char *copy = malloc(ev->data_len);
      memcpy(copy, ev->data, ev->data_len);
      a->data = copy;
    }
  }
  return 0;
}

static void check_alone(const sse_event_t *ev, size_t max) {
  if (!ev->complete || !ev->held || ev->raw_len == 0 || (unsigned char)ev->raw[0] == 0xEF) return;
  sse_t *s = sse_new(max);
  alone_t a = {0};
  CHECK(sse_feed(s, ev->raw, ev->raw_len, alone_cb, &a) == 0 && sse_finish(s, alone_cb, &a) == 0);
  sse_free(s);
  CHECK(a.count == 1 && a.has_data == ev->has_data && a.len == ev->data_len);
  CHECK(a.len == 0 || memcmp(a.data, ev->data, a.len) == 0);
  free((void *)a.data);
}

static int cb(void *ud, sse_what_t what, const char *p, size_t n, const sse_event_t *ev) {
  run_t *r = ud;
  switch (what) {
  case SSE_PASS:
    CHECK(p && n && !ev);
    outbuf_append(&r->fwd, p, n);
    return 0;
  case SSE_BEGIN:
    r->n++;
    if (r->policy == 1) return SSE_HOLD;
    if (r->policy == 2) return r->n % 2 ? SSE_HOLD : SSE_STREAM;
    if (r->policy == 3) return r->n % 3 ? SSE_STREAM : SSE_HOLD;
    return SSE_STREAM;
  case SSE_OVERFLOW: CHECK(ev && ev->too_large && !ev->raw); return r->on_overflow;
  case SSE_EVENT:
    CHECK(ev && !p && !n);
    CHECK(ev->raw_len <= r->max && (!ev->data || ev->data_len <= r->max));
    CHECK(ev->held == (ev->raw != NULL));
    if (ev->complete && ev->held) CHECK(!ev->too_large && ev->data);
    if (!ev->complete || !ev->held) CHECK(ev->data == NULL);
    if (ev->too_large) CHECK(!ev->held);
    CHECK(ev->type_len <= SSE_FIELD_MAX && ev->id_len <= SSE_FIELD_MAX);
    r->events++;
    uint8_t flags[] = {ev->has_data, ev->too_large, ev->held, ev->dropped, ev->complete,
                       ev->type_cut, ev->id_cut};
    r->digest = mix(r->digest, flags, sizeof flags);
    r->digest = mix(r->digest, &ev->retry, sizeof ev->retry);
    r->digest = mix(r->digest, ev->type, ev->type_len);
    r->digest = mix(r->digest, ev->id, ev->id_len);
    if (ev->data) r->digest = mix(r->digest, ev->data, ev->data_len);
    if (ev->raw) r->digest = mix(r->digest, ev->raw, ev->raw_len);
    if (r->check_raw) check_alone(ev, r->max);
    if (ev->held) outbuf_append(&r->fwd, ev->raw, ev->raw_len);
    return 0;
  }
  CHECK(0);
  return -1;
}

/* mode 0 whole, 1 byte by byte, 2 cuts picked by the bytes themselves */
static void run(const uint8_t *in, size_t n, size_t max, int policy, int on_overflow, int mode,
                run_t *r) {
  memset(r, 0, sizeof *r);
  r->policy = policy;
  r->on_overflow = on_overflow;
  r->max = max;
  r->check_raw = mode == 0 && on_overflow == SSE_STREAM;
  sse_t *s = sse_new(max);
  CHECK(s);
  size_t i = 0;
  while (i < n) {
    size_t k = mode == 0 ? n : mode == 1 ? 1 : 1 + (in[i] * 7u + i) % 16;
    if (k > n - i) k = n - i;
    char *cut = malloc(k);
    memcpy(cut, in + i, k);
    CHECK(sse_feed(s, cut, k, cb, r) == 0);
    free(cut);
    i += k;
  }
  CHECK(sse_finish(s, cb, r) == 0);
  sse_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 1 << 14) return 0;
  size_t max = 1 + 4u * (data[0] & 0x3F);
  int policy = data[0] >> 6;
  const uint8_t *in = data + 1;
  size_t n = size - 1;
  run_t a, b, c;
  run(in, n, max, policy, SSE_STREAM, 0, &a);
  run(in, n, max, policy, SSE_STREAM, 1, &b);
  run(in, n, max, policy, SSE_STREAM, 2, &c);
  CHECK(a.events == b.events && a.events == c.events);
  CHECK(a.digest == b.digest && a.digest == c.digest);
  CHECK(a.fwd.len == n && b.fwd.len == n && c.fwd.len == n);
  CHECK(n == 0 || (memcmp(a.fwd.data, in, n) == 0 && memcmp(b.fwd.data, in, n) == 0 &&
                   memcmp(c.fwd.data, in, n) == 0));
  outbuf_free(&a.fwd);
  outbuf_free(&b.fwd);
  outbuf_free(&c.fwd);

  /* SSE_DROP: the forwarded bytes are the input with whole spans cut out */
  run_t d, e;
  run(in, n, max, policy, SSE_DROP, 0, &d);
  run(in, n, max, policy, SSE_DROP, 1, &e);
  CHECK(d.digest == e.digest && d.fwd.len == e.fwd.len && d.fwd.len <= n);
  CHECK(d.fwd.len == 0 || memcmp(d.fwd.data, e.fwd.data, d.fwd.len) == 0);
  size_t j = 0;
  for (size_t i = 0; i < n && j < d.fwd.len; i++)
    if (in[i] == (uint8_t)d.fwd.data[j]) j++;
  CHECK(j == d.fwd.len); /* a subsequence */
  outbuf_free(&d.fwd);
  outbuf_free(&e.fwd);

  size_t count = 0;
  sse_t *s = sse_new(max);
  sse_feed(s, (const char *)in, n, count_cb, &count);
  sse_finish(s, count_cb, &count);
  sse_free(s);
  CHECK(count == a.events);
  return 0;
}
