/* metrics: Prometheus counters, gauges and histograms with no locks, no
 * strings and no hashing on the request path.
 *
 * Threads
 *   Every thread that counts (each worker) owns one gw_mcounters_t block,
 *   from metrics_worker(m, i). Only its owner writes a block; the writes are
 *   relaxed atomic load + store (a plain load/add/store, no lock prefix),
 *   so the scraper may read the blocks at any time with relaxed loads and
 *   sums them up. Counter blocks are cache-line aligned and allocated apart,
 *   so workers never share a cache line. Gauges kept per worker (open
 *   connections, token cache entries, idle pool connections) are signed
 *   deltas summed at scrape time.
 *   The JWKS values, reloads and build info are written by the main loop
 *   (any thread is safe: they take the registry mutex); metrics_render() takes
 *   the same mutex and may run on any thread (the admin listener's worker).
 *
 * Labels and reloads
 *   Label values that come from the configuration (upstream names, route
 *   patterns, issuer names) are interned by text, once, into the metrics
 *   object, which lives for the whole process. Each configuration snapshot
 *   gets a small read-only map, gw_mlabels_t, from its own indices (policy
 *   route i, config upstream u, config issuer k) to the interned series.
 *   Series are never removed and never moved: a route or upstream that a
 *   reload keeps (same text) continues the same series, so counters never
 *   reset on reload; one that a reload drops keeps its final value; a new one
 *   starts at 0. Requests still in flight on the old snapshot count through
 *   the old map into the same series. Series memory grows only with label
 *   texts never seen before (a reload with the same names allocates
 *   nothing).
 *   Use:
 *     start:   m = metrics_new(nworkers, GW_VERSION);
 *     per snapshot (start and each SIGHUP, after it validated):
 *              snap->ml = metrics_labels_new(m, upstream names, route
 *                         patterns (policy_route(p, i)->pattern), issuer names);
 *              NULL = out of memory (or the label space, see
 *              GW_MMAX_CHUNKS, is exhausted): fail that reload.
 *     after the swap:   metrics_activate(m, snap->ml);  metrics_reload(m, 1);
 *     failed reload:    metrics_reload(m, 0);
 *     snapshot_free:    metrics_labels_free(snap->ml);  (counters stay)
 *     exit, after the workers stopped: metrics_free(m).
 *   metrics_activate() only decides which issuers get the jwks_keys and
 *   jwks_last_success_age_seconds gauges (an issuer a reload removed would
 *   otherwise report an ever-growing age).
 *
 * Output: metrics_render() writes Prometheus text format 0.0.4
 * (GW_METRICS_CONTENT_TYPE). requests_total and auth_decisions_total list
 * only their non-zero series (absent = 0); every other family lists all its
 * series, zeros included. */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define GW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* gateway_auth_decisions_total{outcome} */
typedef enum {
  GW_MOUT_ALLOW = 0,          /* valid token with the route's scopes: forwarded */
  GW_MOUT_PUBLIC,             /* auth = none route: forwarded without a token */
  GW_MOUT_UNAUTHORIZED,       /* 401 without error: no token */
  GW_MOUT_INVALID_TOKEN,      /* 401 invalid_token */
  GW_MOUT_INSUFFICIENT_SCOPE, /* 403 (also a valid token on an unmatched path) */
  GW_MOUT_INVALID_REQUEST,    /* 400 invalid_request */
  GW_MOUT_UNAVAILABLE,        /* 503: the issuer has no key set yet */
  GW_MOUT_COUNT
} gw_mout_t;

/* gateway_auth_decisions_total{reason}: the values up to GW_MREASON_CLAIM_TYPE
 * are gw_jwt_result_t's, in the same order and with jwt_result_name()'s
 * names (GW_JWT_OK is "none"), so (gw_mreason_t)jwt_result is the reason. */
