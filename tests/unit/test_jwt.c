/* Unit tests for jwt_verify. Every token is minted here at run time with
 * the fixture private keys (tests/unit/fixtures/jwt/gen.sh), so exp/nbf/iat
 * are relative to now and never go stale. One test at least per result
 * code; the alg-confusion forgeries are built exactly as an attacker would.
 * Run from the repo root. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "b64url.h"
#include "jwks.h"
#include "jwt.h"
#include "scopes.h"
#include "tap.h"

#define FIX "tests/unit/fixtures/jwt/"

#define ISS "https://login.example.com"
#define ISS_M2M "https://m2m.example.com"
#define ISS_NOKEYS "https://nokeys.example.com"
#define ISS_TWO "https://two.example.com"
#define AUD "https://api.example.com"
#define AUD_MCP "https://api.example.com/mcp"
#define LEEWAY 30

static int64_t now;
static EVP_PKEY *k_rsa, *k_rsab, *k_p256, *k_p256b, *k_p384, *k_p521;
static gw_scope_registry_t reg;
static gw_keyset_t *ks_main, *ks_m2m, *ks_two;
static gw_jwt_issuer_t issuers[4];
static gw_jwt_verifier_t verifier;

/* ---- fixtures ------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("# cannot open %s (run from the repo root)\n", path);
    return NULL;
  }
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = sz >= 0 ? malloc((size_t)sz + 1) : NULL;
  size_t n = buf ? fread(buf, 1, (size_t)sz, f) : 0;
  fclose(f);
  if (buf) buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

static EVP_PKEY *load_priv(const char *name) {
  char path[256];
  snprintf(path, sizeof path, FIX "%s.pem", name);
  FILE *f = fopen(path, "r");
  EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
  if (f) fclose(f);
  if (!k) printf("# cannot load %s\n", path);
  return k;
}

static json_t *jwk(const char *name, const char *kid, const char *alg) {
  char path[256];
  snprintf(path, sizeof path, FIX "%s.jwk.json", name);
  json_t *j = json_load_file(path, 0, NULL);
  if (!j) {
    printf("# cannot load %s\n", path);
    return json_object();
  }
  if (kid) json_object_set_new(j, "kid", json_string(kid));
  if (alg) json_object_set_new(j, "alg", json_string(alg));
  return j;
}

static gw_keyset_t *keyset(json_t *keys) {
  json_t *doc = json_pack("{s:o}", "keys", keys);
  char *s = json_dumps(doc, JSON_COMPACT);
  char err[256];
  gw_keyset_t *ks = jwks_parse(s, strlen(s), "test", NULL, NULL, err, sizeof err);
  if (!ks) printf("# keyset: %s\n", err);
  free(s);
  json_decref(doc);
  return ks;
}

/* ---- minting ---------------------------------------------------------------- */

enum { SIGN_DER = 1, SIGN_AS_PSS = 2 };

static char *b64(const void *p, size_t n) {
  size_t cap = B64URL_ENCODED_LEN(n) + 1;
  char *s = malloc(cap);
  b64url_encode(p, n, s, cap, NULL);
  return s;
}

static const char *md_of(const char *alg) {
  const char *bits = alg + 2;
  return strcmp(bits, "384") == 0 ? "SHA384" : strcmp(bits, "512") == 0 ? "SHA512" : "SHA256";
}

/* Signs b64(hdr).b64(pay) with key as alg says (flags may override). */
static char *sign_parts(const char *alg, EVP_PKEY *key, const char *hdr, const char *pay,
                        int flags) {
  char *h = b64(hdr, strlen(hdr)), *p = b64(pay, strlen(pay));
  size_t inlen = strlen(h) + 1 + strlen(p);
  char *input = malloc(inlen + 1);
  snprintf(input, inlen + 1, "%s.%s", h, p);
  free(h);
  free(p);
  unsigned char sig[1024], raw[200];
  size_t siglen = sizeof sig;
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pc = NULL;
  int ok = EVP_DigestSignInit_ex(m, &pc, md_of(alg), NULL, NULL, key, NULL) == 1;
  if (ok && (alg[0] == 'P' || (flags & SIGN_AS_PSS))) {
    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
  }
  ok = ok && EVP_DigestSign(m, sig, &siglen, (unsigned char *)input, inlen) == 1;
  EVP_MD_CTX_free(m);
  if (!ok) {
    printf("# signing failed\n");
    ERR_print_errors_fp(stdout);
    siglen = 0;
  }
  const unsigned char *s = sig;
  if (ok && EVP_PKEY_is_a(key, "EC") && !(flags & SIGN_DER)) {
    size_t coord = (size_t)(EVP_PKEY_get_bits(key) + 7) / 8;
    const unsigned char *q = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long)siglen);
    const BIGNUM *r, *ss;
    ECDSA_SIG_get0(es, &r, &ss);
    BN_bn2binpad(r, raw, (int)coord);
    BN_bn2binpad(ss, raw + coord, (int)coord);
    ECDSA_SIG_free(es);
    s = raw;
    siglen = 2 * coord;
  }
  char *sg = b64(s, siglen);
  size_t tl = inlen + 1 + strlen(sg);
  char *tok = malloc(tl + 1);
  snprintf(tok, tl + 1, "%s.%s", input, sg);
  free(input);
  free(sg);
  return tok;
}

static json_t *std_payload(void) {
  return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:s}", "iss", ISS, "aud", AUD, "sub", "user-42",
                   "client_id", "app-7", "exp", (json_int_t)(now + 300), "iat",
                   (json_int_t)now, "nbf", (json_int_t)(now - 5), "scope",
                   "profiles:read tags:manage");
}

/* Mints a token; hdr/pay are stolen. */
static char *mint_json(const char *sign_alg, EVP_PKEY *key, json_t *hdr, json_t *pay, int flags) {
  char *h = json_dumps(hdr, JSON_COMPACT), *p = json_dumps(pay, JSON_COMPACT);
  char *t = sign_parts(sign_alg, key, h, p, flags);
  free(h);
  free(p);
  json_decref(hdr);
  json_decref(pay);
  return t;
}

static char *mint(const char *alg, EVP_PKEY *key, const char *kid, json_t *pay) {
  json_t *h = json_pack("{s:s,s:s}", "alg", alg, "typ", "at+jwt");
  if (kid) json_object_set_new(h, "kid", json_string(kid));
  return mint_json(alg, key, h, pay ? pay : std_payload(), 0);
}

/* Standard payload with one member replaced (or removed when v is NULL). */
static json_t *payload_with(const char *name, json_t *v) {
  json_t *p = std_payload();
  if (v) json_object_set_new(p, name, v);
  else json_object_del(p, name);
  return p;
}

/* ---- checking --------------------------------------------------------------- */

static gw_jwt_result_t verify(const char *tok, gw_jwt_claims_t *c) {
  return jwt_verify(tok, strlen(tok), &verifier, now, c);
}

/* Verifies, checks the result, frees the token. */
static void expect(char *tok, gw_jwt_result_t want, const char *what) {
  gw_jwt_claims_t c;
  /* Garbage in: a failing verify must clear it, never free it. */
  static char canary;
  c.payload = (struct gw_jwt_payload *)(void *)&canary;
  gw_jwt_result_t r = verify(tok, &c);
  /* On failure the claims must come back zeroed, so freeing them is safe. */
  int zeroed = r == GW_JWT_OK || (c.payload == NULL && c.scope_text == NULL && c.sub == NULL);
  if (!tap_report(r == want && zeroed, __FILE__, __LINE__, what))
    printf("#   got %s, expected %s%s\n", jwt_result_name(r), jwt_result_name(want),
           zeroed ? "" : " (claims not zeroed)");
  jwt_claims_free(&c);
  free(tok);
}

