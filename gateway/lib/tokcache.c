#include "tokcache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct entry {
  struct entry *hnext;       /* bucket chain */
  struct entry *prev, *next; /* recency list, head = most recent */
  uint64_t hash;
  uint32_t ctx;
  size_t tok_len;
  size_t size;               /* what this entry counts against max_bytes */
  size_t cap;                /* bytes allocated (size rounded up), for reuse */
  gw_tokcache_val_t val;     /* strs point into data[] */
  char data[];               /* token, then each present string + NUL */
} entry_t;

struct gw_tokcache {
  entry_t **buckets;
  size_t mask;
  entry_t *head, *tail;
  size_t max_entries, max_bytes;
  uint64_t seed;
  uint64_t (*hash)(const char *p, size_t n, uint64_t seed);
  gw_tokcache_stats_t st;
};

/* ---- hashing -------------------------------------------------------------- */

#define K1 0x9e3779b97f4a7c15ULL
#define K2 0xd6e8feb86659fd93ULL

static uint64_t fmix(uint64_t x) {
  x ^= x >> 32;
  x *= K2;
  x ^= x >> 32;
  x *= K2;
  x ^= x >> 32;
  return x;
}

static inline uint64_t load64(const char *p) {
  uint64_t w;
  memcpy(&w, p, 8);
  return w;
}

/* Folded 64x64->128 multiply: every output bit depends on every input bit
 * of both factors. */