typedef enum {
  GW_MREASON_NONE = 0,
  GW_MREASON_MALFORMED,
  GW_MREASON_ALG_MISSING,
  GW_MREASON_ALG_NOT_ALLOWED,
  GW_MREASON_CRIT,
  GW_MREASON_UNKNOWN_ISSUER,
  GW_MREASON_NO_KEYSET,
  GW_MREASON_UNKNOWN_KID,
  GW_MREASON_KEY_ALG_MISMATCH,
  GW_MREASON_BAD_SIGNATURE,
  GW_MREASON_EXP_MISSING,
  GW_MREASON_EXPIRED,
  GW_MREASON_NOT_YET_VALID,
  GW_MREASON_IAT_FUTURE,
  GW_MREASON_AUD_MISMATCH,
  GW_MREASON_TYP_INVALID,
  GW_MREASON_CLAIM_TYPE,
  GW_MREASON_MISSING_TOKEN, /* no Authorization: Bearer header */
  GW_MREASON_REVOKED,       /* valid, but a revocation refuses it */
  GW_MREASON_COUNT
} gw_mreason_t;

/* gateway_jwks_fetches_total{result} */
typedef enum {
  GW_MJWKS_OK = 0,      /* a key set was loaded */
  GW_MJWKS_ERROR,       /* connect, TLS, timeout, read error */
  GW_MJWKS_HTTP_STATUS, /* an answer other than 200 */
  GW_MJWKS_INVALID,     /* 200 but not a usable JWKS (garbage, too big, no key) */
  GW_MJWKS_COUNT
} gw_mjwks_result_t;

/* gateway_connections_refused_total{reason} */
typedef enum {
  GW_MREFUSED_MAX_CONNECTIONS = 0, /* accepted and closed at once */
  GW_MREFUSED_DESCRIPTORS,         /* accept() failed with EMFILE/ENFILE: accepting paused */
  GW_MREFUSED_COUNT
} gw_mrefused_t;

/* gateway_mcp_requests_total{method}: the MCP methods, a fixed set. */
typedef enum {
  GW_MCPM_INITIALIZE = 0,
  GW_MCPM_PING,
  GW_MCPM_TOOLS_LIST,
  GW_MCPM_TOOLS_CALL,
  GW_MCPM_PROMPTS_LIST,
  GW_MCPM_PROMPTS_GET,
  GW_MCPM_RESOURCES_LIST,
  GW_MCPM_RESOURCES_READ,
  GW_MCPM_RESOURCES_SUBSCRIBE,
  GW_MCPM_RESOURCES_UNSUBSCRIBE,
  GW_MCPM_RESOURCES_TEMPLATES_LIST,
  GW_MCPM_COMPLETION_COMPLETE,
  GW_MCPM_LOGGING_SETLEVEL,
  GW_MCPM_NOTIFICATION, /* any notifications/... */
  GW_MCPM_RESPONSE,     /* a client's JSON-RPC response (no method) */
  GW_MCPM_OTHER,        /* any other method, or a body that is not JSON-RPC */
  GW_MCPM_COUNT
} gw_mcpm_t;

/* gateway_mcp_requests_total{decision} */
typedef enum {
  GW_MCPD_ALLOW = 0,          /* forwarded (with a token or on a public route) */
  GW_MCPD_INSUFFICIENT_SCOPE, /* 403: the route's or the item's scopes */
  GW_MCPD_UNLISTED,           /* 403: no section for the item, mcp_unlisted = deny */
  GW_MCPD_INVALID,            /* 400: parse error, invalid request, params, header mismatch */
  GW_MCPD_UNAUTHORIZED,       /* 401: the item needs a token and there is none */
  GW_MCPD_COUNT
} gw_mcpd_t;

/* Route and upstream arguments of metrics_request(): a policy route index
 * (policy_route(p, i)) or one of these; a config upstream index or
 * GW_MUP_NONE. The labels are the route's pattern text (routes sharing a
 * pattern share the series), "unmatched", "none", the upstream's name, and
 * "none" (shared with an upstream a config would name "none"). */
#define GW_MROUTE_UNMATCHED UINT32_C(0xfffffffe) /* under an upstream, no policy route (or no [policy]) */
#define GW_MROUTE_NONE UINT32_C(0xffffffff)      /* not for any upstream: 404, metadata, preflight... */
#define GW_MUP_NONE UINT32_C(0xffffffff)         /* answered by the gateway itself, no upstream */

/* Histogram of gateway_upstream_request_duration_seconds: the upper bounds
 * of the buckets before +Inf. */
#define GW_MHIST_BOUNDS 12
#define GW_MHIST_BOUNDS_NS                                                               \
  {1000000ull,   5000000ull,   10000000ull,   25000000ull,   50000000ull, 100000000ull, \
   250000000ull, 500000000ull, 1000000000ull, 2500000000ull, 5000000000ull, 10000000000ull}

