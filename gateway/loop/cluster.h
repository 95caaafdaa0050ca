/* cluster: the connections to Redis that let several instances share
 * state ([cluster] redis; SPEC "Revocation, rate limits and several
 * instances"). Without [cluster] nothing here runs and every decision is
 * local.
 *
 * Every worker has its own connection on its own loop (hiredis async with
 * its libuv adapter), for the decisions counted in Redis (rate limits, the
 * M2M lockout): one round trip each, never blocking the loop. The main
 * thread has two more, a subscriber and a command connection, for the
 * revocations (revsync.c).
 *
 * Failure handling, the same for every connection:
 * - a call is only sent on a connection that is up (connected, AUTH and
 *   SELECT answered); otherwise cluster_call() returns NULL at once and the
 *   caller decides locally;
 * - a call unanswered after redis_timeout tears the connection down: every
 *   call in flight on it gets its callback with no reply (the callers then
 *   decide locally), and it reconnects;
 * - reconnects back off from 100 ms, doubling up to 2 s.
 * Host names are resolved with uv_getaddrinfo, never on the loop. */
#ifndef GW_CLUSTER_H
#define GW_CLUSTER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "buf.h"
#include "config.h"
#include "worker-t.h"

struct redisReply;
typedef struct cluster_ticket cluster_ticket_t;

/* The answer to a call, or NULL when none will come (the connection went
 * down or timed out). Runs on the loop of the connection. */
typedef void (*cluster_reply_fn)(void *ud, struct redisReply *reply);

/* Once, on the main thread, before the workers start: copies [cluster]
 * (a later reload does not change it: logged) and reads the password
 * file. 0, or -1 with the reason in why. */
int cluster_configure(const gw_config_t *cfg, char *why, size_t cap);
int cluster_on(void);
/* A SIGHUP config: warns when its [cluster] differs from the running one. */
void cluster_check_reload(const gw_config_t *cfg);

/* A worker's connection: opened with the worker's loop (worker_init),
 * closed with its handles. */
int cluster_worker_init(worker_t *w);
void cluster_worker_close(worker_t *w);

/* Sends a command on the worker's connection (argv as hiredis takes it).
 * NULL: not sent (no cluster, Redis down): decide locally. Otherwise fn
 * runs exactly once, later, unless the ticket is cancelled first. */
cluster_ticket_t *cluster_call(worker_t *w, int argc, const char **argv, const size_t *lens,
                               cluster_reply_fn fn, void *ud);
/* The caller no longer wants the answer (its request is gone). */
void cluster_cancel(cluster_ticket_t *t);

/* Why a local decision was taken while [cluster] is on (metrics). */
typedef enum { CLUSTER_FB_RATE = 0, CLUSTER_FB_M2M, CLUSTER_FB_REVOCATION, CLUSTER_FB_N } cluster_fb_t;
void cluster_fallback(cluster_fb_t what);

/* ---- the main thread's connections (revsync.c uses them) ---- */

typedef struct {
  void (*up)(void);                            /* both connections up and subscribed */
  void (*down)(void);                          /* either went down */
  void (*message)(const char *p, size_t n);    /* a message on the channel */
  void (*wake)(void);                          /* after cluster_main_wake() */
} cluster_main_hooks_t;

int cluster_main_start(uv_loop_t *loop, const char *channel, const cluster_main_hooks_t *hooks);
void cluster_main_stop(void);
/* On the main loop's command connection; like cluster_call. */
cluster_ticket_t *cluster_main_call(int argc, const char **argv, const size_t *lens,
                                    cluster_reply_fn fn, void *ud);
/* Any thread: runs hooks->wake on the main loop soon. */
void cluster_main_wake(void);
/* The last connection problem, for /readyz ("" when none). */
void cluster_last_error(char *buf, size_t cap);

/* The gateway_redis_* families, in the Prometheus text format. */
void cluster_metrics(outbuf_t *b);

#endif
