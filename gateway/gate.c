/* gate: the decision on a complete request head, before any byte goes
 * upstream: target form and path normalization, the gateway's own
 * endpoints (RFC 9728 metadata, CORS preflight), routing, the scope policy
 * and the bearer token. A refusal is answered here, in one place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "pathnorm.h"
#include "proxy.h"
#include "snapshot.h"

#define WK_PATH "/.well-known/oauth-protected-resource"
#define WK_LEN (sizeof WK_PATH - 1)
#define TOKCACHE_ENTRIES 10000
#define TOKCACHE_BYTES (16u * 1024 * 1024)
#define STR_SUB 0
#define STR_CLIENT 1
#define STR_SCOPE 2
#define STR_FWD 3

struct gate_worker {
  const gw_authctx_t *a;
  size_t ni, nu;
  gw_keyset_t **held;
  uint64_t *gens;
  gw_jwt_issuer_t *vis;   /* [nu * ni] */
  gw_jwt_verifier_t *ver; /* [nu] */
  gw_tokcache_t *cache;
  dlist_t parked;
  char fwd[GW_TOKCACHE_MAX_STRS][512]; /* identity claim values of a fresh verification */
  size_t cache_entries;                /* last entry count reported to the metrics */
};

typedef enum { REFUSE_NO_TOKEN, REFUSE_INVALID, REFUSE_SCOPE, REFUSE_REQUEST, REFUSE_UNAVAILABLE } refuse_t;

static void gate_auth(client_t *c, request_t *r);
static int serve_m2m(client_t *c, request_t *r);

/* ---- per worker -------------------------------------------------------- */

gate_worker_t *gate_new(const gw_authctx_t *a) {
  gate_worker_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->a = a;
  g->ni = a->cfg->nissuers;
  g->nu = a->cfg->nupstreams;
  dlist_init(&g->parked);
  size_t ni = g->ni ? g->ni : 1, nu = g->nu ? g->nu : 1;
  g->held = calloc(ni, sizeof *g->held);
  g->gens = calloc(ni, sizeof *g->gens);
  g->vis = calloc(ni * nu, sizeof *g->vis);
  g->ver = calloc(nu, sizeof *g->ver);
  g->cache = tokcache_new(TOKCACHE_ENTRIES, TOKCACHE_BYTES);
  if (!g->held || !g->gens || !g->vis || !g->ver || !g->cache) {
    gate_free(g);
    return NULL;
  }
  for (size_t u = 0; u < g->nu; u++) {
    for (size_t i = 0; i < g->ni; i++) {
      const gw_issuer_cfg_t *ic = &a->cfg->issuers[i];
      gw_jwt_issuer_t *vi = &g->vis[u * ni + i];
      vi->iss = ic->iss;
      vi->iss_len = strlen(ic->iss);
      vi->algs = 0;
      for (size_t k = 0; k < ic->nalgorithms; k++) {
        int alg = jwa_from_name(ic->algorithms[k], strlen(ic->algorithms[k]));
        if (alg >= 0) vi->algs |= GW_JWA_BIT(alg);
      }
      vi->audiences = &a->aud[(u * ni + i) * 2];
      vi->naudiences = a->naud[u * ni + i];
      vi->leeway_s = (int64_t)(ic->leeway_ms / 1000);
      vi->require_typ = ic->require_typ != NULL;
    }
    g->ver[u].issuers = &g->vis[u * ni];
    g->ver[u].nissuers = g->ni;
    g->ver[u].scopes = a->scopes;
  }
  return g;
}

size_t gate_cache_entries(const gate_worker_t *g) { return g ? g->cache_entries : 0; }

void gate_free(gate_worker_t *g) {
  if (!g) return;
  for (size_t i = 0; g->held && i < g->ni; i++) jwks_keyset_unref(g->held[i]);
  free(g->held);
  free(g->gens);
  free(g->vis);
  free(g->ver);
  if (g->cache) tokcache_free(g->cache);
  free(g);
}

/* One atomic load per issuer; a reference is taken only on change. */
static void refresh_keys(gate_worker_t *g) {
  for (size_t i = 0; i < g->ni; i++) {
    uint64_t gen = keystore_generation(g->a->keys, i);
    if (gen == g->gens[i]) continue;
    jwks_keyset_unref(g->held[i]);
    g->held[i] = keystore_acquire(g->a->keys, i, &g->gens[i]);
    for (size_t u = 0; u < g->nu; u++) g->vis[u * g->ni + i].keys = g->held[i];
  }
}

