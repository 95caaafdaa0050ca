#include "jsonobj.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "swar.h"

typedef struct {
  char *p, *end;
  gw_jobj_t *o;
} reader;

static void skip_ws(reader *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
    r->p++;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    unsigned char c = (unsigned char)p[i];
    unsigned d = c >= '0' && c <= '9'   ? c - '0'
                 : c >= 'a' && c <= 'f' ? c - 'a' + 10
                 : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                        : 16;
    if (d == 16) return 0;
    v = v << 4 | d;
  }
  *out = v;
  return 1;
}

static char *put_utf8(char *w, unsigned cp) {
  if (cp < 0x80) {
    *w++ = (char)cp;
  } else if (cp < 0x800) {
    *w++ = (char)(0xC0 | cp >> 6);
    *w++ = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *w++ = (char)(0xE0 | cp >> 12);
    *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
    *w++ = (char)(0x80 | (cp & 0x3F));
  } else {
    *w++ = (char)(0xF0 | cp >> 18);
    *w++ = (char)(0x80 | (cp >> 12 & 0x3F));
    *w++ = (char)(0x80 | (cp >> 6 & 0x3F));
    *w++ = (char)(0x80 | (cp & 0x3F));
  }
  return w;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 when there is none. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  size_t n;
  unsigned cp;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
  else return 0;
  if ((size_t)(end - p) < n) return 0;
  for (size_t i = 1; i < n; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

/* Eight bytes that need no attention inside a string: none is '"', '\\',
 * a control byte or part of a UTF-8 sequence. */
static inline int plain8(uint64_t x) {
  return !(swar_has_below(x, 0x20) | swar_has_byte(x, '"') | swar_has_byte(x, '\\') |
           (x & SWAR_HIGHS));
}

/* Claim names are short and mostly of one length (iss, sub, aud, exp...):
 * the first byte settles most comparisons without a call to memcmp. */
static inline int same_name(const char *a, size_t an, const char *b, size_t bn) {
  return an == bn && (an == 0 || (a[0] == b[0] && memcmp(a, b, an) == 0));
}

/* At the opening quote. The decoded text never outgrows its escaped form,
 * so it is written over the input behind the read position. */
static int read_string(reader *r, const char **s, size_t *len) {
  char *w = ++r->p, *start = w;
  for (;;) {
    /* Runs of plain bytes move eight at a time (the word is loaded before
     * it is stored, and w never passes p, so unescaping in place stays
     * safe); anything else takes the byte path below. */
    while (r->end - r->p >= 8) {
      uint64_t x;
      memcpy(&x, r->p, 8);
      if (!plain8(x)) break;
      if (w != r->p) memcpy(w, &x, 8);
      w += 8;
      r->p += 8;
    }
    if (r->p >= r->end) return GW_JOBJ_INVALID;
    unsigned char c = (unsigned char)*r->p;
    if (c == '"') {
      r->p++;
      *w = '\0';
      *s = start;
      *len = (size_t)(w - start);
      return GW_JOBJ_OK;
    }
    if (c < 0x20) return GW_JOBJ_INVALID;
    if (c >= 0x80) {
      size_t n = utf8_seq((const unsigned char *)r->p, (const unsigned char *)r->end);
      if (!n) return GW_JOBJ_INVALID;
      memmove(w, r->p, n);
      w += n;
      r->p += n;
      continue;
    }
    if (c != '\\') {
      /* The rest of a short run byte by byte, up to the next byte that
       * needs attention: the eight-byte test above is not retried per byte. */
      do {
        *w++ = (char)c;
        r->p++;
      } while (r->p < r->end && (c = (unsigned char)*r->p) >= 0x20 && c < 0x80 && c != '"' &&
               c != '\\');
      continue;
    }
    if (r->end - r->p < 2) return GW_JOBJ_INVALID;
    char e = r->p[1];
    r->p += 2;
    switch (e) {
    case '"': *w++ = '"'; break;
    case '\\': *w++ = '\\'; break;
    case '/': *w++ = '/'; break;
    case 'b': *w++ = '\b'; break;
    case 'f': *w++ = '\f'; break;
    case 'n': *w++ = '\n'; break;
    case 'r': *w++ = '\r'; break;
    case 't': *w++ = '\t'; break;
    case 'u': {
      unsigned cp, lo;
      if (r->end - r->p < 4 || !hex4(r->p, &cp)) return GW_JOBJ_INVALID;
      r->p += 4;
      if (cp >= 0xDC00 && cp <= 0xDFFF) return GW_JOBJ_INVALID;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' || !hex4(r->p + 2, &lo) ||
            lo < 0xDC00 || lo > 0xDFFF)
          return GW_JOBJ_INVALID;
        r->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      }
      /* A NUL inside would let two readers disagree on where it ends. */
      if (cp == 0) return GW_JOBJ_INVALID;
      w = put_utf8(w, cp);
      break;
    }
    default: return GW_JOBJ_INVALID;
    }
  }
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

static int read_number(reader *r, gw_jv_t *v) {
  char *p = r->p, *start = p;
  int real = 0;
  if (p < r->end && *p == '-') p++;
  if (p >= r->end || !is_digit(*p)) return GW_JOBJ_INVALID;
  if (*p == '0') p++;
  else
    while (p < r->end && is_digit(*p)) p++;
  if (p < r->end && *p == '.') {
    real = 1;
    if (++p >= r->end || !is_digit(*p)) return GW_JOBJ_INVALID;
    while (p < r->end && is_digit(*p)) p++;
  }
  if (p < r->end && (*p == 'e' || *p == 'E')) {
    real = 1;
    p++;
    if (p < r->end && (*p == '+' || *p == '-')) p++;
    if (p >= r->end || !is_digit(*p)) return GW_JOBJ_INVALID;
    while (p < r->end && is_digit(*p)) p++;
  }
  size_t n = (size_t)(p - start);
  if (n > GW_JOBJ_MAX_NUMBER) return GW_JOBJ_LIMIT;
  char tmp[GW_JOBJ_MAX_NUMBER + 1];
  memcpy(tmp, start, n);
  tmp[n] = '\0';
  char *endp;
  errno = 0;
  if (real) {
    double d = strtod(tmp, &endp);
    /* Underflow to zero or a subnormal is a value; overflow is not. */
    if (errno == ERANGE && (d > 1.0 || d < -1.0)) return GW_JOBJ_INVALID;
    v->type = GW_JV_REAL;
    v->n.d = d;
  } else {
    long long i = strtoll(tmp, &endp, 10);
    if (errno == ERANGE) return GW_JOBJ_INVALID;
    v->type = GW_JV_INT;
    v->n.i = (int64_t)i;
  }
  if (endp != tmp + n) return GW_JOBJ_INVALID;
  r->p = p;
  return GW_JOBJ_OK;
}

static int literal(reader *r, const char *word, size_t n) {
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0) return GW_JOBJ_INVALID;
  r->p += n;
  return GW_JOBJ_OK;
}

