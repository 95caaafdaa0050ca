#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

/* Certificates are loaded with the rest, so a bad one fails the load (or
 * the reload, which then keeps the running ones). */
static void build_tls(gw_snapshot_t *s, const char *path, gw_errors_t *errs) {
  const gw_config_t *c = s->cfg;
  if (c->ntls_listen)
    s->server_tls = tls_server_ctx(c->tls_cert, c->tls_key, NULL, path, 0, errs);
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

gw_snapshot_t *snapshot_load(const char *path, gw_snapshot_t *prev, gw_errors_t *errs) {
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
    s->m2m = m2m_load(s->cfg, errs);
    /* A reload must not clear lockouts of failed client authentications. */
    if (s->m2m && prev && prev->m2m) m2m_inherit_limits(s->m2m, prev->m2m);
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
    config_free(s->cfg);
  }
  free(s->upstream_tls);
  SSL_CTX_free(s->server_tls);
  m2m_free(s->m2m);
  free(s);
}
