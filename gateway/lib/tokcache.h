/* tokcache: a per-worker cache of verified tokens, so that a token seen
 * again skips the signature check and JSON parsing.
 *
 * Single-threaded by design (one per event loop, no locks). Keyed by the
 * whole token plus a caller context (e.g. the upstream index, since which
 * audiences are accepted depends on it): a 64-bit hash picks the bucket and
 * a full byte compare of token and context decides a hit, so a hash
 * collision can never return another token's identity.
 *
 * Bounded by entries and by bytes (least recently used goes first). An
 * entry misses from its exp on, and when its issuer's key set generation
 * differs from the one the caller passes (keys changed: verify again). */
#ifndef GW_TOKCACHE_H
#define GW_TOKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "scopes.h"

#define GW_TOKCACHE_MAX_STRS 16

/* What the proxy needs after a successful verification. strs[] are
 * caller-defined small strings (e.g. [0] sub, [1] client_id, [2] scope
 * text, [3..] forwarded identity values); NULL means "absent" and is kept
 * distinct from "". The cache copies everything on put. */
typedef struct {
  uint32_t issuer;        /* index of the issuer in the caller's table */
  uint32_t kind;          /* gw_token_kind_t */
  gw_scopeset_t scopes;
  int64_t exp;            /* entry misses when now_s >= exp */
  uint64_t generation;    /* key set generation the token was verified with */
  int64_t iat;            /* valid when has_iat: revocations are checked on hits too */
  int has_iat;
  size_t nstrs;           /* <= GW_TOKCACHE_MAX_STRS */
  const char *strs[GW_TOKCACHE_MAX_STRS];
  size_t lens[GW_TOKCACHE_MAX_STRS];
} gw_tokcache_val_t;

typedef struct {
  uint64_t hits, misses;  /* misses include expired and stale-generation entries */
  uint64_t evictions;     /* removed to make room */
  uint64_t expired;       /* removed on lookup: past exp or generation changed */
  size_t entries, bytes;
} gw_tokcache_stats_t;

typedef struct gw_tokcache gw_tokcache_t;

/* NULL on allocation failure or when a bound is 0. */
gw_tokcache_t *tokcache_new(size_t max_entries, size_t max_bytes);
void tokcache_free(gw_tokcache_t *c);
void tokcache_clear(gw_tokcache_t *c); /* e.g. on config reload */

/* What a lookup is keyed by. The hash is computed once by tokcache_key and
 * serves both the get and the put that follows a miss (a long token costs
 * one pass, not two). Valid for the cache that made it, until
 * tokcache_set_hash. */
typedef struct {
  const char *tok;
  size_t len;
  uint32_t ctx;
  uint64_t hash;
} gw_tokcache_key_t;

gw_tokcache_key_t tokcache_key(const gw_tokcache_t *c, const char *tok, size_t len, uint32_t ctx);

/* The cached value, or NULL. issuer_gens[i] is the current key set
 * generation of issuer i (ngens entries); an entry whose issuer is out of
 * range or whose generation differs is dropped and misses. The returned
 * value (strings included, NUL-terminated) stays valid until the next put,
 * clear or free on this cache. */
const gw_tokcache_val_t *tokcache_get(gw_tokcache_t *c, const gw_tokcache_key_t *k,
                                      int64_t now_s, const uint64_t *issuer_gens, size_t ngens);

/* Stores a copy (replacing an entry for the same token and ctx). Returns 0,
 * or -1 when not stored: already expired, over GW_TOKCACHE_MAX_STRS, larger
 * than max_bytes on its own, or out of memory. */
int tokcache_put(gw_tokcache_t *c, const gw_tokcache_key_t *k, int64_t now_s,
                 const gw_tokcache_val_t *val);

void tokcache_stats(const gw_tokcache_t *c, gw_tokcache_stats_t *out);

/* Tests only: replace the hash (e.g. a constant, to force collisions). */
void tokcache_set_hash(gw_tokcache_t *c, uint64_t (*hash)(const char *p, size_t n, uint64_t seed));

#endif
