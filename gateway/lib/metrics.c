#include "metrics.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logring.h"
#include "m2m.h"
#include "promtext.h"

#define NO_CELLS UINT32_MAX

_Static_assert(GW_M2M_OUTCOME_COUNT <= GW_MM2M_BUSY, "GW_MM2M_CELLS holds every M2M outcome");
#define CACHE_LINE 64

/* ---- a small open-addressing map: bytes -> uint32, keys copied --------- */

typedef struct {
  uint64_t h;
  char *key; /* NULL: empty slot */
  size_t klen;
  uint32_t val;
} slot_t;

typedef struct {
  slot_t *s;
  size_t cap, n; /* cap: 0 or a power of two */
} map_t;

static uint64_t hash_bytes(const void *k, size_t n) {
  const unsigned char *p = k;
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static slot_t *map_slot(const map_t *mp, const void *k, size_t kl, uint64_t h) {
  size_t mask = mp->cap - 1;
  for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
    slot_t *s = &mp->s[i];
    if (!s->key || (s->h == h && s->klen == kl && memcmp(s->key, k, kl) == 0)) return s;
  }
}

/* 1 and *val when present, 0 when not. */
static int map_get(const map_t *mp, const void *k, size_t kl, uint32_t *val) {
  if (!mp->cap) return 0;
  slot_t *s = map_slot(mp, k, kl, hash_bytes(k, kl));
  if (!s->key) return 0;
  *val = s->val;
  return 1;
}

/* The key must not be present. 0, or -1 on out of memory. */
static int map_put(map_t *mp, const void *k, size_t kl, uint32_t val) {
  if ((mp->n + 1) * 2 > mp->cap) {
    size_t ncap = mp->cap ? mp->cap * 2 : 16;
    slot_t *ns = calloc(ncap, sizeof *ns);
    if (!ns) return -1;
    map_t nm = {ns, ncap, mp->n};
    for (size_t i = 0; i < mp->cap; i++)
      if (mp->s[i].key) *map_slot(&nm, mp->s[i].key, mp->s[i].klen, mp->s[i].h) = mp->s[i];
    free(mp->s);
    *mp = nm;
  }
  char *copy = malloc(kl ? kl : 1);
  if (!copy) return -1;
  memcpy(copy, k, kl);
  uint64_t h = hash_bytes(k, kl);
  slot_t *s = map_slot(mp, k, kl, h);
  *s = (slot_t){h, copy, kl, val};
  mp->n++;
  return 0;
}

static void map_free(map_t *mp) {
  for (size_t i = 0; i < mp->cap; i++) free(mp->s[i].key);
  free(mp->s);
  mp->s = NULL;
  mp->cap = mp->n = 0;
}

/* Grows *arr (of *cap elements of size el) to hold n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t el) {
  if (n < *cap) return 0;
  size_t ncap = *cap ? *cap * 2 : 8;
  void *p = realloc(*arr, ncap * el);
  if (!p) return -1;
  *arr = p;
  *cap = ncap;
  return 0;
}

/* ---- the registry ------------------------------------------------------- */

typedef struct {
  char *name;
  uint32_t cells; /* NO_CELLS until a configuration names this upstream */
  uint32_t dur;   /* GW_MREQ_CELLS; NO_CELLS until a configuration uses the label */
} mup_t;

typedef struct {
  uint32_t up, route; /* interned ids */
  uint32_t cells;     /* GW_MSTATUS_CLASSES cells */
} mpair_t;

typedef struct {
  uint32_t up, method, item; /* interned upstream and item ids */
  uint32_t cells;            /* GW_MCPD_COUNT cells */
} mmcp_t;

typedef struct {
  char *name;
  uint64_t fetches[GW_MJWKS_COUNT];
  uint64_t nkeys;
  int64_t last_ok_ms; /* 0: never */
  int active;
} miss_t;

struct gw_metrics {
  pthread_mutex_t mu; /* everything below but the blocks' cells */
  unsigned nblocks;
  gw_mcounters_t **blocks;
  uint32_t ncells;  /* label cells handed out */
  uint32_t nchunks; /* chunks allocated in every block */
  char *version;
  mup_t *ups;
  size_t nups, capups;
  map_t upmap;
  char **routes;
  size_t nroutes, caproutes;
  map_t routemap;
  mpair_t *pairs;
  size_t npairs, cappairs;
  map_t pairmap;
  miss_t *iss;
  size_t niss, capiss;
  map_t issmap;
  char **items; /* MCP item labels, "none" and "other" */
  size_t nitems, capitems;
  map_t itemmap;
  mmcp_t *mcps;
  size_t nmcps, capmcps;
  map_t mcpmap;
  uint64_t reloads_ok, reloads_failed;
};

static const char *const outcome_names[GW_MOUT_COUNT] = {
    [GW_MOUT_ALLOW] = "allow",
    [GW_MOUT_PUBLIC] = "public",
    [GW_MOUT_UNAUTHORIZED] = "unauthorized",
    [GW_MOUT_INVALID_TOKEN] = "invalid_token",
    [GW_MOUT_INSUFFICIENT_SCOPE] = "insufficient_scope",
    [GW_MOUT_INVALID_REQUEST] = "invalid_request",
    [GW_MOUT_UNAVAILABLE] = "unavailable",
};

