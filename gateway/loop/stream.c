/* stream: the write queue and the transport table (plain TCP, TLS). */
#include "stream.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  uv_write_t req;
  wqueue_t *q;
  char *data;
  size_t len;
} wreq_t;

int wqueue_flush(wqueue_t *q, uv_stream_t *s, uv_write_cb cb) {
  outbuf_t *src = &q->out;
  if (q->tls) {
    /* Plaintext becomes records once the handshake is done; handshake
     * records and alerts go out in any case. */
    if (q->out.len && tls_handshake_done(q->tls)) {
      if (tls_write(q->tls, q->out.data, q->out.len)) return UV_EPROTO;
      q->out.len = 0;
    }
    if (tls_take(q->tls, &q->enc.data, &q->enc.len, &q->enc.cap) < 0) return UV_ENOMEM;
    src = &q->enc;
  }
  if (src->len == 0) return 0;
  size_t off = 0;
  if (q->queued == 0) {
    uv_buf_t b = uv_buf_init(src->data, (unsigned)src->len);
    int n = uv_try_write(s, &b, 1);
    if (n < 0 && n != UV_EAGAIN) return n;
    if (n > 0) off = (size_t)n;
  }
  if (off == src->len) {
    src->len = 0;
    return 0;
  }
  wreq_t *wr = malloc(sizeof *wr);
  if (!wr) return UV_ENOMEM;
  wr->q = q;
  if (off == 0) {
    /* Nothing went out: hand the buffer itself to the write, no copy. */
    wr->data = src->data;
    wr->len = src->len;
    src->data = NULL;
    src->len = src->cap = 0;
  } else {
    wr->len = src->len - off;
    wr->data = malloc(wr->len);
    if (!wr->data) {
      free(wr);
      return UV_ENOMEM;
    }
    memcpy(wr->data, src->data + off, wr->len);
    src->len = 0;
  }
  uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
  int rc = uv_write(&wr->req, s, &b, 1, cb);
  if (rc) {
    free(wr->data);
    free(wr);
    return rc;
  }
  q->queued += wr->len;
  return 0;
}

wqueue_t *wqueue_complete(uv_write_t *req) {
  wreq_t *wr = container_of(req, wreq_t, req);
  wqueue_t *q = wr->q;
  q->queued -= wr->len;
  free(wr->data);
  free(wr);
  return q;
}

typedef struct {
  int (*feed)(wqueue_t *q, const char *data, size_t n, tls_plain_fn out, void *ud, const char **why);
  int (*ready)(const wqueue_t *q);
  void (*goodbye)(wqueue_t *q, uv_stream_t *s, uv_write_cb cb);
} transport_t;

static int plain_feed(wqueue_t *q, const char *data, size_t n, tls_plain_fn out, void *ud,
                      const char **why) {
  (void)q;
  (void)why;
  out(ud, data, n);
  return 0;
}
static int plain_ready(const wqueue_t *q) { return (void)q, 1; }
static void plain_goodbye(wqueue_t *q, uv_stream_t *s, uv_write_cb cb) { (void)q, (void)s, (void)cb; }

static int tls_feed_q(wqueue_t *q, const char *data, size_t n, tls_plain_fn out, void *ud,
                      const char **why) {
  return tls_feed(q->tls, data, n, out, ud, why) < 0 ? -1 : 0;
}
static int tls_ready_q(const wqueue_t *q) { return tls_handshake_done(q->tls); }
static void tls_goodbye(wqueue_t *q, uv_stream_t *s, uv_write_cb cb) {
  if (q->queued) return;
  /* Best effort; the socket closes right after either way. */
  tls_shutdown(q->tls);
  q->out.len = 0;
  wqueue_flush(q, s, cb);
}

static const transport_t transports[2] = {
    {plain_feed, plain_ready, plain_goodbye},
    {tls_feed_q, tls_ready_q, tls_goodbye},
};
#define T(q) (&transports[(q)->tls != NULL])

int stream_feed(wqueue_t *q, const char *data, size_t n, tls_plain_fn out, void *ud,
                const char **why) {
  return T(q)->feed(q, data, n, out, ud, why);
}
int stream_ready(const wqueue_t *q) { return T(q)->ready(q); }
void stream_goodbye(wqueue_t *q, uv_stream_t *s, uv_write_cb cb) { T(q)->goodbye(q, s, cb); }

void stream_free(wqueue_t *q) {
  outbuf_free(&q->out);
  outbuf_free(&q->enc);
  tls_free(q->tls);
  q->tls = NULL;
}
