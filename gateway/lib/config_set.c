/* config_set.c: what each key of gateway.ini means: its value is checked on
 * its own (rules between keys are config_validate.c's) and stored in the
 * config. Every problem is reported with the key's line. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config-t.h"
#include "http.h"

/* --- per-key value checks; each reports its own error and returns 0 --- */

static int want_url(load_ctx *c, int line, const char *key, const char *v) {
  gw_url_t u;
  if (config_parse_url(v, &u) != 0) {
    cfg_err(c, line,
            "%s: invalid URL " GW_VFMT
            " (expected http:// or https://, a host, optional port and path; no user info, "
            "query or fragment)",
            key, GW_VARG(v));
    return 0;
  }
  config_url_free(&u);
  return 1;
}

static int want_duration(load_ctx *c, int line, const char *key, const char *v,
                         uint64_t min_ms, uint64_t *out) {
  uint64_t ms;
  if (config_parse_duration_ms(v, &ms) != 0) {
    cfg_err(c, line, "%s: invalid duration " GW_VFMT " (expected e.g. 500ms, 30s, 5m, 1h)", key,
            GW_VARG(v));
    return 0;
  }
  if (ms < min_ms) {
    cfg_err(c, line, "%s: must be at least %" PRIu64 "ms, got " GW_VFMT, key, min_ms, GW_VARG(v));
    return 0;
  }
  *out = ms;
  return 1;
}

static int want_uint(load_ctx *c, int line, const char *key, const char *v, uint64_t min,
                     uint64_t max, uint64_t *out) {
  if (config_parse_uint(v, min, max, out) != 0) {
    cfg_err(c, line, "%s: expected a whole number from %" PRIu64 " to %" PRIu64 ", got " GW_VFMT,
            key, min, max, GW_VARG(v));
    return 0;
  }
  return 1;
}

static int want_bool(load_ctx *c, int line, const char *key, const char *v, int *out) {
  if (config_parse_bool(v, out) != 0) {
    cfg_err(c, line, "%s: expected yes/no, true/false, on/off or 1/0, got " GW_VFMT, key,
            GW_VARG(v));
    return 0;
  }
  return 1;
}

static int want_listen(load_ctx *c, int line, const char *key, const char *v, gw_listen_t *out) {
  if (config_parse_listen(v, out) != 0) {
    cfg_err(c, line,
            "%s: invalid address " GW_VFMT
            " (expected IPV4:PORT or [IPV6]:PORT with a numeric address and port 1-65535)",
            key, GW_VARG(v));
    return 0;
  }
  return 1;
}

static bool valid_scope_token(const char *s) {
  if (!*s) return false;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (!(ch == 0x21 || (ch >= 0x23 && ch <= 0x5B) || (ch >= 0x5D && ch <= 0x7E))) return false;
  }
  return true;
}

/* The end of every list value: w (n words, each already checked, ok when
 * all were fine) is kept only when no word is listed twice; otherwise it is
 * freed and NULL returned. */
static char **unique_words(load_ctx *c, int line, const char *key, char **w, size_t n, bool ok) {
  for (size_t i = 0; ok && i < n; i++)
    for (size_t j = 0; ok && j < i; j++)
      if (strcmp(w[i], w[j]) == 0) {
        cfg_err(c, line, "%s: " GW_VFMT " listed twice", key, GW_VARG(w[i]));
        ok = false;
      }
  if (ok) return w;
  config_free_words(w);
  return NULL;
}

static int want_one_value(load_ctx *c, int line, const char *key, const char *v) {
  for (const char *p = v; *p; p++) {
    if (gw_is_ws((unsigned char)*p)) {
      cfg_err(c, line, "%s: one value expected, got " GW_VFMT, key, GW_VARG(v));
      return 0;
    }
  }
  return 1;
}

static char **split_or_oom(load_ctx *c, int line, const char *v, size_t *n) {
  char **w;
  *n = config_split_words(v, &w);
  if (!w) cfg_err(c, line, "out of memory");
  return w;
}

/* One more address of a key that may repeat (listen, tls_listen, [decision] listen). */
static void add_listen(load_ctx *c, int line, const char *key, const char *v, gw_listen_t *arr,
                       size_t *n, int *lines) {
  if (*n == GW_MAX_LISTEN) {
    cfg_err(c, line, "%s: too many addresses (max %d)", key, GW_MAX_LISTEN);
    return;
  }
  if (!want_listen(c, line, key, v, &arr[*n])) return;
  lines[(*n)++] = line;
}