static inline uint64_t mulfold(uint64_t a, uint64_t b) {
  __extension__ unsigned __int128 r = (unsigned __int128)a * b;
  return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t rotl(uint64_t x, unsigned r) {
  return (x << r) | (x >> (64 - r));
}

/* Two independent lanes of 16 bytes each per step, every 16-byte block
 * mixed by one folded multiply with per-cache secret words. The multiplies
 * are off the accumulators' dependency chains (a rotate and an add), so the
 * ~700-byte tokens of a cache hit hash at several bytes per cycle; the
 * rotate makes a block's position matter (swapped blocks hash apart). The
 * seed keeps bucket placement unpredictable, only verified tokens are ever
 * stored, and equality is always a full compare: the hash only picks a
 * bucket. */
static uint64_t default_hash(const char *p, size_t n, uint64_t seed) {
  const uint64_t s0 = seed, s1 = rotl(seed, 17) ^ K1, s2 = rotl(seed, 31) ^ K2,
                 s3 = rotl(seed, 47) ^ (K1 + K2);
  uint64_t a = seed ^ ((uint64_t)n * K1), b = rotl(seed, 29) ^ ((uint64_t)n * K2);
  while (n >= 32) {
    a = rotl(a, 23) + mulfold(load64(p) ^ s0, load64(p + 8) ^ s1);
    b = rotl(b, 23) + mulfold(load64(p + 16) ^ s2, load64(p + 24) ^ s3);
    p += 32;
    n -= 32;
  }
  if (n >= 16) {
    a = rotl(a, 23) + mulfold(load64(p) ^ s0, load64(p + 8) ^ s1);
    p += 16;
    n -= 16;
  }
  /* 0..15 bytes left, zero-padded; the length was folded in at the start. */
  uint64_t w0 = 0, w1 = 0;
  if (n > 8) {
    w0 = load64(p);
    memcpy(&w1, p + 8, n - 8);
  } else if (n) {
    memcpy(&w0, p, n);
  }
  b = rotl(b, 23) + mulfold(w0 ^ s2, w1 ^ s3);
  return fmix(a ^ rotl(b, 32) ^ mulfold(a ^ s1, b ^ s0));
}

static uint64_t key_hash(const gw_tokcache_t *c, const char *tok, size_t len, uint32_t ctx) {
  return c->hash(tok, len, c->seed) ^ fmix((uint64_t)ctx + K1);
}

/* ---- lists ---------------------------------------------------------------- */

static void lru_unlink(gw_tokcache_t *c, entry_t *e) {
  if (e->prev) e->prev->next = e->next;
  else c->head = e->next;
  if (e->next) e->next->prev = e->prev;
  else c->tail = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push_front(gw_tokcache_t *c, entry_t *e) {
  e->prev = NULL;
  e->next = c->head;
  if (c->head) c->head->prev = e;
  c->head = e;
  if (!c->tail) c->tail = e;
}

/* Takes e out of the table and the recency list; the memory stays e's. */
static void detach(gw_tokcache_t *c, entry_t *e) {
  entry_t **pp = &c->buckets[e->hash & c->mask];
  while (*pp != e) pp = &(*pp)->hnext;
  *pp = e->hnext;
  lru_unlink(c, e);
  c->st.entries--;
  c->st.bytes -= e->size;
}

static void remove_entry(gw_tokcache_t *c, entry_t *e) {
  detach(c, e);
  free(e);
}

/* Whether an entry of size bytes fits only after the least recent goes. */
static int must_evict(const gw_tokcache_t *c, size_t size) {
  return c->st.entries >= c->max_entries || c->st.bytes + size > c->max_bytes;
}

static entry_t *find(gw_tokcache_t *c, const char *tok, size_t len, uint32_t ctx, uint64_t h) {
  for (entry_t *e = c->buckets[h & c->mask]; e; e = e->hnext)
    if (e->hash == h && e->ctx == ctx && e->tok_len == len &&
        (len == 0 || memcmp(e->data, tok, len) == 0))
      return e;
  return NULL;
}

/* ---- API ------------------------------------------------------------------ */

gw_tokcache_t *tokcache_new(size_t max_entries, size_t max_bytes) {
  if (max_entries == 0 || max_bytes == 0 || max_entries > ((size_t)1 << 24)) return NULL;
  gw_tokcache_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  size_t nb = 16;
  while (nb < max_entries) nb <<= 1;
  c->buckets = calloc(nb, sizeof *c->buckets);
  if (!c->buckets) {
    free(c);
    return NULL;
  }
  c->mask = nb - 1;
  c->max_entries = max_entries;
  c->max_bytes = max_bytes;
  c->hash = default_hash;
  if (getrandom(&c->seed, sizeof c->seed, GRND_NONBLOCK) != (ssize_t)sizeof c->seed)
    c->seed = fmix((uint64_t)(uintptr_t)c ^ (uint64_t)time(NULL));
  return c;
}

void tokcache_clear(gw_tokcache_t *c) {
  while (c->head) remove_entry(c, c->head);
}

void tokcache_free(gw_tokcache_t *c) {
  if (!c) return;
  tokcache_clear(c);
  free(c->buckets);
  free(c);
}

gw_tokcache_key_t tokcache_key(const gw_tokcache_t *c, const char *tok, size_t len, uint32_t ctx) {
  gw_tokcache_key_t k = {tok, len, ctx, key_hash(c, tok, len, ctx)};
  return k;
}

const gw_tokcache_val_t *tokcache_get(gw_tokcache_t *c, const gw_tokcache_key_t *k,
                                      int64_t now_s, const uint64_t *issuer_gens, size_t ngens) {
  entry_t *e = find(c, k->tok, k->len, k->ctx, k->hash);
  if (e && (now_s >= e->val.exp || e->val.issuer >= ngens || !issuer_gens ||
            issuer_gens[e->val.issuer] != e->val.generation)) {
    remove_entry(c, e);
    c->st.expired++;
    e = NULL;
  }
  if (!e) {
    c->st.misses++;
    return NULL;
  }
  if (c->head != e) {
    lru_unlink(c, e);
    lru_push_front(c, e);
  }
  c->st.hits++;
  return &e->val;
}

int tokcache_put(gw_tokcache_t *c, const gw_tokcache_key_t *k, int64_t now_s,
                 const gw_tokcache_val_t *val) {
  const char *tok = k->tok;
  size_t len = k->len;
  uint32_t ctx = k->ctx;
  if (now_s >= val->exp || val->nstrs > GW_TOKCACHE_MAX_STRS) return -1;
  size_t size = sizeof(entry_t) + len;
  for (size_t i = 0; i < val->nstrs; i++)
    if (val->strs[i]) size += val->lens[i] + 1;
  if (size > c->max_bytes) return -1;

  /* The new entry is built before anything is removed: val may point into
   * the entry it replaces (a value just returned by tokcache_get). */
  uint64_t h = k->hash;
  entry_t *old = find(c, tok, len, ctx, h);
  entry_t *e;
  size_t cap;
  if (!old && c->tail && c->tail->cap >= size && must_evict(c, size)) {
    /* A full cache evicts on every miss: the least recent entry's memory
     * takes the new one (tokens of an issuer are near the same length),
     * which saves a free and a malloc of ~1 KiB per verification. */
    e = c->tail;
    cap = e->cap;
    detach(c, e);
    c->st.evictions++;
  } else {
    cap = (size + 63) & ~(size_t)63;
    e = malloc(cap);
    if (!e) return -1;
  }
  memset(e, 0, sizeof *e);
  e->cap = cap;
  e->hash = h;
  e->ctx = ctx;
  e->tok_len = len;
  e->size = size;
  e->val = *val;
  if (len) memcpy(e->data, tok, len);
  char *p = e->data + len;
  for (size_t i = 0; i < val->nstrs; i++) {
    if (!val->strs[i]) continue;
    if (val->lens[i]) memcpy(p, val->strs[i], val->lens[i]);
    p[val->lens[i]] = '\0';
    e->val.strs[i] = p;
    p += val->lens[i] + 1;
  }
  for (size_t i = val->nstrs; i < GW_TOKCACHE_MAX_STRS; i++) {
    e->val.strs[i] = NULL;
    e->val.lens[i] = 0;
  }
  if (old) remove_entry(c, old);
  while (c->tail && must_evict(c, size)) {
    remove_entry(c, c->tail);
    c->st.evictions++;
  }
  e->hnext = c->buckets[h & c->mask];
  c->buckets[h & c->mask] = e;
  lru_push_front(c, e);
  c->st.entries++;
  c->st.bytes += size;
  return 0;
}

void tokcache_stats(const gw_tokcache_t *c, gw_tokcache_stats_t *out) {
  *out = c->st;
}

void tokcache_set_hash(gw_tokcache_t *c, uint64_t (*hash)(const char *p, size_t n, uint64_t seed)) {
  tokcache_clear(c); /* stored hashes would no longer match */
  c->hash = hash ? hash : default_hash;
}