static char *splice(const char *a, const char *b, int part_from_b) {
  /* Token made of a's parts with part `part_from_b` taken from b. */
  const char *pa[3], *pb[3];
  size_t la[3], lb[3];
  const char *src[2] = {a, b};
  for (int t = 0; t < 2; t++) {
    const char **pp = t ? pb : pa;
    size_t *ll = t ? lb : la;
    const char *s = src[t];
    for (int i = 0; i < 3; i++) {
      const char *d = i < 2 ? strchr(s, '.') : s + strlen(s);
      pp[i] = s;
      ll[i] = (size_t)(d - s);
      s = d + 1;
    }
  }
  size_t n = 0;
  char *out = malloc(strlen(a) + strlen(b) + 3);
  for (int i = 0; i < 3; i++) {
    const char *p = i == part_from_b ? pb[i] : pa[i];
    size_t l = i == part_from_b ? lb[i] : la[i];
    memcpy(out + n, p, l);
    n += l;
    if (i < 2) out[n++] = '.';
  }
  out[n] = '\0';
  return out;
}

/* Replaces the signature part with raw bytes. */
static char *with_sig(char *tok, const unsigned char *sig, size_t n) {
  char *dot = strrchr(tok, '.');
  char *s = b64(sig, n);
  size_t hl = (size_t)(dot - tok) + 1;
  char *out = malloc(hl + strlen(s) + 1);
  memcpy(out, tok, hl);
  strcpy(out + hl, s);
  free(s);
  free(tok);
  return out;
}

static size_t sig_of(const char *tok, unsigned char *out, size_t cap) {
  const char *dot = strrchr(tok, '.');
  size_t n = 0;
  if (b64url_decode(dot + 1, strlen(dot + 1), out, cap, &n) != 0) return 0;
  return n;
}

/* ---- setup ------------------------------------------------------------------ */

static const char *const aud_main[] = {AUD, AUD_MCP};

static int setup(void) {
  now = (int64_t)time(NULL);
  k_rsa = load_priv("rsa2048");
  k_rsab = load_priv("rsa2048b");
  k_p256 = load_priv("p256");
  k_p256b = load_priv("p256b");
  k_p384 = load_priv("p384");
  k_p521 = load_priv("p521");
  if (!k_rsa || !k_rsab || !k_p256 || !k_p256b || !k_p384 || !k_p521) return -1;
  scopes_intern(&reg, "profiles:read", 13);
  scopes_intern(&reg, "tags:manage", 11);
  scopes_intern(&reg, "account:read", 12);

  ks_main = keyset(json_pack("[o,o,o,o,o,o]", jwk("rsa2048", "rsa-a", "RS256"),
                             jwk("rsa2048b", "rsa-b", NULL), jwk("p256", "ec-p256", "ES256"),
                             jwk("p384", "ec-p384", NULL), jwk("p521", "ec-p521", "ES512"),
                             jwk("p256b", "ec-p256b", NULL)));
  ks_m2m = keyset(json_pack("[o,o]", jwk("rsa2048", NULL, NULL), jwk("p256", NULL, NULL)));
  ks_two = keyset(json_pack("[o,o]", jwk("rsa2048", NULL, NULL), jwk("rsa2048b", NULL, NULL)));
  if (!ks_main || !ks_m2m || !ks_two) return -1;

  uint32_t all = 0;
  for (int a = 0; a < GW_JWA_COUNT; a++) all |= GW_JWA_BIT(a);
  issuers[0] = (gw_jwt_issuer_t){ISS, strlen(ISS), all, aud_main, 2, LEEWAY, 0, ks_main, 0};
  issuers[1] = (gw_jwt_issuer_t){ISS_M2M, strlen(ISS_M2M),
                                 GW_JWA_BIT(GW_JWA_RS256) | GW_JWA_BIT(GW_JWA_ES256),
                                 aud_main, 1, 0, 1, ks_m2m, 0};
  issuers[2] = (gw_jwt_issuer_t){ISS_NOKEYS, strlen(ISS_NOKEYS), GW_JWA_DEFAULT_MASK,
                                 aud_main, 1, LEEWAY, 0, NULL, 0};
  issuers[3] = (gw_jwt_issuer_t){ISS_TWO, strlen(ISS_TWO), GW_JWA_DEFAULT_MASK, aud_main, 1,
                                 LEEWAY, 0, ks_two, 0};
  verifier = (gw_jwt_verifier_t){issuers, 4, &reg};
  return 0;
}

