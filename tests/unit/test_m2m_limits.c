/* test_m2m_limits: the token issuer's failure table (gateway/m2m_limits.c)
 * on its own: counting, lockout and its end, the window, the hold on the
 * last allowed attempts, what a success clears, eviction at
 * GW_M2M_MAX_TRACKED, the keys of addresses, and carrying a table over. */
#include <stdio.h>
#include <string.h>

#include "m2m.h"
#include "m2m_limits.h"
#include "tap.h"

#define NOW ((int64_t)1700000000)

static m2m_limit_key_t id_key(const char *id) {
  m2m_limit_key_t k;
  m2m_limit_key_client(id, strlen(id), &k);
  return k;
}

static m2m_limit_key_t addr_key(const char *a) {
  m2m_limit_key_t k;
  m2m_limit_key_addr(a, &k);
  return k;
}

static int same_key(m2m_limit_key_t a, m2m_limit_key_t b) {
  return a.used && b.used && memcmp(a.key, b.key, sizeof a.key) == 0;
}

/* One whole attempt: begin, then end with the outcome. Returns the begin's
 * Retry-After (0: it was checked) and the end's lock bits in *locked. */
static unsigned attempt(m2m_limits_t *t, m2m_limit_key_t *keys, int64_t now, int failed,
                        unsigned *locked) {
  size_t which = 99;
  unsigned retry = m2m_limits_begin(t, keys, 2, now, &which);
  *locked = retry ? 0 : m2m_limits_end(t, keys, 2, now, failed);
  return retry;
}

static void test_keys(void) {
  CHECK(same_key(addr_key("192.0.2.1"), addr_key("::ffff:192.0.2.1")),
        "keys: v4-mapped IPv6 is its IPv4");
  CHECK(same_key(addr_key("2001:db8:1:2::1"), addr_key("2001:db8:1:2:ffff::3")),
        "keys: IPv6 by /64");
  CHECK(!same_key(addr_key("2001:db8:1:2::1"), addr_key("2001:db8:1:3::1")),
        "keys: another /64 is another key");
  CHECK(same_key(addr_key("[2001:db8::1]"), addr_key("2001:db8::2")), "keys: brackets dropped");
  CHECK(same_key(addr_key("fe80::1%eth0"), addr_key("fe80::2")), "keys: zone id dropped");
  CHECK(!same_key(addr_key("192.0.2.1"), addr_key("192.0.2.2")), "keys: IPv4 by address");
  CHECK(same_key(addr_key("not an address"), addr_key("not an address")),
        "keys: other text, by the text");
  CHECK(!same_key(id_key("192.0.2.1"), addr_key("192.0.2.1")),
        "keys: an id never shares a key with an address");
  CHECK(same_key(id_key("demo"), id_key("demo")) && !same_key(id_key("demo"), id_key("Demo")),
        "keys: ids by their bytes");
}

static void test_pair(void) {
  m2m_limit_key_t a, b, c;
  m2m_limit_key_pair("demo", 4, "192.0.2.1", &a);
  m2m_limit_key_pair("demo", 4, "::ffff:192.0.2.1", &b);
  CHECK(same_key(a, b), "pair: the address counts by its canonical form");
  m2m_limit_key_pair("demo", 4, "192.0.2.2", &c);
  CHECK(!same_key(a, c), "pair: another address, another key");
  m2m_limit_key_pair("demx", 4, "192.0.2.1", &c);
  CHECK(!same_key(a, c), "pair: another id, another key");
  CHECK(!same_key(a, id_key("demo")) && !same_key(a, addr_key("192.0.2.1")),
        "pair: never the id's or the address's key");
  CHECK_INT(a.factor, 1, "pair: locks at max_failures");
  CHECK_INT(addr_key("192.0.2.1").factor, GW_M2M_ADDR_FACTOR, "address: at GW_M2M_ADDR_FACTOR times it");
}

static void test_lockout(void) {
  m2m_limits_t t;
  m2m_limits_init(&t, 3, 60);
  m2m_limit_key_t keys[2] = {id_key("demo"), addr_key("192.0.2.7")};
  unsigned locked = 0;
  CHECK_INT(attempt(&t, keys, NOW, 1, &locked), 0, "lockout: 1st failure is checked");
  CHECK_INT(locked, 0, "lockout: 1st failure locks nothing");
  CHECK_INT(attempt(&t, keys, NOW + 1, 1, &locked), 0, "lockout: 2nd failure is checked");
  CHECK_INT(attempt(&t, keys, NOW + 2, 1, &locked), 0, "lockout: 3rd failure is checked");
  CHECK_INT(locked, 1, "lockout: 3rd failure locks the id (bit 0), not yet the address");
  /* The address, standing for every client behind it, takes
   * GW_M2M_ADDR_FACTOR times as many. */
  for (int i = 3; i < 3 * GW_M2M_ADDR_FACTOR; i++) {
    char id[16];
    snprintf(id, sizeof id, "id-%d", i);
    m2m_limit_key_t k2[2] = {id_key(id), keys[1]};
    attempt(&t, k2, NOW + 2, 1, &locked);
  }
  CHECK_INT(locked, 2, "lockout: the address locks after max_failures x GW_M2M_ADDR_FACTOR");
  CHECK_INT(m2m_limits_locked(&t, &keys[1], NOW + 2), 60, "lockout: address locked 60 s");
  CHECK_INT(m2m_limits_locked(&t, &keys[0], NOW + 30), 32, "lockout: id, 32 s left at +30");
  size_t which = 99;
  CHECK_INT(m2m_limits_begin(&t, keys, 2, NOW + 10, &which), 52,
            "lockout: begin refused, Retry-After 52");
  CHECK_INT(which, 0, "lockout: ... by the id first");
  m2m_limit_key_t other[2] = {id_key("other"), keys[1]};
  CHECK_INT(m2m_limits_begin(&t, other, 2, NOW + 10, &which), 52,
            "lockout: another id from that address is refused too");
  CHECK_INT(which, 1, "lockout: ... by the address");
  CHECK_INT(m2m_limits_locked(&t, &keys[1], NOW + 62), 0, "lockout: over after 60 s");
  CHECK_INT(attempt(&t, keys, NOW + 62, 1, &locked), 0,
            "lockout: after it, attempts are checked again");
  CHECK_INT(locked, 0, "lockout: ... and counted from zero");
  m2m_limits_destroy(&t);
}

