/* auth: the read-only part of authorization, built once per configuration
 * snapshot: the policy, the accepted audiences per upstream and issuer,
 * and the RFC 9728 protected-resource documents with the URLs challenges
 * point at. Each worker verifies tokens against it with its own verifier
 * (verify.h); every refusal is built from the answer table (answer.h). */
#ifndef GW_AUTH_H
#define GW_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "jwt.h"
#include "jwks.h"

typedef struct gw_keystore gw_keystore_t;
#include "policy.h"
#include "scopes.h"
#include "tokcache.h"

/* Where the RFC 9728 documents are served (RFC 9728 §3). */
#define GW_WK_PATH "/.well-known/oauth-protected-resource"

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
