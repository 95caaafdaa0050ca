/* upstream: the server side of the proxy. Per worker and upstream, a pool of
 * keep-alive connections; the request head is rebuilt from what was parsed
 * (never copied from client bytes); the response is parsed with llhttp and
 * re-framed for the client. */
#include <errno.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "upstream.h"

#include "conn.h"
#include "gen.h"
#include "log.h"
#include "mcpresp.h"
#include "mcpsess.h"
#include "snapshot.h"
#include "upbatch.h"
#include "uphead.h"
#include "upstream-t.h"

#define RESP_HEAD_MAX (64 * 1024)
#define RESP_HDRS_MAX 200
#define DNS_TTL_MS 30000
#define POOL_IDLE_MS 60000

static void up_on_close(uv_handle_t *h);
static void upstream_timeout(upconn_t *uc);
static void upstream_close(upconn_t *uc);
static void pool_take(upconn_t *uc);
static void up_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);
static void up_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void up_on_write(uv_write_t *wr, int status);
static void up_connect_fresh(request_t *r);
static void up_fail(upconn_t *uc, answer_kind_t kind, const char *desc);
static void up_lost(upconn_t *uc, const char *desc);
static void up_metric(upconn_t *uc, int timeout);

static void pool_metric(upconn_t *uc, int delta) {
  worker_t *w = uc->pool->w;
  if (w->mc)
    metrics_upstream_pool_idle_add(w->mc, uc->pool->gen->snap->ml,
                                   (uint32_t)(uc->pool - uc->pool->gen->pools), delta);
}
static const llhttp_settings_t *resp_settings(void);

/* ---- connections ------------------------------------------------------ */

static uint64_t now_ms(upool_t *p) { return worker_now(p->w); }

/* Silence from either side ends an exchange after idle_timeout, except an
 * event stream: MCP servers are silent for minutes during a long tool call
 * (TCP keepalive finds a dead peer instead). */
static void stream_tmo(upconn_t *uc);

static void set_tmo(upconn_t *uc, tmo_kind_t k, uint64_t ms) {
  uc->tmo = (uint8_t)k;
  uc->deadline = now_ms(uc->pool) + ms;
}

static void stream_tmo(upconn_t *uc) {
  if (uc->sse)
    uc->tmo = TMO_NONE;
  else
    set_tmo(uc, TMO_STREAM, uc->pool->w->cfg->idle_timeout_ms);
}

/* TCP keepalive for a socket that may stay silent: probes after 60 s idle,
 * every 10 s, 6 of them, so a vanished peer is found within two minutes. */
static void keepalive_on(uv_tcp_t *t) {
  uv_os_fd_t fd;
  if (uv_fileno((uv_handle_t *)t, &fd) != 0) return;
  int on = 1, idle = 60, intvl = 10, cnt = 6;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
}

static void write_failed(upconn_t *uc) {
  uc->write_failed = 1;
  up_lost(uc, "cannot write to upstream");
}

static int flush_now(upconn_t *uc) {
  int rc = wqueue_flush(&uc->wq, (uv_stream_t *)&uc->tcp, up_on_write);
  if (rc < 0) write_failed(uc);
  return rc;
}

int upstream_flush_now(upconn_t *uc) { return flush_now(uc); }
void upstream_write_failed(upconn_t *uc) { write_failed(uc); }

static void attach(request_t *r, upconn_t *uc) {
  worker_t *w = r->pool->w;
  uc->req = r;
  r->uc = uc;
  dlist_remove(&uc->link);
  dlist_insert_tail(&w->upconns, &uc->link);
  llhttp_init(&uc->parser, HTTP_RESPONSE, resp_settings());
  uc->parser.data = uc;
  uc->got_response_bytes = 0;
  uc->write_failed = 0;
  uc->sse = 0;
  uc->framing_lied = 0;
  uc->event = EV_NONE;
  r->nrhdrs = 0;
  r->resp.len = 0;
  outbuf_append(&uc->wq.out, r->uphead.data, r->uphead.len);
  set_tmo(uc, TMO_STREAM, w->cfg->idle_timeout_ms);
  if (!uc->reading) {
    if (uv_read_start((uv_stream_t *)&uc->tcp, up_on_alloc, up_on_read) == 0) uc->reading = 1;
  }
  if (!upbatch_write_soon(uc) && flush_now(uc) < 0) return;
  if (r->state == RS_WAIT) {
    conn_upstream_ready(r);
  } else if (r->msg_complete) {
    set_tmo(uc, TMO_RESPONSE, r->pool->cfg->response_timeout_ms);
  }
}

