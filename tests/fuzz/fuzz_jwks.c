/* libFuzzer driver for jwks_parse (gateway/jwks.h): the JWKS document comes
 * from the network (jwks_uri) or a file.
 *
 * The input is the document. Asserted (abort() on violation):
 *   - NULL comes with a non-empty message in err; a keyset holds
 *     1..GW_JWKS_MAX_KEYS keys, its source is the name given;
 *   - every key: non-NULL EVP_PKEY; RSA with GW_CRV_NONE and
 *     GW_JWKS_MIN_RSA_BITS..GW_JWKS_MAX_RSA_BITS bits, or EC on
 *     P-256/P-384/P-521 with 256/384/521 bits; the EVP_PKEY is of that type
 *     and size; "alg" is -1 or an algorithm the key fits (jwks_key_fits);
 *     kid is NULL with kid_len 0, or NUL-terminated at kid_len <= GW_JWKS_MAX_KID;
 *   - jwks_find(kid, alg) for each key's kid and alg returns a key with that
 *     kid; jwks_find without kid returns NULL or a key that fits alg fully;
 *   - every skipped-key log line is printable ASCII (kids come from the
 *     network and are escaped before they reach a log);
 *   - ref/unref: an extra reference keeps the set alive; the last unref frees
 *     it (LeakSanitizer checks the rest).
 * With FUZZ_STRICT_TEXT=1 in the environment, the err text of a refused
 * document must be printable ASCII too. Off by default: jwks.h does not
 * promise it, and jansson's "invalid token near '<byte>'" copies a raw byte
 * of the document into it today.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "jwks.h"

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) __builtin_trap();                                                         \
  } while (0)

static int strict_text;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  const char *st = getenv("FUZZ_STRICT_TEXT");
  strict_text = st && strcmp(st, "1") == 0;
  return 0;
}

static void log_line(void *ud, const char *msg) {
  (*(int *)ud)++;
  CHECK(msg && msg[0]);
  for (const char *p = msg; *p; p++) CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f);
}

static void check_key(const gw_keyset_t *ks, const gw_jwk_t *k) {
  CHECK(k->pkey != NULL);
  if (k->kty == GW_KTY_RSA) {
    CHECK(k->crv == GW_CRV_NONE);
    CHECK(k->bits >= GW_JWKS_MIN_RSA_BITS && k->bits <= GW_JWKS_MAX_RSA_BITS);
    CHECK(EVP_PKEY_is_a(k->pkey, "RSA"));
    CHECK(EVP_PKEY_get_bits(k->pkey) == k->bits);
  } else {
    CHECK(k->kty == GW_KTY_EC);
    static const int bits[] = {0, 256, 384, 521};
    CHECK(k->crv >= GW_CRV_P256 && k->crv <= GW_CRV_P521);
    CHECK(k->bits == bits[k->crv]);
    CHECK(EVP_PKEY_is_a(k->pkey, "EC"));
    CHECK(EVP_PKEY_get_bits(k->pkey) == k->bits);
  }
  CHECK(k->alg >= -1 && k->alg < GW_JWA_COUNT);
  if (k->alg >= 0) CHECK(jwks_key_fits(k, (gw_jwa_t)k->alg));
  if (k->kid) {
    CHECK(k->kid_len <= GW_JWKS_MAX_KID && k->kid[k->kid_len] == '\0');
  } else {
    CHECK(k->kid_len == 0);
  }
  for (int a = 0; a < GW_JWA_COUNT; a++) {
    if (k->kid) {
      const gw_jwk_t *f = jwks_find(ks, k->kid, k->kid_len, (gw_jwa_t)a);
      CHECK(f && f->kid && f->kid_len == k->kid_len && memcmp(f->kid, k->kid, k->kid_len) == 0);
      /* a fitting key with that kid is preferred */
      if (jwks_key_fits(k, (gw_jwa_t)a) && (k->alg < 0 || k->alg == a))
        CHECK(jwks_key_fits(f, (gw_jwa_t)a) && (f->alg < 0 || f->alg == a));
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[256];
  int lines = 0;
  memset(err, 'x', sizeof err);
  gw_keyset_t *ks = jwks_parse((const char *)data, size, "fuzz-src", log_line, &lines, err,
                               sizeof err);
  if (!ks) {
    CHECK(memchr(err, '\0', sizeof err) && err[0] != '\0');
    if (strict_text)
      for (const char *c = err; *c; c++) CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
    return 0;
  }
  CHECK(ks->nkeys >= 1 && ks->nkeys <= GW_JWKS_MAX_KEYS);
  CHECK(ks->keys != NULL);
  CHECK(ks->source && strcmp(ks->source, "fuzz-src") == 0);
  for (size_t i = 0; i < ks->nkeys; i++) check_key(ks, &ks->keys[i]);
  for (int a = 0; a < GW_JWA_COUNT; a++) {
    const gw_jwk_t *f = jwks_find(ks, NULL, 0, (gw_jwa_t)a);
    if (f) {
      CHECK(f >= ks->keys && f < ks->keys + ks->nkeys);
      CHECK(jwks_key_fits(f, (gw_jwa_t)a) && (f->alg < 0 || f->alg == a));
    }
  }
  CHECK(jwks_keyset_ref(ks) == ks);
  jwks_keyset_unref(ks);
  CHECK(ks->nkeys >= 1); /* still alive: ASan would flag a use after free */
  jwks_keyset_unref(ks);
  jwks_keyset_unref(NULL);
  return 0;
}
