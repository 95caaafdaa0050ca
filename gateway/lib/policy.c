#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgini.h"
#include "cfgval.h"
#include "pathnorm.h"

typedef struct {
  const char *p;
  size_t len;
} slice_t;

typedef enum { SEG_LIT = 0, SEG_PARAM = 1, SEG_REST = 2 } seg_kind_t;

typedef struct {
  seg_kind_t kind;
  slice_t text; /* the literal; the whole segment as written otherwise */
} seg_t;

typedef struct route {
  gw_route_t pub; /* first: a gw_route_t * handed out is a route_t * */
  char *pattern;
  char *methods;  /* canonical: "*" or "GET,HEAD", no spaces */
  slice_t m[GW_POLICY_MAX_METHODS];
  size_t nm;
  int any_method;
  int nkeys;
  int bad; /* header or pattern refused: keys are still checked, nothing else */
  int line_scopes, line_any, line_auth;
  int line_rate, line_burst, line_rkey;
} route_t;

typedef struct pnode pnode_t;

typedef struct {
  slice_t seg; /* points into the pattern of the route that created it */
  pnode_t *child;
} pedge_t;

/* One trie node per distinct pattern prefix. `end` holds the routes whose
 * pattern stops here, `rest` those whose next and last segment is `**`.
 * Both lists hold at most one route per method plus one `*` route, since
 * overlapping methods on one pattern are rejected as duplicates. */
struct pnode {
  pedge_t *lit; /* sorted by (len, bytes) for binary search */
  size_t nlit, caplit;
  pnode_t *param;
  route_t **end;
  size_t nend, capend;
  route_t **rest;
  size_t nrest, caprest;
};

struct gw_policy {
  gw_scope_registry_t reg;
  route_t **routes;
  size_t nroutes, caproutes;
  pnode_t *root;
  gw_mcp_items_t mcp;
  gw_unmatched_t unmatched;
};

typedef enum { SEC_NONE = 0, SEC_ROUTE, SEC_DEFAULTS, SEC_MCP, SEC_SKIP } sec_kind_t;

typedef struct {
  gw_policy_t *p;
  const char *file;
  gw_errors_t *errs;
  size_t errs_at_start;
  int have_supported;
  int oom;
  sec_kind_t kind;
  int sec_line;
  char *sec_text;   /* to notice a section change even without a header call */
  route_t *route;   /* SEC_ROUTE */
  int defaults_line, unmatched_line;
  int route_limit_reported;
} load_t;

/* ---- small helpers ---- */

static int is_ws(unsigned char c) { return c == ' ' || c == '\t'; }

static int slice_eq(slice_t a, const char *b, size_t blen) {
  return a.len == blen && memcmp(a.p, b, blen) == 0;
}

static int slice_cmp(const char *a, size_t alen, const char *b, size_t blen) {
  if (alen != blen) return alen < blen ? -1 : 1;
  return memcmp(a, b, alen);
}

/* arr grown so that element n fits (*cap updated), or NULL when out of
 * memory (arr then stays valid and owned by the caller). */
static void *grow(void *arr, size_t *cap, size_t n, size_t elem) {
  if (n < *cap) return arr;
  size_t nc = *cap ? *cap * 2 : 4;
  void *na = realloc(arr, nc * elem);
  if (!na) return NULL;
  *cap = nc;
  return na;
}

/* A byte as it can be shown in a one-line message. */
static void show_byte(unsigned char c, char out[8]) {
  static const char hx[] = "0123456789ABCDEF";
  if (c > 0x20 && c < 0x7F) {
    out[0] = '\'';
    out[1] = (char)c;
    out[2] = '\'';
    out[3] = '\0';
  } else {
    memcpy(out, "0x", 2);
    out[2] = hx[c >> 4];
    out[3] = hx[c & 0xF];
    out[4] = '\0';
  }
}

/* Section text for messages: printable ASCII, bounded, so that an odd byte
 * in the file cannot garble the operator's terminal. */
static const char *printable(const char *s, char *buf, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; s[i] && o + 4 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    buf[o++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
  }
  if (s[0] && o + 4 >= cap) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o] = '\0';
  return buf;
}

#define ERR(ld, line, ...) gw_errors_add((ld)->errs, (ld)->file, (line), __VA_ARGS__)

static void oom(load_t *ld, int line) {
  if (!ld->oom) ERR(ld, line, "out of memory");
  ld->oom = 1;
}

