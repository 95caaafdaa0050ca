/* Unit tests for b64url and jwks: strict base64url, key loading from the
 * fixture JWKs (tests/unit/fixtures/jwt/gen.sh), every skip reason, every
 * document-level error, and key selection. Run from the repo root. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "jwks.h"
#include "tap.h"

#define FIX "tests/unit/fixtures/jwt/"

/* ---- helpers -------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    printf("# cannot open %s (run from the repo root)\n", path);
    return NULL;
  }
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 8192;
      char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

/* A fixture public JWK as a fresh object. */
static json_t *jwk(const char *name) {
  char path[256];
  snprintf(path, sizeof path, FIX "%s.jwk.json", name);
  json_t *j = json_load_file(path, 0, NULL);
  if (!j) printf("# cannot load %s\n", path);
  return j;
}

static json_t *jwk_kid(const char *name, const char *kid) {
  json_t *j = jwk(name);
  if (j && kid) json_object_set_new(j, "kid", json_string(kid));
  return j;
}

/* Captured log lines. */
typedef struct {
  char text[8192];
  int lines;
} logbuf_t;

static void capture(void *ud, const char *msg) {
  logbuf_t *lb = ud;
  size_t used = strlen(lb->text);
  snprintf(lb->text + used, sizeof lb->text - used, "%s\n", msg);
  lb->lines++;
}

/* Parses {"keys": keys} (steals keys). */
static gw_keyset_t *parse_keys(json_t *keys, logbuf_t *lb, char *err, size_t errlen) {
  json_t *doc = json_pack("{s:o}", "keys", keys);
  char *s = json_dumps(doc, JSON_COMPACT);
  if (lb) memset(lb, 0, sizeof *lb);
  gw_keyset_t *ks = jwks_parse(s, strlen(s), "test", lb ? capture : NULL, lb, err, errlen);
  free(s);
  json_decref(doc);
  return ks;
}

/* The set {good RSA key, bad}: the good one must survive, the bad one must
 * be skipped with exactly one log line containing `why`. */
static void expect_skip(json_t *bad, const char *why, const char *what) {
  logbuf_t lb;
  char err[256];
  json_t *keys = json_pack("[o,o]", jwk_kid("rsa2048", "good"), bad);
  gw_keyset_t *ks = parse_keys(keys, &lb, err, sizeof err);
  char msg[256];
  snprintf(msg, sizeof msg, "skip %s: one key left", what);
  CHECK(ks && ks->nkeys == 1 && strcmp(ks->keys[0].kid, "good") == 0, msg);
  snprintf(msg, sizeof msg, "skip %s: one log line naming the reason", what);
  if (!CHECK(lb.lines == 1 && strstr(lb.text, why) && strstr(lb.text, "jwks test: key #1"), msg))
    printf("#   log: %s", lb.text);
  jwks_keyset_unref(ks);
}

static char *b64_of(const unsigned char *p, size_t n) {
  size_t cap = B64URL_ENCODED_LEN(n) + 1;
  char *s = malloc(cap);
  if (s && b64url_encode(p, n, s, cap, NULL) != 0) s[0] = '\0';
  return s;
}

/* Replace member `m` with `bytes` (transformed by fn). */
static json_t *with_member_bytes(json_t *j, const char *m, const unsigned char *p, size_t n) {
  char *s = b64_of(p, n);
  json_object_set_new(j, m, json_string(s));
  free(s);
  return j;
}

static int decode_member(json_t *j, const char *m, unsigned char *out, size_t cap, size_t *n) {
  json_t *v = json_object_get(j, m);
  return b64url_decode(json_string_value(v), json_string_length(v), out, cap, n);
}

/* ---- b64url --------------------------------------------------------------- */

