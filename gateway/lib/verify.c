/* verify: the per-worker verifier and its token cache. */
#include "verify.h"

#include <stdlib.h>
#include <string.h>

#define TOKCACHE_ENTRIES 10000
#define TOKCACHE_BYTES (16u * 1024 * 1024)

struct verifier {
  const gw_authctx_t *a;
  size_t ni, nu;
  gw_keyset_t **held;
  uint64_t *gens;
  gw_jwt_issuer_t *vis;   /* [nu * ni] */
  gw_jwt_verifier_t *ver; /* [nu] */
  gw_tokcache_t *cache;
  char fwd[GW_TOKCACHE_MAX_STRS][512]; /* identity claim values of a fresh verification */
  size_t cache_entries;                /* last entry count reported to the metrics */
};

verifier_t *verifier_new(const gw_authctx_t *a) {
  verifier_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->a = a;
  g->ni = a->cfg->nissuers;
  g->nu = a->cfg->nupstreams;
  size_t ni = g->ni ? g->ni : 1, nu = g->nu ? g->nu : 1;
  g->held = calloc(ni, sizeof *g->held);
  g->gens = calloc(ni, sizeof *g->gens);
  g->vis = calloc(ni * nu, sizeof *g->vis);
  g->ver = calloc(nu, sizeof *g->ver);
  g->cache = tokcache_new(TOKCACHE_ENTRIES, TOKCACHE_BYTES);
  if (!g->held || !g->gens || !g->vis || !g->ver || !g->cache) {
    verifier_free(g);
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

size_t verifier_cache_entries(const verifier_t *g) { return g ? g->cache_entries : 0; }

void verifier_free(verifier_t *g) {
  if (!g) return;
  for (size_t i = 0; g->held && i < g->ni; i++) jwks_keyset_unref(g->held[i]);
  free(g->held);
  free(g->gens);
  free(g->vis);
  free(g->ver);
  if (g->cache) tokcache_free(g->cache);
  free(g);
}

const gw_authctx_t *verifier_auth(const verifier_t *v) { return v->a; }
size_t verifier_issuers(const verifier_t *v) { return v->ni; }
uint64_t verifier_generation(const verifier_t *v, size_t i) { return v->gens[i]; }

void verifier_set_keys(verifier_t *g, size_t i, gw_keyset_t *ks, uint64_t gen) {
  jwks_keyset_unref(g->held[i]);
  g->held[i] = ks;
  g->gens[i] = gen;
  for (size_t u = 0; u < g->nu; u++) g->vis[u * g->ni + i].keys = ks;
}

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

int verify_is_token68(const char *s, size_t n) {
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

static int clean_value(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
  return 1;
}

/* Caches what the proxy needs of a fresh verification. */
gw_jwt_result_t verifier_check(verifier_t *g, const gw_config_t *cfg, gw_mcounters_t *mc, size_t u,
                               const char *tok, size_t len, int64_t now, gw_jwt_claims_t *cl,
                               gw_tokcache_val_t *out, const gw_tokcache_val_t **hit,
                               size_t *issuer, int *not_token68) {
  memset(cl, 0, sizeof *cl);
  gw_tokcache_key_t key = tokcache_key(g->cache, tok, len, (uint32_t)u);
  *hit = tokcache_get(g->cache, &key, now, g->gens, g->ni);
  if (!*hit && !verify_is_token68(tok, len)) {
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
  out->iat = cl->iat;
  out->has_iat = cl->has_iat;
  out->nstrs = VERIFY_STR_FWD + cfg->nforward;
  if (out->nstrs > GW_TOKCACHE_MAX_STRS) out->nstrs = GW_TOKCACHE_MAX_STRS;
  out->strs[VERIFY_STR_SUB] = cl->sub;
  out->lens[VERIFY_STR_SUB] = cl->sub_len;
  out->strs[VERIFY_STR_CLIENT] = cl->client_id;
  out->lens[VERIFY_STR_CLIENT] = cl->client_id_len;
  out->strs[VERIFY_STR_SCOPE] = cl->scope_text;
  out->lens[VERIFY_STR_SCOPE] = cl->scope_text_len;
  out->strs[VERIFY_STR_JTI] = cl->jti;
  out->lens[VERIFY_STR_JTI] = cl->jti_len;
  for (size_t k = 0; VERIFY_STR_FWD + k < out->nstrs; k++) {
    const char *claim = cfg->forward[k].claim;
    if (strcmp(claim, "scope") == 0 || strcmp(claim, "scp") == 0) {
      if (cl->scope_text && clean_value(cl->scope_text, cl->scope_text_len)) {
        out->strs[VERIFY_STR_FWD + k] = cl->scope_text;
        out->lens[VERIFY_STR_FWD + k] = cl->scope_text_len;
      }
      continue;
    }
    int n = jwt_claim_text(cl, claim, bufs[k], sizeof bufs[k]);
    if (n >= 0) {
      out->strs[VERIFY_STR_FWD + k] = bufs[k];
      out->lens[VERIFY_STR_FWD + k] = (size_t)n;
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
