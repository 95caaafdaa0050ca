#include "pathnorm.h"

#include <string.h>

static const char hexdig[] = "0123456789ABCDEF";

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static int is_alpha(unsigned char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }

/* RFC 3986 unreserved: the only escapes whose decoding cannot change what
 * the upstream understands (§6.2.2.2). */
static int is_unreserved(unsigned char c) {
  return is_alpha(c) || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Printable ASCII that RFC 3986 does not allow raw in a path but that
 * clients send anyway; encoding them gives raw and encoded spellings one
 * form. */
static int needs_encoding(unsigned char c) {
  return c >= 0x80 || c == '"' || c == '<' || c == '>' || c == '[' || c == ']' || c == '^' ||
         c == '`' || c == '{' || c == '|' || c == '}';
}

const char *pathnorm_strerror(int err) {
  switch (err) {
    case PATHNORM_OK: return "ok";
    case PATHNORM_E_EMPTY: return "empty path";
    case PATHNORM_E_NOT_ABSOLUTE: return "path does not start with '/'";
    case PATHNORM_E_ENCODED_SLASH: return "encoded '/' in path";
    case PATHNORM_E_ENCODED_BACKSLASH: return "encoded '\\' in path";
    case PATHNORM_E_NUL: return "NUL in path";
    case PATHNORM_E_CONTROL: return "control character in request-target";
    case PATHNORM_E_SPACE: return "space in request-target";
    case PATHNORM_E_BACKSLASH: return "'\\' in path";
    case PATHNORM_E_BAD_ESCAPE: return "invalid percent-escape in path";
    case PATHNORM_E_FRAGMENT: return "fragment in request-target";
    case PATHNORM_E_QUERY_IN_PATH: return "'?' in path";
    case PATHNORM_E_CLIMB: return "path climbs above '/'";
    case PATHNORM_E_TOO_LONG: return "path too long";
    case PATHNORM_E_TOO_DEEP: return "path has too many segments";
    case PATHNORM_E_FORM: return "unsupported request-target form";
    case PATHNORM_E_METHOD: return "'*' request-target is only valid for OPTIONS";
    case PATHNORM_E_AUTHORITY: return "request-target names another authority";
  }
  return "invalid path";
}

static int fail(int err, const char **why) {
  if (why) *why = pathnorm_strerror(err);
  return err;
}

/* Appends one normalized byte sequence for the input at path[*i], advancing
 * *i. Returns 0 or a negative error. */
static int put_char(const char *path, size_t len, size_t *i, char *out, size_t cap, size_t *o) {
  unsigned char c = (unsigned char)path[*i];
  if (c == '%') {
    if (len - *i < 3) return PATHNORM_E_BAD_ESCAPE;
    int hi = hexval((unsigned char)path[*i + 1]), lo = hexval((unsigned char)path[*i + 2]);
    if (hi < 0 || lo < 0) return PATHNORM_E_BAD_ESCAPE;
    unsigned char v = (unsigned char)(hi << 4 | lo);
    if (v == '/') return PATHNORM_E_ENCODED_SLASH;
    if (v == '\\') return PATHNORM_E_ENCODED_BACKSLASH;
    if (v == 0) return PATHNORM_E_NUL;
    *i += 3;
    if (is_unreserved(v)) {
      if (cap - *o < 2) return PATHNORM_E_TOO_LONG;
      out[(*o)++] = (char)v;
      return 0;
    }
    c = v;
  } else {
    if (c == 0) return PATHNORM_E_NUL;
    if (c < 0x20 || c == 0x7F) return PATHNORM_E_CONTROL;
    if (c == ' ') return PATHNORM_E_SPACE;
    if (c == '\\') return PATHNORM_E_BACKSLASH;
    if (c == '#') return PATHNORM_E_FRAGMENT;
    if (c == '?') return PATHNORM_E_QUERY_IN_PATH;
    (*i)++;
    if (!needs_encoding(c)) {
      if (cap - *o < 2) return PATHNORM_E_TOO_LONG;
      out[(*o)++] = (char)c;
      return 0;
    }
  }
  /* Escaped form of c; one spelling (upper-case hex) so that matching and
   * the upstream see the same bytes whatever the client wrote. */
  if (cap - *o < 4) return PATHNORM_E_TOO_LONG;
  out[(*o)++] = '%';
  out[(*o)++] = hexdig[c >> 4];
  out[(*o)++] = hexdig[c & 0xF];
  return 0;
}

int pathnorm(const char *path, size_t len, char *out, size_t cap, size_t *out_len,
             const char **why) {
  /* Offsets in out of the '/' that starts each kept segment: ".." pops one
   * in O(1) instead of scanning back. */
  size_t starts[GW_PATH_MAX_SEGMENTS];
  size_t depth = 0, o = 0, i = 0;

  if (out_len) *out_len = 0;
  if (cap > 0) out[0] = '\0';
  if (len == 0) return fail(PATHNORM_E_EMPTY, why);
  if (path[0] != '/') return fail(PATHNORM_E_NOT_ABSOLUTE, why);
  if (cap < 2) return fail(PATHNORM_E_TOO_LONG, why);

  /* Each turn consumes one input segment: the '/' at path[i] and the bytes
   * up to the next '/' or the end. */
  while (i < len) {
    size_t seg = o;
    i++; /* the '/' */
    if (cap - o < 2) return fail(PATHNORM_E_TOO_LONG, why);
    out[o++] = '/';
    while (i < len && path[i] != '/') {
      int rc = put_char(path, len, &i, out, cap, &o);
      if (rc < 0) return fail(rc, why);
    }
    int last = i >= len;
    size_t n = o - (seg + 1);
    const char *s = out + seg + 1;
    if (n == 0) {
      /* "//" merges; only the final empty segment (a trailing '/') stays. */
      if (!last) o = seg;
    } else if (n == 1 && s[0] == '.') {
      o = seg;
      if (last) out[o++] = '/';
    } else if (n == 2 && s[0] == '.' && s[1] == '.') {
      if (depth == 0) return fail(PATHNORM_E_CLIMB, why);
      o = starts[--depth];
      if (last) out[o++] = '/';
    } else {
      if (depth == GW_PATH_MAX_SEGMENTS) return fail(PATHNORM_E_TOO_DEEP, why);
      starts[depth++] = seg;
    }
  }
  out[o] = '\0';
  if (out_len) *out_len = o;
  if (why) *why = NULL;
  return PATHNORM_OK;
}

static int ascii_ieq(const char *a, size_t alen, const char *lower) {
  size_t n = strlen(lower);
  if (alen != n) return 0;
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)a[k];
    if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
    if (c != (unsigned char)lower[k]) return 0;
  }
  return 1;
}

