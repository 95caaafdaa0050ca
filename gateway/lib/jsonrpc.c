/* jsonrpc: a strict, single-pass JSON reader that pulls out what the MCP
 * judge needs. Recursive descent with an explicit depth bound; member names
 * of each object are collected (raw position, decoded length, hash) and
 * checked for duplicates when the object closes, by sorting them: O(n log n)
 * whatever the input, never a quadratic scan an attacker could pick. */
#include "jsonrpc.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
  const unsigned char *raw; /* after the opening quote */
  uint32_t rawlen;          /* up to the closing quote */
  uint32_t dlen;            /* decoded length */
  uint64_t hash;            /* of the decoded bytes */
} jkey_t;

typedef enum { ROLE_NONE = 0, ROLE_TOP, ROLE_PARAMS } role_t;

typedef struct {
  const unsigned char *p, *start, *end;
  jkey_t *keys;
  size_t nkeys, cap;
  jrpc_msg_t *msg;
  jrpc_result_t err;
  const char *why;
  size_t err_off;
  /* what the top-level object held */
  uint8_t has_jsonrpc, jsonrpc_ok, has_method, has_id, id_ok, has_params, params_ok, has_result,
      has_error;
} rd_t;

static int fail(rd_t *r, jrpc_result_t e, const char *why) {
  if (r->err == JRPC_OK) {
    r->err = e;
    r->why = why;
    r->err_off = (size_t)(r->p - r->start);
  }
  return -1;
}

static void skip_ws(rd_t *r) {
  while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out) {
  if (end - p < 4) return -1;
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    int h = hexval(p[i]);
    if (h < 0) return -1;
    v = v << 4 | (unsigned)h;
  }
  *out = v;
  return 0;
}

