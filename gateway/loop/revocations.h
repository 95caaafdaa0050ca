/* revocations: the process's revocation store and the ways in and out of
 * it: the check on every token (gate), the admin API (local_admin) and the
 * RFC 8935 SSF push receiver (the public listeners). */
#ifndef GW_REVOCATIONS_H
#define GW_REVOCATIONS_H

#include "conn.h"
#include "revoke.h"
#include "tokcache.h"

/* The store itself (for revsync, which keeps it in step with the cluster). */
gw_revoke_t *revocations_store(void);

/* 1 when a revocation refuses the verified (possibly cached) token v. */
int revocations_refuse(const request_t *r, const gw_tokcache_val_t *v);

/* The admin API: POST/GET /revocations, DELETE /revocations/{id}.
 * Returns 0 for another path. */
int revocations_admin(client_t *c, request_t *r);

/* The SSF push receiver at [revocation] ssf_path, when ssf_issuer is set.
 * Returns 0 for another path. */
int revocations_ssf(client_t *c, request_t *r);

#endif
