/* m2m_limits.c: the failure table of the token issuer. See m2m_limits.h.
 * Entries live in one array (indexes, not pointers, so that it can grow),
 * chained per hash bucket and on an LRU list. */
#include "m2m_limits.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "m2m.h"

#define FT_BUCKETS M2M_FT_BUCKETS
#define FT_NONE UINT32_MAX

void m2m_limits_init(m2m_limits_t *ft, unsigned max_failures, int64_t lockout_s) {
  memset(ft, 0, sizeof *ft);
  pthread_mutex_init(&ft->mu, NULL);
  ft->max_failures = max_failures;
  ft->lockout_s = lockout_s < 1 ? 1 : lockout_s;
  ft->free_head = ft->head = ft->tail = FT_NONE;
  for (uint32_t i = 0; i < FT_BUCKETS; i++) ft->buckets[i] = FT_NONE;
}

void m2m_limits_destroy(m2m_limits_t *ft) {
  pthread_mutex_destroy(&ft->mu);
  free(ft->e);
}

static uint32_t ft_bucket(const unsigned char *key) {
  return ((uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16) % FT_BUCKETS;
}

static uint32_t ft_find(m2m_limits_t *ft, const unsigned char *key) {
  for (uint32_t i = ft->buckets[ft_bucket(key)]; i != FT_NONE; i = ft->e[i].hnext)
    if (memcmp(ft->e[i].key, key, 16) == 0) return i;
  return FT_NONE;
}

static void lru_unlink(m2m_limits_t *ft, uint32_t i) {
  m2m_ft_entry_t *x = &ft->e[i];
  if (x->prev != FT_NONE) ft->e[x->prev].next = x->next;
  else ft->head = x->next;
  if (x->next != FT_NONE) ft->e[x->next].prev = x->prev;
  else ft->tail = x->prev;
  x->prev = x->next = FT_NONE;
}

static void lru_push_head(m2m_limits_t *ft, uint32_t i) {
  m2m_ft_entry_t *x = &ft->e[i];
  x->prev = FT_NONE;
  x->next = ft->head;
  if (ft->head != FT_NONE) ft->e[ft->head].prev = i;
  ft->head = i;
  if (ft->tail == FT_NONE) ft->tail = i;
}

static void ft_touch(m2m_limits_t *ft, uint32_t i) {
  if (ft->head == i) return;
  lru_unlink(ft, i);
  lru_push_head(ft, i);
}

static void ft_remove(m2m_limits_t *ft, uint32_t i) {
  uint32_t *pp = &ft->buckets[ft_bucket(ft->e[i].key)];
  while (*pp != i) pp = &ft->e[*pp].hnext;
  *pp = ft->e[i].hnext;
  lru_unlink(ft, i);
  ft->e[i].hnext = ft->free_head;
  ft->free_head = i;
  ft->live--;
}

/* Finds or creates the entry for key; evicts the least recently touched
 * one when the table is full. FT_NONE only when out of memory. */
static uint32_t ft_get(m2m_limits_t *ft, const unsigned char *key) {
  uint32_t i = ft_find(ft, key);
  if (i != FT_NONE) return i;
  if (ft->free_head != FT_NONE) {
    i = ft->free_head;
    ft->free_head = ft->e[i].hnext;
  } else if (ft->n < ft->cap) {
    i = ft->n++;
  } else if (ft->cap < GW_M2M_MAX_TRACKED) {
    uint32_t ncap = ft->cap ? ft->cap * 2 : 64;
    if (ncap > GW_M2M_MAX_TRACKED) ncap = GW_M2M_MAX_TRACKED;
    m2m_ft_entry_t *ne = realloc(ft->e, ncap * sizeof *ne);
    if (!ne) return FT_NONE;
    ft->e = ne;
    ft->cap = ncap;
    i = ft->n++;
  } else {
    ft_remove(ft, ft->tail);
    i = ft->free_head;
    ft->free_head = ft->e[i].hnext;
  }
  m2m_ft_entry_t *x = &ft->e[i];
  memset(x, 0, sizeof *x);
  memcpy(x->key, key, 16);
  uint32_t b = ft_bucket(key);
  x->hnext = ft->buckets[b];
  ft->buckets[b] = i;
  x->prev = x->next = FT_NONE;
  lru_push_head(ft, i);
  ft->live++;
  return i;
}

/* Lock and window expiry, applied lazily whenever an entry is looked at. */
static void ft_refresh(m2m_ft_entry_t *x, int64_t now, int64_t lockout_s) {
  if (x->locked_until && x->locked_until <= now) {
    x->locked_until = 0;
    x->count = 0;
  }
  if (!x->locked_until && x->count && now - x->window_start >= lockout_s) x->count = 0;
}

static unsigned limit_of(const m2m_limits_t *ft, const m2m_limit_key_t *k) {
  return ft->max_failures * (k->factor ? k->factor : 1);
}

unsigned m2m_limits_begin(m2m_limits_t *ft, const m2m_limit_key_t *keys, size_t nkeys,
                          int64_t now, size_t *which) {
  unsigned retry = 0;
  pthread_mutex_lock(&ft->mu);
  for (size_t k = 0; k < nkeys && !retry; k++) {
    if (!keys[k].used) continue;
    uint32_t i = ft_find(ft, keys[k].key);
    if (i == FT_NONE) continue;
    m2m_ft_entry_t *x = &ft->e[i];
    ft_refresh(x, now, ft->lockout_s);
    if (x->locked_until) {
      retry = (unsigned)(x->locked_until - now);
      *which = k;
    } else if (x->count > 0 && x->count + x->inflight >= limit_of(ft, &keys[k])) {
      /* The last allowed attempts are being checked right now. A key
       * without failures is never refused for concurrency: many honest
       * clients may share one egress address. */
      retry = 1;
      *which = k;
    }
  }
  if (!retry) {
    for (size_t k = 0; k < nkeys; k++) {
      if (!keys[k].used) continue;
      uint32_t i = ft_get(ft, keys[k].key);
      if (i != FT_NONE) ft->e[i].inflight++;
    }
  }
  pthread_mutex_unlock(&ft->mu);
  return retry;
}

unsigned m2m_limits_end(m2m_limits_t *ft, const m2m_limit_key_t *keys, size_t nkeys, int64_t now,
                        int failed) {
  unsigned locked = 0;
  pthread_mutex_lock(&ft->mu);
  for (size_t k = 0; k < nkeys; k++) {
    if (!keys[k].used) continue;
    uint32_t i = failed ? ft_get(ft, keys[k].key) : ft_find(ft, keys[k].key);
    if (i == FT_NONE) continue;
    m2m_ft_entry_t *x = &ft->e[i];
    if (x->inflight) x->inflight--;
    ft_refresh(x, now, ft->lockout_s);
    if (failed) {
      if (x->locked_until) continue; /* already locked by a concurrent attempt */
      if (x->count == 0) x->window_start = now;
      x->count++;
      if (x->count >= limit_of(ft, &keys[k])) {
        x->locked_until = now + ft->lockout_s;
        locked |= 1u << k;
      }
      ft_touch(ft, i);
    } else if (k == 0) {
      x->count = 0;
      x->locked_until = 0;
    }
    if (!x->count && !x->inflight && !x->locked_until) ft_remove(ft, i);
  }
  pthread_mutex_unlock(&ft->mu);
  return locked;
}

void m2m_limits_seed(m2m_limits_t *ft, const m2m_limit_key_t *key, unsigned count,
                     unsigned locked_for_s, int64_t now) {
  if (!key->used || (!count && !locked_for_s)) return;
  pthread_mutex_lock(&ft->mu);
  uint32_t i = ft_get(ft, key->key);
  if (i != FT_NONE) {
    m2m_ft_entry_t *x = &ft->e[i];
    ft_refresh(x, now, ft->lockout_s);
    if (locked_for_s && now + locked_for_s > x->locked_until) x->locked_until = now + locked_for_s;
    if (count > x->count) {
      if (!x->count) x->window_start = now;
      x->count = count;
    }
    ft_touch(ft, i);
  }
  pthread_mutex_unlock(&ft->mu);
}

void m2m_limits_inherit(m2m_limits_t *t, m2m_limits_t *prev) {
  if (!t || !prev || t == prev) return;
  pthread_mutex_lock(&prev->mu);
  pthread_mutex_lock(&t->mu);
  /* Oldest first, so that the LRU order carries over. */
  for (uint32_t i = prev->tail; i != FT_NONE; i = prev->e[i].prev) {
    const m2m_ft_entry_t *x = &prev->e[i];
    if (!x->count && !x->locked_until) continue;
    uint32_t j = ft_get(t, x->key);
    if (j == FT_NONE) break;
    t->e[j].count = x->count;
    t->e[j].window_start = x->window_start;
    t->e[j].locked_until = x->locked_until;
    ft_touch(t, j);
  }
  pthread_mutex_unlock(&t->mu);
  pthread_mutex_unlock(&prev->mu);
}

unsigned m2m_limits_locked(m2m_limits_t *t, const m2m_limit_key_t *key, int64_t now) {
  unsigned retry = 0;
  pthread_mutex_lock(&t->mu);
  uint32_t i = ft_find(t, key->key);
  if (i != FT_NONE) {
    ft_refresh(&t->e[i], now, t->lockout_s);
    if (t->e[i].locked_until) retry = (unsigned)(t->e[i].locked_until - now);
  }
  pthread_mutex_unlock(&t->mu);
  return retry;
}

/* SHA-256 of tag (with its NUL, so that an id and an address never share a
 * key) then data, first 16 bytes. */
static void digest_key(const char *tag, const void *data, size_t n, m2m_limit_key_t *out) {
  unsigned char d[32];
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned int len = 0;
  int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(c, tag, strlen(tag) + 1) == 1 && EVP_DigestUpdate(c, data, n) == 1 &&
           EVP_DigestFinal_ex(c, d, &len) == 1;
  EVP_MD_CTX_free(c);
  /* Without the tag, but still a stable key. */
  if (!ok && (EVP_Digest(data, n, d, &len, EVP_sha256(), NULL) != 1 || len != 32))
    memset(d, 0, sizeof d);
  memcpy(out->key, d, 16);
  out->used = 1;
  out->factor = 1;
}

void m2m_limit_key_client(const char *id, size_t n, m2m_limit_key_t *out) {
  digest_key("client", id, n, out);
}

/* The bytes an address counts by (*n 0: not an address, use the text).
 * By /64 for IPv6: one host usually owns a whole /64. */
static void addr_canon(const char *addr, unsigned char buf[17], size_t *n) {
  char tmp[INET6_ADDRSTRLEN + 8];
  size_t al = strlen(addr);
  *n = 0;
  if (al >= 2 && addr[0] == '[' && addr[al - 1] == ']') addr++, al -= 2;
  if (al >= sizeof tmp) return;
  memcpy(tmp, addr, al);
  tmp[al] = '\0';
  char *pct = strchr(tmp, '%'); /* zone id */
  if (pct) *pct = '\0';
  struct in_addr v4;
  struct in6_addr v6;
  if (inet_pton(AF_INET, tmp, &v4) == 1) {
    buf[0] = 4;
    memcpy(buf + 1, &v4, 4);
    *n = 5;
  } else if (inet_pton(AF_INET6, tmp, &v6) == 1) {
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      buf[0] = 4;
      memcpy(buf + 1, v6.s6_addr + 12, 4);
      *n = 5;
    } else {
      buf[0] = 6;
      memcpy(buf + 1, v6.s6_addr, 8);
      *n = 9;
    }
  }
}

void m2m_limit_key_addr(const char *addr, m2m_limit_key_t *out) {
  unsigned char buf[17];
  size_t n;
  addr_canon(addr, buf, &n);
  if (n)
    digest_key("addr", buf, n, out);
  else
    digest_key("addr", addr, strlen(addr), out);
  out->factor = GW_M2M_ADDR_FACTOR;
}

/* The address's bytes (or text) first, length-prefixed, then the id: no
 * two different pairs share the input. */
void m2m_limit_key_pair(const char *id, size_t n, const char *addr, m2m_limit_key_t *out) {
  unsigned char buf[17 + 256 + 1];
  size_t an;
  addr_canon(addr ? addr : "", buf + 1, &an);
  if (!an) {
    an = strnlen(addr ? addr : "", 256);
    memcpy(buf + 1, addr ? addr : "", an);
  }
  buf[0] = (unsigned char)an;
  unsigned char *all = malloc(1 + an + n);
  if (!all) {
    digest_key("pair", id, n, out); /* still a key of this id, just coarser */
    return;
  }
  memcpy(all, buf, 1 + an);
  memcpy(all + 1 + an, id, n);
  digest_key("pair", all, 1 + an + n, out);
  free(all);
}
