/* config.c: gateway.ini loader: sections, keys and the lifecycle of a load.
 * See config.h for the contract and config-t.h for how the work is split
 * with config_set.c (each value) and config_validate.c (rules between keys).
 *
 * Parsing and validation are separate passes: the handler only records what
 * each key says (and complains about the value itself); cross-key rules run
 * once the whole file has been read, so that the order of sections in the
 * file never changes the outcome. */
#include "config.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config-t.h"

_Static_assert(K_SRV_N <= MAX_KEYS && K_RES_N <= MAX_KEYS && K_ISS_N <= MAX_KEYS &&
                   K_UP_N <= MAX_KEYS && K_M2M_N <= MAX_KEYS && K_TLS_N <= MAX_KEYS,
               "sec_meta.key_line has a slot for every key of a section");

const char *const cfg_server_keys[K_SRV_N] = {
    [K_SRV_LISTEN] = "listen",
    [K_SRV_TLS_LISTEN] = "tls_listen",
    [K_SRV_TLS_CERT] = "tls_cert",
    [K_SRV_TLS_KEY] = "tls_key",
    [K_SRV_TLS_CIPHERS] = "tls_ciphers",
    [K_SRV_TLS_TICKET_ROTATE] = "tls_ticket_rotate",
    [K_SRV_TLS_TICKET_KEY_FILE] = "tls_ticket_key_file",
    [K_SRV_WORKERS] = "workers",
    [K_SRV_PUBLIC_URL] = "public_url",
    [K_SRV_MAX_HEADER_BYTES] = "max_header_bytes",
    [K_SRV_HEADER_TIMEOUT] = "header_timeout",
    [K_SRV_IDLE_TIMEOUT] = "idle_timeout",
    [K_SRV_DRAIN_TIMEOUT] = "drain_timeout",
    [K_SRV_SHUTDOWN_DELAY] = "shutdown_delay",
    [K_SRV_TRUSTED_PROXIES] = "trusted_proxies",
    [K_SRV_MAX_HEADERS] = "max_headers",
    [K_SRV_MAX_CONNECTIONS] = "max_connections",
    [K_SRV_STRICT] = "strict",
};

static const char *const resource_keys[K_RES_N] = {
    [K_RES_IDENTIFIER] = "identifier",
    [K_RES_AUTH_SERVERS] = "authorization_servers",
    [K_RES_SCOPES] = "scopes_supported",
    [K_RES_DOC] = "documentation",
    [K_RES_NAME] = "resource_name",
};

static const char *const issuer_keys[K_ISS_N] = {
    [K_ISS_ISS] = "iss",
    [K_ISS_JWKS_URI] = "jwks_uri",
    [K_ISS_JWKS_FILE] = "jwks_file",
    [K_ISS_ALGORITHMS] = "algorithms",
    [K_ISS_AUDIENCE] = "audience",
    [K_ISS_LEEWAY] = "leeway",
    [K_ISS_REFRESH] = "refresh_interval",
    [K_ISS_REQUIRE_TYP] = "require_typ",
    [K_ISS_CA_FILE] = "ca_file",
    [K_ISS_MAX_RSA_BITS] = "max_rsa_bits",
};

const char *const cfg_upstream_keys[K_UP_N] = {
    [K_UP_PREFIX] = "prefix",
    [K_UP_URL] = "url",
    [K_UP_CONNECT_TIMEOUT] = "connect_timeout",
    [K_UP_RESPONSE_TIMEOUT] = "response_timeout",
    [K_UP_STRIP_PREFIX] = "strip_prefix",
    [K_UP_HOST] = "host",
    [K_UP_MAX_BODY] = "max_body",
    [K_UP_CA_FILE] = "ca_file",
    [K_UP_CLIENT_CERT] = "client_cert",
    [K_UP_CLIENT_KEY] = "client_key",
    [K_UP_RESOURCE] = "resource",
    [K_UP_EXCLUSIVE] = "exclusive_audience",
    [K_UP_POOL_SIZE] = "pool_size",
    [K_UP_PROTOCOL] = "protocol",
    [K_UP_MCP_MAX_BODY] = "mcp_max_body",
    [K_UP_ALLOW_ORIGINS] = "allow_origins",
    [K_UP_SESSION_KEY_FILE] = "session_key_file",
};

