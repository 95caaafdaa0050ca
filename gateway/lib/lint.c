/* lint.c: see lint.h. */
#include "lint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The IANA HTTP Method Registry: anything else in a route is far more
 * likely a typo (`GIT`) than a method some client really sends. */
static const char *const known_methods[] = {
    "ACL", "BASELINE-CONTROL", "BIND", "CHECKIN", "CHECKOUT", "CONNECT", "COPY", "DELETE",
    "GET", "HEAD", "LABEL", "LINK", "LOCK", "MERGE", "MKACTIVITY", "MKCALENDAR", "MKCOL",
    "MKREDIRECTREF", "MKWORKSPACE", "MOVE", "OPTIONS", "ORDERPATCH", "PATCH", "POST", "PRI",
    "PROPFIND", "PROPPATCH", "PUT", "QUERY", "REBIND", "REPORT", "SEARCH", "TRACE", "UNBIND",
    "UNCHECKOUT", "UNLINK", "UNLOCK", "UPDATE", "UPDATEREDIRECTREF", "VERSION-CONTROL"};

/* The scopes docs/profile-api-authentication.txt documents. */
static const char *const documented_scopes[] = {"profiles:read", "profiles:write", "tags:manage",
                                                "account:read", "account:write"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int in_list(const char *const *list, size_t n, const char *s, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0) return 1;
  return 0;
}

static void check_methods(const gw_route_t *r, const char *file, gw_errors_t *w, size_t *n) {
  if (strcmp(r->methods, "*") == 0) return;
  for (const char *m = r->methods; *m;) {
    size_t len = strcspn(m, ",");
    if (!in_list(known_methods, NELEM(known_methods), m, len)) {
      gw_errors_add(w, file, r->line, "warning: unknown method '%.*s' (not an HTTP method)",
                    (int)len, m);
      (*n)++;
    }
    m += len + (m[len] == ',');
  }
}

/* A request path that matches the pattern with a segment no literal can
 * hold ('%' is refused in literals) for each `*`, and stars more ("**"
 * as zero, one or two such segments), so only routes at least as general
 * compete with it. */
#define PROBE_SEG "%00"
static char *probe_path(const char *pat, int rest_segs) {
  size_t pl = strlen(pat), cap = pl * 2 + 16, o = 0;
  char *out = malloc(cap);
  if (!out) return NULL;
  for (size_t i = 0; i < pl;) {
    size_t st = ++i; /* past the '/' */
    while (i < pl && pat[i] != '/') i++;
    const char *t = pat + st;
    size_t tl = i - st;
    if (tl == 2 && t[0] == '*' && t[1] == '*') {
      for (int k = 0; k < rest_segs; k++) o += (size_t)snprintf(out + o, cap - o, "/%s", PROBE_SEG);
      break;
    }
    int param = (tl == 1 && t[0] == '*') || (tl > 2 && t[0] == '{' && t[tl - 1] == '}');
    o += (size_t)snprintf(out + o, cap - o, "/%.*s", param ? 3 : (int)tl, param ? PROBE_SEG : t);
  }
  if (o == 0) o += (size_t)snprintf(out, cap, "/");
  out[o] = '\0';
  return out;
}

/* 1 when some probe of r, with one of its methods, is matched by r itself. */
static int route_reachable(const gw_policy_t *p, const gw_route_t *r) {
  int reached = 0;
  for (int rest = 0; rest <= 2 && !reached; rest++) {
    char *path = probe_path(r->pattern, rest);
    if (!path) return 1; /* out of memory: claim nothing */
    size_t plen = strlen(path);
    if (strcmp(r->methods, "*") == 0) {
      /* '%' is no method token: only `*` routes serve it. */
      reached = policy_match(p, "%", 1, path, plen) == r;
    } else {
      for (const char *m = r->methods; *m && !reached;) {
        size_t len = strcspn(m, ",");
        reached = policy_match(p, m, len, path, plen) == r;
        m += len + (m[len] == ',');
      }
    }
    free(path);
  }
  return reached;
}

static int under_some_upstream(const gw_config_t *cfg, const gw_route_t *r) {
  for (size_t i = 0; i < cfg->nupstreams; i++)
    if (policy_route_reaches(r, cfg->upstreams[i].prefix, cfg->upstreams[i].prefix_len)) return 1;
  return 0;
}

/* A scope only one place names, without an operator's list to hold it
 * against, is the typo's signature: warn unless the docs name it. */
static void check_scopes(const gw_policy_t *p, const char *file, gw_errors_t *w, size_t *n) {
  const gw_scope_registry_t *reg = policy_scopes(p);
  const gw_mcp_items_t *items = policy_mcp(p);
  for (size_t s = 0; s < reg->n; s++) {
    gw_scopeset_t bit = (gw_scopeset_t)1 << s;
    unsigned uses = 0;
    int line = 0;
    for (size_t i = 0; i < policy_route_count(p); i++) {
      const gw_route_t *r = policy_route(p, i);
      if ((r->required | r->any) & bit) uses++, line = r->line;
    }
    for (size_t i = 0; i < items->n; i++)
      if ((items->items[i].required | items->items[i].any) & bit) uses++, line = items->items[i].line;
    if (uses != 1 || in_list(documented_scopes, NELEM(documented_scopes), reg->names[s], reg->lens[s]))
      continue;
    gw_errors_add(w, file, line,
                  "warning: scope '%.*s' is named by this section only and is not a documented "
                  "scope (a typo? list it in [resource] scopes_supported to confirm it)",
                  (int)reg->lens[s], reg->names[s]);
    (*n)++;
  }
}

size_t config_lint(const gw_config_t *cfg, const gw_policy_t *p, gw_errors_t *w) {
  size_t n = 0;
  if (!p) return 0;
  const char *file = cfg->policy_file;
  size_t nr = policy_route_count(p);
  int mcp_upstream = 0;
  for (size_t i = 0; i < cfg->nupstreams; i++) mcp_upstream |= cfg->upstreams[i].protocol == GW_PROTO_MCP;
  /* A decision listener judges any path, so prefixes do not bound it. */
  int prefixes_bound = cfg->nupstreams > 0 && cfg->ndecision_listen == 0;

  if (nr == 0) {
    gw_errors_add(w, file, 0,
                  policy_unmatched(p) == GW_UNMATCHED_TOKEN
                      ? "warning: the policy has no routes: any valid token reaches every upstream"
                      : "warning: the policy has no routes: every request to an upstream is refused");
    n++;
  }
  for (size_t i = 0; i < nr; i++) {
    const gw_route_t *r = policy_route(p, i);
    check_methods(r, file, w, &n);
    if (prefixes_bound && !under_some_upstream(cfg, r)) {
      gw_errors_add(w, file, r->line,
                    "warning: route [%s %s] is outside every upstream prefix: no request reaches it",
                    r->methods, r->pattern);
      n++;
    } else if (!route_reachable(p, r)) {
      gw_errors_add(w, file, r->line,
                    "warning: route [%s %s] is shadowed: more specific routes take every request "
                    "it matches",
                    r->methods, r->pattern);
      n++;
    }
  }
  const gw_mcp_items_t *items = policy_mcp(p);
  for (size_t i = 0; i < items->n && !mcp_upstream; i++) {
    gw_errors_add(w, file, items->items[i].line,
                  "warning: %s is never used: no upstream has protocol = mcp",
                  items->items[i].section);
    n++;
  }
  if (cfg->nscopes_supported == 0) check_scopes(p, file, w, &n);
  return n;
}