static void set_server(load_ctx *c, int k, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  uint64_t u;
  switch (k) {
  case K_SRV_LISTEN:
    add_listen(c, line, cfg_server_keys[k], v, cfg->listen, &cfg->nlisten, c->listen_line);
    return;
  case K_SRV_TLS_LISTEN:
    add_listen(c, line, cfg_server_keys[k], v, cfg->tls_listen, &cfg->ntls_listen, c->tls_listen_line);
    return;
  case K_SRV_TLS_CERT:
    cfg->tls_cert = cfg_resolve_path(c, line, v);
    return;
  case K_SRV_TLS_KEY:
    cfg->tls_key = cfg_resolve_path(c, line, v);
    return;
  case K_SRV_TLS_CIPHERS:
    /* OpenSSL judges the list when the TLS context is built (a bad one is
     * reported at this line then). */
    cfg->tls_ciphers = cfg_strdup(c, line, v);
    return;
  case K_SRV_TLS_TICKET_KEY_FILE:
    cfg->tls_ticket_key_file = cfg_resolve_path(c, line, v);
    cfg->tls_ticket_key_file_line = line;
    return;
  case K_SRV_TLS_TICKET_ROTATE:
    if (want_duration(c, line, "tls_ticket_rotate", v, 1000, &u)) {
      if (u > 24ull * 3600 * 1000 || u % 1000)
        cfg_err(c, line, "tls_ticket_rotate: expected whole seconds from 1s to 24h, got " GW_VFMT,
                GW_VARG(v));
      else
        cfg->tls_ticket_rotate_ms = u;
    }
    return;
  case K_SRV_WORKERS:
    if (want_uint(c, line, "workers", v, 0, 256, &u)) cfg->workers = (unsigned)u;
    return;
  case K_SRV_PUBLIC_URL: {
    if (!want_url(c, line, "public_url", v)) return;
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/') n--;
    cfg->public_url = gw_dup_range(v, n);
    if (!cfg->public_url) cfg_err(c, line, "out of memory");
    return;
  }
  case K_SRV_MAX_HEADER_BYTES:
    if (config_parse_size(v, &u) != 0 || u < 1024 || u > 1024 * 1024)
      cfg_err(c, line, "max_header_bytes: expected a size from 1k to 1m, got " GW_VFMT, GW_VARG(v));
    else
      cfg->max_header_bytes = (size_t)u;
    return;
  case K_SRV_HEADER_TIMEOUT:
    want_duration(c, line, "header_timeout", v, 1, &cfg->header_timeout_ms);
    return;
  case K_SRV_IDLE_TIMEOUT:
    want_duration(c, line, "idle_timeout", v, 1, &cfg->idle_timeout_ms);
    return;
  case K_SRV_DRAIN_TIMEOUT:
    want_duration(c, line, "drain_timeout", v, 0, &cfg->drain_timeout_ms);
    return;
  case K_SRV_SHUTDOWN_DELAY:
    want_duration(c, line, "shutdown_delay", v, 0, &cfg->shutdown_delay_ms);
    return;
  case K_SRV_TRUSTED_PROXIES: {
    size_t n;
    char **w = split_or_oom(c, line, v, &n);
    for (size_t i = 0; w && i < n; i++) {
      if (cfg->ntrusted_proxies == GW_MAX_TRUSTED_PROXIES) {
        cfg_err(c, line, "trusted_proxies: at most %d entries", GW_MAX_TRUSTED_PROXIES);
        break;
      }
      if (gw_cidr_parse(w[i], &cfg->trusted_proxies[cfg->ntrusted_proxies]) != 0)
        cfg_err(c, line, "trusted_proxies: expected an address or CIDR (host bits zero), got " GW_VFMT,
                GW_VARG(w[i]));
      else
        cfg->ntrusted_proxies++;
    }
    config_free_words(w);
    return;
  }
  case K_SRV_MAX_HEADERS:
    if (want_uint(c, line, "max_headers", v, 1, 10000, &u)) cfg->max_headers = (unsigned)u;
    return;
  case K_SRV_MAX_CONNECTIONS:
    if (want_uint(c, line, "max_connections", v, 1, 1000000, &u))
      cfg->max_connections = (unsigned)u;
    return;
  case K_SRV_STRICT:
    want_bool(c, line, "strict", v, &cfg->strict);
    return;
  }
}