static void teardown(void) {
  EVP_PKEY_free(k_rsa);
  EVP_PKEY_free(k_rsab);
  EVP_PKEY_free(k_p256);
  EVP_PKEY_free(k_p256b);
  EVP_PKEY_free(k_p384);
  EVP_PKEY_free(k_p521);
  jwks_keyset_unref(ks_main);
  jwks_keyset_unref(ks_m2m);
  jwks_keyset_unref(ks_two);
  scopes_free(&reg);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_ok_and_claims(void) {
  char *t = mint("RS256", k_rsa, "rsa-a", NULL);
  gw_jwt_claims_t c;
  gw_jwt_result_t r = verify(t, &c);
  CHECK_INT(r, GW_JWT_OK, "RS256 token verifies");
  CHECK_INT(c.issuer, 0, "issuer index");
  CHECK_INT(c.alg, GW_JWA_RS256, "alg reported");
  CHECK_INT(c.exp, now + 300, "exp");
  CHECK_STR(c.sub, "user-42", "sub");
  CHECK_INT(c.sub_len, 7, "sub_len");
  CHECK_STR(c.client_id, "app-7", "client_id");
  CHECK(c.gty == NULL, "gty absent");
  CHECK_INT(c.kind, GW_TOKEN_USER, "user token");
  CHECK_INT(c.scopes, 3, "scopes profiles:read + tags:manage");
  CHECK_STR(c.scope_text, "profiles:read tags:manage", "scope text");
  CHECK_INT(c.scope_text_len, 25, "scope text length");
  char buf[64];
  CHECK_INT(jwt_claim_text(&c, "sub", buf, sizeof buf), 7, "claim text: string");
  CHECK_STR(buf, "user-42", "claim text: string value");
  CHECK_INT(jwt_claim_text(&c, "sub", buf, 7), -1, "claim text: no room for NUL");
  char expect_exp[32];
  snprintf(expect_exp, sizeof expect_exp, "%lld", (long long)(now + 300));
  CHECK(jwt_claim_text(&c, "exp", buf, sizeof buf) > 0 && strcmp(buf, expect_exp) == 0,
        "claim text: integer");
  CHECK_INT(jwt_claim_text(&c, "nope", buf, sizeof buf), -1, "claim text: absent");
  CHECK(c.payload != NULL, "payload kept");
  jwt_claims_free(&c);
  jwt_claims_free(&c); /* idempotent */
  CHECK(c.payload == NULL && c.scope_text == NULL, "claims free clears");
  CHECK_INT(jwt_verify(t, strlen(t), &verifier, now, NULL), GW_JWT_OK, "out may be NULL");
  free(t);

  json_t *p = std_payload();
  json_object_set_new(p, "tenant", json_real(1.5));
  json_object_set_new(p, "big", json_real(1e300));
  json_object_set_new(p, "neg", json_integer(-12));
  json_object_set_new(p, "ctl", json_string("a\r\nX-Evil: 1"));
  json_object_set_new(p, "del", json_string("a\x7f"));
  json_object_set_new(p, "obj", json_pack("{s:i}", "a", 1));
  json_object_set_new(p, "arr", json_pack("[s]", "a"));
  json_object_set_new(p, "bool", json_true());
  json_object_set_new(p, "nul", json_null());
  json_object_set_new(p, "utf", json_string("J\xc3\xbcrgen"));
  t = mint("ES256", k_p256, "ec-p256", p);
  r = verify(t, &c);
  CHECK_INT(r, GW_JWT_OK, "ES256 token with extra claims verifies");
  CHECK(jwt_claim_text(&c, "tenant", buf, sizeof buf) == 3 && !strcmp(buf, "1.5"),
        "claim text: real, shortest form");
  CHECK(jwt_claim_text(&c, "big", buf, sizeof buf) > 0 && !strcmp(buf, "1e+300"),
        "claim text: large real");
  CHECK(jwt_claim_text(&c, "neg", buf, sizeof buf) == 3 && !strcmp(buf, "-12"),
        "claim text: negative integer");
  CHECK_INT(jwt_claim_text(&c, "ctl", buf, sizeof buf), -1, "claim text: CR LF refused");
  CHECK_INT(jwt_claim_text(&c, "del", buf, sizeof buf), -1, "claim text: DEL refused");
  CHECK_INT(jwt_claim_text(&c, "obj", buf, sizeof buf), -1, "claim text: object refused");
  CHECK_INT(jwt_claim_text(&c, "arr", buf, sizeof buf), -1, "claim text: array refused");
  CHECK_INT(jwt_claim_text(&c, "bool", buf, sizeof buf), -1, "claim text: boolean refused");
  CHECK_INT(jwt_claim_text(&c, "nul", buf, sizeof buf), -1, "claim text: null refused");
  CHECK_INT(jwt_claim_text(&c, "utf", buf, sizeof buf), 7, "claim text: UTF-8 kept");
  jwt_claims_free(&c);
  free(t);
}

static void test_algorithms(void) {
  expect(mint("RS384", k_rsab, "rsa-b", NULL), GW_JWT_OK, "RS384");
  expect(mint("RS512", k_rsab, "rsa-b", NULL), GW_JWT_OK, "RS512");
  expect(mint("PS256", k_rsab, "rsa-b", NULL), GW_JWT_OK, "PS256");
  expect(mint("PS384", k_rsab, "rsa-b", NULL), GW_JWT_OK, "PS384");
  expect(mint("PS512", k_rsab, "rsa-b", NULL), GW_JWT_OK, "PS512");
  expect(mint("ES256", k_p256, "ec-p256", NULL), GW_JWT_OK, "ES256");
  expect(mint("ES384", k_p384, "ec-p384", NULL), GW_JWT_OK, "ES384");
  expect(mint("ES512", k_p521, "ec-p521", NULL), GW_JWT_OK, "ES512");
  /* Repeat: ECDSA signatures are randomized, so R or S with a high bit or
   * leading zero bytes turn up; all must convert to DER correctly. */
  int ok = 0;
  for (int i = 0; i < 40; i++) {
    char *t = mint(i % 2 ? "ES512" : "ES256", i % 2 ? k_p521 : k_p256,
                   i % 2 ? "ec-p521" : "ec-p256", NULL);
    ok += verify(t, NULL) == GW_JWT_OK;
    free(t);
  }
  CHECK_INT(ok, 40, "40 fresh ES256/ES512 signatures all verify");
  /* PSS with salt length = digest length is what we require; a PKCS#1
   * v1.5 signature labelled PS256 (and the reverse) does not verify. */
  json_t *h = json_pack("{s:s,s:s}", "alg", "PS256", "kid", "rsa-b");
  expect(mint_json("RS256", k_rsab, h, std_payload(), 0), GW_JWT_BAD_SIGNATURE,
         "PKCS#1 v1.5 signature labelled PS256");
  h = json_pack("{s:s,s:s}", "alg", "RS256", "kid", "rsa-b");
  expect(mint_json("RS256", k_rsab, h, std_payload(), SIGN_AS_PSS), GW_JWT_BAD_SIGNATURE,
         "PSS signature labelled RS256");
}

static char *mint_padded(size_t n) {
  char *padv = malloc(n + 1);
  memset(padv, 'p', n);
  padv[n] = '\0';
  char *tok = mint("RS256", k_rsa, "rsa-a", payload_with("pad", json_string(padv)));
  free(padv);
  return tok;
}

static void test_malformed(void) {
  char *good = mint("RS256", k_rsa, "rsa-a", NULL);
  size_t gl = strlen(good);
  gw_jwt_claims_t c;
  CHECK_INT(jwt_verify("", 0, &verifier, now, &c), GW_JWT_MALFORMED, "empty token");
  CHECK_INT(jwt_verify("a.b", 3, &verifier, now, &c), GW_JWT_MALFORMED, "two parts");
  char *four = malloc(gl + 3);
  snprintf(four, gl + 3, "%s.x", good);
  expect(four, GW_JWT_MALFORMED, "four parts");
  char *inbuf = malloc(gl + 8);
  snprintf(inbuf, gl + 8, "%s.extra", good);
  CHECK_INT(jwt_verify(inbuf, gl, &verifier, now, NULL), GW_JWT_OK,
            "only len bytes are read (token inside a larger buffer)");
  free(inbuf);
  CHECK_INT(jwt_verify(good, gl - 1, &verifier, now, NULL), GW_JWT_MALFORMED,
            "one char short: impossible base64url length");
  CHECK_INT(jwt_verify("..", 2, &verifier, now, NULL), GW_JWT_MALFORMED, "empty parts");

  expect(sign_parts("RS256", k_rsa, "not json", "{}", 0), GW_JWT_MALFORMED, "header not JSON");
  expect(sign_parts("RS256", k_rsa, "[\"RS256\"]", "{}", 0), GW_JWT_MALFORMED,
         "header not an object");
  expect(sign_parts("RS256", k_rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa-a\"}", "[1]", 0),
         GW_JWT_MALFORMED, "payload not an object");
  expect(sign_parts("RS256", k_rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa-a\"}", "{\"iss\":", 0),
         GW_JWT_MALFORMED, "payload truncated JSON");
  expect(sign_parts("RS256", k_rsa, "{\"alg\":\"RS256\",\"alg\":\"RS256\",\"kid\":\"rsa-a\"}",
                    "{}", 0),
         GW_JWT_MALFORMED, "duplicate member in header");
  char pay[512];
  snprintf(pay, sizeof pay,
           "{\"iss\":\"%s\",\"aud\":\"%s\",\"exp\":%lld,\"scope\":\"profiles:read\","
           "\"scope\":\"account:read\"}",
           ISS, AUD, (long long)now + 60);
  expect(sign_parts("RS256", k_rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa-a\"}", pay, 0),
         GW_JWT_MALFORMED, "duplicate member in payload (signed!)");
  snprintf(pay, sizeof pay, "{\"iss\":\"%s\",\"iss\":\"%s\"}", "https://evil", ISS);
  expect(sign_parts("RS256", k_rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa-a\"}", pay, 0),
         GW_JWT_MALFORMED, "duplicate iss in payload");
  json_t *h = json_pack("{s:s,s:i}", "alg", "RS256", "kid", 1);
  expect(mint_json("RS256", k_rsa, h, std_payload(), 0), GW_JWT_MALFORMED, "kid not a string");
  expect(sign_parts("RS256", k_rsa, "{\"alg\":\"RS256\",\"kid\":\"rsa-a\",\"x\":\"\\u0000\"}",
                    "{}", 0),
         GW_JWT_MALFORMED, "NUL escape in header");

  /* Base64url strictness on each part. */
  char *t = strdup(good);
  t[3] = '+';
  expect(t, GW_JWT_MALFORMED, "'+' in header");
  char *pad = malloc(gl + 2);
  snprintf(pad, gl + 2, "%.*s=.%s", (int)(strchr(good, '.') - good), good,
           strchr(good, '.') + 1);
  expect(pad, GW_JWT_MALFORMED, "'=' padding after header");
  t = strdup(good);
  t[strlen(t) - 2] = '/';
  expect(t, GW_JWT_MALFORMED, "'/' in signature");
  t = strdup(good);
  t[strlen(t) - 1] = ' ';
  expect(t, GW_JWT_MALFORMED, "space in signature");
  CHECK_INT(strlen(strrchr(good, '.') + 1) % 4, 2, "RS256 signature is 4n+2 chars");
  t = malloc(gl + 4);
  snprintf(t, gl + 4, "%sAAA", good);
  expect(t, GW_JWT_MALFORMED, "signature of impossible length (4n+1 chars)");
  t = malloc(gl + 2);
  snprintf(t, gl + 2, "%sB", good);
  expect(t, GW_JWT_MALFORMED, "signature with non-zero trailing bits");
  free(good);

  /* Header bound: 1024 decoded bytes pass, 1025 do not. */
  json_t *sp = std_payload();
  char *spay = json_dumps(sp, JSON_COMPACT);
  json_decref(sp);
  for (int extra = 0; extra < 2; extra++) {
    char hdr[1100];
    int base = snprintf(hdr, sizeof hdr, "{\"alg\":\"RS256\",\"kid\":\"rsa-a\",\"p\":\"");
    int fill = GW_JWT_MAX_HEADER - base - 2 + extra;
    memset(hdr + base, 'x', (size_t)fill);
    snprintf(hdr + base + fill, sizeof hdr - (size_t)(base + fill), "\"}");
    CHECK_INT(strlen(hdr), GW_JWT_MAX_HEADER + extra, "header size as intended");
    expect(sign_parts("RS256", k_rsa, hdr, spay, 0), extra ? GW_JWT_MALFORMED : GW_JWT_OK,
           extra ? "header of 1025 bytes refused" : "header of 1024 bytes accepted");
  }
  free(spay);

  /* Token bound: grow a padding claim until the token is just <= 8 KiB,
   * then 3 bytes (4 chars) more. The 6 KiB payload bound can only be
   * reached by a token over 8 KiB, so the token bound is what bites. */
  size_t n = 5000, len = 0;
  for (int round = 0; round < 20; round++) {
    char *tok = mint_padded(n);
    len = strlen(tok);
    free(tok);
    if (len <= GW_JWT_MAX_TOKEN && len > GW_JWT_MAX_TOKEN - 4) break;
    if (len > GW_JWT_MAX_TOKEN) n -= 1 + (len - GW_JWT_MAX_TOKEN) * 3 / 4;
    else n += (GW_JWT_MAX_TOKEN - len) * 3 / 4;
  }
  char *tok = mint_padded(n);
  CHECK(strlen(tok) <= GW_JWT_MAX_TOKEN && strlen(tok) > GW_JWT_MAX_TOKEN - 4,
        "probe found a token just under 8 KiB");
  expect(tok, GW_JWT_OK, "token just under 8 KiB accepted");
  tok = mint_padded(n + 3);
  CHECK(strlen(tok) > GW_JWT_MAX_TOKEN, "three more bytes go over 8 KiB");
  expect(tok, GW_JWT_MALFORMED, "token over 8 KiB refused");
  static char huge[GW_JWT_MAX_TOKEN + 2];
  memset(huge, 'a', sizeof huge - 1);
  CHECK_INT(jwt_verify(huge, sizeof huge - 1, &verifier, now, NULL), GW_JWT_MALFORMED,
            "8193 bytes refused before any parsing");
}

static void test_alg(void) {
  json_t *h = json_pack("{s:s}", "kid", "rsa-a");
  expect(mint_json("RS256", k_rsa, h, std_payload(), 0), GW_JWT_ALG_MISSING, "no alg");
  h = json_pack("{s:i,s:s}", "alg", 256, "kid", "rsa-a");
  expect(mint_json("RS256", k_rsa, h, std_payload(), 0), GW_JWT_ALG_MISSING, "alg not a string");

  /* alg none: empty signature, and also with a real signature attached. */
  json_t *p = std_payload();
  char *pay = json_dumps(p, JSON_COMPACT);
  json_decref(p);
  char *hb = b64("{\"alg\":\"none\"}", 14), *pb = b64(pay, strlen(pay));
  char none[4096];
  snprintf(none, sizeof none, "%s.%s.", hb, pb);
  CHECK_INT(verify(none, NULL), GW_JWT_ALG_NOT_ALLOWED, "alg none, empty signature");
  free(hb);
  static const char *const bad_algs[] = {"none", "None", "NONE", "HS256", "HS384", "HS512",
                                          "rs256", "RS256 ", "ES256K", "EdDSA", "RSA-OAEP", ""};
  for (size_t i = 0; i < sizeof bad_algs / sizeof *bad_algs; i++) {
    char what[64];
    snprintf(what, sizeof what, "alg \"%s\" not allowed", bad_algs[i]);
    h = json_pack("{s:s,s:s}", "alg", bad_algs[i], "kid", "rsa-a");
    expect(mint_json("RS256", k_rsa, h, std_payload(), 0), GW_JWT_ALG_NOT_ALLOWED, what);
  }
  free(pb);
  free(pay);

  /* Per-issuer allowlist: the m2m issuer allows RS256 and ES256 only. */
  json_t *m = payload_with("iss", json_string(ISS_M2M));
  expect(mint("ES384", k_p384, NULL, m), GW_JWT_ALG_NOT_ALLOWED,
         "ES384 outside the issuer's allowlist");
  m = payload_with("iss", json_string(ISS_M2M));
  expect(mint("PS256", k_rsa, NULL, m), GW_JWT_ALG_NOT_ALLOWED,
         "PS256 outside the issuer's allowlist");
}

/* HMAC-SHA256 over the signing input with `key` as the secret: what an
 * attacker does against libjwt 1.10.2's jwt_decode(), which uses the
 * verification key bytes as the HMAC secret when the token says HS256. */
static char *forge_hs(const char *kid, const char *iss, const unsigned char *key, size_t keylen,
                      const char *alg) {
  json_t *h = json_pack("{s:s,s:s}", "alg", alg, "typ", "at+jwt");
  if (kid) json_object_set_new(h, "kid", json_string(kid));
  json_t *p = iss ? payload_with("iss", json_string(iss)) : std_payload();
  char *hs = json_dumps(h, JSON_COMPACT), *ps = json_dumps(p, JSON_COMPACT);
  json_decref(h);
  json_decref(p);
  char *hb = b64(hs, strlen(hs)), *pb = b64(ps, strlen(ps));
  free(hs);
  free(ps);
  char input[4096];
  int n = snprintf(input, sizeof input, "%s.%s", hb, pb);
  free(hb);
  free(pb);
  unsigned char mac[64];
  size_t maclen = 0;
  const char *md = strcmp(alg, "HS384") == 0 ? "SHA384" : strcmp(alg, "HS512") == 0 ? "SHA512"
                                                                                     : "SHA256";
  EVP_Q_mac(NULL, "HMAC", NULL, md, NULL, key, keylen, (unsigned char *)input, (size_t)n, mac,
            sizeof mac, &maclen);
  char *sb = b64(mac, maclen);
  char *tok = malloc((size_t)n + strlen(sb) + 2);
  sprintf(tok, "%s.%s", input, sb);
  free(sb);
  return tok;
}

static void test_hs_forgery(void) {
  size_t pem_len, der_len;
  char *pem = read_file(FIX "rsa2048.pub.pem", &pem_len);
  char *der = read_file(FIX "rsa2048.pub.der", &der_len);
  json_t *j = json_load_file(FIX "rsa2048.jwk.json", 0, NULL);
  unsigned char nbytes[600];
  size_t nlen = 0;
  json_t *jn = json_object_get(j, "n");
  b64url_decode(json_string_value(jn), json_string_length(jn), nbytes, sizeof nbytes, &nlen);
  char *jwk_text = json_dumps(j, JSON_COMPACT);
  json_decref(j);
  if (!CHECK(pem && der && nlen == 256, "forgery material loaded")) goto out;
  static const char *const algs[] = {"HS256", "HS384", "HS512"};
  static const char *const kids[] = {"rsa-a", NULL};
  static const char *const iss[] = {NULL, ISS_M2M, "https://unknown.example"};
  const struct {
    const unsigned char *p;
    size_t n;
    const char *name;
  } keys[] = {{(unsigned char *)pem, pem_len, "PEM"},
              {(unsigned char *)pem, pem_len - 1, "PEM without final newline"},
              {(unsigned char *)der, der_len, "DER"},
              {nbytes, nlen, "JWK n bytes"},
              {(unsigned char *)jwk_text, strlen(jwk_text), "JWK JSON text"}};
  int refused = 0, total = 0;
  for (size_t a = 0; a < 3; a++)
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
      for (size_t d = 0; d < 2; d++)
        for (size_t i = 0; i < 3; i++) {
          char *tok = forge_hs(kids[d], iss[i], keys[k].p, keys[k].n, algs[a]);
          gw_jwt_result_t r = verify(tok, NULL);
          total++;
          refused += r == GW_JWT_ALG_NOT_ALLOWED;
          if (r != GW_JWT_ALG_NOT_ALLOWED)
            printf("# forgery %s with %s key, kid %s: %s\n", algs[a], keys[k].name,
                   kids[d] ? kids[d] : "-", jwt_result_name(r));
          free(tok);
        }
  CHECK_INT(refused, total, "every HS* forgery keyed with the public key is ALG_NOT_ALLOWED");
  char *tok = forge_hs("rsa-a", NULL, (unsigned char *)pem, pem_len, "HS256");
  CHECK(verify(tok, NULL) != GW_JWT_OK, "HS256 forgery with the PEM is not OK");
  free(tok);
  /* Same forgery relabelled RS256: now the HMAC is just a wrong RSA sig. */
  tok = forge_hs("rsa-a", NULL, (unsigned char *)pem, pem_len, "RS256");
  CHECK_INT(verify(tok, NULL), GW_JWT_BAD_SIGNATURE, "HMAC relabelled RS256: bad signature");
  free(tok);
out:
  free(jwk_text);
  free(pem);
  free(der);
}

static void test_crit_and_ignored_headers(void) {
  json_t *h = json_pack("{s:s,s:s,s:[s],s:b}", "alg", "RS256", "kid", "rsa-a", "crit", "b64",
                        "b64", 0);
  expect(mint_json("RS256", k_rsa, h, std_payload(), 0), GW_JWT_CRIT, "crit [b64] refused");
  h = json_pack("{s:s,s:s,s:[]}", "alg", "RS256", "kid", "rsa-a", "crit");
  expect(mint_json("RS256", k_rsa, h, std_payload(), 0), GW_JWT_CRIT, "empty crit refused");
  h = json_pack("{s:s,s:s,s:n}", "alg", "RS256", "kid", "rsa-a", "crit");
  expect(mint_json("RS256", k_rsa, h, std_payload(), 0), GW_JWT_CRIT, "crit null refused");

  /* jku/x5u/jwk/x5c name an attacker's key; the token is signed by the
   * real JWKS key, so it must verify, proving those members are ignored
   * rather than used. */
  json_t *evil_jwk = jwk("rsa2048b", NULL, NULL);
  h = json_pack("{s:s,s:s,s:s,s:s,s:o,s:[s]}", "alg", "RS256", "kid", "rsa-a", "jku",
                "https://evil.example/jwks.json", "x5u", "https://evil.example/cert.pem", "jwk",
                evil_jwk, "x5c", "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA");
  expect(mint_json("RS256", k_rsa, h, std_payload(), 0), GW_JWT_OK,
         "jku/x5u/jwk/x5c present: verified with the JWKS key");
  /* ...and a token signed by the key embedded in "jwk" is refused. */
  h = json_pack("{s:s,s:s,s:o}", "alg", "RS256", "kid", "rsa-a", "jwk",
                jwk("rsa2048b", NULL, NULL));
  expect(mint_json("RS256", k_rsab, h, std_payload(), 0), GW_JWT_BAD_SIGNATURE,
         "signed by the embedded jwk: bad signature");
}

static void test_issuer_and_keys(void) {
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("iss", NULL)), GW_JWT_UNKNOWN_ISSUER,
         "iss missing");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("iss", json_string("https://evil"))),
         GW_JWT_UNKNOWN_ISSUER, "iss not configured");
  expect(mint("RS256", k_rsa, "rsa-a",
              payload_with("iss", json_string("https://login.example.co"))),
         GW_JWT_UNKNOWN_ISSUER, "iss prefix of a configured one");
  expect(mint("RS256", k_rsa, "rsa-a",
              payload_with("iss", json_string("https://login.example.com/"))),
         GW_JWT_UNKNOWN_ISSUER, "iss with a trailing slash");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("iss", json_integer(1))),
         GW_JWT_CLAIM_TYPE, "iss not a string");

  expect(mint("RS256", k_rsa, "rsa-a", payload_with("iss", json_string(ISS_NOKEYS))),
         GW_JWT_NO_KEYSET, "issuer without a key set yet");

  expect(mint("RS256", k_rsa, "rsa-zzz", NULL), GW_JWT_UNKNOWN_KID, "unknown kid");
  expect(mint("RS256", k_rsa, "", NULL), GW_JWT_UNKNOWN_KID, "empty kid");
  expect(mint("RS256", k_rsa, "RSA-A", NULL), GW_JWT_UNKNOWN_KID, "kid is case-sensitive");
  expect(mint("RS256", k_rsa, NULL, payload_with("iss", json_string(ISS_TWO))),
         GW_JWT_UNKNOWN_KID, "no kid, two RSA keys fit: refused");
  expect(mint("ES256", k_p256, NULL, payload_with("iss", json_string(ISS_TWO))),
         GW_JWT_UNKNOWN_KID, "no kid, no key fits");
  expect(mint("RS256", k_rsa, NULL, NULL), GW_JWT_UNKNOWN_KID,
         "no kid in a set with two RSA keys");

  /* kid-less token, exactly one fitting key (the set holds one RSA and one
   * P-256 key, neither with a kid). typ at+jwt is required there. */
  expect(mint("RS256", k_rsa, NULL, payload_with("iss", json_string(ISS_M2M))), GW_JWT_OK,
         "no kid, the one RSA key fits");
  expect(mint("ES256", k_p256, NULL, payload_with("iss", json_string(ISS_M2M))), GW_JWT_OK,
         "no kid, the one P-256 key fits");
  expect(mint("RS256", k_rsa, "some-kid", payload_with("iss", json_string(ISS_M2M))),
         GW_JWT_UNKNOWN_KID, "kid given but the keys have none");
  expect(mint("RS256", k_rsab, NULL, payload_with("iss", json_string(ISS_M2M))),
         GW_JWT_BAD_SIGNATURE, "no kid, signed by another RSA key");

  expect(mint("ES256", k_p256, "rsa-a", NULL), GW_JWT_KEY_ALG_MISMATCH, "ES256 with an RSA key");
  expect(mint("RS256", k_rsa, "ec-p256", NULL), GW_JWT_KEY_ALG_MISMATCH, "RS256 with an EC key");
  expect(mint("ES384", k_p384, "ec-p256", NULL), GW_JWT_KEY_ALG_MISMATCH,
         "ES384 with a P-256 key (wrong curve)");
  expect(mint("ES256", k_p256, "ec-p384", NULL), GW_JWT_KEY_ALG_MISMATCH,
         "ES256 with a P-384 key without alg (wrong curve)");
  expect(mint("RS384", k_rsa, "rsa-a", NULL), GW_JWT_KEY_ALG_MISMATCH,
         "RS384 with a key whose alg is RS256");
  expect(mint("PS256", k_rsa, "rsa-a", NULL), GW_JWT_KEY_ALG_MISMATCH,
         "PS256 with a key whose alg is RS256");
}

