/* libFuzzer driver for jwt_verify (gateway/jwt.h) against a fixed verifier.
 *
 * Two input forms:
 *   - anything not starting with a 0x00 byte is a compact JWS, given to
 *     jwt_verify as is (seeds: the *.jwt files of tests/fuzz/corpus/jwt);
 *   - 0x00 HEADER 0x00 PAYLOAD: the driver base64url-encodes the two parts
 *     and signs them ES384 with a P-384 key it made at start-up (kid
 *     "fuzz-signer", in the key set), so that fuzzed headers and claims get
 *     past the signature check into the claim checks. The
 *     header decides alg and kid, so this form reaches every result code
 *     (seeds: the *.bin files there).
 *
 * The verifier, built once in LLVMFuzzerInitialize:
 *   issuer 0 "https://issuer.example": default algorithms + PS256, audiences
 *     "https://api.example" and "urn:fuzz", leeway 30 s, the key set below;
 *   issuer 1 "https://nokeys.example": no key set yet (GW_JWT_NO_KEYSET);
 *   issuer 2 "https://strict.example": ES256/ES384 only, typ at+jwt required,
 *     audience "https://api.example", no leeway, the same key set;
 *   scopes registry: read write admin mcp:tools; time fixed at NOW.
 * The key set is jwks_parse() of EMBEDDED_JWKS plus the start-up P-384 key.
 * EMBEDDED_JWKS holds the PUBLIC halves of two throwaway keys, made once
 * with:
 *   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem
 *   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
 *     -pkeyopt ec_param_enc:named_curve -out ec.pem
 *   node: crypto.createPublicKey(pem).export({format: "jwk"}) plus kid/use/alg
 * The seed tokens were minted with them by tests/fuzz/gen-jwt-seeds.js at
 * that time; the private halves were not kept (a fresh pair means new seeds
 * and a new EMBEDDED_JWKS, see that script).
 *
 * Asserted (abort() on violation), for every input:
 *   - the result is a gw_jwt_result_t below GW_JWT_RESULT_COUNT, the same
 *     with out == NULL, and the same on a second call (per-thread caches);
 *   - jwt_result_text/name are non-empty and hold no '"' or '\\';
 *   - on failure the claims (pre-filled with garbage) are all zero, except
 *     `issuer`, which for GW_JWT_NO_KEYSET / GW_JWT_UNKNOWN_KID is the index
 *     of the token's issuer; jwt_claims_free() on them is safe;
 *   - only GW_JWT_OK comes with non-empty claims; on GW_JWT_OK: the payload,
 *     read independently with jansson, is an object whose "iss" is that
 *     issuer's, alg is in the issuer's
 *     allowlist, exp > NOW - leeway, scope_text is NUL-terminated with the
 *     stated length, single-space separated RFC 6749 scope-tokens, the scope
 *     mask only has bits of known scopes and each of them is in scope_text,
 *     sub / client_id / gty are the payload's strings (NUL-terminated), NULL
 *     when the claim is absent or not a string,
 *     kind follows sub == client_id or gty == "client-credentials";
 *     jwt_claim_text() returns -1 or a length below cap of a NUL-terminated
 *     string without control characters; and, checked independently with
 *     OpenSSL here, the token's header names that alg and its signature
 *     verifies under a key of the issuer's set that has the token's kid (any
 *     fitting key when there is no kid): no signature bypass;
 *   - in the signed form with the start-up key, alg ES384, kid "fuzz-signer"
 *     or none, issuer 0/2 and a JSON-object header without "crit", the
 *     result is never GW_JWT_BAD_SIGNATURE / UNKNOWN_KID / KEY_ALG_MISMATCH
 *     (a correct signature with the right key must verify).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "jsonobj.h"
#include "jwks.h"
#include "jwt.h"
#include "scopes.h"

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) __builtin_trap();                                                         \
  } while (0)

#define NOW 1700000000

static const char EMBEDDED_JWKS_KEYS[] =
    "{\"kid\":\"fuzz-rsa\",\"use\":\"sig\",\"alg\":\"RS256\",\"kty\":\"RSA\","
    "\"n\":\"lRK1RBmir8nDcX7SnEovuF6u1MB5k2jM3bRBCh_gKtdME0ktuQG0eRHTz-4-UJ5HZF-FSlWhmsrOJBl"
    "dgqoTfaM84Kzz6RDW-R24sAK8nVQfCF94wAgwiscVGSA-DI6o1DVnV-AZ_Nd-e474A_0twOd-P3k1aS9XXpF9R"
    "Mv1FyhC4VLnLdei0dhzm95oc34dAAAdueMPrlSQIBw0GoAFttYH3i8er8BXXc5alkH2GuRH-ojvFlXHLz1auhXV"
    "YlXbOpMqXtKPZ1NLEjaChkzJWkg7u2nwHwVlTBy1wSkUnJZCwxuBXrUHjlgDRpzgC2SGM7rYfU1wqe4f9ikXzyB"
    "Ctw\",\"e\":\"AQAB\"},"
    "{\"kid\":\"fuzz-ec\",\"use\":\"sig\",\"alg\":\"ES256\",\"kty\":\"EC\","
    "\"x\":\"2mFuV70WVW3u4uWAgY5GU3XYlXGG7astD8IACWW-ezM\","
    "\"y\":\"iQdCsQBuR3U9IxdDKEj78oAG-KceW6qRA0ZgRzZdM0U\",\"crv\":\"P-256\"}";

static gw_scope_registry_t reg;
static gw_keyset_t *keyset;
static gw_jwt_issuer_t issuers[3];
static gw_jwt_verifier_t verifier;
static EVP_PKEY *signer; /* P-384, kid "fuzz-signer", no "alg" in its JWK */

