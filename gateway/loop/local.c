/* local: what the gateway answers itself, without an upstream. */
#include "local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accesslog.h"
#include "cluster.h"
#include "auth.h"
#include "conn.h"
#include "http.h"
#include "jobs.h"
#include "keys.h"
#include "m2m.h"
#include "m2mcluster.h"
#include "revocations.h"
#include "revsync.h"
#include "snapshot.h"

#define WK_LEN (sizeof GW_WK_PATH - 1)

static int is_get_or_head(const request_t *r) {
  return req_method_is(r, "GET") || req_method_is(r, "HEAD");
}

static int path_is(const request_t *r, const char *p) {
  return r->npath_len == strlen(p) && memcmp(r->npath, p, r->npath_len) == 0;
}

/* ---- the admin listener ---------------------------------------------------- */

/* Why /readyz is 503, into why (so an operator sees what to fix); 0 when ready. */
static int not_ready(worker_t *w, char *why, size_t cap) {
  if (atomic_load(&gw_stopping) || w->draining) {
    snprintf(why, cap, "shutting down");
    return 1;
  }
  if (!atomic_load(&gw_ready)) {
    snprintf(why, cap, "starting: listeners not up yet");
    return 1;
  }
  gw_keystore_t *ks = &w->cur->snap->keys;
  /* Once ready, a reload never makes the gateway unready (keys.c): a new
   * issuer not loaded yet makes only its own tokens 503. */
  if (!revsync_ready(why, cap)) return 1;
  if (keystore_all_loaded(ks)) return 0;
  size_t n = (size_t)snprintf(why, cap, "no key set loaded yet for issuer");
  int missing = 0;
  for (size_t i = 0; i < ks->n && n < cap; i++) {
    if (keystore_generation(ks, i) != 0) continue;
    n += (size_t)snprintf(why + n, cap - n, "%s %s", missing++ ? "," : "", ks->iss[i].cfg->name);
  }
  return missing > 0;
}

void local_admin(client_t *c, request_t *r) {
  worker_t *w = conn_worker(c);
  const char *url = r->h.arena + r->h.url_off;
  size_t ulen = r->h.url_len;
  for (size_t i = 0; i < ulen; i++)
    if (url[i] == '?') ulen = i;
  if (revocations_admin(c, r)) return;
  if (ulen == 8 && memcmp(url, "/healthz", 8) == 0) {
    static const char ok[] = "{\"status\":\"ok\"}";
    conn_answer_raw(c, 200, ANSWER_JSON_HEADERS, ok, sizeof ok - 1);
  } else if (ulen == 8 && memcmp(url, "/metrics", 8) == 0 && w->metrics) {
    size_t len = 0;
    char *body = metrics_render(w->metrics, &len);
    if (!body) {
      conn_answer(c, ANS_NO_MEMORY_KEEP, NULL);
      return;
    }
    /* The families of the loop side, after the counters of lib/metrics. */
    outbuf_t ob = {0};
    outbuf_append(&ob, body, len);
    free(body);
    outbuf_printf(&ob, "# HELP gateway_revocations Revocations held (made here, pushed, or from the cluster).\n"
                       "# TYPE gateway_revocations gauge\ngateway_revocations %zu\n",
                  revoke_count(revocations_store()));
    cluster_metrics(&ob);
    conn_answer_raw(c, 200, "Content-Type: " GW_METRICS_CONTENT_TYPE "\r\nCache-Control: no-store\r\n",
                    ob.data, ob.len);
    outbuf_free(&ob);
  } else if (ulen == 7 && memcmp(url, "/readyz", 7) == 0) {
    char why[300];
    if (!not_ready(w, why, sizeof why)) {
      static const char ready[] = "{\"status\":\"ready\"}";
      conn_answer_raw(c, 200, ANSWER_JSON_HEADERS, ready, sizeof ready - 1);
    } else {
      conn_answer(c, ANS_NOT_READY, why);
    }
  } else {
    conn_answer(c, ANS_NOT_FOUND, "no such admin endpoint");
  }
}

/* ---- CORS preflight ------------------------------------------------------------ */