static int read_value(reader *r, gw_jv_t *v, int depth, int top_member);

/* After a member or element: GW_JOBJ_OK at the closing bracket (consumed),
 * 1 after a comma (another item follows), GW_JOBJ_INVALID otherwise. */
static int after_item(reader *r, char close) {
  skip_ws(r);
  if (r->p >= r->end) return GW_JOBJ_INVALID;
  if (*r->p == close) {
    r->p++;
    return GW_JOBJ_OK;
  }
  if (*r->p != ',') return GW_JOBJ_INVALID;
  r->p++;
  return 1;
}

/* Members of an object, the opening brace consumed. At depth 1 they are
 * recorded in the result; deeper, names are kept only long enough to find
 * duplicates. Duplicates are refused at every depth: two readers of the
 * token must never see different values. */
static int read_object(reader *r, int depth) {
  struct {
    const char *s;
    size_t n;
  } keys[GW_JOBJ_MAX_NESTED_KEYS];
  size_t nkeys = 0;
  gw_jobj_t *o = r->o;
  skip_ws(r);
  if (r->p < r->end && *r->p == '}') {
    r->p++;
    return GW_JOBJ_OK;
  }
  for (;;) {
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"') return GW_JOBJ_INVALID;
    const char *name;
    size_t nlen;
    int rc = read_string(r, &name, &nlen);
    if (rc) return rc;
    if (depth == 1) {
      for (size_t i = 0; i < o->nmembers; i++)
        if (same_name(o->members[i].name, o->members[i].name_len, name, nlen)) return GW_JOBJ_INVALID;
    } else {
      for (size_t i = 0; i < nkeys; i++)
        if (same_name(keys[i].s, keys[i].n, name, nlen)) return GW_JOBJ_INVALID;
    }
    skip_ws(r);
    if (r->p >= r->end || *r->p != ':') return GW_JOBJ_INVALID;
    r->p++;
    skip_ws(r);
    if (depth == 1) {
      if (o->nmembers == GW_JOBJ_MAX_MEMBERS) return GW_JOBJ_LIMIT;
      gw_jmember_t *m = &o->members[o->nmembers];
      memset(m, 0, sizeof *m);
      m->name = name;
      m->name_len = nlen;
      rc = read_value(r, &m->v, depth, 1);
      if (rc) return rc;
      o->nmembers++;
    } else {
      if (nkeys == GW_JOBJ_MAX_NESTED_KEYS) return GW_JOBJ_LIMIT;
      keys[nkeys].s = name;
      keys[nkeys++].n = nlen;
      gw_jv_t scratch;
      rc = read_value(r, &scratch, depth, 0);
      if (rc) return rc;
    }
    rc = after_item(r, '}');
    if (rc <= 0) return rc;
  }
}