static void test_bad_signature(void) {
  char *good = mint("RS256", k_rsa, "rsa-a", NULL);
  CHECK_INT(verify(good, NULL), GW_JWT_OK, "baseline verifies");

  /* Header tampered: an extra member, same alg and kid. */
  json_t *h = json_pack("{s:s,s:s,s:s,s:s}", "alg", "RS256", "kid", "rsa-a", "typ", "at+jwt",
                        "x", "y");
  char *other = mint_json("RS256", k_rsa, h, std_payload(), 0);
  expect(splice(good, other, 0), GW_JWT_BAD_SIGNATURE, "header tampered");
  free(other);
  /* Payload tampered: more scopes. */
  other = mint("RS256", k_rsa, "rsa-a", payload_with("scope", json_string("account:read")));
  expect(splice(good, other, 1), GW_JWT_BAD_SIGNATURE, "payload tampered (scope raised)");
  free(other);
  /* Signature flipped at several positions. */
  unsigned char sig[1024];
  size_t sl = sig_of(good, sig, sizeof sig);
  size_t pos[] = {0, 1, 100, sl - 1};
  for (size_t i = 0; i < sizeof pos / sizeof *pos; i++) {
    unsigned char s2[1024];
    memcpy(s2, sig, sl);
    s2[pos[i]] ^= 0x01;
    expect(with_sig(strdup(good), s2, sl), GW_JWT_BAD_SIGNATURE, "RSA signature bit flipped");
  }
  expect(with_sig(strdup(good), sig, sl - 1), GW_JWT_BAD_SIGNATURE, "RSA signature one short");
  unsigned char longer[300] = {0};
  memcpy(longer + 1, sig, sl);
  expect(with_sig(strdup(good), longer, sl + 1), GW_JWT_BAD_SIGNATURE,
         "RSA signature with a leading zero byte");
  expect(with_sig(strdup(good), sig, 0), GW_JWT_BAD_SIGNATURE, "empty signature");
  unsigned char big[1100];
  memset(big, 0x41, sizeof big);
  expect(with_sig(strdup(good), big, sizeof big), GW_JWT_BAD_SIGNATURE,
         "signature longer than any key");
  expect(mint("RS256", k_rsab, "rsa-a", NULL), GW_JWT_BAD_SIGNATURE, "signed by another key");
  free(good);

  /* ECDSA: wrong lengths, DER form, flipped bits, R/S swapped, zero. */
  good = mint("ES256", k_p256, "ec-p256", NULL);
  sl = sig_of(good, sig, sizeof sig);
  CHECK_INT(sl, 64, "ES256 signature is 64 bytes");
  expect(with_sig(strdup(good), sig, 63), GW_JWT_BAD_SIGNATURE, "ES256 signature of 63 bytes");
  unsigned char s65[65] = {0};
  memcpy(s65 + 1, sig, 64);
  expect(with_sig(strdup(good), s65, 65), GW_JWT_BAD_SIGNATURE,
         "ES256 signature of 65 bytes (leading zero)");
  unsigned char s2[132];
  memcpy(s2, sig, 64);
  s2[10] ^= 0x80;
  expect(with_sig(strdup(good), s2, 64), GW_JWT_BAD_SIGNATURE, "ES256 R bit flipped");
  memcpy(s2, sig + 32, 32);
  memcpy(s2 + 32, sig, 32);
  expect(with_sig(strdup(good), s2, 64), GW_JWT_BAD_SIGNATURE, "ES256 R and S swapped");
  memset(s2, 0, 64);
  expect(with_sig(strdup(good), s2, 64), GW_JWT_BAD_SIGNATURE, "ES256 R = S = 0");
  memset(s2, 0xff, 64);
  expect(with_sig(strdup(good), s2, 64), GW_JWT_BAD_SIGNATURE, "ES256 R = S = 2^256-1");
  free(good);

  h = json_pack("{s:s,s:s}", "alg", "ES256", "kid", "ec-p256");
  expect(mint_json("ES256", k_p256, h, std_payload(), SIGN_DER), GW_JWT_BAD_SIGNATURE,
         "ES256 with a DER-encoded signature refused");
  h = json_pack("{s:s,s:s}", "alg", "ES512", "kid", "ec-p521");
  expect(mint_json("ES512", k_p521, h, std_payload(), SIGN_DER), GW_JWT_BAD_SIGNATURE,
         "ES512 with a DER-encoded signature refused");
  expect(mint("ES256", k_p256b, "ec-p256", NULL), GW_JWT_BAD_SIGNATURE,
         "ES256 signed by another P-256 key");
  /* ES384 signed with SHA-384 by P-384, relabelled onto the P-521 key's
   * length: 96 bytes where 132 are required. */
  good = mint("ES384", k_p384, "ec-p384", NULL);
  sl = sig_of(good, sig, sizeof sig);
  CHECK_INT(sl, 96, "ES384 signature is 96 bytes");
  free(good);
  good = mint("ES512", k_p521, "ec-p521", NULL);
  CHECK_INT(sig_of(good, s2, sizeof s2), 132, "ES512 signature is 132 bytes");
  expect(with_sig(good, sig, 96), GW_JWT_BAD_SIGNATURE, "ES512 with a 96-byte signature");

  /* The signature is checked before any claim is trusted: an expired,
   * wrong-audience token with a bad signature is a bad signature. */
  json_t *p = std_payload();
  json_object_set_new(p, "exp", json_integer(now - 10000));
  json_object_set_new(p, "aud", json_string("https://other"));
  expect(mint("RS256", k_rsab, "rsa-a", p), GW_JWT_BAD_SIGNATURE,
         "bad signature reported before expiry and audience");
}

