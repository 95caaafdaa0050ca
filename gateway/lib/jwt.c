#include "jwt.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "jsonobj.h"

/* The largest signature any accepted key can produce: RSA-8192. */
#define MAX_SIG_BYTES (GW_JWKS_MAX_RSA_BITS / 8)

static const struct {
  const char *text;
  const char *name;
} results[GW_JWT_RESULT_COUNT] = {
    [GW_JWT_OK] = {"token is valid", "ok"},
    [GW_JWT_MALFORMED] = {"token is not a well-formed JWS", "malformed"},
    [GW_JWT_ALG_MISSING] = {"token header has no alg", "alg_missing"},
    [GW_JWT_ALG_NOT_ALLOWED] = {"token signing algorithm is not allowed", "alg_not_allowed"},
    [GW_JWT_CRIT] = {"token header has unsupported critical extensions", "crit"},
    [GW_JWT_UNKNOWN_ISSUER] = {"token issuer is missing or not trusted", "unknown_issuer"},
    [GW_JWT_NO_KEYSET] = {"signing keys of the token issuer are not loaded yet", "no_keyset"},
    [GW_JWT_UNKNOWN_KID] = {"token signing key is unknown", "unknown_kid"},
    [GW_JWT_KEY_ALG_MISMATCH] = {"token algorithm does not match its signing key",
                                 "key_alg_mismatch"},
    [GW_JWT_BAD_SIGNATURE] = {"token signature is invalid", "bad_signature"},
    [GW_JWT_EXP_MISSING] = {"token has no numeric exp claim", "exp_missing"},
    [GW_JWT_EXPIRED] = {"token has expired", "expired"},
    [GW_JWT_NOT_YET_VALID] = {"token is not valid yet (nbf)", "not_yet_valid"},
    [GW_JWT_IAT_FUTURE] = {"token was issued in the future (iat)", "iat_future"},
    [GW_JWT_AUD_MISMATCH] = {"token audience does not include this resource", "aud_mismatch"},
    [GW_JWT_TYP_INVALID] = {"token type (typ) is not accepted", "typ_invalid"},
    [GW_JWT_CLAIM_TYPE] = {"token has a claim of the wrong type", "claim_type"},
};

const char *jwt_result_text(gw_jwt_result_t r) {
  return (unsigned)r < GW_JWT_RESULT_COUNT ? results[r].text : "token is invalid";
}

const char *jwt_result_name(gw_jwt_result_t r) {
  return (unsigned)r < GW_JWT_RESULT_COUNT ? results[r].name : "invalid";
}

/* ---- signature ------------------------------------------------------------ */

static const struct {
  const char *md;
  int pss;
  size_t ec_coord; /* 0 for RSA */
} alg_params[GW_JWA_COUNT] = {
    [GW_JWA_RS256] = {"SHA256", 0, 0},  [GW_JWA_RS384] = {"SHA384", 0, 0},
    [GW_JWA_RS512] = {"SHA512", 0, 0},  [GW_JWA_PS256] = {"SHA256", 1, 0},
    [GW_JWA_PS384] = {"SHA384", 1, 0},  [GW_JWA_PS512] = {"SHA512", 1, 0},
    [GW_JWA_ES256] = {"SHA256", 0, 32}, [GW_JWA_ES384] = {"SHA384", 0, 48},
    [GW_JWA_ES512] = {"SHA512", 0, 66},
};

/* Verification contexts are made once per thread and key, not per token:
 * in OpenSSL 3 a fresh EVP_DigestVerifyInit looks the digest and the
 * signature algorithm up in the provider store (locks, hash tables), which
 * costs as much as a quarter of an RSA verify. A context keeps a reference
 * to its key, so a cached key pointer can never be a new key at an old
 * address. */
#define VCACHE 8

typedef struct {
  EVP_PKEY *pkey;     /* referenced */
  int alg;
  EVP_PKEY_CTX *pctx; /* verify_init done, padding and digest set */
  const EVP_MD *md;
} verifier_t;

static _Thread_local struct {
  verifier_t v[VCACHE];
  unsigned next;
  EVP_MD *md[3]; /* SHA256, SHA384, SHA512 */
  EVP_MD_CTX *mctx;
} tl;