/* The cells of one upstream (relative to its gw_mlabels_t offset). */
enum {
  GW_MUP_BUCKET0 = 0,                      /* GW_MHIST_BOUNDS + 1 buckets, not cumulative */
  GW_MUP_SUM_NS = GW_MHIST_BOUNDS + 1,     /* sum of the observations, nanoseconds */
  GW_MUP_CONNECT_ERRORS,
  GW_MUP_TIMEOUTS,
  GW_MUP_RETRIES,                          /* requests resent after a pooled connection was lost */
  GW_MUP_POOL_IDLE,                        /* gauge, signed */
  GW_MUP_CELLS
};
#define GW_MSTATUS_CLASSES 5 /* cells of one (upstream, route) pair: 1xx..5xx */

/* Histogram of gateway_request_duration_seconds (first byte of the request
 * head to its answer's last byte handed to the socket): the upper bounds
 * before +Inf, in microseconds. A proxy's own answers take tens of
 * microseconds, so the bounds start at 100 us. */
#define GW_MREQ_BOUNDS 16
#define GW_MREQ_BOUNDS_US                                                                 \
  {100ull,    250ull,    500ull,     1000ull,    2500ull,    5000ull,    10000ull, 25000ull, \
   50000ull,  100000ull, 250000ull,  500000ull,  1000000ull, 2500000ull, 5000000ull, 10000000ull}
/* The cells of one upstream label's request durations: for each of
 * answered_by = gateway (0) and upstream (1), the buckets then the sum. */
enum {
  GW_MREQ_BUCKET0 = 0,                  /* GW_MREQ_BOUNDS + 1 buckets, not cumulative */
  GW_MREQ_SUM_US = GW_MREQ_BOUNDS + 1,  /* sum of the observations, microseconds */
  GW_MREQ_ROW,                          /* cells of one answered_by value */
  GW_MREQ_CELLS = 2 * GW_MREQ_ROW
};

/* gateway_m2m_token_requests_total{outcome}: cell o < GW_M2M_OUTCOME_COUNT
 * is that gw_m2m_outcome_t (m2m.h; the label is m2m_outcome_name(o)); the
 * last two are what the loop adds before the issuer decides. */
#define GW_MM2M_CELLS 24
#define GW_MM2M_BUSY (GW_MM2M_CELLS - 2)       /* "busy": the token job queue was full (503) */
#define GW_MM2M_JOB_FAILED (GW_MM2M_CELLS - 1) /* "job_failed": the job could not run (503) */

/* Label cells live in per-block chunks that never move once allocated. */
#define GW_MCHUNK_SHIFT 12
#define GW_MCHUNK_CELLS (1u << GW_MCHUNK_SHIFT) /* 32 KiB per chunk and block */
#define GW_MMAX_CHUNKS 1024                     /* at most 32 MiB of label cells per block */

typedef _Atomic uint64_t gw_mcell_t;
typedef struct gw_metrics gw_metrics_t;

/* One counting thread's block. Fields are private: use the helpers. */
typedef struct gw_mcounters {
  gw_mcell_t auth[GW_MOUT_COUNT][GW_MREASON_COUNT];
  gw_mcell_t token_cache_hits, token_cache_misses;
  gw_mcell_t token_cache_entries; /* gauge, signed */
  gw_mcell_t open_connections;    /* gauge, signed */
  gw_mcell_t connections_refused[GW_MREFUSED_COUNT];
  gw_mcell_t upstream_write_batches, upstream_batched_writes;
  gw_mcell_t own_responses[500]; /* answers the gateway gave itself, by status 100..599 */
  gw_mcell_t m2m_token[GW_MM2M_CELLS];
  _Atomic(gw_mcell_t *) chunk[GW_MMAX_CHUNKS];
} gw_mcounters_t;

/* One configuration snapshot's view of the labels. Read-only once made;
 * fields are private. */
