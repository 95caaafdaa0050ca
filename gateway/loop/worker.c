/* worker: one event loop thread. */
#include "worker.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/random.h>

#include "accesslog.h"
#include "cluster.h"
#include "conn.h"
#include "gate.h"
#include "gen.h"
#include "jobs.h"
#include "jwt.h"
#include "log.h"
#include "server-t.h"
#include "snapshot.h"
#include "upbatch.h"
#include "upstream.h"

#define TICK_MS 100

atomic_uint gw_open_connections;
atomic_int gw_ready;
atomic_int gw_stopping;
atomic_uint gw_fd_max_connections = UINT_MAX;

static void worker_close_handles(worker_t *w);
static void worker_swap(worker_t *w, gw_snapshot_t *snap);

static void on_tick(uv_timer_t *t) {
  worker_t *w = t->data;
  uint64_t now = worker_now(w);
  conn_sweep(w, now);
  upstream_sweep(w, now);
  access_log_flush(w);
  if (w->draining && w->nclients == 0 && !w->stopping) worker_close_handles(w);
}

static void worker_close_handles(worker_t *w) {
  if (w->stopping) return;
  w->stopping = 1;
  upstream_pools_close_idle(w->cur);
  conn_close_all(w);
  upstream_close_all(w);
  conn_listeners_close(w);
  uv_close((uv_handle_t *)&w->accept_timer, NULL);
  uv_close((uv_handle_t *)&w->tick, NULL);
  uv_close((uv_handle_t *)&w->async, NULL);
  jobs_worker_close(w);
  upbatch_close(w);
  cluster_worker_close(w);
}

static void on_async(uv_async_t *a) {
  worker_t *w = a->data;
  server_t *s = w->server;
  int cmd = atomic_load(&s->command);
  if (cmd >= SERVER_DRAIN && !w->draining) {
    w->draining = 1;
    conn_listeners_close(w);
    conn_drain_all(w);
    upstream_pools_close_idle(w->cur);
  }
  if (cmd >= SERVER_STOP || (w->draining && w->nclients == 0)) {
    worker_close_handles(w);
    return;
  }
  gw_snapshot_t *snap = atomic_load(&s->snap);
  if (snap != w->cur->snap) worker_swap(w, snap);
  gate_wake(w);
}

void worker_main(void *arg) {
  worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  access_log_flush(w);
  /* Run once more so close callbacks of the last handles complete. */
  uv_run(&w->loop, UV_RUN_NOWAIT);
  wgen_t *g = w->cur;
  w->cur = NULL;
  wgen_release(g);
  conn_free_recycled(w);
  upbatch_free(w);
  jwt_thread_cleanup();
  atomic_fetch_add(&w->server->finished, 1);
  uv_async_send(&w->server->main_async);
}

/* SIGHUP built a new snapshot: new requests use it; requests in flight
 * finish on the one they started with. */
static void worker_swap(worker_t *w, gw_snapshot_t *snap) {
  wgen_t *g = wgen_new(w, snap);
  if (!g) {
    LOG_ERROR("worker %d: out of memory applying the new configuration", w->id);
    return;
  }
  wgen_t *old = w->cur;
  upstream_pools_close_idle(old);
  gate_wake_all(old);
  w->cur = g;
  w->cfg = g->cfg;
  dlist_insert_tail(&w->retired, &old->link);
  wgen_release(old);
}

int worker_init(server_t *s, worker_t *w, int id) {
  w->id = id;
  w->server = s;
  dlist_init(&w->clients);
  dlist_init(&w->upconns);
  dlist_init(&w->retired);
  if (uv_loop_init(&w->loop)) return -1;
  w->loop.data = w;
  uv_timer_init(&w->loop, &w->tick);
  w->tick.data = w;
  uv_timer_init(&w->loop, &w->accept_timer);
  w->accept_timer.data = w;
  uv_async_init(&w->loop, &w->async, on_async);
  w->async.data = w;
  upbatch_init(w);
  if (jobs_worker_init(w)) return -1;
  if (cluster_worker_init(w)) return -1;
  w->cur = wgen_new(w, atomic_load(&s->snap));
  if (!w->cur) return -1;
  w->mc = s->metrics ? metrics_worker(s->metrics, (unsigned)id) : NULL;
  w->metrics = s->metrics;
  if (getrandom(w->rid_state, sizeof w->rid_state, 0) != sizeof w->rid_state || !(w->rid_state[0] | w->rid_state[1])) {
    w->rid_state[0] = uv_hrtime() | 1;
    w->rid_state[1] = (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15u;
  }
  w->cfg = w->cur->cfg;
  uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
  return 0;
}

void worker_abort(worker_t *w) {
  if (!w->loop.data) return; /* never initialized */
  conn_listeners_close(w);
  uv_close((uv_handle_t *)&w->accept_timer, NULL);
  uv_close((uv_handle_t *)&w->tick, NULL);
  uv_close((uv_handle_t *)&w->async, NULL);
  jobs_worker_close(w);
  upbatch_close(w);
  cluster_worker_close(w);
  uv_run(&w->loop, UV_RUN_NOWAIT);
  uv_loop_close(&w->loop);
  upbatch_free(w);
  if (w->cur) wgen_release(w->cur);
  w->cur = NULL;
}