static void test_window_and_success(void) {
  m2m_limits_t t;
  m2m_limits_init(&t, 2, 0); /* lockout raised to 1 s */
  CHECK_INT(t.lockout_s, 1, "window: lockout below 1 s is 1 s");
  m2m_limits_destroy(&t);

  m2m_limits_init(&t, 2, 10);
  m2m_limit_key_t keys[2] = {id_key("demo"), addr_key("198.51.100.1")};
  unsigned locked = 0;
  attempt(&t, keys, NOW, 1, &locked);
  attempt(&t, keys, NOW + 10, 1, &locked);
  CHECK_INT(locked, 0, "window: a failure after the window starts a new count");
  attempt(&t, keys, NOW + 11, 0, &locked);
  attempt(&t, keys, NOW + 12, 1, &locked);
  CHECK_INT(locked, 0, "window: a success cleared the id's count");
  /* The address has 2 (the window restarted at +10): 2 x FACTOR - 2 more. */
  for (int i = 0; i < 2 * GW_M2M_ADDR_FACTOR - 2; i++) {
    char id[16];
    snprintf(id, sizeof id, "w-%d", i);
    m2m_limit_key_t k2[2] = {id_key(id), keys[1]};
    attempt(&t, k2, NOW + 12, 1, &locked);
  }
  CHECK(locked & 2, "window: ... not the address's (it locks at its own count)");
  m2m_limits_destroy(&t);
}

static void test_hold(void) {
  m2m_limits_t t;
  m2m_limits_init(&t, 2, 60);
  m2m_limit_key_t keys[2] = {id_key("demo"), {{0}, 0, 0}};
  size_t which = 99;
  CHECK_INT(m2m_limits_begin(&t, keys, 2, NOW, &which), 0, "hold: no failures: checked");
  CHECK_INT(m2m_limits_begin(&t, keys, 2, NOW, &which), 0,
            "hold: a key without failures is never held back");
  m2m_limits_end(&t, keys, 2, NOW, 1);
  /* One failure counted, one attempt under way: the limit of 2 is reached. */
  CHECK_INT(m2m_limits_begin(&t, keys, 2, NOW, &which), 1,
            "hold: the last allowed attempt under way: Retry-After 1");
  CHECK_INT(m2m_limits_end(&t, keys, 2, NOW, 1), 1, "hold: the one under way fails: locked");
  m2m_limits_destroy(&t);
}

static void test_eviction_and_inherit(void) {
  m2m_limits_t t, u;
  m2m_limits_init(&t, 5, 60);
  m2m_limit_key_t first[2] = {id_key("first"), {{0}, 0, 0}};
  unsigned locked = 0;
  attempt(&t, first, NOW, 1, &locked);
  char id[32];
  for (int i = 0; i < GW_M2M_MAX_TRACKED; i++) {
    snprintf(id, sizeof id, "c%d", i);
    m2m_limit_key_t k[2] = {id_key(id), {{0}, 0, 0}};
    attempt(&t, k, NOW, 1, &locked);
  }
  CHECK_INT(t.live, GW_M2M_MAX_TRACKED, "eviction: the table holds GW_M2M_MAX_TRACKED");
  CHECK(t.cap <= GW_M2M_MAX_TRACKED, "eviction: and never allocates more");
  /* "first" was evicted: four more failures do not lock it. */
  for (int i = 0; i < 4; i++) attempt(&t, first, NOW + 1, 1, &locked);
  CHECK_INT(locked, 0, "eviction: the least recently failed entry was dropped");
  attempt(&t, first, NOW + 1, 1, &locked);
  CHECK_INT(locked, 1, "eviction: ... and counts again from zero");

  m2m_limits_init(&u, 5, 60);
  m2m_limits_inherit(&u, &t);
  CHECK_INT(u.live, GW_M2M_MAX_TRACKED, "inherit: every entry carried over");
  CHECK_INT(m2m_limits_locked(&u, &first[0], NOW + 2), 59, "inherit: the lockout carried over");
  m2m_limits_inherit(&u, &u);
  CHECK_INT(u.live, GW_M2M_MAX_TRACKED, "inherit: from itself is a no-op");
  m2m_limits_destroy(&u);
  m2m_limits_destroy(&t);
}

int main(void) {
  test_keys();
  test_pair();
  test_lockout();
  test_window_and_success();
  test_hold();
  test_eviction_and_inherit();
  return TAP_DONE();
}
