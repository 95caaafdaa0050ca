#include "snapshot.h"
#include "policy_mcp.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

/* Certificates are loaded with the rest, so a bad one fails the load (or
 * the reload, which then keeps the running ones). */
static void build_tls(gw_snapshot_t *s, const char *path, gw_errors_t *errs) {
  const gw_config_t *c = s->cfg;
  if (c->ntls_listen)
    s->server_tls = tls_server_new(c, path, errs);
  s->upstream_tls = calloc(c->nupstreams ? c->nupstreams : 1, sizeof *s->upstream_tls);
  if (!s->upstream_tls) {
    gw_errors_add(errs, path, 0, "out of memory");
    return;
  }
  for (size_t i = 0; i < c->nupstreams; i++) {
    const gw_upstream_cfg_t *u = &c->upstreams[i];
    if (u->url.scheme != GW_SCHEME_HTTPS) continue;
    s->upstream_tls[i] =
        tls_client_ctx(u->ca_file, u->client_cert, u->client_key, path, u->line, errs);
  }
}

/* One key per MCP upstream: from its session_key_file (so instances that
 * share the file accept each other's sessions), else the process's own. */
static void load_mcp_keys(gw_snapshot_t *s, const char *path, gw_errors_t *errs) {
  const gw_config_t *c = s->cfg;
  s->mcp_keys = calloc(c->nupstreams ? c->nupstreams : 1, sizeof *s->mcp_keys);
  if (!s->mcp_keys) {
    gw_errors_add(errs, path, 0, "out of memory");
    return;
  }
  for (size_t i = 0; i < c->nupstreams; i++) {
    const gw_upstream_cfg_t *u = &c->upstreams[i];
    if (u->protocol != GW_PROTO_MCP) continue;
    char why[400];
    if (!u->session_key_file)
      memcpy(s->mcp_keys[i], mcpsess_process_key(), MCPSESS_KEY_LEN);
    else if (mcpsess_key_from_file(u->session_key_file, s->mcp_keys[i], why, sizeof why) != 0)
      gw_errors_add(errs, path, u->session_key_line, "%s", why);
  }
}

/* gateway_mcp_requests_total's items: "tool:NAME", "prompt:NAME",
 * "resource:URI" (URI* for a prefix), by their position in the policy's
 * (sorted) item array: gw_mcp_item_t.index is not filled in by the policy
 * reader, and the position is what the gate has at hand (item - items). */
static int snapshot_mcp_labels(gw_snapshot_t *s) {
  const gw_config_t *c = s->cfg;
  static const gw_mcp_items_t none = {0};
  const gw_mcp_items_t *it = s->auth.policy ? policy_mcp(s->auth.policy) : &none;
  unsigned char *mcp_up = calloc(c->nupstreams + 1, 1), *kinds = calloc(it->n + 1, 1);
  char **labels = calloc(it->n + 1, sizeof *labels);
  int rc = mcp_up && kinds && labels ? 0 : -1;
  for (size_t i = 0; rc == 0 && i < c->nupstreams; i++) mcp_up[i] = c->upstreams[i].protocol == GW_PROTO_MCP;
  for (size_t i = 0; rc == 0 && i < it->n; i++) {
    const gw_mcp_item_t *e = &it->items[i];
    const char *kn = mcp_kind_name(e->kind);
    size_t n = strlen(kn) + e->len + 3;
    if (!(labels[i] = malloc(n))) {
      rc = -1;
      break;
    }
    snprintf(labels[i], n, "%s:%.*s%s", kn, (int)e->len, e->name, e->prefix ? "*" : "");
    kinds[i] = (unsigned char)e->kind;
  }
  if (rc == 0) rc = metrics_labels_mcp(s->ml, mcp_up, (const char *const *)labels, kinds, it->n);
  for (size_t i = 0; labels && i < it->n; i++) free(labels[i]);
  free(labels);
  free(kinds);
  free(mcp_up);
  return rc;
}