int local_is_preflight(const request_t *r) {
  size_t ml;
  const char *m = req_method(r, &ml);
  return r->cors && ml == 7 && memcmp(m, "OPTIONS", 7) == 0 &&
         req_header(r, "access-control-request-method", NULL) != NULL;
}

static int token_list_ok(const char *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!http_is_tchar((unsigned char)v[i]) && v[i] != ',' && v[i] != ' ') return 0;
  return n > 0;
}

void local_preflight(client_t *c, request_t *r) {
  char hdr[1024];
  const hdr_t *h = req_header(r, "access-control-request-headers", NULL);
  const char *ah = "Authorization, Content-Type";
  size_t ahl = strlen(ah);
  if (h && h->val_len < 400 && token_list_ok(r->h.arena + h->val_off, h->val_len)) {
    ah = r->h.arena + h->val_off;
    ahl = h->val_len;
  }
  snprintf(hdr, sizeof hdr,
           "Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n"
           "Access-Control-Allow-Headers: %.*s\r\nAccess-Control-Max-Age: 600\r\n",
           (int)ahl, ah);
  r->decision = "preflight";
  conn_answer_raw(c, 204, hdr, NULL, 0);
}

/* ---- RFC 9728 documents ----------------------------------------------------- */

int local_wellknown(client_t *c, request_t *r) {
  if (r->npath_len < WK_LEN || memcmp(r->npath, GW_WK_PATH, WK_LEN) != 0) return 0;
  if (r->npath_len > WK_LEN && r->npath[WK_LEN] != '/') return 0;
  if (local_is_preflight(r)) {
    local_preflight(c, r);
    return 1;
  }
  const gw_authctx_t *a = &r->gen->snap->auth;
  const gw_meta_t *m = NULL;
  if (r->npath_len == WK_LEN) {
    m = &a->root;
  } else {
    for (size_t u = 0; u < a->cfg->nupstreams; u++)
      if (a->up[u].url && a->up[u].path_len == r->npath_len &&
          memcmp(a->up[u].path, r->npath, r->npath_len) == 0)
        m = &a->up[u];
  }
  if (!m) {
    conn_answer(c, ANS_NOT_FOUND, "no protected-resource metadata at this path");
    return 1;
  }
  if (!is_get_or_head(r)) {
    conn_answer_ex(c, ANS_METHOD_NOT_ALLOWED, NULL, NULL, "");
    return 1;
  }
  conn_answer_raw(c, 200, ANSWER_JSON_HEADERS, m->doc, m->doc_len);
  return 1;
}

/* ---- the built-in M2M token endpoint ---------------------------------- */

/* One token request on the jobs pool (jobs.h), not libuv's: PBKDF2 takes
 * tens of milliseconds and must neither stall a worker loop nor make
 * uv_getaddrinfo wait behind it. The work owns copies of what it reads and
 * a reference to its snapshot (so the issuer outlives a reload); the
 * request may go away meanwhile (then r is NULL). */
struct m2m_work {
  gw_job_t job;
  request_t *r;
  gw_snapshot_t *snap;
  char method[16];
  char *content_type, *authorization;
  char addr[64];
  char *body;
  size_t body_len;
  int too_large;
  int queued;             /* on the jobs pool: its done() frees it */
  gw_m2m_response_t resp;
};

static void work_free(struct m2m_work *wk);

void local_m2m_detach(request_t *r) {
  struct m2m_work *wk = r->m2m_work;
  if (!wk) return;
  r->m2m_work = NULL;
  /* On the pool, the job frees it when done; otherwise it is ours. */
  if (wk->queued) wk->r = NULL;
  else work_free(wk);
}

/* The body sink of a token request: kept whole, up to GW_M2M_MAX_BODY. */
static answer_kind_t m2m_body(void *ud, const char *p, size_t n) {
  request_t *r = ud;
  if (r->m2m_too_large) return ANS_NONE;
  if (r->m2mbody.len + n > GW_M2M_MAX_BODY) {
    r->m2m_too_large = 1;
    outbuf_free(&r->m2mbody);
    return ANS_NONE;
  }
  outbuf_append(&r->m2mbody, p, n);
  return ANS_NONE;
}

