/* ratelimit: parsing of `rate` and `rate_key`, the token bucket (burst,
 * refill, Retry-After), separate buckets per scope and key, and the
 * bounded table (eviction, never growth); the policy keys that feed it. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "errs.h"
#include "policy.h"
#include "ratelimit.h"
#include "tap.h"

static gw_rate_verdict_t take(gw_ratelimit_t *t, const gw_rate_t *l, const char *scope, const char *key,
                              uint64_t ms) {
  return ratelimit_take(t, l, scope, strlen(scope), key, strlen(key), ms);
}

static void parsing(void) {
  uint32_t c = 0, w = 0;
  CHECK(ratelimit_parse_rate("100/s", &c, &w) == 0 && c == 100 && w == 1, "100/s");
  CHECK(ratelimit_parse_rate("20/m", &c, &w) == 0 && c == 20 && w == 60, "20/m");
  CHECK(ratelimit_parse_rate("7/h", &c, &w) == 0 && c == 7 && w == 3600, "7/h");
  const char *bad[] = {"", "0/s", "/s", "10", "10/", "10/d", "10/ss", "-1/s", "1e3/s", "10000000000/s", " 1/s"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(ratelimit_parse_rate(bad[i], &c, &w) == -1, bad[i]);
  gw_rate_key_t k;
  CHECK(ratelimit_parse_key("client_id", &k) == 0 && k == GW_RATE_KEY_CLIENT, "client_id");
  CHECK(ratelimit_parse_key("address", &k) == 0 && k == GW_RATE_KEY_ADDRESS, "address");
  CHECK(ratelimit_parse_key("Sub", &k) == -1, "case matters");
}

static void buckets(void) {
  gw_ratelimit_t *t = ratelimit_new(1024);
  gw_rate_t l = {.count = 2, .window_s = 1, .burst = 3, .key = GW_RATE_KEY_SUB};
  for (int i = 0; i < 3; i++) CHECK(take(t, &l, "GET /a", "u", 1000).allowed, "burst passes");
  gw_rate_verdict_t v = take(t, &l, "GET /a", "u", 1000);
  CHECK(!v.allowed, "past the burst: refused");
  CHECK_INT(v.retry_after, 1, "one unit back within a second at 2/s");
  CHECK_INT(v.remaining, 0, "nothing left");
  CHECK(take(t, &l, "GET /a", "v", 1000).allowed, "another key: its own bucket");
  CHECK(take(t, &l, "GET /b", "u", 1000).allowed, "another route: its own bucket");
  CHECK(take(t, &l, "GET /a", "u", 1500).allowed, "half a second at 2/s: one unit back");
  CHECK(!take(t, &l, "GET /a", "u", 1500).allowed, "and only one");
  gw_rate_t slow = {.count = 1, .window_s = 3600, .burst = 1};
  CHECK(take(t, &slow, "s", "k", 0).allowed, "1/h: first");
  v = take(t, &slow, "s", "k", 1000);
  CHECK(!v.allowed && v.retry_after == 3599, "1/h: Retry-After counts the rest of the hour");
  CHECK(take(t, &slow, "s", "k", 3600 * 1000).allowed, "an hour later: back");
  ratelimit_free(t);
}

static void bounded(void) {
  gw_ratelimit_t *t = ratelimit_new(64);
  gw_rate_t l = {.count = 1, .window_s = 3600, .burst = 1};
  char key[32];
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "minted-%d", i);
    take(t, &l, "GET /a", key, 0);
  }
  CHECK(ratelimit_keys(t) <= 64, "ten thousand minted keys: the table stays at its capacity");
  CHECK(ratelimit_evicted_busy(t) > 0, "evictions of unrefilled buckets are counted");
  /* A key in use stays: the least recently used goes first. */
  gw_ratelimit_t *u = ratelimit_new(16 * 4);
  CHECK(take(u, &l, "GET /a", "victim", 0).allowed, "victim's one unit");
  int passed = 0;
  for (int round = 0; round < 50; round++) {
    passed += take(u, &l, "GET /a", "victim", 0).allowed;
    for (int i = 0; i < 2; i++) {
      snprintf(key, sizeof key, "m-%d-%d", round, i);
      take(u, &l, "GET /a", key, 0);
    }
  }
  CHECK(!passed && !take(u, &l, "GET /a", "victim", 0).allowed, "an active key is not pushed out by a trickle of new ones");
  ratelimit_free(u);
  ratelimit_free(t);
}

static char path[] = "/tmp/gw-test-ratelimit-XXXXXX";

static gw_policy_t *load(const char *text, gw_errors_t *e) {
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  memset(e, 0, sizeof *e);
  return policy_load(path, NULL, 0, e);
}

static void policy_keys(void) {
  gw_errors_t e;
  gw_policy_t *p = load("[GET /a]\nscopes = x\nrate = 10/m\nrate_key = client_id\n"
                        "[GET /b]\nauth = none\nrate = 5/s\nburst = 20\n[GET /c]\nauth = token\n", &e);
  CHECK(p != NULL, "rate, burst, rate_key accepted");
  if (p) {
    const gw_route_t *a = policy_route(p, 0), *b = policy_route(p, 1), *c = policy_route(p, 2);
    CHECK(a->rate.count == 10 && a->rate.window_s == 60 && a->rate.burst == 10 &&
              a->rate.key == GW_RATE_KEY_CLIENT, "burst defaults to the count");
    CHECK(b->rate.count == 5 && b->rate.burst == 20 && b->rate.key == GW_RATE_KEY_SUB, "burst; key sub by default");
    CHECK_INT(c->rate.count, 0, "no rate: no limit");
    policy_free(p);
  }
  gw_errors_free(&e);
  static const struct { const char *text, *want; } bad[] = {
      {"[GET /a]\nauth = token\nburst = 3\n", ":3: burst needs rate"},
      {"[GET /a]\nauth = token\nrate_key = sub\n", ":3: rate_key needs rate"},
      {"[GET /a]\nauth = token\nrate = 10/d\n", ":3: rate must be COUNT/s"},
      {"[GET /a]\nauth = token\nrate = 1/s\nburst = 0\n", ":4: burst must be a count"},
      {"[GET /a]\nauth = token\nrate = 1/s\nrate_key = ip\n", ":4: rate_key must be sub, client_id or address"},
      {"[GET /a]\nauth = token\nrate = 1/s\nrate = 2/s\n", ":4: duplicate key 'rate'"},
      {"[GET /a]\nrate = 1/s\n", "has no scopes, any_scopes or auth"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    p = load(bad[i].text, &e);
    int found = 0;
    for (size_t k = 0; k < e.n; k++) found |= strstr(e.msgs[k], bad[i].want) != NULL;
    CHECK(!p && found, bad[i].want);
    if (!found)
      for (size_t k = 0; k < e.n; k++) printf("#   error: %s\n", e.msgs[k]);
    policy_free(p);
    gw_errors_free(&e);
  }
}

int main(void) {
  int fd = mkstemp(path);
  if (fd < 0) return 2;
  close(fd);
  parsing();
  buckets();
  bounded();
  policy_keys();
  unlink(path);
  return TAP_DONE();
}
