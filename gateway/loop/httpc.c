#include "httpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "llhttp.h"
#include "tls.h"

#define HTTPC_HEAD_MAX (16 * 1024)

struct httpc {
  uv_tcp_t tcp;
  uv_connect_t connect_req;
  uv_write_t write_req;
  uv_getaddrinfo_t gai;
  uv_timer_t timer;
  llhttp_t parser;
  httpc_cb cb;
  void *ud;
  size_t max_body;
  size_t head_bytes;
  char *body;
  size_t body_len, body_cap;
  char req[1024];
  size_t req_len;
  uint16_t port;
  int64_t max_age;
  int in_cache_control;
  int done;
  int pending_closes;
  int resolving;
  char header[32];
  size_t header_len;
  char value[128];
  size_t value_len;
  gw_tls_t *tls;        /* https:// */
  const char *host;     /* for SNI and verification; the URL outlives the request */
  int sent;             /* the request went into the TLS session */
  unsigned writes;      /* uv_write requests in flight */
  const char *refused;  /* why a body callback stopped the parser */
};

typedef struct {
  uv_write_t req;
  httpc_t *h;
  char data[];
} hwrite_t;

static void finish(httpc_t *h, const char *error);
static void plain(void *ud, const char *p, size_t n);
static void send_records(httpc_t *h);
#define container_of_hw(w) ((hwrite_t *)(void *)((char *)(w) - offsetof(hwrite_t, req)))

static void hfree(httpc_t *h) {
  tls_free(h->tls);
  free(h->body);
  free(h);
}

static void on_closed(uv_handle_t *hd) {
  httpc_t *h = hd->data;
  if (--h->pending_closes == 0 && !h->resolving) hfree(h);
}

static void finish(httpc_t *h, const char *error) {
  if (h->done) return;
  h->done = 1;
  httpc_result_t res = {0};
  res.status = error ? 0 : llhttp_get_status_code(&h->parser);
  res.max_age_s = h->max_age;
  res.body = h->body ? h->body : "";
  res.body_len = h->body_len;
  res.error = error;
  h->cb(h->ud, &res);
  h->pending_closes = 2;
  uv_close((uv_handle_t *)&h->tcp, on_closed);
  uv_close((uv_handle_t *)&h->timer, on_closed);
}

static void on_timeout(uv_timer_t *t) { finish(t->data, "timed out"); }

static int cb_header_field(llhttp_t *p, const char *at, size_t n) {
  httpc_t *h = p->data;
  if (h->value_len || h->header_len == (size_t)-1) {
    h->header_len = 0;
    h->value_len = 0;
  }
  h->head_bytes += n;
  if (h->header_len + n < sizeof h->header) {
    memcpy(h->header + h->header_len, at, n);
    h->header_len += n;
  }
  return h->head_bytes > HTTPC_HEAD_MAX ? HPE_USER : 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t n) {
  httpc_t *h = p->data;
  h->head_bytes += n;
  if (h->value_len + n < sizeof h->value) {
    memcpy(h->value + h->value_len, at, n);
    h->value_len += n;
  }
  return h->head_bytes > HTTPC_HEAD_MAX ? HPE_USER : 0;
}

