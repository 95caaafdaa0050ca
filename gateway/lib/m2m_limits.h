/* m2m_limits: the token issuer's table of failed authentications, per
 * client id and per client address (the rules are in m2m.h, "Rate
 * limiting"). At most GW_M2M_MAX_TRACKED entries, least recently failed
 * evicted first. Every function takes the table's mutex itself, so any
 * number of threads may use one table at once. */
#ifndef GW_M2M_LIMITS_H
#define GW_M2M_LIMITS_H

#include <stddef.h>
#include <stdint.h>

#include "m2m-t.h"

/* max_failures 0 turns counting off (the caller then does not call the
 * functions below); lockout_s is raised to 1 when lower. */
void m2m_limits_init(m2m_limits_t *t, unsigned max_failures, int64_t lockout_s);
void m2m_limits_destroy(m2m_limits_t *t);

/* An address alone locks after this many times max_failures: it stands
 * for every client behind it (a NAT, an egress proxy), so one integration
 * guessing wrong there does not lock out the others at once, while a
 * host trying many ids is still stopped. */
#define GW_M2M_ADDR_FACTOR 4

/* The key of a presented client id / of a client address / of the pair.
 * Addresses: IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as IPv4, "[...]"
 * and a %zone dropped, and anything else as the text. An address key has
 * factor GW_M2M_ADDR_FACTOR. */
void m2m_limit_key_client(const char *id, size_t n, m2m_limit_key_t *out);
void m2m_limit_key_addr(const char *addr, m2m_limit_key_t *out);
void m2m_limit_key_pair(const char *id, size_t n, const char *addr, m2m_limit_key_t *out);

/* Seconds until key's lockout ends, 0 when it is not locked out. */
unsigned m2m_limits_locked(m2m_limits_t *t, const m2m_limit_key_t *key, int64_t now);

/* Before checking a secret: refuses (returns the Retry-After seconds, and
 * the index of the refusing key in *which) when a key is locked or when
 * the attempts already counted or under way reach the limit; otherwise
 * (0) marks one more attempt under way on every used key. */
unsigned m2m_limits_begin(m2m_limits_t *t, const m2m_limit_key_t *keys, size_t nkeys,
                          int64_t now, size_t *which);

/* After checking (each begin that returned 0 has one end): a failure
 * counts on every used key and may start a lockout (bit k of the result
 * for keys[k]); a success clears the counter of keys[0] (the pair). */
unsigned m2m_limits_end(m2m_limits_t *t, const m2m_limit_key_t *keys, size_t nkeys, int64_t now,
                        int failed);

/* What another instance counted (the cluster): raises key's failures to
 * count and its lockout to locked_for_s from now, never lowers them. */
void m2m_limits_seed(m2m_limits_t *t, const m2m_limit_key_t *key, unsigned count,
                     unsigned locked_for_s, int64_t now);

/* Copies prev's counters and lockouts into t, oldest first so that the
 * eviction order carries over (prev stays usable). */
void m2m_limits_inherit(m2m_limits_t *t, m2m_limits_t *prev);

#endif