static const char *const reason_names[GW_MREASON_COUNT] = {
    [GW_MREASON_NONE] = "none",
    [GW_MREASON_MALFORMED] = "malformed",
    [GW_MREASON_ALG_MISSING] = "alg_missing",
    [GW_MREASON_ALG_NOT_ALLOWED] = "alg_not_allowed",
    [GW_MREASON_CRIT] = "crit",
    [GW_MREASON_UNKNOWN_ISSUER] = "unknown_issuer",
    [GW_MREASON_NO_KEYSET] = "no_keyset",
    [GW_MREASON_UNKNOWN_KID] = "unknown_kid",
    [GW_MREASON_KEY_ALG_MISMATCH] = "key_alg_mismatch",
    [GW_MREASON_BAD_SIGNATURE] = "bad_signature",
    [GW_MREASON_EXP_MISSING] = "exp_missing",
    [GW_MREASON_EXPIRED] = "expired",
    [GW_MREASON_NOT_YET_VALID] = "not_yet_valid",
    [GW_MREASON_IAT_FUTURE] = "iat_future",
    [GW_MREASON_AUD_MISMATCH] = "aud_mismatch",
    [GW_MREASON_TYP_INVALID] = "typ_invalid",
    [GW_MREASON_CLAIM_TYPE] = "claim_type",
    [GW_MREASON_MISSING_TOKEN] = "missing_token",
    [GW_MREASON_REVOKED] = "revoked",
};

static const char *const jwks_names[GW_MJWKS_COUNT] = {
    [GW_MJWKS_OK] = "ok",
    [GW_MJWKS_ERROR] = "error",
    [GW_MJWKS_HTTP_STATUS] = "http_status",
    [GW_MJWKS_INVALID] = "invalid",
};

static const char *const bucket_le[GW_MHIST_BOUNDS + 1] = {
    "0.001", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
};

static const char *const req_bucket_le[GW_MREQ_BOUNDS + 1] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10",  "+Inf",
};

static const char *const mcp_method_names[GW_MCPM_COUNT] = {
    [GW_MCPM_INITIALIZE] = "initialize",
    [GW_MCPM_PING] = "ping",
    [GW_MCPM_TOOLS_LIST] = "tools/list",
    [GW_MCPM_TOOLS_CALL] = "tools/call",
    [GW_MCPM_PROMPTS_LIST] = "prompts/list",
    [GW_MCPM_PROMPTS_GET] = "prompts/get",
    [GW_MCPM_RESOURCES_LIST] = "resources/list",
    [GW_MCPM_RESOURCES_READ] = "resources/read",
    [GW_MCPM_RESOURCES_SUBSCRIBE] = "resources/subscribe",
    [GW_MCPM_RESOURCES_UNSUBSCRIBE] = "resources/unsubscribe",
    [GW_MCPM_RESOURCES_TEMPLATES_LIST] = "resources/templates/list",
    [GW_MCPM_COMPLETION_COMPLETE] = "completion/complete",
    [GW_MCPM_LOGGING_SETLEVEL] = "logging/setLevel",
    [GW_MCPM_NOTIFICATION] = "notification",
    [GW_MCPM_RESPONSE] = "response",
    [GW_MCPM_OTHER] = "other",
};

static const char *const mcp_decision_names[GW_MCPD_COUNT] = {
    [GW_MCPD_ALLOW] = "allow",
    [GW_MCPD_INSUFFICIENT_SCOPE] = "insufficient_scope",
    [GW_MCPD_UNLISTED] = "unlisted",
    [GW_MCPD_INVALID] = "invalid",
    [GW_MCPD_UNAUTHORIZED] = "unauthorized",
};

const char *metrics_mcp_method_name(gw_mcpm_t m) {
  return (unsigned)m < GW_MCPM_COUNT ? mcp_method_names[m] : "invalid";
}
const char *metrics_mcp_decision_name(gw_mcpd_t d) {
  return (unsigned)d < GW_MCPD_COUNT ? mcp_decision_names[d] : "invalid";
}

gw_mcpm_t metrics_mcp_method(const char *method, size_t len) {
  if (!method) return GW_MCPM_RESPONSE;
  static const char notif[] = "notifications/";
  if (len > sizeof notif - 1 && memcmp(method, notif, sizeof notif - 1) == 0) return GW_MCPM_NOTIFICATION;
  for (unsigned i = 0; i < GW_MCPM_NOTIFICATION; i++)
    if (strlen(mcp_method_names[i]) == len && memcmp(mcp_method_names[i], method, len) == 0)
      return (gw_mcpm_t)i;
  return GW_MCPM_OTHER;
}

/* The item kind a method takes (gw_mcp_kind_t), or -1. */
static int method_item_kind(unsigned m) {
  switch (m) {
  case GW_MCPM_TOOLS_CALL: return 0;
  case GW_MCPM_PROMPTS_GET: return 1;
  case GW_MCPM_RESOURCES_READ:
  case GW_MCPM_RESOURCES_SUBSCRIBE:
  case GW_MCPM_RESOURCES_UNSUBSCRIBE: return 2;
  default: return -1;
  }
}

const char *metrics_outcome_name(gw_mout_t o) {
  return (unsigned)o < GW_MOUT_COUNT ? outcome_names[o] : "invalid";
}
const char *metrics_reason_name(gw_mreason_t r) {
  return (unsigned)r < GW_MREASON_COUNT ? reason_names[r] : "invalid";
}
const char *metrics_jwks_result_name(gw_mjwks_result_t r) {
  return (unsigned)r < GW_MJWKS_COUNT ? jwks_names[r] : "invalid";
}