static upconn_t *upconn_new(upool_t *p) {
  upconn_t *uc = calloc(1, sizeof *uc);
  if (!uc) return NULL;
  uc->pool = p;
  dlist_init(&uc->link);
  dlist_init(&uc->pend);
  uv_tcp_init(&p->w->loop, &uc->tcp);
  uc->tcp.data = uc;
  wgen_hold(p->gen); /* the pool lives in the generation: keep it until closed */
  return uc;
}

/* Called exactly once per connect, also when the handle closes first. */
static void on_connect(uv_connect_t *req, int status) {
  upconn_t *uc = req->data;
  free(req);
  if (uc->closing) return;
  request_t *r = uc->req;
  if (status < 0) {
    char desc[128];
    snprintf(desc, sizeof desc, "cannot connect to upstream: %s", uv_strerror(status));
    up_metric(uc, 0);
    up_fail(uc, ANS_BAD_GATEWAY, desc);
    return;
  }
  uc->connected = 1;
  uv_tcp_nodelay(&uc->tcp, 1);
  SSL_CTX *ctx = uc->pool->gen->snap_upstream_tls[uc->pool - uc->pool->gen->pools];
  if (ctx) {
    /* https: the request waits for the handshake; connect_timeout covers it. */
    uc->wq.tls = tls_new_client(ctx, uc->pool->cfg->url.host);
    if (!uc->wq.tls || tls_connect(uc->wq.tls) ||
        wqueue_flush(&uc->wq, (uv_stream_t *)&uc->tcp, up_on_write) < 0) {
      up_fail(uc, ANS_BAD_GATEWAY, "cannot start TLS with the upstream");
      return;
    }
    uc->handshaking = 1;
    if (uv_read_start((uv_stream_t *)&uc->tcp, up_on_alloc, up_on_read) == 0) uc->reading = 1;
    return;
  }
  uc->req = NULL;
  r->uc = NULL;
  attach(r, uc);
}

static void start_connect(upconn_t *uc) {
  upool_t *p = uc->pool;
  uv_connect_t *req = malloc(sizeof *req);
  int rc = UV_ENOMEM;
  if (req) {
    req->data = uc;
    rc = uv_tcp_connect(req, &uc->tcp, (struct sockaddr *)&p->addr, on_connect);
  }
  if (rc < 0) {
    free(req);
    char desc[128];
    snprintf(desc, sizeof desc, "cannot connect to upstream: %s", uv_strerror(rc));
    up_fail(uc, ANS_BAD_GATEWAY, desc);
  }
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res) {
  upconn_t *uc = gai->data;
  free(gai);
  uc->gai = NULL;
  uc->resolving = 0;
  if (uc->closing || !uc->req) {
    uv_freeaddrinfo(res);
    if (uc->handle_closed) free(uc); /* up_on_close left it to us */
    return;
  }
  if (status < 0 || !res) {
    char desc[160];
    snprintf(desc, sizeof desc, "cannot resolve upstream host: %s", uv_strerror(status));
    uv_freeaddrinfo(res);
    up_fail(uc, ANS_BAD_GATEWAY, desc);
    return;
  }
  upool_t *p = uc->pool;
  memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
  p->addrlen = (socklen_t)res->ai_addrlen;
  uv_freeaddrinfo(res);
  if (p->addr.ss_family == AF_INET)
    ((struct sockaddr_in *)&p->addr)->sin_port = htons(p->cfg->url.port);
  else
    ((struct sockaddr_in6 *)&p->addr)->sin6_port = htons(p->cfg->url.port);
  p->addr_expires = now_ms(p) + DNS_TTL_MS;
  start_connect(uc);
}

static void up_connect_fresh(request_t *r) {
  upool_t *p = r->pool;
  upconn_t *uc = upconn_new(p);
  if (!uc) {
    conn_upstream_failed(r, ANS_BAD_GATEWAY, "out of memory");
    return;
  }
  uc->req = r;
  r->uc = uc;
  dlist_insert_tail(&p->w->upconns, &uc->link);
  set_tmo(uc, TMO_CONNECT, p->cfg->connect_timeout_ms);
  if (p->addr_expires == 0 || p->addr_expires > now_ms(p)) {
    start_connect(uc);
    return;
  }
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  uc->gai = malloc(sizeof *uc->gai);
  if (uc->gai) uc->gai->data = uc;
  uc->resolving = 1;
  int rc = uc->gai ? uv_getaddrinfo(&p->w->loop, uc->gai, on_resolved, p->cfg->url.host, NULL, &hints)
                   : UV_ENOMEM;
  if (rc < 0) {
    free(uc->gai);
    uc->gai = NULL;
    uc->resolving = 0;
    up_fail(uc, ANS_BAD_GATEWAY, "cannot resolve upstream host");
  }
}

