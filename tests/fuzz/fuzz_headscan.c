/* libFuzzer driver for headscan_feed (gateway/http.h): the byte-level guard
 * that sees every request head before anything else does.
 *
 * The input is the bytes a client sends. Each input is scanned under two
 * limits (the default 16 KiB, and a small one derived from the first byte so
 * that HS_TOO_LONG_LINE / HS_TOO_LARGE are reachable), and under each limit:
 *   - whole, in one headscan_feed call;
 *   - split in two at a position derived from the first byte;
 *   - one byte per call (inputs up to 1 KiB);
 *   - in chunks of 1..7 bytes driven by the input itself (up to 1 KiB).
 * Asserted (abort() on violation):
 *   1. the verdict and the end of the head (offset of the chunk + *used) are
 *      the same however the bytes are split (the API says the verdict must
 *      not depend on how the bytes arrive);
 *   2. HS_DONE: 4 <= used <= size, used <= the limit, and the head bytes
 *      data[0..used) satisfy what http.h promises the scanner enforces:
 *      they end in CRLF CRLF, every LF is preceded by CR and every CR is
 *      followed by LF, no control byte other than CR/LF (and HT inside header
 *      values), no obs-fold, header names non-empty and made of tchars with
 *      no whitespace before the colon (a line without any colon is left to
 *      llhttp), single SPs between request-line parts and none at its ends;
 *   3. HS_BAD comes with a non-NULL static reason; HS_MORE never when the
 *      input already holds more than `limit` bytes of head;
 *   4. *used is left alone unless the verdict is HS_DONE.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#define DEFAULT_LIMIT 16384u
#define USED_SENTINEL ((size_t)0x5a5a5a5a5a5a5a5aull)

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) __builtin_trap();                                                         \
  } while (0)

typedef struct {
  gw_headscan_result_t r;
  size_t end; /* absolute end of the head for HS_DONE, 0 otherwise */
} verdict_t;

/* Feeds data in chunks whose sizes come from next_chunk(); stops at the
 * first verdict other than HS_MORE, as the server does. */
typedef size_t (*chunker_fn)(void *ud, size_t off, size_t left);

static verdict_t scan(const uint8_t *data, size_t size, uint32_t limit, chunker_fn next, void *ud) {
  gw_headscan_t hs;
  headscan_init(&hs, limit);
  size_t off = 0;
  verdict_t v = {HS_MORE, 0};
  while (off < size) {
    size_t n = next(ud, off, size - off);
    if (n == 0 || n > size - off) n = size - off;
    size_t used = USED_SENTINEL;
    gw_headscan_result_t r = headscan_feed(&hs, (const char *)data + off, n, &used);
    CHECK(r >= HS_MORE && r <= HS_TOO_LARGE);
    if (r == HS_DONE) {
      CHECK(used != USED_SENTINEL);
      CHECK(used >= 1 && used <= n);
      v.r = r;
      v.end = off + used;
      return v;
    }
    CHECK(used == USED_SENTINEL); /* untouched without HS_DONE */
    if (r == HS_BAD) CHECK(hs.why != NULL && hs.why[0] != '\0');
    if (r != HS_MORE) {
      v.r = r;
      return v;
    }
    off += n;
  }
  return v;
}

static size_t chunk_whole(void *ud, size_t off, size_t left) {
  (void)ud, (void)off;
  return left;
}

static size_t chunk_split(void *ud, size_t off, size_t left) {
  size_t at = *(size_t *)ud;
  if (off < at) return at - off;
  return left;
}

static size_t chunk_bytes(void *ud, size_t off, size_t left) {
  (void)ud, (void)off, (void)left;
  return 1;
}

/* Chunk sizes 1..7 taken from the input bytes themselves. */
static size_t chunk_ragged(void *ud, size_t off, size_t left) {
  const uint8_t *d = ud;
  (void)left;
  return (size_t)(d[off] % 7) + 1;
}

static int is_tchar(uint8_t c) { return http_is_tchar(c); }

/* Independent check of the accepted head bytes against http.h's promises. */
static void check_head(const uint8_t *h, size_t n) {
  CHECK(n >= 4);
  CHECK(memcmp(h + n - 4, "\r\n\r\n", 4) == 0);
  size_t i = 0;
  /* llhttp skips empty lines before the request line; so does the scanner. */
  while (i + 1 < n && h[i] == '\r' && h[i + 1] == '\n') i += 2;
  CHECK(i < n - 2);
  /* request line: bytes > 0x20 and != 0x7f, single spaces between parts */
  size_t ls = i;
  CHECK(h[i] != ' ' && h[i] != '\t');
  for (; h[i] != '\r'; i++) {
    uint8_t c = h[i];
    CHECK(c == ' ' || (c > 0x20 && c != 0x7f));
    if (c == ' ') CHECK(i > ls && h[i - 1] != ' ');
  }
  CHECK(i > ls);
  CHECK(h[i - 1] != ' ');
  CHECK(h[i + 1] == '\n');
  i += 2;
  /* header lines up to the final empty line */
  while (i < n - 2) {
    size_t s = i;
    while (is_tchar(h[i])) i++;
    /* A line without a colon is left to llhttp (which refuses it); a colon
     * must follow a non-empty run of tchars: no whitespace before it. */
    CHECK(h[i] == ':' || h[i] == '\r');
    if (h[i] == ':') {
      CHECK(i > s);
      i++;
    }
    for (; h[i] != '\r'; i++) {
      uint8_t c = h[i];
      CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    CHECK(h[i + 1] == '\n');
    i += 2;
  }
  CHECK(i == n - 2);
}

static void run_limit(const uint8_t *data, size_t size, uint32_t limit) {
  verdict_t whole = scan(data, size, limit, chunk_whole, NULL);
  size_t at = size ? (size_t)data[0] * (size + 1) / 256 : 0;
  verdict_t split = scan(data, size, limit, chunk_split, &at);
  CHECK(split.r == whole.r && split.end == whole.end);
  if (size <= 1024) {
    verdict_t bytes = scan(data, size, limit, chunk_bytes, NULL);
    CHECK(bytes.r == whole.r && bytes.end == whole.end);
    verdict_t ragged = scan(data, size, limit, chunk_ragged, (void *)data);
    CHECK(ragged.r == whole.r && ragged.end == whole.end);
  }
  switch (whole.r) {
  case HS_DONE:
    CHECK(whole.end <= size);
    CHECK(whole.end <= limit);
    check_head(data, whole.end);
    break;
  case HS_MORE:
    /* Every byte was judged fine and the limit not reached. */
    CHECK(size <= limit);
    break;
  default:
    break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  run_limit(data, size, DEFAULT_LIMIT);
  if (size > 0) run_limit(data, size, 8u + data[size - 1]);
  return 0;
}
