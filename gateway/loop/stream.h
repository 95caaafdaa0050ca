/* stream: what the loop writes to and reads from one socket, whether plain
 * TCP or TLS. A connection holds a wqueue_t; a small table of transport
 * operations (plain, TLS) is chosen by whether it has a TLS session, so no
 * other file branches on it (as redis's ConnectionType does). Writes try
 * uv_try_write first and queue the rest with uv_write. */
#ifndef GW_STREAM_H
#define GW_STREAM_H

#include <stddef.h>
#include <uv.h>

#include "buf.h"
#include "tls.h"

/* Writes queued on one stream. */
typedef struct {
  outbuf_t out;  /* plaintext */
  size_t queued; /* bytes handed to uv_write and not yet completed */
  gw_tls_t *tls; /* NULL for plain TCP */
  outbuf_t enc;  /* TLS records waiting for the socket */
} wqueue_t;

/* Flushes q->out on stream s. Returns 0 or a negative libuv error. */
int wqueue_flush(wqueue_t *q, uv_stream_t *s, uv_write_cb cb);
/* In a write callback: accounts for the finished write, returns its queue. */
wqueue_t *wqueue_complete(uv_write_t *req);

/* Bytes read from the socket: plaintext goes to out (through the TLS
 * session when there is one). -1 when TLS failed (*why says how); the
 * alert, if any, is then waiting in the queue. */
int stream_feed(wqueue_t *q, const char *data, size_t n, tls_plain_fn out, void *ud,
                const char **why);
/* Whether plaintext can flow (a TLS handshake is done; plain: always). */
int stream_ready(const wqueue_t *q);
/* Before closing: a best-effort close_notify when TLS has nothing queued. */
void stream_goodbye(wqueue_t *q, uv_stream_t *s, uv_write_cb cb);
/* Frees the buffers and the TLS session. */
void stream_free(wqueue_t *q);
static inline int stream_is_tls(const wqueue_t *q) { return q->tls != NULL; }

#define GW_WQ_HIGH (256 * 1024) /* stop reading the other side above this */
#define GW_WQ_LOW (64 * 1024)   /* resume below this */

#endif