void upstream_start(request_t *r) {
  upool_t *p = r->pool;
  char ip[64];
  conn_peer_ip(r->c, ip, sizeof ip);
  uphead_build(r, &r->uphead, ip, conn_is_tls(r->c));
  while (!dlist_empty(&p->idle)) {
    upconn_t *uc = container_of(p->idle.prev, upconn_t, link);
    pool_take(uc);
    if (uc->closing) continue;
    uc->reused = 1;
    attach(r, uc);
    return;
  }
  up_connect_fresh(r);
}

/* Takes an idle connection out of its pool (it goes back to the worker's
 * list of connections in use). */
static void pool_take(upconn_t *uc) {
  if (!uc->pooled) return;
  uc->pooled = 0;
  dlist_remove(&uc->link);
  dlist_insert_tail(&uc->pool->w->upconns, &uc->link);
  uc->pool->nidle--;
  pool_metric(uc, -1);
}

static void upstream_close(upconn_t *uc) {
  if (uc->closing) return;
  pool_take(uc);
  uc->closing = 1;
  upbatch_forget(uc);
  if (uc->req) {
    uc->req->uc = NULL;
    uc->req = NULL;
  }
  if (uc->resolving) uv_cancel((uv_req_t *)uc->gai);
  uv_close((uv_handle_t *)&uc->tcp, up_on_close);
}

static void up_on_close(uv_handle_t *h) {
  upconn_t *uc = h->data;
  dlist_remove(&uc->link);
  stream_free(&uc->wq);
  wgen_release(uc->pool->gen);
  if (uc->resolving) {
    /* The cancelled lookup still calls back into uc: it frees it then. */
    uc->handle_closed = 1;
    return;
  }
  free(uc);
}

void upstream_release(request_t *r, int reusable) {
  upconn_t *uc = r->uc;
  if (!uc) return;
  upool_t *p = uc->pool;
  uc->req = NULL;
  r->uc = NULL;
  if (!reusable || p->w->draining || p->gen != p->w->cur || p->nidle >= p->cfg->pool_size ||
      uc->wq.queued || uc->wq.out.len) {
    upstream_close(uc);
    return;
  }
  dlist_remove(&uc->link);
  dlist_insert_tail(&p->idle, &uc->link);
  p->nidle++;
  uc->pooled = 1;
  pool_metric(uc, 1);
  uc->reused = 1;
  set_tmo(uc, TMO_POOL, POOL_IDLE_MS);
  if (uc->wq.out.cap > 4096) outbuf_free(&uc->wq.out);
  /* Keep reading while idle: an upstream that closes is noticed at once. */
  if (!uc->reading && uv_read_start((uv_stream_t *)&uc->tcp, up_on_alloc, up_on_read) == 0)
    uc->reading = 1;
}

static void pool_close_idle(upool_t *p) {
  while (!dlist_empty(&p->idle)) upstream_close(container_of(p->idle.next, upconn_t, link));
}

void upstream_pools_close_idle(wgen_t *g) {
  for (size_t i = 0; i < g->cfg->nupstreams; i++) pool_close_idle(&g->pools[i]);
}

upool_t *upstream_pool(wgen_t *g, size_t i) { return &g->pools[i]; }

/* The tick: deadlines of connections in use, and idle ones kept too long. */
void upstream_sweep(worker_t *w, uint64_t now) {
  dlist_t *it, *next;
  for (it = w->upconns.next; it != &w->upconns; it = next) {
    next = it->next;
    upconn_t *uc = container_of(it, upconn_t, link);
    if (uc->tmo != TMO_NONE && !uc->closing && uc->deadline <= now) upstream_timeout(uc);
  }
  for (size_t i = 0; i < w->cur->cfg->nupstreams; i++) {
    upool_t *p = &w->cur->pools[i];
    for (it = p->idle.next; it != &p->idle; it = next) {
      next = it->next;
      upconn_t *uc = container_of(it, upconn_t, link);
      if (uc->deadline <= now) upstream_close(uc);
    }
  }
}

void upstream_close_all(worker_t *w) {
  dlist_t *it, *next;
  for (it = w->upconns.next; it != &w->upconns; it = next) {
    next = it->next;
    upstream_close(container_of(it, upconn_t, link));
  }
}

/* ---- failure and retry ---------------------------------------------------- */

static int idempotent(const request_t *r) {
  size_t n;
  const char *m = req_method(r, &n);
  static const char *const ok[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strlen(ok[i]) == n && memcmp(ok[i], m, n) == 0) return 1;
  return 0;
}

