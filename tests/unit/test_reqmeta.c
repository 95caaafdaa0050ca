/* reqmeta: trusted-proxy CIDRs, the X-Forwarded-For walk, traceparent. */
#include <string.h>

#include "reqmeta.h"
#include "tap.h"

static const char *client(const char *peer, const gw_cidr_t *t, size_t nt, const char *xff) {
  static char out[GW_IP_TEXT];
  const char *v[1] = {xff};
  size_t l[1] = {xff ? strlen(xff) : 0};
  gw_client_addr(peer, t, nt, v, l, xff ? 1 : 0, out, sizeof out);
  return out;
}

int main(void) {
  gw_cidr_t c[3];
  CHECK_INT(gw_cidr_parse("10.0.0.0/8", &c[0]), 0, "IPv4 CIDR");
  CHECK_INT(gw_cidr_parse("127.0.0.1", &c[1]), 0, "a bare address is a /32");
  CHECK_INT(gw_cidr_parse("fd00::/8", &c[2]), 0, "IPv6 CIDR");
  CHECK_INT(gw_cidr_parse("10.1.2.3/8", &c[0]), -1, "host bits set: refused");
  CHECK_INT(gw_cidr_parse("10.0.0.0/33", &c[0]), -1, "prefix too long");
  CHECK_INT(gw_cidr_parse("10.0.0.0/", &c[0]), -1, "empty prefix");
  CHECK_INT(gw_cidr_parse("example.com", &c[0]), -1, "a name is no address");
  gw_cidr_parse("10.0.0.0/8", &c[0]);
  CHECK(gw_cidr_match(c, 3, "10.255.0.1", 10), "inside /8");
  CHECK(!gw_cidr_match(c, 3, "11.0.0.1", 8), "outside");
  CHECK(gw_cidr_match(c, 3, "::ffff:127.0.0.1", 16), "IPv4-mapped counts as IPv4");
  CHECK(gw_cidr_match(c, 3, "fd12::1", 7), "inside fd00::/8");
  CHECK(!gw_cidr_match(c, 3, "junk", 4), "not an address");

  CHECK_STR(client("127.0.0.1", c, 0, "203.0.113.7"), "127.0.0.1", "no trusted proxies: the peer");
  CHECK_STR(client("192.0.2.1", c, 3, "203.0.113.7"), "192.0.2.1", "untrusted peer: the peer");
  CHECK_STR(client("127.0.0.1", c, 3, NULL), "127.0.0.1", "trusted peer without XFF");
  CHECK_STR(client("127.0.0.1", c, 3, "1.1.1.1, 203.0.113.7 ,10.0.0.2"), "203.0.113.7",
            "rightmost untrusted");
  CHECK_STR(client("127.0.0.1", c, 3, "10.0.0.3,,10.0.0.2"), "10.0.0.3", "all trusted: leftmost");
  CHECK_STR(client("127.0.0.1", c, 3, "1.1.1.1, x, 10.0.0.2"), "10.0.0.2", "garbage stops the walk");
  CHECK_STR(client("127.0.0.1", c, 3, ""), "127.0.0.1", "empty header");

  char t[33], s[17];
  const char *ok = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  CHECK_INT(gw_traceparent(ok, strlen(ok), t, s), 0, "valid traceparent");
  CHECK_STR(t, "4bf92f3577b34da6a3ce929d0e0e4736", "trace id");
  CHECK_STR(s, "00f067aa0ba902b7", "span id");
  const char *bad[] = {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
                       "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                       "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                       "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                       "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                       "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
                       "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_INT(gw_traceparent(bad[i], strlen(bad[i]), t, s), -1, bad[i]);
  const char *later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-more";
  CHECK_INT(gw_traceparent(later, strlen(later), t, s), 0, "later version with more fields");
  return TAP_DONE();
}
