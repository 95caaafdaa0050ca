/* mcplist: jrpc_parse checks the message strictly first, so the walk here
 * reads a document known to be well-formed and needs no checks of its
 * own beyond the shape of the answer. That walk is one pass: whether the
 * message is ours is known only once its "id" was read, which may come
 * after "result", so on the way through it records where result.<kind> and
 * each of its elements (and the element's name) are, and the answer is cut
 * from those spans afterwards. */
#include "mcplist.h"

#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "log.h"

int mcplist_kind_of(const char *method, size_t len, mcplist_kind_t *kind) {
  static const struct {
    const char *m;
    mcplist_kind_t k;
  } lists[] = {{"tools/list", MCPLIST_TOOLS},
               {"prompts/list", MCPLIST_PROMPTS},
               {"resources/list", MCPLIST_RESOURCES}};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
    if (len == strlen(lists[i].m) && memcmp(method, lists[i].m, len) == 0) {
      *kind = lists[i].k;
      return 1;
    }
  return 0;
}

static const char *ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}

/* The walk never runs off the end: a checked document closes every string
 * and container, so each loop stops at a byte inside it. Strings, most of
 * a list answer's bytes, are skipped by memchr: a quote ends one when an
 * even number of backslashes stands before it (pairs are escaped
 * backslashes; an odd one escapes the quote). */
static const char *skip_str(const char *p, const char *end) {
  const char *s = p + 1;
  for (;;) {
    const char *q = memchr(s, '"', (size_t)(end - s));
    const char *b = q;
    while (b > p + 1 && b[-1] == '\\') b--;
    if (((q - b) & 1) == 0) return q + 1;
    s = q + 1;
  }
}

/* The bytes a container skip must stop at. */
static const unsigned char structural[256] = {['"'] = 1, ['{'] = 1, ['['] = 1, ['}'] = 1, [']'] = 1};

static const char *skip_val(const char *p, const char *end) {
  if (*p == '"') return skip_str(p, end);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    for (;;) {
      while (!structural[(unsigned char)*p]) p++;
      if (*p == '"') {
        p = skip_str(p, end);
        continue;
      }
      depth += (*p == '{' || *p == '[') ? 1 : -1;
      p++;
      if (depth == 0) return p;
    }
  }
  while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' && *p != '\n' &&
         *p != '\r')
    p++;
  return p;
}

/* The next member of an object: *pp on its '{' or after a member's value.
 * Returns 1 with the decoded name's first bytes in kb (its whole length in
 * *klen) and *pp on the value, or 0 with *pp after the '}'. */
static int next_member(const char **pp, const char *end, char *kb, size_t kcap, size_t *klen) {
  const char *p = ws(*pp, end);
  char c = *p++;
  if (c == '}') {
    *pp = p;
    return 0;
  }
  p = ws(p, end);
  if (*p == '}') { /* {} */
    *pp = p + 1;
    return 0;
  }
  const char *close;
  *klen = jrpc_unescape(p + 1, kb, kcap, &close);
  *pp = ws(ws(close + 1, end) + 1, end); /* past ':' */
  return 1;
}

static int key_is(const char *kb, size_t klen, const char *name) {
  return klen == strlen(name) && memcmp(kb, name, klen) == 0;
}

/* A number's spelling as a NUL-terminated string for strtod. */
static double num(const char *p, size_t n, int *ok) {
  char b[128];
  *ok = n < sizeof b;
  if (!*ok) return 0;
  memcpy(b, p, n);
  b[n] = 0;
  return strtod(b, NULL);
}

/* Whether two different spellings of ids stand for the same value. */
static int same_value(const char *a, size_t alen, const char *b, size_t blen) {
  if ((*a == '"') != (*b == '"')) return 0;
  if (*a != '"') {
    int oka, okb;
    double x = num(a, alen, &oka), y = num(b, blen, &okb);
    return !oka || !okb || x == y; /* an id too long to read counts as the same */
  }
  const char *close;
  size_t la = jrpc_unescape(a + 1, NULL, 0, &close), lb = jrpc_unescape(b + 1, NULL, 0, &close);
  if (la != lb) return 0;
  char *da = malloc(la + 1), *db = malloc(lb + 1);
  int same = 1; /* out of memory: the same, so it fails closed */
  if (da && db) {
    jrpc_unescape(a + 1, da, la, &close);
    jrpc_unescape(b + 1, db, lb, &close);
    same = memcmp(da, db, la) == 0;
  }
  free(da);
  free(db);
  return same;
}