/* The request fails with status; the connection is closed. Never retried. */
static void up_fail(upconn_t *uc, answer_kind_t kind, const char *desc) {
  request_t *r = uc->req;
  upstream_close(uc);
  if (r) conn_upstream_failed(r, kind, desc);
}

/* The upstream closed or reset the connection (or it could not be written).
 * On a pooled connection before any response byte that is the keep-alive
 * race: the upstream ended an idle connection just as the request went out,
 * so it cannot have answered, and a request that is safe to repeat goes out
 * once more on a fresh connection. Only this case: after a timeout the
 * upstream may still be working on the request, and sending it again would
 * run it twice and double the client's wait. */
static void up_lost(upconn_t *uc, const char *desc) {
  request_t *r = uc->req;
  if (!r || !uc->reused || r->retried || uc->got_response_bytes || r->resp_started ||
      r->h.body_in != 0 || r->h.chunked_in || r->h.content_length != 0 ||
      !(idempotent(r) || uc->write_failed)) {
    up_fail(uc, ANS_BAD_GATEWAY, desc);
    return;
  }
  worker_t *w = uc->pool->w;
  if (w->mc)
    metrics_upstream_retry(w->mc, uc->pool->gen->snap->ml, (uint32_t)(uc->pool - uc->pool->gen->pools));
  upstream_close(uc);
  LOG_DEBUG("upstream %s: pooled connection was closed, retrying on a fresh one", r->pool->cfg->name);
  r->retried = 1;
  up_connect_fresh(r);
}

/* Connect errors (0) and timeouts (1) for the upstream's metrics. */
static void up_metric(upconn_t *uc, int timeout) {
  worker_t *w = uc->pool->w;
  if (!w->mc) return;
  const gw_mlabels_t *ml = uc->pool->gen->snap->ml;
  uint32_t up = (uint32_t)(uc->pool - uc->pool->gen->pools);
  if (timeout)
    metrics_upstream_timeout(w->mc, ml, up);
  else
    metrics_upstream_connect_error(w->mc, ml, up);
}

/* Idle while the body is still coming, with everything the client sent
 * already handed to the upstream and no answer begun: the one who went
 * quiet is the client. */
static int client_went_silent(const upconn_t *uc) {
  const request_t *r = uc->req;
  return r && r->state == RS_BODY && !r->msg_complete && !uc->got_response_bytes &&
         uc->connected && uc->wq.queued == 0 && uc->wq.out.len == 0;
}

static void upstream_timeout(upconn_t *uc) {
  tmo_kind_t k = uc->tmo;
  uc->tmo = TMO_NONE;
  switch (k) {
  case TMO_CONNECT:
    up_metric(uc, 0);
    up_fail(uc, ANS_BAD_GATEWAY, "upstream connect timed out");
    break;
  case TMO_RESPONSE:
    up_metric(uc, 1);
    up_fail(uc, ANS_GATEWAY_TIMEOUT, "upstream did not answer within response_timeout");
    break;
  case TMO_STREAM:
    if (client_went_silent(uc)) {
      /* The client's fault, not the upstream's: 408, no upstream timeout. */
      request_t *r = uc->req;
      upstream_close(uc);
      r->reason = "client_timeout";
      conn_answer(r->c, ANS_BODY_TIMEOUT, NULL);
      break;
    }
    up_metric(uc, 1);
    up_fail(uc, ANS_GATEWAY_TIMEOUT, "no data from or to the upstream within idle_timeout");
    break;
  default:
    upstream_close(uc);
    break;
  }
}

/* ---- request body ------------------------------------------------------ */

void upstream_touch(request_t *r) {
  upconn_t *uc = r->uc;
  if (uc && uc->tmo == TMO_STREAM) stream_tmo(uc);
}

answer_kind_t upstream_body_sink(void *ud, const char *p, size_t n) {
  request_t *r = ud;
  upconn_t *uc = r->uc;
  if (r->state != RS_BODY || !uc) return ANS_NONE; /* refused meanwhile: the bytes are dropped */
  uint64_t max = r->pool->cfg->max_body;
  if (max && r->h.body_in > max) return ANS_PAYLOAD_TOO_LARGE;
  if (n == 0) return ANS_NONE;
  if (r->h.chunked_in) {
    outbuf_printf(&uc->wq.out, "%zx\r\n", n);
    outbuf_append(&uc->wq.out, p, n);
    outbuf_append(&uc->wq.out, "\r\n", 2);
  } else {
    outbuf_append(&uc->wq.out, p, n);
  }
  if (uc->tmo == TMO_STREAM) stream_tmo(uc);
  return ANS_NONE;
}

