/* test_m2m: the built-in client_credentials issuer (gateway/m2m.c).
 *
 * Keys (RSA 2048, EC P-256/P-384, and bad ones) are made here with OpenSSL
 * and written, with gateway.ini and clients files, into a fresh mkdtemp
 * directory. Issued tokens are checked by the gateway's own verifier:
 * jwt_verify() against m2m_jwks() parsed by jwks_parse(). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "b64url.h"
#include "config.h"
#include "jwks.h"
#include "jwt.h"
#include "log.h"
#include "m2m.h"
#include "m2m_limits.h"
#include "scopes.h"
#include "tap.h"

#define ISS "https://m2m.vanguard.test"
#define AUD "https://vanguard.profilebehavior.com"
#define NOW ((int64_t)1700000000)
#define ITER 100000

static char tmpdir[256];
static char cfgpath[600], clientspath[600];
static char demo_hash[GW_M2M_HASH_MAX], writer_hash[GW_M2M_HASH_MAX], odd_hash[GW_M2M_HASH_MAX];

static void bail(const char *what) {
  printf("Bail out! %s: %s\n", what, strerror(errno));
  exit(2);
}

static void path_in(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) bail(path);
  fwrite(text, 1, strlen(text), f);
  fclose(f);
}

static void write_key(const char *name, EVP_PKEY *pk, int encrypted) {
  char p[600];
  path_in(p, sizeof p, name);
  BIO *b = BIO_new_file(p, "w");
  if (!b) bail(p);
  int ok = encrypted ? PEM_write_bio_PrivateKey(b, pk, EVP_aes_128_cbc(),
                                                (unsigned char *)"pass", 4, NULL, NULL)
                     : PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL);
  BIO_free(b);
  if (ok != 1) bail("PEM_write_bio_PrivateKey");
}

static void make_keys(void) {
  EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  EVP_PKEY *rsa1k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  if (!rsa || !rsa1k || !p256 || !p384 || !ed) bail("keygen");
  write_key("rsa.pem", rsa, 0);
  write_key("rsa1024.pem", rsa1k, 0);
  write_key("p256.pem", p256, 0);
  write_key("p384.pem", p384, 0);
  write_key("ed25519.pem", ed, 0);
  write_key("rsa-enc.pem", rsa, 1);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(rsa1k);
  EVP_PKEY_free(p256);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(ed);
  char p[600];
  path_in(p, sizeof p, "garbage.pem");
  write_file(p, "-----BEGIN NOTHING-----\nAAAA\n-----END NOTHING-----\n");
}

static void write_clients(const char *path) {
  char text[2048];
  snprintf(text, sizeof text,
           "; test clients\n"
           "[client:demo]\n"
           "secret = %s\n"
           "scopes = profiles:read tags:manage\n"
           "\n"
           "[client:demo-writer]\n"
           "secret = %s\n"
           "scopes = profiles:read profiles:write\n"
           "\n"
           "[client:odd]\n"
           "secret = %s\n"
           "scopes = account:read\n",
           demo_hash, writer_hash, odd_hash);
  write_file(path, text);
}

/* gateway.ini with [m2m] using key file `key` and `extra` lines in [m2m]. */
static void write_cfg(const char *key, const char *clients, const char *extra) {
  char text[4096];
  snprintf(text, sizeof text,
           "[resource]\n"
           "identifier = " AUD "\n"
           "\n"
           "[m2m]\n"
           "enable = yes\n"
           "issuer = " ISS "\n"
           "signing_key = %s\n"
           "clients = %s\n"
           "%s",
           key, clients, extra ? extra : "");
  write_file(cfgpath, text);
}

static void dump_errors(const gw_errors_t *e) {
  for (size_t i = 0; i < e->n; i++) printf("#   error: %s\n", e->msgs[i]);
}

static gw_m2m_t *load_m2m(const char *key, const char *extra, gw_errors_t *e) {
  write_cfg(key, "clients.ini", extra);
  gw_config_t *cfg = config_load(cfgpath, e);
  if (!cfg) return NULL;
  gw_m2m_t *m = m2m_load(cfg, e);
  config_free(cfg);
  return m;
}

static int has_error(const gw_errors_t *e, const char *file, int line, const char *sub) {
  char prefix[700];
  snprintf(prefix, sizeof prefix, line > 0 ? "%s:%d: " : "%s: ", file, line);
  size_t pl = strlen(prefix);
  for (size_t i = 0; i < e->n; i++)
    if (strncmp(e->msgs[i], prefix, pl) == 0 && strstr(e->msgs[i] + pl, sub)) return 1;
  return 0;
}

static int any_error_contains(const gw_errors_t *e, const char *sub) {
  for (size_t i = 0; i < e->n; i++)
    if (strstr(e->msgs[i], sub)) return 1;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Requests                                                            */

static char *basic(const char *id_secret) {
  size_t n = strlen(id_secret);
  char *out = malloc(6 + 4 * (n / 3 + 1) + 1);
  strcpy(out, "Basic ");
  EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)id_secret, (int)n);
  return out;
}

typedef struct {
  const char *method, *ct, *body, *auth, *addr;
} rq;

static int call(gw_m2m_t *m, rq r, int64_t now, gw_m2m_response_t *out) {
  gw_m2m_request_t req = {
      .method = r.method ? r.method : "POST",
      .content_type = r.ct,
      .body = r.body,
      .body_len = r.body ? strlen(r.body) : 0,
      .authorization = r.auth,
      .client_addr = r.addr ? r.addr : "192.0.2.1",
  };
  m2m_token(m, &req, now, out);
  return out->status;
}

/* The "error" member of a response body, in a static buffer. */
static const char *error_of(const gw_m2m_response_t *r) {
  static char buf[64];
  json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
  const char *e = json_string_value(json_object_get(j, "error"));
  snprintf(buf, sizeof buf, "%s", e ? e : "(none)");
  json_decref(j);
  return buf;
}

static const char *desc_of(const gw_m2m_response_t *r) {
  static char buf[256];
  json_t *j = json_loadb(r->body, r->body_len, 0, NULL);
  const char *e = json_string_value(json_object_get(j, "error_description"));
  snprintf(buf, sizeof buf, "%s", e ? e : "(none)");
  json_decref(j);
  return buf;
}

/* Expects status and error code (NULL: 200). */
static void expect(int tl, gw_m2m_t *m, rq r, int64_t now, int status, const char *error,
                   const char *what) {
  gw_m2m_response_t out;
  char w[300];
  call(m, r, now, &out);
  snprintf(w, sizeof w, "(line %d) %s: %d %s", tl, what, status, error ? error : "");
  int ok = out.status == status && (!error || strcmp(error_of(&out), error) == 0);
  CHECK(ok, w);
  if (!ok) printf("#   got %d %.*s\n", out.status, (int)out.body_len, out.body);
  m2m_response_free(&out);
}
#define EXPECT(m, r, status, error, what) expect(__LINE__, m, r, NOW, status, error, what)

/* ------------------------------------------------------------------ */
/* Verification through the gateway's own verifier                     */

static gw_scope_registry_t reg;