/* Elements of an array, the opening bracket consumed; recorded when the
 * array is a top-level member. */
static int read_array(reader *r, gw_jv_t *v, int depth, int record) {
  gw_jobj_t *o = r->o;
  if (record) v->first = (uint32_t)o->nelems;
  skip_ws(r);
  if (r->p < r->end && *r->p == ']') {
    r->p++;
    return GW_JOBJ_OK;
  }
  for (;;) {
    skip_ws(r);
    gw_jv_t scratch, *e = &scratch;
    if (record) {
      if (o->nelems == GW_JOBJ_MAX_ELEMS) return GW_JOBJ_LIMIT;
      e = &o->elems[o->nelems];
    }
    memset(e, 0, sizeof *e);
    int rc = read_value(r, e, depth, 0);
    if (rc) return rc;
    if (record) {
      o->nelems++;
      v->count++;
    }
    rc = after_item(r, ']');
    if (rc <= 0) return rc;
  }
}

/* depth: of the container holding this value. */
static int read_value(reader *r, gw_jv_t *v, int depth, int top_member) {
  if (r->p >= r->end) return GW_JOBJ_INVALID;
  switch (*r->p) {
  case '"':
    v->type = GW_JV_STRING;
    return read_string(r, &v->s, &v->len);
  case '{':
    if (depth + 1 > GW_JOBJ_MAX_DEPTH) return GW_JOBJ_LIMIT;
    r->p++;
    v->type = GW_JV_OBJECT;
    return read_object(r, depth + 1);
  case '[':
    if (depth + 1 > GW_JOBJ_MAX_DEPTH) return GW_JOBJ_LIMIT;
    r->p++;
    v->type = GW_JV_ARRAY;
    return read_array(r, v, depth + 1, top_member);
  case 't':
    v->type = GW_JV_TRUE;
    return literal(r, "true", 4);
  case 'f':
    v->type = GW_JV_FALSE;
    return literal(r, "false", 5);
  case 'n':
    v->type = GW_JV_NULL;
    return literal(r, "null", 4);
  default:
    return read_number(r, v);
  }
}

int jobj_parse(gw_jobj_t *o, char *buf, size_t len) {
  reader r = {buf, buf + len, o};
  o->nmembers = 0;
  o->nelems = 0;
  skip_ws(&r);
  if (r.p >= r.end || *r.p != '{') return GW_JOBJ_INVALID;
  r.p++;
  int rc = read_object(&r, 1);
  if (rc) return rc;
  skip_ws(&r);
  return r.p == r.end ? GW_JOBJ_OK : GW_JOBJ_INVALID;
}

const gw_jv_t *jobj_get(const gw_jobj_t *o, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < o->nmembers; i++)
    if (same_name(o->members[i].name, o->members[i].name_len, name, n)) return &o->members[i].v;
  return NULL;
}
