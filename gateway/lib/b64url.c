#include "b64url.h"

#include <stdint.h>

/* -1 for every byte outside the url-safe alphabet, so that one table lookup
 * both validates and decodes. */
static const int8_t dec_table[256] = {
#define X -1
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, /* 0x00 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, /* 0x10 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, 62, X, X, /* 0x20: '-' */
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, X, X, X, X, X, X, /* 0x30: digits */
    X, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, /* 0x40 */
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, X, X, X, X, 63, /* 0x50: '_' */
    X, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, /* 0x60 */
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, X, X, X, X, X, /* 0x70 */
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
#undef X
};

/* dec_table shifted into place for each of the four characters of a group,
 * with bit 31 set for a byte outside the alphabet: a group decodes with
 * four lookups and three ORs, and one test validates all four. */
static uint32_t dec_shifted[4][256];

__attribute__((constructor)) static void dec_shifted_init(void) {
  for (int c = 0; c < 256; c++)
    for (int k = 0; k < 4; k++)
      dec_shifted[k][c] = dec_table[c] < 0 ? 0x80000000u : (uint32_t)dec_table[c] << (18 - 6 * k);
}

static const char enc_table[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64url_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen) {
  const unsigned char *s = (const unsigned char *)in;
  size_t rem = len % 4;
  if (rem == 1) return -1; /* 6 bits cannot make a byte */
  size_t need = B64URL_DECODED_LEN(len);
  if (need > cap) return -1;
  size_t full = len - rem, o = 0;
  for (size_t i = 0; i < full; i += 4) {
    uint32_t v = dec_shifted[0][s[i]] | dec_shifted[1][s[i + 1]] | dec_shifted[2][s[i + 2]] |
                 dec_shifted[3][s[i + 3]];
    if (v & 0x80000000u) return -1;
    out[o] = (unsigned char)(v >> 16);
    out[o + 1] = (unsigned char)(v >> 8);
    out[o + 2] = (unsigned char)v;
    o += 3;
  }
  if (rem) {
    int a = dec_table[s[full]], b = dec_table[s[full + 1]];
    int c = rem == 3 ? dec_table[s[full + 2]] : 0;
    if ((a | b | c) < 0) return -1;
    uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
    /* Bits below the last whole byte must be zero, or several strings
     * would decode to the same bytes. */
    if (rem == 2 && (v & 0xffff)) return -1;
    if (rem == 3 && (v & 0xff)) return -1;
    out[o++] = (unsigned char)(v >> 16);
    if (rem == 3) out[o++] = (unsigned char)(v >> 8);
  }
  *outlen = o;
  return 0;
}

int b64url_encode(const unsigned char *in, size_t len, char *out, size_t cap, size_t *outlen) {
  size_t need = B64URL_ENCODED_LEN(len);
  if (cap == 0 || need > cap - 1) return -1;
  size_t o = 0, i = 0;
  for (; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = enc_table[v >> 18];
    out[o++] = enc_table[(v >> 12) & 63];
    out[o++] = enc_table[(v >> 6) & 63];
    out[o++] = enc_table[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = enc_table[v >> 18];
    out[o++] = enc_table[(v >> 12) & 63];
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = enc_table[v >> 18];
    out[o++] = enc_table[(v >> 12) & 63];
    out[o++] = enc_table[(v >> 6) & 63];
  }
  out[o] = '\0';
  if (outlen) *outlen = o;
  return 0;
}
