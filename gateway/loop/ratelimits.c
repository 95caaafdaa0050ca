/* ratelimits: see ratelimits.h. */
#include "ratelimits.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"
#include "verify.h"

/* Keys held at once (about 40 bytes each); ratelimit.h says what happens
 * past it. */
#define RATE_KEYS 65536

static gw_ratelimit_t *table;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static void table_init(void) { table = ratelimit_new(RATE_KEYS); }

int ratelimits_over(const gw_route_t *rt, const gw_tokcache_val_t *v, const char *ip,
                    uint64_t now_ms, char *hdr, size_t cap) {
  if (!rt || !rt->rate.count) return 0;
  pthread_once(&table_once, table_init);
  /* The kind goes first so that a subject never shares a bucket with an
   * address or a client id of the same text. Without the claim (a public
   * route, a token without it) the caller's address stands in. */
  char key[300];
  int slot = rt->rate.key == GW_RATE_KEY_SUB ? VERIFY_STR_SUB
             : rt->rate.key == GW_RATE_KEY_CLIENT ? VERIFY_STR_CLIENT : -1;
  int kl;
  if (slot >= 0 && v && v->strs[slot] && v->lens[slot] < 256)
    kl = snprintf(key, sizeof key, "%c:%.*s", rt->rate.key == GW_RATE_KEY_SUB ? 's' : 'c',
                  (int)v->lens[slot], v->strs[slot]);
  else
    kl = snprintf(key, sizeof key, "a:%s", ip);
  if (kl < 0 || (size_t)kl >= sizeof key) kl = (int)sizeof key - 1;
  char scope[GW_POLICY_MAX_PATTERN + 600];
  int sl = snprintf(scope, sizeof scope, "%s %s", rt->methods, rt->pattern);
  if (sl < 0 || (size_t)sl >= sizeof scope) sl = (int)sizeof scope - 1;
  gw_rate_verdict_t d = ratelimit_take(table, &rt->rate, scope, (size_t)sl, key, (size_t)kl, now_ms);
  if (d.allowed) return 0;
  /* IETF httpapi-ratelimit-headers (draft 10): the policy as configured
   * (q units per w seconds) and what is left of it now (r, back in t). */
  snprintf(hdr, cap,
           "Retry-After: %u\r\nRateLimit-Policy: \"default\";q=%u;w=%u\r\n"
           "RateLimit: \"default\";r=%u;t=%u\r\n",
           d.retry_after, rt->rate.count, rt->rate.window_s, d.remaining, d.retry_after);
  return 1;
}
