/* worker-t: the types every room of the event loop shares. Everything here
 * lives on one worker thread; nothing is shared between workers except the
 * read-only snapshot and the atomic counters at the end. */
#ifndef GW_WORKER_T_H
#define GW_WORKER_T_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "metrics.h"
#include "tls.h"

typedef struct worker worker_t;
typedef struct wgen wgen_t;
typedef struct upool upool_t;
typedef struct upconn upconn_t;
typedef struct request request_t;
typedef struct client client_t;
typedef struct verifier verifier_t;
struct gw_snapshot;
struct server;

#define GW_READ_BUF (64 * 1024)
#define GW_MAX_LISTENERS (3 * GW_MAX_LISTEN + 1)

typedef enum { TMO_NONE = 0, TMO_HEADER, TMO_IDLE, TMO_CONNECT, TMO_RESPONSE, TMO_STREAM, TMO_POOL, TMO_LINGER } tmo_kind_t;
enum { LISTENER_PLAIN = 0, LISTENER_ADMIN, LISTENER_TLS, LISTENER_DECISION };

/* One configuration snapshot as a worker uses it: its upstream pools and
 * verifier. A request keeps the generation it started with; a replaced
 * generation is freed when its last request and connection are gone. */
struct wgen {
  worker_t *w;
  struct gw_snapshot *snap;
  const gw_config_t *cfg;
  upool_t *pools;        /* one per cfg->upstreams[i] */
  verifier_t *verifier;
  dlist_t parked;        /* requests waiting for a key set fetch (request_t.park_link) */
  SSL_CTX **snap_upstream_tls; /* per upstream, NULL for http:// */
  SSL_CTX *tls_ctx;      /* tls_listen connections; NULL without */
  unsigned users;        /* requests and upstream connections */
  dlist_t link;          /* in worker->retired once replaced */
};

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
  gw_listener_t listeners[GW_MAX_LISTENERS];
  size_t nlisteners;
  uv_timer_t accept_timer; /* ends a pause in accepting (conn.c) */
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
  struct jobq *jobq; /* finished jobs of the jobs pool (jobs.c) */
  struct rconn *redis; /* this worker's connection to the [cluster] Redis (cluster.c); NULL without */
  gw_mcounters_t *mc; /* this worker's metric counters */
  struct gw_metrics *metrics; /* the process's, for /metrics (NULL without) */
  uint64_t rid_state[2]; /* request id generator (xorshift128+, seeded from getrandom) */
  request_t *free_reqs; /* recycled requests with their buffers */
  unsigned nfree_reqs;
  char rbuf[GW_READ_BUF]; /* shared by every read on this loop: reads never outlive their callback */
};

static inline uint64_t worker_now(const worker_t *w) { return uv_now(&w->loop); }
/* Monotonic microseconds, for durations: uv_now() is whole milliseconds,
 * too coarse for a proxy that answers in tens of microseconds. One vDSO
 * clock read (CLOCK_MONOTONIC), no system call. */
static inline uint64_t worker_now_us(void) { return uv_hrtime() / 1000u; }

/* Process-wide: open client connections (every worker), and 1 once the
 * gateway can serve (listeners up). */
extern atomic_uint gw_open_connections;
extern atomic_int gw_ready;
/* 1 from SIGTERM on: /readyz answers 503 while listeners still serve (shutdown_delay). */
extern atomic_int gw_stopping;
/* max_connections as the descriptor limit allows (server.c sets it). */
extern atomic_uint gw_fd_max_connections;
static inline unsigned worker_max_connections(const gw_config_t *cfg) {
  unsigned cap = atomic_load_explicit(&gw_fd_max_connections, memory_order_relaxed);
  return cfg->max_connections < cap ? cfg->max_connections : cap;
}

#endif