static const char *const aud_main[] = {"https://api.example", "urn:fuzz"};
static const char *const aud_strict[] = {"https://api.example"};

static void die(const char *what) {
  fprintf(stderr, "fuzz_jwt: setup failed: %s\n", what);
  abort();
}

static void b64(const unsigned char *in, size_t len, char *out, size_t cap) {
  if (b64url_encode(in, len, out, cap, NULL) != 0) die("b64url_encode");
}

static void coord(EVP_PKEY *k, const char *param, char *out, size_t cap) {
  BIGNUM *bn = NULL;
  unsigned char raw[48];
  if (EVP_PKEY_get_bn_param(k, param, &bn) != 1 || BN_bn2binpad(bn, raw, 48) != 48)
    die("EC coordinate");
  BN_free(bn);
  b64(raw, 48, out, cap);
}

static void log_skip(void *ud, const char *msg) {
  (void)ud;
  fprintf(stderr, "fuzz_jwt: unexpected skipped key: %s\n", msg);
  abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  signer = EVP_EC_gen("P-384");
  if (!signer) die("EVP_EC_gen");
  char x[80], y[80], doc[4096];
  coord(signer, OSSL_PKEY_PARAM_EC_PUB_X, x, sizeof x);
  coord(signer, OSSL_PKEY_PARAM_EC_PUB_Y, y, sizeof y);
  int n = snprintf(doc, sizeof doc,
                   "{\"keys\":[%s,{\"kid\":\"fuzz-signer\",\"kty\":\"EC\",\"crv\":\"P-384\","
                   "\"x\":\"%s\",\"y\":\"%s\"}]}",
                   EMBEDDED_JWKS_KEYS, x, y);
  if (n < 0 || (size_t)n >= sizeof doc) die("JWKS text");
  char err[256];
  keyset = jwks_parse(doc, (size_t)n, "fuzz", log_skip, NULL, err, sizeof err);
  if (!keyset) die(err);
  if (keyset->nkeys != 3) die("expected 3 keys");

  static const char *const names[] = {"read", "write", "admin", "mcp:tools"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (scopes_intern(&reg, names[i], strlen(names[i])) != (int)i) die("scopes_intern");

  issuers[0] = (gw_jwt_issuer_t){
      .iss = "https://issuer.example", .iss_len = 22,
      .algs = GW_JWA_DEFAULT_MASK | GW_JWA_BIT(GW_JWA_PS256),
      .audiences = aud_main, .naudiences = 2, .leeway_s = 30, .require_typ = 0, .keys = keyset};
  issuers[1] = (gw_jwt_issuer_t){
      .iss = "https://nokeys.example", .iss_len = 22, .algs = GW_JWA_DEFAULT_MASK,
      .audiences = aud_main, .naudiences = 2, .leeway_s = 30, .keys = NULL};
  issuers[2] = (gw_jwt_issuer_t){
      .iss = "https://strict.example", .iss_len = 22,
      .algs = GW_JWA_BIT(GW_JWA_ES256) | GW_JWA_BIT(GW_JWA_ES384),
      .audiences = aud_strict, .naudiences = 1, .leeway_s = 0, .require_typ = 1, .keys = keyset};
  verifier = (gw_jwt_verifier_t){.issuers = issuers, .nissuers = 3, .scopes = &reg};
  return 0;
}

/* ---- the signed form ---------------------------------------------------- */

/* ES384 over msg as JWS wants it (R || S, 48 bytes each). */
static int sign_es384(const char *msg, size_t len, unsigned char out[96]) {
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  unsigned char der[128];
  size_t dlen = sizeof der;
  int ok = m && EVP_DigestSignInit(m, NULL, EVP_sha384(), NULL, signer) == 1 &&
           EVP_DigestSign(m, der, &dlen, (const unsigned char *)msg, len) == 1;
  EVP_MD_CTX_free(m);
  if (!ok) return 0;
  const unsigned char *p = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)dlen);
  if (!sig) return 0;
  const BIGNUM *r, *s;
  ECDSA_SIG_get0(sig, &r, &s);
  ok = BN_bn2binpad(r, out, 48) == 48 && BN_bn2binpad(s, out + 48, 48) == 48;
  ECDSA_SIG_free(sig);
  return ok;
}