static void test_b64url(void) {
  static const struct {
    const char *plain, *enc;
  } v[] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},      {"foo", "Zm9v"},
           {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    char enc[32];
    unsigned char dec[32];
    size_t n = 99;
    CHECK(b64url_encode((const unsigned char *)v[i].plain, strlen(v[i].plain), enc, sizeof enc,
                        &n) == 0 && n == strlen(v[i].enc),
          "b64url encode RFC 4648 vector");
    CHECK_STR(enc, v[i].enc, "b64url encode text");
    CHECK(b64url_decode(v[i].enc, strlen(v[i].enc), dec, sizeof dec, &n) == 0 &&
              n == strlen(v[i].plain) && memcmp(dec, v[i].plain, n) == 0,
          "b64url decode RFC 4648 vector");
  }
  unsigned char all[256], back[256];
  for (int i = 0; i < 256; i++) all[i] = (unsigned char)i;
  char enc[400];
  size_t n;
  CHECK(b64url_encode(all, 256, enc, sizeof enc, &n) == 0 && n == B64URL_ENCODED_LEN(256),
        "b64url encode all bytes");
  CHECK(!strchr(enc, '+') && !strchr(enc, '/') && !strchr(enc, '='), "b64url alphabet is url-safe");
  CHECK(b64url_decode(enc, n, back, sizeof back, &n) == 0 && n == 256 && !memcmp(all, back, 256),
        "b64url round trip all bytes");

  unsigned char out[16];
  static const char *const bad[] = {
      "Zg==", "Zm8=", "Z",    "Zm9vY",  "Zh",    "Zm9",   "Zm+v", "Zm/v", "Zm 9v",
      "Zm9v\n", "Zm\x80v", "Zm9v=", "=Zm9", "Zm\0v",
  };
  /* "Zh": 'h' has non-zero trailing bits; "Zm9": same for 3 chars. */
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    size_t len = i == sizeof bad / sizeof *bad - 1 ? 4 : strlen(bad[i]);
    char what[64];
    snprintf(what, sizeof what, "b64url rejects bad input #%zu", i);
    CHECK(b64url_decode(bad[i], len, out, sizeof out, &n) == -1, what);
  }
  CHECK(b64url_decode("Zm9vYmFy", 8, out, 5, &n) == -1, "b64url decode refuses a short buffer");
  CHECK(b64url_encode((const unsigned char *)"foo", 3, enc, 4, &n) == -1,
        "b64url encode refuses a buffer without room for NUL");
}

/* ---- algorithms ------------------------------------------------------------ */

static void test_jwa(void) {
  CHECK_INT(jwa_from_name("RS256", 5), GW_JWA_RS256, "RS256 known");
  CHECK_INT(jwa_from_name("PS384", 5), GW_JWA_PS384, "PS384 known");
  CHECK_INT(jwa_from_name("ES512", 5), GW_JWA_ES512, "ES512 known");
  CHECK_INT(jwa_from_name("none", 4), -1, "none unknown");
  CHECK_INT(jwa_from_name("HS256", 5), -1, "HS256 unknown");
  CHECK_INT(jwa_from_name("rs256", 5), -1, "names are case-sensitive");
  CHECK_INT(jwa_from_name("RS256", 4), -1, "length-bounded compare (RS25)");
  CHECK_INT(jwa_from_name("RS2567", 6), -1, "longer name unknown");
  CHECK_STR(jwa_name(GW_JWA_ES384), "ES384", "jwa_name");
}

/* ---- loading --------------------------------------------------------------- */

static void test_fixture_set(void) {
  size_t len;
  char *doc = read_file(FIX "jwks.json", &len);
  logbuf_t lb = {0};
  char err[256];
  gw_keyset_t *ks = doc ? jwks_parse(doc, len, "fixture", capture, &lb, err, sizeof err) : NULL;
  if (!CHECK(ks != NULL, "fixture jwks.json parses")) printf("#   %s\n", err);
  free(doc);
  if (!ks) return;
  CHECK_INT(ks->nkeys, 4, "four keys");
  CHECK_INT(lb.lines, 0, "nothing skipped");
  CHECK_STR(ks->source, "fixture", "source kept");
  CHECK_STR(ks->keys[0].kid, "rsa-a", "kid 0");
  CHECK_INT(ks->keys[0].kty, GW_KTY_RSA, "kty RSA");
  CHECK_INT(ks->keys[0].bits, 2048, "RSA bits");
  CHECK_INT(ks->keys[0].alg, GW_JWA_RS256, "key alg RS256");
  CHECK_INT(ks->keys[1].kty, GW_KTY_EC, "kty EC");
  CHECK_INT(ks->keys[1].crv, GW_CRV_P256, "P-256");
  CHECK_INT(ks->keys[2].crv, GW_CRV_P384, "P-384");
  CHECK_INT(ks->keys[3].crv, GW_CRV_P521, "P-521");
  CHECK_INT(ks->keys[3].bits, 521, "P-521 bits");
  CHECK(ks->keys[0].pkey && EVP_PKEY_is_a(ks->keys[0].pkey, "RSA"), "RSA EVP_PKEY");
  CHECK(ks->keys[3].pkey && EVP_PKEY_is_a(ks->keys[3].pkey, "EC"), "EC EVP_PKEY");

  CHECK(jwks_keyset_ref(ks) == ks, "ref returns the set");
  jwks_keyset_unref(ks);
  CHECK(ks->nkeys == 4, "still alive after ref+unref");
  jwks_keyset_unref(ks);
  jwks_keyset_unref(NULL);
}

