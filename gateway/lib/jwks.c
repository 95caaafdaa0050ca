#include "jwks.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "b64url.h"

/* ---- algorithm names ---------------------------------------------------- */

static const struct {
  const char *name;
  gw_kty_t kty;
  gw_crv_t crv;
} jwa_table[GW_JWA_COUNT] = {
    [GW_JWA_RS256] = {"RS256", GW_KTY_RSA, GW_CRV_NONE},
    [GW_JWA_RS384] = {"RS384", GW_KTY_RSA, GW_CRV_NONE},
    [GW_JWA_RS512] = {"RS512", GW_KTY_RSA, GW_CRV_NONE},
    [GW_JWA_PS256] = {"PS256", GW_KTY_RSA, GW_CRV_NONE},
    [GW_JWA_PS384] = {"PS384", GW_KTY_RSA, GW_CRV_NONE},
    [GW_JWA_PS512] = {"PS512", GW_KTY_RSA, GW_CRV_NONE},
    [GW_JWA_ES256] = {"ES256", GW_KTY_EC, GW_CRV_P256},
    [GW_JWA_ES384] = {"ES384", GW_KTY_EC, GW_CRV_P384},
    [GW_JWA_ES512] = {"ES512", GW_KTY_EC, GW_CRV_P521},
};

int jwa_from_name(const char *name, size_t len) {
  if (len != 5) return -1;
  for (int i = 0; i < GW_JWA_COUNT; i++)
    if (memcmp(jwa_table[i].name, name, 5) == 0) return i;
  return -1;
}

const char *jwa_name(gw_jwa_t alg) {
  return (unsigned)alg < GW_JWA_COUNT ? jwa_table[alg].name : "?";
}

int jwks_key_fits(const gw_jwk_t *k, gw_jwa_t alg) {
  if ((unsigned)alg >= GW_JWA_COUNT) return 0;
  return k->kty == jwa_table[alg].kty && k->crv == jwa_table[alg].crv;
}

static int key_fits_fully(const gw_jwk_t *k, gw_jwa_t alg) {
  return jwks_key_fits(k, alg) && (k->alg < 0 || k->alg == (int)alg);
}

/* ---- curves --------------------------------------------------------------- */

static const struct {
  const char *jwk_name;
  const char *ossl_name;
  size_t coord_len;
} curves[] = {
    [GW_CRV_P256] = {"P-256", "prime256v1", 32},
    [GW_CRV_P384] = {"P-384", "secp384r1", 48},
    [GW_CRV_P521] = {"P-521", "secp521r1", 66},
};

/* ---- logging -------------------------------------------------------------- */

typedef struct {
  const char *source;
  gw_jwks_log_fn log;
  void *ud;
  size_t index;
  const char *kid;
  size_t kid_len;
} parse_ctx_t;

/* Key ids come from the network: keep them printable and short in logs. */
static void safe_copy(char *dst, size_t cap, const char *s, size_t len) {
  size_t o = 0, max = cap > 4 ? cap - 4 : 0;
  for (size_t i = 0; i < len && o < max; i++) {
    unsigned char c = (unsigned char)s[i];
    dst[o++] = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? (char)c : '?';
  }
  if (len > max && cap >= 4) {
    memcpy(dst + o, "...", 3);
    o += 3;
  }
  if (cap) dst[o < cap ? o : cap - 1] = '\0';
}

