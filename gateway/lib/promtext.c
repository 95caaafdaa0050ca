#include "promtext.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ptext_put(ptext_t *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->len + n + 1 > b->cap) {
    size_t ncap = b->cap ? b->cap : 4096;
    while (b->len + n + 1 > ncap) ncap *= 2;
    char *np = realloc(b->p, ncap);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = ncap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

void ptext_puts(ptext_t *b, const char *s) { ptext_put(b, s, strlen(s)); }

void ptext_printf(ptext_t *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) {
    b->oom = 1; /* never happens: only numbers go through here */
    return;
  }
  ptext_put(b, tmp, (size_t)n);
}

/* A label value per the text format: \ " and newline escaped. */
static void put_escaped(ptext_t *b, const char *s) {
  const char *run = s;
  for (; *s; s++) {
    const char *e = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
    if (!e) continue;
    ptext_put(b, run, (size_t)(s - run));
    ptext_put(b, e, 2);
    run = s + 1;
  }
  ptext_put(b, run, (size_t)(s - run));
}

void ptext_family(ptext_t *b, const char *name, const char *type, const char *help) {
  ptext_puts(b, "# HELP gateway_");
  ptext_puts(b, name);
  ptext_puts(b, " ");
  ptext_puts(b, help);
  ptext_puts(b, "\n# TYPE gateway_");
  ptext_puts(b, name);
  ptext_puts(b, " ");
  ptext_puts(b, type);
  ptext_puts(b, "\n");
}

void ptext_series4(ptext_t *b, const char *name, const char *const k[4], const char *const v[4]) {
  ptext_puts(b, "gateway_");
  ptext_puts(b, name);
  for (int i = 0; i < 4 && k[i]; i++) {
    ptext_puts(b, i ? "," : "{");
    ptext_puts(b, k[i]);
    ptext_puts(b, "=\"");
    put_escaped(b, v[i]);
    ptext_puts(b, "\"");
  }
  ptext_puts(b, k[0] ? "} " : " ");
}

void ptext_series(ptext_t *b, const char *name, const char *k1, const char *v1, const char *k2,
                  const char *v2, const char *k3, const char *v3) {
  const char *k[4] = {k1, k2, k3, NULL}, *v[4] = {v1, v2, v3, NULL};
  ptext_series4(b, name, k, v);
}

void ptext_u64(ptext_t *b, uint64_t v) { ptext_printf(b, "%" PRIu64 "\n", v); }
void ptext_i64(ptext_t *b, uint64_t v) { ptext_printf(b, "%" PRId64 "\n", (int64_t)v); }

void ptext_histogram(ptext_t *b, const char *name, const char *const k[3], const char *const v[3],
                     const char *const *le, const uint64_t *counts, size_t nle, uint64_t sum,
                     unsigned sum_digits) {
  char fam[128];
  const char *lk[4] = {NULL}, *lv[4] = {NULL};
  size_t n = 0;
  while (n < 3 && k[n]) {
    lk[n] = k[n];
    lv[n] = v[n];
    n++;
  }
  uint64_t cum = 0;
  snprintf(fam, sizeof fam, "%s_bucket", name);
  for (size_t i = 0; i < nle; i++) {
    cum += counts[i];
    lk[n] = "le";
    lv[n] = le[i];
    ptext_series4(b, fam, lk, lv);
    ptext_u64(b, cum);
  }
  lk[n] = lv[n] = NULL;
  uint64_t unit = 1;
  for (unsigned i = 0; i < sum_digits; i++) unit *= 10;
  snprintf(fam, sizeof fam, "%s_sum", name);
  ptext_series4(b, fam, lk, lv);
  ptext_printf(b, "%" PRIu64 ".%0*" PRIu64 "\n", sum / unit, (int)sum_digits, sum % unit);
  snprintf(fam, sizeof fam, "%s_count", name);
  ptext_series4(b, fam, lk, lv);
  ptext_u64(b, cum);
}
