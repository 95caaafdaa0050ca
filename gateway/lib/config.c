/* config.c: gateway.ini loader and the INI reader shared with the policy
 * loader. See config.h for the contract.
 *
 * Parsing and validation are separate passes: the handler only records what
 * each key says (and complains about the value itself); cross-key rules run
 * once the whole file has been read, so that the order of sections in the
 * file never changes the outcome. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Error sink                                                          */

static void errors_vadd(gw_errors_t *e, const char *file, int line, const char *fmt,
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
  errors_vadd(e, file, line, fmt, ap);
  va_end(ap);
}

void gw_errors_free(gw_errors_t *e) {
  if (!e) return;
  for (size_t i = 0; i < e->n; i++) free(e->msgs[i]);
  free(e->msgs);
  e->msgs = NULL;
  e->n = e->cap = 0;
}

/* Values echoed in messages are cut so that a multi-kilobyte bad line does
 * not turn into a multi-kilobyte message. */
#define ECHO_MAX 60
#define VFMT "'%.*s%s'"
#define VARG(v) echo_len(v), (v), (strlen(v) > ECHO_MAX ? "..." : "")
static int echo_len(const char *v) {
  size_t n = strlen(v);
  return n > ECHO_MAX ? ECHO_MAX : (int)n;
}

/* ------------------------------------------------------------------ */
/* Small character helpers (ASCII only: the C locale must not matter)  */

static bool is_ws(int c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_alnum(int c) { return is_alpha(c) || is_digit(c); }
static bool is_hex(int c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static int to_lower(int c) { return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c; }
static bool is_tchar(int c) {
  return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}
/* RFC 3986 pchar minus pct-encoded: unreserved / sub-delims / ":" / "@" */
static bool is_pchar(int c) {
  return is_alnum(c) || (c != 0 && strchr("-._~!$&'()*+,;=:@", c) != NULL);
}
/* Tab is allowed: it separates words in lists like any other blank. */
static bool has_ctl(const char *s) {
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c < 0x20 && c != '\t') || c == 0x7f) return true;
  }
  return false;
}