typedef struct {
  gw_jwt_result_t r;
  gw_jwt_claims_t c;
  json_t *hdr;
} verified_t;

static void verify_token(gw_m2m_t *m, const char *tok, int64_t now, verified_t *v) {
  size_t jl;
  const char *jwks = m2m_jwks(m, &jl);
  char err[200];
  gw_keyset_t *ks = jwks_parse(jwks, jl, "m2m-test", NULL, NULL, err, sizeof err);
  const char *auds[] = {AUD};
  gw_jwt_issuer_t is = {.iss = ISS,
                        .iss_len = strlen(ISS),
                        .algs = GW_JWA_DEFAULT_MASK,
                        .audiences = auds,
                        .naudiences = 1,
                        .leeway_s = 0,
                        .require_typ = 1,
                        .keys = ks};
  gw_jwt_verifier_t ver = {.issuers = &is, .nissuers = 1, .scopes = &reg};
  v->r = ks ? jwt_verify(tok, strlen(tok), &ver, now, &v->c) : GW_JWT_NO_KEYSET;
  jwks_keyset_unref(ks);
  const char *dot = strchr(tok, '.');
  unsigned char h[1024];
  size_t hl = 0;
  v->hdr = NULL;
  if (dot && b64url_decode(tok, (size_t)(dot - tok), h, sizeof h, &hl) == 0)
    v->hdr = json_loadb((const char *)h, hl, 0, NULL);
}

static void verified_free(verified_t *v) {
  jwt_claims_free(&v->c);
  json_decref(v->hdr);
}

/* Issues a token for r and returns the parsed 200 body (or NULL). */
static json_t *issue(gw_m2m_t *m, rq r, gw_m2m_response_t *out) {
  call(m, r, NOW, out);
  if (out->status != 200) {
    printf("#   expected 200, got %d %.*s\n", out->status, (int)out->body_len, out->body);
    return NULL;
  }
  return json_loadb(out->body, out->body_len, 0, NULL);
}

static void check_token(gw_m2m_t *m, const char *what, rq r, const char *client,
                        const char *scope, const char *alg) {
  char w[200];
  gw_m2m_response_t out;
  json_t *body = issue(m, r, &out);
  snprintf(w, sizeof w, "%s: 200", what);
  CHECK(body != NULL, w);
  if (!body) {
    m2m_response_free(&out);
    return;
  }
  snprintf(w, sizeof w, "%s: token_type Bearer", what);
  CHECK_STR(json_string_value(json_object_get(body, "token_type")), "Bearer", w);
  snprintf(w, sizeof w, "%s: expires_in", what);
  CHECK_INT(json_integer_value(json_object_get(body, "expires_in")), 3600, w);
  snprintf(w, sizeof w, "%s: scope in the response", what);
  CHECK_STR(json_string_value(json_object_get(body, "scope")), scope, w);
  snprintf(w, sizeof w, "%s: no challenge, no Retry-After on 200", what);
  CHECK(out.www_authenticate == NULL && out.retry_after_s == 0 && out.allow == NULL, w);
  snprintf(w, sizeof w, "%s: client_id for the log", what);
  CHECK_STR(out.client_id, client, w);
  snprintf(w, sizeof w, "%s: outcome issued", what);
  CHECK_STR(m2m_outcome_name(out.outcome), "issued", w);

  const char *tok = json_string_value(json_object_get(body, "access_token"));
  verified_t v;
  verify_token(m, tok ? tok : "", NOW + 10, &v);
  snprintf(w, sizeof w, "%s: jwt_verify OK", what);
  CHECK_STR(jwt_result_name(v.r), jwt_result_name(GW_JWT_OK), w);
  if (v.r == GW_JWT_OK) {
    snprintf(w, sizeof w, "%s: sub = client_id", what);
    CHECK_STR(v.c.sub, client, w);
    CHECK_STR(v.c.client_id, client, w);
    snprintf(w, sizeof w, "%s: kind m2m", what);
    CHECK_INT(v.c.kind, GW_TOKEN_M2M, w);
    snprintf(w, sizeof w, "%s: scope claim", what);
    CHECK_STR(v.c.scope_text, scope, w);
    snprintf(w, sizeof w, "%s: exp = iat + lifetime", what);
    CHECK_INT(v.c.exp, NOW + 3600, w);
    char claim[256], iat[32];
    snprintf(iat, sizeof iat, "%lld", (long long)NOW);
    CHECK(jwt_claim_text(&v.c, "iat", claim, sizeof claim) > 0 && strcmp(claim, iat) == 0, w);
    snprintf(w, sizeof w, "%s: iss and aud", what);
    CHECK(jwt_claim_text(&v.c, "iss", claim, sizeof claim) > 0 && strcmp(claim, ISS) == 0, w);
    CHECK(jwt_claim_text(&v.c, "aud", claim, sizeof claim) > 0 && strcmp(claim, AUD) == 0, w);
    snprintf(w, sizeof w, "%s: jti is 16 bytes base64url", what);
    CHECK_INT(jwt_claim_text(&v.c, "jti", claim, sizeof claim), 22, w);
    snprintf(w, sizeof w, "%s: alg", what);
    CHECK_INT(v.c.alg, jwa_from_name(alg, strlen(alg)), w);
  }
  snprintf(w, sizeof w, "%s: header typ at+jwt, kid, alg", what);
  CHECK_STR(json_string_value(json_object_get(v.hdr, "typ")), "at+jwt", w);
  CHECK_STR(json_string_value(json_object_get(v.hdr, "kid")), m2m_kid(m), w);
  CHECK_STR(json_string_value(json_object_get(v.hdr, "alg")), alg, w);
  verified_free(&v);

  /* Expired one second after exp (leeway 0). */
  verify_token(m, tok ? tok : "", NOW + 3600, &v);
  snprintf(w, sizeof w, "%s: expired at exp", what);
  CHECK_STR(jwt_result_name(v.r), jwt_result_name(GW_JWT_EXPIRED), w);
  verified_free(&v);
  json_decref(body);
  m2m_response_free(&out);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */

static void test_hash_secret(void) {
  char h[GW_M2M_HASH_MAX];
  CHECK_INT(m2m_hash_secret("x", 1, ITER, h, sizeof h), 0, "hash_secret: ok");
  CHECK(strncmp(h, "pbkdf2-sha256$100000$", 21) == 0, "hash_secret: format");
  CHECK_INT(m2m_hash_secret("x", 1, 99999, h, sizeof h), -1, "hash_secret: too few iterations");
  CHECK_INT(m2m_hash_secret("x", 1, ITER, h, 20), -1, "hash_secret: buffer too small");
  char h2[GW_M2M_HASH_MAX];
  m2m_hash_secret("x", 1, ITER, h2, sizeof h2);
  CHECK(strcmp(h, h2) != 0, "hash_secret: fresh salt each time");
}

static void test_disabled(void) {
  write_file(cfgpath, "[resource]\nidentifier = " AUD "\n[m2m]\nenable = no\n");
  gw_errors_t e = {0};
  gw_config_t *cfg = config_load(cfgpath, &e);
  CHECK(cfg != NULL, "disabled: config loads");
  gw_m2m_t *m = cfg ? m2m_load(cfg, &e) : NULL;
  CHECK(m == NULL && e.n == 0, "disabled: m2m_load returns NULL without errors");
  dump_errors(&e);
  gw_errors_free(&e);
  config_free(cfg);
}

static void test_jwks_rsa(gw_m2m_t *m) {
  size_t len = 0;
  const char *doc = m2m_jwks(m, &len);
  CHECK(doc && len == strlen(doc), "jwks: document and length");
  json_t *j = json_loadb(doc, len, 0, NULL);
  json_t *keys = json_object_get(j, "keys");
  CHECK_INT(json_array_size(keys), 1, "jwks: one key");
  json_t *k = json_array_get(keys, 0);
  CHECK_STR(json_string_value(json_object_get(k, "kty")), "RSA", "jwks: kty");
  CHECK_STR(json_string_value(json_object_get(k, "alg")), "RS256", "jwks: alg");
  CHECK_STR(json_string_value(json_object_get(k, "use")), "sig", "jwks: use");
  CHECK_STR(json_string_value(json_object_get(k, "kid")), m2m_kid(m), "jwks: kid");
  CHECK(!json_object_get(k, "d") && !json_object_get(k, "p"), "jwks: no private members");
  /* RFC 7638 thumbprint, recomputed here. */
  char *canon = NULL;
  int n = asprintf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
                   json_string_value(json_object_get(k, "e")),
                   json_string_value(json_object_get(k, "n")));
  unsigned char d[32];
  unsigned int dl = 0;
  EVP_Digest(canon, (size_t)n, d, &dl, EVP_sha256(), NULL);
  char t[64];
  b64url_encode(d, 32, t, sizeof t, NULL);
  CHECK_STR(m2m_kid(m), t, "jwks: default kid is the RFC 7638 thumbprint");
  free(canon);
  json_decref(j);
  CHECK_STR(m2m_alg(m), "RS256", "m2m_alg RS256");
  CHECK_INT(m2m_nclients(m), 3, "three clients loaded");
  gw_keyset_t *ks = m2m_keyset(m);
  CHECK(ks && ks->nkeys == 1 && ks->keys[0].kty == GW_KTY_RSA, "m2m_keyset: the same key");
  jwks_keyset_unref(ks);
}