static void set_resource(load_ctx *c, int k, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  switch (k) {
  case K_RES_IDENTIFIER:
    if (want_url(c, line, "identifier", v)) cfg->resource_identifier = cfg_strdup(c, line, v);
    return;
  case K_RES_DOC:
    if (want_url(c, line, "documentation", v)) cfg->resource_documentation = cfg_strdup(c, line, v);
    return;
  case K_RES_NAME:
    cfg->resource_name = cfg_strdup(c, line, v);
    return;
  case K_RES_AUTH_SERVERS: {
    size_t n;
    char **w = split_or_oom(c, line, v, &n);
    if (!w) return;
    bool ok = true;
    for (size_t i = 0; i < n; i++) ok = want_url(c, line, "authorization_servers", w[i]) && ok;
    if (!unique_words(c, line, "authorization_servers", w, n, ok)) return;
    cfg->authorization_servers = w;
    cfg->nauthorization_servers = n;
    return;
  }
  case K_RES_SCOPES: {
    size_t n;
    char **w = split_or_oom(c, line, v, &n);
    if (!w) return;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
      if (!valid_scope_token(w[i])) {
        cfg_err(c, line, "scopes_supported: invalid scope " GW_VFMT " (RFC 6749 scope-token)",
                GW_VARG(w[i]));
        ok = false;
      }
    }
    if (!unique_words(c, line, "scopes_supported", w, n, ok)) return;
    cfg->scopes_supported = w;
    cfg->nscopes_supported = n;
    return;
  }
  }
}

static const char *const known_algs[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
                                         "PS512", "ES256", "ES384", "ES512"};

static void set_issuer(load_ctx *c, int k, const char *v, int line) {
  gw_issuer_cfg_t *is = &c->cfg->issuers[c->cur_idx];
  switch (k) {
  case K_ISS_ISS:
    if (want_url(c, line, "iss", v)) is->iss = cfg_strdup(c, line, v);
    return;
  case K_ISS_JWKS_URI:
    if (want_url(c, line, "jwks_uri", v)) is->jwks_uri = cfg_strdup(c, line, v);
    return;
  case K_ISS_JWKS_FILE:
    is->jwks_file = cfg_resolve_path(c, line, v);
    return;
  case K_ISS_CA_FILE:
    is->ca_file = cfg_resolve_path(c, line, v);
    return;
  case K_ISS_AUDIENCE:
    if (!want_one_value(c, line, "audience", v)) return;
    is->audience = cfg_strdup(c, line, v);
    return;
  case K_ISS_LEEWAY:
    want_duration(c, line, "leeway", v, 0, &is->leeway_ms);
    return;
  case K_ISS_REFRESH:
    want_duration(c, line, "refresh_interval", v, 1000, &is->refresh_interval_ms);
    return;
  case K_ISS_MAX_RSA_BITS: {
    uint64_t u;
    /* the bounds jwks.c enforces on every key anyway */
    if (want_uint(c, line, "max_rsa_bits", v, 2048, 8192, &u)) is->max_rsa_bits = (unsigned)u;
    return;
  }
  case K_ISS_REQUIRE_TYP:
    if (strcasecmp(v, "at+jwt") != 0)
      cfg_err(c, line, "require_typ: only 'at+jwt' is supported, got " GW_VFMT, GW_VARG(v));
    else
      is->require_typ = cfg_strdup(c, line, "at+jwt");
    return;
  case K_ISS_ALGORITHMS: {
    size_t n;
    char **w = split_or_oom(c, line, v, &n);
    if (!w) return;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
      bool known = false;
      for (size_t j = 0; j < sizeof known_algs / sizeof *known_algs; j++)
        if (strcmp(w[i], known_algs[j]) == 0) known = true;
      if (known) continue;
      ok = false;
      if (strcasecmp(w[i], "none") == 0)
        cfg_err(c, line, "algorithms: 'none' is never accepted (tokens must be signed)");
      else if (strcasecmp(w[i], "HS256") == 0 || strcasecmp(w[i], "HS384") == 0 ||
               strcasecmp(w[i], "HS512") == 0)
        cfg_err(c, line,
                "algorithms: " GW_VFMT " is never accepted with JWKS keys (a public key would "
                "serve as an HMAC secret)",
                GW_VARG(w[i]));
      else
        cfg_err(c, line,
                "algorithms: unknown algorithm " GW_VFMT
                " (allowed: RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512)",
                GW_VARG(w[i]));
    }
    if (!unique_words(c, line, "algorithms", w, n, ok)) return;
    is->algorithms = w;
    is->nalgorithms = n;
    return;
  }
  }
}