static const EVP_MD *md_for(gw_jwa_t alg) {
  const char *name = alg_params[alg].md;
  int i = name[3] == '2' ? 0 : name[3] == '3' ? 1 : 2;
  if (!tl.md[i]) tl.md[i] = EVP_MD_fetch(NULL, name, NULL);
  return tl.md[i];
}

static verifier_t *verifier_for(const gw_jwk_t *k, gw_jwa_t alg) {
  for (size_t i = 0; i < VCACHE; i++)
    if (tl.v[i].pkey == k->pkey && tl.v[i].alg == (int)alg) return &tl.v[i];
  if (!tl.mctx && !(tl.mctx = EVP_MD_CTX_new())) return NULL;
  const EVP_MD *md = md_for(alg);
  if (!md) return NULL;
  EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
  int ok = pctx && EVP_PKEY_verify_init(pctx) == 1;
  if (ok && k->kty == GW_KTY_RSA) {
    /* Padding is named explicitly for both families so that nothing
     * about the key's defaults decides it. */
    if (alg_params[alg].pss)
      ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) > 0 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
    else
      ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
  }
  /* The digest is part of what is verified (DigestInfo for RSA). */
  ok = ok && EVP_PKEY_CTX_set_signature_md(pctx, md) > 0;
  if (!ok) {
    EVP_PKEY_CTX_free(pctx);
    return NULL;
  }
  verifier_t *v = &tl.v[tl.next++ % VCACHE];
  EVP_PKEY_CTX_free(v->pctx);
  EVP_PKEY_free(v->pkey);
  EVP_PKEY_up_ref(k->pkey);
  v->pkey = k->pkey;
  v->alg = (int)alg;
  v->pctx = pctx;
  v->md = md;
  return v;
}

/* One DER INTEGER from an unsigned big-endian value: minimal length, with a
 * 0x00 in front when the top bit is set so it stays positive. */
static size_t der_uint(unsigned char *o, const unsigned char *v, size_t n) {
  while (n > 1 && v[0] == 0) {
    v++;
    n--;
  }
  size_t pad = (v[0] & 0x80) ? 1 : 0;
  o[0] = 0x02;
  o[1] = (unsigned char)(n + pad); /* n <= 66: always the short length form */
  if (pad) o[2] = 0;
  memcpy(o + 2 + pad, v, n);
  return 2 + pad + n;
}

/* JWS carries ECDSA as fixed-width R||S (RFC 7518 §3.4); OpenSSL wants an
 * ECDSA-Sig-Value in DER. Any other length is refused by the caller, which
 * is also what keeps a DER signature from being accepted as a JWS one. */
static size_t ecdsa_raw_to_der(const unsigned char *sig, size_t coord, unsigned char *out) {
  unsigned char body[2 * (3 + 66)];
  size_t blen = der_uint(body, sig, coord);
  blen += der_uint(body + blen, sig + coord, coord);
  size_t o = 0;
  out[o++] = 0x30;
  if (blen > 127) out[o++] = 0x81; /* at most 138 for P-521 */
  out[o++] = (unsigned char)blen;
  memcpy(out + o, body, blen);
  return o + blen;
}

