/* gate: the decision on a complete request head, before any byte goes
 * upstream: target form and path normalization, the request id, CORS, the
 * gateway's own endpoints, routing, the scope policy and the bearer token.
 * A refusal is answered here, in one place (refuse). */
#include "gate.h"

#include <stdio.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "accesslog.h"
#include "answer.h"
#include "auth.h"
#include "conn.h"
#include "http.h"
#include "keys.h"
#include "local.h"
#include "jsonrpc.h"
#include "mcpjudge.h"
#include "mcpsess.h"
#include "log.h"
#include "pathnorm.h"
#include "cluster.h"
#include "ratelimits.h"
#include "revocations.h"
#include "snapshot.h"
#include "upstream.h"
#include "verify.h"

static void gate_auth(client_t *c, request_t *r);

static const gw_authctx_t *auth_of(const request_t *r) { return &r->gen->snap->auth; }

/* One atomic load per issuer; a reference is taken only on change. */
static void refresh_keys(verifier_t *v, gw_keystore_t *ks) {
  for (size_t i = 0; i < verifier_issuers(v); i++) {
    uint64_t gen = keystore_generation(ks, i);
    if (gen == verifier_generation(v, i)) continue;
    uint64_t got = 0;
    gw_keyset_t *set = keystore_acquire(ks, i, &got);
    verifier_set_keys(v, i, set, got);
  }
}

/* ---- answers ------------------------------------------------------------- */

static const gw_meta_t *meta_for(const gw_authctx_t *a, const request_t *r) {
  if (r->pool) {
    size_t u = r->up_index;
    if (a->up[u].url) return &a->up[u];
  }
  return &a->root;
}

static void count_auth(request_t *r, gw_mout_t outcome, gw_mreason_t reason) {
  worker_t *w = conn_worker(r->c);
  if (w->mc) metrics_auth(w->mc, outcome, reason);
  if (w->mc && r->mcp_series) metrics_mcp(w->mc, r->mcp_series - 1, metrics_mcp_decision(outcome, r->mcp_unlisted));
}

/* The series of the JSON-RPC message m (NULL: unreadable) judged to item;
 * its decision is counted now when invalid, else through count_auth. */
static void mcp_series(request_t *r, const jrpc_msg_t *m, const gw_mcp_item_t *item, int invalid) {
  const gw_mcp_items_t *its = auth_of(r)->policy ? policy_mcp(auth_of(r)->policy) : NULL;
  int whole = m && m->method.len == m->method.full_len;
  gw_mcpm_t meth = !m ? GW_MCPM_OTHER : m->kind == JRPC_RESPONSE ? metrics_mcp_method(NULL, 0)
                                                                   : metrics_mcp_method(m->method_buf, whole ? m->method.len : 0);
  r->mcp_series = 1 + metrics_mcp_series(r->gen->snap->ml, r->up_index, meth, item && its ? item - its->items : -1);
  worker_t *w = conn_worker(r->c);
  if (invalid && w->mc) metrics_mcp(w->mc, r->mcp_series - 1, GW_MCPD_INVALID);
}

static void refuse(client_t *c, request_t *r, answer_kind_t kind, const char *desc, const char *scope) {
  static const gw_mout_t outcome[ANS_KIND_COUNT] = {
      [ANS_UNAUTHORIZED] = GW_MOUT_UNAUTHORIZED, [ANS_INVALID_TOKEN] = GW_MOUT_INVALID_TOKEN,
      [ANS_INSUFFICIENT_SCOPE] = GW_MOUT_INSUFFICIENT_SCOPE, [ANS_AUTH_BAD_REQUEST] = GW_MOUT_INVALID_REQUEST,
      [ANS_KEYS_UNAVAILABLE] = GW_MOUT_UNAVAILABLE};
  count_auth(r, outcome[kind], kind == ANS_UNAUTHORIZED ? GW_MREASON_MISSING_TOKEN : r->mreason);
  char hdr[1024], extra[512];
  answer_refusal_headers(kind, desc, scope ? scope : "", meta_for(auth_of(r), r)->url, hdr, sizeof hdr,
                         extra, sizeof extra);
  r->decision = answer_def(kind)->code;
  conn_answer_ex(c, kind, desc, hdr, extra);
}

/* The scopes a request needs ("Required scopes" in SPEC): all of the
 * route's scopes and any_scopes, plus those of the MCP item called, so that
 * a client that re-authorizes with exactly this list gets a token that
 * passes; into buf ("" when none). */
