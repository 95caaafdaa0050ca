/* server: starts the worker threads and tells them to drain or stop. */
#ifndef GW_SERVER_H
#define GW_SERVER_H

#include <stdatomic.h>
#include <uv.h>

#include "config.h"

enum { SERVER_RUN = 0, SERVER_DRAIN = 1, SERVER_STOP = 2 };

typedef struct worker worker_t;

struct gw_snapshot;

typedef struct server {
  const gw_config_t *cfg;            /* the first snapshot's: listeners and workers */
  _Atomic(struct gw_snapshot *) snap; /* the current snapshot; workers follow it */
  struct gw_metrics *metrics;
  worker_t *workers;
  unsigned nworkers, started;
  atomic_int command;
  atomic_uint finished;  /* workers whose loop has ended */
  uv_async_t main_async; /* a worker finished: owned by the main loop */
} server_t;

/* 1 once the gateway can serve (listeners up; later also key sets). */
extern atomic_int gw_ready;

unsigned server_cpu_count(void);
int server_open_access_log(const gw_config_t *cfg);
int server_reopen_access_log(const gw_config_t *cfg);
/* Creates a listening socket; returns the fd or a negative errno. */
int server_bind(const gw_listen_t *l, int reuseport);
/* Clamps max_connections to what the descriptor limit allows, logging it
 * when it does; at start (by server_start) and after each reload. */
void server_fit_max_connections(const gw_config_t *cfg, unsigned nworkers);
/* Raises the soft descriptor limit to the hard one, binds everything and
 * starts the workers: 0, or 2 (runtime failure). */
int server_start(server_t *s);
void server_abort(server_t *s);
void server_command(server_t *s, int cmd);
void server_notify(void *server);
void server_join(server_t *s);

#endif
