/* config: load and validate gateway.ini into one immutable struct.
 *
 * The loaded config is read-only once published; workers only read it. Every
 * string is owned by the config and freed by config_free(). Errors are
 * collected (all of them, not only the first) as "FILE:LINE: message". */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define GW_MAX_LISTEN 16

typedef struct {
  struct sockaddr_storage addr;
  socklen_t addrlen;
  char text[80]; /* as written, e.g. "127.0.0.1:8080" or "[::1]:8080" */
} gw_listen_t;

typedef enum { GW_SCHEME_HTTP = 0, GW_SCHEME_HTTPS = 1 } gw_scheme_t;
typedef enum { GW_HOST_PRESERVE = 0, GW_HOST_UPSTREAM = 1 } gw_host_mode_t;

/* A parsed http(s) URL: host without brackets, port numeric, path without
 * trailing '/' ("" when the URL has no path or only "/"). */
typedef struct {
  gw_scheme_t scheme;
  char *host;
  uint16_t port;
  char *path;
  char *authority; /* host[:port] as to be sent in Host (port omitted when default) */
} gw_url_t;

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
  gw_tls_cert_cfg_t *tls_certs; /* [tls:NAME] sections in file order */
  size_t ntls_certs;
  unsigned workers;             /* 0 = one per CPU available to the process */
  char *public_url;             /* no trailing '/'; default: [resource] identifier */
  size_t max_header_bytes;      /* default 16k; request line + all header lines */
  unsigned max_headers;         /* default 100 */
  uint64_t header_timeout_ms;   /* default 10s */
  uint64_t idle_timeout_ms;     /* default 60s */
  uint64_t drain_timeout_ms;    /* default 30s */
  unsigned max_connections;     /* per process; default 10000 */

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

  gw_forward_cfg_t *forward;
  size_t nforward;

  char **cors_origins;          /* NULL when [cors] absent; {"*"} for any */
  size_t ncors_origins;

  int admin_enabled;
  gw_listen_t admin_listen;     /* default 127.0.0.1:9901 when [admin] present without listen */

  gw_log_level_t log_level;     /* default info */
  char *access_log;             /* "-" = stdout (default), NULL/"off" = none, else path */

  /* [m2m] */
  gw_m2m_cfg_t m2m;
} gw_config_t;

/* Error sink: every problem found while loading, "FILE:LINE: message". */
typedef struct {
  char **msgs;
  size_t n, cap;
} gw_errors_t;

void gw_errors_add(gw_errors_t *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void gw_errors_free(gw_errors_t *e);

/* Load and validate. Returns a new config, or NULL with errors in *errs
 * (errs->n > 0). Never prints. */
gw_config_t *config_load(const char *path, gw_errors_t *errs);
void config_free(gw_config_t *cfg);

/* Helpers shared with other INI readers (policy). All return 0 on success,
 * -1 on a malformed value. */
int config_parse_duration_ms(const char *s, uint64_t *out);  /* "500ms" "30s" "5m" "1h"; bare number = seconds */
int config_parse_size(const char *s, uint64_t *out);         /* "16k" "1m" "1g"; bare number = bytes */
int config_parse_bool(const char *s, int *out);               /* yes/no true/false on/off 1/0 */
int config_parse_listen(const char *s, gw_listen_t *out);     /* host:port, [v6]:port; numeric hosts only */
int config_parse_url(const char *s, gw_url_t *out);           /* http(s)://host[:port][/path] */
void config_url_free(gw_url_t *u);
/* Split on ASCII whitespace into a NULL-terminated array; returns count. */
size_t config_split_words(const char *s, char ***out);
void config_free_words(char **w);

/* Read an INI file line by line with line numbers and no line-length limit
 * that could truncate silently: lines longer than max_line (bytes) are an
 * error. The handler gets the 1-based line number. Section names are given
 * without brackets. Returns 0 or -1 (errors already added to errs). */
typedef int (*gw_ini_handler)(void *user, const char *section, const char *name,
                              const char *value, int lineno);
/* Longest line config_ini_parse accepts, in bytes without the '\n'. Longer
 * lines are an error "FILE:LINE: line too long (N bytes, max M)", never cut.
 * Details of the reader:
 * - The handler returns nonzero when the line was fine, 0 when it reported a
 *   problem itself (through its user pointer); config_ini_parse then
 *   returns -1 as well.
 * - section is the full name between the brackets, as written (not
 *   trimmed); "" for keys before the first header. name and value are
 *   trimmed, inline " ; comment" removed; value may be "".
 * - Comment lines start with ';' or '#' (after blanks). Only '=' separates
 *   name from value. Lines without one, headers without ']', text after
 *   ']', empty "[]", NUL bytes: errors with FILE:LINE. Keys after a
 *   malformed header are skipped (not given to the handler).
 * - Sets libinih's process-wide options on every call: call from one thread
 *   at a time. */
#define GW_INI_MAX_LINE 16384
int config_ini_parse(const char *path, gw_ini_handler h, void *user, gw_errors_t *errs);
/* Called for each new section header too (name == value == NULL), so that
 * empty sections and duplicate sections can be detected. */

#endif