static void test_success(gw_m2m_t *m, const char *alg) {
  char w[120];
  snprintf(w, sizeof w, "%s JSON body", alg);
  check_token(m, w,
              (rq){.ct = "application/json",
                   .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\","
                           "\"client_secret\":\"demo-secret\"}"},
              "demo", "profiles:read tags:manage", alg);
  snprintf(w, sizeof w, "%s form body", alg);
  check_token(m, w,
              (rq){.ct = "application/x-www-form-urlencoded",
                   .body = "grant_type=client_credentials&client_id=demo-writer&client_secret="
                           "demo-writer-secret"},
              "demo-writer", "profiles:read profiles:write", alg);
  char *b = basic("demo:demo-secret");
  snprintf(w, sizeof w, "%s Basic, no body (the docs' example)", alg);
  check_token(m, w, (rq){.auth = b}, "demo", "profiles:read tags:manage", alg);
  free(b);
}

static void test_rsa_flows(gw_m2m_t *m) {
  char *b = basic("demo:demo-secret");
  char *lower = basic("demo:demo-secret");
  memcpy(lower, "bAsIc", 5);

  check_token(m, "form, scope narrowing",
              (rq){.ct = "application/x-www-form-urlencoded; charset=UTF-8",
                   .body = "grant_type=client_credentials&scope=tags%3Amanage&client_id=demo&"
                           "client_secret=demo-secret"},
              "demo", "tags:manage", "RS256");
  check_token(m, "JSON, scope narrowing keeps the client's order, drops repeats",
              (rq){.ct = "Application/JSON",
                   .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\","
                           "\"client_secret\":\"demo-secret\",\"scope\":\"tags:manage "
                           "profiles:read tags:manage\",\"extra\":[1]}"},
              "demo", "profiles:read tags:manage", "RS256");
  check_token(m, "empty scope grants everything",
              (rq){.ct = "application/json",
                   .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\","
                           "\"client_secret\":\"demo-secret\",\"scope\":\" \"}"},
              "demo", "profiles:read tags:manage", "RS256");
  check_token(m, "Basic with a form body", (rq){.auth = b, .ct = "application/x-www-form-urlencoded",
                                                .body = "grant_type=client_credentials"},
              "demo", "profiles:read tags:manage", "RS256");
  check_token(m, "Basic plus the same client_id in the body",
              (rq){.auth = b, .ct = "application/json",
                   .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\"}"},
              "demo", "profiles:read tags:manage", "RS256");
  check_token(m, "scheme is case-insensitive", (rq){.auth = lower}, "demo",
              "profiles:read tags:manage", "RS256");
  /* RFC 6749 §2.3.1: Basic credentials are form-urlencoded first. */
  char *ob = basic("odd:sp+ace%2Bplus%25");
  check_token(m, "Basic secret is form-decoded", (rq){.auth = ob}, "odd", "account:read",
              "RS256");
  free(ob);
  check_token(m, "the same secret raw in a JSON body",
              (rq){.ct = "application/json",
                   .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"odd\","
                           "\"client_secret\":\"sp ace+plus%\"}"},
              "odd", "account:read", "RS256");

  /* Two tokens differ in jti. */
  gw_m2m_response_t o1, o2;
  call(m, (rq){.auth = b}, NOW, &o1);
  call(m, (rq){.auth = b}, NOW, &o2);
  CHECK(o1.status == 200 && o2.status == 200 && strcmp(o1.body, o2.body) != 0,
        "two tokens at the same second differ (jti)");
  m2m_response_free(&o1);
  m2m_response_free(&o2);
  free(b);
  free(lower);
}