typedef struct gw_mlabels {
  gw_metrics_t *m;
  uint32_t nup, nroutes, niss;
  uint32_t *req; /* [(nup + 1) * (nroutes + 2)]: first cell of the pair, row 0 = upstream "none",
                    column 0 = route "unmatched", column 1 = route "none" */
  uint32_t *up;  /* [nup]: first cell of the upstream's GW_MUP_CELLS */
  uint32_t *dur; /* [nup + 1]: first of the GW_MREQ_CELLS, row 0 = upstream "none" */
  uint32_t *iss; /* [niss]: interned issuer id */
  uint32_t nitems; /* MCP items of the policy */
  uint32_t **mcp;  /* [nup]: NULL (not an MCP upstream) or [GW_MCPM_COUNT * (nitems + 1)]:
                      first of the GW_MCPD_COUNT cells of (method, item), item 0 = none/other */
} gw_mlabels_t;

/* nblocks: how many threads count (the workers). version: the build_info
 * label. NULL on out of memory. */
gw_metrics_t *metrics_new(unsigned nblocks, const char *version);
/* After every counting thread stopped and every gw_mlabels_t was freed. */
void metrics_free(gw_metrics_t *m);
/* Block i < nblocks, for the thread that owns it. */
gw_mcounters_t *metrics_worker(gw_metrics_t *m, unsigned i);

/* Main thread. Interns the names (NUL-terminated; any bytes, escaped on
 * output) and returns the map for one snapshot, or NULL on out of memory or
 * when the label cells would exceed GW_MMAX_CHUNKS chunks (then nothing
 * that was already interned is lost). Counts NULL arrays as empty. */
gw_mlabels_t *metrics_labels_new(gw_metrics_t *m, const char *const *upstream_names, size_t nup,
                                 const char *const *route_names, size_t nroutes,
                                 const char *const *issuer_names, size_t niss);
/* Main thread, right after metrics_labels_new() and before lm is used:
 * the MCP series of the upstreams with mcp_up[u] != 0 (protocol = mcp).
 * item_labels[i] and item_kinds[i] (0 tool, 1 prompt, 2 resource: the
 * gw_mcp_kind_t values) describe the policy's MCP item i (its position in
 * policy_mcp(p)->items); labels such as "tool:get_profile". A method takes only items of
 * its kind (tools/call: tools; prompts/get: prompts; resources/read,
 * subscribe, unsubscribe: resources), else "other"; methods without an item
 * get "none". 0, or -1 on out of memory. */
int metrics_labels_mcp(gw_mlabels_t *lm, const unsigned char *mcp_up,
                       const char *const *item_labels, const unsigned char *item_kinds,
                       size_t nitems);
/* Any thread, when no request uses lm any more. The series stay. */
void metrics_labels_free(gw_mlabels_t *lm);
/* The issuers of lm get the JWKS gauges from now on; the others lose them. */
void metrics_activate(gw_metrics_t *m, const gw_mlabels_t *lm);

/* Main thread (any thread is safe). iss: index into lm's issuers. */
void metrics_jwks_fetch(const gw_mlabels_t *lm, size_t iss, gw_mjwks_result_t result);
/* A key set of nkeys keys was loaded at unix_ms (wall clock). */
void metrics_jwks_loaded(const gw_mlabels_t *lm, size_t iss, size_t nkeys, int64_t unix_ms);
void metrics_reload(gw_metrics_t *m, int ok);

/* The whole exposition, NUL-terminated, malloc'd (caller frees), *len its
 * length; NULL on out of memory. Ages are computed against the wall clock,
 * or against now_unix_ms with metrics_render_at(). */
char *metrics_render(gw_metrics_t *m, size_t *len);
char *metrics_render_at(gw_metrics_t *m, int64_t now_unix_ms, size_t *len);

/* The process_* families as text into out (cap bytes, NUL-terminated);
 * returns the length. procmetrics.c. */
size_t metrics_process_text(char *out, size_t cap);

/* Names used in the output, for logs: "allow", "bad_signature", "ok"... */
const char *metrics_outcome_name(gw_mout_t o);
const char *metrics_reason_name(gw_mreason_t r);
const char *metrics_jwks_result_name(gw_mjwks_result_t r);
const char *metrics_mcp_method_name(gw_mcpm_t m);
const char *metrics_mcp_decision_name(gw_mcpd_t d);
/* The method label of a JSON-RPC method name (NULL: a response; a name the
 * reader cut short: pass len 0, it is "other"). */
gw_mcpm_t metrics_mcp_method(const char *method, size_t len);

/* ---- the request path: owner thread of wc only, no locks, no strings ---- */

