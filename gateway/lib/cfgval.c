/* cfgval.c: value parsers for the INI files. See cfgval.h for the contract. */
#include "cfgval.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Small character helpers (ASCII only: the C locale must not matter)  */

bool gw_is_ws(int c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool gw_is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static bool is_hex(int c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int to_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }
/* RFC 3986 pchar minus pct-encoded: unreserved / sub-delims / ":" / "@" */
bool gw_is_pchar(int c) {
  return gw_is_alnum(c) || (c != 0 && strchr("-._~!$&'()*+,;=:@", c) != NULL);
}
/* Tab is allowed: it separates words in lists like any other blank. */
bool gw_has_ctl(const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

void gw_lower_in_place(char *s) {
  for (; *s; s++) *s = (char)to_lower((unsigned char)*s);
}

/* Digits only, no sign, no blanks; overflow is an error rather than a wrap. */
static int parse_u64_prefix(const char *s, const char **end, uint64_t *out) {
  if (!is_digit((unsigned char)*s)) return -1;
  uint64_t v = 0;
  for (; is_digit((unsigned char)*s); s++) {
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  *end = s;
  *out = v;
  return 0;
}

int config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  const char *end;
  uint64_t v;
  if (!s || parse_u64_prefix(s, &end, &v) != 0 || *end != '\0') return -1;
  if (v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *out) {
  if (n == 0 || n > 5) return -1;
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit((unsigned char)s[i])) return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v < 1 || v > 65535) return -1;
  *out = (uint16_t)v;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Value parsers                                                       */

int config_parse_duration_ms(const char *s, uint64_t *out) {
  const char *end;
  uint64_t v, mult;
  if (!s || !out || parse_u64_prefix(s, &end, &v) != 0) return -1;
  if (*end == '\0' || strcmp(end, "s") == 0)
    mult = 1000;
  else if (strcmp(end, "ms") == 0)
    mult = 1;
  else if (strcmp(end, "m") == 0)
    mult = 60 * 1000;
  else if (strcmp(end, "h") == 0)
    mult = 60 * 60 * 1000;
  else
    return -1;
  if (v > UINT64_MAX / mult) return -1;
  *out = v * mult;
  return 0;
}

int config_parse_size(const char *s, uint64_t *out) {
  const char *end;
  uint64_t v, mult;
  if (!s || !out || parse_u64_prefix(s, &end, &v) != 0) return -1;
  if (*end == '\0')
    mult = 1;
  else if (end[1] != '\0')
    return -1;
  else if (*end == 'k' || *end == 'K')
    mult = UINT64_C(1) << 10;
  else if (*end == 'm' || *end == 'M')
    mult = UINT64_C(1) << 20;
  else if (*end == 'g' || *end == 'G')
    mult = UINT64_C(1) << 30;
  else
    return -1;
  if (v > UINT64_MAX / mult) return -1;
  *out = v * mult;
  return 0;
}

int config_parse_bool(const char *s, int *out) {
  static const char *const yes[] = {"yes", "true", "on", "1"};
  static const char *const no[] = {"no", "false", "off", "0"};
  if (!s || !out) return -1;
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
    if (strcasecmp(s, yes[i]) == 0) {
      *out = 1;
      return 0;
    }
    if (strcasecmp(s, no[i]) == 0) {
      *out = 0;
      return 0;
    }
  }
  return -1;
}

int config_parse_listen(const char *s, gw_listen_t *out) {
  gw_listen_t l;
  memset(&l, 0, sizeof l);
  if (!s || !out) return -1;
  size_t n = strlen(s);
  if (n == 0 || n >= sizeof l.text) return -1;

  char host[64];
  const char *port;
  int family;
  if (s[0] == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':') return -1;
    size_t hl = (size_t)(rb - (s + 1));
    if (hl == 0 || hl >= sizeof host) return -1;
    memcpy(host, s + 1, hl);
    host[hl] = '\0';
    port = rb + 2;
    family = AF_INET6;
  } else {
    const char *colon = strchr(s, ':');
    /* A second ':' means an unbracketed IPv6 address: ambiguous, refuse. */
    if (!colon || strchr(colon + 1, ':')) return -1;
    size_t hl = (size_t)(colon - s);
    if (hl == 0 || hl >= sizeof host) return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    port = colon + 1;
    family = AF_INET;
  }
  uint16_t p;
  if (parse_port(port, strlen(port), &p) != 0) return -1;

  if (family == AF_INET) {
    struct sockaddr_in *a = (struct sockaddr_in *)&l.addr;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
    a->sin_family = AF_INET;
    a->sin_port = htons(p);
    l.addrlen = sizeof *a;
  } else {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&l.addr;
    if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return -1;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(p);
    l.addrlen = sizeof *a;
  }
  memcpy(l.text, s, n + 1);
  *out = l;
  return 0;
}