static void test_errors(gw_m2m_t *m) {
  const char *J = "application/json", *F = "application/x-www-form-urlencoded";
  char *b = basic("demo:demo-secret");
  char *bwrong = basic("demo:nope");
  char *bunknown = basic("nobody:demo-secret");
  gw_m2m_response_t out;

  /* Method */
  call(m, (rq){.method = "GET", .auth = b}, NOW, &out);
  CHECK_INT(out.status, 405, "GET: 405");
  CHECK_STR(out.allow, "POST", "GET: Allow: POST");
  CHECK_STR(error_of(&out), "invalid_request", "GET: error code");
  m2m_response_free(&out);

  /* Body too large */
  gw_m2m_request_t big = {.method = "POST", .content_type = J, .body_too_large = 1,
                          .client_addr = "192.0.2.1"};
  m2m_token(m, &big, NOW, &out);
  CHECK_INT(out.status, 413, "body over the limit: 413");
  m2m_response_free(&out);

  /* Grant type */
  EXPECT(m, ((rq){.ct = J, .body = "{\"grant_type\":\"password\",\"client_id\":\"demo\","
                                  "\"client_secret\":\"demo-secret\"}"}),
         400, "unsupported_grant_type", "grant_type password");
  EXPECT(m, ((rq){.ct = F, .body = "grant_type=authorization_code&code=x", .auth = b}), 400,
         "unsupported_grant_type", "grant_type authorization_code with Basic");
  EXPECT(m, ((rq){.ct = J, .body = "{\"client_id\":\"demo\",\"client_secret\":\"demo-secret\"}"}),
         400, "invalid_request", "grant_type missing (JSON)");
  EXPECT(m, ((rq){.ct = J, .body = "{}", .auth = b}), 400, "invalid_request",
         "grant_type missing with Basic and a non-empty body");
  EXPECT(m, ((rq){0}), 400, "invalid_request", "empty request");

  /* Missing fields */
  EXPECT(m, ((rq){.ct = J, .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\"}"}),
         400, "invalid_request", "client_secret missing");
  EXPECT(m, ((rq){.ct = F, .body = "grant_type=client_credentials&client_secret=demo-secret"}),
         400, "invalid_request", "client_id missing");
  EXPECT(m, ((rq){.ct = F, .body = "grant_type=client_credentials&client_id=&client_secret=x"}),
         400, "invalid_request", "client_id empty");
  call(m, (rq){.ct = J, .body = "{\"grant_type\":\"client_credentials\"}"}, NOW, &out);
  CHECK_INT(out.status, 401, "no client credentials at all: 401");
  CHECK_STR(error_of(&out), "invalid_client", "no client credentials: invalid_client");
  CHECK_STR(out.www_authenticate, "Basic realm=\"m2m\"", "no client credentials: challenge");
  m2m_response_free(&out);

  /* Malformed bodies */
  EXPECT(m, ((rq){.ct = J, .body = "{\"grant_type\":"}), 400, "invalid_request", "bad JSON");
  EXPECT(m, ((rq){.ct = J, .body = "[\"client_credentials\"]"}), 400, "invalid_request",
         "JSON not an object");
  EXPECT(m, ((rq){.ct = J, .body = "{\"grant_type\":\"client_credentials\",\"client_id\":7,"
                                  "\"client_secret\":\"x\"}"}),
         400, "invalid_request", "JSON client_id not a string");
  EXPECT(m, ((rq){.ct = J, .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\","
                                  "\"client_id\":\"demo\",\"client_secret\":\"demo-secret\"}"}),
         400, "invalid_request", "JSON parameter repeated");
  EXPECT(m, ((rq){.ct = J, .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\","
                                  "\"client_secret\":\"demo\\u0000secret\"}"}),
         400, "invalid_request", "JSON NUL in a string");
  EXPECT(m, ((rq){.ct = F, .body = "grant_type=client_credentials&client_id=demo&client_id=demo&"
                                  "client_secret=demo-secret"}),
         400, "invalid_request", "form parameter repeated");
  EXPECT(m, ((rq){.ct = F, .body = "grant_type=client_credentials&client_id=demo&client_secret=%zz"}),
         400, "invalid_request", "form bad percent-escape");
  EXPECT(m, ((rq){.ct = F, .body = "grant_type=client_credentials&client_id=demo&client_secret=a%00b"}),
         400, "invalid_request", "form %00");
  EXPECT(m, ((rq){.ct = "text/plain", .body = "grant_type=client_credentials"}), 400,
         "invalid_request", "unsupported Content-Type");
  EXPECT(m, ((rq){.body = "grant_type=client_credentials"}), 400, "invalid_request",
         "body without Content-Type");
  check_token(m, "unknown form parameters are ignored",
              (rq){.ct = F, .body = "foo=bar&&grant_type=client_credentials&client_id=demo&"
                                    "client_secret=demo-secret&novalue"},
              "demo", "profiles:read tags:manage", "RS256");

  /* Both methods at once */
  EXPECT(m, ((rq){.auth = b, .ct = J, .body = "{\"grant_type\":\"client_credentials\","
                                              "\"client_secret\":\"demo-secret\"}"}),
         400, "invalid_request", "Basic plus client_secret in the body");
  EXPECT(m, ((rq){.auth = b, .ct = F, .body = "grant_type=client_credentials&client_id=other"}),
         400, "invalid_request", "Basic plus another client_id in the body");
  EXPECT(m, ((rq){.auth = b, .ct = J, .body = "{\"grant_type\":\"client_credentials\","
                                              "\"client_id\":\"demo\",\"client_secret\":\"demo-secret\"}"}),
         400, "invalid_request", "Basic plus full body credentials");

  /* Authorization header */
  EXPECT(m, ((rq){.auth = "Basic !!!!"}), 400, "invalid_request", "Basic not base64");
  char *nocolon = basic("demo");
  EXPECT(m, ((rq){.auth = nocolon}), 400, "invalid_request", "Basic without ':'");
  free(nocolon);
  char *noid = basic(":demo-secret");
  EXPECT(m, ((rq){.auth = noid}), 400, "invalid_request", "Basic with an empty id");
  free(noid);
  EXPECT(m, ((rq){.auth = "Basic"}), 400, "invalid_request", "Basic without credentials");
  EXPECT(m, ((rq){.auth = ""}), 400, "invalid_request", "empty Authorization header");
  EXPECT(m, ((rq){.auth = "  "}), 400, "invalid_request", "blank Authorization header");
  EXPECT(m, ((rq){.auth = "Basic ZGVtbzpkZW1vLXNlY3JldA== extra"}), 400, "invalid_request",
         "Basic with trailing text");
  check_token(m, "Basic without padding", (rq){.auth = "Basic ZGVtbzpkZW1vLXNlY3JldA"}, "demo",
              "profiles:read tags:manage", "RS256");
  call(m, (rq){.auth = "Bearer abc.def.ghi", .ct = J,
               .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\","
                       "\"client_secret\":\"demo-secret\"}"},
       NOW, &out);
  CHECK_INT(out.status, 401, "Bearer Authorization: 401");
  CHECK_STR(error_of(&out), "invalid_client", "Bearer Authorization: invalid_client");
  CHECK_STR(m2m_outcome_name(out.outcome), "no_client_auth", "Bearer Authorization: outcome");
  m2m_response_free(&out);

  /* Wrong secret and unknown client: same answer. */
  char d1[256], d2[256];
  call(m, (rq){.auth = bwrong, .addr = "198.51.100.1"}, NOW, &out);
  CHECK_INT(out.status, 401, "Basic wrong secret: 401");
  CHECK_STR(error_of(&out), "invalid_client", "Basic wrong secret: invalid_client");
  CHECK_STR(out.www_authenticate, "Basic realm=\"m2m\"", "Basic wrong secret: WWW-Authenticate");
  CHECK_STR(m2m_outcome_name(out.outcome), "bad_secret", "wrong secret: outcome bad_secret");
  CHECK_STR(out.client_id, "demo", "wrong secret: the known client id is logged");
  snprintf(d1, sizeof d1, "%s", desc_of(&out));
  CHECK(!strstr(out.body, "nope"), "wrong secret: the secret is not echoed");
  m2m_response_free(&out);
  call(m, (rq){.auth = bunknown, .addr = "198.51.100.2"}, NOW, &out);
  CHECK_INT(out.status, 401, "unknown client: 401");
  CHECK_STR(error_of(&out), "invalid_client", "unknown client: invalid_client");
  CHECK_STR(m2m_outcome_name(out.outcome), "unknown_client", "unknown client: outcome");
  CHECK_STR(out.client_id, "", "unknown client: no client id for the log");
  snprintf(d2, sizeof d2, "%s", desc_of(&out));
  CHECK_STR(d1, d2, "unknown client and wrong secret: the same description");
  m2m_response_free(&out);
  call(m, (rq){.ct = J, .addr = "198.51.100.3",
               .body = "{\"grant_type\":\"client_credentials\",\"client_id\":\"demo\","
                       "\"client_secret\":\"wrong\"}"},
       NOW, &out);
  CHECK_INT(out.status, 401, "JSON wrong secret: 401");
  CHECK_STR(error_of(&out), "invalid_client", "JSON wrong secret: invalid_client");
  m2m_response_free(&out);

  /* Scope */
  call(m, (rq){.auth = b, .ct = F, .body = "grant_type=client_credentials&scope=profiles%3Awrite"},
       NOW, &out);
  CHECK_INT(out.status, 400, "scope the client lacks: 400");
  CHECK_STR(error_of(&out), "invalid_scope", "scope the client lacks: invalid_scope");
  CHECK(strstr(desc_of(&out), "profiles:write") != NULL, "invalid_scope names the scope");
  m2m_response_free(&out);
  EXPECT(m, ((rq){.auth = b, .ct = J, .body = "{\"grant_type\":\"client_credentials\","
                                              "\"scope\":\"tags:manage \\\"x\"}"}),
         400, "invalid_scope", "scope with characters outside scope-token");
  char *wwrong = basic("demo-writer:demo-secret");
  EXPECT(m, ((rq){.auth = wwrong, .ct = F, .addr = "198.51.100.4",
                  .body = "grant_type=client_credentials&scope=nope"}),
         401, "invalid_client", "invalid_scope is only told after authentication");
  free(wwrong);

  free(b);
  free(bwrong);
  free(bunknown);
}