/* RFC 3986 authority without userinfo: reg-name / IPv4 / IP-literal and an
 * optional port. Only the character set is checked here; whether it names
 * us is the caller's call. */
static int authority_char_ok(unsigned char c) {
  return is_unreserved(c) || c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' ||
         c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=' || c == ':' ||
         c == '[' || c == ']' || c == '%';
}

/* The query is forwarded byte for byte; it must not carry anything that
 * could end the request line or be mistaken for a fragment. */
static int check_query(const char *q, size_t n) {
  for (size_t k = 0; k < n; k++) {
    unsigned char c = (unsigned char)q[k];
    if (c == 0) return PATHNORM_E_NUL;
    if (c < 0x20 || c == 0x7F) return PATHNORM_E_CONTROL;
    if (c == ' ') return PATHNORM_E_SPACE;
    if (c == '#') return PATHNORM_E_FRAGMENT;
  }
  return 0;
}

int target_split(const char *target, size_t len, const char *method, size_t mlen,
                 gw_authority_ok_fn authority_ok, void *user, gw_target_t *t,
                 const char **why) {
  memset(t, 0, sizeof *t);
  if (why) *why = NULL;
  if (len == 0) return fail(PATHNORM_E_EMPTY, why);

  if (len == 1 && target[0] == '*') {
    if (!(mlen == 7 && memcmp(method, "OPTIONS", 7) == 0)) return fail(PATHNORM_E_METHOD, why);
    t->form = GW_TARGET_ASTERISK;
    t->path = target;
    t->path_len = 1;
    return PATHNORM_OK;
  }

  const char *rest = target;
  size_t rest_len = len;
  if (target[0] == '/') {
    t->form = GW_TARGET_ORIGIN;
  } else {
    /* absolute-form: scheme "://" authority [path-abempty] ["?" query] */
    size_t k = 0;
    while (k < len && target[k] != ':' && target[k] != '/' && target[k] != '?') k++;
    if (k == len || target[k] != ':' || len - k < 3 || target[k + 1] != '/' ||
        target[k + 2] != '/')
      return fail(PATHNORM_E_FORM, why);
    if (!ascii_ieq(target, k, "http") && !ascii_ieq(target, k, "https"))
      return fail(PATHNORM_E_FORM, why);
    size_t a = k + 3, e = a;
    while (e < len && target[e] != '/' && target[e] != '?' && target[e] != '#') e++;
    if (e < len && target[e] == '#') return fail(PATHNORM_E_FRAGMENT, why);
    if (e == a) return fail(PATHNORM_E_AUTHORITY, why);
    for (size_t x = a; x < e; x++) {
      unsigned char c = (unsigned char)target[x];
      /* userinfo is refused: RFC 9110 §4.2.4 calls it an error in http URIs. */
      if (!authority_char_ok(c)) {
        if (c < 0x20 || c == 0x7F) return fail(c == 0 ? PATHNORM_E_NUL : PATHNORM_E_CONTROL, why);
        if (c == ' ') return fail(PATHNORM_E_SPACE, why);
        return fail(PATHNORM_E_AUTHORITY, why);
      }
    }
    if (!authority_ok || !authority_ok(user, target + a, e - a))
      return fail(PATHNORM_E_AUTHORITY, why);
    t->form = GW_TARGET_ABSOLUTE;
    t->scheme = target;
    t->scheme_len = k;
    t->authority = target + a;
    t->authority_len = e - a;
    rest = target + e;
    rest_len = len - e;
  }

  size_t p = 0;
  while (p < rest_len && rest[p] != '?') p++;
  if (p == 0) {
    /* RFC 9112 §3.2.2: an absolute URI with an empty path means "/". */
    t->path = "/";
    t->path_len = 1;
  } else {
    t->path = rest;
    t->path_len = p;
  }
  if (p < rest_len) {
    t->query = rest + p + 1;
    t->query_len = rest_len - p - 1;
    int rc = check_query(t->query, t->query_len);
    if (rc < 0) return fail(rc, why);
  }
  /* A '#' in the path is reported by pathnorm(); check it here too so that
   * the classifier alone refuses every fragment. */
  if (memchr(t->path, '#', t->path_len)) return fail(PATHNORM_E_FRAGMENT, why);
  return PATHNORM_OK;
}
