/* conn: the client side of the proxy. One parser per request, requests
 * answered strictly in order (a pipelined request waits in `pending` until
 * the previous response is done), limits enforced as bytes arrive, every
 * local answer built in one place (answer_*), every request ended in one
 * place (request_finalize). */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "gate.h"
#include "gen.h"
#include "local.h"
#include "log.h"
#include "mcpresp.h"
#include "logring.h"
#include "stream.h"
#include "upstream.h"

#define PENDING_MAX (128 * 1024) /* unparsed client input kept before reading stops */
#define LINGER_MS 2000           /* input read and dropped after a closing answer */
#define LINGER_MAX_BYTES (256 * 1024)
/* Recycled requests kept per worker. None under a sanitizer: a recycled
 * request would hide a use after free from it. */
#if defined(__SANITIZE_ADDRESS__)
#define REQ_FREE_MAX 0
#else
#define REQ_FREE_MAX 64
#endif

struct client {
  uv_tcp_t tcp;
  dlist_t link;
  worker_t *w;
  request_t *req;
  char *pending;          /* input not yet parsed (pipelining, waiting for upstream) */
  uint32_t pending_len;
  uint8_t is_admin;
  uint8_t is_decision;    /* a [decision] listener's: judged, never forwarded */
  uint8_t reading;
  uint8_t closing;        /* uv_close called */
  uint8_t close_after_flush;
  uint8_t tmo;
  uint8_t got_bytes;      /* any byte of the current request arrived */
  uint8_t in_run;         /* client_run is on the stack */
  uint8_t lingering;      /* answer sent, write side shut, input dropped */
  uint32_t linger_bytes;
  uint64_t deadline;
  wqueue_t wq;
  union {
    struct sockaddr sa;
    struct sockaddr_in in4;
    struct sockaddr_in6 in6;
  } peer;
};

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void on_close(uv_handle_t *h);
static void on_write(uv_write_t *wr, int status);
static void conn_close(client_t *c);
static void client_gone(client_t *c);
static void client_run(client_t *c, const char *data, size_t len);
static void client_plain(void *ud, const char *p, size_t n);
static void client_update_reading(client_t *c);
static void client_flush(client_t *c);
static void client_continue(client_t *c);
static void linger_close(client_t *c);
static void request_finish(client_t *c);
static void request_end(client_t *c);
static void request_dispatch(client_t *c, request_t *r);
static void request_free(request_t *r);

/* ---- small accessors for the other rooms ------------------------------- */

worker_t *conn_worker(const client_t *c) { return c->w; }
int conn_is_admin(const client_t *c) { return c->is_admin; }
int conn_is_decision(const client_t *c) { return c->is_decision; }
int conn_is_tls(const client_t *c) { return stream_is_tls(&c->wq); }

void conn_peer_ip(const client_t *c, char *buf, size_t cap) {
  buf[0] = '\0';
  if (c->peer.sa.sa_family == AF_INET && cap >= 16)
    http_ip4_text((const unsigned char *)&c->peer.in4.sin_addr.s_addr, buf);
  else if (c->peer.sa.sa_family == AF_INET)
    uv_ip4_name(&c->peer.in4, buf, cap);
  else if (c->peer.sa.sa_family == AF_INET6)
    uv_ip6_name(&c->peer.in6, buf, cap);
}

/* ---- accepting ---------------------------------------------------------- */

/* Like nginx: after accept() ran out of descriptors, wait this long. */
#define ACCEPT_PAUSE_MS 500
/* Refusals are logged at most this often per worker and reason. */
#define REFUSED_LOG_MS 5000
/* At most this many accept() calls per readiness: the listener stays
 * readable, so the rest come on the next turn, after this loop's clients. */
#define ACCEPT_BATCH 64

/* Closed at once, not in the close callback: SIGTERM refuses new
 * connections from the moment it is seen. */
void conn_listeners_close(worker_t *w) {
  for (size_t i = 0; i < w->nlisteners; i++) {
    gw_listener_t *l = &w->listeners[i];
    if (l->fd < 0) continue;
    uv_close((uv_handle_t *)&l->poll, NULL);
    close(l->fd);
    l->fd = -1;
  }
}

/* The count since the previous message goes with each message, so a flood
 * costs a line per REFUSED_LOG_MS, not one per connection. Returns that
 * count when a message is due, else 0. */
