/* Unit tests of the strict base64url codec: known vectors, round trips, and
 * the decoder against a bit-at-a-time reference on random strings drawn from
 * the alphabet plus bytes that must be refused. */
#include <stdint.h>
#include <stdlib.h>

#include "b64url.h"
#include "tap.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The reference: one character, six bits at a time, no tables. */
static int ref_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen) {
  if (len % 4 == 1) return -1;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    const char *p = in[i] ? memchr(alphabet, in[i], 64) : NULL;
    if (!p) return -1;
    acc = (acc << 6) | (uint32_t)(p - alphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o == cap) return -1;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  if (acc != 0) return -1; /* non-zero trailing bits */
  *outlen = o;
  return 0;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

int main(void) {
  /* RFC 4648 §10 vectors, unpadded, in the url-safe alphabet. */
  const struct {
    const char *plain, *enc;
  } vec[] = {{"", ""},         {"f", "Zg"},         {"fo", "Zm8"},       {"foo", "Zm9v"},
             {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (size_t k = 0; k < sizeof vec / sizeof vec[0]; k++) {
    unsigned char out[16];
    char enc[16];
    size_t n = 99;
    CHECK(b64url_decode(vec[k].enc, strlen(vec[k].enc), out, sizeof out, &n) == 0 &&
              n == strlen(vec[k].plain) && memcmp(out, vec[k].plain, n) == 0,
          vec[k].enc[0] ? vec[k].enc : "(empty) decodes");
    CHECK(b64url_encode((const unsigned char *)vec[k].plain, strlen(vec[k].plain), enc, sizeof enc,
                        &n) == 0 &&
              strcmp(enc, vec[k].enc) == 0,
          "encodes as RFC 4648");
  }
  unsigned char b[3] = {0xfb, 0xff, 0xbf};
  char e[8];
  b64url_encode(b, 3, e, sizeof e, NULL);
  CHECK_STR(e, "-_-_", "url-safe alphabet: - and _");

  size_t n;
  unsigned char out[64];
  CHECK_INT(b64url_decode("Zm9v=", 5, out, sizeof out, &n), -1, "padding refused");
  CHECK_INT(b64url_decode("Zm+v", 4, out, sizeof out, &n), -1, "'+' refused");
  CHECK_INT(b64url_decode("Zm/v", 4, out, sizeof out, &n), -1, "'/' refused");
  CHECK_INT(b64url_decode("Zm9 ", 4, out, sizeof out, &n), -1, "space refused");
  CHECK_INT(b64url_decode("Zm9vY", 5, out, sizeof out, &n), -1, "length 4k+1 refused");
  CHECK_INT(b64url_decode("Zh", 2, out, sizeof out, &n), -1, "non-zero trailing bits refused (2)");
  CHECK_INT(b64url_decode("Zm9", 3, out, sizeof out, &n), -1, "non-zero trailing bits refused (3)");
  CHECK_INT(b64url_decode("Zm9vYmFy", 8, out, 5, &n), -1, "output that does not fit refused");
  CHECK_INT(b64url_decode("Zm9vYmFy", 8, out, 6, &n), 0, "output that just fits");

  /* A bad byte at every position of a 40-character string. */
  const char bad[] = {'=', '+', '/', ' ', '\0', '.', '\x80', '\xff', '\n', '~'};
  int missed = 0;
  for (size_t k = 0; k < sizeof bad; k++)
    for (int at = 0; at < 40; at++) {
      char s[40];
      memset(s, 'A', sizeof s);
      s[at] = bad[k];
      if (b64url_decode(s, sizeof s, out, sizeof out, &n) != -1) missed++;
    }
  CHECK_INT(missed, 0, "a byte outside the alphabet is refused at every position");

  /* Random strings: valid ones from the alphabet, some with an odd byte. */
  int mismatch = 0, valid = 0, invalid = 0, roundtrip = 0;
  for (int iter = 0; iter < 200000; iter++) {
    char s[64];
    size_t len = next() % 61;
    for (size_t i = 0; i < len; i++) s[i] = alphabet[next() % 64];
    if (len && next() % 4 == 0) s[next() % len] = (char)(next() % 256);
    unsigned char o1[64], o2[64];
    size_t n1 = 0, n2 = 0, cap = (next() % 8 == 0) ? next() % 46 : sizeof o1;
    int r1 = b64url_decode(s, len, o1, cap, &n1), r2 = ref_decode(s, len, o2, cap, &n2);
    if (r1 != r2 || (r1 == 0 && (n1 != n2 || memcmp(o1, o2, n1) != 0))) mismatch++;
    if (r1 == 0) {
      valid++;
      char back[96];
      size_t bl;
      if (b64url_encode(o1, n1, back, sizeof back, &bl) != 0 || bl != len || memcmp(back, s, len))
        roundtrip++;
    } else {
      invalid++;
    }
  }
  CHECK_INT(mismatch, 0, "decoder agrees with the reference on 200000 random strings");
  CHECK_INT(roundtrip, 0, "every accepted string encodes back to itself (one encoding per value)");
  CHECK(valid > 10000 && invalid > 10000, "random strings cover both accepted and refused");
  return TAP_DONE();
}