/* Builds the token for 0x00 HEADER 0x00 PAYLOAD into a fresh buffer. */
static char *signed_token(const uint8_t *data, size_t size, size_t *tlen) {
  const uint8_t *h = data + 1;
  size_t rest = size - 1;
  const uint8_t *z = memchr(h, 0, rest);
  size_t hl = z ? (size_t)(z - h) : rest;
  const uint8_t *p = z ? z + 1 : h + rest;
  size_t pl = z ? rest - hl - 1 : 0;
  size_t cap = B64URL_ENCODED_LEN(hl) + B64URL_ENCODED_LEN(pl) + B64URL_ENCODED_LEN(96) + 4;
  char *t = malloc(cap);
  if (!t) return NULL;
  size_t o = 0, n;
  b64url_encode(h, hl, t, cap, &n);
  o += n;
  t[o++] = '.';
  b64url_encode(p, pl, t + o, cap - o, &n);
  o += n;
  unsigned char sig[96];
  if (!sign_es384(t, o, sig)) die("sign");
  t[o++] = '.';
  b64url_encode(sig, 96, t + o, cap - o, &n);
  o += n;
  *tlen = o;
  return t;
}

static int over_limit(const uint8_t *json, size_t len) {
  static gw_jobj_t o;
  char *copy = malloc(len ? len : 1);
  if (!copy) die("malloc");
  memcpy(copy, json, len);
  int r = jobj_parse(&o, copy, len);
  free(copy);
  return r == GW_JOBJ_LIMIT;
}

/* Whether the signed form's header and payload should verify up to the
 * claim checks: alg ES384, kid absent or "fuzz-signer", no crit, issuer 0
 * or 2, both parts JSON objects within the size bounds. */