static int verify_sig(const gw_jwk_t *k, gw_jwa_t alg, const unsigned char *msg, size_t msglen,
                      const unsigned char *sig, size_t siglen) {
  unsigned char der[3 + 2 * (3 + 66)];
  size_t coord = alg_params[alg].ec_coord;
  if (coord) {
    if (siglen != 2 * coord) return 0;
    siglen = ecdsa_raw_to_der(sig, coord, der);
    sig = der;
  } else if (siglen != (size_t)(k->bits + 7) / 8) {
    return 0;
  }
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int hlen = 0;
  verifier_t *v = verifier_for(k, alg);
  int ok = v && EVP_DigestInit_ex(tl.mctx, v->md, NULL) == 1 &&
           EVP_DigestUpdate(tl.mctx, msg, msglen) == 1 &&
           EVP_DigestFinal_ex(tl.mctx, hash, &hlen) == 1 &&
           EVP_PKEY_verify(v->pctx, sig, siglen, hash, hlen) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

void jwt_thread_cleanup(void) {
  for (size_t i = 0; i < VCACHE; i++) {
    EVP_PKEY_CTX_free(tl.v[i].pctx);
    EVP_PKEY_free(tl.v[i].pkey);
    memset(&tl.v[i], 0, sizeof tl.v[i]);
  }
  for (size_t i = 0; i < 3; i++) {
    EVP_MD_free(tl.md[i]);
    tl.md[i] = NULL;
  }
  EVP_MD_CTX_free(tl.mctx);
  tl.mctx = NULL;
}

/* ---- JSON helpers --------------------------------------------------------- */

/* The payload with its index, owned by the claims; strings of the claims
 * point into text. */
struct gw_jwt_payload {
  gw_jobj_t obj;
  char text[GW_JWT_MAX_PAYLOAD];
};

/* Duplicate names are refused (jsonobj does it in every object): two
 * readers of the same token must never see different claims. */
static int decode_object(const char *b64, size_t b64len, char *buf, size_t cap, gw_jobj_t *o) {
  size_t n;
  if (b64len > B64URL_ENCODED_LEN(cap) ||
      b64url_decode(b64, b64len, (unsigned char *)buf, cap, &n) != 0)
    return -1;
  return jobj_parse(o, buf, n) == GW_JOBJ_OK ? 0 : -1;
}

static int is_string(const gw_jv_t *v) { return v && v->type == GW_JV_STRING; }

static int str_eq(const gw_jv_t *s, const char *lit) {
  size_t n = strlen(lit);
  return s->len == n && memcmp(s->s, lit, n) == 0;
}

/* NumericDate -> seconds; reals are floored and clamped. 0 when not a
 * number. */
static int numeric_date(const gw_jv_t *j, int64_t *out) {
  if (j && j->type == GW_JV_INT) {
    *out = j->n.i;
    return 1;
  }
  if (j && j->type == GW_JV_REAL) {
    double d = j->n.d;
    if (d >= 9.2e18) {
      *out = INT64_MAX;
    } else if (d <= -9.2e18) {
      *out = INT64_MIN;
    } else {
      int64_t t = (int64_t)d; /* truncates toward zero; floor for negatives */
      *out = (double)t > d ? t - 1 : t;
    }
    return 1;
  }
  return 0;
}

/* RFC 6749 §3.3 scope-token characters. */
static int scope_char(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

/* Appends the space-separated scopes of s to the text and set; 0 when a
 * scope has a character outside scope-token (which is also what keeps
 * control characters out of the forwarded header). */
static int add_scopes(const gw_scope_registry_t *reg, const char *s, size_t len, char *text,
                      size_t *tlen, gw_scopeset_t *set) {
  size_t i = 0;
  while (i < len) {
    if (s[i] == ' ') {
      i++;
      continue;
    }
    size_t start = i;
    while (i < len && s[i] != ' ') {
      if (!scope_char((unsigned char)s[i])) return 0;
      i++;
    }
    if (*tlen) text[(*tlen)++] = ' ';
    memcpy(text + *tlen, s + start, i - start);
    *tlen += i - start;
    if (reg) {
      int idx = scopes_find(reg, s + start, i - start);
      if (idx >= 0) *set |= (gw_scopeset_t)1 << idx;
    }
  }
  return 1;
}

/* "scope" (RFC 9068: a string) wins over "scp" (string or array). */
static gw_jwt_result_t read_scopes(const gw_jobj_t *payload, const gw_scope_registry_t *reg,
                                   gw_jwt_claims_t *c) {
  const gw_jv_t *scope = jobj_get(payload, "scope");
  const gw_jv_t *scp = scope ? NULL : jobj_get(payload, "scp");
  size_t cap = 1;
  if (scope) {
    if (!is_string(scope)) return GW_JWT_CLAIM_TYPE;
    cap += scope->len;
  } else if (is_string(scp)) {
    cap += scp->len;
  } else if (scp && scp->type == GW_JV_ARRAY) {
    for (size_t i = 0; i < scp->count; i++) {
      const gw_jv_t *e = jobj_elem(payload, scp, i);
      if (!is_string(e)) return GW_JWT_CLAIM_TYPE;
      cap += e->len + 1;
    }
  } else if (scp) {
    return GW_JWT_CLAIM_TYPE;
  }
  char *text = malloc(cap);
  if (!text) return GW_JWT_MALFORMED; /* out of memory: refuse, never accept */
  size_t tlen = 0;
  gw_scopeset_t set = 0;
  int ok = 1;
  if (scope || is_string(scp)) {
    const gw_jv_t *s = scope ? scope : scp;
    ok = add_scopes(reg, s->s, s->len, text, &tlen, &set);
  } else if (scp) {
    for (size_t i = 0; i < scp->count; i++) {
      /* An array element is one scope: a space inside it is not allowed. */
      const gw_jv_t *e = jobj_elem(payload, scp, i);
      if (e->len == 0 || memchr(e->s, ' ', e->len) ||
          !add_scopes(reg, e->s, e->len, text, &tlen, &set)) {
        ok = 0;
        break;
      }
    }
  }
  if (!ok) {
    free(text);
    return GW_JWT_CLAIM_TYPE;
  }
  text[tlen] = '\0';
  c->scope_text = text;
  c->scope_text_len = tlen;
  c->scopes = set;
  return GW_JWT_OK;
}

/* RFC 9068 §2.1 / RFC 8725 §3.11: "at+jwt", or "JWT" unless the issuer
 * requires at+jwt; case-insensitive, "application/" optional. */
static int typ_ok(const gw_jv_t *typ, int require_at_jwt) {
  if (!typ) return !require_at_jwt;
  if (!is_string(typ)) return 0;
  const char *s = typ->s;
  size_t n = typ->len;
  if (n >= 12 && strncasecmp(s, "application/", 12) == 0) {
    s += 12;
    n -= 12;
  }
  if (n == 6 && strncasecmp(s, "at+jwt", 6) == 0) return 1;
  return !require_at_jwt && n == 3 && strncasecmp(s, "jwt", 3) == 0;
}

/* RFC 8417 §2.3 / RFC 8935: a pushed SET says what it is. */
static int set_typ_ok(const gw_jv_t *typ) {
  if (!is_string(typ)) return 0;
  const char *s = typ->s;
  size_t n = typ->len;
  if (n >= 12 && strncasecmp(s, "application/", 12) == 0) {
    s += 12;
    n -= 12;
  }
  return n == 12 && strncasecmp(s, "secevent+jwt", 12) == 0;
}

static gw_jwt_result_t check_aud(const gw_jobj_t *payload, const gw_jwt_issuer_t *is) {
  const gw_jv_t *aud = jobj_get(payload, "aud");
  if (!aud) return GW_JWT_AUD_MISMATCH;
  int arr = aud->type == GW_JV_ARRAY;
  if (!arr && !is_string(aud)) return GW_JWT_CLAIM_TYPE;
  size_t n = arr ? aud->count : 1;
  int match = 0;
  for (size_t i = 0; i < n; i++) {
    const gw_jv_t *a = arr ? jobj_elem(payload, aud, i) : aud;
    if (!is_string(a)) return GW_JWT_CLAIM_TYPE;
    for (size_t k = 0; k < is->naudiences && !match; k++)
      match = str_eq(a, is->audiences[k]);
  }
  return match ? GW_JWT_OK : GW_JWT_AUD_MISMATCH;
}

/* Optional string claim. sub, client_id and gty of another type do not
 * make a token invalid (SPEC: an identity header from such a claim is
 * omitted, the request proceeds); they count as absent for the string view
 * (kind detection, the log). */
static void opt_string(const gw_jobj_t *payload, const char *name, const char **s, size_t *len) {
  const gw_jv_t *j = jobj_get(payload, name);
  if (!is_string(j)) return;
  *s = j->s;
  *len = j->len;
}

/* Everything after the signature check: only now are claims trusted. */
static gw_jwt_result_t check_claims(const gw_jobj_t *hdr, const gw_jobj_t *payload,
                                    const gw_jwt_verifier_t *v, size_t issuer, int64_t now,
                                    gw_jwt_claims_t *c) {
  const gw_jwt_issuer_t *is = &v->issuers[issuer];
  int64_t leeway = is->leeway_s > 0 ? is->leeway_s : 0;
  int64_t exp, t;
  const gw_jv_t *jexp = jobj_get(payload, "exp");
  if (is->security_event && !jexp) {
    exp = INT64_MAX; /* RFC 8417 §2.2: a SET usually has no exp */
  } else {
    if (!numeric_date(jexp, &exp)) return GW_JWT_EXP_MISSING;
    if (exp <= now - leeway) return GW_JWT_EXPIRED;
  }
  const gw_jv_t *nbf = jobj_get(payload, "nbf");
  if (nbf) {
    if (!numeric_date(nbf, &t)) return GW_JWT_CLAIM_TYPE;
    if (t > now + leeway) return GW_JWT_NOT_YET_VALID;
  }
  const gw_jv_t *iat = jobj_get(payload, "iat");
  if (iat) {
    if (!numeric_date(iat, &t)) return GW_JWT_CLAIM_TYPE;
    if (t > now + leeway) return GW_JWT_IAT_FUTURE;
    c->has_iat = 1;
    c->iat = t;
  }
  gw_jwt_result_t r = check_aud(payload, is);
  if (r != GW_JWT_OK) return r;
  if (is->security_event ? !set_typ_ok(jobj_get(hdr, "typ"))
                         : !typ_ok(jobj_get(hdr, "typ"), is->require_typ))
    return GW_JWT_TYP_INVALID;

  opt_string(payload, "sub", &c->sub, &c->sub_len);
  opt_string(payload, "client_id", &c->client_id, &c->client_id_len);
  opt_string(payload, "gty", &c->gty, &c->gty_len);
  opt_string(payload, "jti", &c->jti, &c->jti_len);
  r = read_scopes(payload, v->scopes, c);
  if (r != GW_JWT_OK) return r;
  c->exp = exp;
  c->issuer = issuer;
  int same = c->sub && c->client_id && c->sub_len == c->client_id_len &&
             memcmp(c->sub, c->client_id, c->sub_len) == 0;
  int cc = c->gty && c->gty_len == 18 && memcmp(c->gty, "client-credentials", 18) == 0;
  c->kind = (same || cc) ? GW_TOKEN_M2M : GW_TOKEN_USER;
  return GW_JWT_OK;
}

/* ---- the pipeline --------------------------------------------------------- */

gw_jwt_result_t jwt_verify(const char *tok, size_t len, const gw_jwt_verifier_t *v,
                           int64_t now_s, gw_jwt_claims_t *out) {
  gw_jwt_claims_t local;
  gw_jwt_claims_t *c = out ? out : &local;
  size_t selected = SIZE_MAX; /* the issuer, once known: reported with NO_KEYSET/UNKNOWN_KID */
  memset(c, 0, sizeof *c);
  if (len == 0 || len > GW_JWT_MAX_TOKEN) return GW_JWT_MALFORMED;
  const char *d1 = memchr(tok, '.', len);
  const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
  if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok))) return GW_JWT_MALFORMED;
  size_t hlen = (size_t)(d1 - tok), plen = (size_t)(d2 - d1 - 1);
  const char *sig64 = d2 + 1;
  size_t slen = len - (size_t)(sig64 - tok);

  char hbuf[GW_JWT_MAX_HEADER];
  unsigned char sig[MAX_SIG_BYTES];
  gw_jobj_t hdr;
  struct gw_jwt_payload *pl = NULL;
  gw_jwt_result_t r;
  size_t siglen;

  if (decode_object(tok, hlen, hbuf, sizeof hbuf, &hdr) != 0) {
    r = GW_JWT_MALFORMED;
    goto done;
  }
  /* jku, x5u, jwk and x5c are never looked at: keys come only from the
   * configured JWKS. kid is a lookup key and nothing more. */
  const gw_jv_t *jalg = jobj_get(&hdr, "alg");
  if (!is_string(jalg)) {
    r = GW_JWT_ALG_MISSING;
    goto done;
  }
  if (jobj_get(&hdr, "crit")) {
    r = GW_JWT_CRIT;
    goto done;
  }
  int alg = jwa_from_name(jalg->s, jalg->len);
  if (alg < 0) {
    r = GW_JWT_ALG_NOT_ALLOWED;
    goto done;
  }
  const gw_jv_t *jkid = jobj_get(&hdr, "kid");
  if (jkid && !is_string(jkid)) {
    r = GW_JWT_MALFORMED;
    goto done;
  }
  /* Canonical encoding is part of being well-formed. An over-long value is
   * well-formed but cannot be a signature of any key we load: it fails as
   * a bad signature once a key is chosen. */
  int sig_too_long = slen > B64URL_ENCODED_LEN(sizeof sig);
  siglen = 0;
  if (!sig_too_long && b64url_decode(sig64, slen, sig, sizeof sig, &siglen) != 0) {
    r = GW_JWT_MALFORMED;
    goto done;
  }
  pl = malloc(sizeof *pl);
  if (!pl || decode_object(d1 + 1, plen, pl->text, sizeof pl->text, &pl->obj) != 0) {
    r = GW_JWT_MALFORMED;
    goto done;
  }
  const gw_jobj_t *payload = &pl->obj;

  const gw_jv_t *jiss = jobj_get(payload, "iss");
  if (!jiss) {
    r = GW_JWT_UNKNOWN_ISSUER;
    goto done;
  }
  if (!is_string(jiss)) {
    r = GW_JWT_CLAIM_TYPE;
    goto done;
  }
  size_t issuer = v->nissuers;
  for (size_t i = 0; i < v->nissuers; i++)
    if (v->issuers[i].iss_len == jiss->len &&
        memcmp(v->issuers[i].iss, jiss->s, v->issuers[i].iss_len) == 0) {
      issuer = i;
      break;
    }
  if (issuer == v->nissuers) {
    r = GW_JWT_UNKNOWN_ISSUER;
    goto done;
  }
  const gw_jwt_issuer_t *is = &v->issuers[issuer];
  selected = issuer;
  if (!(is->algs & GW_JWA_BIT(alg))) {
    r = GW_JWT_ALG_NOT_ALLOWED;
    goto done;
  }
  if (!is->keys) {
    r = GW_JWT_NO_KEYSET;
    goto done;
  }
  const gw_jwk_t *key =
      jwks_find(is->keys, jkid ? jkid->s : NULL, jkid ? jkid->len : 0, (gw_jwa_t)alg);
  if (!key) {
    r = GW_JWT_UNKNOWN_KID;
    goto done;
  }
  if (!jwks_key_fits(key, (gw_jwa_t)alg) || (key->alg >= 0 && key->alg != alg)) {
    r = GW_JWT_KEY_ALG_MISMATCH;
    goto done;
  }
  const unsigned char *input = (const unsigned char *)tok;
  if (sig_too_long || !verify_sig(key, (gw_jwa_t)alg, input, (size_t)(d2 - tok), sig, siglen)) {
    r = GW_JWT_BAD_SIGNATURE;
    goto done;
  }
  r = check_claims(&hdr, payload, v, issuer, now_s, c);
  if (r == GW_JWT_OK) {
    c->alg = alg;
    c->payload = pl;
    pl = NULL; /* owned by the claims now */
  }