/* Lockouts: this instance has max_failures = 3, lockout = 60s. */
static void test_lockout(gw_m2m_t *m) {
  char *good = basic("demo:demo-secret");
  char *bad = basic("demo:wrong");
  char *wgood = basic("demo-writer:demo-writer-secret");
  char *ghost = basic("ghost:whatever");
  gw_m2m_response_t out;
  char w[120];

  /* Per (client id, address) pair: three failures from one address lock
   * that pair only. */
  for (int i = 0; i < 3; i++) {
    snprintf(w, sizeof w, "pair lockout: failure %d is 401", i + 1);
    call(m, (rq){.auth = bad, .addr = "203.0.113.10"}, NOW + i, &out);
    CHECK_INT(out.status, 401, w);
    m2m_response_free(&out);
  }
  call(m, (rq){.auth = good, .addr = "203.0.113.10"}, NOW + 3, &out);
  CHECK_INT(out.status, 429, "pair lockout: the right secret from that address now gets 429");
  CHECK_STR(error_of(&out), "slow_down", "pair lockout: slow_down");
  CHECK_STR(m2m_outcome_name(out.outcome), "locked_client", "pair lockout: outcome");
  CHECK(out.retry_after_s >= 55 && out.retry_after_s <= 60, "pair lockout: Retry-After ~60");
  CHECK(out.www_authenticate == NULL, "pair lockout: no challenge on 429");
  m2m_response_free(&out);
  EXPECT(m, ((rq){.auth = good, .addr = "203.0.113.50"}), 200, NULL,
         "pair lockout: a second address is not locked out");
  EXPECT(m, ((rq){.auth = wgood, .addr = "203.0.113.10"}), 200, NULL,
         "pair lockout: another client from that address is not affected");
  /* A locked pair is carried into a new instance on reload. */
  gw_errors_t e = {0};
  gw_m2m_t *m2 = load_m2m("rsa.pem", "max_failures = 3\nlockout = 1m\n", &e);
  CHECK(m2 != NULL, "reload instance loads");
  if (m2) {
    EXPECT(m2, ((rq){.auth = good, .addr = "203.0.113.10"}), 200, NULL,
           "a fresh instance has no lockouts");
    m2m_inherit_limits(m2, m);
    call(m2, (rq){.auth = good, .addr = "203.0.113.10"}, NOW + 4, &out);
    CHECK_INT(out.status, 429, "m2m_inherit_limits carries the lockout over");
    m2m_response_free(&out);
    m2m_free(m2);
  }
  gw_errors_free(&e);
  call(m, (rq){.auth = good, .addr = "203.0.113.10"}, NOW + 2 + 60, &out);
  CHECK_INT(out.status, 200, "pair lockout: over after `lockout`");
  m2m_response_free(&out);

  /* Never per client id alone: whoever knows an id cannot lock it out by
   * failing from addresses of their own. */
  for (int i = 0; i < 6; i++) {
    char addr[32];
    snprintf(addr, sizeof addr, "203.0.113.%d", 60 + i);
    call(m, (rq){.auth = bad, .addr = addr}, NOW + 100, &out), m2m_response_free(&out);
  }
  EXPECT(m, ((rq){.auth = good, .addr = "203.0.113.70"}), 200, NULL,
         "failures for an id from other addresses do not lock the id");

  /* A success clears the pair's counter. */
  int64_t t = NOW + 1000;
  call(m, (rq){.auth = bad, .addr = "203.0.113.20"}, t, &out), m2m_response_free(&out);
  call(m, (rq){.auth = bad, .addr = "203.0.113.20"}, t, &out), m2m_response_free(&out);
  call(m, (rq){.auth = good, .addr = "203.0.113.20"}, t, &out);
  CHECK_INT(out.status, 200, "two failures, then a success");
  m2m_response_free(&out);
  call(m, (rq){.auth = bad, .addr = "203.0.113.20"}, t, &out), m2m_response_free(&out);
  call(m, (rq){.auth = bad, .addr = "203.0.113.20"}, t, &out);
  CHECK_INT(out.status, 401, "the success reset the count: still 401");
  m2m_response_free(&out);
  call(m, (rq){.auth = good, .addr = "203.0.113.20"}, t, &out);
  CHECK_INT(out.status, 200, "and the right secret still works");
  m2m_response_free(&out);

  /* The window: failures further apart than `lockout` do not add up. */
  t = NOW + 2000;
  call(m, (rq){.auth = bad, .addr = "203.0.113.30"}, t, &out), m2m_response_free(&out);
  call(m, (rq){.auth = bad, .addr = "203.0.113.30"}, t + 30, &out), m2m_response_free(&out);
  call(m, (rq){.auth = bad, .addr = "203.0.113.30"}, t + 61, &out);
  CHECK_INT(out.status, 401, "failures outside the window do not lock");
  m2m_response_free(&out);
  call(m, (rq){.auth = good, .addr = "203.0.113.30"}, t + 62, &out);
  CHECK_INT(out.status, 200, "not locked after spread-out failures");
  m2m_response_free(&out);

  /* Unknown ids are counted too (no hint that they do not exist). */
  t = NOW + 3000;
  for (int i = 0; i < 3; i++)
    call(m, (rq){.auth = ghost, .addr = "203.0.113.40"}, t, &out), m2m_response_free(&out);
  call(m, (rq){.auth = ghost, .addr = "203.0.113.40"}, t, &out);
  CHECK_INT(out.status, 429, "unknown client id: locked like a real one");
  m2m_response_free(&out);

  /* Per address: max_failures x GW_M2M_ADDR_FACTOR failures for different
   * ids lock the address, whatever id comes next. */
  t = NOW + 4000;
  for (int i = 0; i < 3 * GW_M2M_ADDR_FACTOR; i++) {
    char cred[32];
    snprintf(cred, sizeof cred, "id-%d:x", i);
    char *bb = basic(cred);
    call(m, (rq){.auth = bb, .addr = "192.0.2.77"}, t, &out);
    snprintf(w, sizeof w, "address lockout: failure %d is 401", i + 1);
    CHECK_INT(out.status, 401, w);
    m2m_response_free(&out);
    free(bb);
  }
  call(m, (rq){.auth = good, .addr = "192.0.2.77"}, t + 1, &out);
  CHECK_INT(out.status, 429, "address lockout: the right secret from that address: 429");
  CHECK_STR(m2m_outcome_name(out.outcome), "locked_address", "address lockout: outcome");
  CHECK(out.retry_after_s >= 55 && out.retry_after_s <= 60, "address lockout: Retry-After");
  m2m_response_free(&out);
  EXPECT(m, ((rq){.addr = "192.0.2.77", .method = "POST", .ct = "text/plain", .body = "x"}), 429,
         "slow_down", "address lockout: even a malformed request gets 429");
  call(m, (rq){.auth = good, .addr = "::ffff:192.0.2.77"}, t + 1, &out);
  CHECK_INT(out.status, 429, "address lockout: the IPv4-mapped form is the same address");
  m2m_response_free(&out);
  call(m, (rq){.auth = good, .addr = "192.0.2.78"}, t + 1, &out);
  CHECK_INT(out.status, 200, "address lockout: another address is fine");
  m2m_response_free(&out);
  call(m, (rq){.auth = good, .addr = "192.0.2.77"}, t + 61, &out);
  CHECK_INT(out.status, 200, "address lockout: over after `lockout`");
  m2m_response_free(&out);

  /* IPv6 counts by /64. */
  t = NOW + 5000;
  for (int i = 0; i < 3 * GW_M2M_ADDR_FACTOR; i++) {
    char cred[32], addr[48];
    snprintf(cred, sizeof cred, "v6-%d:x", i);
    snprintf(addr, sizeof addr, "2001:db8:1:2:%x::%d", i, i + 1);
    char *bb = basic(cred);
    call(m, (rq){.auth = bb, .addr = addr}, t, &out), m2m_response_free(&out);
    free(bb);
  }
  call(m, (rq){.auth = good, .addr = "2001:db8:1:2::99"}, t, &out);
  CHECK_INT(out.status, 429, "IPv6: failures from one /64 lock the /64");
  m2m_response_free(&out);
  call(m, (rq){.auth = good, .addr = "2001:db8:1:3::1"}, t, &out);
  CHECK_INT(out.status, 200, "IPv6: the next /64 is fine");
  m2m_response_free(&out);

  free(good);
  free(bad);
  free(wgood);
  free(ghost);
}

