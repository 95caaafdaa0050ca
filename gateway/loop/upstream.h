/* upstream: the server side of the proxy. Per worker and upstream, a pool
 * of keep-alive connections; the request head is rebuilt from what was
 * parsed (never copied from client bytes); the response is parsed with
 * llhttp and re-framed for the client, which it reaches only through
 * conn.h. */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stddef.h>

#include "answer.h"
#include "request-t.h"
#include "worker-t.h"

void upstream_start(request_t *r);                   /* acquire a connection, send the head */
/* The body sink of a forwarded request (reqhead_sink_fn, ud = r). */
answer_kind_t upstream_body_sink(void *ud, const char *p, size_t n);
void upstream_body_end(request_t *r);
void upstream_flush(request_t *r);
int upstream_backlogged(const request_t *r);
void upstream_release(request_t *r, int reusable);   /* detach from request: pool or close */
void upstream_resume_reading(request_t *r);
void upstream_touch(request_t *r);                   /* data flowed: push the stream deadline */

/* Pools of a generation, and the worker's sweeps over its connections. */
void upstream_pools_close_idle(wgen_t *g);
void upstream_sweep(worker_t *w, uint64_t now);
void upstream_close_all(worker_t *w);
upool_t *upstream_pool(wgen_t *g, size_t i);
/* The address the request's upstream was reached at, "ip:port" or
 * "[ip6]:port", for the access log; -1 when none is known. */
int upstream_addr_text(const request_t *r, char *buf, size_t cap);

#endif