static unsigned refused(worker_t *w, gw_mrefused_t why) {
  if (w->mc) metrics_connection_refused(w->mc, why);
  w->refused_unlogged[why]++;
  uint64_t now = worker_now(w);
  if (now < w->refused_log_ms[why]) return 0;
  w->refused_log_ms[why] = now + REFUSED_LOG_MS;
  unsigned n = w->refused_unlogged[why];
  w->refused_unlogged[why] = 0;
  return n;
}

static void on_accept_resume(uv_timer_t *t) {
  worker_t *w = t->data;
  w->accept_paused = 0;
  if (w->draining) return;
  for (size_t i = 0; i < w->nlisteners; i++)
    if (w->listeners[i].fd >= 0) uv_poll_start(&w->listeners[i].poll, UV_READABLE, conn_on_listener);
}

/* Every listener of the worker pauses: descriptors are the process's, so
 * the others would fail the same way. Connections wait in the backlog;
 * those already accepted are served meanwhile and free descriptors. */
static void accept_failed(worker_t *w, int err) {
  if (w->accept_paused || w->draining) return;
  w->accept_paused = 1;
  for (size_t i = 0; i < w->nlisteners; i++)
    if (w->listeners[i].fd >= 0) uv_poll_stop(&w->listeners[i].poll);
  uv_timer_start(&w->accept_timer, on_accept_resume, ACCEPT_PAUSE_MS, 0);
  if (err != EMFILE && err != ENFILE) {
    LOG_ERROR("worker %d: accept: %s: not accepting new connections for %d ms", w->id, strerror(err),
              ACCEPT_PAUSE_MS);
    return;
  }
  unsigned n = refused(w, GW_MREFUSED_DESCRIPTORS);
  if (n)
    LOG_WARN("worker %d: accept: %s: not accepting new connections for %d ms "
             "(%u pause(s) since the last message)",
             w->id, strerror(err), ACCEPT_PAUSE_MS, n);
}

static void conn_accepted(worker_t *w, const gw_listener_t *l, int fd);

