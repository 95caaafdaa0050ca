/* auth: what happens between a complete request head and the upstream:
 * path normalization, the scope policy, bearer token extraction and
 * verification (with the per-worker verified-token cache), the RFC 6750
 * challenges, RFC 9728 metadata documents and CORS.
 *
 * gw_authctx_t is built once per configuration and is read-only; each
 * worker has an auth_worker_t with its key set references, verifiers and
 * token cache. Every refusal is mapped to a status and challenge in one
 * place (auth_refuse). */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "jwt.h"
#include "keys.h"
#include "policy.h"
#include "scopes.h"
#include "tokcache.h"

typedef struct {
  char *url;      /* where the challenge points */
  char *path;     /* the path it is served at on this gateway */
  size_t path_len;
  char *doc;      /* the JSON document */
  size_t doc_len;
} gw_meta_t;

typedef struct gw_authctx {
  const gw_config_t *cfg;
  gw_policy_t *policy;            /* NULL without [policy]: every route needs a valid token */
  gw_scope_registry_t own_scopes; /* registry used when there is no policy */
  const gw_scope_registry_t *scopes;
  gw_keystore_t *keys;
  gw_meta_t root;
  gw_meta_t *up;                  /* per upstream; url == NULL when it has no own resource */
  const char **aud;               /* [nupstreams * nissuers * 2] accepted audiences */
  size_t *naud;                   /* [nupstreams * nissuers] */
} gw_authctx_t;

int auth_init(gw_authctx_t *a, const gw_config_t *cfg, gw_keystore_t *keys, gw_errors_t *errs);
void auth_free(gw_authctx_t *a);

#endif
