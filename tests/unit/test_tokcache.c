/* Unit tests for the per-worker verified-token cache: hits and misses,
 * collision safety under a forced constant hash, expiry, key set
 * generation changes, context separation, and both bounds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "tokcache.h"

static const uint64_t gens[3] = {7, 8, 9};

static gw_tokcache_val_t val(uint32_t issuer, int64_t exp, const char *sub) {
  gw_tokcache_val_t v;
  memset(&v, 0, sizeof v);
  v.issuer = issuer;
  v.kind = 1;
  v.scopes = 0x5;
  v.exp = exp;
  v.generation = gens[issuer];
  v.nstrs = 4;
  v.strs[0] = sub;
  v.lens[0] = strlen(sub);
  v.strs[1] = "client-1";
  v.lens[1] = 8;
  v.strs[2] = ""; /* present but empty */
  v.lens[2] = 0;
  v.strs[3] = NULL; /* absent */
  return v;
}

/* The old one-call form, through a key made for the call. */
static const gw_tokcache_val_t *kget(gw_tokcache_t *c, const char *tok, size_t len, uint32_t ctx,
                                     int64_t now, const uint64_t *g, size_t n) {
  gw_tokcache_key_t k = tokcache_key(c, tok, len, ctx);
  return tokcache_get(c, &k, now, g, n);
}

static int kput(gw_tokcache_t *c, const char *tok, size_t len, uint32_t ctx, int64_t now,
                const gw_tokcache_val_t *v) {
  gw_tokcache_key_t k = tokcache_key(c, tok, len, ctx);
  return tokcache_put(c, &k, now, v);
}

static const gw_tokcache_val_t *get(gw_tokcache_t *c, const char *tok, int64_t now) {
  return kget(c, tok, strlen(tok), 0, now, gens, 3);
}

static int put(gw_tokcache_t *c, const char *tok, int64_t now, gw_tokcache_val_t v) {
  return kput(c, tok, strlen(tok), 0, now, &v);
}

static uint64_t const_hash(const char *p, size_t n, uint64_t seed) {
  (void)p;
  (void)n;
  (void)seed;
  return 42;
}

static void test_key(void) {
  gw_tokcache_t *c = tokcache_new(100, 1 << 20);
  CHECK(c != NULL, "new (key)");
  if (!c) return;
  /* One key serves the miss and the put after it: the put's entry is
   * found by a key made afresh. */
  gw_tokcache_key_t k = tokcache_key(c, "tok-k", 5, 3);
  CHECK(tokcache_get(c, &k, 1000, gens, 3) == NULL, "keyed miss");
  gw_tokcache_val_t kv = val(0, 2000, "kate");
  CHECK_INT(tokcache_put(c, &k, 1000, &kv), 0, "keyed put");
  CHECK(kget(c, "tok-k", 5, 3, 1000, gens, 3) != NULL, "fresh key finds the keyed put");
  CHECK(kget(c, "tok-k", 5, 2, 1000, gens, 3) == NULL, "other ctx, other key");
  CHECK(tokcache_key(c, "tok-k", 5, 3).hash != tokcache_key(c, "tok-k", 5, 2).hash,
        "ctx is part of the hash");
  tokcache_free(c);
}