static void test_times(void) {
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", NULL)), GW_JWT_EXP_MISSING,
         "exp missing");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_string("9999999999"))),
         GW_JWT_EXP_MISSING, "exp a string");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_null())), GW_JWT_EXP_MISSING,
         "exp null");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_true())), GW_JWT_EXP_MISSING,
         "exp boolean");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_real((double)now + 60.5))),
         GW_JWT_OK, "exp as a real number");

  /* Leeway 30 s: valid while now < exp + 30. */
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_integer(now - LEEWAY + 1))),
         GW_JWT_OK, "exp = now - leeway + 1: still valid");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_integer(now - LEEWAY))),
         GW_JWT_EXPIRED, "exp = now - leeway: expired");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_integer(now - 100000))),
         GW_JWT_EXPIRED, "long expired");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_real((double)now - 30.5))),
         GW_JWT_EXPIRED, "real exp now - 30.5: expired");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_integer(INT64_MIN))),
         GW_JWT_EXPIRED, "exp INT64_MIN");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_real(-1e300))),
         GW_JWT_EXPIRED, "exp -1e300");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("exp", json_real(1e300))), GW_JWT_OK,
         "exp 1e300 (clamped, far future)");

  expect(mint("RS256", k_rsa, "rsa-a", payload_with("nbf", json_integer(now + LEEWAY))),
         GW_JWT_OK, "nbf = now + leeway: valid");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("nbf", json_integer(now + LEEWAY + 1))),
         GW_JWT_NOT_YET_VALID, "nbf = now + leeway + 1: not yet valid");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("nbf", json_string("0"))),
         GW_JWT_CLAIM_TYPE, "nbf a string");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("nbf", NULL)), GW_JWT_OK, "nbf optional");

  expect(mint("RS256", k_rsa, "rsa-a", payload_with("iat", json_integer(now + LEEWAY))),
         GW_JWT_OK, "iat = now + leeway: valid");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("iat", json_integer(now + LEEWAY + 1))),
         GW_JWT_IAT_FUTURE, "iat = now + leeway + 1: in the future");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("iat", json_pack("[i]", 1))),
         GW_JWT_CLAIM_TYPE, "iat an array");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("iat", NULL)), GW_JWT_OK, "iat optional");

  /* The m2m issuer has leeway 0. */
  json_t *p = payload_with("iss", json_string(ISS_M2M));
  json_object_set_new(p, "exp", json_integer(now));
  expect(mint("RS256", k_rsa, NULL, p), GW_JWT_EXPIRED, "leeway 0: exp = now is expired");
  p = payload_with("iss", json_string(ISS_M2M));
  json_object_set_new(p, "exp", json_integer(now + 1));
  expect(mint("RS256", k_rsa, NULL, p), GW_JWT_OK, "leeway 0: exp = now + 1 is valid");
  p = payload_with("iss", json_string(ISS_M2M));
  json_object_set_new(p, "nbf", json_integer(now + 1));
  expect(mint("RS256", k_rsa, NULL, p), GW_JWT_NOT_YET_VALID, "leeway 0: nbf = now + 1");
}