static void skip_key(parse_ctx_t *pc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void skip_key(parse_ctx_t *pc, const char *fmt, ...) {
  if (!pc->log) return;
  char why[160], kid[72], msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (pc->kid)
    safe_copy(kid, sizeof kid, pc->kid, pc->kid_len);
  snprintf(msg, sizeof msg, "jwks %s: key #%zu (kid %s%s%s) skipped: %s", pc->source, pc->index,
           pc->kid ? "\"" : "", pc->kid ? kid : "none", pc->kid ? "\"" : "", why);
  pc->log(pc->ud, msg);
}

/* ---- key material ------------------------------------------------------- */

/* Decodes a base64url member into a fresh buffer; -1 when absent, not a
 * string or not canonical base64url. */
static int member_bytes(json_t *jwk, const char *name, unsigned char **out, size_t *outlen) {
  json_t *v = json_object_get(jwk, name);
  if (!json_is_string(v)) return -1;
  const char *s = json_string_value(v);
  size_t len = json_string_length(v);
  size_t cap = B64URL_DECODED_LEN(len);
  unsigned char *buf = malloc(cap ? cap : 1);
  if (!buf) return -1;
  if (b64url_decode(s, len, buf, cap, outlen) != 0) {
    free(buf);
    return -1;
  }
  *out = buf;
  return 0;
}

/* Runs OpenSSL's own public-key validation (for EC: on the curve, not the
 * point at infinity, right order), so nothing odd reaches the hot path. */
static int public_check(EVP_PKEY *pkey) {
  EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
  int ok = c && EVP_PKEY_public_check(c) == 1;
  EVP_PKEY_CTX_free(c);
  return ok;
}

static EVP_PKEY *fromdata(const char *type, OSSL_PARAM_BLD *bld) {
  EVP_PKEY *pkey = NULL;
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
  if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
    pkey = NULL;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  return pkey;
}

static EVP_PKEY *load_rsa(parse_ctx_t *pc, json_t *jwk, int *bits) {
  unsigned char *n = NULL, *e = NULL;
  size_t nlen = 0, elen = 0;
  EVP_PKEY *pkey = NULL;
  BIGNUM *bn_n = NULL, *bn_e = NULL;
  OSSL_PARAM_BLD *bld = NULL;
  if (member_bytes(jwk, "n", &n, &nlen) != 0 || member_bytes(jwk, "e", &e, &elen) != 0) {
    skip_key(pc, "RSA \"n\" or \"e\" missing or not base64url");
    goto out;
  }
  /* Bound the work before OpenSSL sees it: the modulus (leading zero
   * octets tolerated) decides verify cost, and 8 bytes of exponent is
   * already far beyond anything real. */
  size_t skip0 = 0;
  while (skip0 < nlen && n[skip0] == 0) skip0++;
  if ((nlen - skip0) * 8 > GW_JWKS_MAX_RSA_BITS || elen == 0 || elen > 8) {
    skip_key(pc, "RSA modulus or exponent out of bounds");
    goto out;
  }
  bn_n = BN_bin2bn(n, (int)nlen, NULL);
  bn_e = BN_bin2bn(e, (int)elen, NULL);
  bld = OSSL_PARAM_BLD_new();
  if (!bn_n || !bn_e || !bld) {
    skip_key(pc, "out of memory");
    goto out;
  }
  int nbits = BN_num_bits(bn_n);
  if (nbits < GW_JWKS_MIN_RSA_BITS) {
    skip_key(pc, "RSA key of %d bits is below %d", nbits, GW_JWKS_MIN_RSA_BITS);
    goto out;
  }
  if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
      !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) ||
      !(pkey = fromdata("RSA", bld))) {
    skip_key(pc, "OpenSSL refused the RSA key");
    goto out;
  }
  if (!public_check(pkey)) {
    EVP_PKEY_free(pkey);
    pkey = NULL;
    skip_key(pc, "RSA public key fails validation");
    goto out;
  }
  *bits = nbits;
out:
  ERR_clear_error();
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  free(n);
  free(e);
  return pkey;
}

static EVP_PKEY *load_ec(parse_ctx_t *pc, json_t *jwk, gw_crv_t *crv_out, int *bits) {
  unsigned char *x = NULL, *y = NULL;
  size_t xlen = 0, ylen = 0;
  EVP_PKEY *pkey = NULL;
  OSSL_PARAM_BLD *bld = NULL;
  unsigned char point[1 + 2 * 66];

  json_t *jcrv = json_object_get(jwk, "crv");
  gw_crv_t crv = GW_CRV_NONE;
  if (json_is_string(jcrv))
    for (int c = GW_CRV_P256; c <= GW_CRV_P521; c++)
      if (strcmp(json_string_value(jcrv), curves[c].jwk_name) == 0 &&
          json_string_length(jcrv) == strlen(curves[c].jwk_name))
        crv = (gw_crv_t)c;
  if (crv == GW_CRV_NONE) {
    skip_key(pc, "EC curve missing or not P-256/P-384/P-521");
    goto out;
  }
  if (member_bytes(jwk, "x", &x, &xlen) != 0 || member_bytes(jwk, "y", &y, &ylen) != 0) {
    skip_key(pc, "EC \"x\" or \"y\" missing or not base64url");
    goto out;
  }
  /* RFC 7518 §6.2.1.2: coordinates are the full field size, always. */
  size_t cl = curves[crv].coord_len;
  if (xlen != cl || ylen != cl) {
    skip_key(pc, "EC coordinates are not %zu bytes", cl);
    goto out;
  }
  point[0] = 0x04; /* uncompressed SEC1 point */
  memcpy(point + 1, x, cl);
  memcpy(point + 1 + cl, y, cl);
  bld = OSSL_PARAM_BLD_new();
  /* OpenSSL refuses a point that is not on the curve while importing, and
   * public_check() below repeats that with the order check. */
  if (!bld ||
      !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[crv].ossl_name, 0) ||
      !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * cl) ||
      !(pkey = fromdata("EC", bld)) || !public_check(pkey)) {
    EVP_PKEY_free(pkey);
    pkey = NULL;
    skip_key(pc, "EC point is not a valid public key on %s", curves[crv].jwk_name);
    goto out;
  }
  *crv_out = crv;
  *bits = EVP_PKEY_get_bits(pkey);