void conn_on_listener(uv_poll_t *p, int status, int events) {
  gw_listener_t *l = container_of(p, gw_listener_t, poll);
  worker_t *w = p->loop->data;
  if (status < 0) {
    accept_failed(w, -status);
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
      accept_failed(w, errno);
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
  c->is_decision = l->kind == LISTENER_DECISION;
  int is_tls = l->kind == LISTENER_TLS;
  unsigned open = atomic_fetch_add(&gw_open_connections, 1) + 1;
  if (w->mc) metrics_open_connections_add(w->mc, 1);
  dlist_insert_tail(&w->clients, &c->link);
  w->nclients++;
  if (open > worker_max_connections(w->cfg) && !c->is_admin) {
    unsigned n = refused(w, GW_MREFUSED_MAX_CONNECTIONS);
    if (n)
      LOG_WARN("worker %d: connection limit (%u) reached: %u new connection(s) closed since the last message",
               w->id, worker_max_connections(w->cfg), n);
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  int alen = sizeof c->peer;
  uv_tcp_getpeername(&c->tcp, &c->peer.sa, &alen);
  if (is_tls) {
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

/* ---- the end of a request ---------------------------------------------- */

/* A request the client gave up on after its head was complete is logged
 * too, as 499 (nginx's "client closed request"): the upstream may have
 * executed it, and an operator must be able to see that it did. */
static void request_log(request_t *r) {
  if (r->logged) return;
  if (r->client_gone && !r->resp_complete && r->state != RS_HEAD) {
    r->status = GW_STATUS_CLIENT_CLOSED;
    r->reason = "client_closed";
  }
  if (!r->status) return;
  r->logged = 1;
  char peer[64], up[80];
  conn_peer_ip(r->c, peer, sizeof peer);
  int sent = r->pool && r->up_start_us && upstream_addr_text(r, up, sizeof up) == 0;
  access_log_request(r, r->c->is_admin, peer, sent ? up : NULL);
}

/* The client went away (EOF, reset, a failed write): whatever it asked for
 * ends unanswered. */
static void client_gone(client_t *c) {
  if (c->req) c->req->client_gone = 1;
  conn_close(c);
}

/* Every request ends here, whichever way it ends (answered, failed, the
 * client gone): logged once, its upstream connection pooled when reusable
 * or closed, and freed. */
static void request_finalize(client_t *c, int upstream_reusable) {
  request_t *r = c->req;
  if (!r) return;
  if (r->uc) upstream_release(r, upstream_reusable);
  request_log(r);
  request_free(r);
  c->req = NULL;
}

static void conn_close(client_t *c) {
  if (c->closing) return;
  c->closing = 1;
  request_finalize(c, 0);
  c->tmo = TMO_NONE;
  stream_goodbye(&c->wq, (uv_stream_t *)&c->tcp, on_write);
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
  stream_free(&c->wq);
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
    client_gone(c);
    return;
  }
  if (c->req && c->req->uc) upstream_touch(c->req);
  if (!stream_ready(&c->wq) && !c->got_bytes && tls_looks_like_http(buf->base, (size_t)nread)) {
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
  if (stream_is_tls(&c->wq)) c->got_bytes = 1;
  const char *why = NULL;
  if (stream_feed(&c->wq, buf->base, (size_t)nread, client_plain, c, &why) < 0) {
    LOG_DEBUG("TLS client connection closed: %s", why);
    if (!c->closing) {
      wqueue_flush(&c->wq, s, on_write); /* the alert, if any */
      conn_close(c);
    }
    return;
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
  reqhead_free(&r->h);
  free(r->rhdrs);
  outbuf_free(&r->uphead);
  outbuf_free(&r->resp);
  outbuf_free(&r->ident);
  outbuf_free(&r->logx);
  outbuf_free(&r->mcp_princ);
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
    r->h.arena = keep.h.arena;
    r->h.arena_cap = keep.h.arena_cap;
    r->h.hdrs = keep.h.hdrs;
    r->h.cap_hdrs = keep.h.cap_hdrs;
    r->rhdrs = keep.rhdrs;
    r->cap_rhdrs = keep.cap_rhdrs;
    r->uphead = keep.uphead;
    r->resp = keep.resp;
    r->ident = keep.ident;
    r->logx = keep.logx;
    r->mcp_princ = keep.mcp_princ;
    r->mcp_princ.len = 0;
    r->uphead.len = r->resp.len = r->ident.len = r->logx.len = 0;
  } else {
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    /* Start small: most heads fit in 2 KiB; the arena grows when needed. */
    r->h.arena_cap = 2048;
    r->h.arena = malloc(r->h.arena_cap);
    if (!r->h.arena) {
      free(r);
      return NULL;
    }
  }
  /* Limits come from the current configuration; buffers grow up to them. */
  reqhead_init(&r->h, (uint32_t)cfg->max_header_bytes, cfg->max_headers);
  r->c = c;
  dlist_init(&r->park_link);
  r->gen = c->w->cur;
  wgen_hold(r->gen);
  r->start_us = worker_now_us();
  return r;
}

static int keep_for_reuse(const worker_t *w, const request_t *r) {
#if REQ_FREE_MAX == 0
  (void)w, (void)r;
  return 0;
#else
  /* Big buffers (a huge head) are not worth keeping, nor a stream's request
   * cut to size: its small late chunks would keep the heap from shrinking. */
  return w->nfree_reqs < REQ_FREE_MAX && !w->stopping && r->resp.cap <= 16384 &&
         r->h.arena_cap <= 16384 && r->h.arena_cap >= 2048;
#endif
}

static void request_free(request_t *r) {
  worker_t *w = r->c->w;
  gate_detach(r);
  free(r->npath);
  r->npath = NULL;
  outbuf_free(&r->m2mbody);
  mcpresp_free(r->mresp);
  r->mresp = NULL;
  wgen_release(r->gen);
  if (!keep_for_reuse(w, r)) {
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
    if (r->state == RS_HEAD && len > 0) c->got_bytes = 1;
    size_t used;
    reqhead_event_t ev = reqhead_execute(&r->h, data, len, &used);
    if (ev == RH_ERROR) {
      r->must_close = 1; /* what follows in the stream cannot be trusted */
      conn_answer(c, r->h.err, r->h.err_desc);
      goto out;
    }
    data += used;
    len -= used;
    if (ev == RH_HEAD) {
      request_dispatch(c, r);
      continue;
    }
    if (ev == RH_MSG) {
      r->msg_complete = 1;
      if (r->state == RS_BODY && r->uc) upstream_body_end(r);
      if (r->state == RS_M2M) {
        local_m2m_start(r);
        if (c->req != r) continue; /* answered at once: the request is over */
      }
      if (r->resp_complete) request_end(c);
      continue;
    }
    break; /* RH_MORE: every byte was taken */
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

/* ---- a complete head ----------------------------------------------------- */

static void request_dispatch(client_t *c, request_t *r) {
  c->tmo = TMO_NONE;
  r->state = RS_LOCAL; /* until it is handed to an upstream */
  r->keepalive = llhttp_should_keep_alive(&r->h.parser) && !c->w->draining;
  size_t mlen;
  const char *m = req_method(r, &mlen);
  r->is_head = mlen == 4 && memcmp(m, "HEAD", 4) == 0;
  const char *why = reqhead_framing(&r->h);
  if (why) {
    conn_answer(c, ANS_BAD_FRAMING, why);
    return;
  }
  const hdr_t *ex = req_header(r, "expect", NULL);
  if (ex) {
    if (!http_name_eq(r->h.arena + ex->val_off, ex->val_len, "100-continue")) {
      conn_answer(c, ANS_EXPECTATION_FAILED, NULL);
      return;
    }
    r->expect_continue = 1;
  }
  if (c->is_admin) {
    local_admin(c, r);
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
  if (!r->msg_complete && (r->h.chunked_in || r->h.content_length > 0)) return 1;
  if (!r->keepalive || c->w->draining) return 1;
  return close;
}

static request_t *answer_request(client_t *c) {
  if (!c->req) c->req = request_new(c);
  if (!c->req) conn_close(c);
  return c->req;
}

/* Every answer the gateway gives itself goes through here. */
void conn_answer_raw(client_t *c, int status, const char *headers, const char *body, size_t len) {
  request_t *r = answer_request(c);
  if (!r) return;
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
  answer_cors_t cors = request_cors(r);
  answer_head(o, status, headers, &cors, len, close);
  if (!r->is_head && len) outbuf_append(o, body, len);
  r->status = status;
  r->bytes_out += o->len - before;
  r->resp_started = 1;
  r->resp_complete = 1;
  r->state = RS_LOCAL;
  if (close) {
    r->keepalive = 0;
    c->close_after_flush = 1;
    request_log(r); /* now: its duration ends with the answer, not the linger */
  }
  client_flush(c);
  if (!close && r->msg_complete && c->req == r) request_finish(c);
}

void conn_answer_ex(client_t *c, answer_kind_t k, const char *desc, const char *extra_headers,
                    const char *extra_json) {
  const answer_def_t *d = answer_def(k);
  char body[1024], hdrs[1200];
  size_t blen = answer_json(body, sizeof body, d->code, desc ? desc : d->desc, extra_json);
  const char *more = extra_headers ? extra_headers : d->headers;
  snprintf(hdrs, sizeof hdrs, ANSWER_JSON_HEADERS "%s", more ? more : "");
  if (d->closes) {
    request_t *r = answer_request(c);
    if (!r) return;
    r->must_close = 1;
  }
  conn_answer_raw(c, d->status, hdrs, body, blen);
}

void conn_answer_rpc(client_t *c, answer_kind_t k, const char *desc, const char *id, size_t id_len) {
  const answer_def_t *d = answer_def(k);
  char body[1024];
  /* An Origin refusal answers no request in particular (MCP). */
  size_t blen = answer_jsonrpc(body, sizeof body, d->rpc, desc ? desc : d->desc, id, id_len,
                               k != ANS_RPC_ORIGIN);
  if (d->closes) {
    request_t *r = answer_request(c);
    if (!r) return;
    r->must_close = 1;
  }
  conn_answer_raw(c, d->status, ANSWER_JSON_HEADERS, body, blen);
}

void conn_answer(client_t *c, answer_kind_t k, const char *desc) {
  conn_answer_ex(c, k, desc, NULL, NULL);
}

void conn_resume(client_t *c) {
  if (c->closing) return;
  if (c->req && c->req->uc) upstream_flush(c->req);
  client_flush(c);
  client_continue(c);
  if (!c->closing) client_update_reading(c);
}

void conn_upstream_failed(request_t *r, answer_kind_t k, const char *desc) {
  client_t *c = r->c;
  const char *name = r->pool ? request_upstream(r)->name : "-";
  if (r->uc) upstream_release(r, 0);
  /* One warning per failed request during an outage would be thousands a
   * second: a few pass, the rest are summed up once per window. */
  static gw_logrl_t mid_rl = GW_LOGRL("upstream failures mid-response"), rl = GW_LOGRL("upstream failures");
  if (r->resp_started) {
    LOG_WARN_RL(&mid_rl, "upstream %s failed mid-response: %s", name, desc);
    conn_close(c);
    return;
  }
  LOG_WARN_RL(&rl, "upstream %s: %s", name, desc);
  conn_answer(c, k, desc);
  client_continue(c);
}

/* ---- response side ------------------------------------------------------ */

outbuf_t *conn_response_buf(request_t *r) { return &r->c->wq.out; }

void request_append_response(request_t *r, const void *p, size_t n) {
  outbuf_append(&r->c->wq.out, p, n);
  r->bytes_out += n;
}

int conn_client_backlogged(const client_t *c) { return c->wq.queued > GW_WQ_HIGH; }

void conn_keepalive(client_t *c) { uv_tcp_keepalive(&c->tcp, 1, 60); }

void conn_response_progress(request_t *r) { client_flush(r->c); }

/* An idle event stream must cost little (thousands stay open for hours).
 * No retry can follow a response, so the head sent upstream, the response
 * head fields and what the gate built from the request head go; of that
 * head only what the access log reads at the end stays, cut to size. */
void conn_response_streaming(request_t *r) {
  static const char *const keep[] = {ACCESS_LOG_HEADERS};
  outbuf_free(&r->uphead);
  outbuf_free(&r->resp);
  outbuf_free(&r->ident);
  outbuf_free(&r->mcp_princ);
  free(r->rhdrs);
  r->rhdrs = NULL;
  r->nrhdrs = r->cap_rhdrs = 0;
  free(r->npath);
  r->npath = NULL;
  r->npath_len = 0;
  r->query = NULL; /* pointed into the arena, as the offsets below did */
  r->query_len = 0;
  /* No answer of the gateway's can follow the response head: no CORS. */
  r->cors = 0;
  r->origin_off = r->origin_len = r->mcp_sid_off = r->mcp_sid_len = 0;
  reqhead_compact(&r->h, keep, sizeof keep / sizeof keep[0]); /* out of memory: kept whole */
  if (r->logx.len == 0) {
    outbuf_free(&r->logx);
  } else if (r->logx.cap > r->logx.len) {
    char *p = realloc(r->logx.data, r->logx.len);
    if (p) r->logx.data = p, r->logx.cap = r->logx.len;
  }
}

void conn_response_complete(request_t *r) {
  client_t *c = r->c;
  r->resp_complete = 1;
  r->state = RS_DONE;
  if (r->close_delimited_out || !r->keepalive || c->w->draining || !r->msg_complete) {
    /* Without the whole body read (the upstream answered early), the rest
     * of it cannot be told apart from a next request without parsing it:
     * the connection ends here. */
    r->keepalive = 0;
    c->close_after_flush = 1;
  }
  request_finish(c);
}

/* The request is over on both sides. */
static void request_end(client_t *c) {
  request_t *r = c->req;
  request_finalize(c, r->upstream_reusable && r->msg_complete);
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
    client_gone(c);
    return;
  }
  if (c->close_after_flush && c->wq.queued == 0 && c->wq.out.len == 0 &&
      (!c->req || c->req->resp_complete))
    linger_close(c);
  else if (c->wq.out.len == 0)
    outbuf_free(&c->wq.out); /* a stream silent for hours holds no buffer */
  if (!c->closing && c->wq.enc.cap > GW_READ_BUF && c->wq.enc.len == 0) outbuf_free(&c->wq.enc);
}

static void on_write(uv_write_t *wr, int status) {
  wqueue_t *q = wqueue_complete(wr);
  client_t *c = container_of(q, client_t, wq);
  if (c->closing) return;
  if (status < 0) {
    client_gone(c);
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
  if (stream_is_tls(&c->wq)) {
    conn_close(c); /* close_notify is the TLS way to say it */
    return;
  }
  c->lingering = 1;
  request_finalize(c, 0);
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

static void conn_timeout(client_t *c) {
  if (c->tmo == TMO_LINGER) {
    conn_close(c);
    return;
  }
  c->tmo = TMO_NONE;
  if (c->req && c->req->state == RS_HEAD && c->got_bytes)
    conn_answer(c, ANS_HEAD_TIMEOUT, NULL);
  else
    conn_close(c);
}

void conn_sweep(worker_t *w, uint64_t now) {
  dlist_t *it, *next;
  for (it = w->clients.next; it != &w->clients; it = next) {
    next = it->next;
    client_t *c = container_of(it, client_t, link);
    if (c->tmo != TMO_NONE && !c->closing && c->deadline <= now) conn_timeout(c);
  }
}

void conn_drain_all(worker_t *w) {
  dlist_t *it, *next;
  for (it = w->clients.next; it != &w->clients; it = next) {
    next = it->next;
    client_t *c = container_of(it, client_t, link);
    if (!c->req) conn_close(c);
  }
}

void conn_close_all(worker_t *w) {
  dlist_t *it, *next;
  for (it = w->clients.next; it != &w->clients; it = next) {
    next = it->next;
    conn_close(container_of(it, client_t, link));
  }
}