/* One element of result.<kind>, as the walk found it. */
typedef struct {
  const char *start, *end; /* its bytes */
  const char *name;        /* just after the opening quote of its name (uri); NULL: none */
} elem_t;

typedef struct {
  const char *key; /* "name" or "uri" */
  const char *arr; /* the value of result.<kind>, NULL when there is none */
  elem_t *el;      /* its elements when it is an array: small[] or the heap */
  size_t n, cap;
  int bad;         /* an element that is not an object with a string name, or no memory */
  elem_t small[64];
} scan_t;

static elem_t *elem_push(scan_t *sc) {
  if (sc->n == sc->cap) {
    size_t cap = sc->cap * 2;
    elem_t *e = sc->el == sc->small ? malloc(cap * sizeof *e) : realloc(sc->el, cap * sizeof *e);
    if (!e) return NULL;
    if (sc->el == sc->small) memcpy(e, sc->small, sizeof sc->small);
    sc->el = e;
    sc->cap = cap;
  }
  return &sc->el[sc->n++];
}

/* The element at p: recorded with its name; returns the byte after it. */
static const char *scan_element(scan_t *sc, const char *p, const char *end) {
  elem_t *e = elem_push(sc);
  if (!e) {
    sc->bad = 1;
    return skip_val(p, end);
  }
  e->start = p;
  e->name = NULL;
  if (*p != '{') {
    sc->bad = 1;
    return e->end = skip_val(p, end);
  }
  char kb[8];
  size_t klen;
  while (next_member(&p, end, kb, sizeof kb, &klen)) {
    if (key_is(kb, klen, sc->key)) {
      if (*p == '"')
        e->name = p + 1;
      else
        sc->bad = 1;
    }
    p = skip_val(p, end);
  }
  if (!e->name) sc->bad = 1;
  return e->end = p;
}

/* The array at p (on its '['): its elements; returns the byte after it. */
static const char *scan_array(scan_t *sc, const char *p, const char *end) {
  p = ws(p + 1, end);
  while (*p != ']') {
    p = ws(scan_element(sc, p, end), end);
    if (*p == ',') p = ws(p + 1, end);
  }
  return p + 1;
}

/* The result object at p: finds result.<kind> (arrays[]) on the way. */
static const char *scan_result(scan_t *sc, const char *p, const char *end, const char *want) {
  char kb[16];
  size_t klen;
  while (next_member(&p, end, kb, sizeof kb, &klen)) {
    if (key_is(kb, klen, want)) {
      sc->arr = p;
      if (*p == '[') {
        p = scan_array(sc, p, end);
        continue;
      }
    }
    p = skip_val(p, end);
  }
  return p;
}

/* Whether the element's decoded name is allowed: -1 when out of memory. */
static int judge(const elem_t *e, int (*allowed)(void *, const char *, size_t), void *ud, outbuf_t *big) {
  char small[1024];
  const char *close;
  size_t n = jrpc_unescape(e->name, small, sizeof small, &close);
  const char *name = small;
  if (n > sizeof small) {
    big->len = 0;
    if (outbuf_reserve(big, n)) return -1;
    jrpc_unescape(e->name, big->data, n, &close);
    name = big->data;
  }
  return allowed(ud, name, n) != 0;
}

/* Appends the message with the array filtered. A kept element brings the
 * bytes that stood before it: the separator, or for the first kept the
 * whitespace after '['; none kept leaves the whitespace before ']'. */
