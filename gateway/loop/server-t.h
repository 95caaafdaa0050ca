/* server-t: the process's set of workers, as the main thread and each
 * worker see it (the word the main thread sends, the current snapshot). */
#ifndef GW_SERVER_T_H
#define GW_SERVER_T_H

#include <stdatomic.h>
#include <uv.h>

#include "config.h"
#include "worker-t.h"

enum { SERVER_RUN = 0, SERVER_DRAIN = 1, SERVER_STOP = 2 };

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

#endif
