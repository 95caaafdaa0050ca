/* jwt_micro: per-verification cost of a JWT access token, three ways, for
 * RS256 (RSA-2048) and ES256 (P-256):
 *   (a) libjwt 1.10.2 jwt_decode() given the PEM public key, as a naive
 *       integration would call it: it parses the PEM on every call;
 *   (b) our jwt_verify() with the key set parsed once (EVP_PKEY cached),
 *       including JSON parsing and every claim check;
 *   (c) EVP_MD_CTX_new + EVP_DigestVerifyInit_ex + EVP_DigestVerify on the
 *       cached key and a ready DER signature: the crypto floor;
 *   (d) a token cache hit (hash + full compare), what a repeated token costs.
 * It also reports whether libjwt accepts an HS256 token MACed with the
 * issuer's public key PEM (the alg-confusion forgery our verifier refuses).
 *
 * Build and run from the repo root (uses tests/unit/fixtures/jwt). -iquote,
 * not -I: gateway/lib/jwt.h would otherwise shadow libjwt's <jwt.h>.
 *   gcc -O2 -std=c11 -D_GNU_SOURCE -iquote gateway/lib bench/jwt_micro.c gateway/lib/jwt.c \
 *       gateway/lib/jwks.c gateway/lib/jsonobj.c gateway/lib/b64url.c gateway/lib/scopes.c \
 *       gateway/lib/tokcache.c \
 *       -o /tmp/jwt_micro $(pkg-config --cflags --libs libjwt openssl jansson)
 *   /tmp/jwt_micro [seconds-per-case, default 1] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <jwt.h> /* libjwt */
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "jwks.h"
#include "jwt.h" /* ours, via -iquote gateway */
#include "tokcache.h"

#define FIX "tests/unit/fixtures/jwt/"
#define ISS "https://login.example.com"
#define AUD "https://api.example.com"

static double budget_s = 1.0;

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s (run from the repo root)\n", path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) exit(2);
  b[n] = '\0';
  fclose(f);
  if (len) *len = (size_t)n;
  return b;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs fn until the time budget is spent; returns microseconds per call.
 * fn returns 1 on the expected outcome; any other result aborts. */
typedef int (*op_fn)(void *arg);
static double measure(op_fn fn, void *arg, const char *name) {
  for (int i = 0; i < 50; i++) /* warm up caches and lazy init */
    if (!fn(arg)) {
      fprintf(stderr, "%s: unexpected result\n", name);
      exit(1);
    }
  long iters = 0, batch = 64;
  double t0 = now_s(), t;
  do {
    for (long i = 0; i < batch; i++)
      if (!fn(arg)) {
        fprintf(stderr, "%s: unexpected result\n", name);
        exit(1);
      }
    iters += batch;
    t = now_s();
  } while (t - t0 < budget_s);
  return (t - t0) * 1e6 / (double)iters;
}

typedef struct {
  const char *alg;
  char *token;
  char *pem;
  size_t pem_len;
  gw_jwt_verifier_t *verifier;
  EVP_PKEY *pkey;
  const char *md;
  unsigned char sig_der[600];
  size_t sig_der_len;
  size_t signing_input_len;
  gw_tokcache_t *cache;
} bench_case_t;

static int op_libjwt(void *arg) {
  bench_case_t *b = arg;
  jwt_t *j = NULL;
  int r = jwt_decode(&j, b->token, (const unsigned char *)b->pem, (int)b->pem_len);
  jwt_free(j);
  return r == 0;
}

static int op_ours(void *arg) {
  bench_case_t *b = arg;
  gw_jwt_claims_t c;
  gw_jwt_result_t r = jwt_verify(b->token, strlen(b->token), b->verifier, (int64_t)time(NULL), &c);
  jwt_claims_free(&c);
  return r == GW_JWT_OK;
}

