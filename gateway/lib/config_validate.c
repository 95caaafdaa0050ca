/* config_validate.c: the rules of gateway.ini that span keys or sections,
 * and the defaults that depend on other keys; run once the whole file has
 * been read (see config-t.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-t.h"

static bool listen_same_port_family(const gw_listen_t *a, const gw_listen_t *b) {
  if (a->addr.ss_family != b->addr.ss_family) return false;
  if (a->addr.ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)&a->addr;
    const struct sockaddr_in *y = (const struct sockaddr_in *)&b->addr;
    return x->sin_port == y->sin_port;
  }
  const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)&a->addr;
  const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)&b->addr;
  return x->sin6_port == y->sin6_port;
}

/* Same socket, or one a wildcard of the other's family on the same port:
 * with SO_REUSEPORT both binds could succeed and split traffic silently. */
static bool listen_conflict(const gw_listen_t *a, const gw_listen_t *b) {
  if (!listen_same_port_family(a, b)) return false;
  if (a->addr.ss_family == AF_INET) {
    struct in_addr x = ((const struct sockaddr_in *)&a->addr)->sin_addr;
    struct in_addr y = ((const struct sockaddr_in *)&b->addr)->sin_addr;
    return x.s_addr == y.s_addr || x.s_addr == htonl(INADDR_ANY) ||
           y.s_addr == htonl(INADDR_ANY);
  }
  const struct in6_addr *x = &((const struct sockaddr_in6 *)&a->addr)->sin6_addr;
  const struct in6_addr *y = &((const struct sockaddr_in6 *)&b->addr)->sin6_addr;
  return memcmp(x, y, sizeof *x) == 0 || memcmp(x, &in6addr_any, sizeof *x) == 0 ||
         memcmp(y, &in6addr_any, sizeof *y) == 0;
}

static void validate_listeners(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  struct {
    const gw_listen_t *l;
    int line;
  } all[3 * GW_MAX_LISTEN + 1];
  size_t n = 0;
  for (size_t i = 0; i < cfg->nlisten; i++) {
    all[n].l = &cfg->listen[i];
    all[n++].line = c->listen_line[i];
  }
  for (size_t i = 0; i < cfg->ntls_listen; i++) {
    all[n].l = &cfg->tls_listen[i];
    all[n++].line = c->tls_listen_line[i];
  }
  for (size_t i = 0; i < cfg->ndecision_listen; i++) {
    all[n].l = &cfg->decision_listen[i];
    all[n++].line = c->decision_listen_line[i];
  }
  if (cfg->admin_enabled) {
    int al = c->admin.key_line[K_ADM_LISTEN];
    all[n].l = &cfg->admin_listen;
    all[n++].line = al ? al : c->admin.line;
  }
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < i; j++) {
      if (!listen_conflict(all[i].l, all[j].l)) continue;
      int line = all[i].line ? all[i].line : all[j].line;
      if (all[j].line)
        cfg_err(c, line, "address %s conflicts with %s (line %d)", all[i].l->text, all[j].l->text,
                all[j].line);
      else
        cfg_err(c, line, "address %s conflicts with the default listen address %s",
                all[i].l->text, all[j].l->text);
      break;
    }
  }
}

