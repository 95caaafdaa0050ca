/* m2m: the built-in OAuth 2.0 client_credentials token issuer ([m2m] in
 * gateway.ini), as a socket-free module.
 *
 * What the docs promise (docs/profile-api-authentication.txt): an M2M client
 * POSTs its client_id and client_secret to /api/v4/auth, as a JSON body or
 * with HTTP Basic, and gets {"access_token", "token_type": "Bearer",
 * "expires_in": 3600}. This module decides the whole answer from the parsed
 * request pieces; the caller owns sockets, routing and the access log.
 *
 * ---- Loading -------------------------------------------------------------
 * m2m_load() reads the signing key (PEM, unencrypted PKCS#8 or traditional:
 * RSA >= 2048 bits -> RS256, EC P-256 -> ES256, P-384 -> ES384, P-521 ->
 * ES512) and the clients file. Errors go to errs as "FILE:LINE: message":
 * key problems at the gateway.ini line of `signing_key`, clients-file
 * problems at their own line of that file. With [m2m] disabled it returns
 * NULL and adds nothing; so "NULL and errs->n > 0" is the failure case.
 *
 * The clients file (`clients = ...` in [m2m], relative to gateway.ini):
 *
 *     [client:demo]                 ; ID: 1-128 of A-Z a-z 0-9 - . _ ~
 *     secret = pbkdf2-sha256$600000$SALT$HASH
 *     scopes = profiles:read tags:manage
 *
 * - `secret`: PBKDF2-HMAC-SHA256; ITER from 100000 to 10000000; SALT (16-64
 *   bytes) and HASH (32-64 bytes) in unpadded base64url (RFC 4648 §5, the
 *   encoding JWS uses). Anything else, in particular a plain-text secret, is
 *   an error at its line. `scopes`: 1-64 RFC 6749 scope-tokens, no
 *   duplicates, at most 2048 bytes; when [resource] scopes_supported is set
 *   every scope must be in it. Both keys are required; unknown keys and
 *   sections, duplicate clients and an empty file are errors.
 * - Making a hash: `tools/m2m-hash.c` (OpenSSL only, built by hand):
 *       cc -O2 -o build/m2m-hash tools/m2m-hash.c $(pkg-config --cflags --libs libcrypto)
 *       printf '%s' "$SECRET" | build/m2m-hash            # -i ITER, default 600000
 *   or m2m_hash_secret() below (a `gateway --hash-secret` would call it).
 *   Secrets made of A-Z a-z 0-9 - . _ ~ are safest: RFC 6749 §2.3.1 has
 *   Basic credentials form-urlencoded before base64, and this module
 *   decodes them that way (so '+' in a Basic secret means a space).
 *
 * ---- The token endpoint: m2m_token() --------------------------------------
 * A pure function of (request pieces, now) except for the failure counters.
 * The checks, in order, and their answers (RFC 6749 §4.4 and §5.2):
 *   method other than POST                      405 invalid_request, Allow: POST
 *   body over GW_M2M_MAX_BODY (body_too_large)  413 invalid_request
 *   client address locked out                   429 slow_down, Retry-After
 *   Authorization not Basic                     401 invalid_client (unsupported method)
 *   Basic malformed (base64, no ':', empty id)  400 invalid_request
 *   non-empty body that is not JSON/form,
 *     bad JSON, not an object, a parameter
 *     twice or not a string, bad %-escape, NUL 400 invalid_request
 *   grant_type missing                          400 invalid_request, except: Basic and
 *                                               an empty body mean client_credentials
 *                                               (the docs' Basic example has no body)
 *   grant_type not client_credentials           400 unsupported_grant_type
 *   Basic plus client_secret in the body, or
 *     plus a different client_id in the body    400 invalid_request
 *   client_id without client_secret or the
 *     other way round                           400 invalid_request
 *   no client credentials at all                401 invalid_client
 *   client id locked out                        429 slow_down, Retry-After
 *   unknown client or wrong secret              401 invalid_client (same description)
 *   `scope` naming a scope the client lacks     400 invalid_scope
 *   otherwise                                   200 {"access_token", "token_type":
 *                                               "Bearer", "expires_in", "scope"}
 * Every 401 carries `WWW-Authenticate: Basic realm="m2m"` (RFC 6749 §5.2
 * requires it when Basic was used, RFC 9110 §15.5.2 wants a challenge on
 * every 401). Every answer is application/json with `Cache-Control:
 * no-store` and `Pragma: no-cache` (RFC 6749 §5.1); error bodies are
 * {"error": CODE, "error_description": TEXT}, never echoing a secret.
 * Body parameters: grant_type, client_id, client_secret, scope; others are
 * ignored (RFC 6749 §3.2). An empty or blank `scope` grants every scope of
 * the client; a narrower one grants exactly those (in the client's order).
 *
 * Secrets: PBKDF2 runs for every authentication attempt that gets that far,
 * against a dummy hash (random, with the highest iteration count of any
 * client) when the client id is unknown, and the result is compared with
 * CRYPTO_memcmp, so neither timing nor answers tell which ids exist.
 * COST: one PBKDF2 is tens to hundreds of milliseconds of CPU (600000
 * iterations ~ 0.2 s). Do not call m2m_token() on an event loop that serves
 * other connections: run it on the libuv thread pool (uv_queue_work).
 *
 * Rate limiting (decision): failed authentications (unknown client, wrong
 * secret) are counted per (presented client id, known or not, and client
 * address) pair and per client address (IPv4 address; IPv6 by /64 prefix,
 * v4-mapped as IPv4), never per client id alone (SPEC: nobody can lock an
 * integration out by knowing its id). When `max_failures` failures of a
 * pair (GW_M2M_ADDR_FACTOR times that for an address, which stands for
 * every client behind it) fall within `lockout` of the first one, that
 * pair or address gets 429 with Retry-After and {"error": "slow_down"} until
 * `lockout` has passed from the last counted failure, even with the right
 * secret, and without running PBKDF2. RFC 6749 has no error code for this;
 * 429 + Retry-After is what operators and HTTP clients understand, and
 * "slow_down" is the registered OAuth token-endpoint code closest to it
 * (RFC 8628 §3.5). A success clears the pair's counter, not the
 * address's. Attempts answered 429 are not counted. While the last allowed
 * attempts of an id or address that already has failures are being checked
 * on other threads, further ones get 429 with Retry-After: 1, so concurrency
 * buys no extra guesses (an id or address without failures is never held
 * back: many honest clients may share one egress address). max_failures = 0
 * turns counting off. The table holds GW_M2M_MAX_TRACKED ids and addresses
 * (least recently failed evicted first), so memory is bounded whatever an
 * attacker sends; keys are SHA-256 digests of the pair or address. The
 * price of not locking by id alone: a guesser spread over many addresses
 * gets max_failures tries per address (PBKDF2 and secret length are what
 * stand against that).
 *
 * Tokens: JWS compact, header {"alg", "typ": "at+jwt", "kid"}, claims
 * {"iss", "sub": client_id, "aud", "client_id", "scope", "iat", "exp",
 * "jti"} (jti: 16 random bytes, base64url); ES* signatures as raw R||S.
 * They verify with jwt_verify() against m2m_jwks() parsed by jwks_parse(),
 * and jwt.c classifies them as GW_TOKEN_M2M (sub == client_id).
 *
 * ---- Wiring (for the request path) ----------------------------------------
 * - cfg->m2m.token_path (default /api/v4/auth): m2m_token() when the issuer
 *   is enabled, before the policy (no bearer token is involved); without
 *   [m2m] enabled the path is proxied like any other route.
 * - GET/HEAD cfg->m2m.jwks_path: m2m_jwks(), application/json; other methods
 *   405. The gateway's own [issuer:*] with iss = cfg->m2m.issuer can fetch
 *   it through jwks_uri, or the key store can use m2m_keyset() directly.
 * - GET/HEAD m2m_metadata_path(): m2m_metadata(); m2m_authorize_path():
 *   400 unsupported_response_type.
 * - Reload: build the new instance with m2m_load(), then
 *   m2m_inherit_limits(new, old) so that a SIGHUP does not clear lockouts.
 *
 * Threads: after m2m_load() everything is read-only except the failure
 * table, which has its own mutex; m2m_token() may run on any number of
 * threads at once. m2m_load()/m2m_free() are for one thread (the loader). */