static void test_all_kinds_without_kid_or_alg(void) {
  logbuf_t lb;
  json_t *keys = json_pack("[o,o,o,o]", jwk("rsa2048"), jwk("p256"), jwk("p384"), jwk("p521"));
  gw_keyset_t *ks = parse_keys(keys, &lb, NULL, 0);
  CHECK(ks && ks->nkeys == 4, "bare JWKs (no kid, alg, use) load");
  if (ks) {
    CHECK(ks->keys[0].kid == NULL && ks->keys[0].alg == -1, "kid and alg absent");
  }
  jwks_keyset_unref(ks);
}

static void test_use_and_ops_accepted(void) {
  json_t *a = jwk_kid("p256", "a"), *b = jwk_kid("rsa2048", "b");
  json_object_set_new(a, "use", json_string("sig"));
  json_object_set_new(a, "key_ops", json_pack("[s,s]", "sign", "verify"));
  json_object_set_new(b, "x5c", json_pack("[s]", "MIIB"));
  json_object_set_new(b, "x5t", json_string("abc"));
  json_object_set_new(b, "ext", json_true());
  logbuf_t lb;
  gw_keyset_t *ks = parse_keys(json_pack("[o,o]", a, b), &lb, NULL, 0);
  CHECK(ks && ks->nkeys == 2 && lb.lines == 0,
        "use=sig, key_ops with verify, and unknown members are accepted");
  jwks_keyset_unref(ks);
}