static char *hdr_dup(const request_t *r, const char *name) {
  const hdr_t *h = req_header(r, name, NULL);
  if (!h) return NULL;
  return strndup(r->h.arena + h->val_off, h->val_len);
}

static void work_free(struct m2m_work *wk) {
  m2m_response_free(&wk->resp);
  free(wk->content_type);
  free(wk->authorization);
  free(wk->body);
  snapshot_unref(wk->snap);
  free(wk);
}

static gw_m2m_request_t query_of(const struct m2m_work *wk) {
  gw_m2m_request_t q = {
      .method = wk->method,
      .content_type = wk->content_type,
      .body = wk->body,
      .body_len = wk->body_len,
      .body_too_large = wk->too_large,
      .authorization = wk->authorization,
      .client_addr = wk->addr,
  };
  return q;
}

static void m2m_run(gw_job_t *job) {
  struct m2m_work *wk = container_of(job, struct m2m_work, job);
  gw_m2m_request_t q = query_of(wk);
  m2m_token(wk->snap->m2m, &q, (int64_t)time(NULL), &wk->resp);
}

/* gateway_m2m_token_requests_total: once per token request answered. */
static void m2m_count(request_t *r, unsigned outcome) {
  gw_mcounters_t *mc = conn_worker(r->c)->mc;
  if (mc) metrics_m2m_token(mc, outcome);
}

/* The issuer's answer, once the cluster (if any) has counted it. */
static void m2m_answer(request_t *r) {
  struct m2m_work *wk = r->m2m_work;
  client_t *c = r->c;
  r->m2m_work = NULL;
  char hdrs[512];
  int n = snprintf(hdrs, sizeof hdrs, ANSWER_JSON_HEADERS "Pragma: no-cache\r\n");
  if (wk->resp.www_authenticate)
    n += snprintf(hdrs + n, sizeof hdrs - (size_t)n, "WWW-Authenticate: %s\r\n",
                  wk->resp.www_authenticate);
  if (wk->resp.allow) n += snprintf(hdrs + n, sizeof hdrs - (size_t)n, "Allow: %s\r\n", wk->resp.allow);
  if (wk->resp.retry_after_s)
    snprintf(hdrs + n, sizeof hdrs - (size_t)n, "Retry-After: %u\r\n", wk->resp.retry_after_s);
  r->decision = "m2m";
  r->reason = m2m_outcome_name(wk->resp.outcome);
  if (wk->resp.client_id[0] && access_log_enabled()) {
    OUTBUF_LIT(&r->logx, ",\"client_id\":\"");
    outbuf_append(&r->logx, wk->resp.client_id, strlen(wk->resp.client_id));
    OUTBUF_LIT(&r->logx, "\"");
  }
  m2m_count(r, wk->resp.outcome);
  conn_answer_raw(c, wk->resp.status, hdrs, wk->resp.body, wk->resp.body_len);
  work_free(wk);
  conn_resume(c);
}

static void m2m_done(gw_job_t *job, int ok) {
  struct m2m_work *wk = container_of(job, struct m2m_work, job);
  request_t *r = wk->r;
  wk->queued = 0;
  if (r && ok) {
    /* The request owns the work again (local_m2m_detach frees it). */
    gw_m2m_request_t q = query_of(wk);
    if (!m2mcluster_record(r, wk->snap->m2m, &q, wk->resp.outcome, m2m_answer)) m2m_answer(r);
    return;
  }
  if (r) {
    r->m2m_work = NULL;
    m2m_count(r, GW_MM2M_JOB_FAILED);
    conn_answer(r->c, ANS_TOKEN_JOB_FAILED, NULL);
  }
  work_free(wk);
}

/* To the jobs pool (after the cluster's counters, when there is one).
 * async: called back from the cluster, not from the read path, so the
 * connection has to be set going again after an answer. */
static void m2m_submit_now(request_t *r, int async) {
  struct m2m_work *wk = r->m2m_work;
  client_t *c = r->c;
  wk->queued = 1;
  if (jobs_submit(conn_worker(c), &wk->job) != 0) {
    r->m2m_work = NULL;
    r->state = RS_LOCAL;
    work_free(wk);
    r->reason = "busy";
    m2m_count(r, GW_MM2M_BUSY);
    conn_answer(c, ANS_TOKEN_BUSY, NULL); /* r may be gone from here on */
    if (async) conn_resume(c);
  }
}