void config_url_free(gw_url_t *u) {
  if (!u) return;
  free(u->host);
  free(u->path);
  free(u->authority);
  u->host = u->path = u->authority = NULL;
}

char *gw_dup_range(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* reg-name or IPv4 as used in URLs and origins; an all-numeric host must be a
 * real dotted quad so that "999.1.1.1" is not taken for a DNS name. */
static bool valid_plain_host(const char *h, size_t n) {
  if (n == 0 || n > 253) return false;
  bool numeric = true;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)h[i];
    if (!gw_is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
    if (!is_digit(c) && c != '.') numeric = false;
  }
  if (numeric) {
    char buf[16];
    struct in_addr a;
    if (n >= sizeof buf) return false;
    memcpy(buf, h, n);
    buf[n] = '\0';
    return inet_pton(AF_INET, buf, &a) == 1;
  }
  return true;
}

static bool valid_v6_host(const char *h, size_t n) {
  char buf[64];
  struct in6_addr a;
  if (n == 0 || n >= sizeof buf) return false;
  memcpy(buf, h, n);
  buf[n] = '\0';
  return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Parses "host", "host:port", "[v6]", "[v6]:port" in [s, s+n).
 * Sets *hs and *hn to the host without brackets; *port stays 0 when absent. */
static int parse_authority(const char *s, size_t n, const char **hs, size_t *hn, bool *v6,
                           uint16_t *port) {
  const char *end = s + n;
  const char *pstart = NULL;
  *port = 0;
  if (n > 0 && s[0] == '[') {
    const char *rb = memchr(s, ']', n);
    if (!rb) return -1;
    *hs = s + 1;
    *hn = (size_t)(rb - (s + 1));
    *v6 = true;
    if (!valid_v6_host(*hs, *hn)) return -1;
    if (rb + 1 < end) {
      if (rb[1] != ':') return -1;
      pstart = rb + 2;
    }
  } else {
    const char *colon = memchr(s, ':', n);
    *hs = s;
    *hn = colon ? (size_t)(colon - s) : n;
    *v6 = false;
    if (!valid_plain_host(*hs, *hn)) return -1;
    if (colon) pstart = colon + 1;
  }
  if (pstart && parse_port(pstart, (size_t)(end - pstart), port) != 0) return -1;
  return 0;
}

/* Path rules shared by URL paths: pchar, '/', and well-formed %HH only; no
 * dot segments, because the path is prepended to forwarded requests and a
 * "." or ".." there would be resolved differently by different upstreams. */
static int check_url_path(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)p[i];
    if (c == '%') {
      if (i + 2 >= n || !is_hex((unsigned char)p[i + 1]) || !is_hex((unsigned char)p[i + 2]))
        return -1;
      i += 2;
      continue;
    }
    if (c != '/' && !gw_is_pchar(c)) return -1;
  }
  size_t i = 0;
  while (i < n) {
    size_t j = i + 1;
    while (j < n && p[j] != '/') j++;
    size_t sl = j - (i + 1);
    if ((sl == 1 && p[i + 1] == '.') || (sl == 2 && p[i + 1] == '.' && p[i + 2] == '.'))
      return -1;
    i = j;
  }
  return 0;
}

