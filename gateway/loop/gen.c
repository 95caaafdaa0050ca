/* gen: a worker's generations of configuration. */
#include "gen.h"

#include <stdlib.h>
#include <string.h>

#include "snapshot.h"
#include "upstream-t.h"
#include "verify.h"

/* The generation's pools: idle connections are kept per generation, so a
 * reload never hands a request a connection made for another config. */
static upool_t *pools_new(worker_t *w, wgen_t *g, const gw_config_t *cfg) {
  upool_t *pools = calloc(cfg->nupstreams ? cfg->nupstreams : 1, sizeof *pools);
  if (!pools) return NULL;
  for (size_t i = 0; i < cfg->nupstreams; i++) {
    upool_t *p = &pools[i];
    p->w = w;
    p->gen = g;
    p->cfg = &cfg->upstreams[i];
    dlist_init(&p->idle);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    if (uv_ip4_addr(p->cfg->url.host, p->cfg->url.port, &a4) == 0) {
      memcpy(&p->addr, &a4, sizeof a4);
      p->addrlen = sizeof a4;
    } else if (uv_ip6_addr(p->cfg->url.host, p->cfg->url.port, &a6) == 0) {
      memcpy(&p->addr, &a6, sizeof a6);
      p->addrlen = sizeof a6;
    } else {
      p->addr_expires = 1; /* a host name: resolve before the first connect */
    }
  }
  return pools;
}

wgen_t *wgen_new(worker_t *w, gw_snapshot_t *snap) {
  const gw_config_t *cfg = snap->cfg;
  wgen_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->w = w;
  g->cfg = cfg;
  dlist_init(&g->link);
  dlist_init(&g->parked);
  g->pools = pools_new(w, g, cfg);
  g->verifier = verifier_new(&snap->auth);
  if (!g->pools || !g->verifier) {
    verifier_free(g->verifier);
    free(g->pools);
    free(g);
    return NULL;
  }
  g->snap = snapshot_ref(snap);
  g->tls_ctx = snap->server_tls ? tls_server_ctx(snap->server_tls) : NULL;
  g->snap_upstream_tls = snap->upstream_tls;
  g->users = 1; /* the worker's own reference while it is current */
  return g;
}

void wgen_release(wgen_t *g) {
  if (--g->users > 0) return;
  /* Its token cache goes with it: the gauge counts live entries only. */
  if (g->w->mc) metrics_token_cache_entries_add(g->w->mc, -(int64_t)verifier_cache_entries(g->verifier));
  dlist_remove(&g->link);
  verifier_free(g->verifier);
  free(g->pools);
  snapshot_unref(g->snap);
  free(g);
}