/* ---- trie ---- */

static void node_free(pnode_t *n) {
  if (!n) return;
  for (size_t i = 0; i < n->nlit; i++) node_free(n->lit[i].child);
  free(n->lit);
  node_free(n->param);
  free(n->end);
  free(n->rest);
  free(n);
}

static size_t lit_lower_bound(const pnode_t *n, const char *s, size_t len) {
  size_t lo = 0, hi = n->nlit;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (slice_cmp(n->lit[mid].seg.p, n->lit[mid].seg.len, s, len) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static const pnode_t *lit_find(const pnode_t *n, const char *s, size_t len) {
  size_t i = lit_lower_bound(n, s, len);
  if (i < n->nlit && slice_cmp(n->lit[i].seg.p, n->lit[i].seg.len, s, len) == 0)
    return n->lit[i].child;
  return NULL;
}

/* Child for one pattern segment, created when missing; NULL when out of
 * memory. Kept sorted on insert, so a loaded policy needs no extra pass. */
static pnode_t *node_child(pnode_t *n, const seg_t *sg) {
  if (sg->kind == SEG_PARAM) {
    if (!n->param) n->param = calloc(1, sizeof *n->param);
    return n->param;
  }
  size_t i = lit_lower_bound(n, sg->text.p, sg->text.len);
  if (i < n->nlit && slice_cmp(n->lit[i].seg.p, n->lit[i].seg.len, sg->text.p, sg->text.len) == 0)
    return n->lit[i].child;
  pedge_t *lit = grow(n->lit, &n->caplit, n->nlit, sizeof *n->lit);
  if (!lit) return NULL;
  n->lit = lit;
  pnode_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  memmove(n->lit + i + 1, n->lit + i, (n->nlit - i) * sizeof *n->lit);
  n->lit[i].seg = sg->text;
  n->lit[i].child = c;
  n->nlit++;
  return c;
}

static int route_has_method(const route_t *r, const char *m, size_t mlen) {
  for (size_t i = 0; i < r->nm; i++)
    if (slice_eq(r->m[i], m, mlen)) return 1;
  return 0;
}

/* The route of one terminal list serving the method: an explicit method
 * first, then (for HEAD, when no route names HEAD) a GET route, then `*`. */
static const route_t *pick(route_t *const *list, size_t n, const char *m, size_t mlen) {
  const route_t *get = NULL, *star = NULL;
  int head = mlen == 4 && memcmp(m, "HEAD", 4) == 0;
  for (size_t i = 0; i < n; i++) {
    const route_t *r = list[i];
    if (r->any_method) {
      star = r;
      continue;
    }
    if (route_has_method(r, m, mlen)) return r;
    if (head && route_has_method(r, "GET", 3)) get = r;
  }
  return get ? get : star;
}

/* Depth-first in precedence order: literal, then `*`, then `**`; the first
 * route found is the most specific. pos indexes the '/' that starts the next
 * segment, or equals plen once the path is consumed. Recursion depth is
 * bounded by the trie's depth (GW_PATH_MAX_SEGMENTS + 1). */
static const route_t *walk(const pnode_t *n, const char *path, size_t pos, size_t plen,
                           const char *m, size_t mlen) {
  if (pos == plen) {
    // Both "/a" and "/a/**" match "/a": a final ** that matches no segment
    // loses to the pattern that ends here (SPEC "Paths and matching").
    const route_t *r = pick(n->end, n->nend, m, mlen);
    return r ? r : pick(n->rest, n->nrest, m, mlen);
  }
  const char *seg = path + pos + 1;
  const char *slash = pos + 1 < plen ? memchr(seg, '/', plen - pos - 1) : NULL;
  size_t next = slash ? (size_t)(slash - path) : plen;
  size_t seglen = next - pos - 1;
  const route_t *r;
  const pnode_t *c = lit_find(n, seg, seglen);
  if (c && (r = walk(c, path, next, plen, m, mlen))) return r;
  if (seglen > 0 && n->param && (r = walk(n->param, path, next, plen, m, mlen))) return r;
  return pick(n->rest, n->nrest, m, mlen);
}

/* ---- patterns and methods ---- */

/* Bytes a literal may hold: what can appear in a normalized path segment
 * other than a percent-escape (a literal cannot hold '%': the escapes that
 * survive normalization are better matched by `*`). */
static int lit_byte_ok(unsigned char c) {
  if (c <= 0x20 || c >= 0x7F) return 0;
  return !strchr("\"<>[]^`{|}\\%?#", c);
}

/* Splits and checks a pattern; fills segs. Returns NULL or a message in
 * msg (which it returns). */
static const char *parse_pattern(const char *pat, size_t len, seg_t *segs, size_t *nsegs,
                                 char *msg, size_t cap) {
  char b[8];
  *nsegs = 0;
  if (len == 0) return "missing pattern";
  if (len > GW_POLICY_MAX_PATTERN) {
    snprintf(msg, cap, "pattern longer than %d bytes", GW_POLICY_MAX_PATTERN);
    return msg;
  }
  if (pat[0] != '/') return "pattern must start with '/'";
  size_t i = 0;
  while (i < len) {
    size_t s = ++i;
    while (i < len && pat[i] != '/') i++;
    slice_t t = {pat + s, i - s};
    int last = i >= len;
    if (*nsegs == GW_PATH_MAX_SEGMENTS) {
      snprintf(msg, cap, "pattern has more than %d segments", GW_PATH_MAX_SEGMENTS);
      return msg;
    }
    seg_t *sg = &segs[(*nsegs)++];
    sg->text = t;
    sg->kind = SEG_LIT;
    if (t.len == 0) {
      if (!last) return "empty segment in pattern ('//')";
      continue; /* trailing '/': a literal empty last segment */
    }
    if (slice_eq(t, "**", 2)) {
      if (!last) return "'**' must be the last segment";
      sg->kind = SEG_REST;
      continue;
    }
    if (slice_eq(t, "*", 1)) {
      sg->kind = SEG_PARAM;
      continue;
    }
    if (t.p[0] == '{' && t.p[t.len - 1] == '}' && t.len > 2) {
      for (size_t k = 1; k + 1 < t.len; k++) {
        unsigned char c = (unsigned char)t.p[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
          snprintf(msg, cap, "bad parameter name '%.*s' (letters, digits, '_', '-')",
                   (int)(t.len > 64 ? 64 : t.len), t.p);
          return msg;
        }
      }
      sg->kind = SEG_PARAM;
      continue;
    }
    for (size_t k = 0; k < t.len; k++) {
      unsigned char c = (unsigned char)t.p[k];
      if (c == '*') return "'*' and '**' must be whole segments";
      if (c == '{' || c == '}') return "'{name}' must be a whole segment";
      if (!lit_byte_ok(c)) {
        show_byte(c, b);
        snprintf(msg, cap, "character %s not allowed in pattern", b);
        return msg;
      }
    }
    if (slice_eq(t, ".", 1) || slice_eq(t, "..", 2))
      return "'.' and '..' segments never match a normalized path";
  }
  return NULL;
}

static int method_byte_ok(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Parses "METHODS PATTERN" into r (methods) and returns the pattern slice in
 * *pat. Returns NULL or a message. */
static const char *parse_route_header(const char *s, route_t *r, slice_t *pat, char *msg,
                                      size_t cap) {
  size_t n = strlen(s), i = 0;
  char canon[GW_POLICY_MAX_METHODS * (GW_POLICY_MAX_METHOD_LEN + 1) + 1];
  size_t clen = 0;
  while (i < n && is_ws((unsigned char)s[i])) i++;
  if (i < n && s[i] == '/') return "missing METHODS before the pattern";
  if (!strpbrk(s + i, " \t")) return "expected [METHODS PATTERN], [defaults] or [mcp-tool|prompt|resource:NAME]";
  for (;;) {
    size_t st = i;
    while (i < n && !is_ws((unsigned char)s[i]) && s[i] != ',') i++;
    size_t tl = i - st;
    if (tl == 0) return "empty method in METHODS";
    const char *tok = s + st;
    if (tl == 1 && tok[0] == '*') {
      if (r->any_method || r->nm > 0) return "'*' cannot be combined with other methods";
      r->any_method = 1;
    } else {
      int lower = 0;
      for (size_t k = 0; k < tl; k++) {
        unsigned char c = (unsigned char)tok[k];
        if (c >= 'a' && c <= 'z') {
          lower = 1;
        } else if (!method_byte_ok(c)) {
          snprintf(msg, cap, "bad method '%.*s'", (int)(tl > 32 ? 32 : tl), tok);
          return msg;
        }
      }
      if (lower) {
        snprintf(msg, cap, "method '%.*s' must be upper-case (methods are case-sensitive)",
                 (int)(tl > 32 ? 32 : tl), tok);
        return msg;
      }
      if (tl > GW_POLICY_MAX_METHOD_LEN) return "method name too long";
      if (r->nm == GW_POLICY_MAX_METHODS) return "too many methods in one route";
      if (route_has_method(r, tok, tl)) {
        snprintf(msg, cap, "method '%.*s' listed twice", (int)tl, tok);
        return msg;
      }
      r->m[r->nm].p = tok; /* re-pointed into r->methods below */
      r->m[r->nm].len = tl;
      r->nm++;
    }
    if (clen) canon[clen++] = ',';
    memcpy(canon + clen, tok, tl);
    clen += tl;
    while (i < n && is_ws((unsigned char)s[i])) i++;
    if (i < n && s[i] == ',') {
      i++;
      while (i < n && is_ws((unsigned char)s[i])) i++;
      continue;
    }
    break;
  }
  if (r->any_method && r->nm > 0) return "'*' cannot be combined with other methods";
  size_t e = n;
  while (e > i && is_ws((unsigned char)s[e - 1])) e--;
  if (e == i) return "expected [METHODS PATTERN], [defaults] or [mcp-tool|prompt|resource:NAME]";
  pat->p = s + i;
  pat->len = e - i;
  canon[clen] = '\0';
  r->methods = gw_dup_range(canon, clen);
  if (!r->methods) return "out of memory";
  /* Re-point the method slices at the owned copy: s dies with the call. */
  size_t off = 0, k = 0;
  for (size_t j = 0; j <= clen && k < r->nm; j++) {
    if (j == clen || canon[j] == ',') {
      r->m[k].p = r->methods + off;
      r->m[k].len = j - off;
      k++;
      off = j + 1;
    }
  }
  return NULL;
}

/* Rejects a route whose pattern equals that of a route already in the
 * list and whose methods overlap. `{a}` and `*` are the same pattern. */
static const route_t *find_duplicate(route_t *const *list, size_t n, const route_t *r) {
  for (size_t i = 0; i < n; i++) {
    const route_t *o = list[i];
    if (o->any_method || r->any_method) {
      if (o->any_method && r->any_method) return o;
      continue;
    }
    for (size_t k = 0; k < r->nm; k++)
      if (route_has_method(o, r->m[k].p, r->m[k].len)) return o;
  }
  return NULL;
}

/* ---- sections ---- */

static void finish_section(load_t *ld) {
  route_t *r = ld->route;
  if (ld->kind == SEC_ROUTE && r && !r->line_rate && (r->line_burst || r->line_rkey))
    ERR(ld, r->line_burst ? r->line_burst : r->line_rkey, "%s needs rate",
        r->line_burst ? "burst" : "rate_key");
  if (ld->kind == SEC_ROUTE && r && r->pub.rate.count && !r->line_burst)
    r->pub.rate.burst = r->pub.rate.count;
  if (ld->kind == SEC_ROUTE && ld->route && !ld->route->bad && ld->route->nkeys == 0)
    ERR(ld, ld->sec_line, "route [%s %s] has no scopes, any_scopes or auth",
        ld->route->pub.methods ? ld->route->pub.methods : "?", ld->route->pub.pattern);
  if (ld->kind == SEC_MCP) mcp_items_end(&ld->p->mcp, ld->file, ld->errs);
  ld->kind = SEC_NONE;
  ld->route = NULL;
}

static void begin_route(load_t *ld, const char *sec, int line) {
  gw_policy_t *p = ld->p;
  char msg[192], shown[96];
  ld->kind = SEC_SKIP;
  if (p->nroutes == GW_POLICY_MAX_ROUTES) {
    if (!ld->route_limit_reported)
      ERR(ld, line, "too many routes (at most %d)", GW_POLICY_MAX_ROUTES);
    ld->route_limit_reported = 1;
    return;
  }
  route_t *r = calloc(1, sizeof *r);
  route_t **routes = r ? grow(p->routes, &p->caproutes, p->nroutes, sizeof *p->routes) : NULL;
  if (!routes) {
    free(r);
    oom(ld, line);
    return;
  }
  p->routes = routes;
  r->pub.index = (unsigned)p->nroutes;
  p->routes[p->nroutes++] = r;
  r->pub.line = line;
  r->pub.auth = GW_AUTH_TOKEN;
  ld->kind = SEC_ROUTE;
  ld->route = r;

  slice_t pat = {NULL, 0};
  const char *err = parse_route_header(sec, r, &pat, msg, sizeof msg);
  if (!err) {
    r->pattern = gw_dup_range(pat.p, pat.len);
    if (!r->pattern) err = "out of memory";
  }
  if (err) {
    ERR(ld, line, "bad route [%s]: %s", printable(sec, shown, sizeof shown), err);
    if (!r->pattern) r->pattern = gw_dup_range(sec, strlen(sec));
    r->pub.pattern = r->pattern ? r->pattern : "";
    r->pub.methods = r->methods;
    r->bad = 1; /* never reaches the trie */
    return;
  }
  r->pub.pattern = r->pattern;
  r->pub.methods = r->methods;

  seg_t segs[GW_PATH_MAX_SEGMENTS];
  size_t nsegs = 0;
  err = parse_pattern(r->pattern, pat.len, segs, &nsegs, msg, sizeof msg);
  if (err) {
    ERR(ld, line, "bad pattern '%s': %s", printable(r->pattern, shown, sizeof shown), err);
    r->bad = 1;
    return;
  }
  pnode_t *n = p->root;
  size_t k = 0;
  for (; k < nsegs && segs[k].kind != SEG_REST && n; k++) n = node_child(n, &segs[k]);
  if (!n) {
    oom(ld, line);
    return;
  }
  int rest = k < nsegs;
  route_t **list = rest ? n->rest : n->end;
  size_t cnt = rest ? n->nrest : n->nend;
  const route_t *dup = find_duplicate(list, cnt, r);
  if (dup) {
    ERR(ld, line, "duplicate route [%s %s]: same pattern and method as [%s %s] at line %d",
        r->methods, printable(r->pattern, shown, sizeof shown), dup->methods, dup->pattern,
        dup->pub.line);
    return;
  }
  list = grow(list, rest ? &n->caprest : &n->capend, cnt, sizeof *list);
  if (!list) {
    oom(ld, line);
    return;
  }
  list[cnt] = r;
  if (rest) {
    n->rest = list;
    n->nrest = cnt + 1;
  } else {
    n->end = list;
    n->nend = cnt + 1;
  }
}

static void begin_section(load_t *ld, const char *sec, int line) {
  finish_section(ld);
  free(ld->sec_text);
  ld->sec_text = gw_dup_range(sec, strlen(sec));
  if (!ld->sec_text) {
    oom(ld, line);
    ld->kind = SEC_SKIP;
    return;
  }
  ld->sec_line = line;
  /* Trim here as well: the reader's trimming is not part of its contract. */
  const char *s = sec;
  while (is_ws((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && is_ws((unsigned char)s[n - 1])) n--;
  char *t = gw_dup_range(s, n);
  if (!t) {
    oom(ld, line);
    ld->kind = SEC_SKIP;
    return;
  }
  if (strcmp(t, "defaults") == 0) {
    if (ld->defaults_line) {
      ERR(ld, line, "duplicate [defaults] section (first at line %d)", ld->defaults_line);
      ld->kind = SEC_SKIP;
    } else {
      ld->defaults_line = line;
      ld->kind = SEC_DEFAULTS;
    }
  } else if (mcp_items_section(&ld->p->mcp, t, line, ld->file, ld->errs)) {
    ld->kind = SEC_MCP;
  } else if (n == 0) {
    ERR(ld, line, "empty section name");
    ld->kind = SEC_SKIP;
  } else {
    begin_route(ld, t, line);
  }
  free(t);
}

/* ---- keys ---- */

/* Parses a space-separated scope list into a mask, interning new names.
 * Returns -1 after reporting (every bad name is reported). */
static int parse_scopes(load_t *ld, const char *key, const char *v, int line,
                        gw_scopeset_t *out) {
  gw_scope_registry_t *reg = &ld->p->reg;
  char shown[96];
  size_t n = strlen(v), i = 0;
  int bad = 0, any = 0;
  *out = 0;
  while (i < n) {
    while (i < n && is_ws((unsigned char)v[i])) i++;
    size_t st = i;
    while (i < n && !is_ws((unsigned char)v[i])) i++;
    if (i == st) break;
    any = 1;
    const char *w = v + st;
    size_t wl = i - st;
    int idx;
    if (ld->have_supported) {
      idx = scopes_find(reg, w, wl);
      if (idx < 0) {
        char *c = gw_dup_range(w, wl);
        ERR(ld, line, "scope '%s' is not in [resource] scopes_supported",
            c ? printable(c, shown, sizeof shown) : "?");
        free(c);
        bad = 1;
        continue;
      }
    } else {
      size_t before = reg->n;
      idx = scopes_intern(reg, w, wl);
      if (idx < 0) {
        char *c = gw_dup_range(w, wl);
        if (before >= GW_MAX_SCOPES)
          ERR(ld, line, "too many distinct scopes (at most %d)", GW_MAX_SCOPES);
        else
          ERR(ld, line, "invalid scope '%s' (RFC 6749 scope-token)",
              c ? printable(c, shown, sizeof shown) : "?");
        free(c);
        bad = 1;
        continue;
      }
    }
    *out |= (gw_scopeset_t)1 << idx;
  }
  if (!any) {
    ERR(ld, line, "%s is empty", key);
    return -1;
  }
  return bad ? -1 : 0;
}

static void route_key(load_t *ld, const char *name, const char *value, int line) {
  route_t *r = ld->route;
  char shown[96];
  int *seen;
  if (strcmp(name, "scopes") == 0)
    seen = &r->line_scopes;
  else if (strcmp(name, "any_scopes") == 0)
    seen = &r->line_any;
  else if (strcmp(name, "auth") == 0)
    seen = &r->line_auth;
  else if (strcmp(name, "rate") == 0)
    seen = &r->line_rate;
  else if (strcmp(name, "burst") == 0)
    seen = &r->line_burst;
  else if (strcmp(name, "rate_key") == 0)
    seen = &r->line_rkey;
  else {
    ERR(ld, line, "unknown key '%s' in route (scopes, any_scopes, auth, rate, burst, rate_key)",
        printable(name, shown, sizeof shown));
    return;
  }
  if (*seen) {
    ERR(ld, line, "duplicate key '%s' (first at line %d)", name, *seen);
    return;
  }
  *seen = line;
  if (seen == &r->line_rate || seen == &r->line_burst || seen == &r->line_rkey) {
    gw_rate_t *rt = &r->pub.rate;
    char *end = NULL;
    unsigned long b = seen == &r->line_burst ? strtoul(value, &end, 10) : 0;
    if (seen == &r->line_rate ? ratelimit_parse_rate(value, &rt->count, &rt->window_s) != 0
        : seen == &r->line_rkey ? ratelimit_parse_key(value, &rt->key) != 0
        : (value[0] < '1' || value[0] > '9' || *end || b > 1000000000ul))
      ERR(ld, line, "%s must be %s, not '%s'", name,
          seen == &r->line_rate ? "COUNT/s, COUNT/m or COUNT/h"
          : seen == &r->line_rkey ? "sub, client_id or address" : "a count from 1",
          printable(value, shown, sizeof shown));
    else if (seen == &r->line_burst)
      rt->burst = (uint32_t)b;
    return;
  }
  r->nkeys++;
  if (seen == &r->line_auth) {
    if (strcmp(value, "none") == 0)
      r->pub.auth = GW_AUTH_NONE;
    else if (strcmp(value, "token") == 0)
      r->pub.auth = GW_AUTH_TOKEN;
    else {
      ERR(ld, line, "auth must be 'none' or 'token', not '%s'",
          printable(value, shown, sizeof shown));
      return;
    }
  } else {
    gw_scopeset_t set;
    if (parse_scopes(ld, name, value, line, &set) == 0) {
      if (seen == &r->line_scopes)
        r->pub.required = set;
      else
        r->pub.any = set;
    }
  }
  /* A public route that also names scopes says two things at once; which
   * one the operator meant is not ours to guess. */
  if (r->pub.auth == GW_AUTH_NONE && r->line_auth && (r->line_scopes || r->line_any)) {
    int other = r->line_scopes ? r->line_scopes : r->line_any;
    const char *k = r->line_scopes ? "scopes" : "any_scopes";
    if (line == r->line_auth)
      ERR(ld, line, "auth = none conflicts with %s (line %d)", k, other);
    else
      ERR(ld, line, "%s conflicts with auth = none (line %d)", name, r->line_auth);
  }
}

static void defaults_key(load_t *ld, const char *name, const char *value, int line) {
  char shown[96];
  if (strcmp(name, "mcp_unlisted") == 0) {
    mcp_items_unlisted(&ld->p->mcp, value, line, ld->file, ld->errs);
    return;
  }
  if (strcmp(name, "unmatched") != 0) {
    ERR(ld, line, "unknown key '%s' in [defaults] (unmatched, mcp_unlisted)",
        printable(name, shown, sizeof shown));
    return;
  }
  if (ld->unmatched_line) {
    ERR(ld, line, "duplicate key 'unmatched' (first at line %d)", ld->unmatched_line);
    return;
  }
  ld->unmatched_line = line;
  if (strcmp(value, "deny") == 0)
    ld->p->unmatched = GW_UNMATCHED_DENY;
  else if (strcmp(value, "token") == 0)
    ld->p->unmatched = GW_UNMATCHED_TOKEN;
  else if (strcmp(value, "allow") == 0)
    ERR(ld, line,
        "unmatched = allow is not supported (fail closed); add a route [* /**] with "
        "auth = none to open everything deliberately");
  else
    ERR(ld, line, "unmatched must be 'deny' or 'token', not '%s'",
        printable(value, shown, sizeof shown));
}

static void mcp_key(load_t *ld, const char *name, const char *value, int line) {
  if (mcp_items_rate_key(&ld->p->mcp, name, value, line, ld->file, ld->errs)) return;
  int which = mcp_items_key(&ld->p->mcp, name, line, ld->file, ld->errs);
  gw_scopeset_t set;
  if (which && parse_scopes(ld, name, value, line, &set) == 0) mcp_items_set(&ld->p->mcp, which, set);
}

static void on_key(load_t *ld, const char *section, const char *name, const char *value,
                   int line) {
  if (!name && !value) {
    begin_section(ld, section ? section : "", line);
    return;
  }
  /* A reader that skipped the header call still names the section. */
  if (section && section[0] && (!ld->sec_text || strcmp(section, ld->sec_text) != 0))
    begin_section(ld, section, line);
  if (!name) name = "";
  if (!value) value = "";
  switch (ld->kind) {
    case SEC_NONE: {
      char shown[96];
      ERR(ld, line, "key '%s' outside of a section", printable(name, shown, sizeof shown));
      break;
    }
    case SEC_ROUTE: route_key(ld, name, value, line); break;
    case SEC_DEFAULTS: defaults_key(ld, name, value, line); break;
    case SEC_MCP: mcp_key(ld, name, value, line); break;
    case SEC_SKIP: break;
  }
}

/* config_ini_parse's contract: non-zero when the line was fine, 0 when the
 * handler reported a problem (it goes on reading either way, so that every
 * error is reported). */
static int on_ini(void *user, const char *section, const char *name, const char *value,
                  int line) {
  load_t *ld = user;
  size_t before = ld->errs->n;
  on_key(ld, section, name, value, line);
  return ld->errs->n == before;
}

/* ---- public ---- */

gw_policy_t *policy_load(const char *path, char *const *scopes_supported, size_t nsupported,
                         gw_errors_t *errs) {
  load_t ld;
  memset(&ld, 0, sizeof ld);
  ld.file = path;
  ld.errs = errs;
  ld.errs_at_start = errs->n;
  gw_policy_t *p = calloc(1, sizeof *p);
  if (!p || !(p->root = calloc(1, sizeof *p->root))) {
    free(p);
    gw_errors_add(errs, path, 0, "out of memory");
    return NULL;
  }
  p->unmatched = GW_UNMATCHED_DENY;
  mcp_items_init(&p->mcp);
  ld.p = p;
  /* The supported names come first so that registry order, and so the order
   * of scopes in challenges and metadata, follows the operator's list. */
  for (size_t i = 0; i < nsupported; i++) {
    const char *s = scopes_supported[i];
    if (scopes_intern(&p->reg, s, strlen(s)) < 0)
      gw_errors_add(errs, path, 0, "[resource] scopes_supported: invalid scope or too many");
  }
  ld.have_supported = nsupported > 0;

  int rc = config_ini_parse(path, on_ini, &ld, errs);
  finish_section(&ld);
  free(ld.sec_text);

  if (rc != 0 || errs->n > ld.errs_at_start || ld.oom) {
    if (errs->n == ld.errs_at_start) gw_errors_add(errs, path, 0, "cannot load policy");
    policy_free(p);
    return NULL;
  }
  mcp_items_done(&p->mcp);
  return p;
}

void policy_free(gw_policy_t *p) {
  if (!p) return;
  node_free(p->root);
  for (size_t i = 0; i < p->nroutes; i++) {
    free(p->routes[i]->pattern);
    free(p->routes[i]->methods);
    free(p->routes[i]);
  }
  free(p->routes);
  mcp_items_free(&p->mcp);
  scopes_free(&p->reg);
  free(p);
}

const gw_route_t *policy_match(const gw_policy_t *p, const char *method, size_t mlen,
                               const char *path, size_t plen) {
  if (!p || plen == 0 || path[0] != '/' || mlen == 0) return NULL;
  const route_t *r = walk(p->root, path, 0, plen, method, mlen);
  return r ? &r->pub : NULL;
}

gw_policy_verdict_t policy_decide(const gw_policy_t *p, const gw_route_t *route, int token_ok,
                                  gw_scopeset_t token_scopes, gw_scopeset_t *missing) {
  if (missing) *missing = 0;
  if (!route) {
    if (!token_ok) return GW_POLICY_NEED_TOKEN;
    return p && p->unmatched == GW_UNMATCHED_TOKEN ? GW_POLICY_ALLOW : GW_POLICY_DENY_UNMATCHED;
  }
  if (route->auth == GW_AUTH_NONE) return GW_POLICY_PUBLIC;
  if (!token_ok) return GW_POLICY_NEED_TOKEN;
  gw_scopeset_t miss = route->required & ~token_scopes;
  if (route->any && !(route->any & token_scopes)) miss |= route->any;
  if (miss) {
    if (missing) *missing = miss;
    return GW_POLICY_INSUFFICIENT_SCOPE;
  }
  return GW_POLICY_ALLOW;
}

const gw_scope_registry_t *policy_scopes(const gw_policy_t *p) { return &p->reg; }

gw_scopeset_t policy_all_scopes(const gw_policy_t *p) {
  if (p->reg.n >= 64) return ~(gw_scopeset_t)0;
  return ((gw_scopeset_t)1 << p->reg.n) - 1;
}

/* Whether some path at or under prefix can match pattern: walk the prefix's
 * segments against the pattern's. */
static int reaches(const char *pat, const char *prefix, size_t plen) {
  size_t i = 0, j = 0, pl = strlen(pat);
  while (plen > 0 && prefix[plen - 1] == '/') plen--;
  while (j < plen) {
    /* next prefix segment */
    size_t ps = ++j;
    while (j < plen && prefix[j] != '/') j++;
    if (i >= pl) return 0; /* the pattern stops above the prefix */
    size_t ts = ++i;
    while (i < pl && pat[i] != '/') i++;
    size_t tl = i - ts;
    const char *t = pat + ts;
    if (tl == 2 && t[0] == '*' && t[1] == '*') return 1;
    if ((tl == 1 && t[0] == '*') || (tl > 2 && t[0] == '{' && t[tl - 1] == '}')) {
      if (j == ps) return 0; /* `*` needs a non-empty segment */
      continue;
    }
    if (tl != j - ps || memcmp(t, prefix + ps, tl) != 0) return 0;
  }
  return 1;
}

gw_scopeset_t policy_scopes_under(const gw_policy_t *p, const char *prefix, size_t len) {
  gw_scopeset_t s = 0;
  for (size_t i = 0; i < p->nroutes; i++) {
    const route_t *r = p->routes[i];
    if (r->pub.auth == GW_AUTH_TOKEN && reaches(r->pattern, prefix, len))
      s |= r->pub.required | r->pub.any;
  }
  return s;
}

int policy_route_reaches(const gw_route_t *r, const char *prefix, size_t len) {
  return reaches(r->pattern, prefix, len);
}

gw_scopeset_t policy_tool_scopes(const gw_policy_t *p) { return p->mcp.all; }

gw_scopeset_t policy_tool(const gw_policy_t *p, const char *name, size_t len) {
  const gw_mcp_item_t *it = mcp_items_find(&p->mcp, GW_MCP_TOOL, name, len);
  return it ? it->required | it->any : 0;
}

const gw_mcp_items_t *policy_mcp(const gw_policy_t *p) { return &p->mcp; }

gw_unmatched_t policy_unmatched(const gw_policy_t *p) { return p->unmatched; }
size_t policy_route_count(const gw_policy_t *p) { return p->nroutes; }
const gw_route_t *policy_route(const gw_policy_t *p, size_t i) {
  return i < p->nroutes ? &p->routes[i]->pub : NULL;
}