static int expect_good_signature(const uint8_t *data, size_t size, const char *tok, size_t tlen) {
  if (tlen > GW_JWT_MAX_TOKEN) return 0;
  const uint8_t *h = data + 1;
  size_t rest = size - 1;
  const uint8_t *z = memchr(h, 0, rest);
  if (!z) return 0;
  size_t hl = (size_t)(z - h), pl = rest - hl - 1;
  if (hl > GW_JWT_MAX_HEADER || pl > GW_JWT_MAX_PAYLOAD) return 0;
  /* The gateway refuses a NUL byte anywhere in the JSON; jansson 2.14 skips
   * one after a number, so it cannot judge such a payload. */
  if (memchr(z + 1, 0, pl)) return 0;
  /* Past one of the token reader's documented limits (e.g. a number longer
   * than 64 characters) a token is malformed by design; jansson has no such
   * limits, so it cannot judge those either. */
  if (over_limit(h, hl) || over_limit(z + 1, pl)) return 0;
  (void)tok;
  json_t *hdr = json_loadb((const char *)h, hl, JSON_REJECT_DUPLICATES, NULL);
  json_t *pay = json_loadb((const char *)z + 1, pl, JSON_REJECT_DUPLICATES, NULL);
  int ok = json_is_object(hdr) && json_is_object(pay);
  if (ok) {
    json_t *alg = json_object_get(hdr, "alg"), *kid = json_object_get(hdr, "kid");
    json_t *iss = json_object_get(pay, "iss");
    ok = json_is_string(alg) && json_string_length(alg) == 5 &&
         memcmp(json_string_value(alg), "ES384", 5) == 0 && !json_object_get(hdr, "crit") &&
         (!kid || (json_is_string(kid) && json_string_length(kid) == 11 &&
                   memcmp(json_string_value(kid), "fuzz-signer", 11) == 0)) &&
         json_is_string(iss) &&
         ((json_string_length(iss) == 22 &&
           memcmp(json_string_value(iss), "https://issuer.example", 22) == 0) ||
          (json_string_length(iss) == 22 &&
           memcmp(json_string_value(iss), "https://strict.example", 22) == 0));
  }
  json_decref(hdr);
  json_decref(pay);
  return ok;
}

/* ---- invariants --------------------------------------------------------- */

static int scope_char(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

static int all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i]) return 0;
  return 1;
}

static void check_text(const char *s) {
  CHECK(s && s[0]);
  CHECK(!strchr(s, '"') && !strchr(s, '\\'));
}

static void check_opt_string(json_t *payload, const char *name, const char *s, size_t len) {
  json_t *j = json_object_get(payload, name);
  if (!s) {
    /* absent, or (since c32bb30) present but not a string: counts as absent */
    CHECK(len == 0);
    CHECK(!json_is_string(j));
    return;
  }
  CHECK(json_is_string(j));
  CHECK(json_string_length(j) == len && memcmp(json_string_value(j), s, len) == 0);
  CHECK(s[len] == '\0');
}

static void check_claim_text(const gw_jwt_claims_t *c, const char *name) {
  static const size_t caps[] = {1, 2, 8, 64, 4096};
  for (size_t k = 0; k < sizeof caps / sizeof *caps; k++) {
    char *buf = malloc(caps[k]);
    if (!buf) abort();
    int n = jwt_claim_text(c, name, buf, caps[k]);
    CHECK(n >= -1);
    if (n >= 0) {
      CHECK((size_t)n < caps[k]);
      CHECK(buf[n] == '\0' && strlen(buf) == (size_t)n);
      for (int i = 0; i < n; i++) CHECK((unsigned char)buf[i] >= 0x20 && buf[i] != 0x7f);
    }
    free(buf);
  }
}

/* ---- independent signature check ----------------------------------------- */

static const EVP_MD *md_of(int alg) {
  switch (alg) {
  case GW_JWA_RS256: case GW_JWA_PS256: case GW_JWA_ES256: return EVP_sha256();
  case GW_JWA_RS384: case GW_JWA_PS384: case GW_JWA_ES384: return EVP_sha384();
  default: return EVP_sha512();
  }
}

/* OpenSSL's own verify of msg/sig under k for alg, written from RFC 7518
 * without gateway code: RSASSA-PKCS1-v1_5, RSASSA-PSS (MGF1 with the same
 * hash, salt = hash length), or ECDSA with R || S. */
