/* httpc: a one-shot HTTP/1.1 GET client on a libuv loop, for fetching JWKS
 * documents. Bounded in time, head size and body size. https:// URLs go
 * through the same TLS layer as the proxy (tls.h): certificate chain and
 * host name verified, SNI sent. */
#ifndef GW_HTTPC_H
#define GW_HTTPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "tls.h"

typedef struct {
  int status;              /* HTTP status, or 0 when no response was received */
  int64_t max_age_s;       /* Cache-Control max-age, -1 when absent */
  const char *body;        /* valid only during the callback */
  size_t body_len;
  const char *error;       /* NULL on a complete response, else what went wrong */
} httpc_result_t;

typedef void (*httpc_cb)(void *ud, const httpc_result_t *res);

typedef struct httpc httpc_t;

/* Starts GET url. Returns the request (cb will be called exactly once,
 * possibly before httpc_get returns) or NULL (cb will not be called; *err
 * says why). The handle is valid until cb runs. */
httpc_t *httpc_get(uv_loop_t *loop, const gw_url_t *url, SSL_CTX *tls, uint64_t timeout_ms,
                   size_t max_body, httpc_cb cb, void *ud, const char **err);
/* Ends the request now: cb runs with error "cancelled". */
void httpc_cancel(httpc_t *h);

#endif