void upstream_body_end(request_t *r) {
  upconn_t *uc = r->uc;
  if (!uc) return;
  if (r->body_buffered)
    outbuf_append(&uc->wq.out, r->m2mbody.data, r->m2mbody.len);
  else if (r->h.chunked_in)
    outbuf_append(&uc->wq.out, "0\r\n\r\n", 5);
  if (!uc->got_response_bytes) set_tmo(uc, TMO_RESPONSE, r->pool->cfg->response_timeout_ms);
}

void upstream_flush(request_t *r) {
  upconn_t *uc = r->uc;
  if (!uc || !uc->connected || uc->closing) return;
  if (upbatch_pending(uc)) return; /* goes out with this turn's batch, in order */
  flush_now(uc);
}

int upstream_backlogged(const request_t *r) {
  return r->uc && (r->uc->wq.queued > GW_WQ_HIGH || !r->uc->connected);
}

static void up_on_write(uv_write_t *wr, int status) {
  wqueue_t *q = wqueue_complete(wr);
  upconn_t *uc = container_of(q, upconn_t, wq);
  if (uc->closing) return;
  if (status < 0) {
    write_failed(uc);
    return;
  }
  if (uc->req && uc->wq.queued < GW_WQ_LOW) conn_client_writable(uc->req->c);
}

/* ---- response ------------------------------------------------------------ */

static void up_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  upconn_t *uc = h->data;
  buf->base = uc->pool->w->rbuf;
  buf->len = sizeof uc->pool->w->rbuf;
}

void upstream_resume_reading(request_t *r) {
  upconn_t *uc = r->uc;
  if (!uc || uc->closing || uc->reading || !uc->connected) return;
  if (uv_read_start((uv_stream_t *)&uc->tcp, up_on_alloc, up_on_read) == 0) uc->reading = 1;
}

static void response_done(upconn_t *uc, int reusable) {
  request_t *r = uc->req;
  worker_t *w = uc->pool->w;
  r->up_us = worker_now_us() - r->up_start_us;
  if (w->mc)
    metrics_upstream_duration(w->mc, r->gen->snap->ml, (uint32_t)(uc->pool - uc->pool->gen->pools),
                              r->up_us * 1000u);
  r->upstream_reusable = (uint8_t)reusable;
  uc->tmo = TMO_NONE;
  conn_response_complete(r);
}

static void up_process(upconn_t *uc, const char *data, size_t n);

/* Plaintext from the upstream's TLS session. */
static void up_plain(void *ud, const char *p, size_t n) {
  upconn_t *uc = ud;
  if (!uc->closing) up_process(uc, p, n);
}

static void up_on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  upconn_t *uc = s->data;
  request_t *r = uc->req;
  if (nread == 0) return;
  if (uc->wq.tls && nread > 0) {
    const char *why = NULL;
    if (tls_feed(uc->wq.tls, buf->base, (size_t)nread, up_plain, uc, &why) < 0) {
      /* close_notify ends the stream as a FIN does (and may end a response
       * delimited by the close); only a failure is a TLS error. */
      if (!uc->closing && tls_peer_closed(uc->wq.tls)) {
        up_on_read(s, UV_EOF, buf);
      } else if (!uc->closing) {
        char desc[200];
        snprintf(desc, sizeof desc, "TLS with the upstream failed: %s", why);
        up_lost(uc, desc);
      }
      return;
    }
    if (uc->closing) return;
    if (uc->handshaking && tls_handshake_done(uc->wq.tls)) {
      uc->handshaking = 0;
      r = uc->req;
      uc->req = NULL;
      r->uc = NULL;
      attach(r, uc);
      return;
    }
    /* Not only when plaintext is queued: the feed may have left handshake
     * records (a TLS 1.2 client's second flight) that nothing else sends. */
    if (wqueue_flush(&uc->wq, s, up_on_write) < 0) up_lost(uc, "cannot write to upstream");
    return;
  }
  if (nread > 0) {
    up_process(uc, buf->base, (size_t)nread);
    return;
  }
  if (!r) {
    upstream_close(uc); /* idle in the pool: EOF or reset ends it */
    return;
  }
  if (nread < 0) {
    if (nread == UV_EOF && uc->got_response_bytes && llhttp_message_needs_eof(&uc->parser)) {
      uc->event = EV_NONE;
      if (llhttp_finish(&uc->parser) == HPE_OK || uc->event == EV_MSG) {
        conn_response_progress(r);
        response_done(uc, 0);
        return;
      }
    }
    up_lost(uc, uc->got_response_bytes ? "upstream closed the connection mid-response"
                : "upstream closed the connection without answering");
    return;
  }
}

