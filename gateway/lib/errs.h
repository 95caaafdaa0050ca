/* errs: the error sink every loader reports into.
 *
 * Loaders collect all problems (not only the first) so that one run of
 * `gateway -t` shows everything to fix. Each message is "FILE:LINE: text",
 * or "FILE: text" when no line applies. Adding never fails loudly: out of
 * memory drops the message, and the caller still fails by its own count. */
#ifndef GW_ERRS_H
#define GW_ERRS_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

typedef struct {
  char **msgs;
  size_t n, cap;
} gw_errors_t;

/* file NULL reads "(config)"; line <= 0 leaves the line out. e NULL: no-op. */
void gw_errors_add(gw_errors_t *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gw_errors_vadd(gw_errors_t *e, const char *file, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
void gw_errors_free(gw_errors_t *e);

/* A value echoed in a message is cut to GW_ECHO_MAX bytes (with "...") so
 * that a multi-kilobyte bad line does not become a multi-kilobyte message:
 *   gw_errors_add(e, f, l, "bad value " GW_VFMT, GW_VARG(v)); */
#define GW_ECHO_MAX 60
#define GW_VFMT "'%.*s%s'"
#define GW_VARG(v) gw_echo_len(v), (v), (strlen(v) > GW_ECHO_MAX ? "..." : "")
int gw_echo_len(const char *v);

#endif
