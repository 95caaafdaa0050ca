/* tap.h: a tiny TAP-producing test harness for the unit tests.
 *
 * Each CHECK prints "ok N - what" or "not ok N - what" with both operands on
 * failure; tests/run.sh counts those lines. TAP_DONE() prints the plan and
 * returns non-zero when anything failed. */
#ifndef GW_TAP_H
#define GW_TAP_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tap_n, tap_failed;

static inline int tap_report(int ok, const char *file, int line, const char *what) {
  ++tap_n;
  if (!ok) ++tap_failed;
  printf("%sok %d - %s\n", ok ? "" : "not ", tap_n, what);
  if (!ok) printf("#   at %s:%d\n", file, line);
  return ok;
}

#define CHECK(cond, what) tap_report(!!(cond), __FILE__, __LINE__, (what))

#define CHECK_INT(a, b, what)                                                     \
  do {                                                                            \
    long long tap_a_ = (long long)(a), tap_b_ = (long long)(b);                   \
    if (!tap_report(tap_a_ == tap_b_, __FILE__, __LINE__, (what)))                \
      printf("#   got %lld, expected %lld (%s == %s)\n", tap_a_, tap_b_, #a, #b);  \
  } while (0)

#define CHECK_STR(a, b, what)                                                       \
  do {                                                                              \
    const char *tap_a_ = (a), *tap_b_ = (b);                                        \
    int tap_ok_ = (tap_a_ && tap_b_) ? strcmp(tap_a_, tap_b_) == 0 : tap_a_ == tap_b_; \
    if (!tap_report(tap_ok_, __FILE__, __LINE__, (what)))                           \
      printf("#   got \"%s\", expected \"%s\"\n", tap_a_ ? tap_a_ : "(null)",       \
             tap_b_ ? tap_b_ : "(null)");                                           \
  } while (0)

#define TAP_DONE()                                 \
  (printf("1..%d\n", tap_n), fflush(stdout), tap_failed ? 1 : 0)

#endif