static void up_process(upconn_t *uc, const char *data, size_t nread) {
  request_t *r = uc->req;
  if (!r) {
    upstream_close(uc); /* idle in the pool: unsolicited bytes end it */
    return;
  }
  uc->got_response_bytes = 1;
  stream_tmo(uc);
  const char *p = data, *end = data + nread;
  llhttp_errno_t e;
  for (;;) {
    uc->event = EV_NONE;
    e = llhttp_execute(&uc->parser, p, (size_t)(end - p));
    if (e != HPE_PAUSED || uc->event != EV_STATUS) break;
    /* Each status line pauses once, just past the byte that ended it (read
     * in this call, so p[-1] is in data). llhttp 8.1 ends the line at a CR
     * followed by any byte and drops that byte: only CR LF or LF will do. */
    p = llhttp_get_error_pos(&uc->parser);
    if (p[-1] != '\n') {
      r->err_desc = "bare CR in the status line";
      e = HPE_USER;
      break;
    }
    llhttp_resume(&uc->parser);
  }
  if (e == HPE_PAUSED && uc->event == EV_MSG) {
    /* Bytes after the response, or a body announced where none may follow,
     * could be taken for the next request's answer: such a connection ends. */
    int reusable = llhttp_get_error_pos(&uc->parser) == end && !uc->framing_lied &&
                   llhttp_should_keep_alive(&uc->parser);
    conn_response_progress(r);
    response_done(uc, reusable);
    return;
  }
  if (e != HPE_OK) {
    char desc[160];
    snprintf(desc, sizeof desc, "invalid response from upstream: %s",
             r->err_desc ? r->err_desc : llhttp_get_error_reason(&uc->parser));
    up_fail(uc, ANS_BAD_GATEWAY, desc);
    return;
  }
  conn_response_progress(r);
  if (uc->req && conn_client_backlogged(r->c) && uc->reading) {
    uv_read_stop((uv_stream_t *)&uc->tcp);
    uc->reading = 0;
  }
}

/* llhttp response callbacks: they fill the request's response fields and
 * append to the client's output; nothing is freed here. */

static int resp_add(request_t *r, const char *at, size_t n) {
  if (r->resp.len + n > RESP_HEAD_MAX) {
    r->err_desc = "response head too large";
    return -1;
  }
  return outbuf_append(&r->resp, at, n);
}

static int r_on_header_field(llhttp_t *p, const char *at, size_t n) {
  upconn_t *uc = p->data;
  request_t *r = uc->req;
  if (!r->in_field) {
    if (r->nrhdrs >= RESP_HDRS_MAX) {
      r->err_desc = "too many response headers";
      return HPE_USER;
    }
    if (r->nrhdrs == r->cap_rhdrs) {
      uint32_t cap = r->cap_rhdrs ? r->cap_rhdrs * 2 : 16;
      hdr_t *nh = realloc(r->rhdrs, cap * sizeof *nh);
      if (!nh) return HPE_USER;
      r->rhdrs = nh;
      r->cap_rhdrs = cap;
    }
    hdr_t *h = &r->rhdrs[r->nrhdrs++];
    memset(h, 0, sizeof *h);
    h->name_off = (uint32_t)r->resp.len;
    r->in_field = 1;
  }
  r->rhdrs[r->nrhdrs - 1].name_len += (uint32_t)n;
  return resp_add(r, at, n) ? HPE_USER : 0;
}

static int r_on_header_value(llhttp_t *p, const char *at, size_t n) {
  upconn_t *uc = p->data;
  request_t *r = uc->req;
  hdr_t *h = &r->rhdrs[r->nrhdrs - 1];
  if (r->in_field) {
    r->in_field = 0;
    h->val_off = (uint32_t)r->resp.len;
  }
  h->val_len += (uint32_t)n;
  return resp_add(r, at, n) ? HPE_USER : 0;
}

static int r_on_header_value_complete(llhttp_t *p) {
  upconn_t *uc = p->data;
  uc->req->in_field = 0;
  return 0;
}

static int resp_conn_lists(const request_t *r, const char *name, size_t len) {
  for (uint32_t i = 0; i < r->nrhdrs; i++) {
    const hdr_t *h = &r->rhdrs[i];
    if (HTTP_NAME_IS(r->resp.data + h->name_off, h->name_len, "connection") &&
        http_list_has(r->resp.data + h->val_off, h->val_len, name, len))
      return 1;
  }
  return 0;
}

