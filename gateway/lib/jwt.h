/* jwt: verification of a compact JWS access token as a pure function.
 *
 * No sockets, no clock, no globals: the caller passes the verifier (the
 * issuers with their current key sets, and the scope registry) and the
 * time. The token's own "alg" is only ever checked against the issuer's
 * allowlist and the selected key's type; it never picks a code path on its
 * own. "none" and HS* cannot be expressed (see gw_jwa_t), and symmetric
 * keys are never loaded (see jwks.h), so a token MACed with a public key
 * is refused as ALG_NOT_ALLOWED. */
#ifndef GW_JWT_H
#define GW_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "jwks.h"
#include "scopes.h"

#define GW_JWT_MAX_TOKEN 8192
#define GW_JWT_MAX_HEADER 1024  /* decoded */
#define GW_JWT_MAX_PAYLOAD 6144 /* decoded */

typedef enum {
  GW_JWT_OK = 0,
  GW_JWT_MALFORMED,        /* not 3 parts, bad base64url, not a JSON object, over size bounds */
  GW_JWT_ALG_MISSING,
  GW_JWT_ALG_NOT_ALLOWED,  /* unknown, none, HS*, or not in the issuer's allowlist */
  GW_JWT_CRIT,             /* "crit" header present */
  GW_JWT_UNKNOWN_ISSUER,   /* "iss" missing or not configured */
  GW_JWT_NO_KEYSET,        /* issuer has no key set yet: caller answers 503 */
  GW_JWT_UNKNOWN_KID,      /* no key selected: caller may trigger a (rate-limited) refetch */
  GW_JWT_KEY_ALG_MISMATCH, /* alg vs key type, curve or the key's own alg */
  GW_JWT_BAD_SIGNATURE,
  GW_JWT_EXP_MISSING,      /* missing or not a number */
  GW_JWT_EXPIRED,
  GW_JWT_NOT_YET_VALID,    /* nbf */
  GW_JWT_IAT_FUTURE,
  GW_JWT_AUD_MISMATCH,
  GW_JWT_TYP_INVALID,
  GW_JWT_CLAIM_TYPE,       /* a claim of the wrong JSON type or an invalid scope list */
  GW_JWT_RESULT_COUNT
} gw_jwt_result_t;

/* Short description for error_description and logs: fixed text, never
 * token bytes, no '"' or '\\'. */
const char *jwt_result_text(gw_jwt_result_t r);
/* Stable identifier for metrics/access logs, e.g. "bad_signature". */
const char *jwt_result_name(gw_jwt_result_t r);

typedef struct {
  const char *iss;                /* exact match against the token's "iss" */
  size_t iss_len;
  uint32_t algs;                  /* GW_JWA_BIT() mask: the allowlist */
  const char *const *audiences;   /* accepted "aud" values; none => every token fails */
  size_t naudiences;
  int64_t leeway_s;               /* clock skew for exp/nbf/iat, >= 0 */
  int require_typ;                /* 1: typ must be present and at+jwt */
  const gw_keyset_t *keys;        /* current key set, NULL until the first load; the
                                     caller holds a reference while verifying */
  int security_event;             /* 1: a SET (RFC 8417): typ must be secevent+jwt, exp optional */
} gw_jwt_issuer_t;

typedef struct {
  const gw_jwt_issuer_t *issuers;
  size_t nissuers;
  const gw_scope_registry_t *scopes;
} gw_jwt_verifier_t;

typedef enum { GW_TOKEN_USER = 0, GW_TOKEN_M2M = 1 } gw_token_kind_t;

/* Filled only on GW_JWT_OK; zeroed otherwise (except `issuer`, set to the
 * selected issuer with GW_JWT_NO_KEYSET and GW_JWT_UNKNOWN_KID), so jwt_claims_free() is
 * always safe. String pointers are NUL-terminated and stay valid until
 * jwt_claims_free(); they point into the payload, which the claims own. */
typedef struct {
  size_t issuer;                  /* index into verifier->issuers */
  int alg;                        /* gw_jwa_t used */
  gw_token_kind_t kind;           /* m2m: sub == client_id, or gty == "client-credentials" */
  gw_scopeset_t scopes;           /* known scopes only */
  char *scope_text;               /* every scope, token order, single spaces; "" when none */
  size_t scope_text_len;
  int64_t exp;
  const char *sub;                /* NULL when absent */
  size_t sub_len;
  const char *client_id;          /* NULL when absent */
  size_t client_id_len;
  const char *gty;                /* NULL when absent */
  size_t gty_len;
  const char *jti;                /* NULL when absent (revocation by jti) */
  size_t jti_len;
  int has_iat;                    /* iat present (revocation compares it with `before`) */
  int64_t iat;
  struct gw_jwt_payload *payload;  /* the verified payload (claims read by jwt_claim_text) */
} gw_jwt_claims_t;

/* Verifies tok[0..len) at time now_s (Unix seconds). out may be NULL. */
gw_jwt_result_t jwt_verify(const char *tok, size_t len, const gw_jwt_verifier_t *v,
                           int64_t now_s, gw_jwt_claims_t *out);

/* A top-level claim rendered for an identity header: a string, or a number
 * as JSON text (integers exactly, reals in shortest round-trip form), into
 * buf NUL-terminated. Returns the length, or -1 when the claim is absent,
 * of another type, contains a control character (< 0x20 or 0x7f), or does
 * not fit in cap. */
int jwt_claim_text(const gw_jwt_claims_t *c, const char *name, char *buf, size_t cap);

void jwt_claims_free(gw_jwt_claims_t *c);

/* Frees the calling thread's cached verification contexts; call it before
 * a thread that verified tokens ends. */
void jwt_thread_cleanup(void);

#endif
