/* config-t.h: what config.c, config_set.c and config_validate.c share while
 * loading gateway.ini. Internal to those three files; everyone else includes
 * config.h.
 *
 * config.c reads the file: it recognizes sections and keys (and records the
 * line of each) and hands every key's value to config_set.c, which checks
 * that value alone and stores it. Once the whole file is read,
 * config_validate.c applies the rules between keys and fills in defaults, so
 * that the order of sections in the file never changes the outcome. */
#ifndef GW_CONFIG_T_H
#define GW_CONFIG_T_H

#include <stdbool.h>

#include "config.h"

/* The section being read; SEC_IGNORE after a bad header (already reported). */
enum sec_kind {
  SEC_NONE,
  SEC_IGNORE,
  SEC_SERVER,
  SEC_RESOURCE,
  SEC_ISSUER,
  SEC_UPSTREAM,
  SEC_POLICY,
  SEC_FORWARD,
  SEC_CORS,
  SEC_ADMIN,
  SEC_LOG,
  SEC_M2M,
  SEC_TLS,
  SEC_DECISION,
  SEC_REVOCATION,
  SEC_CLUSTER
};

enum {
  K_SRV_LISTEN,
  K_SRV_TLS_LISTEN,
  K_SRV_TLS_CERT,
  K_SRV_TLS_KEY,
  K_SRV_WORKERS,
  K_SRV_PUBLIC_URL,
  K_SRV_MAX_HEADER_BYTES,
  K_SRV_HEADER_TIMEOUT,
  K_SRV_IDLE_TIMEOUT,
  K_SRV_DRAIN_TIMEOUT,
  K_SRV_MAX_HEADERS,
  K_SRV_MAX_CONNECTIONS,
  K_SRV_TLS_CIPHERS,
  K_SRV_TLS_TICKET_ROTATE,
  K_SRV_TLS_TICKET_KEY_FILE,
  K_SRV_SHUTDOWN_DELAY,
  K_SRV_TRUSTED_PROXIES,
  K_SRV_STRICT,
  K_SRV_N
};

enum { K_RES_IDENTIFIER, K_RES_AUTH_SERVERS, K_RES_SCOPES, K_RES_DOC, K_RES_NAME, K_RES_N };

enum {
  K_ISS_ISS,
  K_ISS_JWKS_URI,
  K_ISS_JWKS_FILE,
  K_ISS_ALGORITHMS,
  K_ISS_AUDIENCE,
  K_ISS_LEEWAY,
  K_ISS_REFRESH,
  K_ISS_REQUIRE_TYP,
  K_ISS_CA_FILE,
  K_ISS_MAX_RSA_BITS,
  K_ISS_N
};

enum {
  K_UP_PREFIX,
  K_UP_URL,
  K_UP_CONNECT_TIMEOUT,
  K_UP_RESPONSE_TIMEOUT,
  K_UP_STRIP_PREFIX,
  K_UP_HOST,
  K_UP_MAX_BODY,
  K_UP_CA_FILE,
  K_UP_CLIENT_CERT,
  K_UP_CLIENT_KEY,
  K_UP_RESOURCE,
  K_UP_EXCLUSIVE,
  K_UP_POOL_SIZE,
  K_UP_PROTOCOL,
  K_UP_MCP_MAX_BODY,
  K_UP_ALLOW_ORIGINS,
  K_UP_SESSION_KEY_FILE,
  K_UP_N
};

enum { K_POL_FILE, K_POL_N };
enum { K_CORS_ORIGINS, K_CORS_N };
enum { K_ADM_LISTEN, K_ADM_N };
enum { K_DEC_LISTEN, K_DEC_N };
enum { K_LOG_LEVEL, K_LOG_ACCESS, K_LOG_FORMAT, K_LOG_ACCESS_FORMAT, K_LOG_N };
enum {
  K_M2M_ENABLE,
  K_M2M_ISSUER,
  K_M2M_SIGNING_KEY,
  K_M2M_KID,
  K_M2M_LIFETIME,
  K_M2M_AUDIENCE,
  K_M2M_CLIENTS,
  K_M2M_JWKS_PATH,
  K_M2M_TOKEN_PATH,
  K_M2M_MAX_FAILURES,
  K_M2M_LOCKOUT,
  K_M2M_N
};

enum { K_TLS_SERVER_NAMES, K_TLS_CERT, K_TLS_KEY, K_TLS_N };
enum { K_REV_ADMIN_TOKEN, K_REV_SSF_ISSUER, K_REV_SSF_PATH, K_REV_RETAIN, K_REV_N };
enum { K_CL_REDIS, K_CL_PASSWORD_FILE, K_CL_TIMEOUT, K_CL_N };
/* Key names, indexed by the K_* values above (the rest stay in config.c). */
extern const char *const cfg_server_keys[K_SRV_N];
extern const char *const cfg_upstream_keys[K_UP_N];
extern const char *const cfg_tlscert_keys[K_TLS_N];

#define MAX_KEYS 24
typedef struct {
  int line;               /* section header line; 0 = section absent */
  int key_line[MAX_KEYS]; /* first line of each key; 0 = not given */
} sec_meta;

typedef struct {
  gw_config_t *cfg;
  gw_errors_t *errs;
  const char *file;
  int nerr;
  bool dir_relative; /* path has a directory part to prepend */

  enum sec_kind cur;
  size_t cur_idx;

  sec_meta server, resource, policy, forward, cors, admin, log;
  sec_meta m2m, decision, revocation, cluster;
  sec_meta *issuer_meta, *upstream_meta, *tls_meta; /* parallel to cfg->issuers/upstreams/tls_certs */
  int listen_line[GW_MAX_LISTEN], tls_listen_line[GW_MAX_LISTEN], decision_listen_line[GW_MAX_LISTEN];
  int *forward_line; /* parallel to cfg->forward */
} load_ctx;

/* config.c: the error sink of a load ("FILE:LINE: message", counted in
 * nerr), and copies that report running out of memory at line. */
void cfg_err(load_ctx *c, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
char *cfg_strdup(load_ctx *c, int line, const char *s);
/* rel resolved against the directory of the config file; absolute as is. */
char *cfg_resolve_path(load_ctx *c, int line, const char *rel);

/* config_set.c: store the value of key k (a K_* of section c->cur) given at
 * line; problems are reported through cfg_err. [forward] has free-form key
 * names and its own entry point; it returns 0 after reporting a problem. */
void cfg_set_value(load_ctx *c, int k, const char *value, int line);
int cfg_forward_key(load_ctx *c, const char *name, const char *value, int line);

/* config_validate.c: the rules between keys and the defaults that depend on
 * other keys, once the whole file has been read. */
void cfg_validate(load_ctx *c);

#endif
