/* ratelimits: the `rate` of a route or an MCP item applied to a request
 * (from gate, which answers: this room stays off the circle through conn).
 *
 * Without [cluster], one table for the process (lib/ratelimit.h). With it,
 * the bucket lives in Redis and every instance takes from the same one: one
 * round trip (a Lua token bucket, so the check and the take are one atomic
 * step), during which the request waits (RS_WAIT) and the loop goes on.
 * Redis away, or slower than redis_timeout: the local table decides, and
 * gateway_redis_fallbacks_total{what="rate_limit"} counts it. Bucket keys
 * in Redis are gw:rl:<SHA-256 of the route or item and the key, 32 hex
 * digits>: no subject, client id or address is stored in clear. */
#ifndef GW_RATELIMITS_H
#define GW_RATELIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "request-t.h"
#include "tokcache.h"

enum { RL_ALLOW = 0, RL_REFUSE, RL_PENDING };

/* Takes one unit of lim (count > 0) from the bucket of (scope, the
 * request's key): scope tells routes and items apart. v: the verified
 * token, NULL on a public route; ip: the caller's address. RL_REFUSE: hdr
 * holds the 429's Retry-After, RateLimit-Policy and RateLimit lines.
 * RL_PENDING: asked Redis; done(r, refused, hdr) runs later, unless the
 * request goes first. */
int ratelimits_take(request_t *r, const gw_rate_t *lim, const char *scope, size_t scope_len,
                    const gw_tokcache_val_t *v, const char *ip, char *hdr, size_t cap,
                    void (*done)(request_t *r, int refused, const char *hdr));

/* The same for an MCP item's rate, once the token is gone: the key is
 * built from the digests of its sub and client_id kept in r->rk. */
int ratelimits_take_item(request_t *r, const gw_rate_t *lim, const char *scope, size_t scope_len,
                         const char *ip, char *hdr, size_t cap,
                         void (*done)(request_t *r, int refused, const char *hdr));

#endif