/* ---- answers ------------------------------------------------------------- */

static const gw_meta_t *meta_for(const gw_authctx_t *a, const request_t *r) {
  if (r->pool) {
    size_t u = (size_t)(r->pool - r->gen->pools);
    if (a->up[u].url) return &a->up[u];
  }
  return &a->root;
}

static void count_auth(request_t *r, gw_mout_t outcome, gw_mreason_t reason) {
  worker_t *w = r->c->w;
  if (w->mc) metrics_auth(w->mc, outcome, reason);
}

static void refuse(client_t *c, request_t *r, refuse_t kind, const char *desc, const char *scope) {
  const gw_authctx_t *a = r->gen->gate->a;
  static const gw_mout_t outcome[] = {
      [REFUSE_NO_TOKEN] = GW_MOUT_UNAUTHORIZED, [REFUSE_INVALID] = GW_MOUT_INVALID_TOKEN,
      [REFUSE_SCOPE] = GW_MOUT_INSUFFICIENT_SCOPE, [REFUSE_REQUEST] = GW_MOUT_INVALID_REQUEST,
      [REFUSE_UNAVAILABLE] = GW_MOUT_UNAVAILABLE};
  count_auth(r, outcome[kind], kind == REFUSE_NO_TOKEN ? GW_MREASON_MISSING_TOKEN : r->mreason);
  const char *url = meta_for(a, r)->url;
  char hdr[1024], extra[512] = "";
  int status;
  const char *code;
  switch (kind) {
  case REFUSE_NO_TOKEN:
    status = 401;
    code = "unauthorized";
    snprintf(hdr, sizeof hdr, "WWW-Authenticate: Bearer resource_metadata=\"%s\"\r\n", url);
    break;
  case REFUSE_INVALID:
    status = 401;
    code = "invalid_token";
    snprintf(hdr, sizeof hdr,
             "WWW-Authenticate: Bearer error=\"invalid_token\", error_description=\"%s\", "
             "resource_metadata=\"%s\"\r\n",
             desc, url);
    break;
  case REFUSE_SCOPE:
    status = 403;
    code = "insufficient_scope";
    /* No scope parameter when no scope would help (an unmatched route). */
    snprintf(hdr, sizeof hdr,
             "WWW-Authenticate: Bearer error=\"insufficient_scope\", %s%s%s"
             "error_description=\"%s\", resource_metadata=\"%s\"\r\n",
             scope[0] ? "scope=\"" : "", scope, scope[0] ? "\", " : "", desc, url);
    snprintf(extra, sizeof extra, ",\"scope\":\"%s\"", scope);
    break;
  case REFUSE_REQUEST:
    status = 400;
    code = "invalid_request";
    snprintf(hdr, sizeof hdr,
             "WWW-Authenticate: Bearer error=\"invalid_request\", error_description=\"%s\", "
             "resource_metadata=\"%s\"\r\n",
             desc, url);
    break;
  default:
    status = 503;
    code = "temporarily_unavailable";
    snprintf(hdr, sizeof hdr, "Retry-After: 5\r\n");
    break;
  }
  r->decision = code;
  conn_answer_ex(c, status, code, desc, 0, hdr, extra);
}

/* ---- CORS ------------------------------------------------------------------ */