static size_t utf8_put(unsigned cp, unsigned char out[4]) {
  if (cp < 0x80) {
    out[0] = (unsigned char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (unsigned char)(0xC0 | cp >> 6);
    out[1] = (unsigned char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (unsigned char)(0xE0 | cp >> 12);
    out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (unsigned char)(0xF0 | cp >> 18);
  out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
  out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
  out[3] = (unsigned char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Length of the well-formed UTF-8 sequence at p (Unicode 15, table 3-7),
 * 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end) {
  unsigned char c = p[0];
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F; /* no surrogates */
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
  } else {
    return 0;
  }
  if ((size_t)(end - p) < n) return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (size_t i = 2; i < n; i++)
    if (p[i] < 0x80 || p[i] > 0xBF) return 0;
  return n;
}

/* Decodes one unit of a validated string body at *pp: the bytes it stands
 * for go to out, their count is returned; 0 at the closing quote. */
static size_t decode_unit(const unsigned char **pp, unsigned char out[4]) {
  const unsigned char *p = *pp;
  if (*p == '"') return 0;
  if (*p != '\\') {
    size_t n = *p < 0x80 ? 1 : utf8_seq(p, p + 4);
    memcpy(out, p, n);
    *pp = p + n;
    return n;
  }
  unsigned char e = p[1];
  *pp = p + 2;
  switch (e) {
  case 'b': out[0] = '\b'; return 1;
  case 'f': out[0] = '\f'; return 1;
  case 'n': out[0] = '\n'; return 1;
  case 'r': out[0] = '\r'; return 1;
  case 't': out[0] = '\t'; return 1;
  case 'u': {
    unsigned cp = 0, lo = 0;
    hex4(p + 2, p + 6, &cp);
    *pp = p + 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      hex4(p + 8, p + 12, &lo);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      *pp = p + 12;
    }
    return utf8_put(cp, out);
  }
  default: out[0] = e; return 1; /* " \ / */
  }
}

static uint64_t hash_add(uint64_t h, const unsigned char *b, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3u;
  return h;
}

/* Bytes that stand for themselves inside a string: printable ASCII but the
 * quote and the backslash. */
static const unsigned char plain[256] = {
#define R8(x) x, x, x, x, x, x, x, x
    R8(0), R8(0), R8(0), R8(0), /* 0x00-0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, R8(1), R8(1), R8(1), /* 0x20-0x3f: not '"' */
    R8(1), R8(1), R8(1), 1, 1, 1, 1, 0, 1, 1, 1, /* 0x40-0x5f: not '\\' */
    R8(1), R8(1), R8(1), R8(1),                   /* 0x60-0x7f */
#undef R8
};

/* Reads the string at r->p (on its opening quote), validating it; the
 * decoded bytes go to dst (at most cap of them) when dst is given. */
static int read_string(rd_t *r, char *dst, size_t cap, jrpc_str_t *out, jkey_t *key) {
  const unsigned char *p = r->p + 1, *end = r->end;
  const unsigned char *body = p;
  size_t dlen = 0;
  uint64_t h = 0xcbf29ce484222325u;
  for (;;) {
    /* Most of a body is plain ASCII: take a run of it at once. */
    const unsigned char *run = p;
    while (p < end && plain[*p]) p++;
    if (p > run) {
      size_t rl = (size_t)(p - run);
      if (dst && dlen < cap) memcpy(dst + dlen, run, dlen + rl <= cap ? rl : cap - dlen);
      if (key) h = hash_add(h, run, rl);
      dlen += rl;
    }
    if (p >= end) return fail(r, JRPC_PARSE_ERROR, "unterminated string");
    unsigned char c = *p;
    unsigned char unit[4];
    size_t n;
    if (c == '"') break;
    if (c < 0x20) {
      r->p = p;
      return fail(r, JRPC_PARSE_ERROR, "control character in a string");
    }
    if (c == '\\') {
      if (end - p < 2) return fail(r, JRPC_PARSE_ERROR, "unterminated string");
      unsigned char e = p[1];
      if (e == 'u') {
        unsigned cp;
        if (hex4(p + 2, end, &cp)) {
          r->p = p;
          return fail(r, JRPC_PARSE_ERROR, "bad \\u escape");
        }
        if (cp >= 0xDC00 && cp <= 0xDFFF) {
          r->p = p;
          return fail(r, JRPC_PARSE_ERROR, "lone low surrogate escape");
        }
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          unsigned lo;
          if (end - p < 12 || p[6] != '\\' || p[7] != 'u' || hex4(p + 8, end, &lo) || lo < 0xDC00 ||
              lo > 0xDFFF) {
            r->p = p;
            return fail(r, JRPC_PARSE_ERROR, "lone high surrogate escape");
          }
        }
      } else if (!strchr("\"\\/bfnrt", e) || e == 0) {
        r->p = p;
        return fail(r, JRPC_PARSE_ERROR, "bad escape");
      }
    } else if (c >= 0x80 && utf8_seq(p, end) == 0) {
      r->p = p;
      return fail(r, JRPC_PARSE_ERROR, "invalid UTF-8");
    }
    const unsigned char *q = p;
    n = decode_unit(&q, unit);
    if (dst && dlen < cap) memcpy(dst + dlen, unit, dlen + n <= cap ? n : cap - dlen);
    if (key) h = hash_add(h, unit, n);
    dlen += n;
    p = q;
  }
  if (out) {
    out->type = JRPC_STRING;
    out->full_len = dlen;
    out->len = dlen < cap ? dlen : cap;
  }
  if (key) {
    if ((size_t)(p - body) > UINT32_MAX) return fail(r, JRPC_PARSE_ERROR, "string too long");
    key->raw = body;
    key->rawlen = (uint32_t)(p - body);
    key->dlen = (uint32_t)dlen;
    key->hash = h;
  }
  r->p = p + 1;
  return 0;
}

static int read_number(rd_t *r) {
  const unsigned char *p = r->p, *end = r->end;
  if (p < end && *p == '-') p++;
  if (p >= end) goto bad;
  if (*p == '0') {
    p++;
  } else if (*p >= '1' && *p <= '9') {
    while (p < end && *p >= '0' && *p <= '9') p++;
  } else {
    goto bad;
  }
  if (p < end && *p == '.') {
    p++;
    if (p >= end || *p < '0' || *p > '9') goto bad;
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    if (p < end && (*p == '+' || *p == '-')) p++;
    if (p >= end || *p < '0' || *p > '9') goto bad;
    while (p < end && *p >= '0' && *p <= '9') p++;
  }
  r->p = p;
  return 0;
bad:
  r->p = p;
  return fail(r, JRPC_PARSE_ERROR, "invalid number");
}

static int read_literal(rd_t *r, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
    return fail(r, JRPC_PARSE_ERROR, "invalid value");
  r->p += n;
  return 0;
}

static int key_cmp(const void *va, const void *vb) {
  const jkey_t *a = va, *b = vb;
  if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
  if (a->dlen != b->dlen) return a->dlen < b->dlen ? -1 : 1;
  const unsigned char *pa = a->raw, *pb = b->raw;
  unsigned char ua[4], ub[4];
  size_t na = 0, nb = 0, ia = 0, ib = 0;
  for (;;) {
    if (ia == na) {
      na = decode_unit(&pa, ua);
      ia = 0;
    }
    if (ib == nb) {
      nb = decode_unit(&pb, ub);
      ib = 0;
    }
    if (na == 0 || nb == 0) return na == nb ? 0 : na == 0 ? -1 : 1;
    if (ua[ia] != ub[ib]) return ua[ia] < ub[ib] ? -1 : 1;
    ia++;
    ib++;
  }
}

static int push_key(rd_t *r, const jkey_t *k) {
  if (r->nkeys == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 32;
    jkey_t *nk = realloc(r->keys, cap * sizeof *nk);
    if (!nk) return fail(r, JRPC_NOMEM, "out of memory");
    r->keys = nk;
    r->cap = cap;
  }
  r->keys[r->nkeys++] = *k;
  return 0;
}

static int read_value(rd_t *r, int depth, role_t role);

/* A member name known to the judge: decoded, compared whole. */
static int key_is(const jrpc_str_t *k, const char *buf, const char *name) {
  return k->full_len == strlen(name) && memcmp(buf, name, k->full_len) == 0;
}

static int read_member_value(rd_t *r, int depth, role_t role, const jrpc_str_t *k, const char *kb) {
  jrpc_msg_t *m = r->msg;
  unsigned char c = r->p < r->end ? *r->p : 0;
  if (role == ROLE_TOP) {
    if (key_is(k, kb, "jsonrpc")) {
      r->has_jsonrpc = 1;
      if (c != '"') return read_value(r, depth, ROLE_NONE);
      char v[4];
      jrpc_str_t s;
      if (read_string(r, v, sizeof v, &s, NULL)) return -1;
      r->jsonrpc_ok = s.full_len == 3 && memcmp(v, "2.0", 3) == 0;
      return 0;
    }
    if (key_is(k, kb, "method")) {
      r->has_method = 1;
      if (c != '"') {
        m->method.type = JRPC_OTHER;
        return read_value(r, depth, ROLE_NONE);
      }
      return read_string(r, m->method_buf, sizeof m->method_buf, &m->method, NULL);
    }
    if (key_is(k, kb, "id")) {
      const unsigned char *at = r->p;
      r->has_id = 1;
      r->id_ok = c == '"' || c == '-' || (c >= '0' && c <= '9');
      if (read_value(r, depth, ROLE_NONE)) return -1;
      m->id = (const char *)at;
      m->id_len = (size_t)(r->p - at);
      return 0;
    }
    if (key_is(k, kb, "params")) {
      r->has_params = 1;
      r->params_ok = c == '{' || c == '[';
      m->params_object = c == '{';
      return read_value(r, depth, c == '{' ? ROLE_PARAMS : ROLE_NONE);
    }
    if (key_is(k, kb, "result")) r->has_result = 1;
    if (key_is(k, kb, "error")) r->has_error = 1;
  } else if (role == ROLE_PARAMS) {
    jrpc_str_t *dst = key_is(k, kb, "name") ? &m->name : key_is(k, kb, "uri") ? &m->uri : NULL;
    if (dst) {
      if (c != '"') {
        dst->type = JRPC_OTHER;
        return read_value(r, depth, ROLE_NONE);
      }
      char *buf = dst == &m->name ? m->name_buf : m->uri_buf;
      return read_string(r, buf, JRPC_NAME_MAX, dst, NULL);
    }
  }
  return read_value(r, depth, ROLE_NONE);
}

static int read_object(rd_t *r, int depth, role_t role) {
  r->p++; /* { */
  size_t first = r->nkeys;
  skip_ws(r);
  if (r->p < r->end && *r->p == '}') {
    r->p++;
    return 0;
  }
  for (;;) {
    skip_ws(r);
    if (r->p >= r->end || *r->p != '"') return fail(r, JRPC_PARSE_ERROR, "expected a member name");
    jkey_t key;
    jrpc_str_t k;
    char kb[16];
    if (read_string(r, kb, sizeof kb, &k, &key) || push_key(r, &key)) return -1;
    skip_ws(r);
    if (r->p >= r->end || *r->p != ':') return fail(r, JRPC_PARSE_ERROR, "expected ':'");
    r->p++;
    skip_ws(r);
    if (read_member_value(r, depth, role, &k, kb)) return -1;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == '}') {
      r->p++;
      break;
    }
    return fail(r, JRPC_PARSE_ERROR, "expected ',' or '}'");
  }
  size_t n = r->nkeys - first;
  if (n > 1) {
    qsort(r->keys + first, n, sizeof *r->keys, key_cmp);
    for (size_t i = first + 1; i < r->nkeys; i++)
      if (key_cmp(&r->keys[i - 1], &r->keys[i]) == 0) {
        r->p = r->keys[i].raw;
        return fail(r, JRPC_PARSE_ERROR, "duplicate member name");
      }
  }
  r->nkeys = first; /* the enclosing object's names are below */
  return 0;
}

