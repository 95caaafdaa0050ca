/* m2m.c: the built-in client_credentials token issuer. See m2m.h for the
 * contract; this file is the signing key, the JWKS, token signing and the
 * endpoint's decision procedure. The clients file is m2m_clients.c, the
 * failure table m2m_limits.c, request parsing m2m_req.c. */
#include "m2m.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "b64url.h"
#include "fileio.h"
#include "log.h"
#include "m2m-t.h"
#include "m2m_clients.h"
#include "m2m_limits.h"
#include "m2m_req.h"

#define KEY_FILE_MAX (64 * 1024)

/* ------------------------------------------------------------------ */
/* Types                                                               */

struct gw_m2m {
  EVP_PKEY *pkey;
  gw_jwa_t alg;
  const char *md_name;          /* "SHA256" ... */
  size_t ec_coord;              /* 0 for RSA */
  char *kid;
  char *jwks;
  size_t jwks_len;
  gw_keyset_t *keyset;
  char *issuer, *audience;
  int64_t lifetime_s;
  m2m_client_t *clients;
  size_t nclients;
  m2m_client_t dummy;           /* unknown ids are checked against this */
  m2m_limits_t ft;
  char *meta, *meta_path, *authorize_path; /* RFC 8414 document and where it is served */
  size_t meta_len;
};

static const char *const outcome_names[GW_M2M_OUTCOME_COUNT] = {
    [GW_M2M_ISSUED] = "issued",
    [GW_M2M_METHOD] = "method_not_allowed",
    [GW_M2M_TOO_LARGE] = "body_too_large",
    [GW_M2M_MALFORMED] = "invalid_request",
    [GW_M2M_UNSUPPORTED_GRANT] = "unsupported_grant_type",
    [GW_M2M_NO_CLIENT_AUTH] = "no_client_auth",
    [GW_M2M_UNKNOWN_CLIENT] = "unknown_client",
    [GW_M2M_BAD_SECRET] = "bad_secret",
    [GW_M2M_LOCKED_CLIENT] = "locked_client",
    [GW_M2M_LOCKED_ADDRESS] = "locked_address",
    [GW_M2M_INVALID_SCOPE] = "invalid_scope",
    [GW_M2M_SERVER_ERROR] = "server_error",
};

const char *m2m_outcome_name(gw_m2m_outcome_t o) {
  return (unsigned)o < GW_M2M_OUTCOME_COUNT ? outcome_names[o] : "?";
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

/* base64url of bin into a fresh string. */
static char *b64url_dup(const unsigned char *bin, size_t n) {
  size_t cap = B64URL_ENCODED_LEN(n) + 1;
  char *s = malloc(cap);
  if (s && b64url_encode(bin, n, s, cap, NULL) != 0) {
    free(s);
    s = NULL;
  }
  return s;
}

/* Fixed-width big-endian base64url of a BIGNUM parameter (width 0: minimal). */
static char *bn_param_b64(const EVP_PKEY *pk, const char *name, size_t width) {
  BIGNUM *bn = NULL;
  char *out = NULL;
  if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1) return NULL;
  size_t n = width ? width : (size_t)BN_num_bytes(bn);
  unsigned char *buf = malloc(n ? n : 1);
  if (buf && BN_bn2binpad(bn, buf, (int)n) == (int)n) out = b64url_dup(buf, n);
  free(buf);
  BN_free(bn);
  return out;
}

static void sha256(const void *data, size_t n, unsigned char out[32]) {
  unsigned int len = 0;
  if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32) memset(out, 0, 32);
}

/* ------------------------------------------------------------------ */
/* Signing key                                                         */

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return -1;
}