static void m2m_submit(request_t *r) { m2m_submit_now(r, 1); }

void local_m2m_start(request_t *r) {
  if (r->body_done) {
    r->body_done(r);
    return;
  }
  client_t *c = r->c;
  r->decision = "m2m";
  int nauth = 0;
  req_header(r, "authorization", &nauth);
  if (nauth > 1) {
    m2m_count(r, GW_M2M_MALFORMED);
    conn_answer(c, ANS_BAD_REQUEST, "more than one Authorization header");
    return;
  }
  struct m2m_work *wk = calloc(1, sizeof *wk);
  if (!wk) {
    m2m_count(r, GW_M2M_SERVER_ERROR);
    conn_answer(c, ANS_NO_MEMORY, NULL);
    return;
  }
  size_t ml;
  const char *m = req_method(r, &ml);
  snprintf(wk->method, sizeof wk->method, "%.*s", (int)(ml < 15 ? ml : 15), m);
  wk->content_type = hdr_dup(r, "content-type");
  wk->authorization = hdr_dup(r, "authorization");
  char peer[64];
  conn_peer_ip(c, peer, sizeof peer);
  /* Behind a trusted proxy every client shares its address: lock out the
   * one that failed, not all of them. */
  request_client_addr(r, peer, wk->addr, sizeof wk->addr);
  wk->too_large = r->m2m_too_large;
  if (r->m2mbody.len) {
    wk->body = malloc(r->m2mbody.len);
    if (wk->body) memcpy(wk->body, r->m2mbody.data, r->m2mbody.len);
    wk->body_len = wk->body ? r->m2mbody.len : 0;
  }
  wk->snap = snapshot_ref(r->gen->snap);
  wk->r = r;
  r->m2m_work = wk;
  r->state = RS_WAIT;
  wk->job.run = m2m_run;
  wk->job.done = m2m_done;
  gw_m2m_request_t q = query_of(wk);
  if (m2mcluster_fetch(r, wk->snap->m2m, &q, m2m_submit)) return;
  m2m_submit_now(r, 0);
}

/* The issuer's public JSON documents: GET or HEAD, cacheable. */
static int m2m_document(client_t *c, request_t *r, const char *decision, const char *doc, size_t len) {
  if (!is_get_or_head(r)) {
    conn_answer_ex(c, ANS_METHOD_NOT_ALLOWED, NULL, NULL, "");
    return 1;
  }
  r->decision = decision;
  conn_answer_raw(c, 200, "Content-Type: application/json\r\nCache-Control: max-age=300\r\n", doc, len);
  return 1;
}

/* The M2M endpoints, before the policy: no bearer token is involved. */
int local_m2m(client_t *c, request_t *r) {
  if (revocations_ssf(c, r)) return 1;
  gw_m2m_t *m2m = r->gen->snap->m2m;
  if (!m2m) return 0;
  const gw_m2m_cfg_t *mc = &r->gen->cfg->m2m;
  size_t len;
  if (path_is(r, mc->jwks_path)) {
    const char *doc = m2m_jwks(m2m, &len);
    return m2m_document(c, r, "m2m_jwks", doc, len);
  }
  if (path_is(r, m2m_metadata_path(m2m))) {
    const char *doc = m2m_metadata(m2m, &len);
    return m2m_document(c, r, "m2m_metadata", doc, len);
  }
  if (path_is(r, m2m_authorize_path(m2m))) {
    /* Named in the metadata only because MCP clients require the member. */
    static const char body[] = "{\"error\":\"unsupported_response_type\",\"error_description\":"
                               "\"this issuer grants client_credentials only\"}";
    r->decision = "m2m_authorize";
    conn_answer_raw(c, 400, "Content-Type: application/json\r\nCache-Control: no-store\r\n", body,
                    sizeof body - 1);
    return 1;
  }
  if (path_is(r, mc->token_path)) {
    r->state = RS_M2M; /* the body is read (bounded), then the issuer decides */
    r->h.sink = m2m_body;
    r->h.sink_ud = r;
    return 1;
  }
  return 0;
}
