/* ratelimits: the process's rate-limit table (lib/ratelimit.h) applied to
 * a request the policy allowed, on a route with `rate` (from gate, which
 * answers: this room stays off the circle through conn). */
#ifndef GW_RATELIMITS_H
#define GW_RATELIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "tokcache.h"

/* 1 when this request is over rt's rate: hdr gets the 429's Retry-After,
 * RateLimit-Policy and RateLimit lines. 0: go on (also when rt has no
 * rate). v: the verified token, NULL on a public route; ip: the caller's
 * address; now_ms: a monotonic clock. */
int ratelimits_over(const gw_route_t *rt, const gw_tokcache_val_t *v, const char *ip,
                    uint64_t now_ms, char *hdr, size_t cap);

#endif