static int load_key(gw_m2m_t *m, const gw_config_t *cfg, gw_errors_t *errs) {
  const char *file = cfg->path;
  int line = cfg->m2m.signing_key_line ? cfg->m2m.signing_key_line : cfg->m2m.line;
  const char *kpath = cfg->m2m.signing_key;
  char why[160];
  char *pem = NULL;
  size_t pemlen = 0;
  if (gw_read_file(kpath, KEY_FILE_MAX, &pem, &pemlen, why, sizeof why) != 0) {
    gw_errors_add(errs, file, line, "signing_key '%s': cannot read: %s", kpath, why);
    return -1;
  }
  bool encrypted = strstr(pem, "ENCRYPTED") != NULL;
  BIO *bio = BIO_new_mem_buf(pem, (int)pemlen);
  EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, NULL, NULL)
                     : NULL;
  BIO_free(bio);
  OPENSSL_cleanse(pem, pemlen);
  free(pem);
  ERR_clear_error();
  if (!pk) {
    gw_errors_add(errs, file, line, "signing_key '%s': %s", kpath,
                  encrypted ? "encrypted private keys are not supported"
                            : "no PEM private key found");
    return -1;
  }
  int ok = 0;
  if (EVP_PKEY_is_a(pk, "RSA")) {
    int bits = EVP_PKEY_get_bits(pk);
    if (bits < GW_JWKS_MIN_RSA_BITS || bits > GW_JWKS_MAX_RSA_BITS) {
      gw_errors_add(errs, file, line, "signing_key '%s': RSA key of %d bits (need %d to %d)",
                    kpath, bits, GW_JWKS_MIN_RSA_BITS, GW_JWKS_MAX_RSA_BITS);
    } else {
      m->alg = GW_JWA_RS256;
      m->md_name = "SHA256";
      ok = 1;
    }
  } else if (EVP_PKEY_is_a(pk, "EC")) {
    char group[64] = "";
    if (EVP_PKEY_get_group_name(pk, group, sizeof group, NULL) != 1) group[0] = '\0';
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
      m->alg = GW_JWA_ES256, m->md_name = "SHA256", m->ec_coord = 32, ok = 1;
    } else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
      m->alg = GW_JWA_ES384, m->md_name = "SHA384", m->ec_coord = 48, ok = 1;
    } else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0) {
      m->alg = GW_JWA_ES512, m->md_name = "SHA512", m->ec_coord = 66, ok = 1;
    } else {
      gw_errors_add(errs, file, line,
                    "signing_key '%s': EC curve %s is not supported (P-256, P-384, P-521)",
                    kpath, group[0] ? group : "(explicit parameters)");
    }
  } else {
    gw_errors_add(errs, file, line,
                  "signing_key '%s': unsupported key type %s (RSA or EC expected)", kpath,
                  EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?");
  }
  if (ok) {
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    /* The pair must match (no primality tests: fast even for big keys). */
    if (!c || EVP_PKEY_pairwise_check(c) != 1) {
      gw_errors_add(errs, file, line, "signing_key '%s': the key fails OpenSSL's key check",
                    kpath);
      ok = 0;
    }
    EVP_PKEY_CTX_free(c);
    ERR_clear_error();
  }
  if (!ok) {
    EVP_PKEY_free(pk);
    return -1;
  }
  m->pkey = pk;
  return 0;
}