static const char *const policy_keys[K_POL_N] = {[K_POL_FILE] = "file"};

static const char *const cors_keys[K_CORS_N] = {[K_CORS_ORIGINS] = "allow_origins"};

static const char *const admin_keys[K_ADM_N] = {[K_ADM_LISTEN] = "listen"};
static const char *const decision_keys[K_DEC_N] = {[K_DEC_LISTEN] = "listen"};

static const char *const log_keys[K_LOG_N] = {[K_LOG_LEVEL] = "level", [K_LOG_ACCESS] = "access",
                                              [K_LOG_FORMAT] = "format",
                                              [K_LOG_ACCESS_FORMAT] = "access_format"};

static const char *const m2m_keys[K_M2M_N] = {
    [K_M2M_ENABLE] = "enable",
    [K_M2M_ISSUER] = "issuer",
    [K_M2M_SIGNING_KEY] = "signing_key",
    [K_M2M_KID] = "kid",
    [K_M2M_LIFETIME] = "lifetime",
    [K_M2M_AUDIENCE] = "audience",
    [K_M2M_CLIENTS] = "clients",
    [K_M2M_JWKS_PATH] = "jwks_path",
    [K_M2M_TOKEN_PATH] = "token_path",
    [K_M2M_MAX_FAILURES] = "max_failures",
    [K_M2M_LOCKOUT] = "lockout",
};

static const char *const revocation_keys[K_REV_N] = {
    [K_REV_ADMIN_TOKEN] = "admin_token_file",
    [K_REV_SSF_ISSUER] = "ssf_issuer",
    [K_REV_SSF_PATH] = "ssf_path",
    [K_REV_RETAIN] = "retain",
};

static const char *const cluster_keys[K_CL_N] = {
    [K_CL_REDIS] = "redis",
    [K_CL_PASSWORD_FILE] = "redis_password_file",
    [K_CL_TIMEOUT] = "redis_timeout",
};

const char *const cfg_tlscert_keys[K_TLS_N] = {
    [K_TLS_SERVER_NAMES] = "server_names",
    [K_TLS_CERT] = "cert",
    [K_TLS_KEY] = "key",
};

void cfg_err(load_ctx *c, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gw_errors_vadd(c->errs, c->file, line, fmt, ap);
  va_end(ap);
  c->nerr++;
}

char *cfg_strdup(load_ctx *c, int line, const char *s) {
  char *d = strdup(s);
  if (!d) cfg_err(c, line, "out of memory");
  return d;
}

char *cfg_resolve_path(load_ctx *c, int line, const char *rel) {
  if (rel[0] == '/' || !c->dir_relative) return cfg_strdup(c, line, rel);
  const char *dir = c->cfg->dir;
  size_t dl = strlen(dir);
  bool slash = dl > 0 && dir[dl - 1] == '/';
  size_t n = dl + (slash ? 0 : 1) + strlen(rel) + 1;
  char *p = malloc(n);
  if (!p) {
    cfg_err(c, line, "out of memory");
    return NULL;
  }
  snprintf(p, n, "%s%s%s", dir, slash ? "" : "/", rel);
  return p;
}

static int key_index(const char *const *tab, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(tab[i], name) == 0) return (int)i;
  return -1;
}

static bool valid_section_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 64) return false;
  for (; *s; s++)
    if (!gw_is_alnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.') return false;
  return true;
}

/* Appends a zeroed element for [KIND:NAME] (and its parallel sec_meta) to
 * *arr; NULL after reporting a duplicate name or running out of memory.
 * Every named section type has `char *name` as its first member, which is
 * what lets one function serve all their arrays. */