static void test_audience(void) {
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("aud", json_string(AUD_MCP))), GW_JWT_OK,
         "aud: second accepted audience");
  expect(mint("RS256", k_rsa, "rsa-a",
              payload_with("aud", json_pack("[s,s]", "https://other", AUD_MCP))),
         GW_JWT_OK, "aud array, one matching");
  expect(mint("RS256", k_rsa, "rsa-a",
              payload_with("aud", json_pack("[s,s]", "https://other", "https://x"))),
         GW_JWT_AUD_MISMATCH, "aud array, none matching");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("aud", json_array())), GW_JWT_AUD_MISMATCH,
         "aud empty array");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("aud", json_string("https://other"))),
         GW_JWT_AUD_MISMATCH, "aud string mismatch");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("aud", json_string("https://api.example.co"))),
         GW_JWT_AUD_MISMATCH, "aud prefix of an accepted one");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("aud", json_string(AUD "/"))),
         GW_JWT_AUD_MISMATCH, "aud with trailing slash");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("aud", NULL)), GW_JWT_AUD_MISMATCH,
         "aud missing");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("aud", json_integer(1))), GW_JWT_CLAIM_TYPE,
         "aud a number");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("aud", json_pack("[s,i]", AUD, 1))),
         GW_JWT_CLAIM_TYPE, "aud array with a number");
  /* An issuer with no audience configured accepts no token: fail closed. */
  gw_jwt_issuer_t none = issuers[0];
  none.naudiences = 0;
  gw_jwt_verifier_t vnone = {&none, 1, &reg};
  char *t = mint("RS256", k_rsa, "rsa-a", NULL);
  CHECK_INT(jwt_verify(t, strlen(t), &vnone, now, NULL), GW_JWT_AUD_MISMATCH,
            "no audiences configured: every token refused");
  free(t);
  /* The m2m issuer accepts only the first audience. */
  json_t *p = payload_with("iss", json_string(ISS_M2M));
  json_object_set_new(p, "aud", json_string(AUD_MCP));
  expect(mint("RS256", k_rsa, NULL, p), GW_JWT_AUD_MISMATCH, "audiences are per issuer");
}

