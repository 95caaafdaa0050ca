/* keys: the current JWKS key set of every trusted issuer, shared by all
 * workers, and the fetcher that keeps them fresh on the main loop.
 *
 * Workers never block on a fetch. A worker notices a new key set by an
 * atomic generation counter (one load per request), and takes a reference
 * under a short mutex only when the generation changed. An unknown kid asks
 * the main loop for a refetch (at most one per issuer per 30 s, concurrent
 * misses share it); the asking requests wait parked on their worker and are
 * woken when the fetch ends, whatever its outcome. */
#ifndef GW_KEYS_H
#define GW_KEYS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "jwks.h"
#include "tls.h"

#define GW_KID_REFETCH_MS 30000
#define GW_JWKS_FETCH_TIMEOUT_MS 10000

typedef struct gw_keystore gw_keystore_t;

typedef struct {
  gw_keystore_t *ks;
  size_t index;
  const gw_issuer_cfg_t *cfg;
  gw_url_t url;                   /* jwks_uri, parsed; unused for jwks_file */
  int has_url;
  pthread_mutex_t mu;
  gw_keyset_t *current;           /* guarded by mu */
  atomic_uint_fast64_t generation; /* 0 until the first key set */
  atomic_uint fetch_seq;          /* bumped when a kid-triggered fetch ends */
  atomic_int refetch_wanted;
  atomic_int fetching;
  atomic_uint_fast64_t next_kid_fetch_ms; /* uv_hrtime()-based ms */
  atomic_uint_fast64_t last_good_ms;      /* wall clock ms of the last good load */
  atomic_uint fetches_ok, fetches_failed;
  /* main loop only */
  uv_timer_t timer;
  struct httpc *inflight;         /* the fetch under way, or NULL */
  SSL_CTX *tls;                   /* https:// jwks_uri */
  int kid_fetch;                  /* the fetch in flight was asked for by an unknown kid */
  int adopted;                    /* key set taken over from the previous snapshot */
  int refresh_now;                /* ... but from another source: fetch the new one at once */
  uint64_t backoff_ms;
} gw_issuer_keys_t;

struct gw_keystore {
  gw_issuer_keys_t *iss;
  size_t n;
  uv_loop_t *loop;
  uv_async_t async;               /* workers asking for refetches */
  void (*notify)(void *ud);       /* wakes every worker after a change */
  void *notify_ud;
  int started;
  int stopping;
  struct gw_mlabels *ml;          /* metrics of the snapshot that owns this store, or NULL */
  atomic_int ready;               /* every issuer had keys once, here or in the store before */
};

/* Loads every jwks_file now (errors as "FILE: message" into errs) and
 * prepares jwks_uri issuers, taking over the key sets prev (may be NULL)
 * has for the same iss: kept as they are for the same jwks_uri, kept until
 * the new source has loaded for another. Returns 0, or -1 with errs filled. */
int keystore_init(gw_keystore_t *ks, const gw_config_t *cfg, const gw_keystore_t *prev,
                  gw_errors_t *errs);
/* Starts fetching jwks_uri issuers on loop; notify is called (on loop)
 * after each completed fetch. */
int keystore_start(gw_keystore_t *ks, uv_loop_t *loop, void (*notify)(void *), void *ud);
void keystore_stop(gw_keystore_t *ks);   /* closes its handles on the loop */
void keystore_free(gw_keystore_t *ks);   /* after keystore_stop's handles closed */

/* A new reference to issuer i's current key set (NULL when none yet);
 * *gen gets the generation it belongs to. Any thread. */
gw_keyset_t *keystore_acquire(gw_keystore_t *ks, size_t i, uint64_t *gen);
static inline uint64_t keystore_generation(gw_keystore_t *ks, size_t i) {
  return atomic_load_explicit(&ks->iss[i].generation, memory_order_acquire);
}
/* Ready: every issuer has had keys. Once true it stays true, also across a
 * reload (the store inherits it): an issuer added or moved by a reload and
 * not yet loaded makes only its own tokens 503, never the gateway unready. */
int keystore_all_loaded(gw_keystore_t *ks);
/* From a worker: an unknown kid was seen for issuer i. Returns 1 when a
 * fetch is (or will be) under way, so the request should wait for it, or 0
 * when the rate limit forbids one now (answer at once). */
int keystore_want_refetch(gw_keystore_t *ks, size_t i);

#endif
