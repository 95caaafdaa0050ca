/* request-t: one client request as both sides of the proxy see it, from
 * its first byte to the last byte of its answer. The client side (conn)
 * owns it; the upstream side reads the head and appends the response. */
#ifndef GW_REQUEST_T_H
#define GW_REQUEST_T_H

#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "metrics.h"
#include "ratelimit.h"
#include "reqhead.h"
#include "scopes.h"
#include "worker-t.h"

struct gw_route;
struct m2m_work;

/* Logged for a request the client abandoned before its answer (nginx's 499). */
#define GW_STATUS_CLIENT_CLOSED 499

enum { RS_HEAD = 0, RS_WAIT, RS_BODY, RS_LOCAL, RS_DONE, RS_PARKED, RS_M2M };

struct request {
  reqhead_t h;            /* the client's request head, as parsed */
  client_t *c;            /* opaque outside conn.c */
  wgen_t *gen;            /* configuration this request is judged and forwarded with */
  upconn_t *uc;
  upool_t *pool;
  uint32_t up_index;      /* pool's index in gen->cfg->upstreams, when pool is set */
  uint8_t state;
  uint8_t msg_complete;   /* whole request read from the client */
  uint8_t resp_started;   /* first response byte went to the client */
  uint8_t resp_complete;
  uint8_t keepalive;      /* client side may be kept */
  uint8_t chunked_out;    /* response body re-encoded as chunked to the client */
  uint8_t close_delimited_out;
  uint8_t expect_continue;
  uint8_t is_head;
  uint8_t retried;
  uint8_t upstream_reusable;
  uint8_t in_field;       /* the response parser is inside a header name */
  uint8_t logged;         /* the access log has its line */
  uint8_t decide_only;    /* from a [decision] listener: answered, never forwarded */
  uint8_t tok_ok;         /* a token passed every check; its scopes in tok_scopes */
  uint8_t body_buffered;  /* the body was read whole (into m2mbody) and goes upstream as is */
  gw_scopeset_t tok_scopes;
  outbuf_t mcp_princ;     /* MCP upstreams: the principal its sessions are bound to */
  uint32_t mcp_sid_off, mcp_sid_len; /* the server's own session id, inside the client's header */
  uint8_t mcp_list;       /* 1 + gw_mcp_kind_t of a list request, whose answer is filtered */
  struct mcpresp *mresp;  /* that filter, while the answer is read */
  uint8_t mcp_list_idlen; /* its id, as sent (raw JSON text) */
  char mcp_list_id[128];
  uint8_t client_gone;    /* the client closed or reset before the answer was complete */
  const char *err_desc;   /* set by a response callback that refused */
  int status;             /* status sent to the client (0: nothing sent) */
  uint64_t bytes_out;     /* response bytes sent to the client (body + head) */
  uint64_t start_us;      /* worker_now_us() at its first byte */
  uint64_t up_start_us;   /* handed to the upstream side; 0: never */
  uint64_t up_us;         /* upstream time: request handed over to response complete */
  /* the head sent upstream, kept for one retry on a fresh connection */
  outbuf_t uphead;
  /* response head fields collected from the upstream */
  outbuf_t resp;
  hdr_t *rhdrs;
  uint32_t nrhdrs, cap_rhdrs;
  int up_status;
  /* what the gate decided */
  char *npath;            /* normalized path: judged and forwarded */
  size_t npath_len;
  const char *query;      /* after '?', into the arena; NULL when none */
  size_t query_len;
  outbuf_t ident;         /* identity header lines for the upstream */
  outbuf_t logx;          /* sub and client_id for the access log, only when it is on */
  const char *decision;   /* static: allow, public, unauthorized, invalid_token, ... */
  const char *reason;     /* static: the failed token check */
  const char *kind;       /* static: m2m or user, NULL without a token */
  const struct gw_route *route; /* the policy route that judged it */
  gw_mreason_t mreason;   /* the failed check, for the metrics */
  uint32_t mcp_series;    /* 1 + the MCP call's gateway_mcp_requests_total cells; 0: not one */
  uint8_t mcp_unlisted;   /* refused by mcp_unlisted = deny */
  char request_id[72];    /* the client's X-Request-Id when well-formed, else generated */
  uint8_t cors;           /* 1: allowed origin echoed, 2: any origin */
  uint8_t parked_once;
  uint8_t must_close;     /* the answer ends the connection (framing errors...) */
  uint32_t origin_off, origin_len;
  dlist_t park_link;      /* in the generation's parked list while RS_PARKED */
  unsigned park_seq;
  uint32_t park_issuer;
  request_t *next_free;   /* in the worker's recycled list */
  outbuf_t m2mbody;       /* a token request's body (bounded) */
  uint8_t m2m_too_large;
  struct m2m_work *m2m_work; /* token request on the thread pool */
  void (*body_done)(request_t *r); /* RS_M2M for another local endpoint: it answers once the body is read */
  /* A decision waiting for the [cluster] Redis (RS_WAIT): cancelled when
   * the request goes first (cluster.h). */
  struct cluster_ticket *cl_ticket;
  unsigned char rk[2][16];         /* digests of sub, client_id: MCP item rates (gate.c) */
  uint8_t rk_has;                  /* bit 0: sub, bit 1: client_id */
  void *cl_ctx;                    /* what the asker keeps meanwhile (owned by the request) */
  const gw_rate_t *cl_rate;        /* ratelimits: the limit asked about */
  void (*cl_done)(request_t *r, int refused, const char *hdr);
};

/* How CORS was judged for r, for its answer or proxied response. */
static inline answer_cors_t request_cors(const request_t *r) {
  answer_cors_t c = {r->cors, r->h.arena + r->origin_off, r->origin_len};
  return c;
}

/* The upstream the request was routed to (pool set). */
static inline const gw_upstream_cfg_t *request_upstream(const request_t *r) {
  return &r->gen->cfg->upstreams[r->up_index];
}

static inline const char *req_method(const request_t *r, size_t *len) {
  return reqhead_method(&r->h, len);
}
/* Whether r's method is exactly m. */
static inline int req_method_is(const request_t *r, const char *m) {
  size_t ml;
  const char *rm = req_method(r, &ml);
  return ml == strlen(m) && memcmp(rm, m, ml) == 0;
}

static inline const hdr_t *req_header(const request_t *r, const char *lower_name, int *count) {
  return reqhead_header(&r->h, lower_name, count);
}

#endif
