/* m2mcluster: the M2M lockout counted across instances ([cluster]): an
 * attacker spreading guesses over N instances gets the attempts of one.
 *
 * Before a token request's secret is checked, one round trip reads the
 * counters of its (client id, address) pair and of its address from Redis
 * and raises the issuer's own table to them (m2m_lockout_seed), so the
 * issuer decides exactly as before. After a failed check, the failure is
 * counted in Redis (locking the key there at its limit) and the answer
 * waits for that, so the next attempt anywhere sees it; a success clears
 * the pair, without waiting. Redis away or slow: the local table alone
 * decides (gateway_redis_fallbacks_total{what="m2m"}).
 *
 * Keys: gw:m2m:<32 hex>:n (failures, expiring after the lockout window)
 * and gw:m2m:<32 hex>:lock (set for the lockout), the hex a digest of the
 * pair or the address. */
#ifndef GW_M2MCLUSTER_H
#define GW_M2MCLUSTER_H

#include "m2m.h"
#include "request-t.h"

/* 0: nothing to ask, go on now. 1: asked; then(r) runs once the table is
 * seeded (or Redis could not say), unless the request goes first. */
int m2mcluster_fetch(request_t *r, gw_m2m_t *m, const gw_m2m_request_t *q, void (*then)(request_t *r));

/* After the issuer answered with outcome: 0, go on now; 1: then(r) runs
 * once Redis counted the failure (or could not). */
int m2mcluster_record(request_t *r, gw_m2m_t *m, const gw_m2m_request_t *q, gw_m2m_outcome_t outcome,
                      void (*then)(request_t *r));

#endif
