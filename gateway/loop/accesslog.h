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
/* The request's line (and its request metrics); admin requests have none. */
void access_log_request(const request_t *r, int is_admin);
void access_log_flush(worker_t *w);

#endif
