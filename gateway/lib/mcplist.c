/* mcplist: jrpc_parse checks the message strictly first, so the walk here
 * reads a document known to be well-formed and needs no checks of its
 * own beyond the shape of the answer. */
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
 * and container, so each loop stops at a byte inside it. */
static const char *skip_str(const char *p) {
  for (p++; *p != '"'; p++)
    if (*p == '\\') p++;
  return p + 1;
}

static const char *skip_val(const char *p, const char *end) {
  if (*p == '"') return skip_str(p);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    do {
      if (*p == '"') {
        p = skip_str(p);
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      else if (*p == '}' || *p == ']') depth--;
      p++;
    } while (depth > 0);
    return p;
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

typedef struct {
  const char *json;
  const char *key; /* "name" or "uri" */
  int (*allowed)(void *ud, const char *name, size_t name_len);
  void *ud;
  outbuf_t *out;
  outbuf_t big; /* a decoded name over the stack buffer */
} flt_t;

/* The element at p, an object with a string f->key: -1 if it is not one,
 * else whether it is allowed; *after is set past it. */
static int judge_element(flt_t *f, const char *p, const char *end, const char **after) {
  if (*p != '{') return -1;
  int verdict = -1;
  char kb[8];
  size_t klen;
  while (next_member(&p, end, kb, sizeof kb, &klen)) {
    if (key_is(kb, klen, f->key)) {
      if (*p != '"') return -1;
      char small[1024];
      const char *close;
      size_t n = jrpc_unescape(p + 1, small, sizeof small, &close);
      const char *name = small;
      if (n > sizeof small) {
        f->big.len = 0;
        if (outbuf_reserve(&f->big, n)) return -1;
        jrpc_unescape(p + 1, f->big.data, n, &close);
        name = f->big.data;
      }
      verdict = f->allowed(f->ud, name, n) != 0;
    }
    p = skip_val(p, end);
  }
  *after = p;
  return verdict;
}

/* Appends the message with the array at arr (on its '[') filtered. A
 * kept element brings the bytes that stood before it: the separator, or
 * for the first kept the whitespace after '['; none kept leaves the
 * whitespace before ']'. */
static int filter_array(flt_t *f, const char *arr, const char *end) {
  const char *p = ws(arr + 1, end), *first = p;
  if (outbuf_append(f->out, f->json, (size_t)(arr + 1 - f->json))) return -1;
  const char *before = arr + 1; /* the bytes since the element before */
  int kept = 0;
  while (*p != ']') {
    const char *t;
    int keep = judge_element(f, p, end, &t);
    if (keep < 0) return -1;
    const char *from = kept ? before : arr + 1, *to = kept ? p : first;
    if (keep && (outbuf_append(f->out, from, (size_t)(to - from)) ||
                 outbuf_append(f->out, p, (size_t)(t - p))))
      return -1;
    kept |= keep;
    before = t;
    p = ws(t, end);
    if (*p == ',') p = ws(p + 1, end);
  }
  return outbuf_append(f->out, before, (size_t)(end - before));
}

mcplist_result_t mcplist_filter(const char *json, size_t len, const char *want_id,
                                size_t want_id_len, mcplist_kind_t kind,
                                int (*allowed)(void *ud, const char *name, size_t name_len),
                                void *ud, outbuf_t *out) {
  jrpc_msg_t m;
  jrpc_result_t r = jrpc_parse(json, len, &m);
  if (r == JRPC_PARSE_ERROR || r == JRPC_NOMEM) return MCPLIST_FAIL;
  const char *end = json + len, *p = ws(json, end);
  if (*p != '{') return MCPLIST_FAIL; /* a batch may hold the answer */
  const char *id = NULL, *result = NULL;
  size_t id_len = 0;
  char kb[16];
  size_t klen;
  while (next_member(&p, end, kb, sizeof kb, &klen)) {
    const char *v = p;
    p = skip_val(p, end);
    if (key_is(kb, klen, "id")) {
      id = v;
      id_len = (size_t)(p - v);
    } else if (key_is(kb, klen, "result")) {
      result = v;
    }
  }
  if (!id || want_id_len == 0) return MCPLIST_NOT_OURS;
  if (id_len != want_id_len || memcmp(id, want_id, id_len) != 0) {
    if (*id != '"' && *id != '-' && (*id < '0' || *id > '9')) return MCPLIST_NOT_OURS;
    return same_value(id, id_len, want_id, want_id_len) ? MCPLIST_FAIL : MCPLIST_NOT_OURS;
  }
  if (!result) return MCPLIST_NOT_OURS;
  /* Ours, with a result: it must be a response and nothing else. */
  if (r != JRPC_OK || m.kind != JRPC_RESPONSE || *result != '{') return MCPLIST_FAIL;
  static const char *const arrays[] = {"tools", "prompts", "resources"};
  const char *arr = NULL;
  p = result;
  while (next_member(&p, end, kb, sizeof kb, &klen)) {
    if (key_is(kb, klen, arrays[kind])) arr = p;
    p = skip_val(p, end);
  }
  if (!arr || *arr != '[') return MCPLIST_FAIL;
  flt_t f = {json, kind == MCPLIST_RESOURCES ? "uri" : "name", allowed, ud, out, {0}};
  size_t out0 = out->len;
  int rc = filter_array(&f, arr, end);
  outbuf_free(&f.big);
  if (rc) {
    out->len = out0;
    return MCPLIST_FAIL;
  }
  return MCPLIST_FILTERED;
}

int mcplist_error(outbuf_t *out, const char *id, size_t id_len, int code, const char *msg) {
  char esc[400];
  gw_json_escape(esc, sizeof esc, msg, strlen(msg), 300);
  if (OUTBUF_LIT(out, "{\"jsonrpc\":\"2.0\",\"id\":")) return -1;
  if (id_len ? outbuf_append(out, id, id_len) : OUTBUF_LIT(out, "null")) return -1;
  return outbuf_printf(out, ",\"error\":{\"code\":%d,\"message\":\"%s\"}}", code, esc);
}
