/* promtext: a writer of the Prometheus text format 0.0.4: families (HELP
 * and TYPE), series with escaped label values, numbers, histograms. It
 * only appends to a growing buffer; out of memory is remembered (oom) and
 * makes every later call a no-op, so a renderer checks once at the end. */
#ifndef GW_PROMTEXT_H
#define GW_PROMTEXT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *p; /* NUL-terminated once anything was written; malloc'd, the caller frees */
  size_t len, cap;
  int oom;
} ptext_t;

void ptext_put(ptext_t *b, const char *s, size_t n);
void ptext_puts(ptext_t *b, const char *s);
/* Numbers only: the formatted text must fit 127 bytes (else oom). */
void ptext_printf(ptext_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "# HELP gateway_NAME help" and "# TYPE gateway_NAME type". */
void ptext_family(ptext_t *b, const char *name, const char *type, const char *help);
/* "gateway_NAME{k1="v1",...} " for up to four labels (a NULL key ends
 * them); the values escaped (\ " newline). */
void ptext_series4(ptext_t *b, const char *name, const char *const k[4], const char *const v[4]);
/* The same with up to three labels given inline (NULL ends them). */
void ptext_series(ptext_t *b, const char *name, const char *k1, const char *v1, const char *k2,
                  const char *v2, const char *k3, const char *v3);
void ptext_u64(ptext_t *b, uint64_t v);  /* "v\n" */
void ptext_i64(ptext_t *b, uint64_t v);  /* a signed gauge kept as uint64_t deltas */

/* One histogram series of the family NAME: NAME_bucket for each of nle
 * upper bounds (le[]: their label texts, the last "+Inf"), cumulative;
 * NAME_sum, sum / 10^sum_digits printed as seconds with sum_digits
 * decimals (9: nanoseconds, 6: microseconds); NAME_count. counts[nle]:
 * the observations per bucket, not cumulative. Up to three labels (k[i]
 * NULL ends them) besides le. */
void ptext_histogram(ptext_t *b, const char *name, const char *const k[3], const char *const v[3],
                     const char *const *le, const uint64_t *counts, size_t nle, uint64_t sum,
                     unsigned sum_digits);

#endif