/* NULL when acceptable, else why not. */
static const char *prefix_problem(const char *p) {
  if (p[0] != '/') return "must start with '/'";
  size_t n = strlen(p);
  if (n == 1) return "must not be '/' alone";
  if (p[n - 1] == '/') return "must not end with '/'";
  for (const char *q = p; *q; q++) {
    unsigned char ch = (unsigned char)*q;
    if (ch <= 0x20 || ch >= 0x7f) return "must not contain whitespace, control or non-ASCII characters";
    if (ch == '?' || ch == '#') return "must not contain '?' or '#'";
    if (ch == '%') return "must not contain '%' (write the decoded path)";
    if (ch != '/' && !gw_is_pchar(ch)) return "contains a character not allowed in a path";
  }
  for (const char *q = p; *q;) {
    const char *s = q + 1;
    const char *e = strchr(s, '/');
    size_t sl = e ? (size_t)(e - s) : strlen(s);
    if (sl == 0) return "must not contain '//'";
    if ((sl == 1 && s[0] == '.') || (sl == 2 && s[0] == '.' && s[1] == '.'))
      return "must not contain '.' or '..' segments";
    q = s + sl;
  }
  return NULL;
}

static char **origin_list(load_ctx *c, const char *v, int line, size_t *out_n);

static void set_upstream(load_ctx *c, int k, const char *v, int line) {
  gw_upstream_cfg_t *u = &c->cfg->upstreams[c->cur_idx];
  uint64_t n;
  switch (k) {
  case K_UP_PREFIX: {
    const char *why = prefix_problem(v);
    if (why) {
      cfg_err(c, line, "prefix " GW_VFMT " %s", GW_VARG(v), why);
      return;
    }
    u->prefix = cfg_strdup(c, line, v);
    if (u->prefix) u->prefix_len = strlen(u->prefix);
    return;
  }
  case K_UP_URL:
    if (config_parse_url(v, &u->url) != 0) {
      want_url(c, line, "url", v); /* reports */
      return;
    }
    u->url_text = cfg_strdup(c, line, v);
    return;
  case K_UP_CONNECT_TIMEOUT:
    want_duration(c, line, "connect_timeout", v, 1, &u->connect_timeout_ms);
    return;
  case K_UP_RESPONSE_TIMEOUT:
    want_duration(c, line, "response_timeout", v, 1, &u->response_timeout_ms);
    return;
  case K_UP_STRIP_PREFIX:
    want_bool(c, line, "strip_prefix", v, &u->strip_prefix);
    return;
  case K_UP_EXCLUSIVE:
    want_bool(c, line, "exclusive_audience", v, &u->exclusive_audience);
    return;
  case K_UP_HOST:
    if (strcmp(v, "preserve") == 0)
      u->host_mode = GW_HOST_PRESERVE;
    else if (strcmp(v, "upstream") == 0)
      u->host_mode = GW_HOST_UPSTREAM;
    else
      cfg_err(c, line, "host: expected 'preserve' or 'upstream', got " GW_VFMT, GW_VARG(v));
    return;
  case K_UP_MAX_BODY:
    if (config_parse_size(v, &u->max_body) != 0)
      cfg_err(c, line, "max_body: invalid size " GW_VFMT " (expected e.g. 0, 65536, 16k, 1m, 1g)",
              GW_VARG(v));
    return;
  case K_UP_CA_FILE:
    u->ca_file = cfg_resolve_path(c, line, v);
    return;
  case K_UP_CLIENT_CERT:
    u->client_cert = cfg_resolve_path(c, line, v);
    return;
  case K_UP_CLIENT_KEY:
    u->client_key = cfg_resolve_path(c, line, v);
    return;
  case K_UP_RESOURCE:
    if (want_url(c, line, "resource", v)) u->resource = cfg_strdup(c, line, v);
    return;
  case K_UP_POOL_SIZE:
    if (want_uint(c, line, "pool_size", v, 0, 100000, &n)) u->pool_size = (unsigned)n;
    return;
  case K_UP_PROTOCOL:
    if (strcmp(v, "http") == 0)
      u->protocol = GW_PROTO_HTTP;
    else if (strcmp(v, "mcp") == 0)
      u->protocol = GW_PROTO_MCP;
    else
      cfg_err(c, line, "protocol: expected 'http' or 'mcp', got " GW_VFMT, GW_VARG(v));
    return;
  case K_UP_MCP_MAX_BODY:
    if (config_parse_size(v, &n) != 0 || n == 0 || n > (uint64_t)64 * 1024 * 1024)
      cfg_err(c, line, "mcp_max_body: invalid size " GW_VFMT " (1 byte to 64m, e.g. 256k, 1m)",
              GW_VARG(v));
    else
      u->mcp_max_body = n;
    return;
  case K_UP_ALLOW_ORIGINS:
    u->allow_origins = origin_list(c, v, line, &u->nallow_origins);
    u->allow_origins_set = u->allow_origins != NULL;
    return;
  case K_UP_SESSION_KEY_FILE:
    u->session_key_file = cfg_resolve_path(c, line, v);
    u->session_key_line = line;
    return;
  }
}