/* Metric labels by text: upstream names, route patterns, issuer names. */
int snapshot_metrics(gw_snapshot_t *s, gw_metrics_t *m, const char *path, gw_errors_t *errs) {
  const gw_config_t *c = s->cfg;
  size_t nr = s->auth.policy ? policy_route_count(s->auth.policy) : 0;
  const char **ups = calloc(c->nupstreams + 1, sizeof *ups);
  const char **routes = calloc(nr + 1, sizeof *routes);
  const char **iss = calloc(c->nissuers + 1, sizeof *iss);
  char **owned = calloc(nr + 1, sizeof *owned);
  if (ups && routes && iss && owned) {
    for (size_t i = 0; i < c->nupstreams; i++) ups[i] = c->upstreams[i].name;
    for (size_t i = 0; i < nr; i++) {
      const gw_route_t *r = policy_route(s->auth.policy, i);
      size_t n = strlen(r->methods) + strlen(r->pattern) + 2;
      owned[i] = malloc(n);
      if (owned[i]) snprintf(owned[i], n, "%s %s", r->methods, r->pattern);
      routes[i] = owned[i] ? owned[i] : r->pattern;
    }
    for (size_t i = 0; i < c->nissuers; i++) iss[i] = c->issuers[i].name;
    s->ml = metrics_labels_new(m, ups, c->nupstreams, routes, nr, iss, c->nissuers);
    if (s->ml && snapshot_mcp_labels(s) != 0) {
      metrics_labels_free(s->ml);
      s->ml = NULL;
    }
  }
  if (!s->ml) gw_errors_add(errs, path, 0, "out of memory (metric labels)");
  for (size_t i = 0; owned && i < nr; i++) free(owned[i]);
  free(owned);
  free(ups);
  free(routes);
  free(iss);
  s->keys.ml = s->ml;
  return s->ml ? 0 : -1;
}

gw_snapshot_t *snapshot_load(const char *path, gw_snapshot_t *prev, gw_metrics_t *metrics,
                             gw_errors_t *errs) {
  gw_snapshot_t *s = calloc(1, sizeof *s);
  if (!s) {
    gw_errors_add(errs, path, 0, "out of memory");
    return NULL;
  }
  atomic_init(&s->refs, 1);
  s->cfg = config_load(path, errs);
  if (s->cfg) {
    keystore_init(&s->keys, s->cfg, prev ? &prev->keys : NULL, errs);
    if (auth_init(&s->auth, s->cfg, &s->keys, errs) && errs->n == 0)
      gw_errors_add(errs, path, 0, "cannot initialize authentication");
    build_tls(s, path, errs);
    load_mcp_keys(s, path, errs);
    s->m2m = m2m_load(s->cfg, errs);
    /* A reload must not clear lockouts of failed client authentications. */
    if (s->m2m && prev && prev->m2m) m2m_inherit_limits(s->m2m, prev->m2m);
    if (metrics && errs->n == 0) snapshot_metrics(s, metrics, path, errs);
  }
  if (errs->n) {
    snapshot_free(s);
    return NULL;
  }
  return s;
}

void snapshot_free(gw_snapshot_t *s) {
  if (!s) return;
  if (s->cfg) {
    auth_free(&s->auth);
    keystore_free(&s->keys);
    for (size_t i = 0; s->upstream_tls && i < s->cfg->nupstreams; i++)
      SSL_CTX_free(s->upstream_tls[i]);
    if (s->mcp_keys) OPENSSL_cleanse(s->mcp_keys, s->cfg->nupstreams * sizeof *s->mcp_keys);
    config_free(s->cfg);
  }
  free(s->upstream_tls);
  free(s->mcp_keys);
  tls_server_free(s->server_tls);
  m2m_free(s->m2m);
  if (s->ml) metrics_labels_free(s->ml);
  free(s);
}
