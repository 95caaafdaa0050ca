/* accesslog: one JSON line per request (never a token, never the query),
 * buffered per worker and written on each tick; and the request metrics,
 * counted at the same moment. */
#ifndef GW_ACCESSLOG_H
#define GW_ACCESSLOG_H

#include "config.h"
#include "request-t.h"
#include "worker-t.h"

int access_log_open(const gw_config_t *cfg);
int access_log_reopen(const gw_config_t *cfg);
void access_log_close(void);
int access_log_enabled(void);
/* The access log's descriptor, -1 when off (for logring_start). */
int access_log_fd(void);
/* The request's line (and its request metrics); admin requests have none.
 * peer: the connection's peer address (conn_peer_ip); upstream_addr: where
 * the request was sent (upstream_addr_text), NULL when it was not. */
void access_log_request(const request_t *r, int is_admin, const char *peer,
                        const char *upstream_addr);
/* The request headers the line and request_client_addr read: a request
 * that outlives its head keeps only these (conn_response_streaming). */
#define ACCESS_LOG_HEADERS "host", "user-agent", "traceparent", "x-forwarded-for"
/* The client address (SPEC "Token details"): peer, or behind [server]
 * trusted_proxies the rightmost untrusted X-Forwarded-For entry. For the
 * access log, the M2M lockout and address rate keys alike. */
void request_client_addr(const request_t *r, const char *peer, char *out, size_t cap);
void access_log_flush(worker_t *w);

#endif
