/* conn: the client side of the proxy. Accepts connections, reads and
 * parses requests strictly in order (a pipelined request waits until the
 * previous answer is done), enforces limits as bytes arrive, sends the
 * gateway's own answers, and ends every request in one place. client_t is
 * opaque outside conn.c: the other rooms use these functions. */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "answer.h"
#include "request-t.h"
#include "worker-t.h"

/* The poll callback of a listening socket: accepts (a batch at a time),
 * pausing every listener of the worker for a while when accept() fails for
 * want of descriptors. */
void conn_on_listener(uv_poll_t *p, int status, int events);
/* SIGTERM or stop: listening sockets close at once (new connections are
 * refused from then on). */
void conn_listeners_close(worker_t *w);
/* The tick: connections whose deadline passed. */
void conn_sweep(worker_t *w, uint64_t now);
/* SIGTERM: idle connections close, busy ones finish their request. */
void conn_drain_all(worker_t *w);
void conn_close_all(worker_t *w);
void conn_free_recycled(worker_t *w);

worker_t *conn_worker(const client_t *c);
int conn_is_admin(const client_t *c);
int conn_is_decision(const client_t *c);
int conn_is_tls(const client_t *c);
void conn_peer_ip(const client_t *c, char *buf, size_t cap);

/* The gateway's own answers. conn_answer: kind's status, code and
 * description (desc, when not NULL, replaces the default). conn_answer_ex:
 * extra_headers replace the kind's own; extra_json adds body members.
 * conn_answer_raw: any status, headers and body (a document). */
void conn_answer(client_t *c, answer_kind_t k, const char *desc);
void conn_answer_ex(client_t *c, answer_kind_t k, const char *desc, const char *extra_headers,
                    const char *extra_json);
void conn_answer_raw(client_t *c, int status, const char *headers, const char *body, size_t len);
/* A JSON-RPC answer of kind k (its .rpc code), message desc (NULL: the
 * kind's), answering the request id (raw JSON, id_len 0: null); k's with_id
 * rule decides whether "id" is written at all. */
void conn_answer_rpc(client_t *c, answer_kind_t k, const char *desc, const char *id, size_t id_len);
/* Carry on with a connection after a parked or thread-pool request was decided. */
void conn_resume(client_t *c);

/* Called by the upstream side. */
void conn_upstream_ready(request_t *r);       /* head written; stream the body */
void conn_upstream_failed(request_t *r, answer_kind_t k, const char *desc);
void conn_response_progress(request_t *r);    /* client out has new bytes: flush */
/* The response head went out and a long-lived stream follows (an event
 * stream): what only the head needed is released. */
void conn_response_streaming(request_t *r);
void conn_response_complete(request_t *r);
outbuf_t *conn_response_buf(request_t *r);    /* where the response head and body go */
void request_append_response(request_t *r, const void *p, size_t n);
void conn_client_writable(client_t *c);       /* back-pressure check after an upstream write */
int conn_client_backlogged(const client_t *c);
/* A response that may stay silent for long (an event stream): TCP keepalive
 * on the client's socket finds a client that vanished. */
void conn_keepalive(client_t *c);

#endif
