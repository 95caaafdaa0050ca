/* libFuzzer driver for gateway/pathnorm.h: target_split() and pathnorm(),
 * the code that decides which path the policy judges and the upstream gets.
 *
 * The input is a request-target as a client writes it. It goes through
 * target_split() (method GET, and OPTIONS for "*"; an absolute-form
 * authority is accepted when it is "gw.example" or "gw.example:8080",
 * case-insensitively), and the resulting path through pathnorm(). The raw
 * input is also given to pathnorm() directly, so that paths with bytes
 * target_split() would cut at are exercised too.
 *
 * Asserted (abort() on violation):
 *   target_split: result is PATHNORM_OK or one of the pathnorm_err_t values,
 *     with a non-NULL reason on error; on success the slices lie inside the
 *     target (or are the static "/"), the form matches the input, the path
 *     holds no '?' or '#', the query is exactly what follows the first '?'
 *     and holds no control byte, space or '#', the authority was approved by
 *     the callback and the scheme is http/https.
 *   pathnorm, on success:
 *     - the output is NUL-terminated, out_len == strlen, out_len <= 3 * len
 *       (the documented bound; the brief's "3 * len + 1" counts the NUL);
 *     - it starts with '/', holds no "//", no "." or ".." segment (so no
 *       "/./", "/../", and no trailing "/." or "/.."), at most
 *       GW_PATH_MAX_SEGMENTS segments;
 *     - no raw control byte, space, '\', '#', '?', 8-bit byte or any of
 *       " < > [ ] ^ ` { | } (those are percent-encoded);
 *     - every '%' starts an escape with two upper-case hex digits, never
 *       %2F %5C %00 (in any case) and never an escape of an unreserved
 *       character (those are decoded);
 *     - idempotence: pathnorm(out) succeeds and gives out again;
 *     - with a buffer of exactly out_len + 1 bytes the result is either the
 *       same output or PATHNORM_E_TOO_LONG; with any smaller buffer the
 *       result is PATHNORM_E_TOO_LONG; nothing is written past the buffer
 *       (exact-size heap buffers, so ASan sees it).
 *   pathnorm, on failure: a pathnorm_err_t value with a non-NULL reason
 *     (out is unspecified then); a smaller buffer gives the same error or
 *     PATHNORM_E_TOO_LONG; 3 * len + 1 bytes never give PATHNORM_E_TOO_LONG.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pathnorm.h"

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) __builtin_trap();                                                         \
  } while (0)

static int is_err(int rc) { return rc <= PATHNORM_E_EMPTY && rc >= PATHNORM_E_AUTHORITY; }

static int hexu(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int unreserved(uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static int ieq(const char *a, size_t n, const char *lower) {
  if (strlen(lower) != n) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = a[i];
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != lower[i]) return 0;
  }
  return 1;
}

static int authority_calls;
static int authority_ok(void *user, const char *a, size_t n) {
  (void)user;
  authority_calls++;
  return ieq(a, n, "gw.example") || ieq(a, n, "gw.example:8080");
}

static void check_normal(const char *o, size_t n) {
  CHECK(n >= 1 && o[0] == '/');
  CHECK(o[n] == '\0' && strlen(o) == n);
  size_t segs = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = (uint8_t)o[i];
    CHECK(c > 0x20 && c < 0x7f);
    CHECK(!strchr("\\#?\"<>[]^`{|}", c));
    if (c == '%') {
      CHECK(i + 2 < n);
      int hi = hexu((uint8_t)o[i + 1]), lo = hexu((uint8_t)o[i + 2]);
      CHECK(hi >= 0 && lo >= 0);
      uint8_t v = (uint8_t)(hi << 4 | lo);
      CHECK(v != '/' && v != '\\' && v != 0 && !unreserved(v));
    }
    if (c == '/') {
      /* the segment that starts here */
      size_t s = i + 1, e = s;
      while (e < n && o[e] != '/') e++;
      size_t len = e - s;
      CHECK(len > 0 || e == n);   /* no "//": only a final empty segment */
      CHECK(!(len == 1 && o[s] == '.'));
      CHECK(!(len == 2 && o[s] == '.' && o[s + 1] == '.'));
      if (len > 0) segs++;
    }
  }
  CHECK(segs <= GW_PATH_MAX_SEGMENTS);
}

/* pathnorm into an exact-size heap buffer of cap bytes. */
static int norm(const char *p, size_t len, size_t cap, char **out, size_t *out_len) {
  *out = malloc(cap ? cap : 1);
  if (!*out) abort();
  const char *why = (const char *)1;
  *out_len = (size_t)-1;
  int rc = pathnorm(p, len, *out, cap, out_len, &why);
  CHECK(rc == PATHNORM_OK || is_err(rc));
  if (rc == PATHNORM_OK) {
    CHECK(why == NULL);
    CHECK(*out_len < cap);
  } else {
    /* The contents of out are unspecified on error (the gateway answers
     * 400 with *why and never looks at them). */
    CHECK(why != NULL && why != (const char *)1 && why[0] != '\0');
  }
  return rc;
}