#ifndef GW_M2M_H
#define GW_M2M_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "jwks.h"

#define GW_M2M_MAX_BODY (16 * 1024)      /* the caller reads at most this much */
#define GW_M2M_MAX_TRACKED 10000         /* failure-table entries (ids + addresses) */
#define GW_M2M_MIN_ITERATIONS 100000
#define GW_M2M_MAX_ITERATIONS 10000000
#define GW_M2M_DEFAULT_ITERATIONS 600000
#define GW_M2M_MAX_CLIENT_ID 128
#define GW_M2M_HASH_MAX 256              /* m2m_hash_secret() output, with the NUL */

typedef struct gw_m2m gw_m2m_t;

/* NULL when [m2m] is disabled (errs untouched) or on error (errs->n > 0). */
gw_m2m_t *m2m_load(const gw_config_t *cfg, gw_errors_t *errs);
void m2m_free(gw_m2m_t *m); /* NULL is fine */

/* The public JWKS document, {"keys": [one key with kid, alg, use "sig"]},
 * NUL-terminated; *len (may be NULL) gets its length. Valid until m2m_free. */
const char *m2m_jwks(const gw_m2m_t *m, size_t *len);
/* The RFC 8414 authorization server metadata (issuer, token_endpoint,
 * jwks_uri, grant_types_supported [client_credentials], the auth methods,
 * scopes_supported = every scope some client has), NUL-terminated, and the
 * path it is served on: /.well-known/oauth-authorization-server followed by
 * the issuer's path (RFC 8414 §3). The authorize path is the
 * authorization_endpoint the document names only because MCP clients will
 * not read metadata without one: it answers unsupported_response_type. */