static int r_on_status_complete(llhttp_t *p) {
  upconn_t *uc = p->data;
  if (llhttp_get_status_code(p) < 100) {
    uc->req->err_desc = "status code below 100";
    return HPE_USER;
  }
  uc->event = EV_STATUS;
  return HPE_PAUSED;
}

/* Every transfer coding the upstream lists must be chunked, and only once:
 * the gateway removes chunked and nothing else, so any other coding would
 * reach the client undeclared. */
struct te_codings {
  unsigned chunked, other;
};

static void te_count(void *ud, const char *tok, size_t n) {
  struct te_codings *k = ud;
  if (HTTP_NAME_IS(tok, n, "chunked"))
    k->chunked++;
  else
    k->other++;
}

static int te_only_chunked(const request_t *r) {
  struct te_codings k = {0, 0};
  for (uint32_t i = 0; i < r->nrhdrs; i++) {
    const hdr_t *h = &r->rhdrs[i];
    if (HTTP_NAME_IS(r->resp.data + h->name_off, h->name_len, "transfer-encoding"))
      http_list_each(r->resp.data + h->val_off, h->val_len, te_count, &k);
  }
  return k.chunked == 1 && k.other == 0;
}

/* An MCP server's session id goes to the client bound to the caller
 * (mcpsess.h); one that cannot be bound is not passed on. */
static void bind_session(request_t *r, outbuf_t *o, const char *sid, size_t n) {
  char bound[MCPSESS_SID_MAX + 1 + MCPSESS_MAC_CHARS];
  size_t bl = mcpsess_bind(r->gen->snap->mcp_keys[r->up_index], r->mcp_princ.data, r->mcp_princ.len,
                           sid, n, bound, sizeof bound);
  if (!bl) {
    LOG_WARN("upstream %s: Mcp-Session-Id of %zu bytes not passed on", r->pool->cfg->name, n);
    return;
  }
  OUTBUF_LIT(o, "Mcp-Session-Id: ");
  outbuf_append(o, bound, bl);
  OUTBUF_LIT(o, "\r\n");
}