static int ossl_verify(const gw_jwk_t *k, int alg, const unsigned char *msg, size_t mlen,
                       const unsigned char *sig, size_t slen) {
  unsigned char der[160];
  if (alg >= GW_JWA_ES256) {
    size_t coord = alg == GW_JWA_ES256 ? 32 : alg == GW_JWA_ES384 ? 48 : 66;
    if (slen != 2 * coord) return 0;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)coord, NULL), *ss = BN_bin2bn(sig + coord, (int)coord, NULL);
    if (!es || !r || !ss || ECDSA_SIG_set0(es, r, ss) != 1) abort();
    unsigned char *o = der;
    int n = i2d_ECDSA_SIG(es, &o);
    ECDSA_SIG_free(es);
    if (n <= 0 || (size_t)n > sizeof der) abort();
    sig = der;
    slen = (size_t)n;
  }
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pc = NULL;
  int ok = m && EVP_DigestVerifyInit(m, &pc, md_of(alg), NULL, k->pkey) == 1;
  if (ok && alg >= GW_JWA_PS256 && alg <= GW_JWA_PS512)
    ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) > 0 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md_of(alg)) > 0 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) > 0;
  else if (ok && alg <= GW_JWA_RS512)
    ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) > 0;
  ok = ok && EVP_DigestVerify(m, sig, slen, msg, mlen) == 1;
  EVP_MD_CTX_free(m);
  ERR_clear_error();
  return ok;
}

/* A token jwt_verify accepted: its header's alg is c->alg, and its
 * signature verifies under a key of the issuer with the token's kid (or,
 * without kid, under some key fitting alg). */
static void check_signature(const char *tok, size_t len, const gw_jwt_claims_t *c) {
  const char *d1 = memchr(tok, '.', len);
  CHECK(d1);
  const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
  CHECK(d2);
  size_t hlen = (size_t)(d1 - tok), slen64 = len - (size_t)(d2 + 1 - tok);
  unsigned char hb[GW_JWT_MAX_HEADER], sig[1100];
  size_t hn, sn;
  CHECK(b64url_decode(tok, hlen, hb, sizeof hb, &hn) == 0);
  CHECK(b64url_decode(d2 + 1, slen64, sig, sizeof sig, &sn) == 0);
  json_t *h = json_loadb((const char *)hb, hn, 0, NULL);
  CHECK(json_is_object(h));
  json_t *alg = json_object_get(h, "alg"), *kid = json_object_get(h, "kid");
  CHECK(json_is_string(alg) && strcmp(json_string_value(alg), jwa_name((gw_jwa_t)c->alg)) == 0 &&
        json_string_length(alg) == 5);
  CHECK(!kid || json_is_string(kid));
  const gw_keyset_t *ks = issuers[c->issuer].keys;
  int verified = 0;
  for (size_t i = 0; i < ks->nkeys && !verified; i++) {
    const gw_jwk_t *k = &ks->keys[i];
    if (kid && !(k->kid && k->kid_len == json_string_length(kid) &&
                 memcmp(k->kid, json_string_value(kid), k->kid_len) == 0))
      continue;
    if (!jwks_key_fits(k, (gw_jwa_t)c->alg) || (k->alg >= 0 && k->alg != c->alg)) continue;
    verified = ossl_verify(k, c->alg, (const unsigned char *)tok, (size_t)(d2 - tok), sig, sn);
  }
  json_decref(h);
  CHECK(verified);
}

/* The token's payload read by jansson, the oracle for what jwt_verify's own
 * reader (gateway/jsonobj.c) made of it. jansson accepts at least what
 * jsonobj does (it is laxer only about NUL bytes). */
static json_t *oracle_payload(const char *tok, size_t len) {
  const char *d1 = memchr(tok, '.', len);
  CHECK(d1);
  const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
  CHECK(d2);
  static unsigned char pb[GW_JWT_MAX_PAYLOAD];
  size_t pn;
  CHECK(b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), pb, sizeof pb, &pn) == 0);
  json_t *p = json_loadb((const char *)pb, pn, JSON_REJECT_DUPLICATES, NULL);
  CHECK(json_is_object(p));
  return p;
}

