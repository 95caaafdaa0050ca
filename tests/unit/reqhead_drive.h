/* reqhead_drive.h: drives gateway/lib/reqhead the way gateway/loop/conn.c's
 * client_run() does, over an input cut into pieces, and writes down what
 * happened as canonical text. Shared by tests/unit/test_reqhead.c and
 * tests/fuzz/fuzz_request.c, so that the fuzzer checks the same driver the
 * unit test's fixtures pin down.
 *
 * The loop it mirrors: a request starts (reqhead_init) only when there are
 * bytes for it; RH_HEAD -> reqhead_framing, then the same bytes carry on as
 * body; RH_MSG -> the next request starts on the bytes left, unless the
 * request was not keep-alive (the gateway closes after answering it);
 * RH_ERROR, or a framing refusal, ends the connection. The sink is set as
 * the gateway sets one: it takes every body byte, or refuses once more than
 * sink_limit bytes came.
 *
 * None of it may depend on how the bytes were cut: two runs over the same
 * input must give the same text, byte for byte. */
#ifndef GW_REQHEAD_DRIVE_H
#define GW_REQHEAD_DRIVE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reqhead.h"

#define RD_MAX_REQS 16
#define RD_BODY_CAP 4096
#define RD_TEXT_CAP 16384
#define RD_NO_LIMIT ((size_t)-1)

typedef struct {
  uint32_t max_bytes, max_headers;
  size_t sink_limit; /* RD_NO_LIMIT: the sink takes everything */
} rd_config_t;

typedef struct {
  char text[RD_TEXT_CAP];
  size_t text_len;
  const char *violation; /* the first broken invariant, NULL: none */
  int nreqs, completed;
} rd_outcome_t;

typedef struct {
  const rd_config_t *cfg;
  const char *in; /* the whole input, for the independent headscan */
  size_t in_len;
  rd_outcome_t *out;
  reqhead_t h;
  int active, stopped;
  size_t off;       /* stream offset of the next byte fed */
  size_t req_start; /* stream offset where the current request began */
  size_t scan_end;  /* where headscan alone ends the previous head (rule 1) */
  int keepalive;
  uint32_t head_hdrs; /* headers at the end of the head; more are trailers */
  char body[RD_BODY_CAP];
  size_t body_len;
} rd_driver_t;

/* Large: not on the fuzzer's stack; its reqhead buffers are kept from one
 * run to the next, as a worker recycles its requests. */
static rd_driver_t rd_d;

static inline void rd_put(rd_outcome_t *o, const char *fmt, ...) {
  if (o->text_len >= sizeof o->text) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(o->text + o->text_len, sizeof o->text - o->text_len, fmt, ap);
  va_end(ap);
  if (n > 0) o->text_len += (size_t)n;
  if (o->text_len > sizeof o->text) o->text_len = sizeof o->text;
}

/* Bytes as C-ish text: printable ASCII as is, the rest \xNN. */
static inline void rd_put_bytes(rd_outcome_t *o, const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '"')
      rd_put(o, "%c", c);
    else
      rd_put(o, "\\x%02x", c);
  }
}

static inline const char *rd_kind_name(answer_kind_t k) {
  static const char *const names[ANS_KIND_COUNT] = {
      [ANS_NONE] = "NONE",
      [ANS_BAD_REQUEST] = "BAD_REQUEST",
      [ANS_BAD_FRAMING] = "BAD_FRAMING",
      [ANS_URI_TOO_LONG] = "URI_TOO_LONG",
      [ANS_HEAD_TOO_LARGE] = "HEAD_TOO_LARGE",
      [ANS_TOO_MANY_HEADERS] = "TOO_MANY_HEADERS",
      [ANS_PAYLOAD_TOO_LARGE] = "PAYLOAD_TOO_LARGE",
      [ANS_NO_MEMORY] = "NO_MEMORY",
  };
  const char *s = (unsigned)k < ANS_KIND_COUNT ? names[k] : NULL;
  return s ? s : "OTHER";
}