/* Header names a claim may not be forwarded in: framing, routing, auth and
 * hop-by-hop headers, whose meaning to the upstream the gateway owns. */
static bool forbidden_forward_header(const char *h) {
  static const char *const deny[] = {
      "host",          "authorization",     "content-length", "transfer-encoding",
      "connection",    "keep-alive",        "proxy-connection", "proxy-authenticate",
      "proxy-authorization", "te",          "trailer",        "upgrade",
      "expect",        "forwarded",         "content-type",   "content-encoding",
      "cookie",
  };
  for (size_t i = 0; i < sizeof deny / sizeof *deny; i++)
    if (strcasecmp(h, deny[i]) == 0) return true;
  return strncasecmp(h, "x-forwarded-", 12) == 0;
}

int cfg_forward_key(load_ctx *c, const char *name, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  if (strncmp(name, "header.", 7) != 0) {
    cfg_err(c, line, "unknown key " GW_VFMT " in [forward] (expected header.NAME = claim)",
            GW_VARG(name));
    return 0;
  }
  const char *h = name + 7;
  for (size_t i = 0; i < cfg->nforward; i++) {
    if (strcasecmp(cfg->forward[i].header, h) == 0) {
      cfg_err(c, line, "duplicate key " GW_VFMT " in [forward] (first at line %d)", GW_VARG(name),
              c->forward_line[i]);
      return 0;
    }
  }
  bool ok = true;
  if (!*h) {
    cfg_err(c, line, "[forward]: empty header name in " GW_VFMT, GW_VARG(name));
    ok = false;
  } else {
    for (const char *p = h; *p; p++) {
      if (!http_is_tchar((unsigned char)*p)) {
        cfg_err(c, line, "[forward]: " GW_VFMT " is not a valid HTTP header name", GW_VARG(h));
        ok = false;
        break;
      }
    }
    if (ok && forbidden_forward_header(h)) {
      cfg_err(c, line,
              "[forward]: header " GW_VFMT
              " cannot carry a claim (framing, routing, auth, hop-by-hop or X-Forwarded-*)",
              GW_VARG(h));
      ok = false;
    }
  }
  if (!*v) {
    cfg_err(c, line, "[forward]: empty claim name for " GW_VFMT, GW_VARG(name));
    ok = false;
  } else if (gw_has_ctl(v) || strpbrk(v, " \t")) {
    cfg_err(c, line, "[forward]: invalid claim name " GW_VFMT " (no blanks or control characters)",
            GW_VARG(v));
    ok = false;
  }
  if (!ok) return 0;

  gw_forward_cfg_t *nf = realloc(cfg->forward, (cfg->nforward + 1) * sizeof *nf);
  if (nf) cfg->forward = nf;
  int *nl = realloc(c->forward_line, (cfg->nforward + 1) * sizeof *nl);
  if (nl) c->forward_line = nl;
  char *hd = strdup(h), *cd = strdup(v);
  if (!nf || !nl || !hd || !cd) {
    free(hd);
    free(cd);
    cfg_err(c, line, "out of memory");
    return 0;
  }
  cfg->forward[cfg->nforward].header = hd;
  cfg->forward[cfg->nforward].claim = cd;
  c->forward_line[cfg->nforward] = line;
  cfg->nforward++;
  return 1;
}

/* An origin list ([cors] and an MCP upstream's allow_origins): NULL after
 * an error (reported). */