static const char *required_scopes(const request_t *r, const gw_mcp_item_t *item, char *buf, size_t cap) {
  gw_scopeset_t need = 0;
  if (r->route) need |= r->route->required | r->route->any;
  if (item) need |= item->required | item->any;
  if (!need || scopes_format(auth_of(r)->scopes, need, buf, cap) < 0) buf[0] = '\0';
  return buf;
}

/* What comes after the route's rate: an MCP POST reads its body first. */
static void after_rate(client_t *c, request_t *r);

static void answer_rate_limited(client_t *c, request_t *r, const char *hdr) {
  r->ident.len = 0;
  r->decision = "rate_limited";
  conn_answer_ex(c, ANS_RATE_LIMITED, NULL, hdr, NULL);
}

/* Redis answered (or could not) for a rate (ratelimits.h); then goes on. */
static void rate_answered(request_t *r, int refused, const char *hdr, void (*then)(client_t *, request_t *)) {
  client_t *c = r->c;
  r->state = RS_LOCAL;
  if (refused) answer_rate_limited(c, r, hdr);
  else then(c, r);
  conn_resume(c);
}

static void rate_done(request_t *r, int refused, const char *hdr) { rate_answered(r, refused, hdr, after_rate); }

/* 1 when ratelimits_take's result res took care of the request. */
static int rate_outcome(client_t *c, request_t *r, int res, const char *hdr) {
  if (res == RL_ALLOW) return 0;
  if (res == RL_PENDING) r->state = RS_WAIT;
  else answer_rate_limited(c, r, hdr);
  return 1;
}

/* Over the route's `rate`: 429 (ratelimits.h). 1 when the request is taken
 * care of (refused, or waiting for the cluster: rate_done goes on). */
static int rate_limited(client_t *c, request_t *r, const gw_tokcache_val_t *v) {
  char hdr[256], ip[64];
  const gw_route_t *rt = r->route;
  if (!rt || !rt->rate.count) return 0;
  conn_peer_ip(c, ip, sizeof ip);
  char scope[GW_POLICY_MAX_PATTERN + 600];
  int sl = snprintf(scope, sizeof scope, "%s %s", rt->methods, rt->pattern);
  if (sl < 0 || (size_t)sl >= sizeof scope) sl = (int)sizeof scope - 1;
  return rate_outcome(c, r, ratelimits_take(r, &rt->rate, scope, (size_t)sl, v, ip, hdr, sizeof hdr, rate_done),
                      hdr);
}

/* ---- CORS ------------------------------------------------------------------ */

static void cors_check(client_t *c, request_t *r) {
  const gw_config_t *cfg = r->gen->cfg;
  if (!cfg->cors_origins) return;
  const hdr_t *o = req_header(r, "origin", NULL);
  if (!o) return;
  const char *v = r->h.arena + o->val_off;
  for (size_t i = 0; i < cfg->ncors_origins; i++) {
    const char *allowed = cfg->cors_origins[i];
    if (strcmp(allowed, "*") == 0) {
      r->cors = 2;
      return;
    }
    if (strlen(allowed) == o->val_len && strncasecmp(allowed, v, o->val_len) == 0) {
      r->cors = 1;
      r->origin_off = o->val_off;
      r->origin_len = o->val_len;
      return;
    }
  }
}



/* ---- routing ------------------------------------------------------------- */

/* The upstream whose prefix is the longest that covers the path, on
 * segment boundaries; sets r->pool and r->up_index. */
static int route(request_t *r) {
  const gw_config_t *cfg = r->gen->cfg;
  size_t best_len = 0, len = r->npath_len;
  const char *path = r->npath;
  for (size_t i = 0; i < cfg->nupstreams; i++) {
    const gw_upstream_cfg_t *u = &cfg->upstreams[i];
    if (len < u->prefix_len || memcmp(path, u->prefix, u->prefix_len) != 0) continue;
    if (len > u->prefix_len && path[u->prefix_len] != '/') continue;
    if (u->prefix_len > best_len) {
      r->pool = upstream_pool(r->gen, i);
      r->up_index = (uint32_t)i;
      best_len = u->prefix_len;
    }
  }
  return r->pool != NULL;
}