static void check_path(const char *p, size_t len) {
  size_t cap = 3 * len + 1;
  char *out;
  size_t olen;
  int rc = norm(p, len, cap, &out, &olen);
  CHECK(rc != PATHNORM_E_TOO_LONG); /* 3 * len + 1 always suffices */
  if (rc == PATHNORM_OK) {
    CHECK(olen <= 3 * len);
    check_normal(out, olen);

    /* idempotence */
    char *again;
    size_t alen;
    CHECK(norm(out, olen, 3 * olen + 1, &again, &alen) == PATHNORM_OK);
    CHECK(alen == olen && memcmp(again, out, olen) == 0);
    free(again);

    /* exact buffer: same output, or TOO_LONG when an intermediate state of
     * the path ("/aaa/.." before the pop) was longer than the result */
    char *tight;
    size_t tlen;
    int trc = norm(p, len, olen + 1, &tight, &tlen);
    CHECK(trc == PATHNORM_OK || trc == PATHNORM_E_TOO_LONG);
    if (trc == PATHNORM_OK) CHECK(tlen == olen && memcmp(tight, out, olen) == 0);
    free(tight);

    /* one byte short: the result cannot fit */
    trc = norm(p, len, olen, &tight, &tlen);
    CHECK(trc == PATHNORM_E_TOO_LONG);
    free(tight);
  } else if (len > 0) {
    char *small;
    size_t slen;
    int src = norm(p, len, len / 2, &small, &slen);
    CHECK(src == rc || src == PATHNORM_E_TOO_LONG);
    free(small);
  }
  free(out);
}

static void check_split(const char *tgt, size_t len, const char *method) {
  gw_target_t t;
  const char *why = (const char *)1;
  authority_calls = 0;
  int rc = target_split(tgt, len, method, strlen(method), authority_ok, NULL, &t, &why);
  CHECK(rc == PATHNORM_OK || is_err(rc));
  if (rc != PATHNORM_OK) {
    CHECK(why != NULL && why != (const char *)1 && why[0] != '\0');
    return;
  }
  CHECK(why == NULL);
  const char *end = tgt + len;
  switch (t.form) {
  case GW_TARGET_ASTERISK:
    CHECK(len == 1 && tgt[0] == '*' && strcmp(method, "OPTIONS") == 0);
    CHECK(t.path == tgt && t.path_len == 1 && t.query == NULL);
    return; /* "*" is not normalized */
  case GW_TARGET_ORIGIN:
    CHECK(tgt[0] == '/' && t.path == tgt && t.scheme == NULL && t.authority == NULL);
    break;
  case GW_TARGET_ABSOLUTE:
    CHECK(authority_calls == 1);
    CHECK(t.scheme == tgt && (ieq(t.scheme, t.scheme_len, "http") ||
                              ieq(t.scheme, t.scheme_len, "https")));
    CHECK(t.authority == tgt + t.scheme_len + 3);
    CHECK(authority_ok(NULL, t.authority, t.authority_len));
    if (!(t.path >= tgt && t.path < end)) {
      /* the static "/" of an absolute URI without a path */
      CHECK(t.path_len == 1 && t.path[0] == '/');
      CHECK(t.authority + t.authority_len == (t.query ? t.query - 1 : end));
    } else {
      CHECK(t.path == t.authority + t.authority_len && t.path[0] == '/');
    }
    break;
  default:
    CHECK(0);
  }
  CHECK(t.path_len > 0);
  CHECK(!memchr(t.path, '?', t.path_len) && !memchr(t.path, '#', t.path_len));
  if (t.path >= tgt && t.path < end) {
    CHECK(t.path + t.path_len <= end);
    if (t.query)
      CHECK(t.query == t.path + t.path_len + 1 && t.query[-1] == '?');
    else
      CHECK(t.path + t.path_len == end);
  }
  if (t.query) {
    CHECK(t.query + t.query_len == end);
    for (size_t i = 0; i < t.query_len; i++) {
      uint8_t c = (uint8_t)t.query[i];
      CHECK(c > 0x20 && c != 0x7f && c != '#');
    }
  }
  check_path(t.path, t.path_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* an exact-size copy: any read past the target is an ASan report */
  char *tgt = malloc(size ? size : 1);
  if (!tgt) return 0;
  memcpy(tgt, data, size);
  check_split(tgt, size, "GET");
  if (size == 1) check_split(tgt, size, "OPTIONS");
  check_path(tgt, size);
  free(tgt);
  return 0;
}