/* Cache-Control: ..., max-age=N, ... */
static void parse_max_age(httpc_t *h) {
  const char *v = h->value;
  size_t len = h->value_len;
  for (size_t i = 0; i + 8 <= len; i++) {
    if ((i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') && strncasecmp(v + i, "max-age=", 8) == 0) {
      int64_t n = 0;
      size_t k = i + 8;
      if (k >= len || v[k] < '0' || v[k] > '9') return;
      for (; k < len && v[k] >= '0' && v[k] <= '9' && n < 100000000; k++) n = n * 10 + (v[k] - '0');
      h->max_age = n;
      return;
    }
  }
}

static int cb_header_value_complete(llhttp_t *p) {
  httpc_t *h = p->data;
  if (http_name_eq(h->header, h->header_len, "cache-control")) parse_max_age(h);
  h->header_len = (size_t)-1;
  return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t n) {
  httpc_t *h = p->data;
  if (h->body_len + n > h->max_body) {
    h->refused = "response body too large";
    return HPE_USER;
  }
  if (h->body_len + n > h->body_cap) {
    size_t cap = h->body_cap ? h->body_cap : 4096;
    while (cap < h->body_len + n) cap *= 2;
    if (cap > h->max_body) cap = h->max_body;
    char *b = realloc(h->body, cap);
    if (!b) {
      h->refused = "out of memory";
      return HPE_USER;
    }
    h->body = b;
    h->body_cap = cap;
  }
  memcpy(h->body + h->body_len, at, n);
  h->body_len += n;
  return 0;
}

static int cb_message_complete(llhttp_t *p) {
  httpc_t *h = p->data;
  if (llhttp_get_status_code(p) < 200) return 0;
  finish(h, NULL);
  return HPE_PAUSED;
}

/* Constant: workers on several threads share it, nothing initializes it lazily. */
static const llhttp_settings_t *settings(void) {
  static const llhttp_settings_t s = {
    .on_header_field = cb_header_field,
    .on_header_value = cb_header_value,
    .on_header_value_complete = cb_header_value_complete,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
  };
  return &s;
}

static void on_alloc(uv_handle_t *hd, size_t hint, uv_buf_t *buf) {
  static char rbuf[16384]; /* main loop only: reads never outlive their callback */
  (void)hd;
  (void)hint;
  buf->base = rbuf;
  buf->len = sizeof rbuf;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  httpc_t *h = s->data;
  if (h->done || nread == 0) return;
  if (nread < 0) {
    if (nread == UV_EOF && llhttp_finish(&h->parser) == HPE_OK && h->done) return;
    finish(h, nread == UV_EOF ? "connection closed before the response was complete"
                              : uv_strerror((int)nread));
    return;
  }
  if (h->tls) {
    const char *why = NULL;
    if (tls_feed(h->tls, buf->base, (size_t)nread, plain, h, &why) < 0) {
      if (!h->done) finish(h, why);
      return;
    }
    if (!h->done && !h->sent && tls_handshake_done(h->tls)) {
      h->sent = 1;
      if (tls_write(h->tls, h->req, h->req_len)) finish(h, "cannot send the request");
    }
    if (!h->done) send_records(h);
    return;
  }
  plain(h, buf->base, (size_t)nread);
}

static void plain(void *ud, const char *p, size_t n) {
  httpc_t *h = ud;
  if (h->done) return;
  llhttp_errno_t e = llhttp_execute(&h->parser, p, n);
  if (h->done) return;
  if (e != HPE_OK) {
    finish(h, h->refused                       ? h->refused
              : h->head_bytes > HTTPC_HEAD_MAX ? "response head too large"
                                               : "invalid HTTP response");
  }
}

static void on_write(uv_write_t *w, int status) {
  httpc_t *h = w->data;
  if (status < 0 && !h->done) finish(h, uv_strerror(status));
}

static void on_record_write(uv_write_t *w, int status) {
  hwrite_t *hw = container_of_hw(w);
  httpc_t *h = hw->h;
  free(hw);
  if (status < 0 && !h->done) finish(h, uv_strerror(status));
}

/* Writes whatever TLS records are pending (handshake, request). */
static void send_records(httpc_t *h) {
  char *buf = NULL;
  size_t len = 0, cap = 0;
  if (tls_take(h->tls, &buf, &len, &cap) < 0) {
    free(buf);
    finish(h, "out of memory");
    return;
  }
  if (len == 0) {
    free(buf);
    return;
  }
  hwrite_t *hw = malloc(sizeof *hw + len);
  if (!hw) {
    free(buf);
    finish(h, "out of memory");
    return;
  }
  hw->h = h;
  memcpy(hw->data, buf, len);
  free(buf);
  uv_buf_t b = uv_buf_init(hw->data, (unsigned)len);
  if (uv_write(&hw->req, (uv_stream_t *)&h->tcp, &b, 1, on_record_write)) {
    free(hw);
    finish(h, "cannot send the request");
  }
}

static void on_connect(uv_connect_t *c, int status) {
  httpc_t *h = c->data;
  if (h->done) return;
  if (status < 0) {
    finish(h, uv_strerror(status));
    return;
  }
  if (h->tls) {
    if (tls_connect(h->tls) || uv_read_start((uv_stream_t *)&h->tcp, on_alloc, on_read)) {
      finish(h, "cannot start TLS");
      return;
    }
    send_records(h);
    return;
  }
  uv_buf_t b = uv_buf_init(h->req, (unsigned)h->req_len);
  h->write_req.data = h;
  if (uv_write(&h->write_req, (uv_stream_t *)&h->tcp, &b, 1, on_write) ||
      uv_read_start((uv_stream_t *)&h->tcp, on_alloc, on_read))
    finish(h, "cannot send the request");
}

static void start_connect(httpc_t *h, const struct sockaddr *sa) {
  h->connect_req.data = h;
  int rc = uv_tcp_connect(&h->connect_req, &h->tcp, sa, on_connect);
  if (rc) finish(h, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *g, int status, struct addrinfo *ai) {
  httpc_t *h = g->data;
  h->resolving = 0;
  if (h->done) {
    uv_freeaddrinfo(ai);
    if (h->pending_closes == 0) hfree(h);
    return;
  }
  if (status < 0 || !ai) {
    uv_freeaddrinfo(ai);
    finish(h, "cannot resolve host");
    return;
  }
  struct sockaddr_storage ss;
  memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
  uv_freeaddrinfo(ai);
  if (ss.ss_family == AF_INET)
    ((struct sockaddr_in *)&ss)->sin_port = htons(h->port);
  else
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons(h->port);
  start_connect(h, (struct sockaddr *)&ss);
}

void httpc_cancel(httpc_t *h) { finish(h, "cancelled"); }

httpc_t *httpc_get(uv_loop_t *loop, const gw_url_t *url, SSL_CTX *tls, uint64_t timeout_ms,
                   size_t max_body, httpc_cb cb, void *ud, const char **err) {
  if (url->scheme == GW_SCHEME_HTTPS && !tls) {
    *err = "https:// without a TLS context";
    return NULL;
  }
  httpc_t *h = calloc(1, sizeof *h);
  if (!h) {
    *err = "out of memory";
    return NULL;
  }
  if (url->scheme == GW_SCHEME_HTTPS) {
    h->tls = tls_new_client(tls, url->host);
    if (!h->tls) {
      free(h);
      *err = "cannot create a TLS session";
      return NULL;
    }
  }
  int n = snprintf(h->req, sizeof h->req,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                   "User-Agent: gateway-jwks\r\nConnection: close\r\n\r\n",
                   url->path[0] ? url->path : "/", url->authority);
  if (n < 0 || (size_t)n >= sizeof h->req) {
    tls_free(h->tls);
    free(h);
    *err = "URL too long";
    return NULL;
  }
  h->req_len = (size_t)n;
  h->cb = cb;
  h->ud = ud;
  h->max_body = max_body;
  h->max_age = -1;
  h->port = url->port;
  llhttp_init(&h->parser, HTTP_RESPONSE, settings());
  h->parser.data = h;
  uv_tcp_init(loop, &h->tcp);
  h->tcp.data = h;
  uv_timer_init(loop, &h->timer);
  h->timer.data = h;
  uv_timer_start(&h->timer, on_timeout, timeout_ms, 0);
  struct sockaddr_in a4;
  struct sockaddr_in6 a6;
  if (uv_ip4_addr(url->host, url->port, &a4) == 0) {
    start_connect(h, (struct sockaddr *)&a4);
  } else if (uv_ip6_addr(url->host, url->port, &a6) == 0) {
    start_connect(h, (struct sockaddr *)&a6);
  } else {
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    h->gai.data = h;
    h->resolving = 1;
    if (uv_getaddrinfo(loop, &h->gai, on_resolved, url->host, NULL, &hints)) {
      h->resolving = 0;
      finish(h, "cannot resolve host");
    }
  }
  return h;
}