/* The public JWK members (RFC 7518 §6) and the RFC 7638 thumbprint. */
static int build_jwks(gw_m2m_t *m, const gw_config_t *cfg, gw_errors_t *errs) {
  char *a = NULL, *b = NULL, *canon = NULL;
  const char *crv = NULL;
  json_t *jwk = NULL, *doc = NULL;
  int rc = -1;
  if (m->ec_coord == 0) {
    a = bn_param_b64(m->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
    b = bn_param_b64(m->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
  } else {
    crv = m->alg == GW_JWA_ES256 ? "P-256" : m->alg == GW_JWA_ES384 ? "P-384" : "P-521";
    a = bn_param_b64(m->pkey, OSSL_PKEY_PARAM_EC_PUB_X, m->ec_coord);
    b = bn_param_b64(m->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, m->ec_coord);
  }
  if (!a || !b) goto out;
  /* RFC 7638 §3.2: required members only, lexicographic order, no blanks. */
  int n = m->ec_coord ? asprintf(&canon, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                                 crv, a, b)
                      : asprintf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b, a);
  if (n < 0) {
    canon = NULL;
    goto out;
  }
  if (cfg->m2m.kid) {
    m->kid = strdup(cfg->m2m.kid);
  } else {
    unsigned char d[32];
    sha256(canon, (size_t)n, d);
    m->kid = b64url_dup(d, sizeof d);
  }
  if (!m->kid) goto out;
  if (m->ec_coord)
    jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "use", "sig", "alg",
                    jwa_name(m->alg), "kid", m->kid, "crv", crv, "x", a, "y", b);
  else
    jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "use", "sig", "alg",
                    jwa_name(m->alg), "kid", m->kid, "n", a, "e", b);
  doc = jwk ? json_pack("{s:[O]}", "keys", jwk) : NULL;
  m->jwks = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  if (!m->jwks) goto out;
  m->jwks_len = strlen(m->jwks);
  char err[256];
  m->keyset = jwks_parse(m->jwks, m->jwks_len, "[m2m]", NULL, NULL, err, sizeof err);
  if (!m->keyset) {
    gw_errors_add(errs, cfg->path, cfg->m2m.signing_key_line,
                  "signing_key '%s': the public key is not usable: %s", cfg->m2m.signing_key,
                  err);
    goto out_reported;
  }
  rc = 0;
  goto done;
out:
  gw_errors_add(errs, cfg->path, cfg->m2m.signing_key_line,
                "signing_key '%s': cannot build the public JWK (out of memory?)",
                cfg->m2m.signing_key);
out_reported:
done:
  ERR_clear_error();
  json_decref(jwk);
  json_decref(doc);
  free(a);
  free(b);
  free(canon);
  return rc;
}

/* ------------------------------------------------------------------ */
/* RFC 8414 metadata                                                   */

/* RFC 8414 §3: "/.well-known/oauth-authorization-server" goes between the
 * issuer's host and its path (NULL on OOM). */