static inline answer_kind_t rd_sink(void *ud, const char *p, size_t n) {
  rd_driver_t *d = ud;
  size_t lim = d->cfg->sink_limit;
  size_t take = n;
  if (lim != RD_NO_LIMIT && d->body_len + n > lim) take = lim > d->body_len ? lim - d->body_len : 0;
  /* What the sink took is recorded the same way however the body was cut. */
  size_t room = sizeof d->body - d->body_len;
  memcpy(d->body + d->body_len, p, take < room ? take : room);
  d->body_len += take < room ? take : room;
  return take < n ? ANS_PAYLOAD_TOO_LARGE : ANS_NONE;
}

static inline int rd_inside(uint64_t off, uint64_t len, uint64_t arena_len) {
  return off <= arena_len && len <= arena_len - off;
}

/* The bounded arena and header table, after every reqhead_execute. */
static inline const char *rd_check_tables(const reqhead_t *h) {
  if (h->arena_len > h->arena_max) return "arena_len > arena_max";
  if (h->arena_len > h->arena_cap) return "arena_len > arena_cap";
  if (h->nhdrs > h->max_hdrs) return "nhdrs > max_hdrs";
  if (h->nhdrs > h->cap_hdrs) return "nhdrs > cap_hdrs";
  if (!rd_inside(h->method_off, h->method_len, h->arena_len)) return "method outside the arena";
  if (!rd_inside(h->url_off, h->url_len, h->arena_len)) return "target outside the arena";
  for (uint32_t i = 0; i < h->nhdrs; i++) {
    const hdr_t *f = &h->hdrs[i];
    if (!rd_inside(f->name_off, f->name_len, h->arena_len)) return "header name outside the arena";
    if (f->val_len && !rd_inside(f->val_off, f->val_len, h->arena_len))
      return "header value outside the arena";
  }
  return NULL;
}

static inline void rd_violation(rd_driver_t *d, const char *why) {
  if (!d->out->violation) d->out->violation = why;
}

/* A complete head: what headscan alone says about the same bytes. Rule 2:
 * the head ends where headscan ends it (an HTTP/0.9 request line ends
 * llhttp's message at its first CRLF: skipped). */
static inline void rd_check_head_end(rd_driver_t *d) {
  gw_headscan_t hs;
  headscan_init(&hs, d->cfg->max_bytes);
  size_t u = 0;
  gw_headscan_result_t r = headscan_feed(&hs, d->in + d->req_start, d->in_len - d->req_start, &u);
  if (llhttp_get_http_major(&d->h.parser) == 0) return;
  if (r != HS_DONE)
    rd_violation(d, "llhttp completed a head headscan does not");
  else if (d->req_start + u != d->off)
    rd_violation(d, "llhttp and headscan disagree on where the head ends");
  else
    d->scan_end = d->req_start + u;
}

static inline void rd_put_hdrs(rd_outcome_t *o, const reqhead_t *h, uint32_t from) {
  for (uint32_t i = from; i < h->nhdrs; i++) {
    const hdr_t *f = &h->hdrs[i];
    rd_put(o, " {");
    rd_put_bytes(o, h->arena + f->name_off, f->name_len);
    rd_put(o, ": ");
    rd_put_bytes(o, h->arena + f->val_off, f->val_len);
    rd_put(o, "}");
  }
}

static inline void rd_put_body(rd_driver_t *d) {
  rd_put(d->out, " body=\"");
  rd_put_bytes(d->out, d->body, d->body_len);
  rd_put(d->out, "\"");
}

static inline void rd_head(rd_driver_t *d) {
  reqhead_t *h = &d->h;
  rd_outcome_t *o = d->out;
  rd_check_head_end(d);
  size_t mlen;
  const char *m = reqhead_method(h, &mlen);
  rd_put(o, " ");
  rd_put_bytes(o, m, mlen);
  rd_put(o, " ");
  rd_put_bytes(o, h->arena + h->url_off, h->url_len);
  rd_put(o, " %d.%d", llhttp_get_http_major(&h->parser), llhttp_get_http_minor(&h->parser));
  d->keepalive = llhttp_should_keep_alive(&h->parser);
  d->head_hdrs = h->nhdrs;
  if (!d->keepalive) rd_put(o, " close");
  rd_put_hdrs(o, h, 0);
  rd_put(o, " @%zu", d->off);
  const char *why = reqhead_framing(h);
  if (why) {
    rd_put(o, " refused \"%s\"\nend refused\n", why);
    d->stopped = 1;
    return;
  }
  if (h->chunked_in) rd_put(o, " chunked");
  if (h->content_length) rd_put(o, " cl=%llu", (unsigned long long)h->content_length);
}