static void *named_add(load_ctx *c, const char *section, const char *name, int line, void **arr,
                       size_t *n, size_t elem, sec_meta **meta) {
  char *base = *arr;
  for (size_t i = 0; i < *n; i++) {
    if (strcmp(*(char **)(void *)(base + i * elem), name) == 0) {
      cfg_err(c, line, "duplicate section [%s] (first at line %d)", section, (*meta)[i].line);
      return NULL;
    }
  }
  char *na = realloc(*arr, (*n + 1) * elem);
  if (na) *arr = na;
  sec_meta *nm = realloc(*meta, (*n + 1) * sizeof *nm);
  if (nm) *meta = nm;
  char *nd = strdup(name);
  if (!na || !nm || !nd) {
    free(nd);
    cfg_err(c, line, "out of memory");
    return NULL;
  }
  void *e = na + *n * elem;
  memset(e, 0, elem);
  *(char **)e = nd;
  memset(&nm[*n], 0, sizeof *nm);
  nm[*n].line = line;
  c->cur_idx = (*n)++;
  return e;
}

static int on_section(load_ctx *c, const char *section, int line) {
  static const struct {
    const char *name;
    enum sec_kind kind;
  } singles[] = {
      {"server", SEC_SERVER}, {"resource", SEC_RESOURCE}, {"policy", SEC_POLICY},
      {"forward", SEC_FORWARD}, {"cors", SEC_CORS},      {"admin", SEC_ADMIN},
      {"log", SEC_LOG},       {"m2m", SEC_M2M},       {"decision", SEC_DECISION},
      {"revocation", SEC_REVOCATION}, {"cluster", SEC_CLUSTER},
  };
  gw_config_t *cfg = c->cfg;
  c->cur = SEC_IGNORE;

  for (size_t i = 0; i < sizeof singles / sizeof *singles; i++) {
    if (strcmp(section, singles[i].name) != 0) continue;
    sec_meta *m = singles[i].kind == SEC_SERVER     ? &c->server
                  : singles[i].kind == SEC_RESOURCE ? &c->resource
                  : singles[i].kind == SEC_POLICY   ? &c->policy
                  : singles[i].kind == SEC_FORWARD  ? &c->forward
                  : singles[i].kind == SEC_CORS     ? &c->cors
                  : singles[i].kind == SEC_ADMIN    ? &c->admin
                  : singles[i].kind == SEC_M2M      ? &c->m2m
                  : singles[i].kind == SEC_DECISION ? &c->decision
                  : singles[i].kind == SEC_REVOCATION ? &c->revocation
                  : singles[i].kind == SEC_CLUSTER ? &c->cluster
                                                    : &c->log;
    if (m->line) {
      cfg_err(c, line, "duplicate section [%s] (first at line %d)", section, m->line);
      return 0;
    }
    m->line = line;
    c->cur = singles[i].kind;
    return 1;
  }

  static const struct {
    const char *kind;
    enum sec_kind sec;
  } named[] = {{"issuer", SEC_ISSUER}, {"upstream", SEC_UPSTREAM}, {"tls", SEC_TLS}};
  size_t ki = 0;
  for (; ki < sizeof named / sizeof *named; ki++) {
    size_t kl = strlen(named[ki].kind);
    if (strncmp(section, named[ki].kind, kl) == 0 && (section[kl] == ':' || !section[kl])) break;
  }
  if (ki == sizeof named / sizeof *named) {
    cfg_err(c, line, "unknown section [%.*s%s]", GW_VARG(section));
    return 0;
  }
  const char *kind = named[ki].kind;
  const char *name = strchr(section, ':');
  if (!name) {
    cfg_err(c, line, "section [%s] needs a name: [%s:NAME]", section, kind);
    return 0;
  }
  name++;
  if (!valid_section_name(name)) {
    cfg_err(c, line,
            "invalid %s name " GW_VFMT " (1-64 characters from A-Z a-z 0-9 '-' '_' '.')", kind,
            GW_VARG(name));
    return 0;
  }

  switch (named[ki].sec) {
  case SEC_ISSUER: {
    gw_issuer_cfg_t *is = named_add(c, section, name, line, (void **)&cfg->issuers,
                                    &cfg->nissuers, sizeof *is, &c->issuer_meta);
    if (!is) return 0;
    is->line = line;
    is->leeway_ms = 30 * 1000;
    is->refresh_interval_ms = 5 * 60 * 1000;
    is->max_rsa_bits = 4096;
    break;
  }
  case SEC_UPSTREAM: {
    gw_upstream_cfg_t *u = named_add(c, section, name, line, (void **)&cfg->upstreams,
                                     &cfg->nupstreams, sizeof *u, &c->upstream_meta);
    if (!u) return 0;
    u->line = line;
    u->connect_timeout_ms = 2 * 1000;
    u->response_timeout_ms = 30 * 1000;
    u->host_mode = GW_HOST_PRESERVE;
    u->pool_size = 64;
    u->mcp_max_body = 1024 * 1024;
    break;
  }
  default: {
    gw_tls_cert_cfg_t *t = named_add(c, section, name, line, (void **)&cfg->tls_certs,
                                     &cfg->ntls_certs, sizeof *t, &c->tls_meta);
    if (!t) return 0;
    t->line = line;
    break;
  }
  }
  c->cur = named[ki].sec;
  return 1;
}

