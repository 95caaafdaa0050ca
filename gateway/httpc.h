/* httpc: a one-shot HTTP/1.1 GET client on a libuv loop, for fetching JWKS
 * documents. Bounded in time, head size and body size. The transport is
 * plain TCP for http:// URLs; https:// is refused until TLS lands (only the
 * connect/read/write layer has to change for it). */
#ifndef GW_HTTPC_H
#define GW_HTTPC_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"

typedef struct {
  int status;              /* HTTP status, or 0 when no response was received */
  int64_t max_age_s;       /* Cache-Control max-age, -1 when absent */
  const char *body;        /* valid only during the callback */
  size_t body_len;
  const char *error;       /* NULL on a complete response, else what went wrong */
} httpc_result_t;

typedef void (*httpc_cb)(void *ud, const httpc_result_t *res);

/* Starts GET url. Returns 0 (cb will be called exactly once, later) or -1
 * (cb will not be called; *err says why). */
int httpc_get(uv_loop_t *loop, const gw_url_t *url, uint64_t timeout_ms, size_t max_body,
              httpc_cb cb, void *ud, const char **err);

#endif