static char *metadata_path(const char *issuer) {
  const char *p = strstr(issuer, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  size_t n = p ? strlen(p) : 0;
  while (n && p[n - 1] == '/') n--; /* "https://h/" names the same issuer as "https://h" */
  char *s = NULL;
  if (asprintf(&s, "/.well-known/oauth-authorization-server%.*s", (int)n, p ? p : "") < 0) return NULL;
  return s;
}

static int add_url(json_t *o, const char *key, const char *base, const char *path) {
  char *u = NULL;
  if (asprintf(&u, "%s%s", base, path) < 0) return -1;
  int rc = json_object_set_new(o, key, json_string(u));
  free(u);
  return rc;
}

/* Only what this issuer does: client_credentials with a client secret. The
 * official MCP SDK's parser insists on authorization_endpoint and
 * response_types_supported, which RFC 8414 lets an issuer without an
 * authorization endpoint omit; the endpoint named answers every request with
 * unsupported_response_type, and no response type is listed. */
static int build_metadata(gw_m2m_t *m, const gw_config_t *cfg, gw_errors_t *errs) {
  const gw_m2m_cfg_t *mc = &cfg->m2m;
  size_t il = strlen(m->issuer);
  while (il && m->issuer[il - 1] == '/') il--;
  char *base = strndup(m->issuer, il);
  const char *pub = cfg->public_url ? cfg->public_url : base;
  json_t *o = json_object(), *scopes = json_array();
  m->meta_path = metadata_path(m->issuer);
  m->authorize_path = NULL;
  if (mc->token_path && asprintf(&m->authorize_path, "%s/authorize", mc->token_path) < 0)
    m->authorize_path = NULL;
  int bad = !base || !o || !scopes || !m->meta_path || !m->authorize_path;
  for (size_t i = 0; !bad && i < m->nclients; i++) {
    for (size_t k = 0; k < m->clients[i].nscopes; k++) {
      const char *sc = m->clients[i].scopes[k];
      int seen = 0;
      for (size_t j = 0; j < json_array_size(scopes); j++)
        if (strcmp(json_string_value(json_array_get(scopes, j)), sc) == 0) seen = 1;
      if (!seen && json_array_append_new(scopes, json_string(sc)) != 0) bad = 1;
    }
  }
  if (!bad) {
    bad = json_object_set_new(o, "issuer", json_string(m->issuer)) != 0 ||
          add_url(o, "token_endpoint", pub, mc->token_path) != 0 ||
          add_url(o, "jwks_uri", pub, mc->jwks_path) != 0 ||
          add_url(o, "authorization_endpoint", pub, m->authorize_path) != 0 ||
          json_object_set_new(o, "response_types_supported", json_array()) != 0 ||
          json_object_set_new(o, "grant_types_supported", json_pack("[s]", "client_credentials")) != 0 ||
          json_object_set_new(o, "token_endpoint_auth_methods_supported",
                              json_pack("[s,s]", "client_secret_basic", "client_secret_post")) != 0 ||
          json_object_set_new(o, "scopes_supported", json_incref(scopes)) != 0;
  }
  m->meta = bad ? NULL : json_dumps(o, JSON_COMPACT);
  if (m->meta) m->meta_len = strlen(m->meta);
  json_decref(o);
  json_decref(scopes);
  free(base);
  if (!m->meta) {
    gw_errors_add(errs, cfg->path, mc->line, "[m2m]: cannot build the RFC 8414 metadata (out of memory?)");
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Load / free                                                         */

void m2m_free(gw_m2m_t *m) {
  if (!m) return;
  EVP_PKEY_free(m->pkey);
  free(m->kid);
  free(m->jwks);
  jwks_keyset_unref(m->keyset);
  free(m->issuer);
  free(m->audience);
  free(m->meta);
  free(m->meta_path);
  free(m->authorize_path);
  m2m_clients_free(m->clients, m->nclients);
  m2m_limits_destroy(&m->ft);
  free(m);
}

gw_m2m_t *m2m_load(const gw_config_t *cfg, gw_errors_t *errs) {
  if (!cfg || !cfg->m2m.enabled) return NULL;
  const gw_m2m_cfg_t *mc = &cfg->m2m;
  if (!mc->issuer || !mc->signing_key || !mc->clients_file || !mc->audience) {
    gw_errors_add(errs, cfg->path, mc->line, "[m2m] is incomplete (issuer, signing_key, "
                                             "clients and an audience are needed)");
    return NULL;
  }
  gw_m2m_t *m = calloc(1, sizeof *m);
  if (!m) {
    gw_errors_add(errs, cfg->path, mc->line, "out of memory");
    return NULL;
  }
  m2m_limits_init(&m->ft, mc->max_failures, (int64_t)((mc->lockout_ms + 999) / 1000));
  m->issuer = strdup(mc->issuer);
  m->audience = strdup(mc->audience);
  m->lifetime_s = (int64_t)(mc->lifetime_ms / 1000);
  if (!m->issuer || !m->audience) {
    gw_errors_add(errs, cfg->path, mc->line, "out of memory");
    m2m_free(m);
    return NULL;
  }
  /* Both are checked, so that -t reports key and clients problems at once. */
  int bad = 0;
  if (load_key(m, cfg, errs) != 0 || build_jwks(m, cfg, errs) != 0) bad = 1;
  if (m2m_clients_load(cfg, errs, &m->clients, &m->nclients) != 0) bad = 1;
  if (bad) {
    m2m_free(m);
    return NULL;
  }
  if (build_metadata(m, cfg, errs) != 0) {
    m2m_free(m);
    return NULL;
  }
  if (m2m_client_dummy(&m->dummy, m->clients, m->nclients) != 0) {
    gw_errors_add(errs, cfg->path, mc->line, "[m2m]: the random generator failed");
    m2m_free(m);
    return NULL;
  }
  return m;
}

const char *m2m_jwks(const gw_m2m_t *m, size_t *len) {
  if (len) *len = m ? m->jwks_len : 0;
  return m ? m->jwks : NULL;
}
const char *m2m_metadata(const gw_m2m_t *m, size_t *len) {
  if (len) *len = m ? m->meta_len : 0;
  return m ? m->meta : NULL;
}
const char *m2m_metadata_path(const gw_m2m_t *m) { return m ? m->meta_path : NULL; }
const char *m2m_authorize_path(const gw_m2m_t *m) { return m ? m->authorize_path : NULL; }
gw_keyset_t *m2m_keyset(const gw_m2m_t *m) { return m ? jwks_keyset_ref(m->keyset) : NULL; }
const char *m2m_kid(const gw_m2m_t *m) { return m ? m->kid : NULL; }
const char *m2m_alg(const gw_m2m_t *m) { return m ? jwa_name(m->alg) : NULL; }
size_t m2m_nclients(const gw_m2m_t *m) { return m ? m->nclients : 0; }

size_t m2m_lockout_keys(const gw_m2m_t *m, const gw_m2m_request_t *req, gw_m2m_lockkey_t out[2]) {
  memset(out, 0, 2 * sizeof *out);
  if (!m || !m->ft.max_failures || !req->client_addr || !req->client_addr[0]) return 0;
  m2m_limit_key_t k;
  m2m_limit_key_addr(req->client_addr, &k);
  memcpy(out[1].key, k.key, 16);
  out[1].limit = m->ft.max_failures * (k.factor ? k.factor : 1);
  out[1].used = 1;
  m2m_params_t p;
  memset(&p, 0, sizeof p);
  if (m2m_req_parse(req->body, req->body_len, req->content_type, req->authorization, &p) == M2M_REQ_OK) {
    const char *id = p.basic ? p.basic_id : p.v[M2M_P_ID];
    size_t n = p.basic ? p.basic_id_len : p.len[M2M_P_ID];
    if (id && n) {
      m2m_limit_key_pair(id, n, req->client_addr, &k);
      memcpy(out[0].key, k.key, 16);
      out[0].limit = m->ft.max_failures * (k.factor ? k.factor : 1);
      out[0].used = 1;
    }
  }
  m2m_params_free(&p);
  return 2;
}

void m2m_lockout_seed(gw_m2m_t *m, const gw_m2m_lockkey_t *k, unsigned count, unsigned locked_for_s,
                      int64_t now) {
  if (!m || !k->used) return;
  m2m_limit_key_t key;
  memset(&key, 0, sizeof key);
  memcpy(key.key, k->key, 16);
  key.used = 1;
  m2m_limits_seed(&m->ft, &key, count, locked_for_s, now);
}

unsigned m2m_lockout_seconds(const gw_m2m_t *m) { return m ? (unsigned)m->ft.lockout_s : 0; }

void m2m_inherit_limits(gw_m2m_t *m, gw_m2m_t *prev) {
  if (m && prev) m2m_limits_inherit(&m->ft, &prev->ft);
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */

static const char oom_body[] =
    "{\"error\":\"server_error\",\"error_description\":\"internal error\"}";

static void set_body(gw_m2m_response_t *r, json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s) {
    r->status = 500;
    r->outcome = GW_M2M_SERVER_ERROR;
    r->www_authenticate = NULL;
    r->allow = NULL;
    r->retry_after_s = 0;
    r->body = (char *)oom_body;
    r->body_len = sizeof oom_body - 1;
    r->body_static_ = 1;
    return;
  }
  r->body = s;
  r->body_len = strlen(s);
}

static void answer(gw_m2m_response_t *r, int status, gw_m2m_outcome_t o, const char *error,
                   const char *desc) {
  r->status = status;
  r->outcome = o;
  if (status == 401) r->www_authenticate = "Basic realm=\"m2m\"";
  set_body(r, json_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

void m2m_response_free(gw_m2m_response_t *r) {
  if (!r) return;
  if (!r->body_static_) free(r->body);
  r->body = NULL;
  r->body_len = 0;
}

/* ------------------------------------------------------------------ */
/* Token                                                               */

/* DER ECDSA-Sig-Value -> fixed-width R||S (RFC 7518 §3.4). */
static int ecdsa_der_to_raw(const unsigned char *der, size_t len, size_t coord,
                            unsigned char *out) {
  const unsigned char *p = der;
  ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
  if (!s) return -1;
  const BIGNUM *r = NULL, *sv = NULL;
  ECDSA_SIG_get0(s, &r, &sv);
  int ok = BN_bn2binpad(r, out, (int)coord) == (int)coord &&
           BN_bn2binpad(sv, out + coord, (int)coord) == (int)coord;
  ECDSA_SIG_free(s);
  return ok ? 0 : -1;
}

static char *b64url_json(json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  char *o = s ? b64url_dup((const unsigned char *)s, strlen(s)) : NULL;
  free(s);
  return o;
}

static char *sign_token(const gw_m2m_t *m, const m2m_client_t *cl, const char *scope,
                        int64_t now) {
  unsigned char jti[16];
  char jti64[B64URL_ENCODED_LEN(sizeof jti) + 1];
  if (RAND_bytes(jti, sizeof jti) != 1) return NULL;
  b64url_encode(jti, sizeof jti, jti64, sizeof jti64, NULL);

  json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", jwa_name(m->alg), "typ", "at+jwt", "kid",
                          m->kid);
  json_t *pl = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "iss", m->issuer, "sub",
                         cl->id, "aud", m->audience, "client_id", cl->id, "scope", scope, "iat",
                         (json_int_t)now, "exp", (json_int_t)(now + m->lifetime_s), "jti",
                         jti64);
  char *h64 = b64url_json(hdr), *p64 = b64url_json(pl);
  json_decref(hdr);
  json_decref(pl);
  char *input = NULL, *tok = NULL;
  unsigned char *sig = NULL;
  unsigned char raw[2 * 66];
  EVP_MD_CTX *mc = NULL;
  if (!h64 || !p64 || asprintf(&input, "%s.%s", h64, p64) < 0) {
    input = NULL;
    goto out;
  }
  size_t inlen = strlen(input), siglen = 0;
  mc = EVP_MD_CTX_new();
  if (!mc || EVP_DigestSignInit_ex(mc, NULL, m->md_name, NULL, NULL, m->pkey, NULL) != 1 ||
      EVP_DigestSign(mc, NULL, &siglen, (const unsigned char *)input, inlen) != 1)
    goto out;
  sig = malloc(siglen);
  if (!sig || EVP_DigestSign(mc, sig, &siglen, (const unsigned char *)input, inlen) != 1) goto out;
  const unsigned char *final = sig;
  size_t flen = siglen;
  if (m->ec_coord) {
    if (ecdsa_der_to_raw(sig, siglen, m->ec_coord, raw) != 0) goto out;
    final = raw;
    flen = 2 * m->ec_coord;
  }
  size_t slen = B64URL_ENCODED_LEN(flen);
  tok = malloc(inlen + 1 + slen + 1);
  if (!tok) goto out;
  memcpy(tok, input, inlen);
  tok[inlen] = '.';
  if (b64url_encode(final, flen, tok + inlen + 1, slen + 1, NULL) != 0) {
    free(tok);
    tok = NULL;
  }
out:
  ERR_clear_error();
  EVP_MD_CTX_free(mc);
  free(sig);
  free(input);
  free(h64);
  free(p64);
  return tok;
}

/* from: the address a client id is locked out at (NULL: the address itself is). */
static void log_lockout(const gw_m2m_t *m, const char *what, const char *v, size_t n,
                        const char *from, unsigned failures) {
  char safe[6 * GW_M2M_MAX_CLIENT_ID + 8]; /* gw_log_safe keeps cap/6 input bytes */
  char at[6 * 64 + 8];
  LOG_WARN("m2m: %s '%s'%s%s locked out for %llds after %u failed authentications", what,
           gw_log_safe(safe, sizeof safe, v, n), from ? " at address " : "",
           from ? gw_log_safe(at, sizeof at, from, strlen(from)) : "", (long long)m->ft.lockout_s,
           failures);
}

void m2m_token(gw_m2m_t *m, const gw_m2m_request_t *req, int64_t now,
               gw_m2m_response_t *out) {
  memset(out, 0, sizeof *out);
  m2m_params_t p;
  memset(&p, 0, sizeof p);
  m2m_limit_key_t keys[2]; /* [0] the client id and address pair, [1] the address */
  memset(keys, 0, sizeof keys);

  if (!m || !req) {
    answer(out, 500, GW_M2M_SERVER_ERROR, "server_error", "internal error");
    return;
  }
  if (!req->method || strcmp(req->method, "POST") != 0) {
    out->allow = "POST";
    answer(out, 405, GW_M2M_METHOD, "invalid_request", "the token endpoint accepts POST only");
    return;
  }
  if (req->body_too_large || req->body_len > GW_M2M_MAX_BODY) {
    answer(out, 413, GW_M2M_TOO_LARGE, "invalid_request", "the request body is too large");
    return;
  }
  bool limit = m->ft.max_failures > 0;
  if (limit && req->client_addr && req->client_addr[0]) {
    m2m_limit_key_addr(req->client_addr, &keys[1]);
    /* Cheap early refusal, before any parsing or hashing. */
    unsigned retry = m2m_limits_locked(&m->ft, &keys[1], now);
    if (retry) {
      out->retry_after_s = retry;
      answer(out, 429, GW_M2M_LOCKED_ADDRESS, "slow_down",
             "too many failed authentications; retry later");
      return;
    }
  }

  int a = m2m_req_parse(req->body, req->body_len, req->content_type, req->authorization, &p);
  if (a == M2M_REQ_OTHER_SCHEME) {
    answer(out, 401, GW_M2M_NO_CLIENT_AUTH, "invalid_client",
           "unsupported client authentication method: use HTTP Basic or client_id and "
           "client_secret in the body");
    goto done;
  }
  if (a == M2M_REQ_NOMEM) goto oom;
  if (a != M2M_REQ_OK) {
    answer(out, 400, GW_M2M_MALFORMED, "invalid_request", p.why);
    goto done;
  }

  if (!p.v[M2M_P_GRANT]) {
    if (!(p.basic && req->body_len == 0)) {
      answer(out, 400, GW_M2M_MALFORMED, "invalid_request", "grant_type is missing");
      goto done;
    }
  } else if (strcmp(p.v[M2M_P_GRANT], "client_credentials") != 0) {
    answer(out, 400, GW_M2M_UNSUPPORTED_GRANT, "unsupported_grant_type",
           "only grant_type client_credentials is supported");
    goto done;
  }

  const char *id, *secret;
  size_t id_len, secret_len;
  if (p.basic) {
    bool other_id = p.v[M2M_P_ID] && (p.len[M2M_P_ID] != p.basic_id_len ||
                                      memcmp(p.v[M2M_P_ID], p.basic_id, p.basic_id_len) != 0);
    if (p.v[M2M_P_SECRET] || other_id) {
      answer(out, 400, GW_M2M_MALFORMED, "invalid_request",
             "client credentials must be sent either with HTTP Basic or in the body, not both");
      goto done;
    }
    id = p.basic_id, id_len = p.basic_id_len;
    secret = p.basic_secret, secret_len = p.basic_secret_len;
  } else if (p.v[M2M_P_ID] && p.v[M2M_P_SECRET]) {
    if (p.len[M2M_P_ID] == 0) {
      answer(out, 400, GW_M2M_MALFORMED, "invalid_request", "client_id is empty");
      goto done;
    }
    id = p.v[M2M_P_ID], id_len = p.len[M2M_P_ID];
    secret = p.v[M2M_P_SECRET], secret_len = p.len[M2M_P_SECRET];
  } else if (p.v[M2M_P_ID] || p.v[M2M_P_SECRET]) {
    answer(out, 400, GW_M2M_MALFORMED, "invalid_request",
           p.v[M2M_P_ID] ? "client_secret is missing" : "client_id is missing");
    goto done;
  } else {
    answer(out, 401, GW_M2M_NO_CLIENT_AUTH, "invalid_client",
           "client authentication is required: HTTP Basic, or client_id and client_secret "
           "in the body");
    goto done;
  }

  const m2m_client_t *cl = m2m_client_find(m->clients, m->nclients, id, id_len);
  if (cl) memcpy(out->client_id, cl->id, cl->id_len + 1);

  if (limit) {
    m2m_limit_key_pair(id, id_len, req->client_addr, &keys[0]);
    size_t which = 0;
    unsigned retry = m2m_limits_begin(&m->ft, keys, 2, now, &which);
    if (retry) {
      out->retry_after_s = retry;
      answer(out, 429, which == 0 ? GW_M2M_LOCKED_CLIENT : GW_M2M_LOCKED_ADDRESS, "slow_down",
             "too many failed authentications; retry later");
      goto done;
    }
  }
  int ok = m2m_client_check_secret(cl ? cl : &m->dummy, secret, secret_len) && cl;
  if (limit) {
    unsigned locked = m2m_limits_end(&m->ft, keys, 2, now, !ok);
    if (locked & 1u)
      log_lockout(m, "client id", id, id_len, req->client_addr ? req->client_addr : "",
                  m->ft.max_failures);
    if (locked & 2u)
      log_lockout(m, "address", req->client_addr, strlen(req->client_addr), NULL,
                  m->ft.max_failures * GW_M2M_ADDR_FACTOR);
  }
  if (!ok) {
    answer(out, 401, cl ? GW_M2M_BAD_SECRET : GW_M2M_UNKNOWN_CLIENT, "invalid_client",
           "client authentication failed");
    goto done;
  }

  char bad[72];
  int invalid = 0;
  char *scope =
      m2m_client_grant_scopes(cl, p.v[M2M_P_SCOPE], p.len[M2M_P_SCOPE], bad, sizeof bad, &invalid);
  if (!scope && invalid) {
    char desc[160];
    if (bad[0])
      snprintf(desc, sizeof desc, "scope '%s' is not granted to this client", bad);
    else
      snprintf(desc, sizeof desc, "a requested scope is not granted to this client");
    answer(out, 400, GW_M2M_INVALID_SCOPE, "invalid_scope", desc);
    goto done;
  }
  if (!scope) goto oom;
  char *tok = sign_token(m, cl, scope, now);
  if (!tok) {
    free(scope);
    goto oom;
  }
  out->status = 200;
  out->outcome = GW_M2M_ISSUED;
  set_body(out, json_pack("{s:s, s:s, s:I, s:s}", "access_token", tok, "token_type", "Bearer",
                          "expires_in", (json_int_t)m->lifetime_s, "scope", scope));
  free(tok);
  free(scope);
  goto done;

oom:
  out->www_authenticate = NULL;
  out->allow = NULL;
  out->retry_after_s = 0;
  answer(out, 500, GW_M2M_SERVER_ERROR, "server_error", "internal error");
done:
  m2m_params_free(&p);
}