static int on_key(load_ctx *c, const char *section, const char *name, const char *value,
                  int line) {
  if (c->cur == SEC_IGNORE) return 1; /* the section header was already reported */
  if (c->cur == SEC_NONE) {
    cfg_err(c, line, "key " GW_VFMT " outside of any section", GW_VARG(name));
    return 0;
  }
  if (gw_has_ctl(value)) {
    cfg_err(c, line, "control character in the value of " GW_VFMT, GW_VARG(name));
    return 0;
  }
  if (c->cur == SEC_FORWARD) return cfg_forward_key(c, name, value, line);

  const char *const *tab;
  size_t n;
  sec_meta *m;
  switch (c->cur) {
  case SEC_SERVER: tab = cfg_server_keys, n = K_SRV_N, m = &c->server; break;
  case SEC_RESOURCE: tab = resource_keys, n = K_RES_N, m = &c->resource; break;
  case SEC_ISSUER: tab = issuer_keys, n = K_ISS_N, m = &c->issuer_meta[c->cur_idx]; break;
  case SEC_UPSTREAM: tab = cfg_upstream_keys, n = K_UP_N, m = &c->upstream_meta[c->cur_idx]; break;
  case SEC_POLICY: tab = policy_keys, n = K_POL_N, m = &c->policy; break;
  case SEC_CORS: tab = cors_keys, n = K_CORS_N, m = &c->cors; break;
  case SEC_ADMIN: tab = admin_keys, n = K_ADM_N, m = &c->admin; break;
  case SEC_LOG: tab = log_keys, n = K_LOG_N, m = &c->log; break;
  case SEC_M2M: tab = m2m_keys, n = K_M2M_N, m = &c->m2m; break;
  case SEC_DECISION: tab = decision_keys, n = K_DEC_N, m = &c->decision; break;
  case SEC_REVOCATION: tab = revocation_keys, n = K_REV_N, m = &c->revocation; break;
  case SEC_CLUSTER: tab = cluster_keys, n = K_CL_N, m = &c->cluster; break;
  case SEC_TLS: tab = cfg_tlscert_keys, n = K_TLS_N, m = &c->tls_meta[c->cur_idx]; break;
  default: return 1;
  }
  int k = key_index(tab, n, name);
  if (k < 0) {
    cfg_err(c, line, "unknown key " GW_VFMT " in [%s]", GW_VARG(name), section);
    return 0;
  }
  bool multi = (c->cur == SEC_SERVER && (k == K_SRV_LISTEN || k == K_SRV_TLS_LISTEN)) ||
               c->cur == SEC_DECISION;
  if (m->key_line[k] && !multi) {
    cfg_err(c, line, "duplicate key '%s' in [%s] (first at line %d)", name, section,
            m->key_line[k]);
    return 0;
  }
  if (!m->key_line[k]) m->key_line[k] = line;
  if (value[0] == '\0') {
    cfg_err(c, line, "empty value for '%s' in [%s]", name, section);
    return 0;
  }

  int before = c->nerr;
  cfg_set_value(c, k, value, line);
  return c->nerr == before;
}

static int cfg_handler(void *user, const char *section, const char *name, const char *value,
                       int line) {
  load_ctx *c = user;
  if (!name) return on_section(c, section, line);
  return on_key(c, section, name, value, line);
}