static void cors_check(client_t *c, request_t *r) {
  const gw_config_t *cfg = r->gen->cfg;
  if (!cfg->cors_origins) return;
  const hdr_t *o = req_header(r, "origin", NULL);
  if (!o) return;
  const char *v = r->arena + o->val_off;
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

void gate_cors_headers(const request_t *r, outbuf_t *o) {
  if (r->cors == 2) {
    outbuf_append(o, "Access-Control-Allow-Origin: *\r\n", 32);
  } else if (r->cors == 1) {
    outbuf_append(o, "Access-Control-Allow-Origin: ", 29);
    outbuf_append(o, r->arena + r->origin_off, r->origin_len);
    outbuf_append(o, "\r\nVary: Origin\r\n", 16);
  } else {
    return;
  }
  outbuf_append(o, "Access-Control-Expose-Headers: WWW-Authenticate\r\n", 49);
}

static int is_preflight(const request_t *r) {
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

static void answer_preflight(client_t *c, request_t *r) {
  char hdr[1024];
  const hdr_t *h = req_header(r, "access-control-request-headers", NULL);
  const char *ah = "Authorization, Content-Type";
  size_t ahl = strlen(ah);
  if (h && h->val_len < 400 && token_list_ok(r->arena + h->val_off, h->val_len)) {
    ah = r->arena + h->val_off;
    ahl = h->val_len;
  }
  snprintf(hdr, sizeof hdr,
           "Access-Control-Allow-Methods: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n"
           "Access-Control-Allow-Headers: %.*s\r\nAccess-Control-Max-Age: 600\r\n",
           (int)ahl, ah);
  r->decision = "preflight";
  conn_answer_raw(c, 204, hdr, NULL, 0);
}

/* ---- the gateway's own documents ---------------------------------------- */

static int serve_wellknown(client_t *c, request_t *r) {
  if (r->npath_len < WK_LEN || memcmp(r->npath, WK_PATH, WK_LEN) != 0) return 0;
  if (r->npath_len > WK_LEN && r->npath[WK_LEN] != '/') return 0;
  if (is_preflight(r)) {
    answer_preflight(c, r);
    return 1;
  }
  const gw_authctx_t *a = r->gen->gate->a;
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
    conn_answer(c, 404, "not_found", "no protected-resource metadata at this path", 0);
    return 1;
  }
  size_t ml;
  const char *meth = req_method(r, &ml);
  if (!((ml == 3 && memcmp(meth, "GET", 3) == 0) || (ml == 4 && memcmp(meth, "HEAD", 4) == 0))) {
    conn_answer_ex(c, 405, "method_not_allowed", "only GET and HEAD", 0, "Allow: GET, HEAD\r\n", "");
    return 1;
  }
  conn_answer_raw(c, 200, "Content-Type: application/json\r\nCache-Control: no-store\r\n", m->doc,
                  m->doc_len);
  return 1;
}

/* ---- routing ------------------------------------------------------------- */

static upool_t *route(wgen_t *w, const char *path, size_t len) {
  upool_t *best = NULL;
  size_t best_len = 0;
  for (size_t i = 0; i < w->cfg->nupstreams; i++) {
    const gw_upstream_cfg_t *u = &w->cfg->upstreams[i];
    if (len < u->prefix_len || memcmp(path, u->prefix, u->prefix_len) != 0) continue;
    if (len > u->prefix_len && path[u->prefix_len] != '/') continue;
    if (u->prefix_len > best_len) {
      best = &w->pools[i];
      best_len = u->prefix_len;
    }
  }
  return best;
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

/* RFC 7235 token68 characters, before any trailing '='. */
static const unsigned char token68_char[256] = {
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['-'] = 1, ['.'] = 1,
    ['_'] = 1, ['~'] = 1, ['+'] = 1, ['/'] = 1,
};

static int is_token68(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  const unsigned char *t = token68_char;
  size_t i = 0;
  /* Eight lookups ANDed, one branch: a token is hundreds of bytes and this
   * runs for every request that carries one. */
  while (n - i >= 8 && (t[u[i]] & t[u[i + 1]] & t[u[i + 2]] & t[u[i + 3]] & t[u[i + 4]] &
                        t[u[i + 5]] & t[u[i + 6]] & t[u[i + 7]]))
    i += 8;
  while (i < n && t[u[i]]) i++;
  if (i == 0) return 0;
  while (i < n && s[i] == '=') i++;
  return i == n;
}

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
  const char *v = r->arena + h->val_off;
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
  for (size_t k = 0; k < cfg->nforward && STR_FWD + k < v->nstrs; k++) {
    const char *s = v->strs[STR_FWD + k];
    if (!s) continue; /* absent or not a clean string/number: omitted */
    outbuf_append(&r->ident, cfg->forward[k].header, strlen(cfg->forward[k].header));
    OUTBUF_LIT(&r->ident, ": ");
    outbuf_append(&r->ident, s, v->lens[STR_FWD + k]);
    outbuf_append(&r->ident, "\r\n", 2);
  }
  r->kind = v->kind == GW_TOKEN_M2M ? "m2m" : "user";
  /* The cached value may be replaced before this request ends: what the
   * access log needs is copied now, and only when there is an access log. */
  if (!access_log_enabled()) return;
  char esc[300];
  if (v->strs[STR_SUB]) {
    gw_json_escape(esc, sizeof esc, v->strs[STR_SUB], v->lens[STR_SUB], 128);
    OUTBUF_LIT(&r->logx, ",\"sub\":\"");
    outbuf_append(&r->logx, esc, strlen(esc));
    OUTBUF_LIT(&r->logx, "\"");
  }
  if (v->strs[STR_CLIENT]) {
    gw_json_escape(esc, sizeof esc, v->strs[STR_CLIENT], v->lens[STR_CLIENT], 128);
    OUTBUF_LIT(&r->logx, ",\"client_id\":\"");
    outbuf_append(&r->logx, esc, strlen(esc));
    OUTBUF_LIT(&r->logx, "\"");
  }
}

static int clean_value(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
  return 1;
}

/* Verifies (or finds in the cache) and caches what the proxy needs. */
/* On a fresh verification *hit is NULL and out points into *cl and g->fwd:
 * the caller uses it, then frees *cl. */
static gw_jwt_result_t verify(gate_worker_t *g, const gw_config_t *cfg, gw_mcounters_t *mc,
                              size_t u, const char *tok, size_t len, gw_jwt_claims_t *cl,
                              gw_tokcache_val_t *out, const gw_tokcache_val_t **hit,
                              size_t *issuer, int *not_token68) {
  int64_t now = (int64_t)time(NULL);
  memset(cl, 0, sizeof *cl);
  gw_tokcache_key_t key = tokcache_key(g->cache, tok, len, (uint32_t)u);
  *hit = tokcache_get(g->cache, &key, now, g->gens, g->ni);
  if (!*hit && !is_token68(tok, len)) {
    /* Refused before it counts as a cache lookup, as when extract_token
     * checked it. */
    *not_token68 = 1;
    return GW_JWT_MALFORMED;
  }
  if (mc) metrics_token_cache(mc, *hit != NULL);
  if (*hit) return GW_JWT_OK;
  gw_jwt_result_t res = jwt_verify(tok, len, &g->ver[u], now, cl);
  *issuer = cl->issuer;
  if (res != GW_JWT_OK) return res;
  char (*bufs)[512] = g->fwd;
  memset(out, 0, sizeof *out);
  out->issuer = (uint32_t)cl->issuer;
  out->kind = cl->kind;
  out->scopes = cl->scopes;
  out->exp = cl->exp;
  out->generation = g->gens[cl->issuer];
  out->nstrs = STR_FWD + cfg->nforward;
  if (out->nstrs > GW_TOKCACHE_MAX_STRS) out->nstrs = GW_TOKCACHE_MAX_STRS;
  out->strs[STR_SUB] = cl->sub;
  out->lens[STR_SUB] = cl->sub_len;
  out->strs[STR_CLIENT] = cl->client_id;
  out->lens[STR_CLIENT] = cl->client_id_len;
  out->strs[STR_SCOPE] = cl->scope_text;
  out->lens[STR_SCOPE] = cl->scope_text_len;
  for (size_t k = 0; STR_FWD + k < out->nstrs; k++) {
    const char *claim = cfg->forward[k].claim;
    if (strcmp(claim, "scope") == 0 || strcmp(claim, "scp") == 0) {
      if (cl->scope_text && clean_value(cl->scope_text, cl->scope_text_len)) {
        out->strs[STR_FWD + k] = cl->scope_text;
        out->lens[STR_FWD + k] = cl->scope_text_len;
      }
      continue;
    }
    int n = jwt_claim_text(cl, claim, bufs[k], sizeof bufs[k]);
    if (n >= 0) {
      out->strs[STR_FWD + k] = bufs[k];
      out->lens[STR_FWD + k] = (size_t)n;
    }
  }
  tokcache_put(g->cache, &key, now, out);
  if (mc) {
    gw_tokcache_stats_t st;
    tokcache_stats(g->cache, &st);
    metrics_token_cache_entries_add(mc, (int64_t)st.entries - (int64_t)g->cache_entries);
    g->cache_entries = st.entries;
  }
  return GW_JWT_OK;
}

static void forward(client_t *c, request_t *r) {
  uint64_t max = r->pool->cfg->max_body;
  if (max && !r->chunked_in && r->content_length > max) {
    conn_answer(c, 413, "payload_too_large", "request body larger than the upstream's max_body", 1);
    return;
  }
  r->state = RS_WAIT;
  r->up_start_ms = worker_now(c->w);
  upstream_start(r);
}

static void gate_auth(client_t *c, request_t *r) {
  gate_worker_t *g = r->gen->gate;
  const gw_authctx_t *a = g->a;
  size_t ml;
  const char *m = req_method(r, &ml);
  const gw_route_t *rt = a->policy ? policy_match(a->policy, m, ml, r->npath, r->npath_len) : NULL;
  r->route = rt;
  if (a->policy && rt && rt->auth == GW_AUTH_NONE) {
    r->decision = "public";
    count_auth(r, GW_MOUT_PUBLIC, GW_MREASON_NONE);
    forward(c, r);
    return;
  }
  const char *tok = NULL, *why = NULL;
  size_t tlen = 0;
  switch (extract_token(r, &tok, &tlen, &why)) {
  case TOK_CONFLICT: refuse(c, r, REFUSE_REQUEST, why, NULL); return;
  case TOK_ABSENT: refuse(c, r, REFUSE_NO_TOKEN, "no bearer token in the Authorization header", NULL); return;
  case TOK_MALFORMED:
    r->mreason = GW_MREASON_MALFORMED;
    refuse(c, r, REFUSE_INVALID, why, NULL);
    return;
  case TOK_PRESENT: break;
  }
  refresh_keys(g);
  size_t u = (size_t)(r->pool - r->gen->pools);
  gw_tokcache_val_t fresh;
  gw_jwt_claims_t cl;
  const gw_tokcache_val_t *val = NULL;
  size_t issuer = g->ni;
  int not68 = 0;
  gw_jwt_result_t res =
      verify(g, r->gen->cfg, c->w->mc, u, tok, tlen, &cl, &fresh, &val, &issuer, &not68);
  if (not68) {
    r->mreason = GW_MREASON_MALFORMED;
    refuse(c, r, REFUSE_INVALID, "bearer token is not token68", NULL);
    return;
  }
  if (res == GW_JWT_UNKNOWN_KID && !r->parked_once && issuer < g->ni) {
    if (keystore_generation(a->keys, issuer) != g->gens[issuer]) {
      /* The keys changed since this worker looked: try them before anything. */
      jwt_claims_free(&cl);
      refresh_keys(g);
      res = verify(g, r->gen->cfg, c->w->mc, u, tok, tlen, &cl, &fresh, &val, &issuer, &not68);
    }
  }
  if (res == GW_JWT_UNKNOWN_KID && !r->parked_once && issuer < g->ni) {
    unsigned seq = atomic_load(&a->keys->iss[issuer].fetch_seq);
    if (keystore_want_refetch(a->keys, issuer)) {
      r->state = RS_PARKED;
      r->park_seq = seq;
      r->park_issuer = (uint32_t)issuer;
      r->parked_once = 1;
      dlist_insert_tail(&g->parked, &r->park_link);
      return;
    }
  }
  /* The metric reasons follow gw_jwt_result_t one to one. */
  r->mreason = (gw_mreason_t)res;
  if (res == GW_JWT_NO_KEYSET) {
    refuse(c, r, REFUSE_UNAVAILABLE, "signing keys of the token issuer are not loaded yet", NULL);
    return;
  }
  if (res != GW_JWT_OK) {
    r->reason = jwt_result_name(res);
    refuse(c, r, REFUSE_INVALID, jwt_result_text(res), NULL);
    return;
  }
  if (!val) val = &fresh;
  gw_scopeset_t missing = 0;
  gw_policy_verdict_t verdict =
      a->policy ? policy_decide(a->policy, rt, 1, val->scopes, &missing) : GW_POLICY_ALLOW;
  apply_identity(c, r, val);
  jwt_claims_free(&cl);
  if (verdict == GW_POLICY_ALLOW) {
    r->decision = "allow";
    count_auth(r, GW_MOUT_ALLOW, GW_MREASON_NONE);
    forward(c, r);
    return;
  }
  r->ident.len = 0;
  if (verdict == GW_POLICY_INSUFFICIENT_SCOPE) {
    char scope[1024];
    if (scopes_format(a->scopes, missing, scope, sizeof scope) < 0) scope[0] = '\0';
    refuse(c, r, REFUSE_SCOPE, "the token lacks a scope this route requires", scope);
    return;
  }
  refuse(c, r, REFUSE_SCOPE, "no policy route allows this request", "");
}

/* ---- the entry point --------------------------------------------------------- */

/* X-Request-Id: the client's is kept when it is 1..64 characters of
 * [A-Za-z0-9._:-] (so it can go into logs and headers as is); otherwise a
 * fresh 128-bit id. Either way it is forwarded and logged. */
static void request_id(client_t *c, request_t *r) {
  const hdr_t *h = req_header(r, "x-request-id", NULL);
  if (h && h->val_len > 0 && h->val_len <= 64) {
    const char *v = r->arena + h->val_off;
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
  uint64_t *s = c->w->rid_state, out[2];
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

void gate_request(client_t *c, request_t *r) {
  request_id(c, r);
  size_t ml;
  const char *m = req_method(r, &ml);
  gw_target_t t;
  const char *why = NULL;
  int rc = target_split(r->arena + r->url_off, r->url_len, m, ml, authority_ok, r, &t, &why);
  if (rc != PATHNORM_OK) {
    conn_answer(c, 400, "invalid_request", why ? why : pathnorm_strerror(rc), 0);
    return;
  }
  if (t.form == GW_TARGET_ASTERISK) {
    conn_answer_raw(c, 204, "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n", NULL, 0);
    return;
  }
  size_t cap = t.path_len * 3 + 2;
  r->npath = malloc(cap);
  if (!r->npath) {
    conn_answer(c, 503, "temporarily_unavailable", "out of memory", 1);
    return;
  }
  rc = pathnorm(t.path, t.path_len, r->npath, cap, &r->npath_len, &why);
  if (rc != PATHNORM_OK) {
    conn_answer(c, 400, "invalid_request", why ? why : pathnorm_strerror(rc), 0);
    return;
  }
  r->query = t.query;
  r->query_len = t.query_len;
  cors_check(c, r);
  if (serve_wellknown(c, r)) return;
  if (serve_m2m(c, r)) return;
  r->pool = route(r->gen, r->npath, r->npath_len);
  if (!r->pool) {
    conn_answer(c, 404, "not_found", "no upstream serves this path", 0);
    return;
  }
  if (is_preflight(r)) {
    answer_preflight(c, r);
    return;
  }
  gate_auth(c, r);
}

static void wake(gate_worker_t *g, int all) {
  dlist_t *it, *next;
  for (it = g->parked.next; it != &g->parked; it = next) {
    next = it->next;
    request_t *r = container_of(it, request_t, park_link);
    if (!all && atomic_load(&g->a->keys->iss[r->park_issuer].fetch_seq) == r->park_seq) continue;
    dlist_remove(&r->park_link);
    r->state = RS_LOCAL;
    client_t *c = r->c;
    gate_auth(c, r);
    conn_resume(c);
  }
}

/* A key set fetch ended: parked requests try again (once). */
void gate_wake(worker_t *w) {
  if (w->cur && w->cur->gate) wake(w->cur->gate, 0);
}

/* The generation was replaced: its key store fetches no more, so nobody
 * waits for one. */
void gate_wake_all(gate_worker_t *g) { wake(g, 1); }

void gate_unpark(request_t *r) {
  if (r->state == RS_PARKED) dlist_remove(&r->park_link);
}

/* ---- the built-in M2M token endpoint ---------------------------------- */

/* One token request on the libuv thread pool: PBKDF2 takes tens of
 * milliseconds and must not stall a worker loop. The work owns copies of
 * what it reads and a reference to its snapshot (so the issuer outlives a
 * reload); the request may go away meanwhile (then r is NULL). */
struct m2m_work {
  uv_work_t req;
  request_t *r;
  gw_snapshot_t *snap;
  char method[16];
  char *content_type, *authorization;
  char addr[64];
  char *body;
  size_t body_len;
  int too_large;
  gw_m2m_response_t resp;
};

void gate_detach(request_t *r) {
  gate_unpark(r);
  if (r->m2m_work) {
    r->m2m_work->r = NULL;
    r->m2m_work = NULL;
  }
}

void gate_m2m_body(request_t *r, const char *p, size_t n) {
  if (r->m2m_too_large) return;
  if (r->m2mbody.len + n > GW_M2M_MAX_BODY) {
    r->m2m_too_large = 1;
    outbuf_free(&r->m2mbody);
    return;
  }
  outbuf_append(&r->m2mbody, p, n);
}

static char *hdr_dup(const request_t *r, const char *name) {
  const hdr_t *h = req_header(r, name, NULL);
  if (!h) return NULL;
  return strndup(r->arena + h->val_off, h->val_len);
}

static void m2m_run(uv_work_t *req) {
  struct m2m_work *wk = container_of(req, struct m2m_work, req);
  gw_m2m_request_t q = {
      .method = wk->method,
      .content_type = wk->content_type,
      .body = wk->body,
      .body_len = wk->body_len,
      .body_too_large = wk->too_large,
      .authorization = wk->authorization,
      .client_addr = wk->addr,
  };
  m2m_token(wk->snap->m2m, &q, (int64_t)time(NULL), &wk->resp);
}

static void m2m_done(uv_work_t *req, int status) {
  struct m2m_work *wk = container_of(req, struct m2m_work, req);
  request_t *r = wk->r;
  if (r && status == 0) {
    client_t *c = r->c;
    r->m2m_work = NULL;
    char hdrs[512];
    int n = snprintf(hdrs, sizeof hdrs,
                     "Content-Type: application/json\r\nCache-Control: no-store\r\n"
                     "Pragma: no-cache\r\n");
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
    conn_answer_raw(c, wk->resp.status, hdrs, wk->resp.body, wk->resp.body_len);
    conn_resume(c);
  } else if (r) {
    r->m2m_work = NULL;
    conn_answer(r->c, 503, "temporarily_unavailable", "token request could not run", 1);
  }
  m2m_response_free(&wk->resp);
  free(wk->content_type);
  free(wk->authorization);
  free(wk->body);
  snapshot_unref(wk->snap);
  free(wk);
}

void gate_m2m_start(request_t *r) {
  client_t *c = r->c;
  r->decision = "m2m";
  int nauth = 0;
  req_header(r, "authorization", &nauth);
  if (nauth > 1) {
    conn_answer(c, 400, "invalid_request", "more than one Authorization header", 0);
    return;
  }
  struct m2m_work *wk = calloc(1, sizeof *wk);
  if (!wk) {
    conn_answer(c, 503, "temporarily_unavailable", "out of memory", 1);
    return;
  }
  size_t ml;
  const char *m = req_method(r, &ml);
  snprintf(wk->method, sizeof wk->method, "%.*s", (int)(ml < 15 ? ml : 15), m);
  wk->content_type = hdr_dup(r, "content-type");
  wk->authorization = hdr_dup(r, "authorization");
  conn_peer_ip(c, wk->addr, sizeof wk->addr);
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
  if (uv_queue_work(&c->w->loop, &wk->req, m2m_run, m2m_done) != 0) {
    r->m2m_work = NULL;
    r->state = RS_LOCAL;
    free(wk->content_type);
    free(wk->authorization);
    free(wk->body);
    snapshot_unref(wk->snap);
    free(wk);
    conn_answer(c, 503, "temporarily_unavailable", "token request could not run", 1);
  }
}

/* The M2M endpoints, before the policy: no bearer token is involved. */
static int serve_m2m(client_t *c, request_t *r) {
  gw_m2m_t *m2m = r->gen->snap->m2m;
  if (!m2m) return 0;
  const gw_m2m_cfg_t *mc = &r->gen->cfg->m2m;
  size_t ml;
  const char *m = req_method(r, &ml);
  if (r->npath_len == strlen(mc->jwks_path) && memcmp(r->npath, mc->jwks_path, r->npath_len) == 0) {
    if (!((ml == 3 && memcmp(m, "GET", 3) == 0) || (ml == 4 && memcmp(m, "HEAD", 4) == 0))) {
      conn_answer_ex(c, 405, "method_not_allowed", "only GET and HEAD", 0, "Allow: GET, HEAD\r\n", "");
      return 1;
    }
    size_t len;
    const char *doc = m2m_jwks(m2m, &len);
    r->decision = "m2m_jwks";
    conn_answer_raw(c, 200, "Content-Type: application/json\r\nCache-Control: max-age=300\r\n", doc,
                    len);
    return 1;
  }
  if (r->npath_len == strlen(mc->token_path) && memcmp(r->npath, mc->token_path, r->npath_len) == 0) {
    r->state = RS_M2M; /* the body is read (bounded), then the issuer decides */
    return 1;
  }
  return 0;
}

int gate_ready(worker_t *w) { return keystore_all_loaded(w->cur->gate->a->keys); }