static void test_no_lockout(void) {
  gw_errors_t e = {0};
  gw_m2m_t *m = load_m2m("rsa.pem", "max_failures = 0\n", &e);
  CHECK(m != NULL, "max_failures = 0 loads");
  char *bad = basic("demo:wrong"), *good = basic("demo:demo-secret");
  gw_m2m_response_t out;
  for (int i = 0; i < 7; i++) call(m, (rq){.auth = bad}, NOW, &out), m2m_response_free(&out);
  call(m, (rq){.auth = good}, NOW, &out);
  CHECK_INT(out.status, 200, "max_failures = 0: no lockout");
  m2m_response_free(&out);
  free(bad);
  free(good);
  m2m_free(m);
  gw_errors_free(&e);
}

static void test_lifetime_audience(void) {
  gw_errors_t e = {0};
  gw_m2m_t *m = load_m2m("p256.pem",
                         "lifetime = 15m\naudience = https://other.test\nkid = my-key-1\n", &e);
  CHECK(m != NULL, "lifetime/audience/kid: loads");
  dump_errors(&e);
  if (m) {
    CHECK_STR(m2m_kid(m), "my-key-1", "configured kid");
    gw_m2m_response_t out;
    char *b = basic("demo:demo-secret");
    json_t *body = issue(m, (rq){.auth = b}, &out);
    CHECK_INT(json_integer_value(json_object_get(body, "expires_in")), 900, "expires_in 900");
    const char *tok = json_string_value(json_object_get(body, "access_token"));
    verified_t v;
    verify_token(m, tok ? tok : "", NOW, &v);
    CHECK_STR(jwt_result_name(v.r), jwt_result_name(GW_JWT_AUD_MISMATCH),
              "another audience is refused by a verifier expecting the resource");
    verified_free(&v);
    json_decref(body);
    m2m_response_free(&out);
    free(b);
  }
  m2m_free(m);
  gw_errors_free(&e);
}

/* Concurrent token requests from several threads. */
typedef struct {
  gw_m2m_t *m;
  int ok;
} thr_arg;

static void *thr(void *p) {
  thr_arg *a = p;
  char *good = basic("demo:demo-secret"), *bad = basic("demo-writer:wrong");
  for (int i = 0; i < 3; i++) {
    gw_m2m_response_t out;
    call(a->m, (rq){.auth = good, .addr = "192.0.2.200"}, NOW, &out);
    a->ok += out.status == 200;
    m2m_response_free(&out);
    call(a->m, (rq){.auth = bad, .addr = "192.0.2.201"}, NOW, &out);
    m2m_response_free(&out);
  }
  free(good);
  free(bad);
  jwt_thread_cleanup();
  return NULL;
}

static void test_threads(gw_m2m_t *m) {
  pthread_t t[4];
  thr_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (thr_arg){m, 0};
    pthread_create(&t[i], NULL, thr, &a[i]);
  }
  int ok = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    ok += a[i].ok;
  }
  CHECK_INT(ok, 12, "threads: every good request from a clean address succeeds");
  /* 12 concurrent failures of one pair with max_failures 3: locked now. */
  char *wgood = basic("demo-writer:demo-writer-secret");
  gw_m2m_response_t out;
  call(m, (rq){.auth = wgood, .addr = "192.0.2.201"}, NOW, &out);
  CHECK_INT(out.status, 429, "threads: concurrent failures lock the pair");
  m2m_response_free(&out);
  call(m, (rq){.auth = wgood, .addr = "192.0.2.202"}, NOW, &out);
  CHECK_INT(out.status, 200, "threads: ... and only the pair");
  m2m_response_free(&out);
  free(wgood);
}