static void test_basic(void) {
  gw_tokcache_t *c = tokcache_new(100, 1 << 20);
  CHECK(c != NULL, "new");
  CHECK(get(c, "tok-a", 1000) == NULL, "empty cache misses");
  CHECK_INT(put(c, "tok-a", 1000, val(1, 2000, "alice")), 0, "put");
  const gw_tokcache_val_t *v = get(c, "tok-a", 1000);
  CHECK(v != NULL, "hit");
  if (v) {
    CHECK_INT(v->issuer, 1, "issuer kept");
    CHECK_INT(v->kind, 1, "kind kept");
    CHECK_INT(v->scopes, 5, "scopes kept");
    CHECK_INT(v->exp, 2000, "exp kept");
    CHECK_INT(v->nstrs, 4, "nstrs kept");
    CHECK_STR(v->strs[0], "alice", "string copied");
    CHECK_INT(v->lens[0], 5, "length kept");
    CHECK_STR(v->strs[1], "client-1", "second string");
    CHECK(v->strs[2] && v->strs[2][0] == '\0' && v->lens[2] == 0, "empty string kept as empty");
    CHECK(v->strs[3] == NULL, "absent string kept as absent");
  }
  char buf[8] = "alice";
  gw_tokcache_val_t src = val(0, 2000, buf);
  put(c, "tok-b", 1000, src);
  memcpy(buf, "xxxxx", 5);
  v = get(c, "tok-b", 1000);
  CHECK(v && strcmp(v->strs[0], "alice") == 0, "put copies the strings");
  CHECK(get(c, "tok-", 1000) == NULL, "prefix of a cached token misses");
  CHECK(get(c, "tok-aa", 1000) == NULL, "extension of a cached token misses");
  CHECK(kget(c, "tok-a", 5, 1, 1000, gens, 3) == NULL, "other context misses");
  gw_tokcache_val_t ctxv = val(2, 2000, "ctx-one");
  kput(c, "tok-a", 5, 1, 1000, &ctxv);
  v = kget(c, "tok-a", 5, 1, 1000, gens, 3);
  CHECK(v && strcmp(v->strs[0], "ctx-one") == 0, "context 1 entry");
  v = get(c, "tok-a", 1000);
  CHECK(v && strcmp(v->strs[0], "alice") == 0, "context 0 entry unaffected");

  /* Replace with a value that points into the entry being replaced. */
  v = get(c, "tok-a", 1000);
  gw_tokcache_val_t again = *v;
  again.exp = 3000;
  CHECK_INT(kput(c, "tok-a", 5, 0, 1000, &again), 0, "re-put from a returned value");
  v = get(c, "tok-a", 2500);
  CHECK(v && v->exp == 3000 && strcmp(v->strs[0], "alice") == 0, "replaced in place");

  gw_tokcache_stats_t st;
  tokcache_stats(c, &st);
  CHECK_INT(st.entries, 3, "three entries");
  CHECK_INT(st.hits, 6, "hit counter");
  CHECK_INT(st.misses, 4, "miss counter");
  gw_tokcache_val_t many = val(0, 2000, "x");
  many.nstrs = GW_TOKCACHE_MAX_STRS + 1;
  CHECK_INT(kput(c, "tok-m", 5, 0, 1000, &many), -1, "too many strings refused");
  tokcache_clear(c);
  tokcache_stats(c, &st);
  CHECK(st.entries == 0 && st.bytes == 0, "clear empties");
  CHECK(get(c, "tok-a", 1000) == NULL, "miss after clear");
  tokcache_free(c);
  tokcache_free(NULL);
  CHECK(tokcache_new(0, 100) == NULL && tokcache_new(10, 0) == NULL, "zero bounds refused");
}

static void test_expiry_and_generation(void) {
  gw_tokcache_t *c = tokcache_new(10, 1 << 16);
  put(c, "t", 1000, val(0, 1010, "s"));
  CHECK(get(c, "t", 1009) != NULL, "hit before exp");
  CHECK(get(c, "t", 1010) == NULL, "miss at exp");
  CHECK(get(c, "t", 1009) == NULL, "expired entry was dropped");
  CHECK_INT(put(c, "t", 1010, val(0, 1010, "s")), -1, "already expired: not stored");

  put(c, "g", 1000, val(1, 2000, "s"));
  uint64_t newer[3] = {7, 9, 9};
  CHECK(kget(c, "g", 1, 0, 1000, newer, 3) == NULL, "issuer key set changed: miss");
  CHECK(get(c, "g", 1000) == NULL, "stale entry was dropped");
  put(c, "g", 1000, val(1, 2000, "s"));
  uint64_t other[3] = {99, 8, 99};
  CHECK(kget(c, "g", 1, 0, 1000, other, 3) != NULL,
        "other issuers' generations do not matter");
  CHECK(kget(c, "g", 1, 0, 1000, gens, 1) == NULL, "issuer out of range: miss");
  put(c, "g", 1000, val(1, 2000, "s"));
  CHECK(kget(c, "g", 1, 0, 1000, NULL, 0) == NULL, "no generations: miss");
  gw_tokcache_stats_t st;
  tokcache_stats(c, &st);
  CHECK_INT(st.expired, 4, "expired counter");
  tokcache_free(c);
}

