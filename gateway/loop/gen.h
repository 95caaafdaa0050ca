/* gen: a worker's view of one configuration snapshot (wgen_t), reference
 * counted by the requests and upstream connections that use it. */
#ifndef GW_GEN_H
#define GW_GEN_H

#include "worker-t.h"

struct gw_snapshot;

wgen_t *wgen_new(worker_t *w, struct gw_snapshot *snap);
static inline void wgen_hold(wgen_t *g) { g->users++; }
void wgen_release(wgen_t *g);

#endif
