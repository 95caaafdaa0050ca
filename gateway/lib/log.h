/* log: the error log (stderr, leveled, one write per line so lines from
 * several worker threads never interleave) and JSON escaping helpers shared
 * by the access log. Untrusted bytes are escaped and truncated; callers never
 * pass a token. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>
#include <stddef.h>

#include "config.h"

extern gw_log_level_t gw_log_min_level;

void gw_log(gw_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* [log] format = json: each error-log line is {"time","level","msg"}. */
extern int gw_log_json;
/* One line as gw_log writes it (text or JSON, '\n'-terminated, cut to
 * cap - 1 bytes); returns its length. The writer is gw_log's business. */
size_t gw_log_vformat(char *line, size_t cap, gw_log_level_t level, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
#define LOG_DEBUG(...) do { if (gw_log_min_level <= GW_LOG_DEBUG) gw_log(GW_LOG_DEBUG, __VA_ARGS__); } while (0)
#define LOG_INFO(...) do { if (gw_log_min_level <= GW_LOG_INFO) gw_log(GW_LOG_INFO, __VA_ARGS__); } while (0)
#define LOG_WARN(...) gw_log(GW_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) gw_log(GW_LOG_ERROR, __VA_ARGS__)

/* Appends s[0..len) to buf as the inside of a JSON string (no quotes):
 * valid UTF-8 is copied, quotes, backslashes and control characters (C0,
 * DEL, C1) are escaped, each byte of an invalid sequence becomes U+FFFD. It
 * stops at `max` input bytes (appending "..." when cut), never inside a
 * character. Returns bytes written, never more than cap - 1; buf is
 * NUL-terminated. */
size_t gw_json_escape(char *buf, size_t cap, const char *s, size_t len, size_t max);

/* Printable, bounded copy of untrusted bytes for log messages. */
const char *gw_log_safe(char *buf, size_t cap, const char *s, size_t len);

/* Wall-clock time as RFC 3339 UTC with milliseconds into buf (>= 32 bytes). */
void gw_time_rfc3339(char *buf, size_t cap);

#endif