static void test_collisions(void) {
  gw_tokcache_t *c = tokcache_new(50, 1 << 20);
  tokcache_set_hash(c, const_hash);
  char tok[32];
  for (int i = 0; i < 40; i++) {
    snprintf(tok, sizeof tok, "token-%d", i);
    char sub[16];
    snprintf(sub, sizeof sub, "sub-%d", i);
    put(c, tok, 1000, val(0, 5000, sub));
  }
  int right = 0;
  for (int i = 0; i < 40; i++) {
    snprintf(tok, sizeof tok, "token-%d", i);
    char sub[16];
    snprintf(sub, sizeof sub, "sub-%d", i);
    const gw_tokcache_val_t *v = get(c, tok, 1000);
    right += v && strcmp(v->strs[0], sub) == 0;
  }
  CHECK_INT(right, 40, "all hashes equal: every token still gets its own value");
  CHECK(get(c, "token-40", 1000) == NULL, "same hash, different token: miss");
  CHECK(get(c, "token-1x", 1000) == NULL, "same hash, same length prefix: miss");
  /* Removal from the middle of a long chain keeps the rest reachable. */
  put(c, "token-20", 1000, val(0, 1001, "short"));
  CHECK(get(c, "token-20", 1001) == NULL, "expired in the middle of a chain");
  CHECK(get(c, "token-19", 1000) && get(c, "token-21", 1000), "chain neighbours still hit");
  tokcache_set_hash(c, NULL);
  CHECK(get(c, "token-19", 1000) == NULL, "changing the hash clears");
  tokcache_free(c);
}

static void test_bounds(void) {
  gw_tokcache_t *c = tokcache_new(3, 1 << 20);
  put(c, "a", 0, val(0, 100, "1"));
  put(c, "b", 0, val(0, 100, "2"));
  put(c, "c", 0, val(0, 100, "3"));
  CHECK(get(c, "a", 0) != NULL, "a used: now most recent");
  put(c, "d", 0, val(0, 100, "4"));
  gw_tokcache_stats_t st;
  tokcache_stats(c, &st);
  CHECK_INT(st.entries, 3, "entry bound holds");
  CHECK_INT(st.evictions, 1, "one eviction");
  CHECK(get(c, "b", 0) == NULL, "least recently used (b) evicted");
  CHECK(get(c, "a", 0) && get(c, "c", 0) && get(c, "d", 0), "the others stay");
  tokcache_free(c);

  /* Byte bound: measure one entry, then allow two and a half of them. */
  c = tokcache_new(1000, 1 << 20);
  char big[600];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  put(c, "k0", 0, val(0, 100, big));
  tokcache_stats(c, &st);
  size_t one = st.bytes;
  CHECK(one > 600 && one < 2000, "entry size accounts for token, strings and header");
  tokcache_free(c);
  c = tokcache_new(1000, one * 5 / 2);
  int stored = 0;
  for (int i = 0; i < 10; i++) {
    char k[16];
    snprintf(k, sizeof k, "k%d", i);
    stored += put(c, k, 0, val(0, 100, big)) == 0;
    tokcache_stats(c, &st);
    if (st.bytes > one * 5 / 2) break;
  }
  tokcache_stats(c, &st);
  CHECK_INT(stored, 10, "every put stored (by evicting)");
  CHECK(st.bytes <= one * 5 / 2, "byte bound holds");
  CHECK_INT(st.entries, 2, "two entries fit");
  CHECK(get(c, "k9", 0) && get(c, "k8", 0) && !get(c, "k7", 0), "newest kept, older evicted");
  tokcache_free(c);

  c = tokcache_new(10, 100);
  CHECK_INT(put(c, "x", 0, val(0, 100, big)), -1, "entry larger than max_bytes refused");
  tokcache_stats(c, &st);
  CHECK_INT(st.entries, 0, "nothing stored");
  tokcache_free(c);
}

static void test_churn(void) {
  /* Many puts and gets with a small cache: bounds always hold, no leaks
   * (ASan), and the LRU list stays consistent with the table. */
  gw_tokcache_t *c = tokcache_new(64, 64 * 200);
  gw_tokcache_stats_t st;
  int ok = 1;
  unsigned x = 12345;
  for (int i = 0; i < 20000; i++) {
    x = x * 1103515245u + 12345u;
    char tok[32];
    snprintf(tok, sizeof tok, "tok-%u", (x >> 8) % 300);
    if (!get(c, tok, i)) put(c, tok, i, val(x % 3, i + 1 + (int)(x % 500), "s"));
    tokcache_stats(c, &st);
    if (st.entries > 64 || st.bytes > 64 * 200) ok = 0;
  }
  CHECK(ok, "bounds hold under churn");
  CHECK(st.hits > 0 && st.misses > 0 && st.evictions > 0,
        "churn exercised hits, misses, evictions");
  tokcache_free(c);
}

static uint64_t khash(gw_tokcache_t *c, const char *p, size_t n) {
  return tokcache_key(c, p, n, 0).hash;
}

