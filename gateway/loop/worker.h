/* worker: one event loop thread: its tick (timeouts, log flush), the async
 * that carries the main thread's word (drain, stop, a new snapshot), and the
 * swap to a new configuration generation. Used by server.c only. */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include "worker-t.h"

int worker_init(struct server *s, worker_t *w, int id);
void worker_main(void *arg);
/* Start-up failed: closes what worker_init opened. */
void worker_abort(worker_t *w);

#endif