static void check_ok(const gw_jwt_claims_t *c, json_t *payload) {
  CHECK(c->issuer < verifier.nissuers);
  const gw_jwt_issuer_t *is = &issuers[c->issuer];
  CHECK(is->keys != NULL);
  CHECK(c->alg >= 0 && c->alg < GW_JWA_COUNT && (is->algs & GW_JWA_BIT(c->alg)));
  CHECK(c->payload != NULL);
  json_t *iss = json_object_get(payload, "iss");
  CHECK(json_is_string(iss) && json_string_length(iss) == is->iss_len &&
        memcmp(json_string_value(iss), is->iss, is->iss_len) == 0);
  CHECK(c->exp > (int64_t)NOW - is->leeway_s);
  CHECK(c->scope_text && strlen(c->scope_text) == c->scope_text_len);
  const char *s = c->scope_text;
  size_t n = c->scope_text_len;
  if (n) CHECK(s[0] != ' ' && s[n - 1] != ' ');
  for (size_t i = 0; i < n; i++) {
    if (s[i] == ' ')
      CHECK(s[i + 1] != ' ');
    else
      CHECK(scope_char((unsigned char)s[i]));
  }
  CHECK((c->scopes >> reg.n) == 0);
  for (size_t b = 0; b < reg.n; b++) {
    if (!(c->scopes & ((gw_scopeset_t)1 << b))) continue;
    /* the name is one of the space-separated tokens */
    int found = 0;
    for (size_t i = 0; i < n && !found;) {
      size_t e = i;
      while (e < n && s[e] != ' ') e++;
      found = e - i == reg.lens[b] && memcmp(s + i, reg.names[b], reg.lens[b]) == 0;
      i = e + 1;
    }
    CHECK(found);
  }
  check_opt_string(payload, "sub", c->sub, c->sub_len);
  check_opt_string(payload, "client_id", c->client_id, c->client_id_len);
  check_opt_string(payload, "gty", c->gty, c->gty_len);
  int same = c->sub && c->client_id && c->sub_len == c->client_id_len &&
             memcmp(c->sub, c->client_id, c->sub_len) == 0;
  int cc = c->gty && c->gty_len == 18 && memcmp(c->gty, "client-credentials", 18) == 0;
  CHECK(c->kind == ((same || cc) ? GW_TOKEN_M2M : GW_TOKEN_USER));
  static const char *const names[] = {"sub", "iss", "exp", "aud", "scope", "n", "r", "absent"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) check_claim_text(c, names[i]);
}

static gw_jwt_result_t verify(const char *tok, size_t len) {
  gw_jwt_claims_t c;
  memset(&c, 0xA5, sizeof c); /* jwt_verify must overwrite every field */
  gw_jwt_result_t r = jwt_verify(tok, len, &verifier, NOW, &c);
  CHECK((unsigned)r < GW_JWT_RESULT_COUNT);
  check_text(jwt_result_text(r));
  check_text(jwt_result_name(r));
  if (r == GW_JWT_OK) {
    json_t *payload = oracle_payload(tok, len);
    check_ok(&c, payload);
    json_decref(payload);
    check_signature(tok, len, &c);
  } else {
    if (r == GW_JWT_NO_KEYSET || r == GW_JWT_UNKNOWN_KID) {
      CHECK(c.issuer < verifier.nissuers);
      CHECK(r != GW_JWT_NO_KEYSET || issuers[c.issuer].keys == NULL);
      CHECK(r != GW_JWT_UNKNOWN_KID || issuers[c.issuer].keys != NULL);
      c.issuer = 0;
    }
    CHECK(all_zero(&c, sizeof c));
  }
  jwt_claims_free(&c);
  CHECK(all_zero(&c, sizeof c));
  jwt_claims_free(&c); /* twice is fine too */
  CHECK(jwt_verify(tok, len, &verifier, NOW, NULL) == r);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 0 && data[0] == 0) {
    size_t tlen;
    char *tok = signed_token(data, size, &tlen);
    if (!tok) return 0;
    gw_jwt_result_t r = verify(tok, tlen);
    if (expect_good_signature(data, size, tok, tlen))
      CHECK(r != GW_JWT_BAD_SIGNATURE && r != GW_JWT_UNKNOWN_KID &&
            r != GW_JWT_KEY_ALG_MISMATCH && r != GW_JWT_MALFORMED &&
            r != GW_JWT_ALG_MISSING && r != GW_JWT_ALG_NOT_ALLOWED);
    free(tok);
    return 0;
  }
  /* an exact-size copy: any read past the token is an ASan report */
  char *tok = malloc(size ? size : 1);
  if (!tok) return 0;
  memcpy(tok, data, size);
  verify(tok, size);
  free(tok);
  return 0;
}