static int cut(const scan_t *sc, const char *json, const char *end,
               int (*allowed)(void *, const char *, size_t), void *ud, outbuf_t *out) {
  const char *arr = sc->arr, *first = sc->n ? sc->el[0].start : NULL;
  if (outbuf_append(out, json, (size_t)(arr + 1 - json))) return -1;
  const char *before = arr + 1; /* the bytes since the element before */
  int kept = 0, rc = 0;
  outbuf_t big = {0}; /* a decoded name over the stack buffer */
  for (size_t i = 0; i < sc->n && rc == 0; i++) {
    const elem_t *e = &sc->el[i];
    int keep = judge(e, allowed, ud, &big);
    if (keep < 0) {
      rc = -1;
      break;
    }
    const char *from = kept ? before : arr + 1, *to = kept ? e->start : first;
    if (keep && (outbuf_append(out, from, (size_t)(to - from)) ||
                 outbuf_append(out, e->start, (size_t)(e->end - e->start))))
      rc = -1;
    kept |= keep;
    before = e->end;
  }
  outbuf_free(&big);
  return rc ? rc : outbuf_append(out, before, (size_t)(end - before));
}

static mcplist_result_t decide(scan_t *sc, jrpc_result_t r, const jrpc_msg_t *m, const char *json,
                               size_t len, const char *want_id, size_t want_id_len, mcplist_kind_t kind,
                               int (*allowed)(void *, const char *, size_t), void *ud, outbuf_t *out) {
  static const char *const arrays[] = {"tools", "prompts", "resources"};
  const char *end = json + len, *p = ws(json, end);
  if (*p != '{') return MCPLIST_FAIL; /* a batch may hold the answer */
  const char *id = NULL, *result = NULL;
  size_t id_len = 0;
  char kb[16];
  size_t klen;
  while (next_member(&p, end, kb, sizeof kb, &klen)) {
    const char *v = p;
    if (key_is(kb, klen, "result")) {
      result = v;
      if (*v == '{') {
        p = scan_result(sc, v, end, arrays[kind]);
        continue;
      }
    }
    p = skip_val(p, end);
    if (key_is(kb, klen, "id")) {
      id = v;
      id_len = (size_t)(p - v);
    }
  }
  if (!id || want_id_len == 0) return MCPLIST_NOT_OURS;
  if (id_len != want_id_len || memcmp(id, want_id, id_len) != 0) {
    if (*id != '"' && *id != '-' && (*id < '0' || *id > '9')) return MCPLIST_NOT_OURS;
    return same_value(id, id_len, want_id, want_id_len) ? MCPLIST_FAIL : MCPLIST_NOT_OURS;
  }
  if (!result) return MCPLIST_NOT_OURS;
  /* Ours, with a result: it must be a response and nothing else. */
  if (r != JRPC_OK || m->kind != JRPC_RESPONSE || *result != '{') return MCPLIST_FAIL;
  if (!sc->arr || *sc->arr != '[' || sc->bad) return MCPLIST_FAIL;
  size_t out0 = out->len;
  if (cut(sc, json, end, allowed, ud, out)) {
    out->len = out0;
    return MCPLIST_FAIL;
  }
  return MCPLIST_FILTERED;
}

mcplist_result_t mcplist_filter(const char *json, size_t len, const char *want_id,
                                size_t want_id_len, mcplist_kind_t kind,
                                int (*allowed)(void *ud, const char *name, size_t name_len),
                                void *ud, outbuf_t *out) {
  jrpc_msg_t m;
  jrpc_result_t r = jrpc_parse(json, len, &m);
  if (r == JRPC_PARSE_ERROR || r == JRPC_NOMEM) return MCPLIST_FAIL;
  scan_t sc;
  sc.key = kind == MCPLIST_RESOURCES ? "uri" : "name";
  sc.arr = NULL;
  sc.el = sc.small;
  sc.n = 0;
  sc.cap = sizeof sc.small / sizeof sc.small[0];
  sc.bad = 0;
  mcplist_result_t res = decide(&sc, r, &m, json, len, want_id, want_id_len, kind, allowed, ud, out);
  if (sc.el != sc.small) free(sc.el);
  return res;
}

int mcplist_error(outbuf_t *out, const char *id, size_t id_len, int code, const char *msg) {
  char esc[400];
  gw_json_escape(esc, sizeof esc, msg, strlen(msg), 300);
  if (OUTBUF_LIT(out, "{\"jsonrpc\":\"2.0\",\"id\":")) return -1;
  if (id_len ? outbuf_append(out, id, id_len) : OUTBUF_LIT(out, "null")) return -1;
  return outbuf_printf(out, ",\"error\":{\"code\":%d,\"message\":\"%s\"}}", code, esc);
}
