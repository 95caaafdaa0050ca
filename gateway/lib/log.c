#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

gw_log_level_t gw_log_min_level = GW_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void gw_time_rfc3339(char *buf, size_t cap) {
  struct timeval tv;
  struct tm tm;
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
}

void gw_log(gw_log_level_t level, const char *fmt, ...) {
  if (level < gw_log_min_level) return;
  char line[2048];
  char ts[40];
  gw_time_rfc3339(ts, sizeof ts);
  int n = snprintf(line, sizeof line, "%s %s ", ts, level_names[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof line - 2) len = sizeof line - 2;
  line[len++] = '\n';
  /* One write per line: lines from different threads never interleave. */
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w;
}

size_t gw_json_escape(char *buf, size_t cap, const char *s, size_t len, size_t max) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
  int cut = len > max;
  if (cut) len = max;
  if (cap == 0) return 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    char esc[7];
    size_t el;
    if (ch == '"' || ch == '\\') {
      esc[0] = '\\'; esc[1] = (char)ch; el = 2;
    } else if (ch < 0x20 || ch >= 0x7f) {
      esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
      esc[4] = hex[ch >> 4]; esc[5] = hex[ch & 15]; el = 6;
    } else {
      esc[0] = (char)ch; el = 1;
    }
    if (o + el + 1 > cap) { cut = 1; break; }
    memcpy(buf + o, esc, el);
    o += el;
  }
  if (cut && o + 4 <= cap) { memcpy(buf + o, "...", 3); o += 3; }
  buf[o] = '\0';
  return o;
}

const char *gw_log_safe(char *buf, size_t cap, const char *s, size_t len) {
  gw_json_escape(buf, cap, s, len, cap / 6 > 0 ? cap / 6 : 1);
  return buf;
}