out:
  ERR_clear_error();
  OSSL_PARAM_BLD_free(bld);
  free(x);
  free(y);
  return pkey;
}

/* ---- one JWK -------------------------------------------------------------- */

/* Returns 1 and fills k when the JWK is usable, 0 when skipped (logged),
 * -1 on allocation failure. */
static int parse_key(parse_ctx_t *pc, json_t *jwk, gw_jwk_t *k) {
  memset(k, 0, sizeof *k);
  k->alg = -1;
  if (!json_is_object(jwk)) {
    skip_key(pc, "not a JSON object");
    return 0;
  }
  json_t *jkid = json_object_get(jwk, "kid");
  if (jkid) {
    if (!json_is_string(jkid)) {
      skip_key(pc, "\"kid\" is not a string");
      return 0;
    }
    pc->kid = json_string_value(jkid);
    pc->kid_len = json_string_length(jkid);
    if (pc->kid_len > GW_JWKS_MAX_KID) {
      skip_key(pc, "\"kid\" longer than %d bytes", GW_JWKS_MAX_KID);
      return 0;
    }
  }
  /* A published private or symmetric key is an operator mistake worth
   * shouting about, and we must never use its secret parts. */
  static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};
  for (size_t i = 0; i < sizeof private_members / sizeof *private_members; i++)
    if (json_object_get(jwk, private_members[i])) {
      skip_key(pc, "contains private member \"%s\"", private_members[i]);
      return 0;
    }
  json_t *use = json_object_get(jwk, "use");
  if (use && !(json_is_string(use) && strcmp(json_string_value(use), "sig") == 0 &&
               json_string_length(use) == 3)) {
    skip_key(pc, "\"use\" is not \"sig\"");
    return 0;
  }
  json_t *ops = json_object_get(jwk, "key_ops");
  if (ops) {
    int verify = 0;
    size_t i;
    json_t *op;
    if (json_is_array(ops))
      json_array_foreach(ops, i, op) {
        if (json_is_string(op) && json_string_length(op) == 6 &&
            strcmp(json_string_value(op), "verify") == 0)
          verify = 1;
      }
    if (!verify) {
      skip_key(pc, "\"key_ops\" does not allow \"verify\"");
      return 0;
    }
  }
  json_t *kty = json_object_get(jwk, "kty");
  const char *ktys = json_is_string(kty) ? json_string_value(kty) : "";
  size_t ktyl = json_is_string(kty) ? json_string_length(kty) : 0;
  if (ktyl == 3 && memcmp(ktys, "RSA", 3) == 0) {
    k->kty = GW_KTY_RSA;
  } else if (ktyl == 2 && memcmp(ktys, "EC", 2) == 0) {
    k->kty = GW_KTY_EC;
  } else {
    char t[24];
    safe_copy(t, sizeof t, ktys, ktyl);
    skip_key(pc, "unsupported kty \"%s\"", t);
    return 0;
  }
  json_t *alg = json_object_get(jwk, "alg");
  if (alg) {
    k->alg = json_is_string(alg) ? jwa_from_name(json_string_value(alg), json_string_length(alg))
                                 : -1;
    if (k->alg < 0) {
      skip_key(pc, "\"alg\" is not a supported signature algorithm");
      return 0;
    }
  }
  if (k->kty == GW_KTY_RSA)
    k->pkey = load_rsa(pc, jwk, &k->bits);
  else
    k->pkey = load_ec(pc, jwk, &k->crv, &k->bits);
  if (!k->pkey) return 0;
  if (k->alg >= 0 && !jwks_key_fits(k, (gw_jwa_t)k->alg)) {
    skip_key(pc, "\"alg\" %s does not match the key type/curve", jwa_name((gw_jwa_t)k->alg));
    EVP_PKEY_free(k->pkey);
    k->pkey = NULL;
    return 0;
  }
  if (pc->kid) {
    k->kid = malloc(pc->kid_len + 1);
    if (!k->kid) {
      EVP_PKEY_free(k->pkey);
      k->pkey = NULL;
      return -1;
    }
    memcpy(k->kid, pc->kid, pc->kid_len);
    k->kid[pc->kid_len] = '\0';
    k->kid_len = pc->kid_len;
  }
  return 1;
}

/* ---- the set -------------------------------------------------------------- */

static void keyset_free(gw_keyset_t *ks) {
  for (size_t i = 0; i < ks->nkeys; i++) {
    EVP_PKEY_free(ks->keys[i].pkey);
    free(ks->keys[i].kid);
  }
  free(ks->keys);
  free(ks->source);
  free(ks);
}