static void validate_server(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  /* Default only when no listen was written: one that failed to parse has
   * been reported, and the load fails anyway. */
  if (cfg->nlisten == 0 && !c->server.key_line[K_SRV_LISTEN]) {
    config_parse_listen("127.0.0.1:8080", &cfg->listen[0]);
    cfg->nlisten = 1;
    c->listen_line[0] = 0;
  }
  int cert = c->server.key_line[K_SRV_TLS_CERT], key = c->server.key_line[K_SRV_TLS_KEY];
  int tlsl = c->server.key_line[K_SRV_TLS_LISTEN];
  cfg->tls_cert_line = cert;
  cfg->tls_key_line = key;
  cfg->tls_ciphers_line = c->server.key_line[K_SRV_TLS_CIPHERS];
  if (tlsl && (!cert || !key))
    cfg_err(c, tlsl, "tls_listen needs both tls_cert and tls_key in [server]");
  else if (!tlsl && c->server.key_line[K_SRV_TLS_TICKET_KEY_FILE])
    cfg_err(c, c->server.key_line[K_SRV_TLS_TICKET_KEY_FILE], "tls_ticket_key_file without tls_listen in [server]");
  else if (!tlsl && c->server.key_line[K_SRV_TLS_TICKET_ROTATE])
    cfg_err(c, c->server.key_line[K_SRV_TLS_TICKET_ROTATE], "tls_ticket_rotate without tls_listen in [server]");
  else if (cert && !key)
    cfg_err(c, cert, "tls_cert without tls_key in [server]");
  else if (key && !cert)
    cfg_err(c, key, "tls_key without tls_cert in [server]");

  if (!cfg->tls_ticket_rotate_ms) cfg->tls_ticket_rotate_ms = 3600 * 1000;
  for (size_t i = 0; i < cfg->ntls_certs; i++) {
    const gw_tls_cert_cfg_t *t = &cfg->tls_certs[i];
    const sec_meta *m = &c->tls_meta[i];
    if (!tlsl)
      cfg_err(c, t->line, "[tls:%s] without tls_listen in [server]", t->name);
    for (int k = 0; k < K_TLS_N; k++)
      if (!m->key_line[k]) cfg_err(c, t->line, "[tls:%s] needs %s", t->name, cfg_tlscert_keys[k]);
  }

  if (c->admin.line) {
    cfg->admin_enabled = 1;
    if (!c->admin.key_line[K_ADM_LISTEN]) config_parse_listen("127.0.0.1:9901", &cfg->admin_listen);
  }
  if (c->decision.line && !c->decision.key_line[K_DEC_LISTEN])
    cfg_err(c, c->decision.line, "[decision] needs listen");
  validate_listeners(c);

  if (!cfg->public_url && !c->server.key_line[K_SRV_PUBLIC_URL]) {
    const char *base = cfg->resource_identifier;
    char buf[sizeof cfg->listen[0].text + 8];
    if (!base) {
      snprintf(buf, sizeof buf, "http://%s", cfg->listen[0].text);
      base = buf;
    }
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') n--;
    cfg->public_url = gw_dup_range(base, n);
    if (!cfg->public_url) cfg_err(c, c->server.line, "out of memory");
  }
}

static void validate_resource(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  if (!cfg->authorization_servers && !c->resource.key_line[K_RES_AUTH_SERVERS]) {
    cfg->authorization_servers = calloc(1, sizeof *cfg->authorization_servers);
    if (!cfg->authorization_servers) cfg_err(c, c->resource.line, "out of memory");
  }
}

static void validate_issuers(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  for (size_t i = 0; i < cfg->nissuers; i++) {
    gw_issuer_cfg_t *is = &cfg->issuers[i];
    sec_meta *m = &c->issuer_meta[i];
    int uri = m->key_line[K_ISS_JWKS_URI], file = m->key_line[K_ISS_JWKS_FILE];
    if (!m->key_line[K_ISS_ISS]) cfg_err(c, is->line, "[issuer:%s] needs iss", is->name);
    if (!uri && !file)
      cfg_err(c, is->line, "[issuer:%s] needs jwks_uri or jwks_file", is->name);
    else if (uri && file)
      cfg_err(c, uri > file ? uri : file,
              "[issuer:%s]: jwks_uri and jwks_file are mutually exclusive", is->name);

    int ca = m->key_line[K_ISS_CA_FILE];
    if (ca && file && !uri)
      cfg_err(c, ca, "[issuer:%s]: ca_file only applies to an https:// jwks_uri", is->name);
    else if (ca && is->jwks_uri && strncasecmp(is->jwks_uri, "https://", 8) != 0)
      cfg_err(c, ca, "[issuer:%s]: ca_file only applies to an https:// jwks_uri", is->name);

    if (is->iss) {
      for (size_t j = 0; j < i; j++) {
        if (cfg->issuers[j].iss && strcmp(cfg->issuers[j].iss, is->iss) == 0) {
          cfg_err(c, m->key_line[K_ISS_ISS], "[issuer:%s]: iss " GW_VFMT " is already used by [issuer:%s]",
                  is->name, GW_VARG(is->iss), cfg->issuers[j].name);
          break;
        }
      }
    }

    if (!is->algorithms && !m->key_line[K_ISS_ALGORITHMS]) {
      static const char *const defaults[] = {"RS256", "RS384", "RS512",
                                              "ES256", "ES384", "ES512"};
      size_t n = sizeof defaults / sizeof *defaults;
      is->algorithms = calloc(n + 1, sizeof *is->algorithms);
      if (!is->algorithms) {
        cfg_err(c, is->line, "out of memory");
      } else {
        for (size_t j = 0; j < n; j++) {
          is->algorithms[j] = strdup(defaults[j]);
          if (!is->algorithms[j]) {
            cfg_err(c, is->line, "out of memory");
            break;
          }
          is->nalgorithms = j + 1;
        }
      }
    }

    if (!is->audience && !m->key_line[K_ISS_AUDIENCE]) {
      if (cfg->resource_identifier)
        is->audience = cfg_strdup(c, is->line, cfg->resource_identifier);
      else if (!c->resource.key_line[K_RES_IDENTIFIER])
        cfg_err(c, is->line,
                "[issuer:%s] has no audience: set audience here or identifier in [resource]",
                is->name);
    }
  }
}

