/* ratelimits: see ratelimits.h. */
#include "ratelimits.h"

#include <hiredis/hiredis.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "hex.h"
#include "ratelimit.h"
#include "verify.h"

/* Keys held at once (about 40 bytes each); ratelimit.h says what happens
 * past it. */
#define RATE_KEYS 65536

static gw_ratelimit_t *table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static void table_init(void) { table = ratelimit_new(RATE_KEYS); }

/* The same bucket as lib/ratelimit.c, in Redis: refills count per window
 * continuously up to burst; the clock is Redis's, so instances with
 * skewed clocks still agree. Returns {allowed, whole units left, seconds
 * until one is back}. */
static const char BUCKET_LUA[] =
    "local burst = tonumber(ARGV[3])\n"
    "local per_ms = tonumber(ARGV[1]) / (tonumber(ARGV[2]) * 1000)\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local b = redis.call('HMGET', KEYS[1], 'n', 't')\n"
    "local n = tonumber(b[1]) or burst\n"
    "local last = tonumber(b[2]) or now\n"
    "if now > last then n = math.min(burst, n + (now - last) * per_ms) end\n"
    "local ok = 0\n"
    "if n >= 1 then n = n - 1; ok = 1 end\n"
    "redis.call('HSET', KEYS[1], 'n', tostring(n), 't', tostring(now))\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil((burst - n) / per_ms) + 1000)\n"
    "local retry = 0\n"
    "if ok == 0 then retry = math.ceil((1 - n) / per_ms / 1000) end\n"
    "return {ok, math.floor(n), retry}\n";

static void header(char *hdr, size_t cap, const gw_rate_t *lim, gw_rate_verdict_t d) {
  /* IETF httpapi-ratelimit-headers (draft 10): the policy as configured
   * (q units per w seconds) and what is left of it now (r, back in t). */
  snprintf(hdr, cap,
           "Retry-After: %u\r\nRateLimit-Policy: \"default\";q=%u;w=%u\r\n"
           "RateLimit: \"default\";r=%u;t=%u\r\n",
           d.retry_after, lim->count, lim->window_s, d.remaining, d.retry_after);
}

/* The key text: the kind goes first so that a subject never shares a
 * bucket with an address or a client id of the same text; sep tells a
 * claim (':') from its digest ('#', MCP items). Without the claim (a public
 * route, a token without it) the caller's address stands in. vals: the
 * sub and the client id, NULL when absent. */
static size_t bucket_key(const gw_rate_t *lim, const char *const vals[2], const size_t lens[2], char sep,
                         const char *ip, char *key, size_t cap) {
  int slot = lim->key == GW_RATE_KEY_SUB ? 0 : lim->key == GW_RATE_KEY_CLIENT ? 1 : -1;
  int kl;
  if (slot >= 0 && vals[slot] && lens[slot] < 256)
    kl = snprintf(key, cap, "%c%c%.*s", slot ? 'c' : 's', sep, (int)lens[slot], vals[slot]);
  else
    kl = snprintf(key, cap, "a:%s", ip);
  if (kl < 0 || (size_t)kl >= cap) kl = (int)cap - 1;
  return (size_t)kl;
}

static int take_local(request_t *r, const gw_rate_t *lim, const char *scope, size_t sl,
                      const char *key, size_t kl, char *hdr, size_t cap) {
  pthread_once(&table_once, table_init);
  gw_rate_verdict_t d =
      ratelimit_take(table, lim, scope, sl, key, kl, worker_now(r->gen->w));
  if (d.allowed) return RL_ALLOW;
  header(hdr, cap, lim, d);
  return RL_REFUSE;
}

/* What the local table needs when Redis cannot say: kept from the send
 * to the answer (r->cl_ctx; gate_detach frees it when the request goes
 * first). */
struct pending_key {
  char scope[GW_POLICY_MAX_PATTERN + 600];
  size_t sl;
  char key[300];
  size_t kl;
};

static void on_bucket(void *ud, redisReply *rep) {
  request_t *r = ud;
  r->cl_ticket = NULL;
  const gw_rate_t *lim = r->cl_rate;
  char hdr[256] = "";
  int refused = 0;
  if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 3 &&
      rep->element[0]->type == REDIS_REPLY_INTEGER && rep->element[1]->type == REDIS_REPLY_INTEGER &&
      rep->element[2]->type == REDIS_REPLY_INTEGER) {
    gw_rate_verdict_t d;
    d.allowed = rep->element[0]->integer == 1;
    d.remaining = rep->element[1]->integer < 0 ? 0 : (uint32_t)rep->element[1]->integer;
    d.retry_after = rep->element[2]->integer < 1 ? 1 : (uint32_t)rep->element[2]->integer;
    refused = !d.allowed;
    if (refused) header(hdr, sizeof hdr, lim, d);
  } else {
    /* Redis could not say: the local table decides. */
    cluster_fallback(CLUSTER_FB_RATE);
    struct pending_key *pk = r->cl_ctx;
    refused = pk && take_local(r, lim, pk->scope, pk->sl, pk->key, pk->kl, hdr, sizeof hdr) == RL_REFUSE;
  }
  free(r->cl_ctx);
  r->cl_ctx = NULL;
  r->cl_done(r, refused, hdr);
}