static void test_skips(void) {
  json_t *j;
  expect_skip(json_pack("{s:s}", "kty", "RSA"), "\"n\" or \"e\"", "RSA without n");
  j = jwk_kid("p256", "x");
  json_object_set_new(j, "use", json_string("enc"));
  expect_skip(j, "\"use\" is not \"sig\"", "use=enc");
  j = jwk_kid("p256", "x");
  json_object_set_new(j, "use", json_integer(1));
  expect_skip(j, "\"use\" is not \"sig\"", "use not a string");

  static const char *const priv[] = {"d", "p", "q", "dp", "dq", "qi", "oth"};
  for (size_t i = 0; i < sizeof priv / sizeof *priv; i++) {
    j = jwk_kid(i == 0 ? "p256" : "rsa2048", "priv");
    json_object_set_new(j, priv[i], json_string("AQAB"));
    char why[64], what[64];
    snprintf(why, sizeof why, "private member \"%s\"", priv[i]);
    snprintf(what, sizeof what, "private member %s", priv[i]);
    expect_skip(j, why, what);
  }
  expect_skip(json_pack("{s:s,s:s,s:s}", "kty", "oct", "k", "c2VjcmV0", "kid", "hmac"),
              "private member \"k\"", "oct key with k");
  expect_skip(json_pack("{s:s,s:s}", "kty", "oct", "kid", "hmac"), "unsupported kty \"oct\"",
              "oct key without k");
  expect_skip(json_pack("{s:s,s:s,s:s}", "kty", "OKP", "crv", "Ed25519", "x",
                        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
              "unsupported kty \"OKP\"", "OKP key");
  expect_skip(json_pack("{s:s}", "n", "AQAB"), "unsupported kty \"\"", "kty missing");
  expect_skip(jwk_kid("rsa1024", "weak"), "1024 bits is below 2048", "RSA-1024");

  j = jwk_kid("rsa2048", "pad");
  char *n = strdup(json_string_value(json_object_get(j, "n")));
  size_t nl = strlen(n);
  n[nl - 1] = '='; /* padding char */
  json_object_set_new(j, "n", json_string(n));
  free(n);
  expect_skip(j, "not base64url", "RSA n with '='");
  j = jwk_kid("p256", "plus");
  char *x = strdup(json_string_value(json_object_get(j, "x")));
  x[3] = '+';
  json_object_set_new(j, "x", json_string(x));
  free(x);
  expect_skip(j, "not base64url", "EC x with '+'");
  j = jwk_kid("rsa2048", "e");
  json_object_set_new(j, "e", json_integer(65537));
  expect_skip(j, "not base64url", "RSA e as a number");

  j = jwk_kid("rsa2048", "e1");
  json_object_set_new(j, "e", json_string("AQ"));
  expect_skip(j, "RSA public key fails validation", "RSA e = 1");
  j = jwk_kid("rsa2048", "eeven");
  json_object_set_new(j, "e", json_string("AQAA"));
  expect_skip(j, "RSA public key fails validation", "RSA e even");
  j = jwk_kid("rsa2048", "elong");
  json_object_set_new(j, "e", json_string("AQAAAAAAAAAB")); /* 9 bytes */
  expect_skip(j, "out of bounds", "RSA e over 8 bytes");
  {
    unsigned char huge[GW_JWKS_MAX_RSA_BITS / 8 + 1];
    memset(huge, 0xc5, sizeof huge);
    huge[sizeof huge - 1] |= 1;
    expect_skip(with_member_bytes(jwk_kid("rsa2048", "huge"), "n", huge, sizeof huge),
                "out of bounds", "RSA modulus over 8192 bits");
  }

  j = jwk_kid("p256", "ops");
  json_object_set_new(j, "key_ops", json_pack("[s,s]", "sign", "encrypt"));
  expect_skip(j, "\"key_ops\" does not allow \"verify\"", "key_ops without verify");
  j = jwk_kid("p256", "ops2");
  json_object_set_new(j, "key_ops", json_string("verify"));
  expect_skip(j, "\"key_ops\" does not allow \"verify\"", "key_ops not an array");

  j = jwk_kid("p256", "algmm");
  json_object_set_new(j, "alg", json_string("RS256"));
  expect_skip(j, "does not match the key type/curve", "EC key with alg RS256");
  j = jwk_kid("p256", "algcrv");
  json_object_set_new(j, "alg", json_string("ES384"));
  expect_skip(j, "does not match the key type/curve", "P-256 key with alg ES384");
  j = jwk_kid("rsa2048", "alghs");
  json_object_set_new(j, "alg", json_string("HS256"));
  expect_skip(j, "not a supported signature algorithm", "RSA key with alg HS256");
  j = jwk_kid("rsa2048", "algoaep");
  json_object_set_new(j, "alg", json_string("RSA-OAEP"));
  expect_skip(j, "not a supported signature algorithm", "RSA key with alg RSA-OAEP");

  j = jwk_kid("p256", "k1");
  json_object_set_new(j, "crv", json_string("secp256k1"));
  expect_skip(j, "EC curve missing", "unsupported curve");
  j = jwk_kid("p256", "wrongcrv");
  json_object_set_new(j, "crv", json_string("P-384"));
  expect_skip(j, "coordinates are not 48 bytes", "P-256 point labelled P-384");

  /* A coordinate with a leading zero octet added: right value, wrong
   * length, refused per RFC 7518 §6.2.1.2. */
  unsigned char buf[80];
  size_t bl;
  j = jwk_kid("p256", "long");
  decode_member(j, "x", buf + 1, sizeof buf - 1, &bl);
  buf[0] = 0;
  expect_skip(with_member_bytes(j, "x", buf, bl + 1), "coordinates are not 32 bytes",
              "x of 33 bytes");

  j = jwk_kid("p256", "offcurve");
  decode_member(j, "y", buf, sizeof buf, &bl);
  buf[bl - 1] ^= 1;
  expect_skip(with_member_bytes(j, "y", buf, bl), "not a valid public key on P-256",
              "P-256 point not on the curve");
  j = jwk_kid("p521", "offcurve521");
  decode_member(j, "x", buf, sizeof buf, &bl);
  buf[bl - 1] ^= 0x40;
  expect_skip(with_member_bytes(j, "x", buf, bl), "not a valid public key on P-521",
              "P-521 point not on the curve");
  memset(buf, 0, 66);
  j = jwk_kid("p256", "zero");
  with_member_bytes(j, "x", buf, 32);
  expect_skip(with_member_bytes(j, "y", buf, 32), "not a valid public key",
              "P-256 all-zero point");

  j = jwk("p256");
  json_object_set_new(j, "kid", json_integer(7));
  expect_skip(j, "\"kid\" is not a string", "kid not a string");
  char longkid[GW_JWKS_MAX_KID + 2];
  memset(longkid, 'k', sizeof longkid - 1);
  longkid[sizeof longkid - 1] = '\0';
  expect_skip(jwk_kid("p256", longkid), "\"kid\" longer than", "kid too long");
  expect_skip(json_string("not a key"), "not a JSON object", "array entry not an object");

  /* Even dangerous kids are logged printable and bounded. */
  logbuf_t lb;
  json_t *bad = jwk_kid("rsa1024", "evil\r\nkid\"x");
  gw_keyset_t *ks = parse_keys(json_pack("[o,o]", jwk("p256"), bad), &lb, NULL, 0);
  CHECK(ks && strstr(lb.text, "evil??kid?x") && !strchr(lb.text, '\r'),
        "kid in log line is sanitized");
  jwks_keyset_unref(ks);
}

static void test_document_errors(void) {
  char err[256];
  gw_keyset_t *ks;
  static const struct {
    const char *doc, *why, *what;
  } docs[] = {
      {"", "not valid JSON", "empty document"},
      {"garbage", "not valid JSON", "garbage"},
      {"{\"keys\": [", "not valid JSON", "truncated JSON"},
      {"{\"keys\": []} x", "not valid JSON", "trailing bytes"},
      {"[]", "no \"keys\" array", "top level array"},
      {"{}", "no \"keys\" array", "no keys member"},
      {"{\"keys\": {}}", "no \"keys\" array", "keys not an array"},
      {"{\"keys\": []}", "no usable keys among 0", "empty keys"},
      {"{\"keys\": [], \"keys\": []}", "not valid JSON", "duplicate member in document"},
      {"{\"keys\": [{\"kty\": \"EC\", \"kty\": \"RSA\"}]}", "not valid JSON",
       "duplicate member inside a key"},
  };
  for (size_t i = 0; i < sizeof docs / sizeof *docs; i++) {
    err[0] = '\0';
    ks = jwks_parse(docs[i].doc, strlen(docs[i].doc), "doc", NULL, NULL, err, sizeof err);
    char what[96];
    snprintf(what, sizeof what, "document error: %s", docs[i].what);
    if (!CHECK(ks == NULL && strstr(err, docs[i].why) && strncmp(err, "jwks doc: ", 10) == 0,
               what))
      printf("#   err: %s\n", err);
    jwks_keyset_unref(ks);
  }

  logbuf_t lb;
  ks = parse_keys(json_pack("[o,o]", jwk("rsa1024"), json_pack("{s:s}", "kty", "oct")), &lb, err,
                  sizeof err);
  CHECK(ks == NULL && strstr(err, "no usable keys among 2") && lb.lines == 2,
        "only unusable keys: document refused, each key logged");

  /* Over 1 MiB: refused before parsing, whatever the content. */
  size_t big = GW_JWKS_MAX_DOC + 1;
  char *doc = malloc(big);
  memset(doc, ' ', big);
  memcpy(doc, "{\"keys\":[]}", 11);
  ks = jwks_parse(doc, big, "big", NULL, NULL, err, sizeof err);
  CHECK(ks == NULL && strstr(err, "over the 1048576 byte limit"), "document over 1 MiB refused");
  /* Exactly 1 MiB of whitespace-padded valid JSON with a real key is fine. */
  json_t *one = json_pack("{s:[o]}", "keys", jwk("p256"));
  char *s = json_dumps(one, JSON_COMPACT);
  json_decref(one);
  memset(doc, ' ', big);
  memcpy(doc, s, strlen(s));
  free(s);
  ks = jwks_parse(doc, GW_JWKS_MAX_DOC, "big", NULL, NULL, err, sizeof err);
  CHECK(ks && ks->nkeys == 1, "document of exactly 1 MiB accepted");
  jwks_keyset_unref(ks);
  free(doc);

  json_t *keys = json_array();
  for (int i = 0; i < GW_JWKS_MAX_KEYS; i++) json_array_append_new(keys, jwk("p256"));
  ks = parse_keys(json_copy(keys), NULL, err, sizeof err);
  CHECK(ks && ks->nkeys == GW_JWKS_MAX_KEYS, "exactly 100 keys accepted");
  jwks_keyset_unref(ks);
  json_array_append_new(keys, jwk("p256"));
  ks = parse_keys(keys, NULL, err, sizeof err);
  CHECK(ks == NULL && strstr(err, "101 keys is over the limit of 100"), "101 keys refused");

  ks = jwks_parse("[]", 2, NULL, NULL, NULL, NULL, 0);
  CHECK(ks == NULL, "NULL err buffer and source are fine");
}

static void test_find(void) {
  json_t *rsa_alg = jwk_kid("rsa2048b", "rsa-ps");
  json_object_set_new(rsa_alg, "alg", json_string("PS256"));
  json_t *keys = json_pack("[o,o,o,o,o]", jwk_kid("rsa2048", "rsa-a"), rsa_alg,
                           jwk_kid("p256", "ec"), jwk_kid("p384", "ec"), jwk("p521"));
  gw_keyset_t *ks = parse_keys(keys, NULL, NULL, 0);
  if (!CHECK(ks && ks->nkeys == 5, "selection set loads")) {
    jwks_keyset_unref(ks);
    return;
  }
  const gw_jwk_t *k;
  k = jwks_find(ks, "rsa-a", 5, GW_JWA_RS256);
  CHECK(k == &ks->keys[0], "by kid");
  k = jwks_find(ks, "rsa-a", 4, GW_JWA_RS256);
  CHECK(k == NULL, "kid compare is length-bounded");
  k = jwks_find(ks, "nope", 4, GW_JWA_RS256);
  CHECK(k == NULL, "unknown kid");
  k = jwks_find(ks, "", 0, GW_JWA_ES512);
  CHECK(k == NULL, "empty kid does not match a key without kid");
  k = jwks_find(ks, "ec", 2, GW_JWA_ES384);
  CHECK(k == &ks->keys[3], "same kid twice: the one that fits the alg wins");
  k = jwks_find(ks, "ec", 2, GW_JWA_ES256);
  CHECK(k == &ks->keys[2], "same kid twice: other curve");
  k = jwks_find(ks, "ec", 2, GW_JWA_RS256);
  CHECK(k == &ks->keys[2] && !jwks_key_fits(k, GW_JWA_RS256),
        "kid matches but nothing fits: a key is returned for the mismatch report");
  k = jwks_find(ks, "rsa-ps", 6, GW_JWA_RS256);
  CHECK(k == &ks->keys[1] && k->alg == GW_JWA_PS256, "kid with a different key alg returned");

  k = jwks_find(ks, NULL, 0, GW_JWA_ES512);
  CHECK(k == &ks->keys[4], "no kid: the one P-521 key");
  k = jwks_find(ks, NULL, 0, GW_JWA_ES256);
  CHECK(k == &ks->keys[2], "no kid: the one P-256 key (with a kid) fits");
  k = jwks_find(ks, NULL, 0, GW_JWA_PS256);
  CHECK(k == NULL, "no kid: two RSA keys fit PS256 -> ambiguous");
  k = jwks_find(ks, NULL, 0, GW_JWA_RS256);
  CHECK(k == &ks->keys[0], "no kid: the PS256-only key does not fit RS256, one left");
  jwks_keyset_unref(ks);
}

int main(void) {
  test_b64url();
  test_jwa();
  test_fixture_set();
  test_all_kinds_without_kid_or_alg();
  test_use_and_ops_accepted();
  test_skips();
  test_document_errors();
  test_find();
  return TAP_DONE();
}