static int same_ci(const char *a, size_t alen, const char *b) {
  return b && strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

/* The authority of an absolute URL ("https://h:1/p" -> "h:1"), into buf. */
static const char *url_authority(const char *url, char *buf, size_t cap) {
  const char *p = url ? strstr(url, "://") : NULL;
  if (!p) return NULL;
  p += 3;
  size_t n = strcspn(p, "/?#");
  if (n >= cap) return NULL;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return buf;
}

/* Absolute-form targets must name this gateway: its public URL, its
 * resource identifier, or an address it listens on. A proxy request for
 * any other host is refused, whatever Host says. */
static int authority_ok(void *user, const char *auth, size_t len) {
  request_t *r = user;
  const gw_config_t *cfg = r->gen->cfg;
  char buf[300];
  if (same_ci(auth, len, url_authority(cfg->public_url, buf, sizeof buf))) return 1;
  if (same_ci(auth, len, url_authority(cfg->resource_identifier, buf, sizeof buf))) return 1;
  for (size_t i = 0; i < cfg->nlisten; i++)
    if (same_ci(auth, len, cfg->listen[i].text)) return 1;
  for (size_t i = 0; i < cfg->ntls_listen; i++)
    if (same_ci(auth, len, cfg->tls_listen[i].text)) return 1;
  return 0;
}

/* ---- tokens ---------------------------------------------------------------- */

static int query_has_token(const request_t *r) {
  const char *q = r->query;
  size_t n = r->query_len, i = 0;
  while (q && i < n) {
    size_t start = i;
    while (i < n && q[i] != '&') i++;
    size_t end = start;
    while (end < i && q[end] != '=') end++;
    if (end - start == 12 && memcmp(q + start, "access_token", 12) == 0) return 1;
    i++;
  }
  return 0;
}

typedef enum { TOK_ABSENT, TOK_PRESENT, TOK_MALFORMED, TOK_CONFLICT } tokstate_t;

static tokstate_t extract_token(request_t *r, const char **tok, size_t *len, const char **why) {
  int n = 0;
  const hdr_t *h = req_header(r, "authorization", &n);
  if (n > 1) {
    *why = "more than one Authorization header";
    return TOK_CONFLICT;
  }
  if (!h) return TOK_ABSENT;
  const char *v = r->h.arena + h->val_off;
  size_t vl = h->val_len;
  while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;
  size_t sp = 0;
  while (sp < vl && v[sp] != ' ') sp++;
  if (!(sp == 6 && strncasecmp(v, "bearer", 6) == 0)) return TOK_ABSENT; /* another scheme */
  if (query_has_token(r)) {
    *why = "bearer token both in the Authorization header and the query";
    return TOK_CONFLICT;
  }
  while (sp < vl && v[sp] == ' ') sp++;
  *tok = v + sp;
  *len = vl - sp;
  if (*len == 0) {
    *why = "empty bearer token";
    return TOK_MALFORMED;
  }
  /* Whether it is token68 is checked by verify() on a cache miss: a cached
   * token passed jwt_verify, whose alphabet (base64url and dots) is a subset
   * of token68, so a hit needs no second look at its hundreds of bytes. */
  return TOK_PRESENT;
}

/* Identity headers for the upstream and fields for the access log, from a
 * verified (possibly cached) token. */
static void apply_identity(client_t *c, request_t *r, const gw_tokcache_val_t *v) {
  const gw_config_t *cfg = r->gen->cfg;
  for (size_t k = 0; k < cfg->nforward && VERIFY_STR_FWD + k < v->nstrs; k++) {
    const char *s = v->strs[VERIFY_STR_FWD + k];
    /* Absent or not a clean string/number: omitted; a decision answer
     * carries it empty instead (see decision_allow). */
    if (!s && !r->decide_only) continue;
    outbuf_append(&r->ident, cfg->forward[k].header, strlen(cfg->forward[k].header));
    OUTBUF_LIT(&r->ident, ": ");
    if (s) outbuf_append(&r->ident, s, v->lens[VERIFY_STR_FWD + k]);
    outbuf_append(&r->ident, "\r\n", 2);
  }
  r->kind = v->kind == GW_TOKEN_M2M ? "m2m" : "user";
  /* The cached value may be replaced before this request ends: what the
   * access log needs is copied now, and only when there is an access log. */
  if (!access_log_enabled()) return;
  char esc[300];
  if (v->strs[VERIFY_STR_SUB]) {
    gw_json_escape(esc, sizeof esc, v->strs[VERIFY_STR_SUB], v->lens[VERIFY_STR_SUB], 128);
    OUTBUF_LIT(&r->logx, ",\"sub\":\"");
    outbuf_append(&r->logx, esc, strlen(esc));
    OUTBUF_LIT(&r->logx, "\"");
  }
  if (v->strs[VERIFY_STR_CLIENT]) {
    gw_json_escape(esc, sizeof esc, v->strs[VERIFY_STR_CLIENT], v->lens[VERIFY_STR_CLIENT], 128);
    OUTBUF_LIT(&r->logx, ",\"client_id\":\"");
    outbuf_append(&r->logx, esc, strlen(esc));
    OUTBUF_LIT(&r->logx, "\"");
  }
}

/* Decision mode, allowed: 200 with the identity headers for the caller to
 * copy upstream. Every [forward] header is there, empty when the token has
 * no such claim or there is no token (a public route), so a proxy that
 * copies them replaces whatever copy the client sent. */
static void decision_allow(client_t *c, request_t *r) {
  const gw_config_t *cfg = r->gen->cfg;
  if (!r->kind) {
    r->ident.len = 0;
    for (size_t k = 0; k < cfg->nforward; k++) {
      outbuf_append(&r->ident, cfg->forward[k].header, strlen(cfg->forward[k].header));
      OUTBUF_LIT(&r->ident, ": \r\n");
    }
  }
  OUTBUF_LIT(&r->ident, "Cache-Control: no-store\r\n");
  if (outbuf_append(&r->ident, "", 1) != 0) {
    conn_answer(c, ANS_NO_MEMORY, NULL);
    return;
  }
  conn_answer_raw(c, 200, r->ident.data, NULL, 0);
}

void gate_forward(client_t *c, request_t *r) {
  if (r->decide_only) {
    decision_allow(c, r);
    return;
  }
  uint64_t max = request_upstream(r)->max_body;
  if (max && !r->h.chunked_in && r->h.content_length > max) {
    conn_answer(c, ANS_PAYLOAD_TOO_LARGE, NULL);
    return;
  }
  r->state = RS_WAIT;
  r->up_start_us = worker_now_us();
  /* Body bytes go upstream from now on (the sink checks max_body as they come). */
  r->h.sink = upstream_body_sink;
  r->h.sink_ud = r;
  upstream_start(r);
}

/* ---- MCP upstreams (protocol = mcp) ---------------------------------------- */

static int is_mcp(const request_t *r) { return r->pool && request_upstream(r)->protocol == GW_PROTO_MCP; }

static mcp_hdr_t hdr_value(const request_t *r, const char *lname) {
  const hdr_t *h = req_header(r, lname, NULL);
  mcp_hdr_t v = {h ? r->h.arena + h->val_off : NULL, h ? h->val_len : 0};
  return v;
}

/* An Origin the upstream does not allow is refused before any token work
 * (a browser page must not reach a local MCP server: DNS rebinding). */
static int mcp_origin_refused(client_t *c, request_t *r) {
  mcp_hdr_t o = hdr_value(r, "origin");
  if (!o.p) return 0;
  const gw_upstream_cfg_t *u = request_upstream(r);
  char *const *list = u->allow_origins_set ? u->allow_origins : r->gen->cfg->cors_origins;
  size_t n = u->allow_origins_set ? u->nallow_origins : r->gen->cfg->ncors_origins;
  if (mcp_origin_allowed(o.p, o.len, list, n)) return 0;
  r->decision = "origin";
  conn_answer_rpc(c, ANS_RPC_ORIGIN, NULL, NULL, 0);
  return 1;
}

/* The session a request names must be bound to its caller; the server gets
 * its own id back (restored in the forwarded head). */
static int mcp_session_refused(client_t *c, request_t *r, const gw_tokcache_val_t *v) {
  const gw_authctx_t *a = auth_of(r);
  const char *iss = v ? a->cfg->issuers[v->issuer].iss : "";
  char princ[MCPSESS_PRINCIPAL_MAX];
  size_t pl = mcpsess_principal(princ, sizeof princ, iss, strlen(iss),
                                v ? v->strs[VERIFY_STR_SUB] : NULL, v ? v->lens[VERIFY_STR_SUB] : 0,
                                v ? v->strs[VERIFY_STR_CLIENT] : NULL, v ? v->lens[VERIFY_STR_CLIENT] : 0);
  r->mcp_princ.len = 0;
  outbuf_append(&r->mcp_princ, princ, pl);
  int n = 0;
  const hdr_t *h = req_header(r, "mcp-session-id", &n);
  if (!h) return 0;
  size_t sidlen = 0;
  if (n > 1) {
    r->decision = "invalid_request";
    conn_answer_rpc(c, ANS_RPC_INVALID, "more than one Mcp-Session-Id header", NULL, 0);
    return 1;
  }
  const unsigned char *key = r->gen->snap->mcp_keys[r->up_index];
  if (pl == 0 || !mcpsess_check(key, princ, pl, r->h.arena + h->val_off, h->val_len, &sidlen)) {
    r->decision = "session";
    conn_answer_rpc(c, ANS_RPC_SESSION, NULL, NULL, 0);
    return 1;
  }
  r->mcp_sid_off = h->val_off;
  r->mcp_sid_len = (uint32_t)sidlen;
  return 0;
}

/* The body of a JSON-RPC POST: kept whole up to mcp_max_body. */
static answer_kind_t mcp_body_sink(void *ud, const char *p, size_t n) {
  request_t *r = ud;
  if (r->m2mbody.len + n > request_upstream(r)->mcp_max_body) return ANS_MCP_TOO_LARGE;
  if (outbuf_append(&r->m2mbody, p, n)) return ANS_NO_MEMORY;
  return ANS_NONE;
}

static void decide(client_t *c, request_t *r, const gw_mcp_item_t *item, int deny_unlisted);
static void mcp_body_done(request_t *r);

/* A JSON-RPC POST is decided once its body is read. */
static void mcp_read_body(client_t *c, request_t *r) {
  mcp_hdr_t ct = hdr_value(r, "content-type");
  if (!ct.p || !mcp_media_is_json(ct.p, ct.len)) {
    conn_answer(c, ANS_UNSUPPORTED_MEDIA, NULL);
    return;
  }
  if (!r->h.chunked_in && r->h.content_length > request_upstream(r)->mcp_max_body) {
    conn_answer(c, ANS_MCP_TOO_LARGE, NULL);
    return;
  }
  r->state = RS_M2M;
  r->body_done = mcp_body_done;
  r->h.sink = mcp_body_sink;
  r->h.sink_ud = r;
}

static void log_field(request_t *r, const char *name, const char *v, size_t n) {
  if (!access_log_enabled()) return;
  char esc[300];
  gw_json_escape(esc, sizeof esc, v, n, 128);
  outbuf_printf(&r->logx, ",\"%s\":\"%s\"", name, esc);
}

static void mcp_body_done(request_t *r) {
  client_t *c = r->c;
  r->state = RS_LOCAL;
  jrpc_msg_t m;
  jrpc_result_t res = jrpc_parse(r->m2mbody.data ? r->m2mbody.data : "", r->m2mbody.len, &m);
  if (res != JRPC_OK) {
    mcp_series(r, NULL, NULL, 1);
    r->decision = "invalid_request";
    r->reason = res == JRPC_INVALID_REQUEST ? "jsonrpc_invalid" : "jsonrpc_parse";
    conn_answer_rpc(c, res == JRPC_INVALID_REQUEST ? ANS_RPC_INVALID : res == JRPC_NOMEM ? ANS_NO_MEMORY : ANS_RPC_PARSE,
                    m.why, NULL, 0);
    return;
  }
  mcp_verdict_t v;
  const gw_policy_t *p = auth_of(r)->policy;
  static const gw_mcp_items_t none = {0};
  mcp_judge(&m, p ? policy_mcp(p) : &none, hdr_value(r, "mcp-method"), hdr_value(r, "mcp-name"), &v);
  if (m.method.type == JRPC_STRING) log_field(r, "mcp_method", m.method_buf, m.method.len);
  if (v.has_kind) log_field(r, "mcp_name", v.name, v.name_len);
  mcp_series(r, &m, v.item, v.refuse != ANS_NONE);
  if (v.refuse != ANS_NONE) {
    r->decision = "invalid_request";
    conn_answer_rpc(c, v.refuse, v.why, m.id, m.id_len);
    return;
  }
  gw_mcp_kind_t lk;
  if (mcp_list_method(&m, &lk)) {
    /* The answer is filtered by this id; one too long to keep cannot be
     * matched, and an unfiltered list is never sent. */
    if (m.id_len > sizeof r->mcp_list_id) {
      mcp_series(r, &m, v.item, 1);
      conn_answer_rpc(c, ANS_RPC_INVALID, "id too long for a list request", NULL, 0);
      return;
    }
    r->mcp_list = (uint8_t)(1 + lk);
    r->mcp_list_idlen = (uint8_t)m.id_len;
    memcpy(r->mcp_list_id, m.id, m.id_len);
  }
  r->body_buffered = 1;
  decide(c, r, v.item, v.deny_unlisted);
}

/* ---- the decision ------------------------------------------------------------ */

/* An MCP item's own `rate` (ratelimits.h), counted once the call is
 * allowed, under the item's section and the route's key kinds. The token
 * is gone by now: its sub and client_id were kept as digests. */
static void item_rate_done(request_t *r, int refused, const char *hdr) {
  rate_answered(r, refused, hdr, gate_forward);
}

static void forward_within_rate(client_t *c, request_t *r, const gw_mcp_item_t *item) {
  if (!item || !item->rate.count) {
    gate_forward(c, r);
    return;
  }
  char hdr[256], ip[64];
  conn_peer_ip(c, ip, sizeof ip);
  if (!rate_outcome(c, r, ratelimits_take_item(r, &item->rate, item->section, strlen(item->section), ip, hdr,
                                               sizeof hdr, item_rate_done), hdr))
    gate_forward(c, r);
}

/* Route and MCP item against the token (r->tok_ok, r->tok_scopes). */
static void decide(client_t *c, request_t *r, const gw_mcp_item_t *item, int deny_unlisted) {
  const gw_authctx_t *a = auth_of(r);
  const gw_route_t *rt = r->route;
  char scope[1024];
  int item_scopes = item && (item->required || item->any);
  if (!r->tok_ok) {
    /* A public route; an item that names scopes still needs a token. */
    if (!item_scopes && !deny_unlisted) {
      r->decision = "public";
      count_auth(r, GW_MOUT_PUBLIC, GW_MREASON_NONE);
      forward_within_rate(c, r, item);
      return;
    }
    refuse(c, r, ANS_UNAUTHORIZED, NULL, required_scopes(r, item, scope, sizeof scope));
    return;
  }
  gw_scopeset_t missing = 0, have = r->tok_scopes;
  gw_policy_verdict_t verdict =
      a->policy ? policy_decide(a->policy, rt, 1, have, &missing) : GW_POLICY_ALLOW;
  if (verdict == GW_POLICY_PUBLIC) verdict = GW_POLICY_ALLOW;
  if (verdict == GW_POLICY_ALLOW && item) {
    missing = item->required & ~have;
    if (item->any && !(item->any & have)) missing |= item->any;
    if (missing) verdict = GW_POLICY_INSUFFICIENT_SCOPE;
  }
  if (verdict == GW_POLICY_ALLOW && !deny_unlisted) {
    r->decision = "allow";
    count_auth(r, GW_MOUT_ALLOW, GW_MREASON_NONE);
    forward_within_rate(c, r, item);
    return;
  }
  r->ident.len = 0;
  if (verdict == GW_POLICY_INSUFFICIENT_SCOPE) {
    refuse(c, r, ANS_INSUFFICIENT_SCOPE, item && (item->required & missing || item->any & missing)
                                             ? "the token lacks a scope this MCP item requires"
                                             : "the token lacks a scope this route requires",
           required_scopes(r, item, scope, sizeof scope));
    return;
  }
  if (verdict == GW_POLICY_ALLOW) {
    r->mcp_unlisted = 1;
    refuse(c, r, ANS_INSUFFICIENT_SCOPE, "the policy lists no such MCP item (mcp_unlisted = deny)", "");
    return;
  }
  refuse(c, r, ANS_INSUFFICIENT_SCOPE, "no policy route allows this request", "");
}

static void gate_auth(client_t *c, request_t *r) {
  verifier_t *g = r->gen->verifier;
  const gw_authctx_t *a = auth_of(r);
  worker_t *w = conn_worker(c);
  size_t ni = verifier_issuers(g);
  size_t ml;
  const char *m = req_method(r, &ml);
  const gw_route_t *rt = a->policy ? policy_match(a->policy, m, ml, r->npath, r->npath_len) : NULL;
  r->route = rt;
  char scope[1024];
  if (a->policy && rt && rt->auth == GW_AUTH_NONE) {
    r->tok_ok = 0;
    if (is_mcp(r) && mcp_session_refused(c, r, NULL)) return;
    if (rate_limited(c, r, NULL)) return;
    after_rate(c, r);
    return;
  }
  const char *tok = NULL, *why = NULL;
  size_t tlen = 0;
  switch (extract_token(r, &tok, &tlen, &why)) {
  case TOK_CONFLICT: refuse(c, r, ANS_AUTH_BAD_REQUEST, why, NULL); return;
  case TOK_ABSENT: refuse(c, r, ANS_UNAUTHORIZED, NULL, required_scopes(r, NULL, scope, sizeof scope)); return;
  case TOK_MALFORMED:
    r->mreason = GW_MREASON_MALFORMED;
    refuse(c, r, ANS_INVALID_TOKEN, why, NULL);
    return;
  case TOK_PRESENT: break;
  }
  refresh_keys(g, a->keys);
  size_t u = r->up_index;
  gw_tokcache_val_t fresh;
  gw_jwt_claims_t cl;
  const gw_tokcache_val_t *val = NULL;
  size_t issuer = ni;
  int not68 = 0;
  int64_t now = (int64_t)time(NULL);
  gw_jwt_result_t res = verifier_check(g, r->gen->cfg, w->mc, u, tok, tlen, now, &cl, &fresh, &val,
                                       &issuer, &not68);
  if (not68) {
    r->mreason = GW_MREASON_MALFORMED;
    refuse(c, r, ANS_INVALID_TOKEN, "bearer token is not token68", NULL);
    return;
  }
  if (res == GW_JWT_UNKNOWN_KID && !r->parked_once && issuer < ni) {
    if (keystore_generation(a->keys, issuer) != verifier_generation(g, issuer)) {
      /* The keys changed since this worker looked: try them before anything. */
      jwt_claims_free(&cl);
      refresh_keys(g, a->keys);
      res = verifier_check(g, r->gen->cfg, w->mc, u, tok, tlen, now, &cl, &fresh, &val, &issuer,
                           &not68);
    }
  }
  if (res == GW_JWT_UNKNOWN_KID && !r->parked_once && issuer < ni) {
    unsigned seq = atomic_load(&a->keys->iss[issuer].fetch_seq);
    if (keystore_want_refetch(a->keys, issuer)) {
      r->state = RS_PARKED;
      r->park_seq = seq;
      r->park_issuer = (uint32_t)issuer;
      r->parked_once = 1;
      dlist_insert_tail(&r->gen->parked, &r->park_link);
      return;
    }
  }
  /* The metric reasons follow gw_jwt_result_t one to one. */
  r->mreason = (gw_mreason_t)res;
  if (res == GW_JWT_NO_KEYSET) {
    refuse(c, r, ANS_KEYS_UNAVAILABLE, answer_def(ANS_KEYS_UNAVAILABLE)->desc, NULL);
    return;
  }
  if (res != GW_JWT_OK) {
    r->reason = jwt_result_name(res);
    refuse(c, r, ANS_INVALID_TOKEN, jwt_result_text(res), NULL);
    return;
  }
  if (!val) val = &fresh;
  apply_identity(c, r, val);
  /* After apply_identity, so the access log names whose token it was. */
  if (revocations_refuse(r, val)) {
    jwt_claims_free(&cl);
    r->ident.len = 0;
    r->mreason = GW_MREASON_REVOKED;
    r->reason = "revoked";
    refuse(c, r, ANS_INVALID_TOKEN, "token has been revoked", NULL);
    return;
  }
  r->tok_ok = 1;
  r->tok_scopes = val->scopes;
  if (is_mcp(r) && a->policy && policy_mcp(a->policy)->any_rate) {
    /* The item's rate is taken after the body is read, when val is gone. */
    static const int slot[2] = {VERIFY_STR_SUB, VERIFY_STR_CLIENT};
    unsigned char md[SHA256_DIGEST_LENGTH];
    for (int k = 0; k < 2; k++)
      if (val->strs[slot[k]] && val->lens[slot[k]]) {
        SHA256((const unsigned char *)val->strs[slot[k]], val->lens[slot[k]], md);
        memcpy(r->rk[k], md, 16);
        r->rk_has |= (uint8_t)(1u << k);
      }
  }
  int refused = is_mcp(r) && mcp_session_refused(c, r, val);
  jwt_claims_free(&cl);
  if (refused || rate_limited(c, r, val)) return;
  after_rate(c, r);
}

static void after_rate(client_t *c, request_t *r) {
  /* A JSON-RPC POST to an MCP upstream is judged with its body; proxy mode only. */
  if (is_mcp(r) && !r->decide_only && req_method_is(r, "POST")) {
    mcp_read_body(c, r);
    return;
  }
  decide(c, r, NULL, 0);
}

/* ---- the entry point --------------------------------------------------------- */

/* X-Request-Id: the client's is kept when it is 1..64 characters of
 * [A-Za-z0-9._:-] (so it can go into logs and headers as is); otherwise a
 * fresh 128-bit id. Either way it is forwarded and logged. */
static void request_id(client_t *c, request_t *r) {
  const hdr_t *h = req_header(r, "x-request-id", NULL);
  if (h && h->val_len > 0 && h->val_len <= 64) {
    const char *v = r->h.arena + h->val_off;
    size_t i = 0;
    for (; i < h->val_len; i++) {
      unsigned char ch = (unsigned char)v[i];
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '.' || ch == '_' || ch == ':' || ch == '-'))
        break;
    }
    if (i == h->val_len) {
      memcpy(r->request_id, v, h->val_len);
      r->request_id[h->val_len] = '\0';
      return;
    }
  }
  uint64_t *s = conn_worker(c)->rid_state, out[2];
  for (int k = 0; k < 2; k++) {
    uint64_t x = s[0], y = s[1];
    s[0] = y;
    x ^= x << 23;
    s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    out[k] = s[1] + y;
  }
  /* Every request pays for this: hex by hand, not through printf. */
  static const char hex[] = "0123456789abcdef";
  char *p = r->request_id;
  for (int k = 0; k < 2; k++)
    for (int sh = 60; sh >= 0; sh -= 4) *p++ = hex[(out[k] >> sh) & 15];
  *p = '\0';
}