static void lower_in_place(char *s) {
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

static int parse_uint_range(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
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

static char *dup_range(const char *s, size_t n) {
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
    if (!is_alnum(c) && c != '-' && c != '.' && c != '_') return false;
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
    if (c != '/' && !is_pchar(c)) return -1;
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
  u.host = dup_range(hs, hn);
  u.path = dup_range(path, plen);
  char portbuf[8] = "";
  if (port != defport) snprintf(portbuf, sizeof portbuf, ":%u", (unsigned)port);
  size_t authlen = hn + (v6 ? 2 : 0) + strlen(portbuf);
  u.authority = malloc(authlen + 1);
  if (!u.host || !u.path || !u.authority) {
    config_url_free(&u);
    return -1;
  }
  lower_in_place(u.host);
  snprintf(u.authority, authlen + 1, "%s%s%s%s", v6 ? "[" : "", u.host, v6 ? "]" : "",
           portbuf);
  *out = u;
  return 0;
}

size_t config_split_words(const char *s, char ***out) {
  *out = NULL;
  size_t n = 0;
  for (const char *p = s; *p;) {
    while (*p && is_ws((unsigned char)*p)) p++;
    if (!*p) break;
    n++;
    while (*p && !is_ws((unsigned char)*p)) p++;
  }
  char **w = calloc(n + 1, sizeof *w);
  if (!w) return 0;
  size_t i = 0;
  for (const char *p = s; *p;) {
    while (*p && is_ws((unsigned char)*p)) p++;
    if (!*p) break;
    const char *st = p;
    while (*p && !is_ws((unsigned char)*p)) p++;
    w[i] = dup_range(st, (size_t)(p - st));
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

/* ------------------------------------------------------------------ */
/* INI reader                                                          */

/* inih (Debian 12, r55) reads into a 200-byte stack buffer unless told
 * otherwise at run time, splits longer lines into several "lines" (the tail
 * of a comment can become a key), cuts section names at 49 bytes and cannot
 * report line numbers (built without INI_HANDLER_LINENO). So this reader
 * owns everything that is about lines: it reads each physical line whole,
 * counts lines, recognizes blank/comment/section lines itself, and hands
 * inih only "name = value" lines, each of which must fit inih's buffer in
 * one piece or is refused. inih is left with splitting name from value and
 * stripping blanks and inline comments. */

typedef struct {
  FILE *fp;
  const char *path;
  gw_errors_t *errs;
  gw_ini_handler h;
  void *user;
  char *section;     /* current section as written (never cut) */
  bool bad_section;  /* header was malformed: ignore its keys */
  const char *raw;   /* the key line being parsed by inih */
  int lineno;
  bool failed;
  bool expect_call, got_call;
  char line[GW_INI_MAX_LINE + 1];
} ini_state;

static void ini_err(ini_state *st, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ini_err(ini_state *st, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  errors_vadd(st->errs, st->path, line, fmt, ap);
  va_end(ap);
  st->failed = true;
}

/* A key line that inih did not turn into a handler call had no separator. */
static void ini_finish_line(ini_state *st) {
  if (st->expect_call && !st->got_call)
    ini_err(st, st->lineno, "expected 'name = value', '[section]' or a comment");
  st->expect_call = st->got_call = false;
}

static char *ini_blank(char *str, int num) {
  if (num >= 2) {
    str[0] = '\n';
    str[1] = '\0';
  } else if (num == 1) {
    str[0] = '\0';
  }
  return str;
}

static void ini_section_line(ini_state *st, const char *p) {
  /* Same end rule as inih: ']' or an inline ';' comment after a blank. */
  const char *q = p + 1;
  bool was_space = false;
  while (*q && *q != ']' && !(was_space && *q == ';')) {
    was_space = is_ws((unsigned char)*q);
    q++;
  }
  st->bad_section = true;
  if (*q != ']') {
    ini_err(st, st->lineno, "section header without closing ']'");
    return;
  }
  const char *rest = q + 1;
  while (is_ws((unsigned char)*rest)) rest++;
  if (*rest && *rest != ';' && *rest != '#') {
    ini_err(st, st->lineno, "unexpected text after section header: " VFMT, VARG(rest));
    return;
  }
  if (q == p + 1) {
    ini_err(st, st->lineno, "empty section name");
    return;
  }
  char *name = dup_range(p + 1, (size_t)(q - (p + 1)));
  if (!name) {
    ini_err(st, st->lineno, "out of memory");
    return;
  }
  free(st->section);
  st->section = name;
  st->bad_section = false;
  if (!st->h(st->user, st->section, NULL, NULL, st->lineno)) st->failed = true;
}

static char *ini_read(char *str, int num, void *stream) {
  ini_state *st = stream;
  ini_finish_line(st);

  size_t len = 0, total = 0;
  bool any = false, nul = false;
  int ch;
  while ((ch = getc(st->fp)) != EOF) {
    any = true;
    if (ch == '\n') break;
    if (ch == '\0') nul = true;
    if (len < GW_INI_MAX_LINE) st->line[len++] = (char)ch;
    if (total < SIZE_MAX) total++; /* the rest of a long line is counted, not kept */
  }
  if (ch == EOF && ferror(st->fp)) {
    ini_err(st, 0, "cannot read: %s", strerror(errno));
    return NULL;
  }
  if (!any) return NULL;
  st->lineno++;
  st->line[len] = '\0';

  if (total > GW_INI_MAX_LINE) {
    ini_err(st, st->lineno, "line too long (%zu bytes, max %d)", total, GW_INI_MAX_LINE);
    return ini_blank(str, num);
  }
  if (nul) {
    ini_err(st, st->lineno, "NUL byte in line");
    return ini_blank(str, num);
  }
  char *p = st->line;
  if (st->lineno == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
      (unsigned char)p[2] == 0xBF)
    p += 3;
  /* Stripping leading blanks here also keeps inih's multi-line continuation
   * (an indented line extends the previous value) from ever applying. */
  while (is_ws((unsigned char)*p)) p++;
  if (*p == '\0' || *p == ';' || *p == '#') return ini_blank(str, num);
  if (*p == '[') {
    ini_section_line(st, p);
    return ini_blank(str, num);
  }
  if (st->bad_section) return ini_blank(str, num);

  size_t plen = strlen(p);
  if (num < 2 || plen + 2 > (size_t)num) {
    /* Only when the inih build ignores the run-time buffer size. */
    ini_err(st, st->lineno, "line too long (%zu bytes, max %d)", total, num < 2 ? 0 : num - 2);
    return ini_blank(str, num);
  }
  memcpy(str, p, plen);
  str[plen] = '\n';
  str[plen + 1] = '\0';
  st->raw = p;
  st->expect_call = true;
  st->got_call = false;
  return str;
}

static int ini_cb(void *user, const char *section, const char *name, const char *value) {
  ini_state *st = user;
  (void)section; /* inih's copy may be cut; st->section is authoritative */
  if (!st->expect_call || st->got_call) {
    ini_err(st, st->lineno, "unexpected line continuation");
    return 1;
  }
  st->got_call = true;
  if (!name || !value) {
    ini_err(st, st->lineno, "expected 'name = value'");
    return 1;
  }
  /* inih also splits at ':' (configparser style); "listen 1.2.3.4:80" with a
   * forgotten '=' must not become key "listen 1.2.3.4". */
  const char *sep = st->raw ? strpbrk(st->raw, "=:") : NULL;
  if (sep && *sep == ':') {
    ini_err(st, st->lineno, "expected '=' after the key name");
    return 1;
  }
  if (name[0] == '\0') {
    ini_err(st, st->lineno, "missing key name before '='");
    return 1;
  }
  if (!st->h(st->user, st->section, name, value, st->lineno)) st->failed = true;
  return 1;
}

/* inih's knobs are process-wide variables; set all of them every time so
 * that nothing else in the process can change how our files are read. */
static char ini_inline_prefixes[] = ";";
static char ini_start_prefixes[] = ";#";
static void ini_configure(void) {
  ini_use_stack = false;
  ini_initial_alloc = GW_INI_MAX_LINE + 3;
  ini_max_line = GW_INI_MAX_LINE + 3;
  ini_allow_realloc = false;
  ini_allow_multiline = false;
  ini_allow_bom = false;
  ini_allow_inline_comments = true;
  ini_inline_comment_prefixes = ini_inline_prefixes;
  ini_start_comment_prefixes = ini_start_prefixes;
  ini_stop_on_first_error = false;
  ini_allow_no_value = false;
}

int config_ini_parse(const char *path, gw_ini_handler h, void *user, gw_errors_t *errs) {
  FILE *fp = fopen(path, "re");
  if (!fp) {
    gw_errors_add(errs, path, 0, "cannot open: %s", strerror(errno));
    return -1;
  }
  ini_state *st = calloc(1, sizeof *st);
  char *sec = calloc(1, 1);
  if (!st || !sec) {
    free(st);
    free(sec);
    fclose(fp);
    gw_errors_add(errs, path, 0, "out of memory");
    return -1;
  }
  st->fp = fp;
  st->path = path;
  st->errs = errs;
  st->h = h;
  st->user = user;
  st->section = sec;

  ini_configure();
  int r = ini_parse_stream(ini_read, st, ini_cb, st);
  ini_finish_line(st);
  if (r == -2)
    ini_err(st, 0, "out of memory");
  else if (r != 0 && !st->failed)
    ini_err(st, r > 0 ? r : 0, "malformed line");

  int rc = st->failed ? -1 : 0;
  fclose(fp);
  free(st->section);
  free(st);
  return rc;
}

/* ------------------------------------------------------------------ */
/* gateway.ini                                                         */

enum sec_kind {
  SEC_NONE,
  SEC_IGNORE,
  SEC_SERVER,
  SEC_RESOURCE,
  SEC_ISSUER,
  SEC_UPSTREAM,
  SEC_POLICY,
  SEC_FORWARD,
  SEC_CORS,
  SEC_ADMIN,
  SEC_LOG,
  SEC_M2M,
  SEC_TLS
};

enum {
  K_SRV_LISTEN,
  K_SRV_TLS_LISTEN,
  K_SRV_TLS_CERT,
  K_SRV_TLS_KEY,
  K_SRV_WORKERS,
  K_SRV_PUBLIC_URL,
  K_SRV_MAX_HEADER_BYTES,
  K_SRV_HEADER_TIMEOUT,
  K_SRV_IDLE_TIMEOUT,
  K_SRV_DRAIN_TIMEOUT,
  K_SRV_MAX_HEADERS,
  K_SRV_MAX_CONNECTIONS,
  K_SRV_TLS_CIPHERS,
  K_SRV_TLS_TICKET_ROTATE,
  K_SRV_N
};
static const char *const server_keys[K_SRV_N] = {
    [K_SRV_LISTEN] = "listen",
    [K_SRV_TLS_LISTEN] = "tls_listen",
    [K_SRV_TLS_CERT] = "tls_cert",
    [K_SRV_TLS_KEY] = "tls_key",
    [K_SRV_TLS_CIPHERS] = "tls_ciphers",
    [K_SRV_TLS_TICKET_ROTATE] = "tls_ticket_rotate",
    [K_SRV_WORKERS] = "workers",
    [K_SRV_PUBLIC_URL] = "public_url",
    [K_SRV_MAX_HEADER_BYTES] = "max_header_bytes",
    [K_SRV_HEADER_TIMEOUT] = "header_timeout",
    [K_SRV_IDLE_TIMEOUT] = "idle_timeout",
    [K_SRV_DRAIN_TIMEOUT] = "drain_timeout",
    [K_SRV_MAX_HEADERS] = "max_headers",
    [K_SRV_MAX_CONNECTIONS] = "max_connections",
};

enum { K_RES_IDENTIFIER, K_RES_AUTH_SERVERS, K_RES_SCOPES, K_RES_DOC, K_RES_NAME, K_RES_N };
static const char *const resource_keys[K_RES_N] = {
    [K_RES_IDENTIFIER] = "identifier",
    [K_RES_AUTH_SERVERS] = "authorization_servers",
    [K_RES_SCOPES] = "scopes_supported",
    [K_RES_DOC] = "documentation",
    [K_RES_NAME] = "resource_name",
};

enum {
  K_ISS_ISS,
  K_ISS_JWKS_URI,
  K_ISS_JWKS_FILE,
  K_ISS_ALGORITHMS,
  K_ISS_AUDIENCE,
  K_ISS_LEEWAY,
  K_ISS_REFRESH,
  K_ISS_REQUIRE_TYP,
  K_ISS_CA_FILE,
  K_ISS_N
};
static const char *const issuer_keys[K_ISS_N] = {
    [K_ISS_ISS] = "iss",
    [K_ISS_JWKS_URI] = "jwks_uri",
    [K_ISS_JWKS_FILE] = "jwks_file",
    [K_ISS_ALGORITHMS] = "algorithms",
    [K_ISS_AUDIENCE] = "audience",
    [K_ISS_LEEWAY] = "leeway",
    [K_ISS_REFRESH] = "refresh_interval",
    [K_ISS_REQUIRE_TYP] = "require_typ",
    [K_ISS_CA_FILE] = "ca_file",
};

enum {
  K_UP_PREFIX,
  K_UP_URL,
  K_UP_CONNECT_TIMEOUT,
  K_UP_RESPONSE_TIMEOUT,
  K_UP_STRIP_PREFIX,
  K_UP_HOST,
  K_UP_MAX_BODY,
  K_UP_CA_FILE,
  K_UP_CLIENT_CERT,
  K_UP_CLIENT_KEY,
  K_UP_RESOURCE,
  K_UP_EXCLUSIVE,
  K_UP_POOL_SIZE,
  K_UP_N
};
static const char *const upstream_keys[K_UP_N] = {
    [K_UP_PREFIX] = "prefix",
    [K_UP_URL] = "url",
    [K_UP_CONNECT_TIMEOUT] = "connect_timeout",
    [K_UP_RESPONSE_TIMEOUT] = "response_timeout",
    [K_UP_STRIP_PREFIX] = "strip_prefix",
    [K_UP_HOST] = "host",
    [K_UP_MAX_BODY] = "max_body",
    [K_UP_CA_FILE] = "ca_file",
    [K_UP_CLIENT_CERT] = "client_cert",
    [K_UP_CLIENT_KEY] = "client_key",
    [K_UP_RESOURCE] = "resource",
    [K_UP_EXCLUSIVE] = "exclusive_audience",
    [K_UP_POOL_SIZE] = "pool_size",
};

enum { K_POL_FILE, K_POL_N };
static const char *const policy_keys[K_POL_N] = {[K_POL_FILE] = "file"};
enum { K_CORS_ORIGINS, K_CORS_N };
static const char *const cors_keys[K_CORS_N] = {[K_CORS_ORIGINS] = "allow_origins"};
enum { K_ADM_LISTEN, K_ADM_N };
static const char *const admin_keys[K_ADM_N] = {[K_ADM_LISTEN] = "listen"};
enum { K_LOG_LEVEL, K_LOG_ACCESS, K_LOG_N };
static const char *const log_keys[K_LOG_N] = {[K_LOG_LEVEL] = "level", [K_LOG_ACCESS] = "access"};
enum {
  K_M2M_ENABLE,
  K_M2M_ISSUER,
  K_M2M_SIGNING_KEY,
  K_M2M_KID,
  K_M2M_LIFETIME,
  K_M2M_AUDIENCE,
  K_M2M_CLIENTS,
  K_M2M_JWKS_PATH,
  K_M2M_TOKEN_PATH,
  K_M2M_MAX_FAILURES,
  K_M2M_LOCKOUT,
  K_M2M_N
};
static const char *const m2m_keys[K_M2M_N] = {
    [K_M2M_ENABLE] = "enable",
    [K_M2M_ISSUER] = "issuer",
    [K_M2M_SIGNING_KEY] = "signing_key",
    [K_M2M_KID] = "kid",
    [K_M2M_LIFETIME] = "lifetime",
    [K_M2M_AUDIENCE] = "audience",
    [K_M2M_CLIENTS] = "clients",
    [K_M2M_JWKS_PATH] = "jwks_path",
    [K_M2M_TOKEN_PATH] = "token_path",
    [K_M2M_MAX_FAILURES] = "max_failures",
    [K_M2M_LOCKOUT] = "lockout",
};

enum { K_TLS_SERVER_NAMES, K_TLS_CERT, K_TLS_KEY, K_TLS_N };
static const char *const tlscert_keys[K_TLS_N] = {
    [K_TLS_SERVER_NAMES] = "server_names",
    [K_TLS_CERT] = "cert",
    [K_TLS_KEY] = "key",
};

#define MAX_KEYS 16
typedef struct {
  int line;               /* section header line; 0 = section absent */
  int key_line[MAX_KEYS]; /* first line of each key; 0 = not given */
} sec_meta;

typedef struct {
  gw_config_t *cfg;
  gw_errors_t *errs;
  const char *file;
  int nerr;
  bool dir_relative; /* path has a directory part to prepend */

  enum sec_kind cur;
  size_t cur_idx;

  sec_meta server, resource, policy, forward, cors, admin, log;
  sec_meta m2m;
  sec_meta *issuer_meta, *upstream_meta, *tls_meta; /* parallel to cfg->issuers/upstreams/tls_certs */
  int listen_line[GW_MAX_LISTEN], tls_listen_line[GW_MAX_LISTEN];
  int *forward_line; /* parallel to cfg->forward */
} load_ctx;

static void cerr(load_ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cerr(load_ctx *c, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  errors_vadd(c->errs, c->file, line, fmt, ap);
  va_end(ap);
  c->nerr++;
}

static char *cstrdup(load_ctx *c, int line, const char *s) {
  char *d = strdup(s);
  if (!d) cerr(c, line, "out of memory");
  return d;
}

static char *resolve_path(load_ctx *c, int line, const char *rel) {
  if (rel[0] == '/' || !c->dir_relative) return cstrdup(c, line, rel);
  const char *dir = c->cfg->dir;
  size_t dl = strlen(dir);
  bool slash = dl > 0 && dir[dl - 1] == '/';
  size_t n = dl + (slash ? 0 : 1) + strlen(rel) + 1;
  char *p = malloc(n);
  if (!p) {
    cerr(c, line, "out of memory");
    return NULL;
  }
  snprintf(p, n, "%s%s%s", dir, slash ? "" : "/", rel);
  return p;
}

static int key_index(const char *const *tab, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(tab[i], name) == 0) return (int)i;
  return -1;
}

static bool valid_section_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return false;
  for (; *s; s++)
    if (!is_alnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return false;
  return true;
}

/* Appends a zeroed element for [KIND:NAME] (and its parallel sec_meta) to
 * *arr; NULL after reporting a duplicate name or running out of memory.
 * Every named section type has `char *name` as its first member, which is
 * what lets one function serve all their arrays. */
static void *named_add(load_ctx *c, const char *section, const char *name, int line, void **arr,
                       size_t *n, size_t elem, sec_meta **meta) {
  char *base = *arr;
  for (size_t i = 0; i < *n; i++) {
    if (strcmp(*(char **)(void *)(base + i * elem), name) == 0) {
      cerr(c, line, "duplicate section [%s] (first at line %d)", section, (*meta)[i].line);
      return NULL;
    }
  }
  char *na = realloc(*arr, (*n + 1) * elem);
  if (na) *arr = na;
  sec_meta *nm = realloc(*meta, (*n + 1) * sizeof *nm);
  if (nm) *meta = nm;
  char *nd = strdup(name);
  if (!na || !nm || !nd) {
    free(nd);
    cerr(c, line, "out of memory");
    return NULL;
  }
  void *e = na + *n * elem;
  memset(e, 0, elem);
  *(char **)e = nd;
  memset(&nm[*n], 0, sizeof *nm);
  nm[*n].line = line;
  c->cur_idx = (*n)++;
  return e;
}

static int on_section(load_ctx *c, const char *section, int line) {
  static const struct {
    const char *name;
    enum sec_kind kind;
  } singles[] = {
      {"server", SEC_SERVER}, {"resource", SEC_RESOURCE}, {"policy", SEC_POLICY},
      {"forward", SEC_FORWARD}, {"cors", SEC_CORS},      {"admin", SEC_ADMIN},
      {"log", SEC_LOG},       {"m2m", SEC_M2M},
  };
  gw_config_t *cfg = c->cfg;
  c->cur = SEC_IGNORE;

  for (size_t i = 0; i < sizeof singles / sizeof *singles; i++) {
    if (strcmp(section, singles[i].name) != 0) continue;
    sec_meta *m = singles[i].kind == SEC_SERVER     ? &c->server
                  : singles[i].kind == SEC_RESOURCE ? &c->resource
                  : singles[i].kind == SEC_POLICY   ? &c->policy
                  : singles[i].kind == SEC_FORWARD  ? &c->forward
                  : singles[i].kind == SEC_CORS     ? &c->cors
                  : singles[i].kind == SEC_ADMIN    ? &c->admin
                  : singles[i].kind == SEC_M2M      ? &c->m2m
                                                    : &c->log;
    if (m->line) {
      cerr(c, line, "duplicate section [%s] (first at line %d)", section, m->line);
      return 0;
    }
    m->line = line;
    c->cur = singles[i].kind;
    return 1;
  }

  static const struct {
    const char *kind;
    enum sec_kind sec;
  } named[] = {{"issuer", SEC_ISSUER}, {"upstream", SEC_UPSTREAM}, {"tls", SEC_TLS}};
  size_t ki = 0;
  for (; ki < sizeof named / sizeof *named; ki++) {
    size_t kl = strlen(named[ki].kind);
    if (strncmp(section, named[ki].kind, kl) == 0 && (section[kl] == ':' || !section[kl])) break;
  }
  if (ki == sizeof named / sizeof *named) {
    cerr(c, line, "unknown section [%.*s%s]", VARG(section));
    return 0;
  }
  const char *kind = named[ki].kind;
  const char *name = strchr(section, ':');
  if (!name) {
    cerr(c, line, "section [%s] needs a name: [%s:NAME]", section, kind);
    return 0;
  }
  name++;
  if (!valid_section_name(name)) {
    cerr(c, line,
         "invalid %s name " VFMT " (1-64 characters from A-Z a-z 0-9 '-' '_' '.')", kind,
         VARG(name));
    return 0;
  }

  switch (named[ki].sec) {
  case SEC_ISSUER: {
    gw_issuer_cfg_t *is = named_add(c, section, name, line, (void **)&cfg->issuers,
                                    &cfg->nissuers, sizeof *is, &c->issuer_meta);
    if (!is) return 0;
    is->line = line;
    is->leeway_ms = 30 * 1000;
    is->refresh_interval_ms = 5 * 60 * 1000;
    break;
  }
  case SEC_UPSTREAM: {
    gw_upstream_cfg_t *u = named_add(c, section, name, line, (void **)&cfg->upstreams,
                                     &cfg->nupstreams, sizeof *u, &c->upstream_meta);
    if (!u) return 0;
    u->line = line;
    u->connect_timeout_ms = 2 * 1000;
    u->response_timeout_ms = 30 * 1000;
    u->host_mode = GW_HOST_PRESERVE;
    u->pool_size = 64;
    break;
  }
  default: {
    gw_tls_cert_cfg_t *t = named_add(c, section, name, line, (void **)&cfg->tls_certs,
                                     &cfg->ntls_certs, sizeof *t, &c->tls_meta);
    if (!t) return 0;
    t->line = line;
    break;
  }
  }
  c->cur = named[ki].sec;
  return 1;
}

/* --- per-key value checks; each reports its own error and returns 0 --- */

static int want_url(load_ctx *c, int line, const char *key, const char *v) {
  gw_url_t u;
  if (config_parse_url(v, &u) != 0) {
    cerr(c, line,
         "%s: invalid URL " VFMT
         " (expected http:// or https://, a host, optional port and path; no user info, "
         "query or fragment)",
         key, VARG(v));
    return 0;
  }
  config_url_free(&u);
  return 1;
}

static int want_duration(load_ctx *c, int line, const char *key, const char *v,
                         uint64_t min_ms, uint64_t *out) {
  uint64_t ms;
  if (config_parse_duration_ms(v, &ms) != 0) {
    cerr(c, line, "%s: invalid duration " VFMT " (expected e.g. 500ms, 30s, 5m, 1h)", key,
         VARG(v));
    return 0;
  }
  if (ms < min_ms) {
    cerr(c, line, "%s: must be at least %" PRIu64 "ms, got " VFMT, key, min_ms, VARG(v));
    return 0;
  }
  *out = ms;
  return 1;
}

static int want_uint(load_ctx *c, int line, const char *key, const char *v, uint64_t min,
                     uint64_t max, uint64_t *out) {
  if (parse_uint_range(v, min, max, out) != 0) {
    cerr(c, line, "%s: expected a whole number from %" PRIu64 " to %" PRIu64 ", got " VFMT,
         key, min, max, VARG(v));
    return 0;
  }
  return 1;
}

static int want_bool(load_ctx *c, int line, const char *key, const char *v, int *out) {
  if (config_parse_bool(v, out) != 0) {
    cerr(c, line, "%s: expected yes/no, true/false, on/off or 1/0, got " VFMT, key, VARG(v));
    return 0;
  }
  return 1;
}

static int want_listen(load_ctx *c, int line, const char *key, const char *v, gw_listen_t *out) {
  if (config_parse_listen(v, out) != 0) {
    cerr(c, line,
         "%s: invalid address " VFMT
         " (expected IPV4:PORT or [IPV6]:PORT with a numeric address and port 1-65535)",
         key, VARG(v));
    return 0;
  }
  return 1;
}

static bool valid_scope_token(const char *s) {
  if (!*s) return false;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (!(ch == 0x21 || (ch >= 0x23 && ch <= 0x5B) || (ch >= 0x5D && ch <= 0x7E))) return false;
  }
  return true;
}

static size_t count_words_dup(char **w, size_t n, size_t *dup_at, bool nocase) {
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < i; j++)
      if (nocase ? strcasecmp(w[i], w[j]) == 0 : strcmp(w[i], w[j]) == 0) {
        *dup_at = i;
        return 1;
      }
  return 0;
}

static char **split_or_oom(load_ctx *c, int line, const char *v, size_t *n) {
  char **w;
  *n = config_split_words(v, &w);
  if (!w) cerr(c, line, "out of memory");
  return w;
}

static void set_server(load_ctx *c, int k, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  uint64_t u;
  switch (k) {
  case K_SRV_LISTEN:
  case K_SRV_TLS_LISTEN: {
    bool tls = k == K_SRV_TLS_LISTEN;
    size_t *n = tls ? &cfg->ntls_listen : &cfg->nlisten;
    if (*n == GW_MAX_LISTEN) {
      cerr(c, line, "%s: too many addresses (max %d)", server_keys[k], GW_MAX_LISTEN);
      return;
    }
    gw_listen_t *arr = tls ? cfg->tls_listen : cfg->listen;
    if (!want_listen(c, line, server_keys[k], v, &arr[*n])) return;
    (tls ? c->tls_listen_line : c->listen_line)[*n] = line;
    (*n)++;
    return;
  }
  case K_SRV_TLS_CERT:
    cfg->tls_cert = resolve_path(c, line, v);
    return;
  case K_SRV_TLS_KEY:
    cfg->tls_key = resolve_path(c, line, v);
    return;
  case K_SRV_TLS_CIPHERS:
    /* OpenSSL judges the list when the TLS context is built (a bad one is
     * reported at this line then). */
    cfg->tls_ciphers = cstrdup(c, line, v);
    return;
  case K_SRV_TLS_TICKET_ROTATE:
    if (want_duration(c, line, "tls_ticket_rotate", v, 1000, &u)) {
      if (u > 24ull * 3600 * 1000 || u % 1000)
        cerr(c, line, "tls_ticket_rotate: expected whole seconds from 1s to 24h, got " VFMT,
             VARG(v));
      else
        cfg->tls_ticket_rotate_ms = u;
    }
    return;
  case K_SRV_WORKERS:
    if (want_uint(c, line, "workers", v, 0, 256, &u)) cfg->workers = (unsigned)u;
    return;
  case K_SRV_PUBLIC_URL: {
    if (!want_url(c, line, "public_url", v)) return;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/') n--;
    cfg->public_url = dup_range(v, n);
    if (!cfg->public_url) cerr(c, line, "out of memory");
    return;
  }
  case K_SRV_MAX_HEADER_BYTES:
    if (config_parse_size(v, &u) != 0 || u < 1024 || u > 1024 * 1024)
      cerr(c, line, "max_header_bytes: expected a size from 1k to 1m, got " VFMT, VARG(v));
    else
      cfg->max_header_bytes = (size_t)u;
    return;
  case K_SRV_HEADER_TIMEOUT:
    want_duration(c, line, "header_timeout", v, 1, &cfg->header_timeout_ms);
    return;
  case K_SRV_IDLE_TIMEOUT:
    want_duration(c, line, "idle_timeout", v, 1, &cfg->idle_timeout_ms);
    return;
  case K_SRV_DRAIN_TIMEOUT:
    want_duration(c, line, "drain_timeout", v, 0, &cfg->drain_timeout_ms);
    return;
  case K_SRV_MAX_HEADERS:
    if (want_uint(c, line, "max_headers", v, 1, 10000, &u)) cfg->max_headers = (unsigned)u;
    return;
  case K_SRV_MAX_CONNECTIONS:
    if (want_uint(c, line, "max_connections", v, 1, 1000000, &u))
      cfg->max_connections = (unsigned)u;
    return;
  }
}

static void set_resource(load_ctx *c, int k, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  switch (k) {
  case K_RES_IDENTIFIER:
    if (want_url(c, line, "identifier", v)) cfg->resource_identifier = cstrdup(c, line, v);
    return;
  case K_RES_DOC:
    if (want_url(c, line, "documentation", v)) cfg->resource_documentation = cstrdup(c, line, v);
    return;
  case K_RES_NAME:
    cfg->resource_name = cstrdup(c, line, v);
    return;
  case K_RES_AUTH_SERVERS: {
    size_t n;
    char **w = split_or_oom(c, line, v, &n);
    if (!w) return;
    bool ok = true;
    for (size_t i = 0; i < n; i++) ok = want_url(c, line, "authorization_servers", w[i]) && ok;
    size_t d;
    if (ok && count_words_dup(w, n, &d, false)) {
      cerr(c, line, "authorization_servers: " VFMT " listed twice", VARG(w[d]));
      ok = false;
    }
    if (!ok) {
      config_free_words(w);
      return;
    }
    cfg->authorization_servers = w;
    cfg->nauthorization_servers = n;
    return;
  }
  case K_RES_SCOPES: {
    size_t n;
    char **w = split_or_oom(c, line, v, &n);
    if (!w) return;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
      if (!valid_scope_token(w[i])) {
        cerr(c, line, "scopes_supported: invalid scope " VFMT " (RFC 6749 scope-token)",
             VARG(w[i]));
        ok = false;
      }
    }
    size_t d;
    if (ok && count_words_dup(w, n, &d, false)) {
      cerr(c, line, "scopes_supported: " VFMT " listed twice", VARG(w[d]));
      ok = false;
    }
    if (!ok) {
      config_free_words(w);
      return;
    }
    cfg->scopes_supported = w;
    cfg->nscopes_supported = n;
    return;
  }
  }
}

static const char *const known_algs[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                         "PS512", "ES256", "ES384", "ES512"};

static void set_issuer(load_ctx *c, int k, const char *v, int line) {
  gw_issuer_cfg_t *is = &c->cfg->issuers[c->cur_idx];
  switch (k) {
  case K_ISS_ISS:
    if (want_url(c, line, "iss", v)) is->iss = cstrdup(c, line, v);
    return;
  case K_ISS_JWKS_URI:
    if (want_url(c, line, "jwks_uri", v)) is->jwks_uri = cstrdup(c, line, v);
    return;
  case K_ISS_JWKS_FILE:
    is->jwks_file = resolve_path(c, line, v);
    return;
  case K_ISS_CA_FILE:
    is->ca_file = resolve_path(c, line, v);
    return;
  case K_ISS_AUDIENCE:
    for (const char *p = v; *p; p++) {
      if (is_ws((unsigned char)*p)) {
        cerr(c, line, "audience: one value expected, got " VFMT, VARG(v));
        return;
      }
    }
    is->audience = cstrdup(c, line, v);
    return;
  case K_ISS_LEEWAY:
    want_duration(c, line, "leeway", v, 0, &is->leeway_ms);
    return;
  case K_ISS_REFRESH:
    want_duration(c, line, "refresh_interval", v, 1000, &is->refresh_interval_ms);
    return;
  case K_ISS_REQUIRE_TYP:
    if (strcasecmp(v, "at+jwt") != 0)
      cerr(c, line, "require_typ: only 'at+jwt' is supported, got " VFMT, VARG(v));
    else
      is->require_typ = cstrdup(c, line, "at+jwt");
    return;
  case K_ISS_ALGORITHMS: {
    size_t n;
    char **w = split_or_oom(c, line, v, &n);
    if (!w) return;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
      bool known = false;
      for (size_t j = 0; j < sizeof known_algs / sizeof *known_algs; j++)
        if (strcmp(w[i], known_algs[j]) == 0) known = true;
      if (known) continue;
      ok = false;
      if (strcasecmp(w[i], "none") == 0)
        cerr(c, line, "algorithms: 'none' is never accepted (tokens must be signed)");
      else if (strcasecmp(w[i], "HS256") == 0 || strcasecmp(w[i], "HS384") == 0 ||
               strcasecmp(w[i], "HS512") == 0)
        cerr(c, line,
             "algorithms: " VFMT " is never accepted with JWKS keys (a public key would "
             "serve as an HMAC secret)",
             VARG(w[i]));
      else
        cerr(c, line,
             "algorithms: unknown algorithm " VFMT
             " (allowed: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512)",
             VARG(w[i]));
    }
    size_t d;
    if (ok && count_words_dup(w, n, &d, false)) {
      cerr(c, line, "algorithms: " VFMT " listed twice", VARG(w[d]));
      ok = false;
    }
    if (!ok) {
      config_free_words(w);
      return;
    }
    is->algorithms = w;
    is->nalgorithms = n;
    return;
  }
  }
}

/* NULL when acceptable, else why not. */
static const char *prefix_problem(const char *p) {
  if (p[0] != '/') return "must start with '/'";
  size_t n = strlen(p);
  if (n == 1) return "must not be '/' alone";
  if (p[n - 1] == '/') return "must not end with '/'";
  for (const char *q = p; *q; q++) {
    unsigned char ch = (unsigned char)*q;
    if (ch <= 0x20 || ch >= 0x7f) return "must not contain whitespace, control or non-ASCII characters";
    if (ch == '?' || ch == '#') return "must not contain '?' or '#'";
    if (ch == '%') return "must not contain '%' (write the decoded path)";
    if (ch != '/' && !is_pchar(ch)) return "contains a character not allowed in a path";
  }
  for (const char *q = p; *q;) {
    const char *s = q + 1;
    const char *e = strchr(s, '/');
    size_t sl = e ? (size_t)(e - s) : strlen(s);
    if (sl == 0) return "must not contain '//'";
    if ((sl == 1 && s[0] == '.') || (sl == 2 && s[0] == '.' && s[1] == '.'))
      return "must not contain '.' or '..' segments";
    q = s + sl;
  }
  return NULL;
}

static void set_upstream(load_ctx *c, int k, const char *v, int line) {
  gw_upstream_cfg_t *u = &c->cfg->upstreams[c->cur_idx];
  uint64_t n;
  switch (k) {
  case K_UP_PREFIX: {
    const char *why = prefix_problem(v);
    if (why) {
      cerr(c, line, "prefix " VFMT " %s", VARG(v), why);
      return;
    }
    u->prefix = cstrdup(c, line, v);
    if (u->prefix) u->prefix_len = strlen(u->prefix);
    return;
  }
  case K_UP_URL:
    if (config_parse_url(v, &u->url) != 0) {
      want_url(c, line, "url", v); /* reports */
      return;
    }
    u->url_text = cstrdup(c, line, v);
    return;
  case K_UP_CONNECT_TIMEOUT:
    want_duration(c, line, "connect_timeout", v, 1, &u->connect_timeout_ms);
    return;
  case K_UP_RESPONSE_TIMEOUT:
    want_duration(c, line, "response_timeout", v, 1, &u->response_timeout_ms);
    return;
  case K_UP_STRIP_PREFIX:
    want_bool(c, line, "strip_prefix", v, &u->strip_prefix);
    return;
  case K_UP_EXCLUSIVE:
    want_bool(c, line, "exclusive_audience", v, &u->exclusive_audience);
    return;
  case K_UP_HOST:
    if (strcmp(v, "preserve") == 0)
      u->host_mode = GW_HOST_PRESERVE;
    else if (strcmp(v, "upstream") == 0)
      u->host_mode = GW_HOST_UPSTREAM;
    else
      cerr(c, line, "host: expected 'preserve' or 'upstream', got " VFMT, VARG(v));
    return;
  case K_UP_MAX_BODY:
    if (config_parse_size(v, &u->max_body) != 0)
      cerr(c, line, "max_body: invalid size " VFMT " (expected e.g. 0, 65536, 16k, 1m, 1g)",
           VARG(v));
    return;
  case K_UP_CA_FILE:
    u->ca_file = resolve_path(c, line, v);
    return;
  case K_UP_CLIENT_CERT:
    u->client_cert = resolve_path(c, line, v);
    return;
  case K_UP_CLIENT_KEY:
    u->client_key = resolve_path(c, line, v);
    return;
  case K_UP_RESOURCE:
    if (want_url(c, line, "resource", v)) u->resource = cstrdup(c, line, v);
    return;
  case K_UP_POOL_SIZE:
    if (want_uint(c, line, "pool_size", v, 0, 100000, &n)) u->pool_size = (unsigned)n;
    return;
  }
}

/* Header names a claim may not be forwarded in: framing, routing, auth and
 * hop-by-hop headers, whose meaning to the upstream the gateway owns. */
static bool forbidden_forward_header(const char *h) {
  static const char *const deny[] = {
      "host",          "authorization",     "content-length", "transfer-encoding",
      "connection",    "keep-alive",        "proxy-connection", "proxy-authenticate",
      "proxy-authorization", "te",          "trailer",        "upgrade",
      "expect",        "forwarded",         "content-type",   "content-encoding",
      "cookie",
  };
  for (size_t i = 0; i < sizeof deny / sizeof *deny; i++)
    if (strcasecmp(h, deny[i]) == 0) return true;
  return strncasecmp(h, "x-forwarded-", 12) == 0;
}

static int on_forward_key(load_ctx *c, const char *name, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  if (strncmp(name, "header.", 7) != 0) {
    cerr(c, line, "unknown key " VFMT " in [forward] (expected header.NAME = claim)",
         VARG(name));
    return 0;
  }
  const char *h = name + 7;
  for (size_t i = 0; i < cfg->nforward; i++) {
    if (strcasecmp(cfg->forward[i].header, h) == 0) {
      cerr(c, line, "duplicate key " VFMT " in [forward] (first at line %d)", VARG(name),
           c->forward_line[i]);
      return 0;
    }
  }
  bool ok = true;
  if (!*h) {
    cerr(c, line, "[forward]: empty header name in " VFMT, VARG(name));
    ok = false;
  } else {
    for (const char *p = h; *p; p++) {
      if (!is_tchar((unsigned char)*p)) {
        cerr(c, line, "[forward]: " VFMT " is not a valid HTTP header name", VARG(h));
        ok = false;
        break;
      }
    }
    if (ok && forbidden_forward_header(h)) {
      cerr(c, line,
           "[forward]: header " VFMT
           " cannot carry a claim (framing, routing, auth, hop-by-hop or X-Forwarded-*)",
           VARG(h));
      ok = false;
    }
  }
  if (!*v) {
    cerr(c, line, "[forward]: empty claim name for " VFMT, VARG(name));
    ok = false;
  } else if (has_ctl(v) || strpbrk(v, " \t")) {
    cerr(c, line, "[forward]: invalid claim name " VFMT " (no blanks or control characters)",
         VARG(v));
    ok = false;
  }
  if (!ok) return 0;

  gw_forward_cfg_t *nf = realloc(cfg->forward, (cfg->nforward + 1) * sizeof *nf);
  if (nf) cfg->forward = nf;
  int *nl = realloc(c->forward_line, (cfg->nforward + 1) * sizeof *nl);
  if (nl) c->forward_line = nl;
  char *hd = strdup(h), *cd = strdup(v);
  if (!nf || !nl || !hd || !cd) {
    free(hd);
    free(cd);
    cerr(c, line, "out of memory");
    return 0;
  }
  cfg->forward[cfg->nforward].header = hd;
  cfg->forward[cfg->nforward].claim = cd;
  c->forward_line[cfg->nforward] = line;
  cfg->nforward++;
  return 1;
}

/* scheme://host[:port], normalized the way browsers serialize an Origin
 * (lower case, default port omitted) so that comparison can be exact. */
static char *parse_origin(const char *s) {
  const char *p = s;
  if (!is_alpha((unsigned char)*p)) return NULL;
  while (is_alnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.') p++;
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
  lower_in_place(o);
  return o;
}

static void set_cors(load_ctx *c, const char *v, int line) {
  size_t n;
  char **w = split_or_oom(c, line, v, &n);
  if (!w) return;
  bool ok = true;
  bool star = false;
  for (size_t i = 0; i < n; i++)
    if (strcmp(w[i], "*") == 0) star = true;
  if (star && n > 1) {
    cerr(c, line, "allow_origins: '*' must be the only value");
    ok = false;
  }
  for (size_t i = 0; ok && !star && i < n; i++) {
    char *o = parse_origin(w[i]);
    if (!o) {
      cerr(c, line,
           "allow_origins: invalid origin " VFMT " (expected scheme://host[:port], no path)",
           VARG(w[i]));
      ok = false;
      continue;
    }
    free(w[i]);
    w[i] = o;
  }
  size_t d;
  if (ok && count_words_dup(w, n, &d, false)) {
    cerr(c, line, "allow_origins: " VFMT " listed twice", VARG(w[d]));
    ok = false;
  }
  if (!ok) {
    config_free_words(w);
    return;
  }
  c->cfg->cors_origins = w;
  c->cfg->ncors_origins = n;
}

static void set_log(load_ctx *c, int k, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  if (k == K_LOG_LEVEL) {
    if (strcmp(v, "debug") == 0)
      cfg->log_level = GW_LOG_DEBUG;
    else if (strcmp(v, "info") == 0)
      cfg->log_level = GW_LOG_INFO;
    else if (strcmp(v, "warn") == 0)
      cfg->log_level = GW_LOG_WARN;
    else if (strcmp(v, "error") == 0)
      cfg->log_level = GW_LOG_ERROR;
    else
      cerr(c, line, "level: expected debug, info, warn or error, got " VFMT, VARG(v));
    return;
  }
  if (strcmp(v, "-") == 0)
    cfg->access_log = cstrdup(c, line, "-");
  else if (strcmp(v, "off") == 0)
    cfg->access_log = NULL;
  else
    cfg->access_log = resolve_path(c, line, v);
}

/* [m2m] paths are served by the gateway itself: absolute, canonical (the
 * same rules as an upstream prefix), so that they match a normalized path. */
static void set_m2m_path(load_ctx *c, int line, const char *key, const char *v, char **out) {
  const char *why = prefix_problem(v);
  if (why) {
    cerr(c, line, "%s " VFMT " %s", key, VARG(v), why);
    return;
  }
  if (strcmp(key, "jwks_path") == 0 && strncmp(v, "/.well-known/", 13) != 0) {
    cerr(c, line, "jwks_path " VFMT " must start with /.well-known/", VARG(v));
    return;
  }
  *out = cstrdup(c, line, v);
}

/* An SNI name as a client sends it: DNS labels of letters, digits and '-',
 * optionally "*." in front for any one label. Lower-cased in place. */
static bool valid_server_name(char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253) return false;
  lower_in_place(s);
  const char *p = s;
  if (p[0] == '*' && p[1] == '.') p += 2;
  size_t label = 0;
  for (char prev = '.'; *p; prev = *p++) {
    if (*p == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (is_alnum((unsigned char)*p) || (*p == '-' && label > 0)) {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return label > 0 && s[n - 1] != '-';
}

static void set_tls(load_ctx *c, int k, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  gw_tls_cert_cfg_t *t = &cfg->tls_certs[c->cur_idx];
  switch (k) {
  case K_TLS_SERVER_NAMES: {
    t->server_names = split_or_oom(c, line, v, &t->nserver_names);
    for (size_t i = 0; t->server_names && i < t->nserver_names; i++) {
      char *name = t->server_names[i];
      if (!valid_server_name(name)) {
        cerr(c, line, "server_names: invalid host name " VFMT " (DNS labels, optionally \"*.\" first)",
             VARG(name));
        continue;
      }
      for (size_t j = 0; j <= c->cur_idx; j++) {
        const gw_tls_cert_cfg_t *o = &cfg->tls_certs[j];
        size_t upto = j == c->cur_idx ? i : o->nserver_names;
        for (size_t q = 0; o->server_names && q < upto; q++)
          if (strcmp(o->server_names[q], name) == 0)
            cerr(c, line, "server_names: %s is already listed in [tls:%s]", name, o->name);
      }
    }
    return;
  }
  case K_TLS_CERT:
    t->cert = resolve_path(c, line, v);
    t->cert_line = line;
    return;
  default:
    t->key = resolve_path(c, line, v);
    t->key_line = line;
    return;
  }
}

static void set_m2m(load_ctx *c, int k, const char *v, int line) {
  gw_m2m_cfg_t *m = &c->cfg->m2m;
  uint64_t u;
  switch (k) {
  case K_M2M_ENABLE:
    want_bool(c, line, "enable", v, &m->enabled);
    return;
  case K_M2M_ISSUER:
    if (strlen(v) > GW_M2M_MAX_URL)
      cerr(c, line, "issuer: longer than %d bytes", GW_M2M_MAX_URL);
    else if (want_url(c, line, "issuer", v))
      m->issuer = cstrdup(c, line, v);
    return;
  case K_M2M_SIGNING_KEY:
    m->signing_key = resolve_path(c, line, v);
    m->signing_key_line = line;
    return;
  case K_M2M_KID:
    if (strlen(v) > 256) {
      cerr(c, line, "kid: longer than 256 bytes");
      return;
    }
    for (const char *p = v; *p; p++) {
      unsigned char ch = (unsigned char)*p;
      if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
        cerr(c, line, "kid " VFMT " must be printable ASCII without blanks, '\"' or '\\'",
             VARG(v));
        return;
      }
    }
    m->kid = cstrdup(c, line, v);
    return;
  case K_M2M_LIFETIME:
    if (config_parse_duration_ms(v, &u) != 0 || u < 60 * 1000 || u > 24 * 3600 * 1000 ||
        u % 1000 != 0)
      cerr(c, line, "lifetime: expected whole seconds from 1m to 24h, got " VFMT, VARG(v));
    else
      m->lifetime_ms = u;
    return;
  case K_M2M_AUDIENCE:
    if (strlen(v) > GW_M2M_MAX_URL) {
      cerr(c, line, "audience: longer than %d bytes", GW_M2M_MAX_URL);
      return;
    }
    for (const char *p = v; *p; p++) {
      if (is_ws((unsigned char)*p)) {
        cerr(c, line, "audience: one value expected, got " VFMT, VARG(v));
        return;
      }
    }
    m->audience = cstrdup(c, line, v);
    return;
  case K_M2M_CLIENTS:
    m->clients_file = resolve_path(c, line, v);
    m->clients_line = line;
    return;
  case K_M2M_JWKS_PATH:
    set_m2m_path(c, line, "jwks_path", v, &m->jwks_path);
    return;
  case K_M2M_TOKEN_PATH:
    set_m2m_path(c, line, "token_path", v, &m->token_path);
    return;
  case K_M2M_MAX_FAILURES:
    if (want_uint(c, line, "max_failures", v, 0, 1000, &u)) m->max_failures = (unsigned)u;
    return;
  case K_M2M_LOCKOUT:
    if (config_parse_duration_ms(v, &u) != 0 || u < 1000 || u > 24 * 3600 * 1000 ||
        u % 1000 != 0)
      cerr(c, line, "lockout: expected whole seconds from 1s to 24h, got " VFMT, VARG(v));
    else
      m->lockout_ms = u;
    return;
  }
}

static int on_key(load_ctx *c, const char *section, const char *name, const char *value,
                  int line) {
  if (c->cur == SEC_IGNORE) return 1; /* the section header was already reported */
  if (c->cur == SEC_NONE) {
    cerr(c, line, "key " VFMT " outside of any section", VARG(name));
    return 0;
  }
  if (has_ctl(value)) {
    cerr(c, line, "control character in the value of " VFMT, VARG(name));
    return 0;
  }
  if (c->cur == SEC_FORWARD) return on_forward_key(c, name, value, line);

  const char *const *tab;
  size_t n;
  sec_meta *m;
  switch (c->cur) {
  case SEC_SERVER: tab = server_keys, n = K_SRV_N, m = &c->server; break;
  case SEC_RESOURCE: tab = resource_keys, n = K_RES_N, m = &c->resource; break;
  case SEC_ISSUER: tab = issuer_keys, n = K_ISS_N, m = &c->issuer_meta[c->cur_idx]; break;
  case SEC_UPSTREAM: tab = upstream_keys, n = K_UP_N, m = &c->upstream_meta[c->cur_idx]; break;
  case SEC_POLICY: tab = policy_keys, n = K_POL_N, m = &c->policy; break;
  case SEC_CORS: tab = cors_keys, n = K_CORS_N, m = &c->cors; break;
  case SEC_ADMIN: tab = admin_keys, n = K_ADM_N, m = &c->admin; break;
  case SEC_LOG: tab = log_keys, n = K_LOG_N, m = &c->log; break;
  case SEC_M2M: tab = m2m_keys, n = K_M2M_N, m = &c->m2m; break;
  case SEC_TLS: tab = tlscert_keys, n = K_TLS_N, m = &c->tls_meta[c->cur_idx]; break;
  default: return 1;
  }
  int k = key_index(tab, n, name);
  if (k < 0) {
    cerr(c, line, "unknown key " VFMT " in [%s]", VARG(name), section);
    return 0;
  }
  bool multi = c->cur == SEC_SERVER && (k == K_SRV_LISTEN || k == K_SRV_TLS_LISTEN);
  if (m->key_line[k] && !multi) {
    cerr(c, line, "duplicate key '%s' in [%s] (first at line %d)", name, section,
         m->key_line[k]);
    return 0;
  }
  if (!m->key_line[k]) m->key_line[k] = line;
  if (value[0] == '\0') {
    cerr(c, line, "empty value for '%s' in [%s]", name, section);
    return 0;
  }

  int before = c->nerr;
  switch (c->cur) {
  case SEC_SERVER: set_server(c, k, value, line); break;
  case SEC_RESOURCE: set_resource(c, k, value, line); break;
  case SEC_ISSUER: set_issuer(c, k, value, line); break;
  case SEC_UPSTREAM: set_upstream(c, k, value, line); break;
  case SEC_POLICY: c->cfg->policy_file = resolve_path(c, line, value); break;
  case SEC_CORS: set_cors(c, value, line); break;
  case SEC_ADMIN: want_listen(c, line, "listen", value, &c->cfg->admin_listen); break;
  case SEC_LOG: set_log(c, k, value, line); break;
  case SEC_M2M: set_m2m(c, k, value, line); break;
  case SEC_TLS: set_tls(c, k, value, line); break;
  default: break;
  }
  return c->nerr == before;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value,
                       int line) {
  load_ctx *c = user;
  if (!name) return on_section(c, section, line);
  return on_key(c, section, name, value, line);
}

/* --- validation after the whole file was read --- */

static bool listen_same_port_family(const gw_listen_t *a, const gw_listen_t *b) {
  if (a->addr.ss_family != b->addr.ss_family) return false;
  if (a->addr.ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)&a->addr;
    const struct sockaddr_in *y = (const struct sockaddr_in *)&b->addr;
    return x->sin_port == y->sin_port;
  }
  const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->addr;
  const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->addr;
  return x->sin6_port == y->sin6_port;
}

/* Same socket, or one a wildcard of the other's family on the same port:
 * with SO_REUSEPORT both binds could succeed and split traffic silently. */
static bool listen_conflict(const gw_listen_t *a, const gw_listen_t *b) {
  if (!listen_same_port_family(a, b)) return false;
  if (a->addr.ss_family == AF_INET) {
    struct in_addr x = ((const struct sockaddr_in *)&a->addr)->sin_addr;
    struct in_addr y = ((const struct sockaddr_in *)&b->addr)->sin_addr;
    return x.s_addr == y.s_addr || x.s_addr == htonl(INADDR_ANY) ||
           y.s_addr == htonl(INADDR_ANY);
  }
  const struct in6_addr *x = &((const struct sockaddr_in6 *)&a->addr)->sin6_addr;
  const struct in6_addr *y = &((const struct sockaddr_in6 *)&b->addr)->sin6_addr;
  return memcmp(x, y, sizeof *x) == 0 || memcmp(x, &in6addr_any, sizeof *x) == 0 ||
         memcmp(y, &in6addr_any, sizeof *y) == 0;
}

static void validate_listeners(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  struct {
    const gw_listen_t *l;
    int line;
  } all[2 * GW_MAX_LISTEN + 1];
  size_t n = 0;
  for (size_t i = 0; i < cfg->nlisten; i++) {
    all[n].l = &cfg->listen[i];
    all[n++].line = c->listen_line[i];
  }
  for (size_t i = 0; i < cfg->ntls_listen; i++) {
    all[n].l = &cfg->tls_listen[i];
    all[n++].line = c->tls_listen_line[i];
  }
  if (cfg->admin_enabled) {
    int al = c->admin.key_line[K_ADM_LISTEN];
    all[n].l = &cfg->admin_listen;
    all[n++].line = al ? al : c->admin.line;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < i; j++) {
      if (!listen_conflict(all[i].l, all[j].l)) continue;
      int line = all[i].line ? all[i].line : all[j].line;
      if (all[j].line)
        cerr(c, line, "address %s conflicts with %s (line %d)", all[i].l->text, all[j].l->text,
             all[j].line);
      else
        cerr(c, line, "address %s conflicts with the default listen address %s",
             all[i].l->text, all[j].l->text);
      break;
    }
  }
}

static void validate_server(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  /* Default only when no listen was written: one that failed to parse has
   * been reported, and the load fails anyway. */
  if (cfg->nlisten == 0 && !c->server.key_line[K_SRV_LISTEN]) {
    config_parse_listen("127.0.0.1:8080", &cfg->listen[0]);
    cfg->nlisten = 1;
    c->listen_line[0] = 0;
  }
  int cert = c->server.key_line[K_SRV_TLS_CERT], key = c->server.key_line[K_SRV_TLS_KEY];
  int tlsl = c->server.key_line[K_SRV_TLS_LISTEN];
  cfg->tls_cert_line = cert;
  cfg->tls_key_line = key;
  cfg->tls_ciphers_line = c->server.key_line[K_SRV_TLS_CIPHERS];
  if (tlsl && (!cert || !key))
    cerr(c, tlsl, "tls_listen needs both tls_cert and tls_key in [server]");
  else if (!tlsl && c->server.key_line[K_SRV_TLS_TICKET_ROTATE])
    cerr(c, c->server.key_line[K_SRV_TLS_TICKET_ROTATE], "tls_ticket_rotate without tls_listen in [server]");
  else if (cert && !key)
    cerr(c, cert, "tls_cert without tls_key in [server]");
  else if (key && !cert)
    cerr(c, key, "tls_key without tls_cert in [server]");

  if (!cfg->tls_ticket_rotate_ms) cfg->tls_ticket_rotate_ms = 3600 * 1000;
  for (size_t i = 0; i < cfg->ntls_certs; i++) {
    const gw_tls_cert_cfg_t *t = &cfg->tls_certs[i];
    const sec_meta *m = &c->tls_meta[i];
    if (!tlsl)
      cerr(c, t->line, "[tls:%s] without tls_listen in [server]", t->name);
    for (int k = 0; k < K_TLS_N; k++)
      if (!m->key_line[k]) cerr(c, t->line, "[tls:%s] needs %s", t->name, tlscert_keys[k]);
  }

  if (c->admin.line) {
    cfg->admin_enabled = 1;
    if (!c->admin.key_line[K_ADM_LISTEN]) config_parse_listen("127.0.0.1:9901", &cfg->admin_listen);
  }
  validate_listeners(c);

  if (!cfg->public_url && !c->server.key_line[K_SRV_PUBLIC_URL]) {
    const char *base = cfg->resource_identifier;
    char buf[sizeof cfg->listen[0].text + 8];
    if (!base) {
      snprintf(buf, sizeof buf, "http://%s", cfg->listen[0].text);
      base = buf;
    }
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') n--;
    cfg->public_url = dup_range(base, n);
    if (!cfg->public_url) cerr(c, c->server.line, "out of memory");
  }
}

static void validate_resource(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  if (!cfg->authorization_servers && !c->resource.key_line[K_RES_AUTH_SERVERS]) {
    cfg->authorization_servers = calloc(1, sizeof *cfg->authorization_servers);
    if (!cfg->authorization_servers) cerr(c, c->resource.line, "out of memory");
  }
}

static void validate_issuers(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  for (size_t i = 0; i < cfg->nissuers; i++) {
    gw_issuer_cfg_t *is = &cfg->issuers[i];
    sec_meta *m = &c->issuer_meta[i];
    int uri = m->key_line[K_ISS_JWKS_URI], file = m->key_line[K_ISS_JWKS_FILE];
    if (!m->key_line[K_ISS_ISS]) cerr(c, is->line, "[issuer:%s] needs iss", is->name);
    if (!uri && !file)
      cerr(c, is->line, "[issuer:%s] needs jwks_uri or jwks_file", is->name);
    else if (uri && file)
      cerr(c, uri > file ? uri : file,
           "[issuer:%s]: jwks_uri and jwks_file are mutually exclusive", is->name);

    int ca = m->key_line[K_ISS_CA_FILE];
    if (ca && file && !uri)
      cerr(c, ca, "[issuer:%s]: ca_file only applies to an https:// jwks_uri", is->name);
    else if (ca && is->jwks_uri && strncasecmp(is->jwks_uri, "https://", 8) != 0)
      cerr(c, ca, "[issuer:%s]: ca_file only applies to an https:// jwks_uri", is->name);

    if (is->iss) {
      for (size_t j = 0; j < i; j++) {
        if (cfg->issuers[j].iss && strcmp(cfg->issuers[j].iss, is->iss) == 0) {
          cerr(c, m->key_line[K_ISS_ISS], "[issuer:%s]: iss " VFMT " is already used by [issuer:%s]",
               is->name, VARG(is->iss), cfg->issuers[j].name);
          break;
        }
      }
    }

    if (!is->algorithms && !m->key_line[K_ISS_ALGORITHMS]) {
      static const char *const defaults[] = {"RS256", "RS384", "RS512",
                                              "ES256", "ES384", "ES512"};
      size_t n = sizeof defaults / sizeof *defaults;
      is->algorithms = calloc(n + 1, sizeof *is->algorithms);
      if (!is->algorithms) {
        cerr(c, is->line, "out of memory");
      } else {
        for (size_t j = 0; j < n; j++) {
          is->algorithms[j] = strdup(defaults[j]);
          if (!is->algorithms[j]) {
            cerr(c, is->line, "out of memory");
            break;
          }
          is->nalgorithms = j + 1;
        }
      }
    }

    if (!is->audience && !m->key_line[K_ISS_AUDIENCE]) {
      if (cfg->resource_identifier)
        is->audience = cstrdup(c, is->line, cfg->resource_identifier);
      else if (!c->resource.key_line[K_RES_IDENTIFIER])
        cerr(c, is->line,
             "[issuer:%s] has no audience: set audience here or identifier in [resource]",
             is->name);
    }
  }
}

static void validate_upstreams(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  for (size_t i = 0; i < cfg->nupstreams; i++) {
    gw_upstream_cfg_t *u = &cfg->upstreams[i];
    sec_meta *m = &c->upstream_meta[i];
    if (!m->key_line[K_UP_PREFIX]) cerr(c, u->line, "[upstream:%s] needs prefix", u->name);
    if (!m->key_line[K_UP_URL]) cerr(c, u->line, "[upstream:%s] needs url", u->name);

    if (u->prefix) {
      for (size_t j = 0; j < i; j++) {
        if (cfg->upstreams[j].prefix && strcmp(cfg->upstreams[j].prefix, u->prefix) == 0) {
          cerr(c, m->key_line[K_UP_PREFIX],
               "[upstream:%s]: prefix '%s' is already used by [upstream:%s] (line %d)", u->name,
               u->prefix, cfg->upstreams[j].name, c->upstream_meta[j].key_line[K_UP_PREFIX]);
          break;
        }
      }
    }

    if (u->url_text && u->url.scheme != GW_SCHEME_HTTPS) {
      static const int tls_keys[] = {K_UP_CA_FILE, K_UP_CLIENT_CERT, K_UP_CLIENT_KEY};
      for (size_t j = 0; j < sizeof tls_keys / sizeof *tls_keys; j++) {
        int l = m->key_line[tls_keys[j]];
        if (l)
          cerr(c, l, "[upstream:%s]: %s only applies to an https:// url", u->name,
               upstream_keys[tls_keys[j]]);
      }
    }
    int cc = m->key_line[K_UP_CLIENT_CERT], ck = m->key_line[K_UP_CLIENT_KEY];
    if (cc && !ck)
      cerr(c, cc, "[upstream:%s]: client_cert without client_key", u->name);
    else if (ck && !cc)
      cerr(c, ck, "[upstream:%s]: client_key without client_cert", u->name);

    if (u->resource) {
      /* The path-suffixed metadata document lives at the resource's path;
       * without one it would collide with the root document. */
      gw_url_t r;
      int rl = m->key_line[K_UP_RESOURCE];
      if (config_parse_url(u->resource, &r) == 0) {
        if (r.path[0] == '\0')
          cerr(c, rl,
               "[upstream:%s]: resource " VFMT
               " needs a path (its metadata is served at "
               "/.well-known/oauth-protected-resource<path>)",
               u->name, VARG(u->resource));
        config_url_free(&r);
      }
      for (size_t j = 0; j < i; j++) {
        if (cfg->upstreams[j].resource && strcmp(cfg->upstreams[j].resource, u->resource) == 0) {
          cerr(c, rl, "[upstream:%s]: resource " VFMT " is already used by [upstream:%s]",
               u->name, VARG(u->resource), cfg->upstreams[j].name);
          break;
        }
      }
    }
  }
}

/* Defaults for every [m2m] key (also when the section is absent, so that
 * the struct always reads sensibly); requirements only when enabled. */
static void validate_m2m(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  gw_m2m_cfg_t *m = &cfg->m2m;
  sec_meta *mm = &c->m2m;
  m->line = mm->line;
  if (!mm->key_line[K_M2M_LIFETIME]) m->lifetime_ms = 3600 * 1000;
  if (!mm->key_line[K_M2M_MAX_FAILURES]) m->max_failures = 5;
  if (!mm->key_line[K_M2M_LOCKOUT]) m->lockout_ms = 5 * 60 * 1000;
  if (!mm->key_line[K_M2M_JWKS_PATH])
    m->jwks_path = cstrdup(c, mm->line, "/.well-known/m2m-jwks.json");
  if (!mm->key_line[K_M2M_TOKEN_PATH]) m->token_path = cstrdup(c, mm->line, "/api/v4/auth");
  if (!m->audience && !mm->key_line[K_M2M_AUDIENCE] && cfg->resource_identifier)
    m->audience = cstrdup(c, mm->line, cfg->resource_identifier);

  if (m->jwks_path && m->token_path && strcmp(m->jwks_path, m->token_path) == 0)
    cerr(c, mm->key_line[K_M2M_TOKEN_PATH] ? mm->key_line[K_M2M_TOKEN_PATH] : mm->line,
         "[m2m]: token_path and jwks_path are the same path '%s'", m->token_path);
  if (m->jwks_path && strncmp(m->jwks_path, "/.well-known/oauth-protected-resource", 37) == 0 &&
      (m->jwks_path[37] == '\0' || m->jwks_path[37] == '/'))
    cerr(c, mm->key_line[K_M2M_JWKS_PATH],
         "[m2m]: jwks_path '%s' is taken by the protected-resource metadata", m->jwks_path);

  if (!m->enabled) return;
  static const struct {
    int key;
    const char *name;
  } required[] = {{K_M2M_ISSUER, "issuer"},
                  {K_M2M_SIGNING_KEY, "signing_key"},
                  {K_M2M_CLIENTS, "clients"}};
  for (size_t i = 0; i < sizeof required / sizeof *required; i++)
    if (!mm->key_line[required[i].key])
      cerr(c, mm->line, "[m2m] is enabled but has no %s", required[i].name);
  if (!mm->key_line[K_M2M_AUDIENCE] && !c->resource.key_line[K_RES_IDENTIFIER])
    cerr(c, mm->line, "[m2m] has no audience: set audience here or identifier in [resource]");
}

static void validate(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  validate_m2m(c);
  validate_server(c);
  validate_resource(c);
  validate_issuers(c);
  validate_upstreams(c);
  if (c->policy.line && !c->policy.key_line[K_POL_FILE])
    cerr(c, c->policy.line, "[policy] needs file");
  if (c->cors.line && !c->cors.key_line[K_CORS_ORIGINS])
    cerr(c, c->cors.line, "[cors] needs allow_origins");
  if (!c->log.key_line[K_LOG_ACCESS]) {
    cfg->access_log = strdup("-");
    if (!cfg->access_log) cerr(c, 0, "out of memory");
  }
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return dup_range(path, (size_t)(slash - path));
}

gw_config_t *config_load(const char *path, gw_errors_t *errs) {
  load_ctx c;
  memset(&c, 0, sizeof c);
  c.errs = errs;
  c.file = path;

  gw_config_t *cfg = calloc(1, sizeof *cfg);
  if (!cfg) {
    gw_errors_add(errs, path, 0, "out of memory");
    return NULL;
  }
  c.cfg = cfg;
  cfg->path = strdup(path);
  cfg->dir = dir_of(path);
  if (!cfg->path || !cfg->dir) {
    gw_errors_add(errs, path, 0, "out of memory");
    config_free(cfg);
    return NULL;
  }
  c.dir_relative = strchr(path, '/') != NULL;
  cfg->workers = 0;
  cfg->max_header_bytes = 16 * 1024;
  cfg->max_headers = 100;
  cfg->header_timeout_ms = 10 * 1000;
  cfg->idle_timeout_ms = 60 * 1000;
  cfg->drain_timeout_ms = 30 * 1000;
  cfg->max_connections = 10000;
  cfg->log_level = GW_LOG_INFO;

  int r = config_ini_parse(path, cfg_handler, &c, errs);
  validate(&c);

  free(c.issuer_meta);
  free(c.upstream_meta);
  free(c.tls_meta);
  free(c.forward_line);
  if (r != 0 || c.nerr > 0) {
    config_free(cfg);
    return NULL;
  }
  return cfg;
}

void config_free(gw_config_t *cfg) {
  if (!cfg) return;
  free(cfg->path);
  free(cfg->dir);
  free(cfg->tls_cert);
  free(cfg->tls_key);
  free(cfg->tls_ciphers);
  for (size_t i = 0; i < cfg->ntls_certs; i++) {
    gw_tls_cert_cfg_t *t = &cfg->tls_certs[i];
    free(t->name);
    config_free_words(t->server_names);
    free(t->cert);
    free(t->key);
  }
  free(cfg->tls_certs);
  free(cfg->public_url);
  free(cfg->resource_identifier);
  config_free_words(cfg->authorization_servers);
  config_free_words(cfg->scopes_supported);
  free(cfg->resource_documentation);
  free(cfg->resource_name);
  for (size_t i = 0; i < cfg->nissuers; i++) {
    gw_issuer_cfg_t *is = &cfg->issuers[i];
    free(is->name);
    free(is->iss);
    free(is->jwks_uri);
    free(is->jwks_file);
    config_free_words(is->algorithms);
    free(is->audience);
    free(is->require_typ);
    free(is->ca_file);
  }
  free(cfg->issuers);
  for (size_t i = 0; i < cfg->nupstreams; i++) {
    gw_upstream_cfg_t *u = &cfg->upstreams[i];
    free(u->name);
    free(u->prefix);
    free(u->url_text);
    config_url_free(&u->url);
    free(u->resource);
    free(u->ca_file);
    free(u->client_cert);
    free(u->client_key);
  }
  free(cfg->upstreams);
  free(cfg->policy_file);
  for (size_t i = 0; i < cfg->nforward; i++) {
    free(cfg->forward[i].header);
    free(cfg->forward[i].claim);
  }
  free(cfg->forward);
  config_free_words(cfg->cors_origins);
  free(cfg->access_log);
  free(cfg->m2m.issuer);
  free(cfg->m2m.signing_key);
  free(cfg->m2m.kid);
  free(cfg->m2m.audience);
  free(cfg->m2m.clients_file);
  free(cfg->m2m.jwks_path);
  free(cfg->m2m.token_path);
  free(cfg);
}
