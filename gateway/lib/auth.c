/* auth: the read-only part built once per configuration: the policy, the
 * accepted audiences per upstream and issuer, and the RFC 9728 documents. */
#include "auth.h"
#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "buf.h"


static int json_str(outbuf_t *o, const char *s) {
  char esc[2048];
  gw_json_escape(esc, sizeof esc, s, strlen(s), 1024);
  return outbuf_printf(o, "\"%s\"", esc);
}

static void json_scopes(outbuf_t *o, const gw_scope_registry_t *r, gw_scopeset_t set) {
  outbuf_append(o, "[", 1);
  int first = 1;
  for (size_t i = 0; r && i < r->n; i++) {
    if (!(set & ((gw_scopeset_t)1 << i))) continue;
    if (!first) outbuf_append(o, ",", 1);
    json_str(o, r->names[i]);
    first = 0;
  }
  outbuf_append(o, "]", 1);
}

static char *build_doc(const gw_authctx_t *a, const char *resource, gw_scopeset_t scopes,
                       size_t *len) {
  const gw_config_t *cfg = a->cfg;
  outbuf_t o = {0};
  outbuf_append(&o, "{\"resource\":", 12);
  json_str(&o, resource);
  outbuf_append(&o, ",\"authorization_servers\":[", 26);
  for (size_t i = 0; i < cfg->nauthorization_servers; i++) {
    if (i) outbuf_append(&o, ",", 1);
    json_str(&o, cfg->authorization_servers[i]);
  }
  outbuf_append(&o, "],\"scopes_supported\":", 21);
  json_scopes(&o, a->scopes, scopes);
  outbuf_append(&o, ",\"bearer_methods_supported\":[\"header\"]", 38);
  if (cfg->resource_name) {
    outbuf_append(&o, ",\"resource_name\":", 17);
    json_str(&o, cfg->resource_name);
  }
  if (cfg->resource_documentation) {
    outbuf_append(&o, ",\"resource_documentation\":", 26);
    json_str(&o, cfg->resource_documentation);
  }
  outbuf_append(&o, "}", 1);
  outbuf_append(&o, "", 1); /* NUL, not counted */
  *len = o.len - 1;
  return o.data;
}

static char *concat(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *s = malloc(la + lb + 1);
  if (!s) return NULL;
  memcpy(s, a, la);
  memcpy(s + la, b, lb + 1);
  return s;
}

/* The path part of an absolute URL ("https://h/mcp" -> "/mcp"). */
static const char *url_path(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  return p ? p : "";
}

int auth_init(gw_authctx_t *a, const gw_config_t *cfg, gw_keystore_t *keys, gw_errors_t *errs) {
  memset(a, 0, sizeof *a);
  a->cfg = cfg;
  a->keys = keys;
  if (cfg->policy_file) {
    /* The policy loader can only name the file it cannot open; the operator
     * also needs the line that points at it. */
    FILE *f = fopen(cfg->policy_file, "re");
    if (!f) {
      gw_errors_add(errs, cfg->path, cfg->policy_line, "[policy] file %s: cannot open: %s",
                    cfg->policy_file, strerror(errno));
      return -1;
    }
    fclose(f);
    a->policy = policy_load(cfg->policy_file, cfg->scopes_supported, cfg->nscopes_supported, errs);
    if (!a->policy) return -1;
    a->scopes = policy_scopes(a->policy);
  } else {
    for (size_t i = 0; i < cfg->nscopes_supported; i++)
      scopes_intern(&a->own_scopes, cfg->scopes_supported[i], strlen(cfg->scopes_supported[i]));
    a->scopes = &a->own_scopes;
  }
  const char *identifier = cfg->resource_identifier ? cfg->resource_identifier : cfg->public_url;
  gw_scopeset_t all = a->policy ? policy_all_scopes(a->policy)
                                : (a->own_scopes.n >= 64 ? ~(gw_scopeset_t)0
                                                         : (((gw_scopeset_t)1 << a->own_scopes.n) - 1));
  a->root.url = concat(cfg->public_url, GW_WK_PATH);
  a->root.path = strdup(GW_WK_PATH);
  a->root.path_len = strlen(GW_WK_PATH);
  a->root.doc = build_doc(a, identifier, all, &a->root.doc_len);
  a->up = calloc(cfg->nupstreams ? cfg->nupstreams : 1, sizeof *a->up);
  size_t ni = cfg->nissuers ? cfg->nissuers : 1;
  a->aud = calloc((cfg->nupstreams ? cfg->nupstreams : 1) * ni * 2, sizeof *a->aud);
  a->naud = calloc((cfg->nupstreams ? cfg->nupstreams : 1) * ni, sizeof *a->naud);
  if (!a->root.url || !a->root.path || !a->root.doc || !a->up || !a->aud || !a->naud) {
    gw_errors_add(errs, cfg->path, 0, "out of memory");
    return -1;
  }
  for (size_t u = 0; u < cfg->nupstreams; u++) {
    const gw_upstream_cfg_t *up = &cfg->upstreams[u];
    const char *resource = up->resource ? up->resource : identifier;
    for (size_t i = 0; i < cfg->nissuers; i++) {
      const char **list = &a->aud[(u * ni + i) * 2];
      size_t n = 0;
      list[n++] = resource;
      const char *iaud = cfg->issuers[i].audience;
      if (!up->exclusive_audience && iaud && strcmp(iaud, resource) != 0) list[n++] = iaud;
      a->naud[u * ni + i] = n;
    }
    if (!up->resource) continue;
    gw_meta_t *m = &a->up[u];
    m->path = concat(GW_WK_PATH, url_path(up->resource));
    m->url = concat(cfg->public_url, m->path);
    gw_scopeset_t under = a->policy ? policy_scopes_under(a->policy, up->prefix, up->prefix_len) |
                                          policy_tool_scopes(a->policy)
                                    : all;
    m->doc = build_doc(a, up->resource, under, &m->doc_len);
    if (!m->path || !m->url || !m->doc) {
      gw_errors_add(errs, cfg->path, up->line, "out of memory");
      return -1;
    }
    m->path_len = strlen(m->path);
  }
  return 0;
}

static void meta_free(gw_meta_t *m) {
  free(m->url);
  free(m->path);
  free(m->doc);
}

void auth_free(gw_authctx_t *a) {
  if (a->policy) policy_free(a->policy);
  scopes_free(&a->own_scopes);
  meta_free(&a->root);
  for (size_t u = 0; a->up && u < a->cfg->nupstreams; u++) meta_free(&a->up[u]);
  free(a->up);
  free(a->aud);
  free(a->naud);
  memset(a, 0, sizeof *a);
}