/* The one header named lname, when present once: its value (offset, length).
 * Twice is refused (which one would the proxy have meant?). */
static int original_field(request_t *r, const char *lname, uint32_t *off, uint32_t *len,
                          const char **why) {
  int n = 0;
  const hdr_t *h = req_header(r, lname, &n);
  if (n > 1) {
    *why = "a forwarded-request header is repeated";
    return -1;
  }
  if (!h) return 0;
  if (h->val_len == 0) {
    *why = "a forwarded-request header is empty";
    return -1;
  }
  *off = h->val_off;
  *len = h->val_len;
  return 1;
}

/* A decision listener judges the request its caller received: method and
 * URI from X-Forwarded-Method and X-Forwarded-Uri (or nginx's
 * X-Original-URI) when present (Traefik, Caddy, nginx), else the request's
 * own (Envoy ext_authz). From here on the request is that original one. */
static int decision_original(request_t *r, const char **why) {
  uint32_t off = 0, len = 0;
  int rc = original_field(r, "x-forwarded-method", &off, &len, why);
  if (rc < 0) return -1;
  if (rc) {
    for (uint32_t i = 0; i < len; i++)
      if (!http_is_tchar((unsigned char)r->h.arena[off + i])) {
        *why = "X-Forwarded-Method is not a method";
        return -1;
      }
    r->h.method_off = off;
    r->h.method_len = len;
  }
  rc = original_field(r, "x-forwarded-uri", &off, &len, why);
  if (rc == 0) rc = original_field(r, "x-original-uri", &off, &len, why);
  if (rc < 0) return -1;
  if (rc) {
    r->h.url_off = off;
    r->h.url_len = len;
  }
  return 0;
}