static int take_key(request_t *r, const gw_rate_t *lim, const char *scope, size_t sl, const char *key,
                    size_t kl, char *hdr, size_t cap, void (*done)(request_t *r, int refused, const char *hdr));

int ratelimits_take(request_t *r, const gw_rate_t *lim, const char *scope, size_t sl,
                    const gw_tokcache_val_t *v, const char *ip, char *hdr, size_t cap,
                    void (*done)(request_t *r, int refused, const char *hdr)) {
  const char *vals[2] = {v ? v->strs[VERIFY_STR_SUB] : NULL, v ? v->strs[VERIFY_STR_CLIENT] : NULL};
  size_t lens[2] = {v ? v->lens[VERIFY_STR_SUB] : 0, v ? v->lens[VERIFY_STR_CLIENT] : 0};
  char key[300];
  size_t kl = bucket_key(lim, vals, lens, ':', ip, key, sizeof key);
  return take_key(r, lim, scope, sl, key, kl, hdr, cap, done);
}

int ratelimits_take_item(request_t *r, const gw_rate_t *lim, const char *scope, size_t sl, const char *ip,
                         char *hdr, size_t cap, void (*done)(request_t *r, int refused, const char *hdr)) {
  char hex[2][33];
  const char *vals[2] = {NULL, NULL};
  size_t lens[2] = {32, 32};
  for (int k = 0; k < 2; k++)
    if (r->rk_has >> k & 1) {
      gw_hex(hex[k], r->rk[k], 16);
      vals[k] = hex[k];
    }
  char key[300];
  size_t kl = bucket_key(lim, vals, lens, '#', ip, key, sizeof key);
  return take_key(r, lim, scope, sl, key, kl, hdr, cap, done);
}

static int take_key(request_t *r, const gw_rate_t *lim, const char *scope, size_t sl, const char *key,
                    size_t kl, char *hdr, size_t cap, void (*done)(request_t *r, int refused, const char *hdr)) {
  if (kl > 299) kl = 299;
  if (!cluster_on()) return take_local(r, lim, scope, sl, key, kl, hdr, cap);
  unsigned char md[SHA256_DIGEST_LENGTH];
  char both[sizeof ((struct pending_key *)0)->scope + 300];
  if (sl > sizeof both - 1 - kl) sl = sizeof both - 1 - kl;
  memcpy(both, scope, sl);
  both[sl] = '\0';
  memcpy(both + sl + 1, key, kl);
  SHA256((const unsigned char *)both, sl + 1 + kl, md);
  char rkey[6 + 32 + 1] = "gw:rl:";
  gw_hex(rkey + 6, md, 16);
  char cnt[16], win[16], burst[16];
  snprintf(cnt, sizeof cnt, "%u", lim->count);
  snprintf(win, sizeof win, "%u", lim->window_s);
  snprintf(burst, sizeof burst, "%u", lim->burst ? lim->burst : lim->count);
  const char *argv[] = {"EVAL", BUCKET_LUA, "1", rkey, cnt, win, burst};
  size_t lens[7];
  for (int i = 0; i < 7; i++) lens[i] = strlen(argv[i]);
  struct pending_key *pk = malloc(sizeof *pk);
  if (pk) {
    if (sl >= sizeof pk->scope) sl = sizeof pk->scope - 1;
    memcpy(pk->scope, scope, sl);
    pk->sl = sl;
    memcpy(pk->key, key, kl);
    pk->kl = kl;
  }
  r->cl_ctx = pk;
  r->cl_rate = lim;
  r->cl_done = done;
  r->cl_ticket = pk ? cluster_call(r->gen->w, 7, argv, lens, on_bucket, r) : NULL;
  if (!r->cl_ticket) {
    free(pk);
    r->cl_ctx = NULL;
    cluster_fallback(CLUSTER_FB_RATE);
    return take_local(r, lim, scope, sl, key, kl, hdr, cap);
  }
  return RL_PENDING;
}