static int op_raw(void *arg) {
  bench_case_t *b = arg;
  EVP_MD_CTX *m = EVP_MD_CTX_new();
  int ok = EVP_DigestVerifyInit_ex(m, NULL, b->md, NULL, NULL, b->pkey, NULL) == 1 &&
           EVP_DigestVerify(m, b->sig_der, b->sig_der_len, (const unsigned char *)b->token,
                            b->signing_input_len) == 1;
  EVP_MD_CTX_free(m);
  return ok;
}

static const uint64_t gens[1] = {1};

static int op_cache(void *arg) {
  bench_case_t *b = arg;
  gw_tokcache_key_t k = tokcache_key(b->cache, b->token, strlen(b->token), 0);
  return tokcache_get(b->cache, &k, (int64_t)time(NULL), gens, 1) !=
         NULL;
}

/* A realistic access token minted with libjwt (kid, iss, aud, sub,
 * client_id, scope, exp, iat). */
static char *mint(jwt_alg_t alg, const char *keyfile, const char *kid) {
  size_t klen;
  char *key = slurp(keyfile, &klen);
  jwt_t *j = NULL;
  jwt_new(&j);
  long t = (long)time(NULL);
  jwt_add_header(j, "kid", kid);
  jwt_add_header(j, "typ", "at+jwt");
  jwt_add_grant(j, "iss", ISS);
  jwt_add_grant(j, "aud", AUD);
  jwt_add_grant(j, "sub", "8f14e45f-ceea-467a-9af0-d3c6b0c0c2a1");
  jwt_add_grant(j, "client_id", "dashboard-web");
  jwt_add_grant(j, "scope", "profiles:read tags:manage account:read");
  jwt_add_grant_int(j, "iat", t);
  jwt_add_grant_int(j, "exp", t + 3600);
  if (jwt_set_alg(j, alg, (unsigned char *)key, (int)klen) != 0) exit(2);
  char *tok = jwt_encode_str(j);
  jwt_free(j);
  free(key);
  if (!tok) exit(2);
  return tok;
}

/* The crypto-only input of case (c): the DER signature OpenSSL wants. */
static void prepare_raw(bench_case_t *b, const gw_keyset_t *ks, const char *kid) {
  const gw_jwk_t *k = NULL;
  const char *dot = strrchr(b->token, '.');
  b->signing_input_len = (size_t)(dot - b->token);
  unsigned char raw[600];
  size_t n = 0;
  b64url_decode(dot + 1, strlen(dot + 1), raw, sizeof raw, &n);
  for (size_t i = 0; i < ks->nkeys; i++)
    if (ks->keys[i].kid && strcmp(ks->keys[i].kid, kid) == 0) k = &ks->keys[i];
  if (!k) exit(2);
  b->pkey = k->pkey;
  if (k->kty == GW_KTY_EC) { /* R||S -> DER, as jwt.c does internally */
    unsigned char *p = b->sig_der;
    size_t half = n / 2, body = 0;
    unsigned char ints[2][40];
    size_t il[2];
    for (int i = 0; i < 2; i++) {
      const unsigned char *v = raw + i * half;
      size_t len = half;
      while (len > 1 && v[0] == 0) v++, len--;
      size_t pad = (v[0] & 0x80) ? 1 : 0;
      ints[i][0] = 0x02;
      ints[i][1] = (unsigned char)(len + pad);
      ints[i][2] = 0;
      memcpy(ints[i] + 2 + pad, v, len);
      il[i] = 2 + pad + len;
      body += il[i];
    }
    *p++ = 0x30;
    *p++ = (unsigned char)body;
    memcpy(p, ints[0], il[0]);
    memcpy(p + il[0], ints[1], il[1]);
    b->sig_der_len = 2 + body;
  } else {
    memcpy(b->sig_der, raw, n);
    b->sig_der_len = n;
  }
}

