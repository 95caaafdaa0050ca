/* libFuzzer driver for policy_load / policy_match (gateway/policy.h).
 *
 * The input is a policy file. It is written to a memfd made once at start-up
 * (rewritten from offset 0 and truncated on every run) and loaded through
 * "/proc/self/fd/N", twice: without scopes_supported and with a fixed list.
 *
 * Asserted (abort() on violation):
 *   - NULL comes with at least one error, every error "PATH:..." for our path;
 *     a loaded policy comes with no new error;
 *   - routes 0..count-1 exist, have a pattern and canonical methods, masks
 *     only over known scopes, auth = none routes name no scope;
 *     policy_route(count) is NULL;
 *   - policy_match, for fixed paths and for paths made from every route's
 *     pattern, under fixed methods and every method a route names, returns
 *     exactly the route an independent brute-force matcher picks with the
 *     precedence rules of policy.h (literal > `*` > `**` at the first
 *     differing segment, the longer pattern when one is a prefix of the
 *     other, then explicit method > GET-serving-HEAD > `*`), or NULL when no
 *     route matches and admits the method;
 *   - policy_decide agrees with the route it is given (public, need token,
 *     insufficient scope with exactly the missing mask, allow, unmatched);
 *   - policy_scopes_under / policy_tool / policy_all_scopes stay within the
 *     registry; policy_free releases everything (LeakSanitizer).
 * With FUZZ_STRICT_TEXT=1 in the environment, every error message must also
 * be printable ASCII. Off by default: policy.h does not promise it, and two
 * messages ("bad method '...'", "bad parameter name '...'") echo the raw
 * bytes of the file today, which would stop every run at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "pathnorm.h"
#include "policy.h"
#include "scopes.h"

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) __builtin_trap();                                                         \
  } while (0)

static int fd = -1;
static char path[64];
static int strict_text;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  fd = memfd_create("fuzz-policy", MFD_CLOEXEC);
  if (fd < 0) {
    perror("memfd_create");
    abort();
  }
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  const char *st = getenv("FUZZ_STRICT_TEXT");
  strict_text = st && strcmp(st, "1") == 0;
  return 0;
}

/* ---- the reference matcher ---------------------------------------------- */

enum { K_REST = 0, K_PARAM = 1, K_LIT = 2 };

typedef struct {
  int kind;
  const char *p;
  size_t len;
} rseg_t;

/* Pattern segments as policy.h defines them: after the leading '/', split on
 * '/'; a final empty segment is the literal "" of a trailing '/'. */
static size_t pattern_segs(const char *pat, rseg_t *out, size_t max) {
  size_t n = 0, i = 0, len = strlen(pat);
  CHECK(len > 0 && pat[0] == '/');
  while (i < len) {
    size_t s = ++i;
    while (i < len && pat[i] != '/') i++;
    CHECK(n < max);
    rseg_t *g = &out[n++];
    g->p = pat + s;
    g->len = i - s;
    if (g->len == 2 && memcmp(g->p, "**", 2) == 0)
      g->kind = K_REST;
    else if ((g->len == 1 && g->p[0] == '*') ||
             (g->len > 2 && g->p[0] == '{' && g->p[g->len - 1] == '}'))
      g->kind = K_PARAM;
    else
      g->kind = K_LIT;
  }
  return n;
}

static size_t path_segs(const char *p, size_t len, rseg_t *out, size_t max) {
  size_t n = 0, i = 0;
  while (i < len) {
    size_t s = ++i;
    while (i < len && p[i] != '/') i++;
    if (n == max) return max + 1;
    out[n].kind = K_LIT;
    out[n].p = p + s;
    out[n].len = i - s;
    n++;
  }
  return n;
}

static int seg_match(const rseg_t *pat, size_t np, const rseg_t *ps, size_t nps) {
  for (size_t i = 0; i < np; i++) {
    if (pat[i].kind == K_REST) return 1; /* zero or more segments */
    if (i >= nps) return 0;
    if (pat[i].kind == K_PARAM) {
      if (ps[i].len == 0) return 0;
      continue;
    }
    if (pat[i].len != ps[i].len || memcmp(pat[i].p, ps[i].p, ps[i].len) != 0) return 0;
  }
  return np == nps;
}

/* > 0 when a is more specific than b, < 0 when less, 0 when the same shape.
 * Both match the path: a pattern that only adds a final `**` to the other
 * matched no segment with it, and loses (SPEC: /a beats /a/** for /a). */
static int pat_cmp(const rseg_t *a, size_t na, const rseg_t *b, size_t nb) {
  for (size_t i = 0;; i++) {
    if (i == na && i == nb) return 0;
    if (i == na) return nb == na + 1 && b[i].kind == K_REST ? 1 : -1; /* b is longer */
    if (i == nb) return na == nb + 1 && a[i].kind == K_REST ? -1 : 1;
    if (a[i].kind != b[i].kind) return a[i].kind > b[i].kind ? 1 : -1;
  }
}