static void test_hash(void) {
  /* The default hash must see every byte, at every length and position
   * (a lane or tail it skipped would make whole families of tokens share
   * a bucket), and spread look-alike tokens over the buckets. */
  gw_tokcache_t *c = tokcache_new(16384, 1 << 20);
  CHECK(c != NULL, "new (hash)");
  if (!c) return;
  char tok[769];
  for (size_t i = 0; i < sizeof tok; i++) tok[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_"[(i * 7) % 54];
  const uint64_t h = khash(c, tok, sizeof tok);
  CHECK(khash(c, tok, sizeof tok) == h, "same bytes, same hash");
  int byte_ok = 1;
  for (size_t i = 0; i < sizeof tok; i++) {
    char saved = tok[i];
    tok[i] = (char)(saved ^ 0x01);
    if (khash(c, tok, sizeof tok) == h) byte_ok = 0;
    tok[i] = saved;
  }
  CHECK(byte_ok, "a change at any of 769 positions changes the hash");
  int len_ok = 1;
  for (size_t n = 0; n < 100 && len_ok; n++)
    for (size_t m = n + 1; m <= 100; m++)
      if (khash(c, tok, n) == khash(c, tok, m)) len_ok = 0;
  CHECK(len_ok, "prefixes of 0..100 bytes all hash apart");
  char zeros[40] = {0};
  CHECK(khash(c, zeros, 20) != khash(c, zeros, 21), "zero padding does not hide the length");
  char sw[64];
  memcpy(sw, tok, 64);
  memcpy(sw, tok + 32, 16); /* block 2 where block 0 was, and block 0 where block 2 was */
  memcpy(sw + 32, tok, 16);
  CHECK(khash(c, sw, 64) != khash(c, tok, 64), "swapped blocks hash apart");
  /* 20000 tokens that differ only in a numeric suffix, as minted tokens
   * do: with 16384 buckets a uniform hash gives a longest chain of ~8. */
  static unsigned short load[16384];
  memset(load, 0, sizeof load);
  unsigned maxload = 0;
  for (int i = 0; i < 20000; i++) {
    char t[800];
    memcpy(t, tok, 700);
    int n = snprintf(t + 700, 100, "user-%d", i);
    unsigned b = (unsigned)(khash(c, t, 700 + (size_t)n) & 16383);
    if (++load[b] > maxload) maxload = load[b];
  }
  CHECK(maxload <= 12, "20000 look-alike tokens spread over the buckets");
  if (maxload > 12) printf("# longest chain %u\n", maxload);
  tokcache_free(c);
}

static void test_reuse(void) {
  /* A full cache takes the least recent entry's memory for the new one when
   * it is big enough; the new entry must then hold only its own data. */
  gw_tokcache_t *c = tokcache_new(2, 1 << 20);
  put(c, "tok-1", 0, val(0, 100, "alice"));
  put(c, "tok-2", 0, val(1, 100, "bob"));
  uintptr_t a1 = (uintptr_t)get(c, "tok-1", 0);
  CHECK(get(c, "tok-2", 0) != NULL, "tok-2 used: tok-1 is now the least recent");
  CHECK_INT(put(c, "tok-3", 0, val(2, 100, "carol")), 0, "put into a full cache");
  const gw_tokcache_val_t *v3 = get(c, "tok-3", 0);
  CHECK(v3 != NULL && (uintptr_t)v3 == a1, "the evicted entry's memory holds the new one");
  CHECK(get(c, "tok-1", 0) == NULL, "tok-1 evicted");
  CHECK(v3 && v3->issuer == 2 && v3->lens[0] == 5 && strcmp(v3->strs[0], "carol") == 0 &&
            strcmp(v3->strs[1], "client-1") == 0 && v3->strs[2] && v3->strs[2][0] == 0 &&
            v3->strs[3] == NULL,
        "the reused entry has the new value, nothing of the old");
  const gw_tokcache_val_t *v2 = get(c, "tok-2", 0);
  CHECK(v2 && strcmp(v2->strs[0], "bob") == 0, "the other entry is untouched");
  /* Too big for the least recent entry's memory: a fresh allocation. */
  char big[1500];
  memset(big, 'z', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  CHECK_INT(put(c, "tok-4", 0, val(0, 100, big)), 0, "a bigger entry into a full cache");
  const gw_tokcache_val_t *v4 = get(c, "tok-4", 0);
  CHECK(v4 && v4->lens[0] == sizeof big - 1 && strcmp(v4->strs[0], big) == 0, "bigger entry intact");
  gw_tokcache_stats_t st;
  tokcache_stats(c, &st);
  CHECK_INT(st.entries, 2, "entry bound holds");
  CHECK_INT(st.evictions, 2, "two evictions counted");
  tokcache_free(c);
}

int main(void) {
  test_key();
  test_hash();
  test_basic();
  test_expiry_and_generation();
  test_collisions();
  test_bounds();
  test_churn();
  test_reuse();
  return TAP_DONE();
}