done:
  free(pl);
  if (r != GW_JWT_OK) {
    free(c->scope_text);
    memset(c, 0, sizeof *c);
    /* The caller answers 503 or asks for a refetch of this issuer's keys. */
    if (r == GW_JWT_NO_KEYSET || r == GW_JWT_UNKNOWN_KID) c->issuer = selected;
  }
  if (!out) jwt_claims_free(&local);
  return r;
}

int jwt_claim_text(const gw_jwt_claims_t *c, const char *name, char *buf, size_t cap) {
  if (!c->payload || cap == 0) return -1;
  const gw_jv_t *j = jobj_get(&c->payload->obj, name);
  if (is_string(j)) {
    const char *s = j->s;
    size_t n = j->len;
    if (n + 1 > cap) return -1;
    for (size_t i = 0; i < n; i++)
      if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return (int)n;
  }
  int n = -1;
  if (j && j->type == GW_JV_INT) {
    n = snprintf(buf, cap, "%" PRId64, j->n.i);
  } else if (j && j->type == GW_JV_REAL) {
    /* Shortest text that reads back as the same double, e.g. 1.5 not
     * 1.5000000000000000. */
    double d = j->n.d;
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
      n = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
      if (strtod(tmp, NULL) == d) break;
    }
    if (n >= 0 && (size_t)n < cap) memcpy(buf, tmp, (size_t)n + 1);
    else n = -1;
  }
  return (n >= 0 && (size_t)n < cap) ? n : -1;
}

void jwt_claims_free(gw_jwt_claims_t *c) {
  if (!c) return;
  free(c->scope_text);
  free(c->payload);
  memset(c, 0, sizeof *c);
}