static inline gw_mcell_t *metrics_cell_(gw_mcounters_t *wc, uint32_t off) {
  gw_mcell_t *c = atomic_load_explicit(&wc->chunk[off >> GW_MCHUNK_SHIFT], memory_order_acquire);
  return c + (off & (GW_MCHUNK_CELLS - 1));
}
/* Single writer: load + store, no read-modify-write instruction. */
static inline void metrics_add_(gw_mcell_t *c, uint64_t d) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + d, memory_order_relaxed);
}

/* One answered request. up: config upstream index or GW_MUP_NONE; route:
 * policy route index, GW_MROUTE_UNMATCHED or GW_MROUTE_NONE; status: the
 * HTTP status sent (below 100 or above 599 counts as 5xx). */
static inline void metrics_request(gw_mcounters_t *wc, const gw_mlabels_t *lm, uint32_t up,
                                   uint32_t route, unsigned status) {
  uint32_t u = up + 1u, r = route + 2u; /* the specials wrap around to rows/columns 0 and 1 */
  assert(u <= lm->nup && r < lm->nroutes + 2u);
  unsigned cls = status / 100u - 1u;
  if (cls >= GW_MSTATUS_CLASSES) cls = GW_MSTATUS_CLASSES - 1;
  metrics_add_(metrics_cell_(wc, lm->req[(size_t)u * (lm->nroutes + 2u) + r] + cls), 1);
}

static inline void metrics_auth(gw_mcounters_t *wc, gw_mout_t outcome, gw_mreason_t reason) {
  assert((unsigned)outcome < GW_MOUT_COUNT && (unsigned)reason < GW_MREASON_COUNT);
  metrics_add_(&wc->auth[outcome][reason], 1);
}

/* The cells of an MCP call's series: up a config upstream index, item the
 * policy item's index or -1 (none, or no section). UINT32_MAX when up has
 * no MCP series (then metrics_mcp() ignores it). */
static inline uint32_t metrics_mcp_series(const gw_mlabels_t *lm, uint32_t up, gw_mcpm_t method,
                                          int64_t item) {
  if (!lm || up >= lm->nup || !lm->mcp || !lm->mcp[up] || (unsigned)method >= GW_MCPM_COUNT)
    return UINT32_MAX;
  uint32_t slot = item >= 0 && item < (int64_t)lm->nitems ? (uint32_t)item + 1u : 0u;
  uint32_t cells = lm->mcp[up][(size_t)method * (lm->nitems + 1u) + slot];
  /* an item of another kind than the method's: the method's "other" */
  return cells != UINT32_MAX ? cells : lm->mcp[up][(size_t)method * (lm->nitems + 1u)];
}
/* The MCP decision of an authorization outcome (unlisted: refused by
 * mcp_unlisted = deny). */
static inline gw_mcpd_t metrics_mcp_decision(gw_mout_t o, int unlisted) {
  switch (o) {
  case GW_MOUT_ALLOW:
  case GW_MOUT_PUBLIC: return GW_MCPD_ALLOW;
  case GW_MOUT_INSUFFICIENT_SCOPE: return unlisted ? GW_MCPD_UNLISTED : GW_MCPD_INSUFFICIENT_SCOPE;
  case GW_MOUT_INVALID_REQUEST: return GW_MCPD_INVALID;
  default: return GW_MCPD_UNAUTHORIZED;
  }
}
static inline void metrics_mcp(gw_mcounters_t *wc, uint32_t series, gw_mcpd_t d) {
  if (series == UINT32_MAX || (unsigned)d >= GW_MCPD_COUNT) return;
  metrics_add_(metrics_cell_(wc, series) + d, 1);
}

