#include "log.h"

#include "logring.h"

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

int gw_log_json = 0;

size_t gw_log_vformat(char *line, size_t cap, gw_log_level_t level, const char *fmt, va_list ap) {
  char ts[40];
  gw_time_rfc3339(ts, sizeof ts);
  size_t len;
  if (gw_log_json) {
    char msg[1024], esc[1536];
    int m = vsnprintf(msg, sizeof msg, fmt, ap);
    gw_json_escape(esc, sizeof esc, msg, m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1, 1024);
    int n = snprintf(line, cap - 1, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}", ts,
                     level_names[level], esc);
    len = n < 0 ? 0 : (size_t)n;
  } else {
    int n = snprintf(line, cap, "%s %s ", ts, level_names[level]);
    int m = vsnprintf(line + n, cap - (size_t)n - 1, fmt, ap);
    len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  }
  if (len > cap - 2) len = cap - 2;
  line[len++] = '\n';
  return len;
}

void gw_log(gw_log_level_t level, const char *fmt, ...) {
  if (level < gw_log_min_level) return;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  size_t len = gw_log_vformat(line, sizeof line, level, fmt, ap);
  va_end(ap);
  /* Whole lines into the ring: lines from different threads never
   * interleave, and a slow reader of stderr never stalls the caller. */
  logring_write(GW_LOGRING_ERROR, STDERR_FILENO, line, len);
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * form, no surrogate, nothing above U+10FFFF), or 0. *need tells how many
 * bytes a sequence cut short by n would have needed. */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *need) {
  unsigned char c = s[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */
  if (c >= 0xc2 && c <= 0xdf) len = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0;      /* overlong */
    else if (c == 0xed) hi = 0x9f; /* surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90;      /* overlong */
    else if (c == 0xf4) hi = 0x8f; /* above U+10FFFF */
  } else
    return 0;
  *need = len;
  for (size_t k = 1; k < len; k++) {
    if (k >= n) return 0;
    unsigned char lim_lo = k == 1 ? lo : 0x80, lim_hi = k == 1 ? hi : 0xbf;
    if (s[k] < lim_lo || s[k] > lim_hi) {
      *need = 0;
      return 0;
    }
  }
  return len;
}

/* Valid UTF-8 passes through as is (a JSON string is UTF-8), so "jörg" stays
 * "jörg"; a byte that starts no valid sequence becomes U+FFFD, as Go's and
 * Python's encoders do. Control characters, C1 included (a terminal may act
 * on them), are escaped. */
size_t gw_json_escape(char *buf, size_t cap, const char *s, size_t len, size_t max) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *u = (const unsigned char *)s;
  size_t o = 0;
  int cut = len > max;
  if (cut) len = max;
  if (cap == 0) return 0;
  for (size_t i = 0; i < len;) {
    unsigned char ch = u[i];
    char esc[7];
    const char *src = esc;
    size_t el, used = 1;
    if (ch == '"' || ch == '\\') {
      esc[0] = '\\'; esc[1] = (char)ch; el = 2;
    } else if (ch < 0x20 || ch == 0x7f) {
      esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
      esc[4] = hex[ch >> 4]; esc[5] = hex[ch & 15]; el = 6;
    } else if (ch < 0x7f) {
      esc[0] = (char)ch; el = 1;
    } else {
      size_t need = 0, n = utf8_seq(u + i, len - i, &need);
      if (n == 2 && ch == 0xc2 && u[i + 1] < 0xa0) { /* C1 control */
        esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
        esc[4] = hex[u[i + 1] >> 4]; esc[5] = hex[u[i + 1] & 15]; el = 6; used = 2;
      } else if (n) {
        src = s + i; el = used = n;
      } else if (cut && need && i + need > len) {
        break; /* a character the cut at max split: "..." says it */
      } else {
        src = "\xef\xbf\xbd"; el = 3; /* U+FFFD for one bad byte */
      }
    }
    if (o + el + 1 > cap) { cut = 1; break; }
    memcpy(buf + o, src, el);
    o += el;
    i += used;
  }
  if (cut && o + 4 <= cap) { memcpy(buf + o, "...", 3); o += 3; }
  buf[o] = '\0';
  return o;
}

const char *gw_log_safe(char *buf, size_t cap, const char *s, size_t len) {
  gw_json_escape(buf, cap, s, len, cap / 6 > 0 ? cap / 6 : 1);
  return buf;
}