static int has_method(const char *list, const char *m, size_t mlen) {
  const char *s = list;
  for (;;) {
    const char *e = strchr(s, ',');
    size_t l = e ? (size_t)(e - s) : strlen(s);
    if (l == mlen && memcmp(s, m, mlen) == 0) return 1;
    if (!e) return 0;
    s = e + 1;
  }
}

/* 2: names the method; 1: GET route serving HEAD; 0: `*`; -1: not admitted */
static int method_rank(const gw_route_t *r, const char *m, size_t mlen) {
  if (strcmp(r->methods, "*") == 0) return 0;
  if (has_method(r->methods, m, mlen)) return 2;
  if (mlen == 4 && memcmp(m, "HEAD", 4) == 0 && has_method(r->methods, "GET", 3)) return 1;
  return -1;
}

#define MAXSEG (GW_PATH_MAX_SEGMENTS + 2)

static const gw_route_t *reference(const gw_policy_t *p, const char *m, size_t mlen,
                                   const char *ph, size_t plen) {
  rseg_t ps[MAXSEG], best_s[MAXSEG], cur[MAXSEG];
  size_t nps = path_segs(ph, plen, ps, MAXSEG);
  CHECK(nps <= MAXSEG);
  const gw_route_t *best = NULL;
  size_t nbest = 0;
  int best_rank = -1;
  for (size_t i = 0; i < policy_route_count(p); i++) {
    const gw_route_t *r = policy_route(p, i);
    int rank = method_rank(r, m, mlen);
    if (rank < 0) continue;
    size_t n = pattern_segs(r->pattern, cur, MAXSEG);
    if (!seg_match(cur, n, ps, nps)) continue;
    int c = best ? pat_cmp(cur, n, best_s, nbest) : 1;
    if (c == 0) {
      CHECK(rank != best_rank); /* duplicates are load errors */
      if (rank < best_rank) continue;
    } else if (c < 0) {
      continue;
    }
    best = r;
    best_rank = rank;
    memcpy(best_s, cur, n * sizeof *cur);
    nbest = n;
  }
  return best;
}

/* ---- checks ------------------------------------------------------------- */

static gw_scopeset_t known_mask(const gw_policy_t *p) {
  size_t n = policy_scopes(p)->n;
  return n >= 64 ? ~(gw_scopeset_t)0 : (((gw_scopeset_t)1 << n) - 1);
}

static void check_match(const gw_policy_t *p, const char *m, const char *ph, size_t plen) {
  size_t mlen = strlen(m);
  const gw_route_t *got = policy_match(p, m, mlen, ph, plen);
  const gw_route_t *want = reference(p, m, mlen, ph, plen);
  CHECK(got == want);

  gw_scopeset_t miss = 1;
  gw_policy_verdict_t v = policy_decide(p, got, 1, 0, &miss);
  if (!got) {
    CHECK(v == (policy_unmatched(p) == GW_UNMATCHED_TOKEN ? GW_POLICY_ALLOW
                                                          : GW_POLICY_DENY_UNMATCHED));
    CHECK(miss == 0);
    CHECK(policy_decide(p, NULL, 0, 0, NULL) == GW_POLICY_NEED_TOKEN);
    return;
  }
  if (got->auth == GW_AUTH_NONE) {
    CHECK(v == GW_POLICY_PUBLIC && miss == 0);
    CHECK(policy_decide(p, got, 0, 0, NULL) == GW_POLICY_PUBLIC);
    return;
  }
  CHECK(policy_decide(p, got, 0, ~(gw_scopeset_t)0, NULL) == GW_POLICY_NEED_TOKEN);
  gw_scopeset_t need = got->required | got->any;
  if (need) {
    CHECK(v == GW_POLICY_INSUFFICIENT_SCOPE && miss == need);
  } else {
    CHECK(v == GW_POLICY_ALLOW && miss == 0);
  }
  CHECK(policy_decide(p, got, 1, known_mask(p), &miss) == GW_POLICY_ALLOW && miss == 0);
}

/* A concrete path for a pattern: `*`/{x} -> "v"; a final `**` -> nothing
 * (or two segments when deep). */
