#include "keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "fileio.h"
#include "httpc.h"
#include "log.h"
#include "metrics.h"

#define MIN_REFRESH_MS 30000        /* a max-age below this is raised to it */
#define FIRST_RETRY_MS 1000
#define MAX_RETRY_MS 30000

/* Process-wide, so a key set's generation never repeats across reloads. */
static atomic_uint_fast64_t gen_counter;

static uint64_t mono_ms(void) { return uv_hrtime() / 1000000u; }

static uint64_t wall_ms(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

static void log_skip(void *ud, const char *msg) {
  (void)ud;
  LOG_WARN("%s", msg);
}

static void log_too_big(void *ud, const char *msg) {
  (void)ud;
  LOG_WARN("%s; key skipped", msg);
}

/* The first oversized key of a jwks_file, as its load error. */
#define TOO_BIG_MSG 256
static void first_too_big(void *ud, const char *msg) {
  char *err = ud;
  if (!err[0]) snprintf(err, TOO_BIG_MSG, "%s", msg);
}

/* Publishes ks as issuer ik's key set (takes ownership of the reference). */
static void publish(gw_issuer_keys_t *ik, gw_keyset_t *set) {
  set->generation = atomic_fetch_add(&gen_counter, 1) + 1;
  pthread_mutex_lock(&ik->mu);
  gw_keyset_t *old = ik->current;
  ik->current = set;
  atomic_store_explicit(&ik->generation, set->generation, memory_order_release);
  pthread_mutex_unlock(&ik->mu);
  jwks_keyset_unref(old);
  atomic_store(&ik->last_good_ms, wall_ms());
}

static int load_file(gw_issuer_keys_t *ik, char *err, size_t errlen) {
  const char *path = ik->cfg->jwks_file;
  char why[160];
  char *buf = NULL;
  size_t n = 0;
  int r = gw_read_file(path, GW_JWKS_MAX_DOC, &buf, &n, why, sizeof why);
  if (r != 0) {
    snprintf(err, errlen, "%s%s", r == GW_READ_FILE_OPEN ? "cannot open: " : "", why);
    return -1;
  }
  char perr[200] = "";
  gw_keyset_t *set = jwks_parse(buf, n, path, log_skip, NULL, perr, sizeof perr);
  free(buf);
  if (!set) {
    snprintf(err, errlen, "%s", perr);
    return -1;
  }
  /* A file is the operator's own: an oversized key there is a mistake to
   * fix, not one to skip silently. */
  char big[TOO_BIG_MSG] = "";
  if (jwks_drop_rsa_over(set, (int)ik->cfg->max_rsa_bits, first_too_big, big)) {
    jwks_keyset_unref(set);
    snprintf(err, errlen, "%.200s (raise max_rsa_bits to accept it)", big);
    return -1;
  }
  publish(ik, set);
  return 0;
}

/* A reload keeps the key set of a jwks_uri issuer whose iss it already
 * knew: it stays as it is (same generation), only referenced by one more
 * store. When the source moved (or the key limit changed) the new one is
 * fetched at once, and the old keys serve until it has loaded: a reload
 * toward a source that does not answer must not take every token down. */
static void adopt(gw_issuer_keys_t *ik, const gw_keystore_t *prev) {
  for (size_t i = 0; prev && i < prev->n; i++) {
    const gw_issuer_keys_t *p = &prev->iss[i];
    if (strcmp(p->cfg->iss, ik->cfg->iss) != 0) continue;
    ik->refresh_now = !p->cfg->jwks_uri || strcmp(p->cfg->jwks_uri, ik->cfg->jwks_uri) != 0 ||
                      p->cfg->max_rsa_bits != ik->cfg->max_rsa_bits;
    uint64_t gen;
    gw_keyset_t *set = keystore_acquire((gw_keystore_t *)prev, i, &gen);
    if (!set) return;
    ik->current = set;
    atomic_store(&ik->generation, gen);
    atomic_store(&ik->last_good_ms, atomic_load(&p->last_good_ms));
    ik->adopted = 1;
    return;
  }
}

int keystore_init(gw_keystore_t *ks, const gw_config_t *cfg, const gw_keystore_t *prev,
                  gw_errors_t *errs) {
  memset(ks, 0, sizeof *ks);
  if (prev && keystore_all_loaded((gw_keystore_t *)prev)) atomic_store(&ks->ready, 1);
  ks->n = cfg->nissuers;
  ks->iss = calloc(ks->n ? ks->n : 1, sizeof *ks->iss);
  if (!ks->iss) return -1;
  int rc = 0;
  for (size_t i = 0; i < ks->n; i++) {
    gw_issuer_keys_t *ik = &ks->iss[i];
    ik->ks = ks;
    ik->index = i;
    ik->cfg = &cfg->issuers[i];
    pthread_mutex_init(&ik->mu, NULL);
    ik->backoff_ms = FIRST_RETRY_MS;
    if (ik->cfg->jwks_file) {
      char err[256];
      if (load_file(ik, err, sizeof err)) {
        gw_errors_add(errs, cfg->path, ik->cfg->line, "[issuer:%s] jwks_file %s: %s", ik->cfg->name,
                      ik->cfg->jwks_file, err);
        rc = -1;
      }
    } else if (ik->cfg->jwks_uri) {
      if (config_parse_url(ik->cfg->jwks_uri, &ik->url)) {
        gw_errors_add(errs, cfg->path, ik->cfg->line, "[issuer:%s] invalid jwks_uri", ik->cfg->name);
        rc = -1;
      } else {
        ik->has_url = 1;
        adopt(ik, prev);
        if (ik->url.scheme == GW_SCHEME_HTTPS) {
          ik->tls = tls_client_ctx(ik->cfg->ca_file, NULL, NULL, cfg->path, ik->cfg->line, errs);
          if (!ik->tls) rc = -1;
        }
      }
    }
  }
  return rc;
}

static void fetch(gw_issuer_keys_t *ik);

static void on_timer(uv_timer_t *t) { fetch(t->data); }

static void schedule(gw_issuer_keys_t *ik, uint64_t ms) {
  uv_timer_start(&ik->timer, on_timer, ms, 0);
}

/* What a failed fetch leaves the issuer with: said so, not assumed. */
static const char *fallback(gw_issuer_keys_t *ik) {
  return keystore_generation(ik->ks, ik->index) ? "keeping the previous keys"
                                                : "no keys yet, its tokens are answered 503";
}

static void fetch_done(void *ud, const httpc_result_t *res) {
  gw_issuer_keys_t *ik = ud;
  const char *name = ik->cfg->name;
  int ok = 0;
  ik->inflight = NULL;
  if (ik->ks->stopping) {
    atomic_store(&ik->fetching, 0);
    return;
  }
  if (res->error) {
    LOG_WARN("issuer %s: JWKS fetch from %s failed: %s; %s", name, ik->cfg->jwks_uri, res->error,
             fallback(ik));
  } else if (res->status != 200) {
    LOG_WARN("issuer %s: JWKS fetch from %s answered %d; %s", name, ik->cfg->jwks_uri, res->status,
             fallback(ik));
  } else {
    char err[200] = "";
    gw_keyset_t *set =
        jwks_parse(res->body, res->body_len, ik->cfg->jwks_uri, log_skip, NULL, err, sizeof err);
    if (set && jwks_drop_rsa_over(set, (int)ik->cfg->max_rsa_bits, log_too_big, NULL) &&
        set->nkeys == 0) {
      jwks_keyset_unref(set);
      set = NULL;
      snprintf(err, sizeof err, "no key within max_rsa_bits %u", ik->cfg->max_rsa_bits);
    }
    if (!set) {
      LOG_WARN("issuer %s: JWKS from %s rejected: %s; %s", name, ik->cfg->jwks_uri, err,
               fallback(ik));
    } else {
      LOG_INFO("issuer %s: loaded %zu key(s) from %s", name, set->nkeys, ik->cfg->jwks_uri);
      publish(ik, set);
      ok = 1;
    }
  }
  /* Only now, with the new keys published: a worker that sees "no fetch
   * under way" must also see the keys that fetch brought. */
  atomic_store(&ik->fetching, 0);
  if (ik->ks->ml) {
    gw_mjwks_result_t mr = res->error ? GW_MJWKS_ERROR
                           : res->status != 200 ? GW_MJWKS_HTTP_STATUS
                           : ok ? GW_MJWKS_OK : GW_MJWKS_INVALID;
    metrics_jwks_fetch(ik->ks->ml, ik->index, mr);
    if (ok) {
      uint64_t g;
      gw_keyset_t *set = keystore_acquire(ik->ks, ik->index, &g);
      if (set) metrics_jwks_loaded(ik->ks->ml, ik->index, set->nkeys, (int64_t)atomic_load(&ik->last_good_ms));
      jwks_keyset_unref(set);
    }
  }
  if (ok) {
    atomic_fetch_add(&ik->fetches_ok, 1);
    uint64_t next = ik->cfg->refresh_interval_ms;
    if (res->max_age_s >= 0) {
      uint64_t ma = (uint64_t)res->max_age_s * 1000u;
      if (ma < MIN_REFRESH_MS) ma = MIN_REFRESH_MS;
      if (ma < next) next = ma;
    }
    ik->backoff_ms = FIRST_RETRY_MS;
    schedule(ik, next);
  } else {
    atomic_fetch_add(&ik->fetches_failed, 1);
    schedule(ik, ik->backoff_ms);
    ik->backoff_ms *= 2;
    uint64_t cap = ik->cfg->refresh_interval_ms < MAX_RETRY_MS ? ik->cfg->refresh_interval_ms
                                                               : MAX_RETRY_MS;
    if (ik->backoff_ms > cap) ik->backoff_ms = cap;
  }
  ik->kid_fetch = 0;
  atomic_fetch_add(&ik->fetch_seq, 1);
  if (ik->ks->notify) ik->ks->notify(ik->ks->notify_ud);
}

static void fetch(gw_issuer_keys_t *ik) {
  if (atomic_exchange(&ik->fetching, 1)) return;
  uv_timer_stop(&ik->timer);
  const char *err = NULL;
  httpc_t *h = httpc_get(ik->ks->loop, &ik->url, ik->tls, GW_JWKS_FETCH_TIMEOUT_MS,
                         GW_JWKS_MAX_DOC, fetch_done, ik, &err);
  /* fetch_done may already have run (and cleared inflight) */
  if (h && atomic_load(&ik->fetching)) ik->inflight = h;
  if (!h) {
    httpc_result_t res = {0};
    res.error = err;
    res.max_age_s = -1;
    fetch_done(ik, &res);
  }
}

/* Workers asked: start the kid-triggered fetches the rate limit allows. */
static void on_async(uv_async_t *a) {
  gw_keystore_t *ks = a->data;
  int wake = 0;
  for (size_t i = 0; i < ks->n; i++) {
    gw_issuer_keys_t *ik = &ks->iss[i];
    if (!atomic_exchange(&ik->refetch_wanted, 0)) continue;
    if (atomic_load(&ik->fetching)) continue; /* its end wakes the waiters */
    uint64_t now = mono_ms();
    if (!ik->has_url || now < atomic_load(&ik->next_kid_fetch_ms)) {
      atomic_fetch_add(&ik->fetch_seq, 1); /* no fetch: let the waiters go */
      wake = 1;
      continue;
    }
    LOG_INFO("issuer %s: unknown kid, refetching %s", ik->cfg->name, ik->cfg->jwks_uri);
    ik->kid_fetch = 1;
    /* fetching is set first, then the rate limit: a worker in between sees
     * a fetch under way and waits for it instead of refusing at once. */
    fetch(ik);
    atomic_store(&ik->next_kid_fetch_ms, now + GW_KID_REFETCH_MS);
  }
  if (wake && ks->notify) ks->notify(ks->notify_ud);
}

int keystore_start(gw_keystore_t *ks, uv_loop_t *loop, void (*notify)(void *), void *ud) {
  ks->loop = loop;
  ks->notify = notify;
  ks->notify_ud = ud;
  uv_async_init(loop, &ks->async, on_async);
  ks->async.data = ks;
  for (size_t i = 0; i < ks->n; i++) {
    gw_issuer_keys_t *ik = &ks->iss[i];
    uv_timer_init(loop, &ik->timer);
    ik->timer.data = ik;
    uint64_t g;
    gw_keyset_t *set = ks->ml ? keystore_acquire(ks, i, &g) : NULL;
    if (set) metrics_jwks_loaded(ks->ml, i, set->nkeys, (int64_t)atomic_load(&ik->last_good_ms));
    jwks_keyset_unref(set);
    if (ik->has_url && ik->adopted && !ik->refresh_now)
      schedule(ik, ik->cfg->refresh_interval_ms);
    else if (ik->has_url)
      fetch(ik);
  }
  ks->started = 1;
  return 0;
}

void keystore_stop(gw_keystore_t *ks) {
  if (!ks->started) return;
  ks->stopping = 1;
  for (size_t i = 0; i < ks->n; i++) {
    if (ks->iss[i].inflight) httpc_cancel(ks->iss[i].inflight);
    uv_close((uv_handle_t *)&ks->iss[i].timer, NULL);
  }
  uv_close((uv_handle_t *)&ks->async, NULL);
  ks->started = 0;
}

void keystore_free(gw_keystore_t *ks) {
  for (size_t i = 0; i < ks->n; i++) {
    gw_issuer_keys_t *ik = &ks->iss[i];
    jwks_keyset_unref(ik->current);
    ik->current = NULL;
    config_url_free(&ik->url);
    SSL_CTX_free(ik->tls);
    pthread_mutex_destroy(&ik->mu);
  }
  free(ks->iss);
  ks->iss = NULL;
  ks->n = 0;
}

gw_keyset_t *keystore_acquire(gw_keystore_t *ks, size_t i, uint64_t *gen) {
  gw_issuer_keys_t *ik = &ks->iss[i];
  pthread_mutex_lock(&ik->mu);
  gw_keyset_t *set = ik->current ? jwks_keyset_ref(ik->current) : NULL;
  *gen = set ? set->generation : 0;
  pthread_mutex_unlock(&ik->mu);
  return set;
}

int keystore_all_loaded(gw_keystore_t *ks) {
  if (atomic_load(&ks->ready)) return 1;
  for (size_t i = 0; i < ks->n; i++)
    if (keystore_generation(ks, i) == 0) return 0;
  atomic_store(&ks->ready, 1);
  return 1;
}

int keystore_want_refetch(gw_keystore_t *ks, size_t i) {
  gw_issuer_keys_t *ik = &ks->iss[i];
  if (!ik->has_url) return 0;
  if (!atomic_load(&ik->fetching) && mono_ms() < atomic_load(&ik->next_kid_fetch_ms)) return 0;
  atomic_store(&ik->refetch_wanted, 1);
  uv_async_send(&ks->async);
  return 1;
}