static void test_ec(const char *key, const char *alg) {
  gw_errors_t e = {0};
  gw_m2m_t *m = load_m2m(key, NULL, &e);
  char w[120];
  snprintf(w, sizeof w, "%s key loads", alg);
  CHECK(m != NULL, w);
  dump_errors(&e);
  gw_errors_free(&e);
  if (!m) return;
  CHECK_STR(m2m_alg(m), alg, "m2m_alg");
  json_t *j = json_loads(m2m_jwks(m, NULL), 0, NULL);
  json_t *k = json_array_get(json_object_get(j, "keys"), 0);
  CHECK_STR(json_string_value(json_object_get(k, "kty")), "EC", "EC jwks: kty");
  CHECK_STR(json_string_value(json_object_get(k, "crv")),
            strcmp(alg, "ES256") == 0 ? "P-256" : "P-384", "EC jwks: crv");
  CHECK_STR(json_string_value(json_object_get(k, "alg")), alg, "EC jwks: alg");
  CHECK(!json_object_get(k, "d"), "EC jwks: no private member");
  json_decref(j);
  test_success(m, alg);
  /* Raw R||S: 64 or 96 bytes, i.e. 86 or 128 base64url characters. */
  char *b = basic("demo:demo-secret");
  gw_m2m_response_t out;
  json_t *body = issue(m, (rq){.auth = b}, &out);
  const char *tok = json_string_value(json_object_get(body, "access_token"));
  const char *sig = tok ? strrchr(tok, '.') : NULL;
  size_t want = strcmp(alg, "ES256") == 0 ? 86 : 128;
  CHECK(sig && strlen(sig + 1) == want, "EC signature is raw R||S, not DER");
  json_decref(body);
  m2m_response_free(&out);
  free(b);
  m2m_free(m);
}

static void expect_load_error(int tl, const char *key, const char *extra, const char *clients_text,
                              const char *file, int line, const char *sub, const char *absent) {
  gw_errors_t e = {0};
  if (clients_text) write_file(clientspath, clients_text);
  gw_m2m_t *m = load_m2m(key, extra, &e);
  char w[300];
  snprintf(w, sizeof w, "(line %d) load error %s:%d: %s", tl, file == cfgpath ? "gateway.ini" :
           "clients.ini", line, sub);
  int ok = m == NULL && has_error(&e, file, line, sub);
  CHECK(ok, w);
  if (!ok) dump_errors(&e);
  if (absent) {
    snprintf(w, sizeof w, "(line %d) the message does not contain '%s'", tl, absent);
    CHECK(!any_error_contains(&e, absent), w);
  }
  m2m_free(m);
  gw_errors_free(&e);
  if (clients_text) write_clients(clientspath);
}
#define LOAD_ERR(key, extra, clients, file, line, sub, absent) \
  expect_load_error(__LINE__, key, extra, clients, file, line, sub, absent)

static void test_load_errors(void) {
  /* Key problems: at the gateway.ini line of signing_key (line 7). */
  LOAD_ERR("missing.pem", NULL, NULL, cfgpath, 7, "cannot read", NULL);
  LOAD_ERR("rsa1024.pem", NULL, NULL, cfgpath, 7, "RSA key of 1024 bits", NULL);
  LOAD_ERR("garbage.pem", NULL, NULL, cfgpath, 7, "no PEM private key", NULL);
  LOAD_ERR("rsa-enc.pem", NULL, NULL, cfgpath, 7, "encrypted", NULL);
  LOAD_ERR("ed25519.pem", NULL, NULL, cfgpath, 7, "unsupported key type", NULL);

  /* Clients file problems: at their own line. */
  char t[1024];
  LOAD_ERR("rsa.pem", NULL, "[client:a]\nsecret = hunter2-plain\nscopes = profiles:read\n",
           clientspath, 2, "plain-text secrets are refused", "hunter2");
  LOAD_ERR("rsa.pem", NULL, "[client:a]\nsecret = scrypt$1$2$3\nscopes = profiles:read\n",
           clientspath, 2, "unsupported secret hash", NULL);
  LOAD_ERR("rsa.pem", NULL,
           "[client:a]\nscopes = profiles:read\nsecret = pbkdf2-sha256$99999$"
           "AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
           clientspath, 3, "iterations must be from 100000", NULL);
  LOAD_ERR("rsa.pem", NULL,
           "[client:a]\nsecret = pbkdf2-sha256$99999999999999999999999$"
           "AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nscopes = x\n",
           clientspath, 2, "iterations must be from 100000", NULL);
  LOAD_ERR("rsa.pem", NULL,
           "[client:a]\nsecret = pbkdf2-sha256$x$AAAAAAAAAAAAAAAAAAAAAA$AAAA\nscopes = x\n",
           clientspath, 2, "ITER must be a number", NULL);
  LOAD_ERR("rsa.pem", NULL,
           "[client:a]\nsecret = pbkdf2-sha256$100000$AAAA$"
           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nscopes = x\n",
           clientspath, 2, "salt must be at least 16 bytes", NULL);
  LOAD_ERR("rsa.pem", NULL,
           "[client:a]\nsecret = pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA$AAAA\nscopes = x\n",
           clientspath, 2, "hash must be 32 to 64 bytes", NULL);
  LOAD_ERR("rsa.pem", NULL,
           "[client:a]\nsecret = pbkdf2-sha256$100000$AAAAAAAAAAAAAAAAAAAAAA=$AAAA\nscopes = x\n",
           clientspath, 2, "SALT is not unpadded base64url", NULL);
  snprintf(t, sizeof t, "[client:a]\nsecret = %s\n", demo_hash);
  LOAD_ERR("rsa.pem", NULL, t, clientspath, 1, "[client:a] needs scopes", NULL);
  LOAD_ERR("rsa.pem", NULL, "[client:a]\nscopes = x\n", clientspath, 1, "needs secret", NULL);
  snprintf(t, sizeof t, "[client:a]\nsecret = %s\nscopes = x\ncolor = red\n", demo_hash);
  LOAD_ERR("rsa.pem", NULL, t, clientspath, 4, "unknown key 'color'", NULL);
  snprintf(t, sizeof t, "[client:a]\nsecret = %s\nscopes = x\n[client:a]\n", demo_hash);
  LOAD_ERR("rsa.pem", NULL, t, clientspath, 4, "duplicate client", NULL);
  snprintf(t, sizeof t, "[client:a]\nsecret = %s\nscopes = x y x\n", demo_hash);
  LOAD_ERR("rsa.pem", NULL, t, clientspath, 3, "'x' listed twice", NULL);
  snprintf(t, sizeof t, "[client:a b]\nsecret = %s\nscopes = x\n", demo_hash);
  LOAD_ERR("rsa.pem", NULL, t, clientspath, 1, "invalid client id", NULL);
  snprintf(t, sizeof t, "[clients]\nsecret = %s\n", demo_hash);
  LOAD_ERR("rsa.pem", NULL, t, clientspath, 1, "unknown section", NULL);
  LOAD_ERR("rsa.pem", NULL, "secret = x\n", clientspath, 1, "outside of a [client:ID]", NULL);
  LOAD_ERR("rsa.pem", NULL, "; nothing\n", clientspath, 0, "at least one client", NULL);
  snprintf(t, sizeof t, "[client:a]\nsecret = %s\nscopes = \n", demo_hash);
  LOAD_ERR("rsa.pem", NULL, t, clientspath, 3, "at least one scope", NULL);
  /* Both the key and the clients are reported in one go. */
  {
    gw_errors_t e = {0};
    write_file(clientspath, "[client:a]\nsecret = plain\nscopes = x\n");
    gw_m2m_t *m = load_m2m("missing.pem", NULL, &e);
    CHECK(m == NULL && has_error(&e, cfgpath, 7, "cannot read") &&
              has_error(&e, clientspath, 2, "plain-text"),
          "key and clients errors are both reported");
    m2m_free(m);
    gw_errors_free(&e);
    write_clients(clientspath);
  }
  /* Missing clients file: at its path. */
  {
    gw_errors_t e = {0};
    write_cfg("rsa.pem", "nonexistent.ini", NULL);
    gw_config_t *cfg = config_load(cfgpath, &e);
    gw_m2m_t *m = cfg ? m2m_load(cfg, &e) : NULL;
    CHECK(m == NULL && any_error_contains(&e, "nonexistent.ini: cannot open"),
          "missing clients file is reported");
    dump_errors(&e);
    config_free(cfg);
    gw_errors_free(&e);
  }
  /* scopes_supported in [resource] constrains client scopes. */
  {
    char text[1024];
    snprintf(text, sizeof text,
             "[resource]\nidentifier = " AUD "\nscopes_supported = profiles:read tags:manage\n"
             "[m2m]\nenable = yes\nissuer = " ISS "\nsigning_key = rsa.pem\nclients = clients.ini\n");
    write_file(cfgpath, text);
    gw_errors_t e = {0};
    gw_config_t *cfg = config_load(cfgpath, &e);
    gw_m2m_t *m = cfg ? m2m_load(cfg, &e) : NULL;
    CHECK(m == NULL && has_error(&e, clientspath, 8, "'profiles:write' is not in [resource]"),
          "a client scope outside scopes_supported is an error");
    dump_errors(&e);
    config_free(cfg);
    gw_errors_free(&e);
  }
}

