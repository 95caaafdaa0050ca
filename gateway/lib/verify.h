/* verify: one worker's token verifier. For each upstream, the issuers it
 * trusts (audiences, algorithms, leeway) and the key sets this worker holds;
 * in front of them the verified-token cache, so a token seen before costs a
 * hash lookup. Pure: the caller hands it key sets (verifier_set_keys) and
 * the time, it never touches a socket or the key store. */
#ifndef GW_VERIFY_H
#define GW_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "jwt.h"
#include "metrics.h"
#include "tokcache.h"

/* What a cached value's strs[] hold: then one per [forward] header. */
#define VERIFY_STR_SUB 0
#define VERIFY_STR_CLIENT 1
#define VERIFY_STR_SCOPE 2
#define VERIFY_STR_JTI 3
#define VERIFY_STR_FWD 4

typedef struct verifier verifier_t;

verifier_t *verifier_new(const gw_authctx_t *a);
void verifier_free(verifier_t *v);
const gw_authctx_t *verifier_auth(const verifier_t *v);
size_t verifier_issuers(const verifier_t *v);
/* Token cache entries, as last reported to the metrics. */
size_t verifier_cache_entries(const verifier_t *v);
/* The generation of issuer i's key set this verifier holds (0: none). */
uint64_t verifier_generation(const verifier_t *v, size_t i);
/* Hands over a reference to issuer i's key set of generation gen. */
void verifier_set_keys(verifier_t *v, size_t i, gw_keyset_t *ks, uint64_t gen);

/* Verifies tok for upstream u, or finds it in the cache. On a hit *hit is
 * the cached value; on a fresh verification *hit is NULL and *out points
 * into *cl and the verifier's buffers: the caller uses it, then frees *cl.
 * *issuer is the token's issuer when known; *not_token68 is set for a value
 * that is not token68 (refused before it counts as a cache lookup). */
gw_jwt_result_t verifier_check(verifier_t *v, const gw_config_t *cfg, gw_mcounters_t *mc, size_t u,
                               const char *tok, size_t len, int64_t now, gw_jwt_claims_t *cl,
                               gw_tokcache_val_t *out, const gw_tokcache_val_t **hit,
                               size_t *issuer, int *not_token68);

/* RFC 7235 token68 (base64url, '+', '/', '~', trailing '='). */
int verify_is_token68(const char *s, size_t n);

#endif