int config_parse_url(const char *s, gw_url_t *out) {
  if (!out) return -1;
  memset(out, 0, sizeof *out);
  if (!s) return -1;

  gw_scheme_t scheme;
  const char *p;
  if (strncasecmp(s, "http://", 7) == 0) {
    scheme = GW_SCHEME_HTTP;
    p = s + 7;
  } else if (strncasecmp(s, "https://", 8) == 0) {
    scheme = GW_SCHEME_HTTPS;
    p = s + 8;
  } else {
    return -1;
  }
  for (const char *q = p; *q; q++) {
    unsigned char c = (unsigned char)*q;
    if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '\\') return -1;
  }
  size_t alen = strcspn(p, "/");
  if (alen == 0 || memchr(p, '@', alen)) return -1;

  const char *hs;
  size_t hn;
  bool v6;
  uint16_t port;
  if (parse_authority(p, alen, &hs, &hn, &v6, &port) != 0) return -1;
  uint16_t defport = scheme == GW_SCHEME_HTTPS ? 443 : 80;
  if (port == 0) port = defport;

  const char *path = p + alen;
  size_t plen = strlen(path);
  if (check_url_path(path, plen) != 0) return -1;
  while (plen > 0 && path[plen - 1] == '/') plen--;

  gw_url_t u = {.scheme = scheme, .port = port};
  u.host = gw_dup_range(hs, hn);
  u.path = gw_dup_range(path, plen);
  char portbuf[8] = "";
  if (port != defport) snprintf(portbuf, sizeof portbuf, ":%u", (unsigned)port);
  size_t authlen = hn + (v6 ? 2 : 0) + strlen(portbuf);
  u.authority = malloc(authlen + 1);
  if (!u.host || !u.path || !u.authority) {
    config_url_free(&u);
    return -1;
  }
  gw_lower_in_place(u.host);
  snprintf(u.authority, authlen + 1, "%s%s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "",
           portbuf);
  *out = u;
  return 0;
}

size_t config_split_words(const char *s, char ***out) {
  *out = NULL;
  size_t n = 0;
  for (const char *p = s; *p;) {
    while (*p && gw_is_ws((unsigned char)*p)) p++;
    if (!*p) break;
    n++;
    while (*p && !gw_is_ws((unsigned char)*p)) p++;
  }
  char **w = calloc(n + 1, sizeof *w);
  if (!w) return 0;
  size_t i = 0;
  for (const char *p = s; *p;) {
    while (*p && gw_is_ws((unsigned char)*p)) p++;
    if (!*p) break;
    const char *st = p;
    while (*p && !gw_is_ws((unsigned char)*p)) p++;
    w[i] = gw_dup_range(st, (size_t)(p - st));
    if (!w[i]) {
      config_free_words(w);
      return 0;
    }
    i++;
  }
  *out = w;
  return n;
}

void config_free_words(char **w) {
  if (!w) return;
  for (char **p = w; *p; p++) free(*p);
  free(w);
}

/* scheme://host[:port], normalized the way browsers serialize an Origin
 * (lower case, default port omitted) so that comparison can be exact. */
char *config_parse_origin(const char *s) {
  const char *p = s;
  if (!is_alpha((unsigned char)*p)) return NULL;
  while (gw_is_alnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.') p++;
  if (strncmp(p, "://", 3) != 0) return NULL;
  size_t slen = (size_t)(p - s);
  const char *a = p + 3;
  size_t alen = strlen(a);
  for (size_t i = 0; i < alen; i++)
    if (a[i] == '/' || a[i] == '@' || a[i] == '?' || a[i] == '#') return NULL;
  const char *hs;
  size_t hn;
  bool v6;
  uint16_t port;
  if (alen == 0 || parse_authority(a, alen, &hs, &hn, &v6, &port) != 0) return NULL;
  bool http = slen == 4 && strncasecmp(s, "http", 4) == 0;
  bool https = slen == 5 && strncasecmp(s, "https", 5) == 0;
  if ((http && port == 80) || (https && port == 443)) port = 0;
  char portbuf[8] = "";
  if (port) snprintf(portbuf, sizeof portbuf, ":%u", (unsigned)port);
  size_t n = slen + 3 + hn + (v6 ? 2 : 0) + strlen(portbuf) + 1;
  char *o = malloc(n);
  if (!o) return NULL;
  snprintf(o, n, "%.*s://%s%.*s%s%s", (int)slen, s, v6 ? "[" : "", (int)hn, hs, v6 ? "]" : "",
           portbuf);
  gw_lower_in_place(o);
  return o;
}