static void *zalloc_aligned(size_t size) {
  size = (size + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
  void *p = aligned_alloc(CACHE_LINE, size);
  if (p) memset(p, 0, size);
  return p;
}

gw_metrics_t *metrics_new(unsigned nblocks, const char *version) {
  gw_metrics_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  if (pthread_mutex_init(&m->mu, NULL)) {
    free(m);
    return NULL;
  }
  m->nblocks = nblocks;
  m->version = strdup(version ? version : "");
  m->blocks = calloc(nblocks ? nblocks : 1, sizeof *m->blocks);
  int ok = m->version && m->blocks;
  for (unsigned i = 0; ok && i < nblocks; i++) {
    gw_mcounters_t *b = zalloc_aligned(sizeof *b);
    if (!b) {
      ok = 0;
      break;
    }
    for (unsigned o = 0; o < GW_MOUT_COUNT; o++)
      for (unsigned r = 0; r < GW_MREASON_COUNT; r++) atomic_init(&b->auth[o][r], 0);
    atomic_init(&b->token_cache_hits, 0);
    atomic_init(&b->token_cache_misses, 0);
    atomic_init(&b->token_cache_entries, 0);
    atomic_init(&b->open_connections, 0);
    for (unsigned r = 0; r < GW_MREFUSED_COUNT; r++) atomic_init(&b->connections_refused[r], 0);
    atomic_init(&b->upstream_write_batches, 0);
    atomic_init(&b->upstream_batched_writes, 0);
    for (unsigned r = 0; r < 500; r++) atomic_init(&b->own_responses[r], 0);
    for (unsigned r = 0; r < GW_MM2M_CELLS; r++) atomic_init(&b->m2m_token[r], 0);
    for (unsigned c = 0; c < GW_MMAX_CHUNKS; c++) atomic_init(&b->chunk[c], NULL);
    m->blocks[i] = b;
  }
  if (!ok) {
    metrics_free(m);
    return NULL;
  }
  return m;
}

void metrics_free(gw_metrics_t *m) {
  if (!m) return;
  for (unsigned i = 0; m->blocks && i < m->nblocks; i++) {
    gw_mcounters_t *b = m->blocks[i];
    if (!b) continue;
    for (uint32_t c = 0; c < m->nchunks; c++)
      free(atomic_load_explicit(&b->chunk[c], memory_order_relaxed));
    free(b);
  }
  free(m->blocks);
  for (size_t i = 0; i < m->nups; i++) free(m->ups[i].name);
  for (size_t i = 0; i < m->nroutes; i++) free(m->routes[i]);
  for (size_t i = 0; i < m->niss; i++) free(m->iss[i].name);
  for (size_t i = 0; i < m->nitems; i++) free(m->items[i]);
  free(m->items);
  free(m->mcps);
  map_free(&m->itemmap);
  map_free(&m->mcpmap);
  free(m->ups);
  free(m->routes);
  free(m->pairs);
  free(m->iss);
  map_free(&m->upmap);
  map_free(&m->routemap);
  map_free(&m->pairmap);
  map_free(&m->issmap);
  free(m->version);
  pthread_mutex_destroy(&m->mu);
  free(m);
}

gw_mcounters_t *metrics_worker(gw_metrics_t *m, unsigned i) {
  return i < m->nblocks ? m->blocks[i] : NULL;
}

/* n consecutive cells inside one chunk, the chunk allocated (zeroed) in every
 * block. Returns the first cell, or NO_CELLS. mu held. */
static uint32_t alloc_cells(gw_metrics_t *m, uint32_t n) {
  uint32_t start = m->ncells;
  if ((start & (GW_MCHUNK_CELLS - 1)) + n > GW_MCHUNK_CELLS)
    start = (start + GW_MCHUNK_CELLS) & ~(uint32_t)(GW_MCHUNK_CELLS - 1);
  uint32_t last_chunk = (start + n - 1) >> GW_MCHUNK_SHIFT;
  while (m->nchunks <= last_chunk) {
    if (m->nchunks >= GW_MMAX_CHUNKS) return NO_CELLS;
    gw_mcell_t **fresh = calloc(m->nblocks ? m->nblocks : 1, sizeof *fresh);
    if (!fresh) return NO_CELLS;
    unsigned i;
    for (i = 0; i < m->nblocks; i++) {
      fresh[i] = zalloc_aligned(GW_MCHUNK_CELLS * sizeof(gw_mcell_t));
      if (!fresh[i]) break;
      for (unsigned c = 0; c < GW_MCHUNK_CELLS; c++) atomic_init(&fresh[i][c], 0);
    }
    if (i < m->nblocks) {
      while (i--) free(fresh[i]);
      free(fresh);
      return NO_CELLS;
    }
    for (i = 0; i < m->nblocks; i++)
      atomic_store_explicit(&m->blocks[i]->chunk[m->nchunks], fresh[i], memory_order_release);
    free(fresh);
    m->nchunks++;
  }
  m->ncells = start + n;
  return start;
}

/* Interned id of an upstream name, or -1. mu held. */
static int64_t intern_up(gw_metrics_t *m, const char *name) {
  uint32_t id;
  size_t len = strlen(name);
  if (map_get(&m->upmap, name, len, &id)) return id;
  if (grow((void **)&m->ups, &m->capups, m->nups, sizeof *m->ups)) return -1;
  char *copy = strdup(name);
  if (!copy || map_put(&m->upmap, name, len, (uint32_t)m->nups)) {
    free(copy);
    return -1;
  }
  m->ups[m->nups] = (mup_t){copy, NO_CELLS, NO_CELLS};
  return (int64_t)m->nups++;
}

/* Interned id of a text in a table of names (routes, MCP items), or -1. */
static int64_t intern_name(char ***names, size_t *n, size_t *cap, map_t *map, const char *name) {
  uint32_t id;
  size_t len = strlen(name);
  if (map_get(map, name, len, &id)) return id;
  if (grow((void **)names, cap, *n, sizeof **names)) return -1;
  char *copy = strdup(name);
  if (!copy || map_put(map, name, len, (uint32_t)*n)) {
    free(copy);
    return -1;
  }
  (*names)[*n] = copy;
  return (int64_t)(*n)++;
}

static int64_t intern_route(gw_metrics_t *m, const char *name) {
  return intern_name(&m->routes, &m->nroutes, &m->caproutes, &m->routemap, name);
}

static int64_t intern_iss(gw_metrics_t *m, const char *name) {
  uint32_t id;
  size_t len = strlen(name);
  if (map_get(&m->issmap, name, len, &id)) return id;
  if (grow((void **)&m->iss, &m->capiss, m->niss, sizeof *m->iss)) return -1;
  char *copy = strdup(name);
  if (!copy || map_put(&m->issmap, name, len, (uint32_t)m->niss)) {
    free(copy);
    return -1;
  }
  memset(&m->iss[m->niss], 0, sizeof m->iss[m->niss]);
  m->iss[m->niss].name = copy;
  return (int64_t)m->niss++;
}

/* First cell of the (up, route) pair, or NO_CELLS. mu held. */
static uint32_t intern_pair(gw_metrics_t *m, uint32_t up, uint32_t route) {
  uint32_t key[2] = {up, route}, cells;
  if (map_get(&m->pairmap, key, sizeof key, &cells)) return cells;
  if (grow((void **)&m->pairs, &m->cappairs, m->npairs, sizeof *m->pairs)) return NO_CELLS;
  cells = alloc_cells(m, GW_MSTATUS_CLASSES);
  if (cells == NO_CELLS) return NO_CELLS;
  /* cells handed out but unused when this fails: harmless, never rendered */
  if (map_put(&m->pairmap, key, sizeof key, cells)) return NO_CELLS;
  m->pairs[m->npairs++] = (mpair_t){up, route, cells};
  return cells;
}

/* First cell of the (upstream, method, item) MCP series, or NO_CELLS. mu held. */
static uint32_t intern_mcp(gw_metrics_t *m, uint32_t up, uint32_t method, uint32_t item) {
  uint32_t key[3] = {up, method, item}, cells;
  if (map_get(&m->mcpmap, key, sizeof key, &cells)) return cells;
  if (grow((void **)&m->mcps, &m->capmcps, m->nmcps, sizeof *m->mcps)) return NO_CELLS;
  cells = alloc_cells(m, GW_MCPD_COUNT);
  if (cells == NO_CELLS || map_put(&m->mcpmap, key, sizeof key, cells)) return NO_CELLS;
  m->mcps[m->nmcps++] = (mmcp_t){up, method, item, cells};
  return cells;
}

int metrics_labels_mcp(gw_mlabels_t *lm, const unsigned char *mcp_up,
                       const char *const *item_labels, const unsigned char *item_kinds,
                       size_t nitems) {
  if (!item_labels || !item_kinds) nitems = 0;
  if (nitems > 65535 || lm->mcp) return -1;
  gw_metrics_t *m = lm->m;
  size_t row = nitems + 1;
  lm->nitems = (uint32_t)nitems;
  lm->mcp = calloc(lm->nup ? lm->nup : 1, sizeof *lm->mcp);
  uint32_t *igid = malloc((nitems + 2) * sizeof *igid); /* none, other, the items */
  uint32_t *ugid = malloc((lm->nup ? lm->nup : 1) * sizeof *ugid);
  if (!lm->mcp || !igid || !ugid) goto fail_nolock;
  for (size_t u = 0; mcp_up && u < lm->nup; u++) {
    if (!mcp_up[u]) continue;
    lm->mcp[u] = malloc(GW_MCPM_COUNT * row * sizeof **lm->mcp);
    if (!lm->mcp[u]) goto fail_nolock;
  }
  pthread_mutex_lock(&m->mu);
  int64_t id;
  for (size_t i = 0; i < nitems + 2; i++) {
    const char *t = i == 0 ? "none" : i == 1 ? "other" : item_labels[i - 2];
    if ((id = intern_name(&m->items, &m->nitems, &m->capitems, &m->itemmap, t)) < 0) goto fail;
    igid[i] = (uint32_t)id;
  }
  /* the upstream ids: the names metrics_labels_new() interned for lm->up */
  for (size_t u = 0; u < lm->nup; u++) {
    ugid[u] = UINT32_MAX;
    for (size_t k = 0; k < m->nups; k++)
      if (m->ups[k].cells == lm->up[u]) ugid[u] = (uint32_t)k;
    if (ugid[u] == UINT32_MAX) goto fail; /* lm is not from m */
  }
  for (size_t u = 0; u < lm->nup; u++) {
    if (!lm->mcp[u]) continue;
    for (unsigned meth = 0; meth < GW_MCPM_COUNT; meth++) {
      uint32_t *cell = lm->mcp[u] + (size_t)meth * row;
      int kind = method_item_kind(meth);
      uint32_t c0 = intern_mcp(m, ugid[u], meth, igid[kind < 0 ? 0 : 1]);
      if (c0 == NO_CELLS) goto fail;
      cell[0] = c0;
      for (size_t i = 0; i < nitems; i++) {
        cell[i + 1] = NO_CELLS;
        if (kind >= 0 && item_kinds[i] == kind &&
            (cell[i + 1] = intern_mcp(m, ugid[u], meth, igid[i + 2])) == NO_CELLS)
          goto fail;
      }
    }
  }
  pthread_mutex_unlock(&m->mu);
  free(igid);
  free(ugid);
  return 0;
fail:
  pthread_mutex_unlock(&m->mu);
fail_nolock:
  free(igid);
  free(ugid);
  for (size_t u = 0; lm->mcp && u < lm->nup; u++) free(lm->mcp[u]);
  free(lm->mcp);
  lm->mcp = NULL;
  lm->nitems = 0;
  return -1;
}

void metrics_labels_free(gw_mlabels_t *lm) {
  if (!lm) return;
  for (size_t u = 0; lm->mcp && u < lm->nup; u++) free(lm->mcp[u]);
  free(lm->mcp);
  free(lm->req);
  free(lm->up);
  free(lm->dur);
  free(lm->iss);
  free(lm);
}

gw_mlabels_t *metrics_labels_new(gw_metrics_t *m, const char *const *upstream_names, size_t nup,
                                 const char *const *route_names, size_t nroutes,
                                 const char *const *issuer_names, size_t niss) {
  if (!upstream_names) nup = 0;
  if (!route_names) nroutes = 0;
  if (!issuer_names) niss = 0;
  /* every index and product below fits in uint32_t / size_t with room */
  if (nup > 65535 || nroutes > 1000000 || niss > 65535) return NULL;
  size_t nreq = (nup + 1) * (nroutes + 2);
  gw_mlabels_t *lm = calloc(1, sizeof *lm);
  uint32_t *ugid = malloc((nup + 1) * sizeof *ugid);
  uint32_t *rgid = malloc((nroutes + 2) * sizeof *rgid);
  if (!lm || !ugid || !rgid) goto fail_nolock;
  lm->m = m;
  lm->nup = (uint32_t)nup;
  lm->nroutes = (uint32_t)nroutes;
  lm->niss = (uint32_t)niss;
  lm->req = malloc(nreq * sizeof *lm->req);
  lm->up = malloc((nup ? nup : 1) * sizeof *lm->up);
  lm->dur = malloc((nup + 1) * sizeof *lm->dur);
  lm->iss = malloc((niss ? niss : 1) * sizeof *lm->iss);
  if (!lm->req || !lm->up || !lm->dur || !lm->iss) goto fail_nolock;

  pthread_mutex_lock(&m->mu);
  int64_t id = intern_up(m, "none");
  if (id < 0) goto fail;
  ugid[0] = (uint32_t)id;
  for (size_t i = 0; i < nup; i++) {
    if ((id = intern_up(m, upstream_names[i])) < 0) goto fail;
    ugid[i + 1] = (uint32_t)id;
    mup_t *u = &m->ups[id];
    if (u->cells == NO_CELLS && (u->cells = alloc_cells(m, GW_MUP_CELLS)) == NO_CELLS) goto fail;
    lm->up[i] = u->cells;
  }
  for (size_t i = 0; i <= nup; i++) {
    mup_t *u = &m->ups[ugid[i]];
    if (u->dur == NO_CELLS && (u->dur = alloc_cells(m, GW_MREQ_CELLS)) == NO_CELLS) goto fail;
    lm->dur[i] = u->dur;
  }
  if ((id = intern_route(m, "unmatched")) < 0) goto fail;
  rgid[0] = (uint32_t)id;
  if ((id = intern_route(m, "none")) < 0) goto fail;
  rgid[1] = (uint32_t)id;
  for (size_t i = 0; i < nroutes; i++) {
    if ((id = intern_route(m, route_names[i])) < 0) goto fail;
    rgid[i + 2] = (uint32_t)id;
  }
  for (size_t u = 0; u <= nup; u++)
    for (size_t r = 0; r < nroutes + 2; r++) {
      uint32_t cells = intern_pair(m, ugid[u], rgid[r]);
      if (cells == NO_CELLS) goto fail;
      lm->req[u * (nroutes + 2) + r] = cells;
    }
  for (size_t i = 0; i < niss; i++) {
    if ((id = intern_iss(m, issuer_names[i])) < 0) goto fail;
    lm->iss[i] = (uint32_t)id;
  }
  pthread_mutex_unlock(&m->mu);
  free(ugid);
  free(rgid);
  return lm;

fail:
  pthread_mutex_unlock(&m->mu);
fail_nolock:
  free(ugid);
  free(rgid);
  metrics_labels_free(lm);
  return NULL;
}

void metrics_activate(gw_metrics_t *m, const gw_mlabels_t *lm) {
  pthread_mutex_lock(&m->mu);
  for (size_t i = 0; i < m->niss; i++) m->iss[i].active = 0;
  for (size_t i = 0; lm && i < lm->niss; i++) m->iss[lm->iss[i]].active = 1;
  pthread_mutex_unlock(&m->mu);
}

void metrics_jwks_fetch(const gw_mlabels_t *lm, size_t iss, gw_mjwks_result_t result) {
  if (iss >= lm->niss || (unsigned)result >= GW_MJWKS_COUNT) return;
  gw_metrics_t *m = lm->m;
  pthread_mutex_lock(&m->mu);
  m->iss[lm->iss[iss]].fetches[result]++;
  pthread_mutex_unlock(&m->mu);
}

void metrics_jwks_loaded(const gw_mlabels_t *lm, size_t iss, size_t nkeys, int64_t unix_ms) {
  if (iss >= lm->niss) return;
  gw_metrics_t *m = lm->m;
  pthread_mutex_lock(&m->mu);
  miss_t *s = &m->iss[lm->iss[iss]];
  s->nkeys = nkeys;
  if (unix_ms > s->last_ok_ms) s->last_ok_ms = unix_ms;
  pthread_mutex_unlock(&m->mu);
}

void metrics_reload(gw_metrics_t *m, int ok) {
  pthread_mutex_lock(&m->mu);
  if (ok)
    m->reloads_ok++;
  else
    m->reloads_failed++;
  pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ----------------------------------------------------------- */

static uint64_t load(const gw_mcell_t *c) {
  return atomic_load_explicit((gw_mcell_t *)c, memory_order_relaxed);
}

/* Sum over the blocks of label cell off. */
static uint64_t sum_cell(const gw_metrics_t *m, uint32_t off) {
  uint64_t s = 0;
  for (unsigned i = 0; i < m->nblocks; i++) {
    gw_mcell_t *c =
        atomic_load_explicit(&m->blocks[i]->chunk[off >> GW_MCHUNK_SHIFT], memory_order_acquire);
    s += load(c + (off & (GW_MCHUNK_CELLS - 1)));
  }
  return s;
}

/* n consecutive label cells from off, each summed over the blocks. */
static void sum_cells(const gw_metrics_t *m, uint32_t off, size_t n, uint64_t *out) {
  for (size_t i = 0; i < n; i++) out[i] = sum_cell(m, off + (uint32_t)i);
}

/* Sum over the blocks of a fixed field, given its offset in gw_mcounters_t. */
static uint64_t sum_field(const gw_metrics_t *m, size_t offset) {
  uint64_t s = 0;
  for (unsigned i = 0; i < m->nblocks; i++)
    s += load((const gw_mcell_t *)((const char *)m->blocks[i] + offset));
  return s;
}


static const char *const status_names[GW_MSTATUS_CLASSES] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

/* The standard process_* families (procmetrics.c). */
static void process_metrics(ptext_t *b) {
  char text[2048];
  size_t n = metrics_process_text(text, sizeof text);
  ptext_put(b, text, n);
}

char *metrics_render_at(gw_metrics_t *m, int64_t now_ms, size_t *len) {
  ptext_t b = {0};
  pthread_mutex_lock(&m->mu);

  ptext_family(&b, "requests_total", "counter",
         "Requests answered, by upstream (none: answered by the gateway), policy route pattern "
         "(unmatched: no route; none: no upstream) and status class.");
  for (size_t i = 0; i < m->npairs; i++) {
    const mpair_t *p = &m->pairs[i];
    for (unsigned c = 0; c < GW_MSTATUS_CLASSES; c++) {
      uint64_t v = sum_cell(m, p->cells + c);
      if (!v) continue;
      ptext_series(&b, "requests_total", "upstream", m->ups[p->up].name, "route", m->routes[p->route],
             "status_class", status_names[c]);
      ptext_u64(&b, v);
    }
  }

  ptext_family(&b, "auth_decisions_total", "counter",
         "Authorization decisions, by outcome and reason (the failed token check, missing_token, "
         "or none).");
  for (unsigned o = 0; o < GW_MOUT_COUNT; o++)
    for (unsigned r = 0; r < GW_MREASON_COUNT; r++) {
      uint64_t v = sum_field(m, offsetof(gw_mcounters_t, auth) +
                                    (o * GW_MREASON_COUNT + r) * sizeof(gw_mcell_t));
      if (!v) continue;
      ptext_series(&b, "auth_decisions_total", "outcome", outcome_names[o], "reason", reason_names[r],
             NULL, NULL);
      ptext_u64(&b, v);
    }

  ptext_family(&b, "mcp_requests_total", "counter",
         "JSON-RPC messages to MCP upstreams, by upstream, method, item (the policy section; other: "
         "none; none: the method names no item) and decision.");
  for (size_t i = 0; i < m->nmcps; i++) {
    const mmcp_t *s = &m->mcps[i];
    for (unsigned d = 0; d < GW_MCPD_COUNT; d++) {
      uint64_t v = sum_cell(m, s->cells + d);
      if (!v) continue;
      const char *k[4] = {"upstream", "method", "item", "decision"};
      const char *vals[4] = {m->ups[s->up].name, mcp_method_names[s->method], m->items[s->item],
                             mcp_decision_names[d]};
      ptext_series4(&b, "mcp_requests_total", k, vals);
      ptext_u64(&b, v);
    }
  }

  ptext_family(&b, "responses_total", "counter",
         "Answers the gateway gave itself (no upstream response: refusals, errors, local "
         "endpoints), by status code; only codes sent at least once.");
  for (unsigned k = 0; k < 500; k++) {
    uint64_t v = sum_field(m, offsetof(gw_mcounters_t, own_responses) + k * sizeof(gw_mcell_t));
    if (!v) continue;
    char code[8];
    snprintf(code, sizeof code, "%u", k + 100);
    ptext_series(&b, "responses_total", "code", code, NULL, NULL, NULL, NULL);
    ptext_u64(&b, v);
  }

  ptext_family(&b, "m2m_token_requests_total", "counter",
               "Answered requests to the built-in M2M issuer's token endpoint, by outcome (busy: "
               "too many token requests in progress; job_failed: the request could not run).");
  for (unsigned o = 0; o < GW_MM2M_CELLS; o++) {
    if (o >= GW_M2M_OUTCOME_COUNT && o != GW_MM2M_BUSY && o != GW_MM2M_JOB_FAILED) continue;
    const char *name = o == GW_MM2M_BUSY       ? "busy"
                       : o == GW_MM2M_JOB_FAILED ? "job_failed"
                                                 : m2m_outcome_name((gw_m2m_outcome_t)o);
    ptext_series(&b, "m2m_token_requests_total", "outcome", name, NULL, NULL, NULL, NULL);
    ptext_u64(&b, sum_field(m, offsetof(gw_mcounters_t, m2m_token) + o * sizeof(gw_mcell_t)));
  }

  /* the families of one unlabeled worker field each */
  static const struct {
    const char *name, *type, *help;
    size_t field;
  } fixed[] = {
      {"token_cache_hits_total", "counter", "Verified-token cache hits.",
       offsetof(gw_mcounters_t, token_cache_hits)},
      {"token_cache_misses_total", "counter", "Verified-token cache misses.",
       offsetof(gw_mcounters_t, token_cache_misses)},
      {"token_cache_entries", "gauge", "Verified tokens cached, all workers.",
       offsetof(gw_mcounters_t, token_cache_entries)},
      {"upstream_write_batches_total", "counter",
       "io_submit calls that wrote request heads to upstreams (one per loop turn with heads).",
       offsetof(gw_mcounters_t, upstream_write_batches)},
      {"upstream_batched_writes_total", "counter",
       "Request heads written to upstreams in those batches.",
       offsetof(gw_mcounters_t, upstream_batched_writes)},
  };
  for (size_t f = 0; f < sizeof fixed / sizeof *fixed; f++) {
    ptext_family(&b, fixed[f].name, fixed[f].type, fixed[f].help);
    ptext_series(&b, fixed[f].name, NULL, NULL, NULL, NULL, NULL, NULL);
    uint64_t v = sum_field(m, fixed[f].field);
    if (fixed[f].type[0] == 'g')
      ptext_i64(&b, v); /* signed deltas */
    else
      ptext_u64(&b, v);
  }

  ptext_family(&b, "jwks_fetches_total", "counter", "JWKS fetches, by issuer and result.");
  for (size_t i = 0; i < m->niss; i++)
    for (unsigned r = 0; r < GW_MJWKS_COUNT; r++) {
      ptext_series(&b, "jwks_fetches_total", "issuer", m->iss[i].name, "result", jwks_names[r], NULL,
             NULL);
      ptext_u64(&b, m->iss[i].fetches[r]);
    }
  ptext_family(&b, "jwks_keys", "gauge", "Keys in the issuer's current key set.");
  for (size_t i = 0; i < m->niss; i++) {
    if (!m->iss[i].active) continue;
    ptext_series(&b, "jwks_keys", "issuer", m->iss[i].name, NULL, NULL, NULL, NULL);
    ptext_u64(&b, m->iss[i].nkeys);
  }
  ptext_family(&b, "jwks_last_success_age_seconds", "gauge",
         "Seconds since the issuer's key set was last loaded (+Inf: never).");
  for (size_t i = 0; i < m->niss; i++) {
    if (!m->iss[i].active) continue;
    ptext_series(&b, "jwks_last_success_age_seconds", "issuer", m->iss[i].name, NULL, NULL, NULL, NULL);
    int64_t last = m->iss[i].last_ok_ms;
    if (last <= 0) {
      ptext_puts(&b, "+Inf\n");
    } else {
      int64_t age = now_ms > last ? now_ms - last : 0;
      ptext_printf(&b, "%" PRId64 ".%03d\n", age / 1000, (int)(age % 1000));
    }
  }

  ptext_family(&b, "jwks_last_success_timestamp_seconds", "gauge",
         "Unix time the issuer's key set was last loaded (0: never).");
  for (size_t i = 0; i < m->niss; i++) {
    if (!m->iss[i].active) continue;
    ptext_series(&b, "jwks_last_success_timestamp_seconds", "issuer", m->iss[i].name, NULL, NULL, NULL, NULL);
    int64_t last = m->iss[i].last_ok_ms > 0 ? m->iss[i].last_ok_ms : 0;
    ptext_printf(&b, "%" PRId64 ".%03d\n", last / 1000, (int)(last % 1000));
  }

  ptext_family(&b, "upstream_request_duration_seconds", "histogram",
         "Upstream request duration, by upstream.");
  for (size_t i = 0; i < m->nups; i++) {
    const mup_t *u = &m->ups[i];
    if (u->cells == NO_CELLS) continue;
    uint64_t counts[GW_MHIST_BOUNDS + 1];
    sum_cells(m, u->cells + GW_MUP_BUCKET0, GW_MHIST_BOUNDS + 1, counts);
    const char *k[3] = {"upstream", NULL, NULL}, *v[3] = {u->name, NULL, NULL};
    ptext_histogram(&b, "upstream_request_duration_seconds", k, v, bucket_le, counts,
                    GW_MHIST_BOUNDS + 1, sum_cell(m, u->cells + GW_MUP_SUM_NS), 9);
  }

  ptext_family(&b, "request_duration_seconds", "histogram",
               "Requests from the first byte of the head to the last byte of the answer handed to "
               "the socket, by upstream (none: not routed to one) and answered_by (gateway: its "
               "own answer, e.g. a refusal; upstream: the upstream's response).");
  for (size_t i = 0; i < m->nups; i++) {
    const mup_t *u = &m->ups[i];
    if (u->dur == NO_CELLS) continue;
    /* "upstream" only for a label some configuration routes to */
    for (unsigned by = 0; by < (u->cells == NO_CELLS ? 1u : 2u); by++) {
      uint32_t row = u->dur + by * GW_MREQ_ROW;
      uint64_t counts[GW_MREQ_BOUNDS + 1];
      sum_cells(m, row + GW_MREQ_BUCKET0, GW_MREQ_BOUNDS + 1, counts);
      const char *k[3] = {"upstream", "answered_by", NULL};
      const char *v[3] = {u->name, by ? "upstream" : "gateway", NULL};
      ptext_histogram(&b, "request_duration_seconds", k, v, req_bucket_le, counts,
                      GW_MREQ_BOUNDS + 1, sum_cell(m, row + GW_MREQ_SUM_US), 6);
    }
  }
  static const struct {
    const char *name, *type, *help;
    unsigned cell;
  } per_up[] = {
      {"upstream_connect_errors_total", "counter", "Failed connects to the upstream.",
       GW_MUP_CONNECT_ERRORS},
      {"upstream_timeouts_total", "counter", "Upstream requests that timed out.", GW_MUP_TIMEOUTS},
      {"upstream_retries_total", "counter",
       "Requests resent on a fresh connection because the upstream closed the pooled one first.",
       GW_MUP_RETRIES},
      {"upstream_pool_idle", "gauge", "Idle keep-alive connections pooled, all workers.",
       GW_MUP_POOL_IDLE},
  };
  for (size_t f = 0; f < sizeof per_up / sizeof *per_up; f++) {
    ptext_family(&b, per_up[f].name, per_up[f].type, per_up[f].help);
    for (size_t i = 0; i < m->nups; i++) {
      const mup_t *u = &m->ups[i];
      if (u->cells == NO_CELLS) continue;
      ptext_series(&b, per_up[f].name, "upstream", u->name, NULL, NULL, NULL, NULL);
      uint64_t v = sum_cell(m, u->cells + per_up[f].cell);
      if (per_up[f].cell == GW_MUP_POOL_IDLE)
        ptext_i64(&b, v);
      else
        ptext_u64(&b, v);
    }
  }

  ptext_family(&b, "open_connections", "gauge", "Open client connections (admin included).");
  ptext_series(&b, "open_connections", NULL, NULL, NULL, NULL, NULL, NULL);
  ptext_i64(&b, sum_field(m, offsetof(gw_mcounters_t, open_connections)));
  static const char *const refused_names[GW_MREFUSED_COUNT] = {"max_connections", "descriptors"};
  ptext_family(&b, "connections_refused_total", "counter",
         "Client connections refused, by reason: max_connections (closed at once), descriptors "
         "(accept() ran out of them; accepting pauses 500 ms, connections wait in the backlog).");
  for (unsigned r = 0; r < GW_MREFUSED_COUNT; r++) {
    ptext_series(&b, "connections_refused_total", "reason", refused_names[r], NULL, NULL, NULL, NULL);
    ptext_u64(&b, sum_field(m, offsetof(gw_mcounters_t, connections_refused) + r * sizeof(gw_mcell_t)));
  }

  static const char *const log_names[GW_LOGRING_COUNT] = {"error", "access"};
  ptext_family(&b, "log_dropped_lines_total", "counter",
         "Log lines dropped because the log's reader fell behind and its buffer was full, by log "
         "(error: stderr, access: the access log).");
  for (unsigned i = 0; i < GW_LOGRING_COUNT; i++) {
    ptext_series(&b, "log_dropped_lines_total", "log", log_names[i], NULL, NULL, NULL, NULL);
    ptext_u64(&b, logring_dropped((gw_logring_id_t)i));
  }

  ptext_family(&b, "reloads_total", "counter", "Configuration reloads, by result.");
  ptext_series(&b, "reloads_total", "result", "ok", NULL, NULL, NULL, NULL);
  ptext_u64(&b, m->reloads_ok);
  ptext_series(&b, "reloads_total", "result", "failed", NULL, NULL, NULL, NULL);
  ptext_u64(&b, m->reloads_failed);

  ptext_family(&b, "build_info", "gauge", "Always 1; the version is a label.");
  ptext_series(&b, "build_info", "version", m->version, NULL, NULL, NULL, NULL);
  ptext_puts(&b, "1\n");

  pthread_mutex_unlock(&m->mu);
  process_metrics(&b);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  if (len) *len = b.len;
  return b.p;
}

char *metrics_render(gw_metrics_t *m, size_t *len) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return metrics_render_at(m, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, len);
}
