/* ratelimit: token buckets per (route, key) for the policy's `rate`,
 * `burst` and `rate_key` (SPEC "Revocation, rate limits and several
 * instances").
 *
 * One table for the whole process, shared by every worker: counting is
 * exact for a single instance (a per-worker table with the rate divided
 * would let a client that lands on one worker get only 1/N of its rate,
 * and one spread over all of them get the full burst N times). The table
 * is cut into stripes, each with its own lock, so workers rarely wait on
 * each other; a key always lands in the same stripe.
 *
 * Memory is bounded: the table holds at most `capacity` keys, fixed at
 * creation. A new key when its stripe is full evicts the stripe's least
 * recently used key. An evicted key that had refilled to its burst loses
 * nothing; one that had not is forgotten and starts again with a full
 * bucket (counted in ratelimit_evicted_busy). So minting keys (fresh
 * subjects, addresses) cannot grow memory; at worst it makes other keys
 * forget, which needs more live keys than the table holds.
 *
 * Keys are hashed with a random per-process 64-bit key (SipHash-2-4), and
 * only the hash is stored: no key text is kept, and a caller cannot aim
 * collisions at a victim's bucket without knowing the secret. */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

typedef enum { GW_RATE_KEY_SUB = 0, GW_RATE_KEY_CLIENT, GW_RATE_KEY_ADDRESS } gw_rate_key_t;

/* A route's limit: count per window_s seconds, up to burst at once.
 * count 0: no limit. */
typedef struct {
  uint32_t count;
  uint32_t window_s;
  uint32_t burst;
  gw_rate_key_t key;
} gw_rate_t;

/* "100/s", "20/m", "1000/h" (count 1..10^9). 0, or -1. */
int ratelimit_parse_rate(const char *s, uint32_t *count, uint32_t *window_s);
/* "sub" | "client_id" | "address". 0, or -1. */
int ratelimit_parse_key(const char *s, gw_rate_key_t *out);
const char *ratelimit_key_name(gw_rate_key_t k);

typedef struct gw_ratelimit gw_ratelimit_t;

/* capacity: the most keys held at once (rounded up to a multiple of the
 * stripe count). NULL when out of memory. */
gw_ratelimit_t *ratelimit_new(size_t capacity);
void ratelimit_free(gw_ratelimit_t *t);

typedef struct {
  int allowed;          /* 1: one unit taken */
  uint32_t remaining;   /* whole units left after this request */
  uint32_t retry_after; /* refused: seconds until one unit is back (>= 1) */
} gw_rate_verdict_t;

/* Takes one unit from the bucket of (scope, key) under limit lim at
 * now_ms (a monotonic clock). scope tells routes apart (the methods and pattern);
 * key is the sub, client id or address. */
gw_rate_verdict_t ratelimit_take(gw_ratelimit_t *t, const gw_rate_t *lim, const char *scope,
                                 size_t scope_len, const char *key, size_t key_len,
                                 uint64_t now_ms);

size_t ratelimit_keys(gw_ratelimit_t *t);
/* Keys evicted before their bucket had refilled (see above). */
uint64_t ratelimit_evicted_busy(gw_ratelimit_t *t);

#endif
