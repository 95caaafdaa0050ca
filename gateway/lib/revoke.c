/* revoke: the revocation store; see revoke.h. */
#include "revoke.h"
#include "hex.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rnode {
  struct rnode *next;       /* in its bucket */
  struct rnode *next_id;    /* in its id bucket */
  struct rnode *prev_all, *next_all; /* every entry, oldest first (listing, sweep) */
  uint64_t hash;
  unsigned mask;            /* which fields are named */
  gw_revocation_t e;        /* strings point into the node's own allocation */
} rnode_t;

struct gw_revoke {
  pthread_rwlock_t lock;
  rnode_t **buckets, **idbuckets; /* by claims, by id; both nbuckets long */
  size_t nbuckets;          /* power of two */
  size_t count;
  size_t per_mask[1u << GW_REV_NFIELDS]; /* entries naming exactly these fields */
  rnode_t head;             /* sentinel of the all-entries list */
  uint64_t seed;
};

static const char *const field_names[GW_REV_NFIELDS] = {"iss", "sub", "client_id", "jti"};

const char *revoke_field_name(int k) { return field_names[k]; }

/* FNV-1a over the mask and each named value with its length, seeded per
 * process so that bucket positions cannot be predicted. */
static uint64_t key_hash(uint64_t seed, unsigned mask, const char *const *f, const size_t *len) {
  uint64_t h = 1469598103934665603ull ^ seed;
  h = (h ^ mask) * 1099511628211ull;
  for (int k = 0; k < GW_REV_NFIELDS; k++) {
    if (!(mask & (1u << k))) continue;
    uint64_t n = len[k];
    for (int b = 0; b < 8; b++) h = (h ^ ((n >> (8 * b)) & 0xff)) * 1099511628211ull;
    const unsigned char *p = (const unsigned char *)f[k];
    for (size_t i = 0; i < len[k]; i++) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h ^ (h >> 29);
}

static size_t id_slot(const gw_revoke_t *s, const char *id) {
  uint64_t h = 1469598103934665603ull ^ s->seed;
  for (; *id; id++) h = (h ^ (unsigned char)*id) * 1099511628211ull;
  return (size_t)(h ^ (h >> 29)) & (s->nbuckets - 1);
}

gw_revoke_t *revoke_new(void) {
  gw_revoke_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->nbuckets = 1024;
  s->buckets = calloc(s->nbuckets, sizeof *s->buckets);
  s->idbuckets = calloc(s->nbuckets, sizeof *s->idbuckets);
  if (!s->buckets || !s->idbuckets || pthread_rwlock_init(&s->lock, NULL) != 0) {
    free(s->buckets);
    free(s->idbuckets);
    free(s);
    return NULL;
  }
  s->head.next_all = s->head.prev_all = &s->head;
  if (RAND_bytes((unsigned char *)&s->seed, sizeof s->seed) != 1) s->seed = (uint64_t)(uintptr_t)s;
  return s;
}

void revoke_free(gw_revoke_t *s) {
  if (!s) return;
  rnode_t *n = s->head.next_all;
  while (n != &s->head) {
    rnode_t *next = n->next_all;
    free(n);
    n = next;
  }
  free(s->buckets);
  free(s->idbuckets);
  pthread_rwlock_destroy(&s->lock);
  free(s);
}

static void grow(gw_revoke_t *s) {
  size_t nb = s->nbuckets * 2;
  rnode_t **b = calloc(nb, sizeof *b), **ib = calloc(nb, sizeof *ib);
  if (!b || !ib) { /* longer chains, still correct */
    free(b);
    free(ib);
    return;
  }
  free(s->buckets);
  free(s->idbuckets);
  s->buckets = b;
  s->idbuckets = ib;
  s->nbuckets = nb;
  for (rnode_t *n = s->head.next_all; n != &s->head; n = n->next_all) {
    n->next = b[n->hash & (nb - 1)];
    b[n->hash & (nb - 1)] = n;
    size_t k = id_slot(s, n->e.id);
    n->next_id = ib[k];
    ib[k] = n;
  }
}

static void unlink_node(gw_revoke_t *s, rnode_t *n) {
  rnode_t **pp = &s->buckets[n->hash & (s->nbuckets - 1)];
  while (*pp && *pp != n) pp = &(*pp)->next;
  if (*pp) *pp = n->next;
  pp = &s->idbuckets[id_slot(s, n->e.id)];
  while (*pp && *pp != n) pp = &(*pp)->next_id;
  if (*pp) *pp = n->next_id;
  n->prev_all->next_all = n->next_all;
  n->next_all->prev_all = n->prev_all;
  s->per_mask[n->mask]--;
  s->count--;
}

static rnode_t *find_id(gw_revoke_t *s, const char *id) {
  for (rnode_t *n = s->idbuckets[id_slot(s, id)]; n; n = n->next_id)
    if (strcmp(n->e.id, id) == 0) return n;
  return NULL;
}

int revoke_add(gw_revoke_t *s, const gw_revocation_t *e, int64_t retain_s, gw_revocation_t *out) {
  unsigned mask = 0;
  size_t total = 0;
  for (int k = 0; k < GW_REV_NFIELDS; k++) {
    if (!e->f[k]) continue;
    if (e->len[k] == 0 || e->len[k] > GW_REV_MAX_FIELD) return -1;
    mask |= 1u << k;
    total += e->len[k] + 1;
  }
  if (!mask) return -1;
  rnode_t *n = calloc(1, sizeof *n + total);
  if (!n) return -1;
  n->e = *e;
  n->mask = mask;
  char *p = (char *)(n + 1);
  for (int k = 0; k < GW_REV_NFIELDS; k++) {
    if (!e->f[k]) continue;
    memcpy(p, e->f[k], e->len[k]);
    p[e->len[k]] = '\0';
    n->e.f[k] = p;
    p += e->len[k] + 1;
  }
  if (!n->e.id[0]) {
    unsigned char r[8];
    if (RAND_bytes(r, sizeof r) != 1) {
      free(n);
      return -1;
    }
    gw_hex(n->e.id, r, sizeof r);
  }
  n->e.id[sizeof n->e.id - 1] = '\0';
  if (!n->e.expires)
    n->e.expires = (n->e.before > n->e.created ? n->e.before : n->e.created) + retain_s;
  n->hash = key_hash(s->seed, mask, n->e.f, n->e.len);
  pthread_rwlock_wrlock(&s->lock);
  rnode_t *old = find_id(s, n->e.id);
  if (old) {
    unlink_node(s, old);
    free(old);
  }
  if (s->count >= s->nbuckets) grow(s);
  rnode_t **b = &s->buckets[n->hash & (s->nbuckets - 1)];
  n->next = *b;
  *b = n;
  size_t slot = id_slot(s, n->e.id);
  n->next_id = s->idbuckets[slot];
  s->idbuckets[slot] = n;
  n->prev_all = s->head.prev_all;
  n->next_all = &s->head;
  s->head.prev_all->next_all = n;
  s->head.prev_all = n;
  s->per_mask[mask]++;
  s->count++;
  if (out) {
    *out = n->e;
    for (int k = 0; k < GW_REV_NFIELDS; k++) out->f[k] = NULL; /* the node may go any time */
  }
  pthread_rwlock_unlock(&s->lock);
  return 0;
}

int revoke_remove(gw_revoke_t *s, const char *id) {
  pthread_rwlock_wrlock(&s->lock);
  rnode_t *n = find_id(s, id);
  if (n) unlink_node(s, n);
  pthread_rwlock_unlock(&s->lock);
  free(n);
  return n != NULL;
}

static int fields_equal(const rnode_t *n, unsigned mask, const gw_revoke_claims_t *c) {
  for (int k = 0; k < GW_REV_NFIELDS; k++)
    if ((mask & (1u << k)) &&
        (n->e.len[k] != c->len[k] || memcmp(n->e.f[k], c->f[k], c->len[k]) != 0))
      return 0;
  return 1;
}

int revoke_check(gw_revoke_t *s, const gw_revoke_claims_t *c, int64_t now) {
  unsigned have = 0;
  for (int k = 0; k < GW_REV_NFIELDS; k++)
    if (c->f[k]) have |= 1u << k;
  int hit = 0;
  pthread_rwlock_rdlock(&s->lock);
  if (s->count) {
    for (unsigned mask = 1; mask < (1u << GW_REV_NFIELDS) && !hit; mask++) {
      if (!s->per_mask[mask] || (mask & have) != mask) continue;
      uint64_t h = key_hash(s->seed, mask, c->f, c->len);
      for (rnode_t *n = s->buckets[h & (s->nbuckets - 1)]; n && !hit; n = n->next) {
        if (n->hash != h || n->mask != mask || n->e.expires <= now) continue;
        if (!fields_equal(n, mask, c)) continue;
        hit = !c->has_iat || c->iat < n->e.before;
      }
    }
  }
  pthread_rwlock_unlock(&s->lock);
  return hit;
}

size_t revoke_sweep(gw_revoke_t *s, int64_t now) {
  size_t dropped = 0;
  pthread_rwlock_wrlock(&s->lock);
  rnode_t *n = s->head.next_all;
  while (n != &s->head) {
    rnode_t *next = n->next_all;
    if (n->e.expires <= now) {
      unlink_node(s, n);
      free(n);
      dropped++;
    }
    n = next;
  }
  pthread_rwlock_unlock(&s->lock);
  return dropped;
}

size_t revoke_count(gw_revoke_t *s) {
  pthread_rwlock_rdlock(&s->lock);
  size_t n = s->count;
  pthread_rwlock_unlock(&s->lock);
  return n;
}

void revoke_each(gw_revoke_t *s, int64_t now, void (*fn)(void *ud, const gw_revocation_t *e),
                 void *ud) {
  pthread_rwlock_rdlock(&s->lock);
  for (rnode_t *n = s->head.next_all; n != &s->head; n = n->next_all)
    if (n->e.expires > now) fn(ud, &n->e);
  pthread_rwlock_unlock(&s->lock);
}

json_t *revoke_entry_json(const gw_revocation_t *e) {
  json_t *o = json_object();
  if (!o) return NULL;
  json_object_set_new(o, "id", json_string(e->id));
  for (int k = 0; k < GW_REV_NFIELDS; k++)
    if (e->f[k]) json_object_set_new(o, revoke_field_name(k), json_stringn(e->f[k], e->len[k]));
  json_object_set_new(o, "before", json_integer(e->before));
  json_object_set_new(o, "created", json_integer(e->created));
  json_object_set_new(o, "expires", json_integer(e->expires));
  return o;
}

int revoke_entry_from_json(json_t *o, gw_revocation_t *e) {
  memset(e, 0, sizeof *e);
  if (!json_is_object(o)) return -1;
  const char *key;
  json_t *v;
  int have_id = 0, times = 0;
  json_object_foreach(o, key, v) {
    int k = 0;
    while (k < GW_REV_NFIELDS && strcmp(key, revoke_field_name(k)) != 0) k++;
    if (k < GW_REV_NFIELDS) {
      if (!json_is_string(v)) return -1;
      e->f[k] = json_string_value(v);
      e->len[k] = json_string_length(v);
    } else if (strcmp(key, "id") == 0) {
      const char *id = json_string_value(v);
      if (!id || strlen(id) != sizeof e->id - 1) return -1;
      for (const char *q = id; *q; q++)
        if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))) return -1;
      memcpy(e->id, id, sizeof e->id);
      have_id = 1;
    } else if (json_is_integer(v) && json_integer_value(v) >= 0 &&
               (strcmp(key, "before") == 0 || strcmp(key, "created") == 0 ||
                strcmp(key, "expires") == 0)) {
      int64_t t = (int64_t)json_integer_value(v);
      if (key[0] == 'b') e->before = t, times |= 1;
      else if (key[0] == 'c') e->created = t, times |= 2;
      else e->expires = t, times |= 4;
    } else {
      return -1;
    }
  }
  return have_id && times == 7 && e->expires > 0 ? 0 : -1;
}
