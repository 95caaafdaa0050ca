/* swar: eight bytes at a time in a 64-bit word, for the scanners that see
 * every request (head guard, token JSON). Byte order does not matter: these
 * only answer "is there such a byte in the word", and the caller walks the
 * word byte by byte when there is. */
#ifndef GW_SWAR_H
#define GW_SWAR_H

#include <stdint.h>

#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGHS 0x8080808080808080ULL

/* Non-zero when some byte of w is below n (n <= 128). As a yes/no answer this
 * is exact: a borrow can only flag a byte above one that is truly below n,
 * and bytes >= 0x80 are never flagged. */
static inline uint64_t swar_has_below(uint64_t w, unsigned n) {
  return (w - SWAR_ONES * n) & ~w & SWAR_HIGHS;
}

/* Non-zero when some byte of w equals b. */
static inline uint64_t swar_has_byte(uint64_t w, unsigned char b) {
  return swar_has_below(w ^ (SWAR_ONES * b), 1);
}

#endif