static char *dir_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return gw_dup_range(path, (size_t)(slash - path));
}

gw_config_t *config_load(const char *path, gw_errors_t *errs) {
  load_ctx c;
  memset(&c, 0, sizeof c);
  c.errs = errs;
  c.file = path;

  gw_config_t *cfg = calloc(1, sizeof *cfg);
  if (!cfg) {
    gw_errors_add(errs, path, 0, "out of memory");
    return NULL;
  }
  c.cfg = cfg;
  cfg->path = strdup(path);
  cfg->dir = dir_of(path);
  if (!cfg->path || !cfg->dir) {
    gw_errors_add(errs, path, 0, "out of memory");
    config_free(cfg);
    return NULL;
  }
  c.dir_relative = strchr(path, '/') != NULL;
  cfg->workers = 0;
  cfg->max_header_bytes = 16 * 1024;
  cfg->max_headers = 100;
  cfg->header_timeout_ms = 10 * 1000;
  cfg->idle_timeout_ms = 60 * 1000;
  cfg->drain_timeout_ms = 30 * 1000;
  cfg->max_connections = 10000;
  cfg->log_level = GW_LOG_INFO;

  int r = config_ini_parse(path, cfg_handler, &c, errs);
  cfg_validate(&c);

  free(c.issuer_meta);
  free(c.upstream_meta);
  free(c.tls_meta);
  free(c.forward_line);
  if (r != 0 || c.nerr > 0) {
    config_free(cfg);
    return NULL;
  }
  return cfg;
}

void config_free(gw_config_t *cfg) {
  if (!cfg) return;
  free(cfg->path);
  free(cfg->dir);
  free(cfg->tls_cert);
  free(cfg->tls_key);
  free(cfg->tls_ciphers);
  free(cfg->tls_ticket_key_file);
  for (size_t i = 0; i < cfg->ntls_certs; i++) {
    gw_tls_cert_cfg_t *t = &cfg->tls_certs[i];
    free(t->name);
    config_free_words(t->server_names);
    free(t->cert);
    free(t->key);
  }
  free(cfg->tls_certs);
  free(cfg->public_url);
  free(cfg->resource_identifier);
  config_free_words(cfg->authorization_servers);
  config_free_words(cfg->scopes_supported);
  free(cfg->resource_documentation);
  free(cfg->resource_name);
  for (size_t i = 0; i < cfg->nissuers; i++) {
    gw_issuer_cfg_t *is = &cfg->issuers[i];
    free(is->name);
    free(is->iss);
    free(is->jwks_uri);
    free(is->jwks_file);
    config_free_words(is->algorithms);
    free(is->audience);
    free(is->require_typ);
    free(is->ca_file);
  }
  free(cfg->issuers);
  for (size_t i = 0; i < cfg->nupstreams; i++) {
    gw_upstream_cfg_t *u = &cfg->upstreams[i];
    free(u->name);
    free(u->prefix);
    free(u->url_text);
    config_url_free(&u->url);
    free(u->resource);
    free(u->ca_file);
    free(u->client_cert);
    free(u->client_key);
    free(u->session_key_file);
    config_free_words(u->allow_origins);
  }
  free(cfg->upstreams);
  free(cfg->policy_file);
  for (size_t i = 0; i < cfg->nforward; i++) {
    free(cfg->forward[i].header);
    free(cfg->forward[i].claim);
  }
  free(cfg->forward);
  config_free_words(cfg->cors_origins);
  free(cfg->access_log);
  free(cfg->m2m.issuer);
  free(cfg->m2m.signing_key);
  free(cfg->m2m.kid);
  free(cfg->m2m.audience);
  free(cfg->m2m.clients_file);
  free(cfg->m2m.jwks_path);
  free(cfg->m2m.token_path);
  free(cfg->revocation.admin_token_file);
  free(cfg->revocation.ssf_issuer);
  free(cfg->revocation.ssf_path);
  free(cfg->cluster.redis_host);
  free(cfg->cluster.redis_url);
  free(cfg->cluster.password_file);
  free(cfg);
}