static void validate_upstreams(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  for (size_t i = 0; i < cfg->nupstreams; i++) {
    gw_upstream_cfg_t *u = &cfg->upstreams[i];
    sec_meta *m = &c->upstream_meta[i];
    if (!m->key_line[K_UP_PREFIX]) cfg_err(c, u->line, "[upstream:%s] needs prefix", u->name);
    if (!m->key_line[K_UP_URL]) cfg_err(c, u->line, "[upstream:%s] needs url", u->name);

    if (u->prefix) {
      for (size_t j = 0; j < i; j++) {
        if (cfg->upstreams[j].prefix && strcmp(cfg->upstreams[j].prefix, u->prefix) == 0) {
          cfg_err(c, m->key_line[K_UP_PREFIX],
                  "[upstream:%s]: prefix '%s' is already used by [upstream:%s] (line %d)", u->name,
                  u->prefix, cfg->upstreams[j].name, c->upstream_meta[j].key_line[K_UP_PREFIX]);
          break;
        }
      }
    }

    if (u->url_text && u->url.scheme != GW_SCHEME_HTTPS) {
      static const int tls_keys[] = {K_UP_CA_FILE, K_UP_CLIENT_CERT, K_UP_CLIENT_KEY};
      for (size_t j = 0; j < sizeof tls_keys / sizeof *tls_keys; j++) {
        int l = m->key_line[tls_keys[j]];
        if (l)
          cfg_err(c, l, "[upstream:%s]: %s only applies to an https:// url", u->name,
                  cfg_upstream_keys[tls_keys[j]]);
      }
    }
    if (u->protocol != GW_PROTO_MCP) {
      static const int mcp_keys[] = {K_UP_MCP_MAX_BODY, K_UP_ALLOW_ORIGINS, K_UP_SESSION_KEY_FILE};
      for (size_t j = 0; j < sizeof mcp_keys / sizeof *mcp_keys; j++) {
        int l = m->key_line[mcp_keys[j]];
        if (l)
          cfg_err(c, l, "[upstream:%s]: %s only applies to protocol = mcp", u->name,
                  cfg_upstream_keys[mcp_keys[j]]);
      }
    }
    int cc = m->key_line[K_UP_CLIENT_CERT], ck = m->key_line[K_UP_CLIENT_KEY];
    if (cc && !ck)
      cfg_err(c, cc, "[upstream:%s]: client_cert without client_key", u->name);
    else if (ck && !cc)
      cfg_err(c, ck, "[upstream:%s]: client_key without client_cert", u->name);

    if (u->resource) {
      /* The path-suffixed metadata document lives at the resource's path;
       * without one it would collide with the root document. */
      gw_url_t r;
      int rl = m->key_line[K_UP_RESOURCE];
      if (config_parse_url(u->resource, &r) == 0) {
        if (r.path[0] == '\0')
          cfg_err(c, rl,
                  "[upstream:%s]: resource " GW_VFMT
                  " needs a path (its metadata is served at "
                  "/.well-known/oauth-protected-resource<path>)",
                  u->name, GW_VARG(u->resource));
        config_url_free(&r);
      }
      for (size_t j = 0; j < i; j++) {
        if (cfg->upstreams[j].resource && strcmp(cfg->upstreams[j].resource, u->resource) == 0) {
          cfg_err(c, rl, "[upstream:%s]: resource " GW_VFMT " is already used by [upstream:%s]",
                  u->name, GW_VARG(u->resource), cfg->upstreams[j].name);
          break;
        }
      }
    }
  }
}