static void set_err(char *err, size_t errlen, const char *source, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_err(char *err, size_t errlen, const char *source, const char *fmt, ...) {
  if (!err || !errlen) return;
  char why[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  snprintf(err, errlen, "jwks %s: %s", source, why);
}

gw_keyset_t *jwks_parse(const char *json, size_t len, const char *source_name,
                        gw_jwks_log_fn log, void *ud, char *err, size_t errlen) {
  const char *src = source_name ? source_name : "(unnamed)";
  if (err && errlen) err[0] = '\0';
  if (len > GW_JWKS_MAX_DOC) {
    set_err(err, errlen, src, "document of %zu bytes is over the %d byte limit", len,
            GW_JWKS_MAX_DOC);
    return NULL;
  }
  json_error_t jerr;
  json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc) {
    set_err(err, errlen, src, "not valid JSON (line %d: %s)", jerr.line, jerr.text);
    return NULL;
  }
  json_t *keys = json_object_get(doc, "keys");
  if (!json_is_object(doc) || !json_is_array(keys)) {
    set_err(err, errlen, src, "no \"keys\" array");
    json_decref(doc);
    return NULL;
  }
  size_t n = json_array_size(keys);
  if (n > GW_JWKS_MAX_KEYS) {
    set_err(err, errlen, src, "%zu keys is over the limit of %d", n, GW_JWKS_MAX_KEYS);
    json_decref(doc);
    return NULL;
  }
  gw_keyset_t *ks = calloc(1, sizeof *ks);
  if (ks) {
    size_t sl = strlen(src);
    ks->source = malloc(sl + 1);
    if (ks->source) memcpy(ks->source, src, sl + 1);
    ks->keys = calloc(n ? n : 1, sizeof *ks->keys);
  }
  if (!ks || !ks->source || !ks->keys) goto oom;
  atomic_init(&ks->refs_, 1);
  for (size_t i = 0; i < n; i++) {
    parse_ctx_t pc = {.source = src, .log = log, .ud = ud, .index = i};
    int r = parse_key(&pc, json_array_get(keys, i), &ks->keys[ks->nkeys]);
    if (r < 0) goto oom;
    if (r > 0) ks->nkeys++;
  }
  json_decref(doc);
  if (ks->nkeys == 0) {
    /* An empty set would make every token fail; refusing the document
     * lets the caller keep serving with the previous keys. */
    set_err(err, errlen, src, "no usable keys among %zu", n);
    keyset_free(ks);
    return NULL;
  }
  return ks;
oom:
  set_err(err, errlen, src, "out of memory");
  json_decref(doc);
  if (ks) keyset_free(ks);
  return NULL;
}

size_t jwks_drop_rsa_over(gw_keyset_t *ks, int max_bits, gw_jwks_log_fn log, void *ud) {
  size_t kept = 0, dropped = 0;
  for (size_t i = 0; i < ks->nkeys; i++) {
    gw_jwk_t *k = &ks->keys[i];
    if (k->kty != GW_KTY_RSA || k->bits <= max_bits) {
      ks->keys[kept++] = *k;
      continue;
    }
    dropped++;
    if (log) {
      char kid[80], msg[400];
      safe_copy(kid, sizeof kid, k->kid ? k->kid : "none", k->kid ? k->kid_len : 4);
      snprintf(msg, sizeof msg, "jwks %s: key (kid %s): RSA key of %d bits is over max_rsa_bits %d",
               ks->source, kid, k->bits, max_bits);
      log(ud, msg);
    }
    EVP_PKEY_free(k->pkey);
    free(k->kid);
  }
  ks->nkeys = kept;
  return dropped;
}

gw_keyset_t *jwks_keyset_ref(gw_keyset_t *ks) {
  if (ks) atomic_fetch_add_explicit(&ks->refs_, 1, memory_order_relaxed);
  return ks;
}

void jwks_keyset_unref(gw_keyset_t *ks) {
  if (ks && atomic_fetch_sub_explicit(&ks->refs_, 1, memory_order_acq_rel) == 1) keyset_free(ks);
}

const gw_jwk_t *jwks_find(const gw_keyset_t *ks, const char *kid, size_t kid_len, gw_jwa_t alg) {
  const gw_jwk_t *found = NULL;
  if (kid) {
    for (size_t i = 0; i < ks->nkeys; i++) {
      const gw_jwk_t *k = &ks->keys[i];
      if (!k->kid || k->kid_len != kid_len || memcmp(k->kid, kid, kid_len) != 0) continue;
      if (key_fits_fully(k, alg)) return k;
      if (!found) found = k;
    }
    return found;
  }
  for (size_t i = 0; i < ks->nkeys; i++) {
    if (!key_fits_fully(&ks->keys[i], alg)) continue;
    if (found) return NULL; /* ambiguous: refuse rather than guess */
    found = &ks->keys[i];
  }
  return found;
}