static int r_on_headers_complete(llhttp_t *p) {
  upconn_t *uc = p->data;
  request_t *r = uc->req;
  int status = llhttp_get_status_code(p);
  r->in_field = 0;
  /* 1xx and 204 have no body whatever their head says (RFC 9110 §8.6, 9112
   * §6.3), and sending a length or coding there breaks the rules: the
   * upstream's idea of where its message ends is not ours, so whatever it
   * sends next cannot be trusted as the next answer. 304 may legally carry
   * the length the full response would have. */
  if ((status < 200 || status == 204) &&
      (p->content_length > 0 || (p->flags & (F_CHUNKED | F_TRANSFER_ENCODING))))
    uc->framing_lied = 1;
  if (status < 200) {
    if (status == 101) {
      r->err_desc = "upstream switched protocols, which is not supported";
      return HPE_USER;
    }
    if (status == 100 && r->expect_continue)
      request_append_response(r, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    r->nrhdrs = 0;
    r->resp.len = 0;
    return 1; /* head only: the final response follows on the same connection */
  }
  int no_body = r->is_head || status == 204 || status == 304;
  if (!no_body && (p->flags & F_TRANSFER_ENCODING) && !te_only_chunked(r)) {
    r->err_desc = "transfer coding other than chunked";
    return HPE_USER;
  }
  r->up_status = status;
  r->status = status;
  r->resp_started = 1;
  const hdr_t *cl = NULL, *ctype = NULL;
  int chunked = 0;
  outbuf_t *o = conn_response_buf(r);
  size_t before = o->len;
  char line[64];
  outbuf_append(o, line, http_status_line(line, status));
  const char *a = r->resp.data;
  int has_conn = 0;
  for (uint32_t i = 0; i < r->nrhdrs && !has_conn; i++)
    has_conn = HTTP_NAME_IS(a + r->rhdrs[i].name_off, r->rhdrs[i].name_len, "connection");
  for (uint32_t i = 0; i < r->nrhdrs; i++) {
    const hdr_t *h = &r->rhdrs[i];
    const char *n = a + h->name_off;
    size_t nl = h->name_len;
    if (HTTP_NAME_IS(n, nl, "transfer-encoding")) {
      chunked = 1;
      continue;
    }
    if (HTTP_NAME_IS(n, nl, "content-length")) {
      if (!cl) cl = h;
      continue;
    }
    if (http_is_hop_by_hop(n, nl) || (has_conn && resp_conn_lists(r, n, nl))) continue;
    /* With an allowed origin the gateway's CORS answer replaces the upstream's. */
    if (r->cors && (HTTP_NAME_IS(n, nl, "access-control-allow-origin") ||
                    HTTP_NAME_IS(n, nl, "access-control-expose-headers")))
      continue;
    if (HTTP_NAME_IS(n, nl, "content-type")) {
      uc->sse = !no_body && h->val_len >= 17 && strncasecmp(a + h->val_off, "text/event-stream", 17) == 0;
      ctype = h;
    }
    if (uc->pool->cfg->protocol == GW_PROTO_MCP && HTTP_NAME_IS(n, nl, "mcp-session-id")) {
      bind_session(r, o, a + h->val_off, h->val_len);
      continue;
    }
    outbuf_append(o, n, nl);
    outbuf_append(o, ": ", 2);
    outbuf_append(o, a + h->val_off, h->val_len);
    outbuf_append(o, "\r\n", 2);
  }
  answer_cors_t cors = request_cors(r);
  answer_cors(o, &cors);
  /* A list answer changes length when filtered: it goes out re-framed. */
  if (!no_body && (r->mresp = mcpresp_start(r, status, ctype ? a + ctype->val_off : NULL,
                                            ctype ? ctype->val_len : 0)))
    cl = NULL;
  if (uc->sse) {
    uc->tmo = TMO_NONE;
    keepalive_on(&uc->tcp);
    conn_keepalive(r->c);
  }
  if (cl && !chunked && status != 204) {
    outbuf_append(o, "Content-Length: ", 16);
    outbuf_append(o, a + cl->val_off, cl->val_len);
    outbuf_append(o, "\r\n", 2);
  } else if (!no_body) {
    if (llhttp_get_http_minor(&r->h.parser) >= 1) {
      r->chunked_out = 1;
      outbuf_append(o, "Transfer-Encoding: chunked\r\n", 28);
    } else {
      r->close_delimited_out = 1;
      r->keepalive = 0;
    }
  }
  if (!r->keepalive || uc->pool->w->draining) {
    r->keepalive = 0;
    outbuf_append(o, "Connection: close\r\n", 19);
  }
  outbuf_append(o, "\r\n", 2);
  r->bytes_out += o->len - before;
  if (uc->sse) {
    if (uc->wq.out.len == 0) outbuf_free(&uc->wq.out); /* the request head, written */
    conn_response_streaming(r);
  }
  return no_body; /* 1: llhttp reads no body */
}

static void emit_body(void *ud, const char *at, size_t n) {
  request_t *r = ud;
  if (n == 0) return;
  if (r->chunked_out) {
    char line[24];
    int k = snprintf(line, sizeof line, "%zx\r\n", n);
    request_append_response(r, line, (size_t)k);
    request_append_response(r, at, n);
    request_append_response(r, "\r\n", 2);
  } else {
    request_append_response(r, at, n);
  }
}

static int r_on_body(llhttp_t *p, const char *at, size_t n) {
  upconn_t *uc = p->data;
  request_t *r = uc->req;
  if (r->mresp)
    mcpresp_body(r->mresp, at, n, emit_body, r);
  else
    emit_body(r, at, n);
  return 0;
}

static int r_on_message_complete(llhttp_t *p) {
  upconn_t *uc = p->data;
  request_t *r = uc->req;
  if (llhttp_get_status_code(p) < 200) return 0; /* an interim answer: the real one follows */
  if (r->mresp) mcpresp_end(r->mresp, emit_body, r);
  if (r->chunked_out) request_append_response(r, "0\r\n\r\n", 5);
  uc->event = EV_MSG;
  return HPE_PAUSED;
}

/* Constant: workers on several threads share it, nothing initializes it lazily. */
static const llhttp_settings_t *resp_settings(void) {
  static const llhttp_settings_t s = {
    .on_status_complete = r_on_status_complete,
    .on_header_field = r_on_header_field,
    .on_header_value = r_on_header_value,
    .on_header_value_complete = r_on_header_value_complete,
    .on_headers_complete = r_on_headers_complete,
    .on_body = r_on_body,
    .on_message_complete = r_on_message_complete,
  };
  return &s;
}

int upstream_addr_text(const request_t *r, char *buf, size_t cap) {
  const upool_t *p = r->pool;
  char ip[64];
  int v6 = p && p->addr.ss_family == AF_INET6;
  if (!p || p->addrlen == 0 || uv_ip_name((const struct sockaddr *)&p->addr, ip, sizeof ip)) return -1;
  /* sin_port and sin6_port sit at the same offset */
  snprintf(buf, cap, v6 ? "[%s]:%u" : "%s:%u", ip, ntohs(((const struct sockaddr_in *)&p->addr)->sin_port));
  return 0;
}