static char **origin_list(load_ctx *c, const char *v, int line, size_t *out_n) {
  size_t n;
  char **w = split_or_oom(c, line, v, &n);
  if (!w) return NULL;
  bool ok = true;
  bool star = false;
  for (size_t i = 0; i < n; i++)
    if (strcmp(w[i], "*") == 0) star = true;
  if (star && n > 1) {
    cfg_err(c, line, "allow_origins: '*' must be the only value");
    ok = false;
  }
  for (size_t i = 0; ok && !star && i < n; i++) {
    char *o = config_parse_origin(w[i]);
    if (!o) {
      cfg_err(c, line,
              "allow_origins: invalid origin " GW_VFMT " (expected scheme://host[:port], no path)",
              GW_VARG(w[i]));
      ok = false;
      continue;
    }
    free(w[i]);
    w[i] = o;
  }
  if (!unique_words(c, line, "allow_origins", w, n, ok)) return NULL;
  *out_n = n;
  return w;
}

static void set_cors(load_ctx *c, const char *v, int line) {
  size_t n;
  char **w = origin_list(c, v, line, &n);
  if (!w) return;
  c->cfg->cors_origins = w;
  c->cfg->ncors_origins = n;
}

static void set_log(load_ctx *c, int k, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  if (k == K_LOG_LEVEL) {
    if (strcmp(v, "debug") == 0)
      cfg->log_level = GW_LOG_DEBUG;
    else if (strcmp(v, "info") == 0)
      cfg->log_level = GW_LOG_INFO;
    else if (strcmp(v, "warn") == 0)
      cfg->log_level = GW_LOG_WARN;
    else if (strcmp(v, "error") == 0)
      cfg->log_level = GW_LOG_ERROR;
    else
      cfg_err(c, line, "level: expected debug, info, warn or error, got " GW_VFMT, GW_VARG(v));
    return;
  }
  if (k == K_LOG_FORMAT) {
    if (strcmp(v, "text") == 0 || strcmp(v, "json") == 0)
      cfg->log_json = strcmp(v, "json") == 0;
    else
      cfg_err(c, line, "format: expected text or json, got " GW_VFMT, GW_VARG(v));
    return;
  }
  if (k == K_LOG_ACCESS_FORMAT) {
    /* JSON lines are the only access format; the key exists so that a
     * config can say so and a future format has a place. */
    if (strcmp(v, "json") != 0) cfg_err(c, line, "access_format: expected json, got " GW_VFMT, GW_VARG(v));
    return;
  }
  if (strcmp(v, "-") == 0)
    cfg->access_log = cfg_strdup(c, line, "-");
  else if (strcmp(v, "off") == 0)
    cfg->access_log = NULL;
  else
    cfg->access_log = cfg_resolve_path(c, line, v);
}

/* [m2m] paths and ssf_path are served by the gateway itself: absolute, canonical (the
 * same rules as an upstream prefix), so that they match a normalized path. */
static void set_m2m_path(load_ctx *c, int line, const char *key, const char *v, char **out) {
  const char *why = prefix_problem(v);
  if (why) {
    cfg_err(c, line, "%s " GW_VFMT " %s", key, GW_VARG(v), why);
    return;
  }
  if (strcmp(key, "jwks_path") == 0 && strncmp(v, "/.well-known/", 13) != 0) {
    cfg_err(c, line, "jwks_path " GW_VFMT " must start with /.well-known/", GW_VARG(v));
    return;
  }
  *out = cfg_strdup(c, line, v);
}

/* An SNI name as a client sends it: DNS labels of letters, digits and '-',
 * optionally "*." in front for any one label. Lower-cased in place. */