void gate_request(client_t *c, request_t *r) {
  request_id(c, r);
  if (conn_is_decision(c)) {
    r->decide_only = 1;
    const char *why = NULL;
    if (decision_original(r, &why) < 0) {
      conn_answer(c, ANS_BAD_REQUEST, why);
      return;
    }
  }
  size_t ml;
  const char *m = req_method(r, &ml);
  gw_target_t t;
  const char *why = NULL;
  int rc = target_split(r->h.arena + r->h.url_off, r->h.url_len, m, ml, authority_ok, r, &t, &why);
  if (rc != PATHNORM_OK) {
    conn_answer(c, ANS_BAD_REQUEST, why ? why : pathnorm_strerror(rc));
    return;
  }
  if (t.form == GW_TARGET_ASTERISK) {
    conn_answer_raw(c, 204, "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n", NULL, 0);
    return;
  }
  size_t cap = t.path_len * 3 + 2;
  r->npath = malloc(cap);
  if (!r->npath) {
    conn_answer(c, ANS_NO_MEMORY, NULL);
    return;
  }
  rc = pathnorm(t.path, t.path_len, r->npath, cap, &r->npath_len, &why);
  if (rc != PATHNORM_OK) {
    conn_answer(c, ANS_BAD_REQUEST, why ? why : pathnorm_strerror(rc));
    return;
  }
  r->query = t.query;
  r->query_len = t.query_len;
  cors_check(c, r);
  if (local_wellknown(c, r)) return;
  if (local_m2m(c, r)) return;
  if (!route(r)) {
    conn_answer(c, ANS_NOT_FOUND, "no upstream serves this path");
    return;
  }
  if (local_is_preflight(r)) {
    local_preflight(c, r);
    return;
  }
  if (is_mcp(r) && mcp_origin_refused(c, r)) return;
  gate_auth(c, r);
}

static void wake(wgen_t *g, int all) {
  dlist_t *it, *next;
  gw_keystore_t *ks = &g->snap->keys;
  for (it = g->parked.next; it != &g->parked; it = next) {
    next = it->next;
    request_t *r = container_of(it, request_t, park_link);
    if (!all && atomic_load(&ks->iss[r->park_issuer].fetch_seq) == r->park_seq) continue;
    dlist_remove(&r->park_link);
    r->state = RS_LOCAL;
    client_t *c = r->c;
    gate_auth(c, r);
    conn_resume(c);
  }
}

void gate_wake(worker_t *w) {
  if (w->cur) wake(w->cur, 0);
}

void gate_wake_all(wgen_t *g) { wake(g, 1); }

void gate_detach(request_t *r) {
  if (r->state == RS_PARKED) dlist_remove(&r->park_link);
  cluster_cancel(r->cl_ticket);
  r->cl_ticket = NULL;
  free(r->cl_ctx);
  r->cl_ctx = NULL;
  local_m2m_detach(r);
}
