/* conn: the client side of the proxy. One llhttp parser per connection,
 * requests answered strictly in order (a pipelined request waits in
 * `pending` until the previous response is done), limits enforced as bytes
 * arrive, and every local answer built in one place (conn_answer). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "server.h"

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_close(uv_handle_t *h);
static void on_write(uv_write_t *wr, int status);
static void client_run(client_t *c, const char *data, size_t len);
static void client_plain(void *ud, const char *p, size_t n);
static void client_update_reading(client_t *c);
static void client_flush(client_t *c);
static void linger_close(client_t *c);
static void request_finish(client_t *c);
static void request_end(client_t *c);
static void client_continue(client_t *c);
static int check_chunk_end(client_t *c, const char *at);
static void request_dispatch(client_t *c, request_t *r);
static void request_free(request_t *r);

static const llhttp_settings_t *parser_settings(void);

/* ---- buffers ------------------------------------------------------------ */

int outbuf_reserve(outbuf_t *b, size_t extra) {
  if (b->len + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 512;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int outbuf_append(outbuf_t *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (outbuf_reserve(b, n)) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int outbuf_printf(outbuf_t *b, const char *fmt, ...) {
  va_list ap;
  for (int attempt = 0; attempt < 2; attempt++) {
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return 0;
    }
    if (outbuf_reserve(b, (size_t)n + 1)) return -1;
  }
  return -1;
}

int outbuf_append_u64(outbuf_t *b, const char *name, uint64_t v) {
  char num[24];
  size_t i = sizeof num;
  num[--i] = '\n';
  num[--i] = '\r';
  do {
    num[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  if (outbuf_append(b, name, strlen(name))) return -1;
  return outbuf_append(b, num + i, sizeof num - i);
}

void outbuf_free(outbuf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

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

/* ---- accepting ---------------------------------------------------------- */

/* At most this many accept() calls per readiness: the listener stays
 * readable, so the rest come on the next turn, after this loop's clients. */
#define ACCEPT_BATCH 64

static void conn_accepted(worker_t *w, const gw_listener_t *l, int fd);

void conn_on_listener(uv_poll_t *p, int status, int events) {
  gw_listener_t *l = container_of(p, gw_listener_t, poll);
  worker_t *w = p->loop->data;
  if (status < 0) {
    server_accept_failed(w, -status);
    return;
  }
  for (int i = 0; i < ACCEPT_BATCH && !w->draining && !w->accept_paused; i++) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      conn_accepted(w, l, fd);
      continue;
    }
    switch (errno) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
      return;
    /* One connection's trouble (see accept(2) on Linux: pending network
     * errors come back from accept() and mean "try again"). */
    case EINTR: case ECONNABORTED: case EPERM: case EPROTO: case ENOPROTOOPT:
    case ENETDOWN: case ENETUNREACH: case EHOSTDOWN: case EHOSTUNREACH: case ENONET:
    case EOPNOTSUPP:
      continue;
    default:
      /* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse: the listener stays
       * readable, so accepting again at once would only spin. */
      server_accept_failed(w, errno);
      return;
    }
  }
}

static void conn_accepted(worker_t *w, const gw_listener_t *l, int fd) {
  client_t *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return;
  }
  uv_tcp_init(&w->loop, &c->tcp);
  c->tcp.data = c;
  c->w = w;
  dlist_init(&c->link);
  if (uv_tcp_open(&c->tcp, fd) != 0) {
    close(fd);
    uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
    return;
  }
  c->is_admin = l->kind == LISTENER_ADMIN;
  c->is_tls = l->kind == LISTENER_TLS;
  unsigned open = atomic_fetch_add(&gw_open_connections, 1) + 1;
  if (w->mc) metrics_open_connections_add(w->mc, 1);
  dlist_insert_tail(&w->clients, &c->link);
  w->nclients++;
  if (open > server_max_connections(w->cfg) && !c->is_admin) {
    server_refused_max_connections(w);
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  int alen = sizeof c->peer;
  uv_tcp_getpeername(&c->tcp, &c->peer.sa, &alen);
  if (c->is_tls) {
    c->wq.tls = tls_new_server(w->cur->tls_ctx);
    if (!c->wq.tls) {
      conn_close(c);
      return;
    }
  }
  /* header_timeout also bounds the TLS handshake */
  c->tmo = TMO_HEADER;
  c->deadline = worker_now(w) + w->cfg->header_timeout_ms;
  client_update_reading(c);
}

void conn_close(client_t *c) {
  if (c->closing) return;
  c->closing = 1;
  if (c->req) {
    request_t *r = c->req;
    if (r->uc) upstream_abort(r);
    if (r->status) access_log_request(r);
    request_free(r);
    c->req = NULL;
  }
  c->tmo = TMO_NONE;
  if (c->wq.tls && c->wq.queued == 0) {
    /* Best effort close_notify; the socket closes right after either way. */
    tls_shutdown(c->wq.tls);
    c->wq.out.len = 0;
    wqueue_flush(&c->wq, (uv_stream_t *)&c->tcp, on_write);
  }
  uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_close(uv_handle_t *h) {
  client_t *c = h->data;
  worker_t *w = c->w;
  dlist_remove(&c->link);
  w->nclients--;
  atomic_fetch_sub(&gw_open_connections, 1);
  if (w->mc) metrics_open_connections_add(w->mc, -1);
  free(c->pending);
  outbuf_free(&c->wq.out);
  outbuf_free(&c->wq.enc);
  tls_free(c->wq.tls);
  free(c);
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  client_t *c = h->data;
  buf->base = c->w->rbuf;
  buf->len = sizeof c->w->rbuf;
}

/* Reading goes on between requests and while a response streams: each
 * stop and start costs an epoll_ctl, and an early EOF tells that the client
 * is gone. What arrives meanwhile (a pipelined request) waits in pending,
 * which is bounded. */
static int client_wants_read(const client_t *c) {
  if (c->closing || c->close_after_flush) return 0;
  if (c->pending_len > PENDING_MAX) return 0;
  if (c->wq.queued > GW_WQ_HIGH) return 0;
  request_t *r = c->req;
  if (!r) return 1;
  switch (r->state) {
  case RS_BODY: return r->msg_complete || !upstream_backlogged(r);
  case RS_WAIT: return r->msg_complete; /* a body waits until the upstream is there */
  default: return 1;
  }
}

static void client_update_reading(client_t *c) {
  if (c->lingering) return;
  int want = client_wants_read(c);
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  client_t *c = s->data;
  if (nread == 0) return;
  if (nread < 0) {
    /* EOF or reset. A response still streaming to a half-closed client is
     * pointless for a proxy that does not support half-close: close. */
    conn_close(c);
    return;
  }
  if (c->req && c->req->uc) upstream_touch(c->req);
  if (c->wq.tls) {
    if (!tls_handshake_done(c->wq.tls) && !c->got_bytes &&
        tls_looks_like_http(buf->base, (size_t)nread)) {
      /* Plain HTTP on the TLS port: say so in plain HTTP, then close. */
      static const char msg[] =
          "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
          "Connection: close\r\nContent-Length: 83\r\n\r\n"
          "{\"error\":\"invalid_request\",\"error_description\":\"plain HTTP sent to the TLS port\"}";
      uv_buf_t b = uv_buf_init((char *)msg, sizeof msg - 1);
      uv_try_write(s, &b, 1);
      conn_close(c);
      return;
    }
    c->got_bytes = 1;
    const char *why = NULL;
    if (tls_feed(c->wq.tls, buf->base, (size_t)nread, client_plain, c, &why) < 0) {
      LOG_DEBUG("TLS client connection closed: %s", why);
      if (!c->closing) {
        wqueue_flush(&c->wq, s, on_write); /* the alert, if any */
        conn_close(c);
      }
      return;
    }
  } else {
    client_plain(c, buf->base, (size_t)nread);
  }
  if (!c->closing) {
    if (c->req && c->req->uc) upstream_flush(c->req);
    client_flush(c);
    client_update_reading(c);
  }
}

/* New input (from the socket or out of the TLS layer, which may yield
 * several records per read): input already waiting keeps its place in
 * front, so it is appended to it. */
static void client_plain(void *ud, const char *p, size_t n) {
  client_t *c = ud;
  if (c->closing) return;
  if (c->pending_len) {
    char *np = realloc(c->pending, c->pending_len + n);
    if (!np) {
      conn_close(c);
      return;
    }
    memcpy(np + c->pending_len, p, n);
    c->pending = np;
    c->pending_len += (uint32_t)n;
    return;
  }
  client_run(c, p, n);
}

/* Keeps unparsed input; data may already point into c->pending. */
static void stash(client_t *c, const char *data, size_t len) {
  if (len == 0) {
    free(c->pending);
    c->pending = NULL;
    c->pending_len = 0;
    return;
  }
  if (c->pending && data >= c->pending && data < c->pending + c->pending_len) {
    memmove(c->pending, data, len);
    c->pending_len = (uint32_t)len;
    return;
  }
  char *p = malloc(len);
  if (!p) {
    conn_close(c);
    return;
  }
  memcpy(p, data, len);
  free(c->pending);
  c->pending = p;
  c->pending_len = (uint32_t)len;
}

static void request_destroy(request_t *r) {
  free(r->arena);
  free(r->hdrs);
  free(r->rhdrs);
  outbuf_free(&r->uphead);
  outbuf_free(&r->resp);
  outbuf_free(&r->ident);
  outbuf_free(&r->logx);
  free(r);
}

/* Requests are recycled per worker with their buffers: a request costs no
 * malloc once the worker is warm. */
static request_t *request_new(client_t *c) {
  worker_t *w = c->w;
  const gw_config_t *cfg = w->cfg;
  request_t *r = w->free_reqs;
  if (r) {
    w->free_reqs = r->next_free;
    w->nfree_reqs--;
    /* Keep the buffers, reset everything else. */
    request_t keep = *r;
    memset(r, 0, sizeof *r);
    r->arena = keep.arena;
    r->arena_cap = keep.arena_cap;
    r->hdrs = keep.hdrs;
    r->cap_hdrs = keep.cap_hdrs;
    r->rhdrs = keep.rhdrs;
    r->cap_rhdrs = keep.cap_rhdrs;
    r->uphead = keep.uphead;
    r->resp = keep.resp;
    r->ident = keep.ident;
    r->logx = keep.logx;
    r->uphead.len = r->resp.len = r->ident.len = r->logx.len = 0;
  } else {
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    /* Start small: most heads fit in 2 KiB; the arena grows when needed. */
    r->arena_cap = 2048;
    r->arena = malloc(r->arena_cap);
    if (!r->arena) {
      free(r);
      return NULL;
    }
  }
  /* Limits come from the current configuration; buffers grow up to them. */
  r->arena_max = (uint32_t)cfg->max_header_bytes;
  /* A parser per request, not per connection: an idle keep-alive
   * connection does not carry one, and every request starts clean. */
  llhttp_init(&r->parser, HTTP_REQUEST, parser_settings());
  r->parser.data = c;
  r->max_hdrs = cfg->max_headers;
  r->c = c;
  headscan_init(&r->hs, (uint32_t)cfg->max_header_bytes);
  dlist_init(&r->park_link);
  r->gen = c->w->cur;
  r->gen->users++;
  r->start_ms = worker_now(c->w);
  return r;
}

static void request_free(request_t *r) {
  worker_t *w = r->c->w;
  gate_detach(r);
  free(r->npath);
  r->npath = NULL;
  outbuf_free(&r->m2mbody);
  wgen_release(r->gen);
  /* Big buffers (a huge head) are not worth keeping. */
  if (w->nfree_reqs >= REQ_FREE_MAX || w->stopping || r->resp.cap > 16384 || r->arena_cap > 16384) {
    request_destroy(r);
    return;
  }
  r->next_free = w->free_reqs;
  w->free_reqs = r;
  w->nfree_reqs++;
}

void conn_free_recycled(worker_t *w) {
  request_t *r;
  while ((r = w->free_reqs)) {
    w->free_reqs = r->next_free;
    request_destroy(r);
  }
  w->nfree_reqs = 0;
}

static void client_run(client_t *c, const char *data, size_t len) {
  c->in_run = 1;
  while (!c->closing && !c->close_after_flush) {
    if (!c->req) {
      if (len == 0) break;
      c->req = request_new(c);
      if (!c->req) {
        conn_close(c);
        goto out;
      }
      c->tmo = TMO_HEADER;
      c->deadline = worker_now(c->w) + c->w->cfg->header_timeout_ms;
      c->got_bytes = 0;
    }
    request_t *r = c->req;
    if (r->state == RS_WAIT || r->state == RS_DONE || r->state == RS_PARKED ||
        (r->msg_complete && r->state != RS_HEAD))
      break; /* wait for the upstream, the key set, or the response to finish */
    if (r->state == RS_HEAD && len > 0) {
      size_t used = len;
      c->got_bytes = 1;
      switch (headscan_feed(&r->hs, data, len, &used)) {
      case HS_MORE:
      case HS_DONE:
        break;
      case HS_BAD:
        conn_answer(c, 400, "invalid_request", r->hs.why, 1);
        goto out;
      case HS_TOO_LONG_LINE:
        conn_answer(c, 414, "uri_too_long", "request line longer than max_header_bytes", 1);
        goto out;
      case HS_TOO_LARGE:
        conn_answer(c, 431, "request_header_fields_too_large",
                    "request head larger than max_header_bytes", 1);
        goto out;
      }
    }
    if (r->state == RS_BODY || r->state == RS_LOCAL || r->state == RS_HEAD || r->state == RS_M2M) {
      if (len == 0 && r->state == RS_HEAD) break;
      r->event = EV_NONE;
      c->exec_end = data + len;
      if (r->crlf_due) {
        /* the CRLF after a chunk whose data ended with the previous read */
        if (check_chunk_end(c, data)) {
          conn_answer(c, 400, "invalid_request", "chunk data not followed by CRLF", 1);
          goto out;
        }
      }
      llhttp_errno_t e = llhttp_execute(&r->parser, data, len);
      size_t used = len;
      if (e == HPE_PAUSED) {
        used = (size_t)(llhttp_get_error_pos(&r->parser) - data);
        llhttp_resume(&r->parser);
      } else if (e != HPE_OK) {
        if (r->err_status) {
          conn_answer(c, r->err_status, r->err_code, r->err_desc, 1);
        } else {
          conn_answer(c, 400, "invalid_request", llhttp_get_error_reason(&r->parser), 1);
        }
        goto out;
      }
      data += used;
      len -= used;
      if (r->event == EV_HEAD) {
        request_dispatch(c, r);
        continue;
      }
      if (r->event == EV_MSG) {
        r->msg_complete = 1;
        if (r->state == RS_BODY && r->uc) upstream_body_end(r);
        if (r->state == RS_M2M) {
          gate_m2m_start(r);
          if (c->req != r) continue; /* answered at once: the request is over */
        }
        if (r->resp_complete) request_end(c);
        continue;
      }
      if (e == HPE_OK) {
        len = 0;
        break;
      }
    }
  }
  if (!c->closing) stash(c, data, len);
out:
  c->in_run = 0;
}

/* Parses input kept while the connection waited, unless a parse is already
 * on the stack (that one carries on by itself). */
static void client_continue(client_t *c) {
  if (c->closing || c->in_run) return;
  char *p = c->pending;
  size_t n = c->pending_len;
  c->pending = NULL;
  c->pending_len = 0;
  client_run(c, p ? p : "", n);
  free(p);
  if (c->closing) return;
  if (c->req && c->req->uc) upstream_flush(c->req);
  client_flush(c);
  if (!c->closing) client_update_reading(c);
}

/* ---- llhttp callbacks: record only ------------------------------------- */

static int arena_add(request_t *r, const char *p, size_t n) {
  if (r->arena_len + n > r->arena_max) {
    r->err_status = 431;
    r->err_code = "request_header_fields_too_large";
    r->err_desc = "request head larger than max_header_bytes";
    return -1;
  }
  if (r->arena_len + n > r->arena_cap) {
    /* Offsets, not pointers, point into the arena: it may move. */
    uint32_t cap = r->arena_cap ? r->arena_cap : 2048;
    while (cap < r->arena_len + n) cap *= 2;
    if (cap > r->arena_max) cap = r->arena_max;
    char *a = realloc(r->arena, cap);
    if (!a) return -1;
    r->arena = a;
    r->arena_cap = cap;
  }
  memcpy(r->arena + r->arena_len, p, n);
  r->arena_len += (uint32_t)n;
  return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t n) {
  client_t *c = p->data;
  request_t *r = c->req;
  if (r->method_len == 0) r->method_off = r->arena_len;
  r->method_len += (uint32_t)n;
  return arena_add(r, at, n) ? HPE_USER : 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  client_t *c = p->data;
  request_t *r = c->req;
  if (r->url_len == 0) r->url_off = r->arena_len;
  r->url_len += (uint32_t)n;
  return arena_add(r, at, n) ? HPE_USER : 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  client_t *c = p->data;
  request_t *r = c->req;
  if (!r->in_field) {
    if (r->nhdrs >= r->max_hdrs) {
      r->err_status = 431;
      r->err_code = "request_header_fields_too_large";
      r->err_desc = "too many header fields";
      return HPE_USER;
    }
    if (r->nhdrs == r->cap_hdrs) {
      uint32_t cap = r->cap_hdrs ? r->cap_hdrs * 2 : 16;
      if (cap > r->max_hdrs) cap = r->max_hdrs;
      hdr_t *nh = realloc(r->hdrs, cap * sizeof *nh);
      if (!nh) return HPE_USER;
      r->hdrs = nh;
      r->cap_hdrs = cap;
    }
    hdr_t *h = &r->hdrs[r->nhdrs++];
    h->name_off = r->arena_len;
    h->name_len = 0;
    h->val_off = 0;
    h->val_len = 0;
    r->in_field = 1;
  }
  r->hdrs[r->nhdrs - 1].name_len += (uint32_t)n;
  return arena_add(r, at, n) ? HPE_USER : 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  client_t *c = p->data;
  request_t *r = c->req;
  hdr_t *h = &r->hdrs[r->nhdrs - 1];
  if (r->in_field) {
    r->in_field = 0;
    h->val_off = r->arena_len;
  }
  h->val_len += (uint32_t)n;
  return arena_add(r, at, n) ? HPE_USER : 0;
}

static int on_header_value_complete(llhttp_t *p) {
  client_t *c = p->data;
  c->req->in_field = 0;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  client_t *c = p->data;
  c->req->in_field = 0;
  c->req->event = EV_HEAD;
  return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *p) {
  client_t *c = p->data;
  c->req->chunk_left = p->content_length;
  return 0;
}

/* llhttp 8.1 does not check the two bytes after a chunk's data: they must
 * be CRLF, or the rest could be read as a smuggled request. */
static int check_chunk_end(client_t *c, const char *at) {
  request_t *r = c->req;
  while (r->crlf_due && at < c->exec_end) {
    char want = r->crlf_due == 2 ? '\r' : '\n';
    if (*at != want) return -1;
    r->crlf_due--;
    at++;
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  client_t *c = p->data;
  request_t *r = c->req;
  r->body_in += n;
  if (r->state == RS_M2M) gate_m2m_body(r, at, n);
  if (r->chunked_in) {
    r->chunk_left -= n;
    if (r->chunk_left == 0) {
      r->crlf_due = 2;
      if (check_chunk_end(c, at + n)) {
        r->err_status = 400;
        r->err_code = "invalid_request";
        r->err_desc = "chunk data not followed by CRLF";
        return HPE_USER;
      }
    }
  }
  if (r->state == RS_BODY && r->uc) {
    uint64_t max = r->pool ? r->pool->cfg->max_body : 0;
    if (max && r->body_in > max) {
      r->err_status = 413;
      r->err_code = "payload_too_large";
      r->err_desc = "request body larger than the upstream's max_body";
      return HPE_USER;
    }
    upstream_body(r, at, n);
  }
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  client_t *c = p->data;
  c->req->event = EV_MSG;
  return HPE_PAUSED;
}

/* Constant: workers on several threads share it, nothing initializes it lazily. */
static const llhttp_settings_t *parser_settings(void) {
  static const llhttp_settings_t s = {
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
  };
  return &s;
}

/* ---- decisions on a complete head -------------------------------------- */

void conn_peer_ip(const client_t *c, char *buf, size_t cap) {
  buf[0] = '\0';
  if (c->peer.sa.sa_family == AF_INET && cap >= 16)
    http_ip4_text((const unsigned char *)&c->peer.in4.sin_addr.s_addr, buf);
  else if (c->peer.sa.sa_family == AF_INET)
    uv_ip4_name(&c->peer.in4, buf, cap);
  else if (c->peer.sa.sa_family == AF_INET6)
    uv_ip6_name(&c->peer.in6, buf, cap);
}

const char *req_method(const request_t *r, size_t *len) {
  *len = r->method_len;
  return r->arena + r->method_off;
}

const hdr_t *req_header(const request_t *r, const char *lower_name, int *count) {
  const hdr_t *found = NULL;
  int n = 0;
  size_t want = strlen(lower_name);
  for (uint32_t i = 0; i < r->nhdrs; i++) {
    const hdr_t *h = &r->hdrs[i];
    if (h->name_len == want && http_name_eq(r->arena + h->name_off, h->name_len, lower_name)) {
      if (!found) found = h;
      n++;
    }
  }
  if (count) *count = n;
  return found;
}

/* Framing rules beyond llhttp's own (SPEC "Framing and limits"). */
static const char *check_framing(request_t *r) {
  int ncl = 0, nte = 0;
  const hdr_t *cl = req_header(r, "content-length", &ncl);
  const hdr_t *te = req_header(r, "transfer-encoding", &nte);
  if (cl && te) return "Content-Length together with Transfer-Encoding";
  if (ncl > 1) return "several Content-Length headers";
  if (cl) {
    uint64_t v;
    if (http_parse_content_length(r->arena + cl->val_off, cl->val_len, &v))
      return "invalid Content-Length";
    r->content_length = v;
  }
  if (nte > 1) return "several Transfer-Encoding headers";
  if (te) {
    size_t tl = te->val_len;
    while (tl > 0 && (r->arena[te->val_off + tl - 1] == ' ' || r->arena[te->val_off + tl - 1] == '\t'))
      tl--;
    if (!http_name_eq(r->arena + te->val_off, tl, "chunked"))
      return "Transfer-Encoding other than chunked";
    r->chunked_in = 1;
  }
  int nhost = 0;
  req_header(r, "host", &nhost);
  if (nhost > 1) return "several Host headers";
  if (nhost == 0 && llhttp_get_http_minor(&r->parser) >= 1) return "missing Host header";
  return NULL;
}

static void admin_answer(client_t *c, request_t *r) {
  const char *url = r->arena + r->url_off;
  size_t ulen = r->url_len;
  for (size_t i = 0; i < ulen; i++)
    if (url[i] == '?') ulen = i;
  if (ulen == 8 && memcmp(url, "/healthz", 8) == 0) {
    conn_answer_body(c, 200, "{\"status\":\"ok\"}");
  } else if (ulen == 8 && memcmp(url, "/metrics", 8) == 0 && c->w->server->metrics) {
    size_t len = 0;
    char *body = metrics_render(c->w->server->metrics, &len);
    if (!body) {
      conn_answer(c, 503, "temporarily_unavailable", "out of memory", 0);
      return;
    }
    conn_answer_raw(c, 200, "Content-Type: " GW_METRICS_CONTENT_TYPE "\r\nCache-Control: no-store\r\n",
                    body, len);
    free(body);
  } else if (ulen == 7 && memcmp(url, "/readyz", 7) == 0) {
    if (atomic_load(&gw_ready) && gate_ready(c->w) && !c->w->draining)
      conn_answer_body(c, 200, "{\"status\":\"ready\"}");
    else
      conn_answer(c, 503, "unavailable", c->w->draining ? "draining" : "not ready", 0);
  } else {
    conn_answer(c, 404, "not_found", "no such admin endpoint", 0);
  }
}

static void request_dispatch(client_t *c, request_t *r) {
  c->tmo = TMO_NONE;
  r->state = RS_LOCAL; /* until it is handed to an upstream */
  r->keepalive = llhttp_should_keep_alive(&r->parser) && !c->w->draining;
  size_t mlen;
  const char *m = req_method(r, &mlen);
  r->is_head = mlen == 4 && memcmp(m, "HEAD", 4) == 0;
  const char *why = check_framing(r);
  if (why) {
    conn_answer(c, 400, "invalid_request", why, 1);
    return;
  }
  const hdr_t *ex = req_header(r, "expect", NULL);
  if (ex) {
    if (!http_name_eq(r->arena + ex->val_off, ex->val_len, "100-continue")) {
      conn_answer(c, 417, "expectation_failed", "only 100-continue is supported", 1);
      return;
    }
    r->expect_continue = 1;
  }
  if (c->is_admin) {
    admin_answer(c, r);
    return;
  }
  gate_request(c, r);
}

/* The upstream has the head; body bytes may flow now. */
void conn_upstream_ready(request_t *r) {
  client_t *c = r->c;
  if (r->state != RS_WAIT) return;
  r->state = RS_BODY;
  if (r->msg_complete) upstream_body_end(r);
  client_continue(c);
}

/* ---- answers ------------------------------------------------------------ */

/* Whether this answer must end the connection. */
static int answer_closes(client_t *c, request_t *r, int close) {
  /* A refused request whose body was announced and not read: close. */
  if (r->state == RS_HEAD) return 1; /* the head itself was not complete */
  if (!r->msg_complete && (r->chunked_in || r->content_length > 0)) return 1;
  if (!r->keepalive || c->w->draining) return 1;
  return close;
}

/* Every answer the gateway gives itself goes through here. */
void conn_answer_raw(client_t *c, int status, const char *headers, const char *body, size_t len) {
  request_t *r = c->req;
  if (!r) {
    r = c->req = request_new(c);
    if (!r) {
      conn_close(c);
      return;
    }
  }
  if (r->resp_started) {
    /* Too late for a clean answer: the client sees the connection end. */
    c->close_after_flush = 1;
    r->keepalive = 0;
    client_flush(c);
    return;
  }
  int close = answer_closes(c, r, r->must_close);
  outbuf_t *o = &c->wq.out;
  size_t before = o->len;
  char line[64];
  outbuf_append(o, line, http_status_line(line, status));
  if (headers) outbuf_append(o, headers, strlen(headers));
  gate_cors_headers(r, o);
  if (status != 204 && status != 304) outbuf_append_u64(o, "Content-Length: ", len);
  if (close) outbuf_append(o, "Connection: close\r\n", 19);
  outbuf_append(o, "\r\n", 2);
  if (!r->is_head && len) outbuf_append(o, body, len);
  r->status = status;
  r->bytes_out += o->len - before;
  r->resp_started = 1;
  r->resp_complete = 1;
  r->state = RS_LOCAL;
  if (close) {
    r->keepalive = 0;
    c->close_after_flush = 1;
    access_log_request(r);
    r->status = 0; /* logged */
  }
  client_flush(c);
  if (!close && r->msg_complete && c->req == r) request_finish(c);
}

void conn_answer_ex(client_t *c, int status, const char *code, const char *desc, int close,
                    const char *extra_headers, const char *extra_json) {
  char body[1024], esc[400], hdrs[1200];
  gw_json_escape(esc, sizeof esc, desc ? desc : "", desc ? strlen(desc) : 0, 300);
  int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"error_description\":\"%s\"%s}", code,
                   esc, extra_json ? extra_json : "");
  size_t blen = n < 0 ? 0 : (size_t)n >= sizeof body ? sizeof body - 1 : (size_t)n;
  snprintf(hdrs, sizeof hdrs, "Content-Type: application/json\r\nCache-Control: no-store\r\n%s",
           extra_headers ? extra_headers : "");
  if (close) {
    if (!c->req) c->req = request_new(c);
    if (!c->req) {
      conn_close(c);
      return;
    }
    c->req->must_close = 1;
  }
  conn_answer_raw(c, status, hdrs, body, blen);
}

/* A JSON answer of the gateway itself: {"error", "error_description"}. */
void conn_answer(client_t *c, int status, const char *code, const char *desc, int close) {
  conn_answer_ex(c, status, code, desc, close, NULL, NULL);
}

void conn_answer_body(client_t *c, int status, const char *json) {
  conn_answer_raw(c, status, "Content-Type: application/json\r\nCache-Control: no-store\r\n", json,
                  strlen(json));
}

void conn_resume(client_t *c) {
  if (c->closing) return;
  if (c->req && c->req->uc) upstream_flush(c->req);
  client_flush(c);
  client_continue(c);
  if (!c->closing) client_update_reading(c);
}

void conn_upstream_failed(request_t *r, int status, const char *code, const char *desc) {
  client_t *c = r->c;
  if (r->uc) upstream_abort(r);
  if (r->resp_started) {
    LOG_WARN("upstream %s failed mid-response: %s", r->pool ? r->pool->cfg->name : "-", desc);
    access_log_request(r);
    r->status = 0;
    conn_close(c);
    return;
  }
  LOG_WARN("upstream %s: %s", r->pool ? r->pool->cfg->name : "-", desc);
  conn_answer(c, status, code, desc, 0);
  client_continue(c);
}

/* ---- response side ------------------------------------------------------ */

void request_append_response(request_t *r, const void *p, size_t n) {
  outbuf_append(&r->c->wq.out, p, n);
  r->bytes_out += n;
}

int conn_client_backlogged(const client_t *c) { return c->wq.queued > GW_WQ_HIGH; }

void conn_response_progress(request_t *r) { client_flush(r->c); }

void conn_response_complete(request_t *r) {
  client_t *c = r->c;
  r->resp_complete = 1;
  r->state = RS_DONE;
  if (r->close_delimited_out || !r->keepalive || c->w->draining) {
    r->keepalive = 0;
    c->close_after_flush = 1;
  }
  if (r->msg_complete || c->close_after_flush) {
    request_finish(c);
  } else {
    /* The upstream answered before reading the whole body: the rest of the
     * body cannot be told apart from a next request without parsing it, so
     * the connection ends here. */
    c->close_after_flush = 1;
    request_finish(c);
  }
}

/* The request is over on both sides: log it and free it. */
static void request_end(client_t *c) {
  request_t *r = c->req;
  if (r->uc) upstream_release(r, r->upstream_reusable && r->msg_complete);
  if (r->status) access_log_request(r);
  request_free(r);
  c->req = NULL;
  client_flush(c);
  if (c->closing || c->close_after_flush) return;
  /* An idle keep-alive connection holds no buffer. */
  if (c->wq.out.len == 0) outbuf_free(&c->wq.out);
  if (c->wq.enc.len == 0) outbuf_free(&c->wq.enc);
  if (c->w->draining) {
    c->close_after_flush = 1;
    client_flush(c);
    return;
  }
  c->tmo = TMO_IDLE;
  c->deadline = worker_now(c->w) + c->w->cfg->idle_timeout_ms;
}

static void request_finish(client_t *c) {
  request_end(c);
  if (c->closing) return;
  if (c->close_after_flush) {
    client_update_reading(c);
    return;
  }
  client_continue(c);
}

/* ---- writing ------------------------------------------------------------ */

static void client_flush(client_t *c) {
  if (c->closing) return;
  int rc = wqueue_flush(&c->wq, (uv_stream_t *)&c->tcp, on_write);
  if (rc < 0) {
    conn_close(c);
    return;
  }
  if (c->close_after_flush && c->wq.queued == 0 && c->wq.out.len == 0 &&
      (!c->req || c->req->resp_complete))
    linger_close(c);
  else if (c->wq.out.cap > GW_READ_BUF && c->wq.out.len == 0)
    outbuf_free(&c->wq.out);
  if (!c->closing && c->wq.enc.cap > GW_READ_BUF && c->wq.enc.len == 0) outbuf_free(&c->wq.enc);
}

static void on_write(uv_write_t *wr, int status) {
  wqueue_t *q = wqueue_complete(wr);
  client_t *c = container_of(q, client_t, wq);
  if (c->closing) return;
  if (status < 0) {
    conn_close(c);
    return;
  }
  conn_client_writable(c);
}

void conn_client_writable(client_t *c) {
  if (c->wq.queued < GW_WQ_LOW && c->req && c->req->uc) upstream_resume_reading(c->req);
  if (c->closing) return;
  client_flush(c);
  if (!c->closing) client_update_reading(c);
}

/* ---- lingering close ------------------------------------------------------ */

/* Closing right after an answer while the client still sends (a refused
 * upload, a bad request mid-stream) makes the kernel answer its next bytes
 * with a reset, which can destroy the answer before the client reads it. So
 * the write side is shut down first and input is read and dropped for a
 * short while, as nginx's lingering_close does. */
static void on_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  client_t *c = s->data;
  (void)buf;
  if (nread < 0) {
    conn_close(c);
    return;
  }
  c->linger_bytes += (uint32_t)nread;
  if (c->linger_bytes > LINGER_MAX_BYTES) conn_close(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  client_t *c = req->data;
  free(req);
  if (!c->closing && status < 0) conn_close(c);
}

static void linger_close(client_t *c) {
  if (c->closing || c->lingering) return;
  if (c->wq.tls) {
    conn_close(c); /* close_notify is the TLS way to say it */
    return;
  }
  c->lingering = 1;
  if (c->req) {
    request_t *r = c->req;
    if (r->uc) upstream_abort(r);
    if (r->status) access_log_request(r);
    request_free(r);
    c->req = NULL;
  }
  uv_shutdown_t *req = malloc(sizeof *req);
  if (c->reading) uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
  if (!req || uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read)) {
    free(req);
    conn_close(c);
    return;
  }
  c->reading = 1;
  req->data = c;
  if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown)) {
    free(req);
    conn_close(c);
    return;
  }
  c->tmo = TMO_LINGER;
  c->deadline = worker_now(c->w) + LINGER_MS;
}

/* ---- timeouts and drain -------------------------------------------------- */

void conn_timeout(client_t *c) {
  if (c->tmo == TMO_LINGER) {
    conn_close(c);
    return;
  }
  c->tmo = TMO_NONE;
  if (c->req && c->req->state == RS_HEAD && c->got_bytes) {
    conn_answer(c, 408, "request_timeout", "request head not received within header_timeout", 1);
  } else {
    conn_close(c);
  }
}

void conn_drain(client_t *c) {
  if (!c->req) conn_close(c);
}