int main(int argc, char **argv) {
  if (argc > 1) budget_s = atof(argv[1]);
  if (budget_s <= 0) budget_s = 1.0;

  size_t jl;
  char *jwks = slurp(FIX "jwks.json", &jl);
  char err[256];
  gw_keyset_t *ks = jwks_parse(jwks, jl, "bench", NULL, NULL, err, sizeof err);
  free(jwks);
  if (!ks) {
    fprintf(stderr, "%s\n", err);
    return 2;
  }
  gw_scope_registry_t reg = {0};
  scopes_intern(&reg, "profiles:read", 13);
  scopes_intern(&reg, "tags:manage", 11);
  static const char *const auds[] = {AUD};
  gw_jwt_issuer_t iss = {ISS, strlen(ISS), GW_JWA_DEFAULT_MASK, auds, 1, 30, 0, ks};
  gw_jwt_verifier_t v = {&iss, 1, &reg};

  bench_case_t cases[2] = {
      {.alg = "RS256", .md = "SHA256", .verifier = &v},
      {.alg = "ES256", .md = "SHA256", .verifier = &v},
  };
  cases[0].token = mint(JWT_ALG_RS256, FIX "rsa2048.pem", "rsa-a");
  cases[0].pem = slurp(FIX "rsa2048.pub.pem", &cases[0].pem_len);
  cases[1].token = mint(JWT_ALG_ES256, FIX "p256.pem", "ec-p256");
  cases[1].pem = slurp(FIX "p256.pub.pem", &cases[1].pem_len);
  prepare_raw(&cases[0], ks, "rsa-a");
  prepare_raw(&cases[1], ks, "ec-p256");

  printf("jwt_micro: %s, %.1f s per case, token sizes RS256 %zu / ES256 %zu bytes\n",
         OpenSSL_version(OPENSSL_VERSION), budget_s, strlen(cases[0].token),
         strlen(cases[1].token));
  printf("%-6s %14s %14s %14s %14s\n", "alg", "libjwt+PEM", "jwt_verify", "EVP only",
         "cache hit");
  for (int i = 0; i < 2; i++) {
    bench_case_t *b = &cases[i];
    b->cache = tokcache_new(1024, 1 << 20);
    gw_tokcache_val_t val = {.issuer = 0, .exp = (int64_t)time(NULL) + 3600, .generation = 1};
    gw_tokcache_key_t k = tokcache_key(b->cache, b->token, strlen(b->token), 0);
    tokcache_put(b->cache, &k, (int64_t)time(NULL), &val);
    double a = measure(op_libjwt, b, "libjwt");
    double o = measure(op_ours, b, "jwt_verify");
    double r = measure(op_raw, b, "EVP");
    double c = measure(op_cache, b, "cache");
    printf("%-6s %11.2f us %11.2f us %11.2f us %11.3f us\n", b->alg, a, o, r, c);
    tokcache_free(b->cache);
  }

  /* The alg-confusion check: HS256 keyed with the RSA public key PEM. */
  jwt_t *j = NULL;
  jwt_new(&j);
  jwt_add_grant(j, "iss", ISS);
  jwt_add_grant(j, "aud", AUD);
  jwt_add_grant_int(j, "exp", (long)time(NULL) + 3600);
  jwt_add_header(j, "kid", "rsa-a");
  jwt_set_alg(j, JWT_ALG_HS256, (unsigned char *)cases[0].pem, (int)cases[0].pem_len);
  char *forged = jwt_encode_str(j);
  jwt_free(j);
  jwt_t *out = NULL;
  int libjwt_accepts = jwt_decode(&out, forged, (unsigned char *)cases[0].pem,
                                  (int)cases[0].pem_len) == 0;
  jwt_free(out);
  gw_jwt_result_t ours = jwt_verify(forged, strlen(forged), &v, (int64_t)time(NULL), NULL);
  printf("HS256 token MACed with the RS256 public key PEM: libjwt jwt_decode %s; "
         "jwt_verify -> %s\n",
         libjwt_accepts ? "ACCEPTS it" : "refuses it", jwt_result_name(ours));
  free(forged);

  for (int i = 0; i < 2; i++) {
    free(cases[i].token);
    free(cases[i].pem);
  }
  scopes_free(&reg);
  jwks_keyset_unref(ks);
  return 0;
}
