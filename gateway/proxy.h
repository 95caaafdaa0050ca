/* proxy: the internal contract between the worker loop (server.c), the
 * client side (conn.c) and the upstream side (upstream.c).
 *
 * Everything here lives on one worker thread; nothing is shared between
 * workers except the read-only config and a few atomic counters. llhttp
 * callbacks only record and append to buffers; decisions and I/O happen after
 * llhttp_execute() returns, so no connection is freed inside a parser. */
#ifndef GW_PROXY_H
#define GW_PROXY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "http.h"
#include "tls.h"
#include "llhttp.h"
#include "metrics.h"

typedef struct worker worker_t;
typedef struct client client_t;
typedef struct upconn upconn_t;
typedef struct request request_t;
typedef struct upool upool_t;
typedef struct gate_worker gate_worker_t;
typedef struct wgen wgen_t;
struct gw_snapshot;

typedef struct dlist {
  struct dlist *prev, *next;
} dlist_t;

static inline void dlist_init(dlist_t *l) { l->prev = l->next = l; }
static inline int dlist_empty(const dlist_t *l) { return l->next == l; }
static inline void dlist_insert_tail(dlist_t *head, dlist_t *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}
static inline void dlist_remove(dlist_t *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* A growable output buffer; released when a connection goes idle so that
 * idle keep-alive connections hold no buffers. */
typedef struct {
  char *data;
  size_t len, cap;
} outbuf_t;

int outbuf_reserve(outbuf_t *b, size_t extra);
int outbuf_append(outbuf_t *b, const void *p, size_t n);
int outbuf_printf(outbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a string literal (its length known at compile time). */
#define OUTBUF_LIT(b, lit) outbuf_append((b), (lit), sizeof(lit) - 1)
/* Appends "name<decimal v>\r\n". */
int outbuf_append_u64(outbuf_t *b, const char *name, uint64_t v);
void outbuf_free(outbuf_t *b);

/* Writes queued on one stream: try_write first, uv_write for the rest. */
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

#define GW_WQ_HIGH (256 * 1024) /* stop reading the other side above this */
#define GW_WQ_LOW (64 * 1024)   /* resume below this */
#define GW_READ_BUF (64 * 1024)
#define PENDING_MAX (128 * 1024) /* unparsed client input kept before reading stops */
#define REQ_FREE_MAX 64          /* recycled requests kept per worker */

typedef enum { TMO_NONE = 0, TMO_HEADER, TMO_IDLE, TMO_CONNECT, TMO_RESPONSE, TMO_STREAM, TMO_POOL, TMO_LINGER } tmo_kind_t;

#define LINGER_MS 2000                 /* input read and dropped after a closing answer */
#define LINGER_MAX_BYTES (256 * 1024)

struct upool {
  worker_t *w;
  wgen_t *gen;
  const gw_upstream_cfg_t *cfg;
  dlist_t idle;      /* upconn_t.link, most recently used at the tail */
  unsigned nidle;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  uint64_t addr_expires; /* 0 = numeric host: never */
};

struct server;

/* One configuration snapshot as a worker uses it: its upstream pools and
 * verifiers. A request keeps the generation it started with; a replaced
 * generation is freed when its last request and connection are gone. */
struct wgen {
  worker_t *w;
  struct gw_snapshot *snap;
  const gw_config_t *cfg;
  upool_t *pools;        /* one per cfg->upstreams[i] */
  gate_worker_t *gate;
  SSL_CTX **snap_upstream_tls; /* per upstream, NULL for http:// */
  SSL_CTX *tls_ctx;      /* tls_listen connections; NULL without */
  unsigned users;        /* requests and upstream connections */
  dlist_t link;          /* in worker->retired once replaced */
};

wgen_t *wgen_new(worker_t *w, struct gw_snapshot *snap);
void wgen_release(wgen_t *g);

/* A listening socket watched with a poll handle rather than uv_listen():
 * libuv's accept loop has no way to stop while accept() fails with EMFILE,
 * a poll handle can be stopped and started again. */
typedef struct {
  uv_poll_t poll;
  int fd;
  uint8_t kind; /* LISTENER_* */
} gw_listener_t;

struct worker {
  int id;
  struct server *server;
  uv_loop_t loop;
  uv_thread_t thread;
  gw_listener_t listeners[2 * GW_MAX_LISTEN + 1];
  size_t nlisteners;
  uv_timer_t accept_timer; /* ends a pause in accepting (server_accept_failed) */
  int accept_paused;
  uint64_t refused_log_ms[GW_MREFUSED_COUNT]; /* when the next refusal message may be logged */
  unsigned refused_unlogged[GW_MREFUSED_COUNT];
  uv_timer_t tick;
  uv_async_t async;
  const gw_config_t *cfg; /* the current generation's: connection-level limits */
  wgen_t *cur;
  dlist_t retired;
  dlist_t clients;
  dlist_t upconns;  /* connections attached to a request (pooled ones are in their pool) */
  dlist_t up_pending;   /* upconn_t.pend: request heads to write before the next poll */
  uv_prepare_t up_prepare; /* runs while up_pending is not empty */
  unsigned long up_aio; /* aio_context_t for batched upstream writes; 0 = write at once */
  size_t nclients;
  int draining;
  int stopping;
  outbuf_t access;  /* buffered access log lines, flushed on each tick */
  gw_mcounters_t *mc; /* this worker's metric counters */
  uint64_t rid_state[2]; /* request id generator (xorshift128+, seeded from getrandom) */
  request_t *free_reqs; /* recycled requests with their buffers */
  unsigned nfree_reqs;
  char rbuf[GW_READ_BUF]; /* shared by every read on this loop: reads never outlive their callback */
};

enum { RS_HEAD = 0, RS_WAIT, RS_BODY, RS_LOCAL, RS_DONE, RS_PARKED, RS_M2M };

typedef struct {
  uint32_t name_off, name_len, val_off, val_len;
} hdr_t;

struct request {
  llhttp_t parser;        /* the client's request */
  client_t *c;
  wgen_t *gen;            /* configuration this request is judged and forwarded with */
  upconn_t *uc;
  upool_t *pool;
  gw_headscan_t hs;
  uint8_t state;
  uint8_t event;          /* what paused the parser: EV_HEAD or EV_MSG */
  uint8_t msg_complete;   /* whole request read from the client */
  uint8_t resp_started;   /* first response byte went to the client */
  uint8_t resp_complete;
  uint8_t keepalive;      /* client side may be kept */
  uint8_t chunked_in;     /* request body is chunked */
  uint8_t chunked_out;    /* response body re-encoded as chunked to the client */
  uint8_t close_delimited_out;
  uint8_t expect_continue;
  uint8_t is_head;
  uint8_t retried;
  uint8_t upstream_reusable;
  uint8_t in_field;
  int err_status;         /* set by a parser callback that refused (431...) */
  const char *err_code;
  const char *err_desc;
  int status;             /* status sent to the client */
  uint64_t content_length;
  uint64_t chunk_left;    /* bytes of the current request chunk still to come */
  uint8_t crlf_due;       /* bytes of the CRLF after chunk data still to check */
  uint64_t body_in;       /* request body bytes read */
  uint64_t bytes_out;     /* response bytes sent to the client (body + head) */
  uint64_t start_ms;
  uint64_t up_start_ms;
  uint64_t up_ms;         /* upstream time: request handed over to response complete */
  /* head arena: method, target and header bytes copied out of read buffers */
  char *arena;            /* grows on demand up to arena_max (max_header_bytes) */
  uint32_t arena_len, arena_cap, arena_max;
  uint32_t method_off, method_len, url_off, url_len;
  hdr_t *hdrs;            /* grows on demand up to max_hdrs (max_headers) */
  uint32_t nhdrs, cap_hdrs, max_hdrs;
  /* the head sent upstream, kept for one retry on a fresh connection */
  outbuf_t uphead;
  /* response head fields collected from the upstream */
  outbuf_t resp;
  hdr_t *rhdrs;
  uint32_t nrhdrs, cap_rhdrs;
  int up_status;
  /* what the gate decided */
  char *npath;            /* normalized path: judged and forwarded */
  size_t npath_len;
  const char *query;      /* after '?', into the arena; NULL when none */
  size_t query_len;
  outbuf_t ident;         /* identity header lines for the upstream */
  outbuf_t logx;          /* sub and client_id for the access log, only when it is on */
  const char *decision;   /* static: allow, public, unauthorized, invalid_token, ... */
  const char *reason;     /* static: the failed token check */
  const char *kind;       /* static: m2m or user, NULL without a token */
  const struct gw_route *route; /* the policy route that judged it */
  gw_mreason_t mreason;   /* the failed check, for the metrics */
  char request_id[72];    /* the client's X-Request-Id when well-formed, else generated */
  uint8_t cors;           /* 1: allowed origin echoed, 2: any origin */
  uint8_t parked_once;
  uint8_t must_close;     /* the answer ends the connection (framing errors...) */
  uint32_t origin_off, origin_len;
  dlist_t park_link;      /* in the worker's parked list while RS_PARKED */
  unsigned park_seq;
  uint32_t park_issuer;
  request_t *next_free;   /* in the worker's recycled list */
  outbuf_t m2mbody;       /* a token request's body (bounded) */
  uint8_t m2m_too_large;
  struct m2m_work *m2m_work; /* token request on the thread pool */
};

struct client {
  uv_tcp_t tcp;
  dlist_t link;
  worker_t *w;
  request_t *req;
  char *pending;          /* input not yet parsed (pipelining, waiting for upstream) */
  const char *exec_end;   /* end of the buffer llhttp is executing */
  uint32_t pending_len;
  uint8_t is_admin;
  uint8_t is_tls;
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

struct upconn {
  uv_tcp_t tcp;
  dlist_t link;
  dlist_t pend;           /* in worker->up_pending while its head waits for the batch */
  upool_t *pool;
  request_t *req;         /* NULL while idle in the pool */
  llhttp_t parser;
  uv_connect_t connect_req;
  uv_getaddrinfo_t gai;
  wqueue_t wq;
  uint64_t deadline;
  uint8_t tmo;
  uint8_t connected;
  uint8_t reused;
  uint8_t closing;
  uint8_t reading;
  uint8_t resolving;
  uint8_t handle_closed;
  uint8_t handshaking;    /* TLS to the upstream not established yet */
  uint8_t pooled;         /* idle in pool->idle */
  uint8_t got_response_bytes;
  uint8_t write_failed;
  uint8_t event;          /* EV_MSG when the response completed */
};

enum { EV_NONE = 0, EV_HEAD, EV_MSG };
enum { LISTENER_PLAIN = 0, LISTENER_ADMIN, LISTENER_TLS };

/* server.c */
extern atomic_uint gw_open_connections;
extern atomic_int gw_ready;
uint64_t worker_now(worker_t *w);
/* accept() failed with err (an errno): stop accepting for a while. */
void server_accept_failed(worker_t *w, int err);
/* A connection refused at max_connections: counted, logged rate-limited. */
void server_refused_max_connections(worker_t *w);
/* max_connections as the descriptor limit allows. */
unsigned server_max_connections(const gw_config_t *cfg);

/* conn.c: client side */
void conn_on_listener(uv_poll_t *p, int status, int events);
void conn_close(client_t *c);
void conn_timeout(client_t *c);
void conn_drain(client_t *c);
void conn_free_recycled(worker_t *w);
/* Called by the upstream side. */
void conn_upstream_ready(request_t *r);              /* head written; stream the body */
void conn_upstream_failed(request_t *r, int status, const char *code, const char *desc);
void conn_response_progress(request_t *r);           /* client out has new bytes: flush */
void conn_response_complete(request_t *r);
void conn_client_writable(client_t *c);              /* back-pressure check after a client write */
int conn_client_backlogged(const client_t *c);
void request_append_response(request_t *r, const void *p, size_t n);
/* Local JSON answers: {"error": code, "error_description": desc}. */
void conn_answer(client_t *c, int status, const char *code, const char *desc, int close);
void conn_answer_body(client_t *c, int status, const char *json);
/* extra_headers: complete lines; extra_json: more members for the body. */
void conn_answer_ex(client_t *c, int status, const char *code, const char *desc, int close,
                    const char *extra_headers, const char *extra_json);
/* An answer with any headers and body (e.g. a metadata document). */
void conn_answer_raw(client_t *c, int status, const char *headers, const char *body, size_t len);
/* Carry on with a connection after a parked request was decided. */
void conn_resume(client_t *c);
const char *req_method(const request_t *r, size_t *len);
void conn_peer_ip(const client_t *c, char *buf, size_t cap);
const hdr_t *req_header(const request_t *r, const char *lower_name, int *count);

/* upstream.c */
void upstream_start(request_t *r);                   /* acquire a connection, send the head */
void upstream_body(request_t *r, const char *p, size_t n); /* append request body bytes */
void upstream_body_end(request_t *r);
void upstream_flush(request_t *r);
int upstream_backlogged(const request_t *r);
void upstream_release(request_t *r, int reusable);   /* detach from request: pool or close */
void upstream_abort(request_t *r);                   /* close, no reuse */
void upstream_resume_reading(request_t *r);
void upstream_touch(request_t *r);                   /* data flowed: push the stream deadline */
void upstream_timeout(upconn_t *uc);
void upstream_pool_close_all(upool_t *p);
void upstream_close(upconn_t *uc);
/* Batched upstream writes for a worker's loop (see upstream.c). */
void upstream_batch_init(worker_t *w);
void upstream_batch_close(worker_t *w);  /* closes the prepare handle */
void upstream_batch_free(worker_t *w);   /* after the loop ended */

/* gate.c */
struct gw_authctx;
gate_worker_t *gate_new(const struct gw_authctx *a);
void gate_free(gate_worker_t *g);
size_t gate_cache_entries(const gate_worker_t *g);
void gate_wake_all(gate_worker_t *g);
void gate_request(client_t *c, request_t *r);
void gate_wake(worker_t *w);
void gate_unpark(request_t *r);
/* The request goes away: nothing may call back into it any more. */
void gate_detach(request_t *r);
/* A token request's body is complete: issue on the thread pool. */
void gate_m2m_start(request_t *r);
void gate_m2m_body(request_t *r, const char *p, size_t n);
int gate_ready(worker_t *w);
void gate_cors_headers(const request_t *r, outbuf_t *o);

/* access log (server.c) */
int access_log_enabled(void);
void access_log_request(request_t *r);

#endif
