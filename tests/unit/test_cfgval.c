/* test_cfgval: the value parsers, character classes and error sink on their
 * own (test_config covers the common cases through gateway.ini). Here: the
 * edges — exact overflow boundaries, ports and hosts at their limits,
 * normalization of URLs and origins — and that a rejected value leaves the
 * output alone. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgval.h"
#include "errs.h"
#include "tap.h"

static void test_uint(void) {
  uint64_t v = 9;
  CHECK(config_parse_uint("0", 0, 10, &v) == 0 && v == 0, "uint: 0 in 0..10");
  CHECK(config_parse_uint("10", 0, 10, &v) == 0 && v == 10, "uint: max is inclusive");
  CHECK(config_parse_uint("007", 0, 10, &v) == 0 && v == 7, "uint: leading zeros are digits");
  CHECK(config_parse_uint("18446744073709551615", 0, UINT64_MAX, &v) == 0 && v == UINT64_MAX,
        "uint: UINT64_MAX");
  static const struct {
    const char *s;
    uint64_t min, max;
  } bad[] = {
      {"11", 0, 10},  {"0", 1, 10},   {"", 0, 10},   {"+1", 0, 10},
      {"-0", 0, 10},  {" 1", 0, 10},  {"1 ", 0, 10}, {"1k", 0, 10000},
      {"0x1", 0, 10}, {"1.0", 0, 10}, {"18446744073709551616", 0, UINT64_MAX},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char what[100];
    v = 9;
    snprintf(what, sizeof what, "uint '%s' in %llu..%llu is rejected, output untouched",
             bad[i].s, (unsigned long long)bad[i].min, (unsigned long long)bad[i].max);
    CHECK(config_parse_uint(bad[i].s, bad[i].min, bad[i].max, &v) == -1 && v == 9, what);
  }
  CHECK_INT(config_parse_uint(NULL, 0, 10, &v), -1, "uint: NULL is rejected");
}

/* The largest value of each unit that fits in 64-bit milliseconds, and one
 * more: the scaling must refuse rather than wrap. */
