/* hex: bytes as lowercase hex, for ids and key names (Redis keys, script
 * digests, revocation ids). Inline: it is a loop, and some callers are on
 * a request's path. */
#ifndef GW_HEX_H
#define GW_HEX_H

#include <stddef.h>

/* Writes 2 * n hex digits of in[0..n) and a NUL to out (2 * n + 1 bytes). */
static inline void gw_hex(char *out, const void *in, size_t n) {
  static const char digits[] = "0123456789abcdef";
  const unsigned char *p = in;
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

#endif