static char *mint_typ(const char *iss, json_t *typ) {
  json_t *h = json_pack("{s:s}", "alg", "RS256");
  if (typ) json_object_set_new(h, "typ", typ);
  if (strcmp(iss, ISS) == 0) json_object_set_new(h, "kid", json_string("rsa-a"));
  return mint_json("RS256", k_rsa, h, payload_with("iss", json_string(iss)), 0);
}

static void test_typ(void) {
  static const char *const ok[] = {"at+jwt", "AT+JWT", "At+Jwt", "application/at+jwt",
                                   "Application/AT+JWT", "JWT", "jwt", "application/jwt"};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    char what[64];
    snprintf(what, sizeof what, "typ \"%s\" accepted", ok[i]);
    expect(mint_typ(ISS, json_string(ok[i])), GW_JWT_OK, what);
  }
  expect(mint_typ(ISS, NULL), GW_JWT_OK, "typ absent accepted");
  static const char *const bad[] = {"JOSE", "at+jwtx", "xat+jwt", "application/", "",
                                    "application/application/at+jwt", "at+JWT ", "JWS"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char what[64];
    snprintf(what, sizeof what, "typ \"%s\" refused", bad[i]);
    expect(mint_typ(ISS, json_string(bad[i])), GW_JWT_TYP_INVALID, what);
  }
  expect(mint_typ(ISS, json_integer(1)), GW_JWT_TYP_INVALID, "typ a number refused");
  expect(mint_typ(ISS_M2M, NULL), GW_JWT_TYP_INVALID, "require_typ: absent refused");
  expect(mint_typ(ISS_M2M, json_string("JWT")), GW_JWT_TYP_INVALID, "require_typ: JWT refused");
  expect(mint_typ(ISS_M2M, json_string("at+jwt")), GW_JWT_OK, "require_typ: at+jwt");
  expect(mint_typ(ISS_M2M, json_string("application/AT+JWT")), GW_JWT_OK,
         "require_typ: application/AT+JWT");
}