/* One read's worth of bytes, as client_run takes it. */
static inline void rd_feed(rd_driver_t *d, const char *data, size_t len) {
  rd_outcome_t *o = d->out;
  while (!d->stopped) {
    if (!d->active) {
      if (len == 0) break;
      if (o->nreqs == RD_MAX_REQS) {
        rd_put(o, "end limit\n");
        d->stopped = 1;
        break;
      }
      /* Rule 1: no second message begins inside what headscan called one head. */
      if (d->off < d->scan_end) rd_violation(d, "a message began inside another's head");
      reqhead_init(&d->h, d->cfg->max_bytes, d->cfg->max_headers);
      d->h.sink = rd_sink;
      d->h.sink_ud = d;
      d->active = 1;
      d->req_start = d->off;
      d->body_len = 0;
      o->nreqs++;
      rd_put(o, "R%d", o->nreqs);
    }
    int in_head = d->h.in_head;
    size_t used = 0;
    reqhead_event_t ev = reqhead_execute(&d->h, data, len, &used);
    const char *bad = rd_check_tables(&d->h);
    if (bad) rd_violation(d, bad);
    if (used > len) {
      rd_violation(d, "used > len");
      used = len;
    }
    if (ev == RH_MORE && used != len) rd_violation(d, "RH_MORE left bytes");
    if (ev == RH_ERROR) {
      if (in_head)
        rd_put(o, " in head");
      else
        rd_put_body(d);
      rd_put(o, "\nend error %s \"%s\"\n", rd_kind_name(d->h.err), d->h.err_desc ? d->h.err_desc : "-");
      d->stopped = 1;
      break;
    }
    data += used;
    len -= used;
    d->off += used;
    if (ev == RH_HEAD) {
      if (!in_head) rd_violation(d, "RH_HEAD twice");
      rd_head(d);
      continue;
    }
    if (ev == RH_MSG) {
      if (d->h.in_head) rd_violation(d, "RH_MSG before RH_HEAD");
      o->completed++;
      rd_put_body(d);
      if (d->h.nhdrs > d->head_hdrs) {
        rd_put(o, " trailers");
        rd_put_hdrs(o, &d->h, d->head_hdrs);
      }
      rd_put(o, " end@%zu\n", d->off);
      d->active = 0;
      if (!d->keepalive) {
        rd_put(o, "end close\n");
        d->stopped = 1;
      }
      continue;
    }
    break;
  }
}

/* Runs the input cut at cuts[0] < cuts[1] < ... (offsets; ncuts of them),
 * each piece in a buffer of its own size so that ASan sees any read past
 * it. Returns 0, or -1 when out of memory. */
static inline int rd_run(const rd_config_t *cfg, const char *in, size_t len, const size_t *cuts,
                         size_t ncuts, rd_outcome_t *o) {
  rd_driver_t *d = &rd_d;
  reqhead_t keep = d->h;
  memset(d, 0, sizeof *d);
  memset(o, 0, sizeof *o);
  d->h = keep;
  d->cfg = cfg;
  d->in = in;
  d->in_len = len;
  d->out = o;
  size_t at = 0;
  for (size_t i = 0; i <= ncuts && !d->stopped; i++) {
    size_t end = i < ncuts ? cuts[i] : len;
    if (end < at || end > len) continue;
    size_t n = end - at;
    char *piece = malloc(n ? n : 1);
    if (!piece) return -1;
    memcpy(piece, in + at, n);
    rd_feed(d, piece, n);
    free(piece);
    at = end;
  }
  if (!d->stopped) {
    if (d->active && !d->h.in_head) rd_put_body(d);
    rd_put(o, "%send more\n", d->active ? "\n" : "");
  }
  return 0;
}

/* Frees what the driver keeps between runs (for a leak-free exit). */
static inline void rd_free(void) { reqhead_free(&rd_d.h); }

#endif
