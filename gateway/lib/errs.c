/* errs.c: the error sink. See errs.h for the contract. */
#include "errs.h"

#include <stdio.h>
#include <stdlib.h>

void gw_errors_vadd(gw_errors_t *e, const char *file, int line, const char *fmt,
                    va_list ap) {
  if (!e) return;
  va_list ap2;
  va_copy(ap2, ap);
  int blen = vsnprintf(NULL, 0, fmt, ap);
  if (blen < 0) {
    va_end(ap2);
    return;
  }
  char *body = malloc((size_t)blen + 1);
  if (!body) {
    va_end(ap2);
    return;
  }
  vsnprintf(body, (size_t)blen + 1, fmt, ap2);
  va_end(ap2);

  const char *f = file ? file : "(config)";
  int mlen = line > 0 ? snprintf(NULL, 0, "%s:%d: %s", f, line, body)
                      : snprintf(NULL, 0, "%s: %s", f, body);
  char *msg = mlen >= 0 ? malloc((size_t)mlen + 1) : NULL;
  if (msg) {
    if (line > 0)
      snprintf(msg, (size_t)mlen + 1, "%s:%d: %s", f, line, body);
    else
      snprintf(msg, (size_t)mlen + 1, "%s: %s", f, body);
  }
  free(body);
  if (!msg) return;

  if (e->n == e->cap) {
    size_t ncap = e->cap ? e->cap * 2 : 8;
    char **nm = realloc(e->msgs, ncap * sizeof *nm);
    if (!nm) {
      free(msg);
      return;
    }
    e->msgs = nm;
    e->cap = ncap;
  }
  e->msgs[e->n++] = msg;
}

void gw_errors_add(gw_errors_t *e, const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gw_errors_vadd(e, file, line, fmt, ap);
  va_end(ap);
}

void gw_errors_free(gw_errors_t *e) {
  if (!e) return;
  for (size_t i = 0; i < e->n; i++) free(e->msgs[i]);
  free(e->msgs);
  e->msgs = NULL;
  e->n = e->cap = 0;
}

int gw_echo_len(const char *v) {
  size_t n = strlen(v);
  return n > GW_ECHO_MAX ? GW_ECHO_MAX : (int)n;
}
