/* config: load and validate gateway.ini into one immutable struct.
 *
 * The loaded config is read-only once published; workers only read it. Every
 * string is owned by the config and freed by config_free(). Errors are
 * collected (all of them, not only the first) as "FILE:LINE: message". */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* The INI reader, the error sink and the value parsers that config_load()
 * is built from; other INI readers (policy, m2m clients) use them too. */
#include "cfgini.h"
#include "cfgval.h"
#include "errs.h"
#include "reqmeta.h"

#define GW_MAX_LISTEN 16

typedef enum { GW_HOST_PRESERVE = 0, GW_HOST_UPSTREAM = 1 } gw_host_mode_t;
typedef enum { GW_PROTO_HTTP = 0, GW_PROTO_MCP = 1 } gw_protocol_t;

typedef struct {
  char *name;          /* NAME of [upstream:NAME] */
  char *prefix;        /* "/api/v4": no trailing '/', never empty, starts with '/' */
  size_t prefix_len;
  char *url_text;
  gw_url_t url;
  uint64_t connect_timeout_ms;  /* default 2s */
  uint64_t response_timeout_ms; /* default 30s */
  int strip_prefix;             /* default 0 */
  gw_host_mode_t host_mode;     /* default preserve */
  uint64_t max_body;            /* 0 = unlimited */
  unsigned pool_size;           /* idle keep-alive conns kept per worker; default 64 */
  char *resource;               /* optional RFC 8707 resource; NULL if unset */
  int exclusive_audience;       /* default 0 */
  char *ca_file, *client_cert, *client_key; /* resolved paths or NULL */
  gw_protocol_t protocol;       /* mcp: JSON-RPC-aware authorization */
  uint64_t mcp_max_body;        /* largest JSON-RPC body read before deciding; default 1m */
  char **allow_origins;         /* NULL: [cors] allow_origins; {"*"} for any */
  size_t nallow_origins;
  int allow_origins_set;        /* the key was given (an empty list is not possible) */
  char *session_key_file;       /* resolved path or NULL: a per-process random key */
  int session_key_line;
  int line;                     /* line of the section header, for messages */
} gw_upstream_cfg_t;

typedef struct {
  char *name;          /* NAME of [issuer:NAME] */
  char *iss;
  char *jwks_uri;      /* exactly one of jwks_uri / jwks_file */
  char *jwks_file;     /* resolved path */
  char **algorithms;   /* NULL-terminated; default RS256 RS384 RS512 ES256 ES384 ES512 */
  size_t nalgorithms;
  char *audience;      /* default: [resource] identifier (may be NULL if neither set) */
  uint64_t leeway_ms;  /* default 30s */
  uint64_t refresh_interval_ms; /* default 5m */
  char *require_typ;   /* NULL or "at+jwt" */
  char *ca_file;
  unsigned max_rsa_bits; /* default 4096: verify cost grows with the cube of the modulus */
  int line;
} gw_issuer_cfg_t;

/* [tls:NAME]: another certificate for tls_listen, chosen by the client's
 * SNI host name; [server] tls_cert stays the default for every other name. */
typedef struct {
  char *name;          /* NAME of [tls:NAME] */
  char **server_names; /* NULL-terminated, lower case; "*.example.com" matches one label */
  size_t nserver_names;
  char *cert, *key;    /* resolved paths */
  int line, cert_line, key_line;
} gw_tls_cert_cfg_t;

typedef struct {
  char *header;        /* e.g. "X-Auth-Subject" */
  char *claim;         /* e.g. "sub" */
} gw_forward_cfg_t;

typedef enum { GW_LOG_DEBUG = 0, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR } gw_log_level_t;

/* [m2m]: the built-in client_credentials token issuer (see m2m.h). Every
 * field is set (defaults filled) whether or not the issuer is enabled;
 * required keys are only required when enable = yes. */
#define GW_M2M_MAX_URL 1024 /* issuer and audience, bytes */
typedef struct {
  int enabled;                 /* enable = yes|no; default no */
  char *issuer;                /* "iss" of issued tokens (http(s) URL); required when enabled */
  char *signing_key;           /* resolved path of the PEM private key; required when enabled */
  char *kid;                   /* NULL: the RFC 7638 thumbprint of the public key */
  uint64_t lifetime_ms;        /* default 1h; 1m..24h */
  char *audience;              /* "aud"; default [resource] identifier */
  char *clients_file;          /* resolved path of the clients INI; required when enabled */
  char *jwks_path;             /* default "/.well-known/m2m-jwks.json" */
  char *token_path;            /* default "/api/v4/auth" */
  unsigned max_failures;       /* failed attempts before a lockout; default 5; 0 = no lockout */
  uint64_t lockout_ms;         /* counting window and lockout length; default 5m; 1s..24h */
  int line;                    /* line of [m2m]; 0 when the section is absent */
  int signing_key_line;        /* lines of the keys, for errors found by m2m_load() */
  int clients_line;
} gw_m2m_cfg_t;