/* Lockout log lines name the client id and never a secret. */
static void test_logs(gw_m2m_t *m) {
  char logpath[600];
  path_in(logpath, sizeof logpath, "stderr.log");
  fflush(stderr);
  int saved = dup(2);
  int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 2);
  close(fd);
  char *bad = basic("demo-writer:Sup3r-secret-guess");
  gw_m2m_response_t out;
  for (int i = 0; i < 3; i++) {
    call(m, (rq){.auth = bad, .addr = "192.0.2.150"}, NOW + 9000, &out);
    m2m_response_free(&out);
  }
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  FILE *f = fopen(logpath, "r");
  char buf[4096] = "";
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = '\0';
  if (f) fclose(f);
  CHECK(strstr(buf, "locked out") && strstr(buf, "demo-writer"), "lockout is logged with the id");
  CHECK(strstr(buf, "192.0.2.150") != NULL, "address lockout is logged");
  CHECK(!strstr(buf, "Sup3r"), "the log never contains the secret");
  free(bad);
  unlink(logpath);
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/gwm2m.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpdir)) bail("mkdtemp");
  path_in(cfgpath, sizeof cfgpath, "gateway.ini");
  path_in(clientspath, sizeof clientspath, "clients.ini");
  static const char *const names[] = {"profiles:read", "profiles:write", "tags:manage",
                                      "account:read"};
  for (size_t i = 0; i < 4; i++) scopes_intern(&reg, names[i], strlen(names[i]));

  make_keys();
  if (m2m_hash_secret("demo-secret", 11, ITER, demo_hash, sizeof demo_hash) != 0 ||
      m2m_hash_secret("demo-writer-secret", 18, ITER, writer_hash, sizeof writer_hash) != 0 ||
      m2m_hash_secret("sp ace+plus%", 12, ITER, odd_hash, sizeof odd_hash) != 0)
    bail("m2m_hash_secret");
  write_clients(clientspath);

  test_hash_secret();
  test_disabled();

  gw_errors_t e = {0};
  gw_m2m_t *m = load_m2m("rsa.pem", "max_failures = 3\nlockout = 1m\n", &e);
  CHECK(m != NULL && e.n == 0, "RSA instance loads");
  dump_errors(&e);
  gw_errors_free(&e);
  if (!m) return TAP_DONE();
  test_jwks_rsa(m);
  test_success(m, "RS256");
  test_rsa_flows(m);
  test_errors(m);
  test_lockout(m);
  test_threads(m);
  test_logs(m);
  m2m_free(m);

  test_no_lockout();
  test_lifetime_audience();
  test_ec("p256.pem", "ES256");
  test_ec("p384.pem", "ES384");
  test_load_errors();

  /* The demo clients file: its hashes were made by tools/m2m-hash.c. */
  {
    char text[1024];
    char cwd[512];
    if (getcwd(cwd, sizeof cwd)) {
      snprintf(text, sizeof text,
               "[resource]\nidentifier = " AUD "\n[m2m]\nenable = yes\nissuer = " ISS
               "\nsigning_key = rsa.pem\nclients = %s/conf/dev/m2m-clients.ini\n",
               cwd);
      write_file(cfgpath, text);
      gw_errors_t de = {0};
      gw_config_t *cfg = config_load(cfgpath, &de);
      gw_m2m_t *dm = cfg ? m2m_load(cfg, &de) : NULL;
      if (!dm) {
        printf("ok %d - # SKIP conf/dev/m2m-clients.ini not found from %s\n", ++tap_n, cwd);
        dump_errors(&de);
      } else {
        check_token(dm, "demo file: demo/demo-secret", (rq){.auth = "Basic ZGVtbzpkZW1vLXNlY3JldA=="},
                    "demo", "profiles:read tags:manage", "RS256");
        char *wb = basic("demo-writer:demo-writer-secret");
        check_token(dm, "demo file: demo-writer", (rq){.auth = wb}, "demo-writer",
                    "profiles:read profiles:write", "RS256");
        free(wb);
        EXPECT(dm, ((rq){.auth = "Basic ZGVtbzpkZW1vLXNlY3JldA==", .ct = "application/json",
                         .body = "{\"grant_type\":\"client_credentials\",\"scope\":\"profiles:write\"}"}),
               400, "invalid_scope", "demo file: demo does not hold profiles:write");
      }
      m2m_free(dm);
      config_free(cfg);
      gw_errors_free(&de);
    }
  }

  static const char *const files[] = {"rsa.pem", "rsa1024.pem", "p256.pem", "p384.pem",
                                      "ed25519.pem", "rsa-enc.pem", "garbage.pem",
                                      "gateway.ini", "clients.ini"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    char p[600];
    path_in(p, sizeof p, files[i]);
    unlink(p);
  }
  rmdir(tmpdir);
  scopes_free(&reg);
  jwt_thread_cleanup();
  return TAP_DONE();
}