static bool valid_server_name(char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 253) return false;
  gw_lower_in_place(s);
  const char *p = s;
  if (p[0] == '*' && p[1] == '.') p += 2;
  size_t label = 0;
  for (char prev = '.'; *p; prev = *p++) {
    if (*p == '.') {
      if (label == 0 || prev == '-') return false;
      label = 0;
    } else if (gw_is_alnum((unsigned char)*p) || (*p == '-' && label > 0)) {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return label > 0 && s[n - 1] != '-';
}

static void set_tls(load_ctx *c, int k, const char *v, int line) {
  gw_config_t *cfg = c->cfg;
  gw_tls_cert_cfg_t *t = &cfg->tls_certs[c->cur_idx];
  switch (k) {
  case K_TLS_SERVER_NAMES: {
    t->server_names = split_or_oom(c, line, v, &t->nserver_names);
    for (size_t i = 0; t->server_names && i < t->nserver_names; i++) {
      char *name = t->server_names[i];
      if (!valid_server_name(name)) {
        cfg_err(c, line, "server_names: invalid host name " GW_VFMT " (DNS labels, optionally \"*.\" first)",
                GW_VARG(name));
        continue;
      }
      for (size_t j = 0; j <= c->cur_idx; j++) {
        const gw_tls_cert_cfg_t *o = &cfg->tls_certs[j];
        size_t upto = j == c->cur_idx ? i : o->nserver_names;
        for (size_t q = 0; o->server_names && q < upto; q++)
          if (strcmp(o->server_names[q], name) == 0)
            cfg_err(c, line, "server_names: %s is already listed in [tls:%s]", name, o->name);
      }
    }
    return;
  }
  case K_TLS_CERT:
    t->cert = cfg_resolve_path(c, line, v);
    t->cert_line = line;
    return;
  default:
    t->key = cfg_resolve_path(c, line, v);
    t->key_line = line;
    return;
  }
}

static void set_m2m(load_ctx *c, int k, const char *v, int line) {
  gw_m2m_cfg_t *m = &c->cfg->m2m;
  uint64_t u;
  switch (k) {
  case K_M2M_ENABLE:
    want_bool(c, line, "enable", v, &m->enabled);
    return;
  case K_M2M_ISSUER:
    if (strlen(v) > GW_M2M_MAX_URL)
      cfg_err(c, line, "issuer: longer than %d bytes", GW_M2M_MAX_URL);
    else if (want_url(c, line, "issuer", v))
      m->issuer = cfg_strdup(c, line, v);
    return;
  case K_M2M_SIGNING_KEY:
    m->signing_key = cfg_resolve_path(c, line, v);
    m->signing_key_line = line;
    return;
  case K_M2M_KID:
    if (strlen(v) > 256) {
      cfg_err(c, line, "kid: longer than 256 bytes");
      return;
    }
    for (const char *p = v; *p; p++) {
      unsigned char ch = (unsigned char)*p;
      if (ch <= 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
        cfg_err(c, line, "kid " GW_VFMT " must be printable ASCII without blanks, '\"' or '\\'",
                GW_VARG(v));
        return;
      }
    }
    m->kid = cfg_strdup(c, line, v);
    return;
  case K_M2M_LIFETIME:
    if (config_parse_duration_ms(v, &u) != 0 || u < 60 * 1000 || u > 24 * 3600 * 1000 ||
        u % 1000 != 0)
      cfg_err(c, line, "lifetime: expected whole seconds from 1m to 24h, got " GW_VFMT, GW_VARG(v));
    else
      m->lifetime_ms = u;
    return;
  case K_M2M_AUDIENCE:
    if (strlen(v) > GW_M2M_MAX_URL) {
      cfg_err(c, line, "audience: longer than %d bytes", GW_M2M_MAX_URL);
      return;
    }
    if (!want_one_value(c, line, "audience", v)) return;
    m->audience = cfg_strdup(c, line, v);
    return;
  case K_M2M_CLIENTS:
    m->clients_file = cfg_resolve_path(c, line, v);
    m->clients_line = line;
    return;
  case K_M2M_JWKS_PATH:
    set_m2m_path(c, line, "jwks_path", v, &m->jwks_path);
    return;
  case K_M2M_TOKEN_PATH:
    set_m2m_path(c, line, "token_path", v, &m->token_path);
    return;
  case K_M2M_MAX_FAILURES:
    if (want_uint(c, line, "max_failures", v, 0, 1000, &u)) m->max_failures = (unsigned)u;
    return;
  case K_M2M_LOCKOUT:
    if (config_parse_duration_ms(v, &u) != 0 || u < 1000 || u > 24 * 3600 * 1000 ||
        u % 1000 != 0)
      cfg_err(c, line, "lockout: expected whole seconds from 1s to 24h, got " GW_VFMT, GW_VARG(v));
    else
      m->lockout_ms = u;
    return;
  }
}

static void set_revocation(load_ctx *c, int k, const char *v, int line) {
  gw_revocation_cfg_t *rv = &c->cfg->revocation;
  switch (k) {
  case K_REV_ADMIN_TOKEN:
    rv->admin_token_file = cfg_resolve_path(c, line, v);
    rv->admin_token_line = line;
    return;
  case K_REV_SSF_ISSUER:
    if (want_one_value(c, line, "ssf_issuer", v)) rv->ssf_issuer = cfg_strdup(c, line, v);
    return;
  case K_REV_SSF_PATH:
    set_m2m_path(c, line, "ssf_path", v, &rv->ssf_path);
    return;
  default:
    want_duration(c, line, "retain", v, 1000, &rv->retain_ms);
    return;
  }
}

/* redis://HOST[:PORT][/DB]. A password in the URL would end up in logs and
 * `ps`: it is refused in favour of redis_password_file. HOST is an IP
 * address ([...] for IPv6) or a name, resolved without blocking. */
static void set_redis_url(load_ctx *c, int line, const char *v) {
  gw_cluster_cfg_t *cl = &c->cfg->cluster;
  if (strncmp(v, "redis://", 8) != 0) {
    cfg_err(c, line, "redis: expected redis://HOST[:PORT][/DB]%s, got " GW_VFMT,
            strncmp(v, "rediss://", 9) == 0 ? " (TLS to Redis is not supported)" : "", GW_VARG(v));
    return;
  }
  const char *h = v + 8, *end = h + strcspn(h, "/");
  if (memchr(h, '@', (size_t)(end - h))) {
    cfg_err(c, line, "redis: no credentials in the URL; put the password in redis_password_file");
    return;
  }
  const char *hs = h, *he, *port = NULL;
  if (*h == '[') {
    hs = h + 1;
    he = memchr(hs, ']', (size_t)(end - hs));
    if (!he) goto bad;
    if (he + 1 < end) {
      if (he[1] != ':') goto bad;
      port = he + 2;
    }
  } else {
    he = memchr(h, ':', (size_t)(end - h));
    if (he) port = he + 1;
    else he = end;
  }
  if (he == hs || (size_t)(he - hs) > 253) goto bad;
  for (const char *q = hs; q < he; q++)
    if (!gw_is_alnum((unsigned char)*q) && *q != '.' && *q != '-' && *q != ':' && *q != '_') goto bad;
  unsigned long pv = 6379, db = 0;
  if (port) {
    char *e;
    if (port == end || *port < '0' || *port > '9') goto bad;
    pv = strtoul(port, &e, 10);
    if (e != end || pv < 1 || pv > 65535) goto bad;
  }
  if (*end == '/' && end[1]) {
    char *e;
    if (end[1] < '0' || end[1] > '9') goto bad;
    db = strtoul(end + 1, &e, 10);
    if (*e || db > 15) goto bad;
  }
  free(cl->redis_host);
  free(cl->redis_url);
  cl->redis_host = strndup(hs, (size_t)(he - hs));
  cl->redis_url = strdup(v);
  if (!cl->redis_host || !cl->redis_url) cfg_err(c, line, "out of memory");
  cl->redis_port = (unsigned)pv;
  cl->redis_db = (unsigned)db;
  cl->redis_line = line;
  return;
bad:
  cfg_err(c, line, "redis: expected redis://HOST[:PORT][/DB] (port 1-65535, DB 0-15), got " GW_VFMT,
          GW_VARG(v));
}

static void set_cluster(load_ctx *c, int k, const char *v, int line) {
  gw_cluster_cfg_t *cl = &c->cfg->cluster;
  switch (k) {
  case K_CL_REDIS: set_redis_url(c, line, v); return;
  case K_CL_PASSWORD_FILE:
    cl->password_file = cfg_resolve_path(c, line, v);
    cl->password_line = line;
    return;
  default:
    if (want_duration(c, line, "redis_timeout", v, 1, &cl->timeout_ms) && cl->timeout_ms > 10000)
      cfg_err(c, line, "redis_timeout: at most 10s");
    return;
  }
}

void cfg_set_value(load_ctx *c, int k, const char *value, int line) {
  switch (c->cur) {
  case SEC_SERVER: set_server(c, k, value, line); break;
  case SEC_RESOURCE: set_resource(c, k, value, line); break;
  case SEC_ISSUER: set_issuer(c, k, value, line); break;
  case SEC_UPSTREAM: set_upstream(c, k, value, line); break;
  case SEC_POLICY:
    c->cfg->policy_file = cfg_resolve_path(c, line, value);
    c->cfg->policy_line = line;
    break;
  case SEC_CORS: set_cors(c, value, line); break;
  case SEC_ADMIN: want_listen(c, line, "listen", value, &c->cfg->admin_listen); break;
  case SEC_LOG: set_log(c, k, value, line); break;
  case SEC_M2M: set_m2m(c, k, value, line); break;
  case SEC_TLS: set_tls(c, k, value, line); break;
  case SEC_DECISION: add_listen(c, line, "listen", value, c->cfg->decision_listen,
                                &c->cfg->ndecision_listen, c->decision_listen_line); break;
  case SEC_REVOCATION: set_revocation(c, k, value, line); break;
  case SEC_CLUSTER: set_cluster(c, k, value, line); break;
  default: break;
  }
}
