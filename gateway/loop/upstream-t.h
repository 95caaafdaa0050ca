/* upstream-t: the upstream side's connection pool and connections, shared
 * by upstream.c and its write batching (upbatch.c) only. */
#ifndef GW_UPSTREAM_T_H
#define GW_UPSTREAM_T_H

#include <sys/socket.h>
#include <uv.h>

#include "config.h"
#include "llhttp.h"
#include "stream.h"
#include "worker-t.h"

struct upool {
  worker_t *w;
  wgen_t *gen;
  const gw_upstream_cfg_t *cfg;
  dlist_t idle;      /* upconn_t.link, most recently used at the tail */
  unsigned nidle;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  uint64_t addr_expires; /* 0 = numeric host: never */
};

struct upconn {
  uv_tcp_t tcp;
  dlist_t link;
  dlist_t pend;           /* in worker->up_pending while its head waits for the batch */
  upool_t *pool;
  request_t *req;         /* NULL while idle in the pool */
  llhttp_t parser;
  uv_getaddrinfo_t *gai;  /* while resolving; the lookup and the connect request are
                           * allocated while they run: an open stream does not carry them */
  wqueue_t wq;
  uint64_t deadline;
  uint8_t tmo;
  uint8_t connected;
  uint8_t reused;
  uint8_t closing;
  uint8_t reading;
  uint8_t resolving;
  uint8_t handle_closed;
  uint8_t handshaking;    /* TLS to the upstream not established yet */
  uint8_t pooled;         /* idle in pool->idle */
  uint8_t got_response_bytes;
  uint8_t write_failed;
  uint8_t event;          /* EV_MSG when the response completed */
  uint8_t framing_lied;   /* a bodiless response announced a body: never reuse */
  uint8_t sse;            /* the response is text/event-stream: never cut for silence */
};

enum { EV_NONE = 0, EV_HEAD, EV_MSG, EV_STATUS };

/* upstream.c, for the batch: write now (0 or a negative libuv error), or
 * fail the exchange because a write failed. */
int upstream_flush_now(upconn_t *uc);
void upstream_write_failed(upconn_t *uc);

#endif