const char *m2m_metadata(const gw_m2m_t *m, size_t *len);
const char *m2m_metadata_path(const gw_m2m_t *m);
const char *m2m_authorize_path(const gw_m2m_t *m);
/* The same key as a key set holding a new reference (jwks_keyset_unref it). */
gw_keyset_t *m2m_keyset(const gw_m2m_t *m);
const char *m2m_kid(const gw_m2m_t *m);
const char *m2m_alg(const gw_m2m_t *m);      /* "RS256", "ES256", ... */
size_t m2m_nclients(const gw_m2m_t *m);

/* Copies prev's failure counters and lockouts into m (prev stays usable). */
void m2m_inherit_limits(gw_m2m_t *m, gw_m2m_t *prev);

typedef struct {
  const char *method;          /* "POST", as received */
  const char *content_type;    /* header value or NULL; parameters (charset) ignored */
  const char *body;            /* the request body; may be NULL when body_len == 0 */
  size_t body_len;             /* <= GW_M2M_MAX_BODY */
  int body_too_large;          /* 1: the body was longer than GW_M2M_MAX_BODY (413) */
  const char *authorization;   /* the one Authorization header value, or NULL. The
                                  caller answers a repeated header with 400 itself. */
  const char *client_addr;     /* peer address without port ("192.0.2.1", "2001:db8::1") */
} gw_m2m_request_t;

/* The lockout counters a token request counts on, for sharing them with
 * other instances (the cluster): [0] the presented client id and address
 * pair (when an id was presented), [1] the address. key is a digest: no id
 * or address in clear; limit is the failures that lock it. */
typedef struct {
  unsigned char key[16];
  unsigned limit;
  int used;
} gw_m2m_lockkey_t;
/* 0 when counting is off (max_failures 0) or no key applies. */
size_t m2m_lockout_keys(const gw_m2m_t *m, const gw_m2m_request_t *req, gw_m2m_lockkey_t out[2]);
/* Another instance's count and lockout for k (never lowers ours). */
void m2m_lockout_seed(gw_m2m_t *m, const gw_m2m_lockkey_t *k, unsigned count, unsigned locked_for_s,
                      int64_t now);
unsigned m2m_lockout_seconds(const gw_m2m_t *m);

typedef enum {
  GW_M2M_ISSUED = 0,
  GW_M2M_METHOD,            /* 405 */
  GW_M2M_TOO_LARGE,         /* 413 */
  GW_M2M_MALFORMED,         /* 400 invalid_request */
  GW_M2M_UNSUPPORTED_GRANT, /* 400 unsupported_grant_type */
  GW_M2M_NO_CLIENT_AUTH,    /* 401 invalid_client: none given, or not Basic */
  GW_M2M_UNKNOWN_CLIENT,    /* 401 invalid_client */
  GW_M2M_BAD_SECRET,        /* 401 invalid_client */
  GW_M2M_LOCKED_CLIENT,     /* 429 */
  GW_M2M_LOCKED_ADDRESS,    /* 429 */
  GW_M2M_INVALID_SCOPE,     /* 400 invalid_scope */
  GW_M2M_SERVER_ERROR,      /* 500 server_error (out of memory, signing failed) */
  GW_M2M_OUTCOME_COUNT
} gw_m2m_outcome_t;

/* Stable name for metrics and the access log, e.g. "bad_secret". */
const char *m2m_outcome_name(gw_m2m_outcome_t o);

typedef struct {
  int status;
  gw_m2m_outcome_t outcome;     /* for metrics/logs only: never tell the client more */
  char *body;                   /* JSON, NUL-terminated */
  size_t body_len;
  /* Headers to add besides Content-Type: application/json, Cache-Control:
   * no-store and Pragma: no-cache (always). NULL / 0 when absent. */
  const char *www_authenticate; /* static: Basic realm="m2m" */
  const char *allow;            /* static: "POST" with 405 */
  unsigned retry_after_s;       /* with 429 */
  /* The authenticated or known client id for the access log (safe chars
   * only), else "". Never the secret or the token. */
  char client_id[GW_M2M_MAX_CLIENT_ID + 1];
  int body_static_;             /* private */
} gw_m2m_response_t;

/* Always fills *out (status 500 on internal failure); free with
 * m2m_response_free(). now_s: Unix seconds. Thread-safe. */
void m2m_token(gw_m2m_t *m, const gw_m2m_request_t *req, int64_t now_s,
               gw_m2m_response_t *out);
void m2m_response_free(gw_m2m_response_t *r);

/* Hashes secret[0..len) into out as "pbkdf2-sha256$ITER$SALT$HASH" with a
 * fresh 16-byte salt and a 32-byte hash. iterations from
 * GW_M2M_MIN_ITERATIONS to GW_M2M_MAX_ITERATIONS. Returns 0, or -1 (bad
 * iterations, cap too small, RNG failure). */
int m2m_hash_secret(const char *secret, size_t len, unsigned iterations, char *out, size_t cap);

#endif
