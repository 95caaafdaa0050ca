/* ratelimit: see ratelimit.h. */
#include "ratelimit.h"

#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 16
#define NIL UINT32_MAX

typedef struct {
  uint64_t h;
  double tokens;
  uint64_t last_ms;
  uint32_t prev, next; /* LRU: head most recent */
  uint32_t chain;      /* next in the hash bucket */
} slot_t;

typedef struct {
  pthread_mutex_t mu;
  slot_t *s;
  uint32_t cap, used;
  uint32_t *index; /* nindex heads, NIL when empty */
  uint32_t nindex;
  uint32_t head, tail;
  uint64_t evicted_busy;
} stripe_t;

struct gw_ratelimit {
  uint64_t k0, k1;
  stripe_t st[STRIPES];
};

/* ---- parsing --------------------------------------------------------------- */

int ratelimit_parse_rate(const char *s, uint32_t *count, uint32_t *window_s) {
  uint64_t n = 0;
  size_t i = 0;
  while (s[i] >= '0' && s[i] <= '9' && i < 10) n = n * 10 + (uint64_t)(s[i++] - '0');
  if (i == 0 || n == 0 || n > 1000000000u || s[i] != '/' || !s[i + 1] || s[i + 2]) return -1;
  switch (s[i + 1]) {
  case 's': *window_s = 1; break;
  case 'm': *window_s = 60; break;
  case 'h': *window_s = 3600; break;
  default: return -1;
  }
  *count = (uint32_t)n;
  return 0;
}

static const char *const key_names[] = {"sub", "client_id", "address"};

int ratelimit_parse_key(const char *s, gw_rate_key_t *out) {
  for (int k = 0; k < 3; k++)
    if (strcmp(s, key_names[k]) == 0) {
      *out = (gw_rate_key_t)k;
      return 0;
    }
  return -1;
}

const char *ratelimit_key_name(gw_rate_key_t k) { return (unsigned)k < 3 ? key_names[k] : "?"; }

/* ---- SipHash-2-4 ----------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
  do {                                                                                             \
    v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                      \
    v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                         \
    v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                         \
    v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                      \
  } while (0)

typedef struct {
  uint64_t v0, v1, v2, v3, tail;
  size_t n, ntail;
} sip_t;

static void sip_init(sip_t *s, uint64_t k0, uint64_t k1) {
  s->v0 = 0x736f6d6570736575ULL ^ k0;
  s->v1 = 0x646f72616e646f6dULL ^ k1;
  s->v2 = 0x6c7967656e657261ULL ^ k0;
  s->v3 = 0x7465646279746573ULL ^ k1;
  s->tail = 0;
  s->n = s->ntail = 0;
}

static void sip_block(sip_t *s, uint64_t m) {
  uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
  v3 ^= m;
  SIPROUND;
  SIPROUND;
  v0 ^= m;
  s->v0 = v0, s->v1 = v1, s->v2 = v2, s->v3 = v3;
}

static void sip_update(sip_t *s, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {
    s->tail |= (uint64_t)b[i] << (8 * s->ntail);
    if (++s->ntail == 8) {
      sip_block(s, s->tail);
      s->tail = 0;
      s->ntail = 0;
    }
  }
  s->n += n;
}

static uint64_t sip_final(sip_t *s) {
  sip_block(s, s->tail | ((uint64_t)(s->n & 0xff) << 56));
  uint64_t v0 = s->v0, v1 = s->v1, v2 = s->v2, v3 = s->v3;
  v2 ^= 0xff;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  SIPROUND;
  return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ------------------------------------------------------------- */

gw_ratelimit_t *ratelimit_new(size_t capacity) {
  if (capacity < STRIPES) capacity = STRIPES;
  if (capacity > ((size_t)1 << 28)) capacity = (size_t)1 << 28;
  gw_ratelimit_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  unsigned char k[16];
  if (RAND_bytes(k, sizeof k) != 1) {
    free(t);
    return NULL;
  }
  memcpy(&t->k0, k, 8);
  memcpy(&t->k1, k + 8, 8);
  uint32_t per = (uint32_t)((capacity + STRIPES - 1) / STRIPES);
  uint32_t ni = 1;
  while (ni < per) ni <<= 1;
  for (int i = 0; i < STRIPES; i++) {
    stripe_t *st = &t->st[i];
    pthread_mutex_init(&st->mu, NULL);
    st->cap = per;
    st->nindex = ni;
    st->head = st->tail = NIL;
    st->s = calloc(per, sizeof *st->s);
    st->index = malloc(ni * sizeof *st->index);
    if (!st->s || !st->index) {
      ratelimit_free(t);
      return NULL;
    }
    for (uint32_t j = 0; j < ni; j++) st->index[j] = NIL;
  }
  return t;
}