static size_t instantiate(const char *pat, int deep, char *out, size_t cap) {
  rseg_t s[MAXSEG];
  size_t n = pattern_segs(pat, s, MAXSEG), o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i].kind == K_REST) {
      if (deep) {
        if (o + 5 > cap) return 0;
        memcpy(out + o, "/r/s", 4);
        o += 4;
      }
      break;
    }
    const char *t = s[i].kind == K_PARAM ? "v" : s[i].p;
    size_t tl = s[i].kind == K_PARAM ? 1 : s[i].len;
    if (o + tl + 2 > cap) return 0;
    out[o++] = '/';
    memcpy(out + o, t, tl);
    o += tl;
  }
  if (o == 0) out[o++] = '/';
  out[o] = '\0';
  return o;
}

static void check_policy(const gw_policy_t *p) {
  static const char *const methods[] = {"GET", "HEAD", "POST", "OPTIONS", "DELETE", "X-CUSTOM"};
  static const char *const paths[] = {
      "/", "/a", "/a/", "/a/b", "/a/b/c", "/api/v4/profiles", "/api/v4/profiles/",
      "/api/v4/profiles/123", "/api/v4/profiles/123/disc", "/mcp", "/mcp/x/y", "/x/y/z/"};
  gw_scopeset_t known = known_mask(p);
  size_t nr = policy_route_count(p);
  CHECK(nr <= GW_POLICY_MAX_ROUTES);
  CHECK(policy_route(p, nr) == NULL);
  CHECK(policy_all_scopes(p) == known);
  CHECK((policy_tool_scopes(p) & ~known) == 0);
  for (size_t i = 0; i < nr; i++) {
    const gw_route_t *r = policy_route(p, i);
    CHECK(r && r->pattern && r->methods && r->pattern[0] == '/');
    CHECK(r->line > 0);
    CHECK(r->auth == GW_AUTH_NONE || r->auth == GW_AUTH_TOKEN);
    CHECK(((r->required | r->any) & ~known) == 0);
    if (r->auth == GW_AUTH_NONE) CHECK(r->required == 0 && r->any == 0);
    CHECK(!strchr(r->methods, ' ') && r->methods[0]);
  }
  for (size_t k = 0; k < sizeof paths / sizeof *paths; k++) {
    for (size_t m = 0; m < sizeof methods / sizeof *methods; m++)
      check_match(p, methods[m], paths[k], strlen(paths[k]));
    CHECK((policy_scopes_under(p, paths[k], strlen(paths[k])) & ~known) == 0);
  }
  /* paths made from the routes themselves, under each route's methods too */
  size_t lim = nr < 48 ? nr : 48;
  for (size_t i = 0; i < lim; i++) {
    const gw_route_t *r = policy_route(p, i);
    char buf[GW_POLICY_MAX_PATTERN + 16];
    for (int deep = 0; deep < 2; deep++) {
      size_t n = instantiate(r->pattern, deep, buf, sizeof buf);
      if (!n) continue;
      for (size_t m = 0; m < sizeof methods / sizeof *methods; m++)
        check_match(p, methods[m], buf, n);
      if (strcmp(r->methods, "*") != 0) {
        char ml[GW_POLICY_MAX_METHODS * (GW_POLICY_MAX_METHOD_LEN + 1) + 1];
        snprintf(ml, sizeof ml, "%s", r->methods);
        for (char *save = NULL, *t = strtok_r(ml, ",", &save); t; t = strtok_r(NULL, ",", &save))
          check_match(p, t, buf, n);
      }
      CHECK((policy_scopes_under(p, buf, n) & ~known) == 0);
    }
  }
  static const char *const tools[] = {"", "search", "get_profile", "x"};
  for (size_t i = 0; i < sizeof tools / sizeof *tools; i++)
    CHECK((policy_tool(p, tools[i], strlen(tools[i])) & ~policy_tool_scopes(p)) == 0);
}

static void load(const uint8_t *data, size_t size, char *const *supported, size_t nsup) {
  (void)data, (void)size;
  gw_errors_t errs = {0};
  gw_policy_t *p = policy_load(path, supported, nsup, &errs);
  size_t plen = strlen(path);
  if (!p) {
    CHECK(errs.n > 0);
  } else {
    CHECK(errs.n == 0);
    check_policy(p);
    policy_free(p);
  }
  for (size_t i = 0; i < errs.n; i++) {
    CHECK(strncmp(errs.msgs[i], path, plen) == 0 && errs.msgs[i][plen] == ':');
    if (strict_text)
      for (const char *c = errs.msgs[i]; *c; c++)
        CHECK((unsigned char)*c >= 0x20 && (unsigned char)*c < 0x7f);
  }
  gw_errors_free(&errs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (ftruncate(fd, 0) != 0) abort();
  if (size && pwrite(fd, data, size, 0) != (ssize_t)size) abort();
  load(data, size, NULL, 0);
  static char *const supported[] = {"read", "write", "admin", "profiles:read",
                                    "profiles:write", "mcp:tools"};
  load(data, size, supported, sizeof supported / sizeof *supported);
  return 0;
}