/* ssf_issuer names a configured issuer: the SETs are verified with its keys. */
static void validate_revocation(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  gw_revocation_cfg_t *rv = &cfg->revocation;
  rv->line = c->revocation.line;
  if (!rv->retain_ms) rv->retain_ms = 2 * 3600 * 1000;
  if (!rv->ssf_path) rv->ssf_path = cfg_strdup(c, rv->line, "/ssf/push");
  if (!rv->ssf_issuer) return;
  for (size_t i = 0; i < cfg->nissuers; i++)
    if (strcmp(cfg->issuers[i].name, rv->ssf_issuer) == 0) {
      rv->ssf_issuer_index = i;
      return;
    }
  cfg_err(c, c->revocation.key_line[K_REV_SSF_ISSUER],
          "ssf_issuer: no [issuer:%s] section", rv->ssf_issuer);
}

/* Defaults for every [m2m] key (also when the section is absent, so that
 * the struct always reads sensibly); requirements only when enabled. */
static void validate_m2m(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  gw_m2m_cfg_t *m = &cfg->m2m;
  sec_meta *mm = &c->m2m;
  m->line = mm->line;
  if (!mm->key_line[K_M2M_LIFETIME]) m->lifetime_ms = 3600 * 1000;
  if (!mm->key_line[K_M2M_MAX_FAILURES]) m->max_failures = 5;
  if (!mm->key_line[K_M2M_LOCKOUT]) m->lockout_ms = 5 * 60 * 1000;
  if (!mm->key_line[K_M2M_JWKS_PATH])
    m->jwks_path = cfg_strdup(c, mm->line, "/.well-known/m2m-jwks.json");
  if (!mm->key_line[K_M2M_TOKEN_PATH]) m->token_path = cfg_strdup(c, mm->line, "/api/v4/auth");
  if (!m->audience && !mm->key_line[K_M2M_AUDIENCE] && cfg->resource_identifier)
    m->audience = cfg_strdup(c, mm->line, cfg->resource_identifier);

  if (m->jwks_path && m->token_path && strcmp(m->jwks_path, m->token_path) == 0)
    cfg_err(c, mm->key_line[K_M2M_TOKEN_PATH] ? mm->key_line[K_M2M_TOKEN_PATH] : mm->line,
            "[m2m]: token_path and jwks_path are the same path '%s'", m->token_path);
  if (m->jwks_path && strncmp(m->jwks_path, "/.well-known/oauth-protected-resource", 37) == 0 &&
      (m->jwks_path[37] == '\0' || m->jwks_path[37] == '/'))
    cfg_err(c, mm->key_line[K_M2M_JWKS_PATH],
            "[m2m]: jwks_path '%s' is taken by the protected-resource metadata", m->jwks_path);

  if (!m->enabled) return;
  static const struct {
    int key;
    const char *name;
  } required[] = {{K_M2M_ISSUER, "issuer"},
                  {K_M2M_SIGNING_KEY, "signing_key"},
                  {K_M2M_CLIENTS, "clients"}};
  for (size_t i = 0; i < sizeof required / sizeof *required; i++)
    if (!mm->key_line[required[i].key])
      cfg_err(c, mm->line, "[m2m] is enabled but has no %s", required[i].name);
  if (!mm->key_line[K_M2M_AUDIENCE] && !c->resource.key_line[K_RES_IDENTIFIER])
    cfg_err(c, mm->line, "[m2m] has no audience: set audience here or identifier in [resource]");
}

static void validate_cluster(load_ctx *c) {
  gw_cluster_cfg_t *cl = &c->cfg->cluster;
  cl->line = c->cluster.line;
  if (!cl->timeout_ms) cl->timeout_ms = 200;
  if (cl->line && !cl->redis_host && !c->cluster.key_line[K_CL_REDIS])
    cfg_err(c, cl->line, "[cluster] needs redis");
  if (cl->password_file && !c->cluster.key_line[K_CL_REDIS])
    cfg_err(c, cl->password_line, "redis_password_file: without redis");
}

void cfg_validate(load_ctx *c) {
  gw_config_t *cfg = c->cfg;
  validate_cluster(c);
  validate_m2m(c);
  validate_revocation(c);
  validate_server(c);
  validate_resource(c);
  validate_issuers(c);
  validate_upstreams(c);
  if (c->policy.line && !c->policy.key_line[K_POL_FILE])
    cfg_err(c, c->policy.line, "[policy] needs file");
  if (c->cors.line && !c->cors.key_line[K_CORS_ORIGINS])
    cfg_err(c, c->cors.line, "[cors] needs allow_origins");
  if (!c->log.key_line[K_LOG_ACCESS]) {
    cfg->access_log = strdup("-");
    if (!cfg->access_log) cfg_err(c, 0, "out of memory");
  }
}
