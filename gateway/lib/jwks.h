/* jwks: a parsed JSON Web Key Set (RFC 7517) whose keys are turned once
 * into OpenSSL EVP_PKEYs, plus the JWS algorithm names we accept.
 *
 * Only asymmetric signature keys are ever loaded: RSA >= 2048 bits and EC
 * P-256/P-384/P-521. Unusable keys are skipped with a log line; problems
 * with the document itself (not JSON, no "keys", over the limits, nothing
 * usable) fail the whole parse so the caller keeps its last good set.
 *
 * A keyset is immutable after jwks_parse() except for `generation`, which
 * the caller sets before publishing it. It is refcounted with atomics so
 * worker threads can share it read-only. */
#ifndef GW_JWKS_H
#define GW_JWKS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define GW_JWKS_MAX_DOC (1024 * 1024)
#define GW_JWKS_MAX_KEYS 100
#define GW_JWKS_MAX_KID 256
#define GW_JWKS_MIN_RSA_BITS 2048
#define GW_JWKS_MAX_RSA_BITS 8192

/* The JWS algorithms this gateway can verify. There is deliberately no
 * value for "none" or HS*: they cannot be put in an allowlist. */
typedef enum {
  GW_JWA_RS256 = 0, GW_JWA_RS384, GW_JWA_RS512,
  GW_JWA_PS256, GW_JWA_PS384, GW_JWA_PS512,
  GW_JWA_ES256, GW_JWA_ES384, GW_JWA_ES512,
  GW_JWA_COUNT
} gw_jwa_t;

#define GW_JWA_BIT(a) (1u << (a))
/* The config default: RS256 RS384 RS512 ES256 ES384 ES512. */
#define GW_JWA_DEFAULT_MASK                                                               \
  (GW_JWA_BIT(GW_JWA_RS256) | GW_JWA_BIT(GW_JWA_RS384) | GW_JWA_BIT(GW_JWA_RS512) |     \
   GW_JWA_BIT(GW_JWA_ES256) | GW_JWA_BIT(GW_JWA_ES384) | GW_JWA_BIT(GW_JWA_ES512))

/* Exact, case-sensitive name ("RS256") -> gw_jwa_t, or -1 for anything else
 * (including "none" and "HS256"). */
int jwa_from_name(const char *name, size_t len);
const char *jwa_name(gw_jwa_t alg);

typedef enum { GW_KTY_RSA = 1, GW_KTY_EC = 2 } gw_kty_t;
typedef enum { GW_CRV_NONE = 0, GW_CRV_P256, GW_CRV_P384, GW_CRV_P521 } gw_crv_t;

typedef struct {
  char *kid;        /* NUL-terminated copy; NULL when the JWK has none */
  size_t kid_len;
  gw_kty_t kty;
  gw_crv_t crv;     /* GW_CRV_NONE for RSA */
  int alg;          /* gw_jwa_t, or -1 when the JWK has no "alg" */
  int bits;         /* modulus or field size */
  EVP_PKEY *pkey;
} gw_jwk_t;

typedef struct gw_keyset {
  uint64_t generation; /* set by the caller; the token cache compares it */
  char *source;        /* for log lines: URL or file path */
  size_t nkeys;        /* >= 1 */
  gw_jwk_t *keys;
  /* private: reference count */
  _Atomic unsigned long refs_;
} gw_keyset_t;

typedef void (*gw_jwks_log_fn)(void *ud, const char *msg);

/* Parses a JWKS document. Returns a keyset holding one reference, or NULL
 * with a message in err (which may be NULL). Skipped keys are reported
 * through log (which may be NULL), one line each, naming source and kid. */
gw_keyset_t *jwks_parse(const char *json, size_t len, const char *source_name,
                        gw_jwks_log_fn log, void *ud, char *err, size_t errlen);

/* Removes from a keyset not yet shared (one reference) its RSA keys of
 * more than max_bits, reporting each through log like a skipped key.
 * Returns how many were removed; ks->nkeys may then be 0. */
size_t jwks_drop_rsa_over(gw_keyset_t *ks, int max_bits, gw_jwks_log_fn log, void *ud);

gw_keyset_t *jwks_keyset_ref(gw_keyset_t *ks);
void jwks_keyset_unref(gw_keyset_t *ks); /* NULL is fine */

/* 1 when the key's type and curve can verify alg (ignores the key's own
 * "alg"), else 0. */
int jwks_key_fits(const gw_jwk_t *k, gw_jwa_t alg);

/* The key for a token. With a kid (kid != NULL, may be empty): a key with
 * exactly that kid, preferring one that fits alg (type, curve and own alg);
 * if only non-fitting keys carry the kid one of them is returned so the
 * caller can say "key/alg mismatch". Without a kid (kid == NULL): the one
 * key that fits alg, or NULL when none or several do. */
const gw_jwk_t *jwks_find(const gw_keyset_t *ks, const char *kid, size_t kid_len, gw_jwa_t alg);

#endif