/* [revocation]: see revoke.h. The admin write endpoints exist only with
 * admin_token_file; the SSF receiver only with ssf_issuer. */
typedef struct {
  char *admin_token_file;      /* resolved path or NULL */
  char *ssf_issuer;            /* NAME of an [issuer:NAME] or NULL */
  size_t ssf_issuer_index;     /* its index in issuers, when ssf_issuer is set */
  char *ssf_path;              /* default "/ssf/push" */
  uint64_t retain_ms;          /* default 2h */
  int line, admin_token_line;
} gw_revocation_cfg_t;

/* [cluster]: state shared with the other instances through Redis (see
 * gateway/loop/cluster.h). host NULL: no cluster, everything is local. */
typedef struct {
  char *redis_host;            /* from redis://HOST:PORT/DB */
  unsigned redis_port;         /* default 6379 */
  unsigned redis_db;           /* default 0 */
  char *redis_url;             /* as given, for logs (never holds a password) */
  char *password_file;         /* resolved path or NULL */
  uint64_t timeout_ms;         /* a decision waits this long for Redis, then decides locally; default 200ms */
  int line, redis_line, password_line;
} gw_cluster_cfg_t;

typedef struct gw_config {
  char *path;          /* as given */
  char *dir;           /* directory of path, for relative paths */

  /* [server] */
  gw_listen_t listen[GW_MAX_LISTEN];
  size_t nlisten;      /* >= 1 after a successful load (default 127.0.0.1:8080) */
  gw_listen_t tls_listen[GW_MAX_LISTEN];
  size_t ntls_listen;
  char *tls_cert, *tls_key;
  char *tls_ciphers;            /* TLS 1.2 cipher list (OpenSSL syntax); NULL: ECDHE + AEAD only */
  int tls_cert_line, tls_key_line, tls_ciphers_line; /* for errors found when loading them */
  uint64_t tls_ticket_rotate_ms; /* session ticket key lifetime; default 1h */
  char *tls_ticket_key_file;     /* nginx-style 48/80-byte key file shared by instances; NULL: random */
  int tls_ticket_key_file_line;
  gw_tls_cert_cfg_t *tls_certs; /* [tls:NAME] sections in file order */
  size_t ntls_certs;
  unsigned workers;             /* 0 = one per CPU available to the process */
  char *public_url;             /* no trailing '/'; default: [resource] identifier */
  size_t max_header_bytes;      /* default 16k; request line + all header lines */
  unsigned max_headers;         /* default 100 */
  uint64_t header_timeout_ms;   /* default 10s */
  uint64_t idle_timeout_ms;     /* default 60s */
  uint64_t drain_timeout_ms;    /* default 30s */
  uint64_t shutdown_delay_ms;   /* SIGTERM: unready, still serving, this long before the drain; default 0 */
  unsigned max_connections;     /* per process; default 10000 */
  int strict;                   /* lint warnings (lint.h) are errors: -t, start, reload; default off */
  gw_cidr_t trusted_proxies[GW_MAX_TRUSTED_PROXIES]; /* peers whose X-Forwarded-For is believed */
  size_t ntrusted_proxies;

  /* [resource] */
  char *resource_identifier;
  char **authorization_servers; /* NULL-terminated, may be empty */
  size_t nauthorization_servers;
  char **scopes_supported;      /* NULL if not set (then derived from policy) */
  size_t nscopes_supported;
  char *resource_documentation;
  char *resource_name;

  gw_issuer_cfg_t *issuers;
  size_t nissuers;
  gw_upstream_cfg_t *upstreams; /* in file order */
  size_t nupstreams;

  char *policy_file;            /* resolved path or NULL */
  int policy_line;              /* line of [policy] file, for errors found when loading it */

  gw_forward_cfg_t *forward;
  size_t nforward;

  char **cors_origins;          /* NULL when [cors] absent; {"*"} for any */
  size_t ncors_origins;

  int admin_enabled;
  gw_listen_t admin_listen;     /* default 127.0.0.1:9901 when [admin] present without listen */

  /* [decision]: listeners that judge requests and forward nothing */
  gw_listen_t decision_listen[GW_MAX_LISTEN];
  size_t ndecision_listen;

  gw_log_level_t log_level;     /* default info */
  int log_json;                 /* [log] format = json; default text */
  char *access_log;             /* "-" = stdout (default), NULL/"off" = none, else path */

  /* [m2m] */
  gw_m2m_cfg_t m2m;

  gw_revocation_cfg_t revocation;

  gw_cluster_cfg_t cluster;
} gw_config_t;

/* Load and validate. Returns a new config, or NULL with errors in *errs
 * (errs->n > 0). Never prints. */
gw_config_t *config_load(const char *path, gw_errors_t *errs);
void config_free(gw_config_t *cfg);

#endif
