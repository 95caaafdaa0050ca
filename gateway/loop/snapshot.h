/* snapshot: one immutable, validated set of configuration, policy and key
 * store. Workers reference the current one; SIGHUP builds a new one and
 * swaps it in, and an old one is freed (on the main loop) once no worker
 * request or connection uses it any more. */
#ifndef GW_SNAPSHOT_H
#define GW_SNAPSHOT_H

#include <stdatomic.h>

#include "auth.h"
#include "config.h"
#include "keys.h"
#include "m2m.h"
#include "mcpsess.h"
#include "metrics.h"
#include "tls.h"

typedef struct gw_snapshot {
  atomic_int refs;
  gw_config_t *cfg;
  gw_keystore_t keys;
  gw_authctx_t auth;
  gw_tls_server_t *server_tls;      /* for tls_listen; NULL without */
  SSL_CTX **upstream_tls;           /* per upstream: NULL for http:// */
  gw_m2m_t *m2m;                    /* the built-in M2M issuer, NULL when disabled */
  unsigned char (*mcp_keys)[MCPSESS_KEY_LEN]; /* per upstream: the MCP session binding key */
  gw_mlabels_t *ml;                 /* this snapshot's indices into the process's metrics */
  struct gw_snapshot *next_retired; /* main loop only */
} gw_snapshot_t;

/* Loads and validates everything path names. prev (may be NULL) lends the
 * key sets of jwks_uri issuers that did not change, so a reload never makes
 * the gateway unready. Returns a snapshot holding one reference, or NULL with
 * errs filled. */
gw_snapshot_t *snapshot_load(const char *path, gw_snapshot_t *prev, gw_metrics_t *metrics,
                             gw_errors_t *errs);
static inline gw_snapshot_t *snapshot_ref(gw_snapshot_t *s) {
  atomic_fetch_add(&s->refs, 1);
  return s;
}
/* Attaches the snapshot to the process's metrics (labels by text). */
int snapshot_metrics(gw_snapshot_t *s, gw_metrics_t *m, const char *path, gw_errors_t *errs);
/* Any thread; the memory is freed by snapshot_free on the main loop. */
static inline void snapshot_unref(gw_snapshot_t *s) { atomic_fetch_sub(&s->refs, 1); }
/* Main loop only, when refs reached 0 and its key store handles are closed. */
void snapshot_free(gw_snapshot_t *s);

#endif