void ratelimit_free(gw_ratelimit_t *t) {
  if (!t) return;
  for (int i = 0; i < STRIPES; i++) {
    free(t->st[i].s);
    free(t->st[i].index);
    pthread_mutex_destroy(&t->st[i].mu);
  }
  free(t);
}

static void lru_unlink(stripe_t *st, uint32_t i) {
  slot_t *e = &st->s[i];
  if (e->prev != NIL) st->s[e->prev].next = e->next; else st->head = e->next;
  if (e->next != NIL) st->s[e->next].prev = e->prev; else st->tail = e->prev;
}

static void lru_front(stripe_t *st, uint32_t i) {
  slot_t *e = &st->s[i];
  e->prev = NIL;
  e->next = st->head;
  if (st->head != NIL) st->s[st->head].prev = i;
  st->head = i;
  if (st->tail == NIL) st->tail = i;
}

static double refilled(const slot_t *e, const gw_rate_t *lim, uint64_t now_ms) {
  double per_ms = (double)lim->count / ((double)lim->window_s * 1000.0);
  double t = e->tokens + (double)(now_ms > e->last_ms ? now_ms - e->last_ms : 0) * per_ms;
  return t > (double)lim->burst ? (double)lim->burst : t;
}

/* The least recently used slot, out of its hash chain, ready for reuse. */
static uint32_t evict(stripe_t *st, const gw_rate_t *lim, uint64_t now_ms) {
  uint32_t i = st->tail;
  slot_t *e = &st->s[i];
  /* Its own limit is not known here; judged by the caller's, a key that
   * has been idle this long has almost always refilled. */
  if (refilled(e, lim, now_ms) < (double)lim->burst) st->evicted_busy++;
  lru_unlink(st, i);
  uint32_t *pp = &st->index[e->h & (st->nindex - 1)];
  while (*pp != i) pp = &st->s[*pp].chain;
  *pp = e->chain;
  return i;
}

gw_rate_verdict_t ratelimit_take(gw_ratelimit_t *t, const gw_rate_t *lim, const char *scope,
                                 size_t scope_len, const char *key, size_t key_len,
                                 uint64_t now_ms) {
  gw_rate_verdict_t v = {1, 0, 0};
  if (!t || !lim->count) return v;
  sip_t s;
  sip_init(&s, t->k0, t->k1);
  uint64_t n = scope_len;
  sip_update(&s, &n, sizeof n); /* length first: ("ab","c") and ("a","bc") differ */
  sip_update(&s, scope, scope_len);
  sip_update(&s, key, key_len);
  uint64_t h = sip_final(&s);
  stripe_t *st = &t->st[h % STRIPES];
  h /= STRIPES; /* the bits that chose the stripe say nothing inside it */
  pthread_mutex_lock(&st->mu);
  uint32_t i = st->index[h & (st->nindex - 1)];
  while (i != NIL && st->s[i].h != h) i = st->s[i].chain;
  slot_t *e;
  if (i == NIL) {
    i = st->used < st->cap ? st->used++ : evict(st, lim, now_ms);
    e = &st->s[i];
    e->h = h;
    e->tokens = (double)lim->burst;
    e->last_ms = now_ms;
    uint32_t *head = &st->index[h & (st->nindex - 1)];
    e->chain = *head;
    *head = i;
  } else {
    e = &st->s[i];
    lru_unlink(st, i);
    e->tokens = refilled(e, lim, now_ms);
    if (now_ms > e->last_ms) e->last_ms = now_ms;
  }
  lru_front(st, i);
  if (e->tokens >= 1.0) {
    e->tokens -= 1.0;
  } else {
    v.allowed = 0;
    double per_s = (double)lim->count / (double)lim->window_s;
    double wait = (1.0 - e->tokens) / per_s;
    uint32_t w = (uint32_t)wait;
    if ((double)w < wait) w++;
    v.retry_after = w ? w : 1;
  }
  v.remaining = (uint32_t)e->tokens;
  pthread_mutex_unlock(&st->mu);
  return v;
}

/* evicted 0: keys held; 1: busy evictions. */
static uint64_t sum_stripes(gw_ratelimit_t *t, int evicted) {
  uint64_t n = 0;
  for (int i = 0; t && i < STRIPES; i++) {
    pthread_mutex_lock(&t->st[i].mu);
    n += evicted ? t->st[i].evicted_busy : t->st[i].used;
    pthread_mutex_unlock(&t->st[i].mu);
  }
  return n;
}

size_t ratelimit_keys(gw_ratelimit_t *t) { return (size_t)sum_stripes(t, 0); }

uint64_t ratelimit_evicted_busy(gw_ratelimit_t *t) { return sum_stripes(t, 1); }