/* Verifies a token with the given payload members replaced, and checks
 * the scope set and text. */
static void expect_scopes(json_t *pay, gw_scopeset_t set, const char *text, const char *what) {
  char *t = mint("RS256", k_rsa, "rsa-a", pay);
  gw_jwt_claims_t c;
  gw_jwt_result_t r = verify(t, &c);
  char w[128];
  snprintf(w, sizeof w, "%s: verifies", what);
  CHECK_INT(r, GW_JWT_OK, w);
  snprintf(w, sizeof w, "%s: set", what);
  CHECK_INT(c.scopes, set, w);
  snprintf(w, sizeof w, "%s: text", what);
  CHECK_STR(c.scope_text, text, w);
  jwt_claims_free(&c);
  free(t);
}

static void test_scopes(void) {
  json_t *p = payload_with("scope", NULL);
  json_object_set_new(p, "scp", json_pack("[s,s]", "tags:manage", "account:read"));
  expect_scopes(p, 6, "tags:manage account:read", "scp array");
  p = payload_with("scope", NULL);
  json_object_set_new(p, "scp", json_string("account:read profiles:read"));
  expect_scopes(p, 5, "account:read profiles:read", "scp string");
  p = payload_with("scope", json_string("account:read"));
  json_object_set_new(p, "scp", json_pack("[s]", "tags:manage"));
  expect_scopes(p, 4, "account:read", "scope wins over scp");
  p = payload_with("scope", json_string("account:read"));
  json_object_set_new(p, "scp", json_integer(5));
  expect_scopes(p, 4, "account:read", "scope wins; scp of any type ignored");
  expect_scopes(payload_with("scope", json_string("  unknown:x   tags:manage  other ")), 2,
                "unknown:x tags:manage other", "unknown scopes kept in text, spaces normalized");
  expect_scopes(payload_with("scope", json_string("")), 0, "", "empty scope");
  expect_scopes(payload_with("scope", NULL), 0, "", "no scope claims");
  p = payload_with("scope", NULL);
  json_object_set_new(p, "scp", json_array());
  expect_scopes(p, 0, "", "empty scp array");
  expect_scopes(payload_with("scope", json_string("tags:manage profiles:read")), 3,
                "tags:manage profiles:read", "token order kept");

  expect(mint("RS256", k_rsa, "rsa-a", payload_with("scope", json_pack("[s]", "a"))),
         GW_JWT_CLAIM_TYPE, "scope an array");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("scope", json_integer(1))),
         GW_JWT_CLAIM_TYPE, "scope a number");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("scope", json_string("a\tb"))),
         GW_JWT_CLAIM_TYPE, "scope with a tab");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("scope", json_string("a\r\nX-Evil: 1"))),
         GW_JWT_CLAIM_TYPE, "scope with CR LF");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("scope", json_string("a\"b"))),
         GW_JWT_CLAIM_TYPE, "scope with a quote");
  p = payload_with("scope", NULL);
  json_object_set_new(p, "scp", json_pack("[s,i]", "a", 1));
  expect(mint("RS256", k_rsa, "rsa-a", p), GW_JWT_CLAIM_TYPE, "scp array with a number");
  p = payload_with("scope", NULL);
  json_object_set_new(p, "scp", json_pack("[s]", "a b"));
  expect(mint("RS256", k_rsa, "rsa-a", p), GW_JWT_CLAIM_TYPE, "scp element with a space");
  p = payload_with("scope", NULL);
  json_object_set_new(p, "scp", json_pack("[s]", ""));
  expect(mint("RS256", k_rsa, "rsa-a", p), GW_JWT_CLAIM_TYPE, "scp empty element");
  p = payload_with("scope", NULL);
  json_object_set_new(p, "scp", json_pack("{s:s}", "a", "b"));
  expect(mint("RS256", k_rsa, "rsa-a", p), GW_JWT_CLAIM_TYPE, "scp an object");
}

static void expect_kind(json_t *p, gw_token_kind_t kind, const char *what) {
  char *t = mint("RS256", k_rsa, "rsa-a", p);
  gw_jwt_claims_t c;
  gw_jwt_result_t r = verify(t, &c);
  CHECK(r == GW_JWT_OK && c.kind == kind, what);
  jwt_claims_free(&c);
  free(t);
}

static void test_kind_and_types(void) {
  expect_kind(std_payload(), GW_TOKEN_USER, "sub != client_id: user");
  expect_kind(payload_with("sub", json_string("app-7")), GW_TOKEN_M2M, "sub == client_id: m2m");
  json_t *p = payload_with("sub", json_string("app-7@clients"));
  json_object_set_new(p, "gty", json_string("client-credentials"));
  expect_kind(p, GW_TOKEN_M2M, "gty client-credentials: m2m");
  expect_kind(payload_with("gty", json_string("password")), GW_TOKEN_USER, "gty password: user");
  expect_kind(payload_with("gty", json_string("client-credentialsX")), GW_TOKEN_USER,
              "gty compared with its length");
  p = payload_with("sub", NULL);
  json_object_del(p, "client_id");
  expect_kind(p, GW_TOKEN_USER, "neither sub nor client_id: user");
  expect_kind(payload_with("sub", json_string("app-")), GW_TOKEN_USER,
              "sub a prefix of client_id: user");

  /* Identity claims of another type are not a reason to refuse the token:
   * their headers are omitted (SPEC), the token is valid. */
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("sub", json_integer(42))), GW_JWT_OK,
         "sub a number: valid token");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("client_id", json_pack("[s]", "a"))),
         GW_JWT_OK, "client_id an array: valid token");
  expect(mint("RS256", k_rsa, "rsa-a", payload_with("gty", json_false())), GW_JWT_OK,
         "gty a boolean: valid token");
}

static void test_result_texts(void) {
  int distinct = 1, clean = 1;
  for (int a = 0; a < GW_JWT_RESULT_COUNT; a++) {
    const char *t = jwt_result_text((gw_jwt_result_t)a);
    if (!t || !*t || strpbrk(t, "\"\\\r\n")) clean = 0;
    for (int b = 0; b < a; b++)
      if (strcmp(t, jwt_result_text((gw_jwt_result_t)b)) == 0 ||
          strcmp(jwt_result_name((gw_jwt_result_t)a), jwt_result_name((gw_jwt_result_t)b)) == 0)
        distinct = 0;
  }
  CHECK(distinct, "every result has its own text and name");
  CHECK(clean, "texts are safe inside a quoted-string");
  CHECK_STR(jwt_result_name(GW_JWT_BAD_SIGNATURE), "bad_signature", "result name");
  CHECK(jwt_result_text((gw_jwt_result_t)99) != NULL, "out-of-range result has a text");
}

int main(void) {
  if (setup() != 0) {
    CHECK(0, "fixtures load");
    teardown();
    return TAP_DONE();
  }
  test_ok_and_claims();
  test_algorithms();
  test_malformed();
  test_alg();
  test_hs_forgery();
  test_crit_and_ignored_headers();
  test_issuer_and_keys();
  test_bad_signature();
  test_times();
  test_audience();
  test_typ();
  test_scopes();
  test_kind_and_types();
  test_result_texts();
  teardown();
  return TAP_DONE();
}