static int read_array(rd_t *r, int depth) {
  r->p++; /* [ */
  skip_ws(r);
  if (r->p < r->end && *r->p == ']') {
    r->p++;
    return 0;
  }
  for (;;) {
    skip_ws(r);
    if (read_value(r, depth, ROLE_NONE)) return -1;
    skip_ws(r);
    if (r->p < r->end && *r->p == ',') {
      r->p++;
      continue;
    }
    if (r->p < r->end && *r->p == ']') {
      r->p++;
      return 0;
    }
    return fail(r, JRPC_PARSE_ERROR, "expected ',' or ']'");
  }
}

/* depth: of the object or array the value is in (0 for the top-level
 * value, which is itself at depth 1). */
static int read_value(rd_t *r, int depth, role_t role) {
  if (r->p >= r->end) return fail(r, JRPC_PARSE_ERROR, "unexpected end of input");
  switch (*r->p) {
  case '{':
    if (depth + 1 > JRPC_MAX_DEPTH) return fail(r, JRPC_PARSE_ERROR, "nested too deep");
    return read_object(r, depth + 1, role);
  case '[':
    if (depth + 1 > JRPC_MAX_DEPTH) return fail(r, JRPC_PARSE_ERROR, "nested too deep");
    return read_array(r, depth + 1);
  case '"': return read_string(r, NULL, 0, NULL, NULL);
  case 't': return read_literal(r, "true");
  case 'f': return read_literal(r, "false");
  case 'n': return read_literal(r, "null");
  default: return read_number(r);
  }
}