static void test_duration_bounds(void) {
  static const struct {
    const char *s;
    int ok;
    uint64_t ms;
  } t[] = {
      {"18446744073709551s", 1, UINT64_C(18446744073709551000)},
      {"18446744073709552s", 0, 0},
      {"18446744073709551", 1, UINT64_C(18446744073709551000)}, /* bare number: seconds */
      {"18446744073709552", 0, 0},
      {"307445734561825m", 1, UINT64_C(18446744073709500000)},
      {"307445734561826m", 0, 0},
      {"5124095576030h", 1, UINT64_C(18446744073708000000)},
      {"5124095576031h", 0, 0},
      {"0h", 1, 0},
      {"1H", 0, 0},
      {"1S", 0, 0},
      {"1MS", 0, 0},
      {"1sm", 0, 0},
      {"1s\t", 0, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    uint64_t v = 1234;
    char what[100];
    int r = config_parse_duration_ms(t[i].s, &v);
    if (t[i].ok) {
      snprintf(what, sizeof what, "duration '%s' is %llu ms", t[i].s,
               (unsigned long long)t[i].ms);
      CHECK(r == 0 && v == t[i].ms, what);
    } else {
      snprintf(what, sizeof what, "duration '%s' is rejected, output untouched", t[i].s);
      CHECK(r == -1 && v == 1234, what);
    }
  }
  CHECK_INT(config_parse_duration_ms("1s", NULL), -1, "duration: NULL output is rejected");
}

static void test_size_bounds(void) {
  static const struct {
    const char *s;
    int ok;
    uint64_t v;
  } t[] = {
      {"18014398509481983k", 1, UINT64_C(18014398509481983) << 10},
      {"18014398509481984K", 0, 0},
      {"17592186044415m", 1, UINT64_C(17592186044415) << 20},
      {"17592186044416M", 0, 0},
      {"17179869183G", 1, UINT64_C(17179869183) << 30},
      {"0k", 1, 0},
      {"0g", 1, 0},
      {"1kk", 0, 0},
      {"1 ", 0, 0},
      {"k1", 0, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    uint64_t v = 7;
    char what[100];
    int r = config_parse_size(t[i].s, &v);
    if (t[i].ok) {
      snprintf(what, sizeof what, "size '%s' parses to its value", t[i].s);
      CHECK(r == 0 && v == t[i].v, what);
    } else {
      snprintf(what, sizeof what, "size '%s' is rejected, output untouched", t[i].s);
      CHECK(r == -1 && v == 7, what);
    }
  }
  CHECK_INT(config_parse_size(NULL, &(uint64_t){0}), -1, "size: NULL is rejected");
}

static void test_bool_edges(void) {
  int v = 5;
  CHECK(config_parse_bool("TrUe", &v) == 0 && v == 1, "bool: any case");
  v = 5;
  CHECK(config_parse_bool("nO", &v) == 0 && v == 0, "bool: any case (no)");
  v = 5;
  CHECK(config_parse_bool("yes ", &v) == -1 && v == 5, "bool: trailing blank is rejected");
  CHECK_INT(config_parse_bool(NULL, &v), -1, "bool: NULL is rejected");
  CHECK_INT(config_parse_bool("yes", NULL), -1, "bool: NULL output is rejected");
}

static void test_listen_edges(void) {
  gw_listen_t l;
  CHECK_INT(config_parse_listen("127.0.0.1:08080", &l), 0, "listen: leading zero in port");
  CHECK_INT(ntohs(((const struct sockaddr_in *)&l.addr)->sin_port), 8080, "listen: port 8080");
  CHECK_STR(l.text, "127.0.0.1:08080", "listen: text kept as written");

  CHECK_INT(config_parse_listen("[::ffff:127.0.0.1]:80", &l), 0, "listen: v4-mapped v6");
  CHECK_INT(l.addr.ss_family, AF_INET6, "listen: v4-mapped is an IPv6 socket");

  CHECK_INT(config_parse_listen("[0:0:0:0:0:0:0:1]:65535", &l), 0, "listen: long v6 form");
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&l.addr;
  CHECK(memcmp(&a6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0,
        "listen: long v6 form is ::1");

  char longish[100];
  memset(longish, '1', sizeof longish - 1);
  longish[sizeof longish - 1] = '\0';
  static const char *const bad[] = {
      "127.0.0.1:000080", /* six port digits */
      "1.2.3.4:80:90",
      "[::1]:80]",
      "[::1]]:80",
      "[[::1]]:80",
      "[::1]:80 ",
      "1.2.3.4 :80",
      "1.2.3.4:+80",
      "01.2.3.4:80",
      "1.2.3.4.5:80",
      "[::1:80",
      "[:::1]:80",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char what[100];
    memset(&l, 0x5a, sizeof l);
    gw_listen_t before = l;
    snprintf(what, sizeof what, "listen '%s' is rejected, output untouched", bad[i]);
    CHECK(config_parse_listen(bad[i], &l) == -1 && memcmp(&l, &before, sizeof l) == 0, what);
  }
  CHECK_INT(config_parse_listen(longish, &l), -1, "listen: 99 bytes is rejected");
  CHECK_INT(config_parse_listen(NULL, &l), -1, "listen: NULL is rejected");
}

static void check_url(const char *s, const char *host, unsigned port, const char *path,
                      const char *authority) {
  gw_url_t u;
  char what[160];
  int r = config_parse_url(s, &u);
  snprintf(what, sizeof what, "url '%s' parses", s);
  if (!CHECK(r == 0, what)) return;
  snprintf(what, sizeof what, "url '%s' host", s);
  CHECK_STR(u.host, host, what);
  snprintf(what, sizeof what, "url '%s' port", s);
  CHECK_INT(u.port, port, what);
  snprintf(what, sizeof what, "url '%s' path", s);
  CHECK_STR(u.path, path, what);
  snprintf(what, sizeof what, "url '%s' authority", s);
  CHECK_STR(u.authority, authority, what);
  config_url_free(&u);
}

static void test_url_edges(void) {
  /* The default port is the scheme's: 443 is not default for http. */
  check_url("http://h:443", "h", 443, "", "h:443");
  check_url("https://h:80", "h", 80, "", "h:80");
  check_url("HTTPS://H.Example:443", "h.example", 443, "", "h.example");
  check_url("http://h:65535/", "h", 65535, "", "h:65535");
  check_url("http://h:00080", "h", 80, "", "h");
  check_url("http://1.2.3.4/a", "1.2.3.4", 80, "/a", "1.2.3.4");
  check_url("http://h_1.example", "h_1.example", 80, "", "h_1.example");
  check_url("http://[::FFFF:1.2.3.4]:8443", "::ffff:1.2.3.4", 8443, "", "[::ffff:1.2.3.4]:8443");
  /* Empty segments are not dot segments; only trailing '/' are dropped. */
  check_url("http://h/a//b//", "h", 80, "/a//b", "h");
  check_url("http://h//", "h", 80, "", "h");
  check_url("http://h/..a/.b./%2e%2E", "h", 80, "/..a/.b./%2e%2E", "h");
  check_url("http://h/~a-b_c.d!$&'()*+,;=:@", "h", 80, "/~a-b_c.d!$&'()*+,;=:@", "h");

  /* Host length: a DNS name is at most 253 bytes. */
  char buf[300];
  char host[256];
  memset(host, 'a', 253);
  host[253] = '\0';
  snprintf(buf, sizeof buf, "http://%s/", host);
  gw_url_t u;
  CHECK_INT(config_parse_url(buf, &u), 0, "url: 253-byte host");
  CHECK_INT(strlen(u.host ? u.host : ""), 253, "url: 253-byte host kept");
  config_url_free(&u);
  snprintf(buf, sizeof buf, "http://a%s/", host);
  CHECK_INT(config_parse_url(buf, &u), -1, "url: 254-byte host is rejected");

  static const char *const bad[] = {
      "http://1.2.3",       /* all-numeric but not a dotted quad */
      "http://1.2.3.4.5",
      "http://256.0.0.1",
      "http://h:65536/",
      "http://h:123456",
      "http://[::1]:",
      "http://[]/",
      "http://[::1]]/",
      "http://h/a/..",
      "http://h/a/./",
      "http://h/%",
      "http://h/%2",
      "http://h/%g0",
      "http://h/a\x7f",
      "http://h\t/",
      "http://h/a\"b",
      "http://h/a[b]",
      "http://h/a{b}",
      "http://h/a|b",
      "http://h/a^b",
      "http://h/a`b",
      "https:/h",
      "https//h",
      "httpx://h",
      "http://h:8080@evil",
      "http://@h",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char what[120];
    snprintf(what, sizeof what, "url '%s' is rejected, nothing allocated", bad[i]);
    memset(&u, 0x5a, sizeof u);
    int r = config_parse_url(bad[i], &u);
    CHECK(r == -1 && u.host == NULL && u.path == NULL && u.authority == NULL, what);
  }
  CHECK_INT(config_parse_url(NULL, &u), -1, "url: NULL is rejected");
  CHECK(u.host == NULL, "url: NULL input leaves a zeroed url");
  config_url_free(NULL);
}

static void test_origin(void) {
  static const struct {
    const char *s, *want;
  } good[] = {
      {"HTTPS://Example.COM:443", "https://example.com"},
      {"http://h:80", "http://h"},
      {"http://h:8080", "http://h:8080"},
      {"https://h:80", "https://h:80"},
      {"http://h:443", "http://h:443"},
      {"http://[::1]:80", "http://[::1]"},
      {"http://[::1]:8080", "http://[::1]:8080"},
      {"app-1+x.y://h", "app-1+x.y://h"}, /* any RFC 3986 scheme, port kept */
      {"app://h:443", "app://h:443"},
  };
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    char what[100];
    char *o = config_parse_origin(good[i].s);
    snprintf(what, sizeof what, "origin '%s' normalized", good[i].s);
    CHECK_STR(o, good[i].want, what);
    free(o);
  }
  static const char *const bad[] = {
      "", "h", "http://", "http:/h", "1http://h", "-x://h", "http://h/",
      "http://h/x", "http://u@h", "http://h?q", "http://h#f", "http://h:0",
      "http://h:", "http://[::1", "*", "null",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char what[100];
    char *o = config_parse_origin(bad[i]);
    snprintf(what, sizeof what, "origin '%s' is rejected", bad[i]);
    CHECK(o == NULL, what);
    free(o);
  }
}

static void test_words_and_dup(void) {
  char **w;
  size_t n = config_split_words("\vone\f\r\ntwo", &w);
  CHECK(n == 2 && w && strcmp(w[0], "one") == 0 && strcmp(w[1], "two") == 0 && !w[2],
        "split: every ASCII blank separates");
  config_free_words(w);
  n = config_split_words("solo", &w);
  CHECK(n == 1 && w && strcmp(w[0], "solo") == 0 && !w[1], "split: one word");
  config_free_words(w);

  const char *s = "abcdef";
  char *d = gw_dup_range(s + 1, 3);
  CHECK_STR(d, "bcd", "dup_range: the bytes asked for, terminated");
  free(d);
  d = gw_dup_range(s, 0);
  CHECK_STR(d, "", "dup_range: empty range gives an empty string");
  free(d);
  char raw[3] = {'x', 'y', 'z'}; /* not terminated */
  d = gw_dup_range(raw, sizeof raw);
  CHECK_STR(d, "xyz", "dup_range: source need not be terminated");
  free(d);
}

static void test_char_classes(void) {
  const char *ws = " \t\r\n\f\v";
  int all = 1;
  for (const char *p = ws; *p; p++) all = all && gw_is_ws((unsigned char)*p);
  CHECK(all, "is_ws: the six ASCII blanks");
  CHECK(!gw_is_ws(0) && !gw_is_ws('a') && !gw_is_ws(0xa0) && !gw_is_ws(0x85),
        "is_ws: not NUL, letters, or Latin-1 / NEL bytes");

  CHECK(gw_is_alnum('a') && gw_is_alnum('Z') && gw_is_alnum('0') && gw_is_alnum('9'),
        "is_alnum: letters and digits");
  CHECK(!gw_is_alnum('_') && !gw_is_alnum(0xe9) && !gw_is_alnum(0), "is_alnum: ASCII only");

  const char *pchar = "-._~!$&'()*+,;=:@aZ9";
  all = 1;
  for (const char *p = pchar; *p; p++) all = all && gw_is_pchar((unsigned char)*p);
  CHECK(all, "is_pchar: unreserved, sub-delims, ':' and '@'");
  const char *notp = "/?#[]% \"<>\\^`{|}";
  int none = 1;
  for (const char *p = notp; *p; p++) none = none && !gw_is_pchar((unsigned char)*p);
  CHECK(none && !gw_is_pchar(0) && !gw_is_pchar(0x80),
        "is_pchar: not '/', '%', gen-delims, other ASCII, NUL or non-ASCII");

  CHECK(!gw_has_ctl("a\tb c"), "has_ctl: tab and space are not control characters");
  CHECK(gw_has_ctl("a\x01") && gw_has_ctl("\x1f") && gw_has_ctl("a\x7f") && gw_has_ctl("\r"),
        "has_ctl: C0 controls and DEL");
  CHECK(!gw_has_ctl("caf\xc3\xa9") && !gw_has_ctl(""), "has_ctl: UTF-8 and empty are fine");

  char s[] = "AbC-Z\xc3\x89[]@`";
  gw_lower_in_place(s);
  CHECK_STR(s, "abc-z\xc3\x89[]@`", "lower_in_place: ASCII letters only");
}

static void test_errs(void) {
  gw_errors_t e = {0};
  gw_errors_add(&e, NULL, 2, "x");
  gw_errors_add(&e, "f", -1, "neg");
  gw_errors_add(&e, "f", 1, "%s", "");
  CHECK_INT(e.n, 3, "errs: three collected");
  CHECK_STR(e.msgs[0], "(config):2: x", "errs: NULL file reads (config)");
  CHECK_STR(e.msgs[1], "f: neg", "errs: negative line is left out");
  CHECK_STR(e.msgs[2], "f:1: ", "errs: empty body");
  gw_errors_free(&e);
  gw_errors_free(&e); /* twice is harmless */
  gw_errors_add(NULL, "f", 1, "into nothing");
  gw_errors_free(NULL);
  CHECK(1, "errs: NULL sink is a no-op");

  char v60[61], v61[62], msg[200];
  memset(v60, 'v', 60);
  v60[60] = '\0';
  memset(v61, 'w', 61);
  v61[61] = '\0';
  snprintf(msg, sizeof msg, GW_VFMT, GW_VARG(v60));
  CHECK_INT(strlen(msg), 62, "echo: 60 bytes are quoted whole");
  CHECK(msg[0] == '\'' && msg[61] == '\'' && !strstr(msg, "..."), "echo: no ellipsis at 60");
  snprintf(msg, sizeof msg, GW_VFMT, GW_VARG(v61));
  CHECK_INT(strlen(msg), 65, "echo: 61 bytes are cut to 60 and '...'");
  CHECK(strncmp(msg + 61, "...'", 4) == 0, "echo: the cut ends with ...");
  snprintf(msg, sizeof msg, GW_VFMT, GW_VARG(""));
  CHECK_STR(msg, "''", "echo: empty value");
}

int main(void) {
  test_uint();
  test_duration_bounds();
  test_size_bounds();
  test_bool_edges();
  test_listen_edges();
  test_url_edges();
  test_origin();
  test_words_and_dup();
  test_char_classes();
  test_errs();
  return TAP_DONE();
}