static inline void metrics_token_cache(gw_mcounters_t *wc, int hit) {
  metrics_add_(hit ? &wc->token_cache_hits : &wc->token_cache_misses, 1);
}
/* Entries added (delta > 0) or dropped (< 0) by this worker's caches. */
static inline void metrics_token_cache_entries_add(gw_mcounters_t *wc, int64_t delta) {
  metrics_add_(&wc->token_cache_entries, (uint64_t)delta);
}
/* One io_submit of n request heads to upstreams. */
static inline void metrics_upstream_batch(gw_mcounters_t *wc, unsigned n) {
  metrics_add_(&wc->upstream_write_batches, 1);
  metrics_add_(&wc->upstream_batched_writes, n);
}
/* An answer the gateway gave itself (no upstream response): status code. */
static inline void metrics_own_response(gw_mcounters_t *wc, unsigned status) {
  if (status >= 100 && status <= 599) metrics_add_(&wc->own_responses[status - 100], 1);
}
static inline void metrics_open_connections_add(gw_mcounters_t *wc, int64_t delta) {
  metrics_add_(&wc->open_connections, (uint64_t)delta);
}
static inline void metrics_connection_refused(gw_mcounters_t *wc, gw_mrefused_t why) {
  assert((unsigned)why < GW_MREFUSED_COUNT);
  metrics_add_(&wc->connections_refused[why], 1);
}

/* One answered request's whole duration in microseconds. up: config
 * upstream index or GW_MUP_NONE (not routed to one); by_upstream: the answer
 * came from the upstream (else the gateway gave it itself). */
static inline void metrics_request_duration(gw_mcounters_t *wc, const gw_mlabels_t *lm, uint32_t up,
                                            int by_upstream, uint64_t us) {
  static const uint64_t bounds[GW_MREQ_BOUNDS] = GW_MREQ_BOUNDS_US;
  uint32_t u = up + 1u; /* GW_MUP_NONE wraps around to row 0 */
  assert(u <= lm->nup);
  unsigned i = 0;
  while (i < GW_MREQ_BOUNDS && us > bounds[i]) i++;
  gw_mcell_t *c = metrics_cell_(wc, lm->dur[u]) + (by_upstream ? GW_MREQ_ROW : 0);
  metrics_add_(c + GW_MREQ_BUCKET0 + i, 1);
  metrics_add_(c + GW_MREQ_SUM_US, us);
}

/* One answered token request: a gw_m2m_outcome_t or GW_MM2M_BUSY /
 * GW_MM2M_JOB_FAILED. */
static inline void metrics_m2m_token(gw_mcounters_t *wc, unsigned outcome) {
  if (outcome < GW_MM2M_CELLS) metrics_add_(&wc->m2m_token[outcome], 1);
}

/* One upstream exchange's duration in nanoseconds (uv_hrtime() differences;
 * the caller defines the span, e.g. request sent to last response byte). */
static inline void metrics_upstream_duration(gw_mcounters_t *wc, const gw_mlabels_t *lm,
                                             uint32_t up, uint64_t ns) {
  static const uint64_t bounds[GW_MHIST_BOUNDS] = GW_MHIST_BOUNDS_NS;
  assert(up < lm->nup);
  unsigned i = 0;
  while (i < GW_MHIST_BOUNDS && ns > bounds[i]) i++;
  gw_mcell_t *c = metrics_cell_(wc, lm->up[up]);
  metrics_add_(c + GW_MUP_BUCKET0 + i, 1);
  metrics_add_(c + GW_MUP_SUM_NS, ns);
}
static inline void metrics_upstream_connect_error(gw_mcounters_t *wc, const gw_mlabels_t *lm,
                                                  uint32_t up) {
  assert(up < lm->nup);
  metrics_add_(metrics_cell_(wc, lm->up[up]) + GW_MUP_CONNECT_ERRORS, 1);
}
static inline void metrics_upstream_timeout(gw_mcounters_t *wc, const gw_mlabels_t *lm,
                                            uint32_t up) {
  assert(up < lm->nup);
  metrics_add_(metrics_cell_(wc, lm->up[up]) + GW_MUP_TIMEOUTS, 1);
}
/* A request resent on a fresh connection: the pooled one it went out on was
 * closed or reset by the upstream before any response byte. */
static inline void metrics_upstream_retry(gw_mcounters_t *wc, const gw_mlabels_t *lm, uint32_t up) {
  assert(up < lm->nup);
  metrics_add_(metrics_cell_(wc, lm->up[up]) + GW_MUP_RETRIES, 1);
}
/* Idle pooled connections put in (+1) or taken out / closed (-1). */
static inline void metrics_upstream_pool_idle_add(gw_mcounters_t *wc, const gw_mlabels_t *lm,
                                                  uint32_t up, int64_t delta) {
  assert(up < lm->nup);
  metrics_add_(metrics_cell_(wc, lm->up[up]) + GW_MUP_POOL_IDLE, (uint64_t)delta);
}

#endif