static jrpc_result_t shape(rd_t *r) {
  jrpc_msg_t *m = r->msg;
  if (!r->has_jsonrpc || !r->jsonrpc_ok) {
    r->why = "\"jsonrpc\" is not \"2.0\"";
    return JRPC_INVALID_REQUEST;
  }
  if (r->has_id && !r->id_ok) {
    r->why = "\"id\" is neither a string nor a number";
    return JRPC_INVALID_REQUEST;
  }
  if (r->has_params && !r->params_ok) {
    r->why = "\"params\" is neither an object nor an array";
    return JRPC_INVALID_REQUEST;
  }
  if (r->has_method) {
    if (m->method.type != JRPC_STRING) {
      r->why = "\"method\" is not a string";
      return JRPC_INVALID_REQUEST;
    }
    m->kind = r->has_id ? JRPC_REQUEST : JRPC_NOTIFICATION;
    return JRPC_OK;
  }
  if (!r->has_id || r->has_result == r->has_error) {
    r->why = "neither a request nor a response";
    return JRPC_INVALID_REQUEST;
  }
  m->kind = JRPC_RESPONSE;
  return JRPC_OK;
}

jrpc_result_t jrpc_parse(const char *body, size_t len, jrpc_msg_t *out) {
  memset(out, 0, offsetof(jrpc_msg_t, method_buf));
  out->id = NULL;
  out->id_len = 0;
  out->params_object = 0;
  out->why = NULL;
  out->err_off = 0;
  rd_t r = {0};
  r.p = r.start = (const unsigned char *)body;
  r.end = r.p + len;
  r.msg = out;
  skip_ws(&r);
  int is_object = r.p < r.end && *r.p == '{';
  int is_array = r.p < r.end && *r.p == '[';
  /* The top-level value counts as depth 1. */
  int rc = is_object ? read_object(&r, 1, ROLE_TOP) : read_value(&r, 0, ROLE_NONE);
  if (rc == 0) {
    skip_ws(&r);
    if (r.p != r.end) fail(&r, JRPC_PARSE_ERROR, "data after the JSON value");
  }
  free(r.keys);
  jrpc_result_t res = r.err;
  if (res == JRPC_OK && !is_object) {
    r.why = is_array ? "a batch (JSON array): MCP takes one message per request" : "not a JSON object";
    res = JRPC_INVALID_REQUEST;
  } else if (res == JRPC_OK) {
    res = shape(&r);
  }
  out->why = res == JRPC_OK ? NULL : r.why;
  out->err_off = r.err_off;
  if (res != JRPC_OK) {
    memset(out, 0, offsetof(jrpc_msg_t, method_buf));
    out->id = NULL;
    out->id_len = 0;
  }
  return res;
}

int jrpc_str_is(const jrpc_str_t *v, const char *buf, const char *s) {
  return v->type == JRPC_STRING && v->full_len == strlen(s) && v->len == v->full_len &&
         memcmp(buf, s, v->len) == 0;
}

size_t jrpc_unescape(const char *raw, char *dst, size_t cap, const char **close) {
  const unsigned char *p = (const unsigned char *)raw;
  unsigned char unit[4];
  size_t n, len = 0;
  while ((n = decode_unit(&p, unit)) != 0) {
    if (len < cap) memcpy(dst + len, unit, len + n <= cap ? n : cap - len);
    len += n;
  }
  *close = (const char *)p;
  return len;
}

int jrpc_code(jrpc_result_t r) {
  switch (r) {
  case JRPC_OK: return 0;
  case JRPC_PARSE_ERROR: return -32700;
  case JRPC_INVALID_REQUEST: return -32600;
  default: return -32603;
  }
}
