/* test_config: gateway.ini loading, value parsers and the shared INI reader.
 * Fixtures are written into a fresh mkdtemp directory by the test itself. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char tmpdir[256];
static char cfgpath[512];

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
    exit(2);
  }
  fwrite(text, 1, strlen(text), f);
  fclose(f);
}

static gw_config_t *load_text(const char *text, gw_errors_t *e) {
  write_file(cfgpath, text);
  return config_load(cfgpath, e);
}

static void dump_errors(const gw_errors_t *e) {
  for (size_t i = 0; i < e->n; i++) printf("#   error: %s\n", e->msgs[i]);
}

/* Some message starts with exactly "FILE:LINE: " (or "FILE: " for line 0)
 * and contains sub after that prefix. */
static int has_error(const gw_errors_t *e, const char *file, int line, const char *sub) {
  char prefix[700];
  if (line > 0)
    snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
  else
    snprintf(prefix, sizeof prefix, "%s: ", file);
  size_t pl = strlen(prefix);
  for (size_t i = 0; i < e->n; i++)
    if (strncmp(e->msgs[i], prefix, pl) == 0 && strstr(e->msgs[i] + pl, sub)) return 1;
  return 0;
}

/* Loading text must fail with an error at line containing sub; with only,
 * that must be the one and only error (no cascades). */
static void expect_err(int tl, const char *text, int line, const char *sub, int only) {
  gw_errors_t e = {0};
  gw_config_t *cfg = load_text(text, &e);
  char what[300];
  snprintf(what, sizeof what, "(test line %d) error at line %d: %s", tl, line, sub);
  int ok = cfg == NULL && has_error(&e, cfgpath, line, sub) && (!only || e.n == 1);
  CHECK(ok, what);
  if (!ok) {
    if (cfg) printf("#   load unexpectedly succeeded\n");
    if (only && e.n != 1) printf("#   expected exactly one error, got %zu\n", e.n);
    dump_errors(&e);
  }
  config_free(cfg);
  gw_errors_free(&e);
}
#define EXPECT_ERR(text, line, sub) expect_err(__LINE__, text, line, sub, 0)
#define EXPECT_ONLY_ERR(text, line, sub) expect_err(__LINE__, text, line, sub, 1)

static gw_config_t *expect_ok(int tl, const char *text) {
  gw_errors_t e = {0};
  gw_config_t *cfg = load_text(text, &e);
  char what[120];
  snprintf(what, sizeof what, "(test line %d) config loads", tl);
  CHECK(cfg != NULL && e.n == 0, what);
  dump_errors(&e);
  gw_errors_free(&e);
  return cfg;
}
#define EXPECT_OK(text) expect_ok(__LINE__, text)

static char *in_tmp(const char *rel) {
  static char buf[8][600];
  static int k;
  char *b = buf[k++ % 8];
  snprintf(b, sizeof buf[0], "%s/%s", tmpdir, rel);
  return b;
}

/* ------------------------------------------------------------------ */

static void test_duration(void) {
  static const struct {
    const char *s;
    uint64_t ms;
  } good[] = {{"500ms", 500}, {"30s", 30000}, {"5m", 300000}, {"1h", 3600000},
              {"7", 7000},    {"0", 0},       {"0ms", 0},     {"007s", 7000},
              {"18446744073709551615ms", UINT64_MAX}};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    uint64_t v = 1234;
    char what[100];
    snprintf(what, sizeof what, "duration '%s' parses", good[i].s);
    CHECK_INT(config_parse_duration_ms(good[i].s, &v), 0, what);
    snprintf(what, sizeof what, "duration '%s' value", good[i].s);
    CHECK(v == good[i].ms, what);
  }
  static const char *const bad[] = {
      "",     "-1",   "+1",        "1.5s", "10x", "s", "ms", "10 s", " 10s", "10s ",
      "10sec", "5M",  "1d",        "0x10", "10mss",
      "18446744073709551615",       /* seconds overflow when scaled */
      "18446744073709551616ms",     /* digits overflow */
      "5124095576030432h",          /* hours overflow */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    uint64_t v = 1234;
    char what[100];
    snprintf(what, sizeof what, "duration '%s' is rejected, output untouched", bad[i]);
    CHECK(config_parse_duration_ms(bad[i], &v) == -1 && v == 1234, what);
  }
  uint64_t v;
  CHECK_INT(config_parse_duration_ms(NULL, &v), -1, "duration NULL is rejected");
}

static void test_size(void) {
  static const struct {
    const char *s;
    uint64_t v;
  } good[] = {{"16k", 16384},   {"1m", 1048576}, {"1g", 1073741824}, {"1K", 1024},
              {"2M", 2097152},  {"123", 123},    {"0", 0},
              {"18446744073709551615", UINT64_MAX}, {"17179869183g", UINT64_C(17179869183) << 30}};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    uint64_t v = 1;
    char what[100];
    snprintf(what, sizeof what, "size '%s' parses to its value", good[i].s);
    CHECK(config_parse_size(good[i].s, &v) == 0 && v == good[i].v, what);
  }
  static const char *const bad[] = {"",    "-1",  "k",   "1kb", "1t", "1 k", " 1k",
                                    "1k ", "1.5k", "+1", "1b",
                                    "18446744073709551616", "17179869184g", "18014398509481984k"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    uint64_t v = 7;
    char what[100];
    snprintf(what, sizeof what, "size '%s' is rejected", bad[i]);
    CHECK(config_parse_size(bad[i], &v) == -1 && v == 7, what);
  }
}

static void test_bool(void) {
  static const struct {
    const char *s;
    int v;
  } good[] = {{"yes", 1}, {"no", 0},  {"true", 1}, {"false", 0}, {"on", 1},
              {"off", 0}, {"1", 1},   {"0", 0},    {"YES", 1},   {"Off", 0}};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    int v = 5;
    char what[100];
    snprintf(what, sizeof what, "bool '%s'", good[i].s);
    CHECK(config_parse_bool(good[i].s, &v) == 0 && v == good[i].v, what);
  }
  static const char *const bad[] = {"", "2", "y", "n", "yess", "enabled", " yes", "01"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    int v = 5;
    char what[100];
    snprintf(what, sizeof what, "bool '%s' is rejected", bad[i]);
    CHECK(config_parse_bool(bad[i], &v) == -1 && v == 5, what);
  }
}

static void test_listen(void) {
  gw_listen_t l;
  CHECK_INT(config_parse_listen("127.0.0.1:8080", &l), 0, "listen ipv4");
  const struct sockaddr_in *a4 = (const struct sockaddr_in *)&l.addr;
  CHECK_INT(a4->sin_family, AF_INET, "ipv4 family");
  CHECK_INT(ntohs(a4->sin_port), 8080, "ipv4 port");
  CHECK(a4->sin_addr.s_addr == htonl(0x7f000001), "ipv4 address");
  CHECK_INT(l.addrlen, sizeof(struct sockaddr_in), "ipv4 addrlen");
  CHECK_STR(l.text, "127.0.0.1:8080", "ipv4 text as written");

  CHECK_INT(config_parse_listen("[::1]:8443", &l), 0, "listen ipv6");
  const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&l.addr;
  CHECK_INT(a6->sin6_family, AF_INET6, "ipv6 family");
  CHECK_INT(ntohs(a6->sin6_port), 8443, "ipv6 port");
  CHECK(memcmp(&a6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0, "ipv6 address");
  CHECK_INT(l.addrlen, sizeof(struct sockaddr_in6), "ipv6 addrlen");
  CHECK_STR(l.text, "[::1]:8443", "ipv6 text as written");

  CHECK_INT(config_parse_listen("0.0.0.0:65535", &l), 0, "listen wildcard, port 65535");
  CHECK_INT(config_parse_listen("[::]:1", &l), 0, "listen v6 wildcard, port 1");

  static const char *const bad[] = {
      "",          "127.0.0.1",      "127.0.0.1:",   "127.0.0.1:0",     ":8080",
      "8080",      "localhost:8080", "::1:8080",     "[::1]",           "[::1]8080",
      "[::1]:",    "1.2.3.4:65536",  "1.2.3.4:-1",   "1.2.3.4:80x",     "256.1.1.1:80",
      "1.2.3:80",  "[fe80::1%eth0]:80", "[1.2.3.4]:80", "1.2.3.4:123456", " 1.2.3.4:80",
      "1.2.3.4:80 ", "*:80",         "[]:80",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char what[100];
    snprintf(what, sizeof what, "listen '%s' is rejected", bad[i]);
    CHECK_INT(config_parse_listen(bad[i], &l), -1, what);
  }
}

static void test_url(void) {
  gw_url_t u;
  CHECK_INT(config_parse_url("http://127.0.0.1:9001", &u), 0, "url with port");
  CHECK_INT(u.scheme, GW_SCHEME_HTTP, "url scheme http");
  CHECK_STR(u.host, "127.0.0.1", "url host");
  CHECK_INT(u.port, 9001, "url port");
  CHECK_STR(u.path, "", "url no path");
  CHECK_STR(u.authority, "127.0.0.1:9001", "url authority keeps non-default port");
  config_url_free(&u);
  CHECK(u.host == NULL && u.path == NULL && u.authority == NULL, "url_free clears");
  config_url_free(&u); /* twice is harmless */

  CHECK_INT(config_parse_url("https://Example.COM/", &u), 0, "https url with '/'");
  CHECK_INT(u.scheme, GW_SCHEME_HTTPS, "scheme https");
  CHECK_STR(u.host, "example.com", "host lower-cased");
  CHECK_INT(u.port, 443, "default https port");
  CHECK_STR(u.path, "", "path '/' stored as empty");
  CHECK_STR(u.authority, "example.com", "authority without default port");
  config_url_free(&u);

  CHECK_INT(config_parse_url("https://h.example:443/a/b/", &u), 0, "explicit default port");
  CHECK_STR(u.authority, "h.example", "explicit default port omitted from authority");
  CHECK_STR(u.path, "/a/b", "trailing '/' stripped from path");
  config_url_free(&u);

  CHECK_INT(config_parse_url("http://[::1]:8080/x%2Fy;p=1", &u), 0, "ipv6 url");
  CHECK_STR(u.host, "::1", "ipv6 host without brackets");
  CHECK_STR(u.authority, "[::1]:8080", "ipv6 authority with brackets");
  CHECK_STR(u.path, "/x%2Fy;p=1", "path kept as written");
  config_url_free(&u);

  CHECK_INT(config_parse_url("HTTP://h:80", &u), 0, "scheme case-insensitive");
  CHECK_STR(u.authority, "h", "http default port 80 omitted");
  CHECK_INT(u.port, 80, "port 80");
  config_url_free(&u);

  CHECK_INT(config_parse_url("http://[::1]", &u), 0, "ipv6 without port");
  CHECK_STR(u.authority, "[::1]", "ipv6 authority without port");
  CHECK_INT(u.port, 80, "ipv6 default port");
  config_url_free(&u);

  static const char *const bad[] = {
      "",
      "ftp://h",
      "//h/x",
      "h:80",
      "http://",
      "http:///x",
      "http://user@h",
      "http://user:pw@h/x",
      "http://h?x=1",
      "http://h/p?x=1",
      "http://h/#frag",
      "http://h:0",
      "http://h:65536",
      "http://h:",
      "http://h:8o",
      "http://h h",
      "http://h/a b",
      "http://[::1",
      "http://[::1]x",
      "http://[zz::1]/",
      "http://::1/",
      "http://h/a/../b",
      "http://h/./b",
      "http://h/..",
      "http://h/%zz",
      "http://h/%4",
      "http://999.1.1.1/",
      "http://h\\x/",
      "http://h/\x01",
      "http://h/caf\xc3\xa9",
      "http://h/<x>",
      " http://h",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char what[120];
    snprintf(what, sizeof what, "url '%s' is rejected, nothing allocated", bad[i]);
    memset(&u, 0x5a, sizeof u);
    int r = config_parse_url(bad[i], &u);
    CHECK(r == -1 && u.host == NULL && u.path == NULL && u.authority == NULL, what);
  }
}

static void test_split_words(void) {
  char **w;
  size_t n = config_split_words("  a\tb  c \n", &w);
  CHECK_INT(n, 3, "split: three words");
  CHECK(w != NULL, "split: array");
  if (w) {
    CHECK_STR(w[0], "a", "split word 0");
    CHECK_STR(w[1], "b", "split word 1");
    CHECK_STR(w[2], "c", "split word 2");
    CHECK(w[3] == NULL, "split: NULL-terminated");
  }
  config_free_words(w);
  n = config_split_words("", &w);
  CHECK(n == 0 && w != NULL && w[0] == NULL, "split: empty string gives empty array");
  config_free_words(w);
  n = config_split_words(" \t ", &w);
  CHECK(n == 0 && w != NULL && w[0] == NULL, "split: blanks only give empty array");
  config_free_words(w);
  config_free_words(NULL);
}

static void test_errors_sink(void) {
  gw_errors_t e = {0};
  gw_errors_add(&e, "f.ini", 3, "bad %s %d", "thing", 7);
  gw_errors_add(&e, "f.ini", 0, "no line");
  for (int i = 0; i < 20; i++) gw_errors_add(&e, "f.ini", i + 1, "many");
  CHECK_INT(e.n, 22, "errors: all collected");
  CHECK_STR(e.msgs[0], "f.ini:3: bad thing 7", "errors: FILE:LINE: message");
  CHECK_STR(e.msgs[1], "f.ini: no line", "errors: FILE: message without line");
  gw_errors_free(&e);
  CHECK(e.n == 0 && e.msgs == NULL, "errors: freed and reset");
}

/* ------------------------------------------------------------------ */

static void test_full_config(void) {
  const char *text =
      "; full configuration\n"                                             /* 1 */
      "# with every key\n"                                                 /* 2 */
      "[server]\n"                                                         /* 3 */
      "listen = 127.0.0.1:8080          ; may repeat\n"                    /* 4 */
      "listen = [::1]:8081\n"                                              /* 5 */
      "tls_listen = 0.0.0.0:8443\n"                                        /* 6 */
      "tls_listen = [::]:8444\n"                                           /* 7 */
      "tls_cert = tls/server.crt\n"                                        /* 8 */
      "tls_key = /etc/gw/server.key\n"                                     /* 9 */
      "workers = 4\n"                                                      /* 10 */
      "public_url = https://vanguard.profilebehavior.com/\n"               /* 11 */
      "max_header_bytes = 32k\n"                                           /* 12 */
      "header_timeout = 500ms\n"                                           /* 13 */
      "idle_timeout = 2m\n"                                                /* 14 */
      "drain_timeout = 1h\n"                                               /* 15 */
      "max_headers = 50\n"                                                 /* 16 */
      "max_connections = 2000\n"                                           /* 17 */
      "\n"                                                                 /* 18 */
      "[resource]\n"                                                       /* 19 */
      "identifier = https://vanguard.profilebehavior.com\n"                /* 20 */
      "authorization_servers = https://login.profilebehavior.com https://alt.example\n"
      "scopes_supported = profile:read profile:write  mcp\n"               /* 22 */
      "documentation = https://example.invalid/docs\n"                     /* 23 */
      "resource_name = Profile API\n"                                      /* 24 */
      "\n"                                                                 /* 25 */
      "[issuer:login]\n"                                                   /* 26 */
      "iss = https://login.profilebehavior.com\n"                          /* 27 */
      "jwks_uri = https://login.profilebehavior.com/.well-known/jwks.json  ; or:\n"
      "algorithms = RS256 ES256\n"                                         /* 29 */
      "audience = https://aud.example\n"                                   /* 30 */
      "leeway = 10s\n"                                                     /* 31 */
      "refresh_interval = 1m\n"                                            /* 32 */
      "require_typ = at+jwt\n"                                             /* 33 */
      "ca_file = tls/idp-ca.pem\n"                                         /* 34 */
      "\n"                                                                 /* 35 */
      "[issuer:dev]\n"                                                     /* 36 */
      "iss = http://127.0.0.1:9100\n"                                      /* 37 */
      "jwks_file = dev/jwks.json\n"                                        /* 38 */
      "\n"                                                                 /* 39 */
      "[upstream:api]\n"                                                   /* 40 */
      "prefix = /api/v4\n"                                                 /* 41 */
      "url = https://api.internal:9443/base/\n"                            /* 42 */
      "connect_timeout = 3s\n"                                             /* 43 */
      "response_timeout = 45s\n"                                           /* 44 */
      "strip_prefix = yes\n"                                               /* 45 */
      "host = upstream\n"                                                  /* 46 */
      "max_body = 1m\n"                                                    /* 47 */
      "ca_file = tls/up-ca.pem\n"                                          /* 48 */
      "client_cert = tls/client.crt\n"                                     /* 49 */
      "client_key = tls/client.key\n"                                      /* 50 */
      "pool_size = 8\n"                                                    /* 51 */
      "\n"                                                                 /* 52 */
      "[upstream:mcp]\n"                                                   /* 53 */
      "prefix = /mcp\n"                                                    /* 54 */
      "url = http://127.0.0.1:9002\n"                                      /* 55 */
      "resource = https://vanguard.profilebehavior.com/mcp\n"              /* 56 */
      "exclusive_audience = on\n"                                          /* 57 */
      "\n"                                                                 /* 58 */
      "[policy]\n"                                                         /* 59 */
      "file = ../policies/profile-api.ini\n"                               /* 60 */
      "\n"                                                                 /* 61 */
      "[forward]\n"                                                        /* 62 */
      "header.X-Auth-Subject = sub\n"                                      /* 63 */
      "header.X-Auth-Client-Id = client_id\n"                              /* 64 */
      "header.X-Auth-Scopes = scope\n"                                     /* 65 */
      "\n"                                                                 /* 66 */
      "[cors]\n"                                                           /* 67 */
      "allow_origins = https://dashboard.example.com HTTP://Local.Example:80 http://x.example:3000\n"
      "\n"                                                                 /* 69 */
      "[admin]\n"                                                          /* 70 */
      "listen = 127.0.0.1:9999\n"                                          /* 71 */
      "\n"                                                                 /* 72 */
      "[log]\n"                                                            /* 73 */
      "level = warn\n"                                                     /* 74 */
      "access = logs/access.log\n";                                        /* 75 */
  gw_config_t *cfg = EXPECT_OK(text);
  if (!cfg) return;

  CHECK_STR(cfg->path, cfgpath, "path as given");
  CHECK_STR(cfg->dir, tmpdir, "dir of the config file");

  CHECK_INT(cfg->nlisten, 2, "two listen addresses");
  CHECK_STR(cfg->listen[0].text, "127.0.0.1:8080", "listen 0 (inline comment stripped)");
  CHECK_STR(cfg->listen[1].text, "[::1]:8081", "listen 1 ipv6");
  CHECK_INT(cfg->listen[1].addr.ss_family, AF_INET6, "listen 1 family");
  CHECK_INT(cfg->ntls_listen, 2, "two tls_listen addresses");
  CHECK_STR(cfg->tls_listen[0].text, "0.0.0.0:8443", "tls_listen 0");
  CHECK_STR(cfg->tls_listen[1].text, "[::]:8444", "tls_listen 1");
  CHECK_STR(cfg->tls_cert, in_tmp("tls/server.crt"), "tls_cert resolved against config dir");
  CHECK_STR(cfg->tls_key, "/etc/gw/server.key", "absolute tls_key kept");
  CHECK_INT(cfg->workers, 4, "workers");
  CHECK_STR(cfg->public_url, "https://vanguard.profilebehavior.com", "public_url without '/'");
  CHECK_INT(cfg->max_header_bytes, 32768, "max_header_bytes");
  CHECK_INT(cfg->header_timeout_ms, 500, "header_timeout");
  CHECK_INT(cfg->idle_timeout_ms, 120000, "idle_timeout");
  CHECK_INT(cfg->drain_timeout_ms, 3600000, "drain_timeout");
  CHECK_INT(cfg->max_headers, 50, "max_headers");
  CHECK_INT(cfg->max_connections, 2000, "max_connections");

  CHECK_STR(cfg->resource_identifier, "https://vanguard.profilebehavior.com", "identifier");
  CHECK_INT(cfg->nauthorization_servers, 2, "two authorization servers");
  CHECK_STR(cfg->authorization_servers[0], "https://login.profilebehavior.com", "as 0");
  CHECK_STR(cfg->authorization_servers[1], "https://alt.example", "as 1");
  CHECK(cfg->authorization_servers[2] == NULL, "as NULL-terminated");
  CHECK_INT(cfg->nscopes_supported, 3, "three scopes");
  CHECK_STR(cfg->scopes_supported[0], "profile:read", "scope 0");
  CHECK_STR(cfg->scopes_supported[2], "mcp", "scope 2");
  CHECK(cfg->scopes_supported[3] == NULL, "scopes NULL-terminated");
  CHECK_STR(cfg->resource_documentation, "https://example.invalid/docs", "documentation");
  CHECK_STR(cfg->resource_name, "Profile API", "resource_name");

  CHECK_INT(cfg->nissuers, 2, "two issuers");
  const gw_issuer_cfg_t *is = &cfg->issuers[0];
  CHECK_STR(is->name, "login", "issuer name");
  CHECK_STR(is->iss, "https://login.profilebehavior.com", "iss");
  CHECK_STR(is->jwks_uri, "https://login.profilebehavior.com/.well-known/jwks.json", "jwks_uri");
  CHECK(is->jwks_file == NULL, "no jwks_file");
  CHECK_INT(is->nalgorithms, 2, "two algorithms");
  CHECK_STR(is->algorithms[0], "RS256", "alg 0");
  CHECK_STR(is->algorithms[1], "ES256", "alg 1");
  CHECK(is->algorithms[2] == NULL, "algs NULL-terminated");
  CHECK_STR(is->audience, "https://aud.example", "audience");
  CHECK_INT(is->leeway_ms, 10000, "leeway");
  CHECK_INT(is->refresh_interval_ms, 60000, "refresh_interval");
  CHECK_STR(is->require_typ, "at+jwt", "require_typ");
  CHECK_STR(is->ca_file, in_tmp("tls/idp-ca.pem"), "issuer ca_file resolved");
  CHECK_INT(is->line, 26, "issuer line");
  is = &cfg->issuers[1];
  CHECK_STR(is->name, "dev", "issuer 2 name");
  CHECK_STR(is->jwks_file, in_tmp("dev/jwks.json"), "jwks_file resolved");
  CHECK(is->jwks_uri == NULL, "issuer 2 no jwks_uri");
  CHECK_STR(is->audience, "https://vanguard.profilebehavior.com", "audience defaults to identifier");
  CHECK_INT(is->nalgorithms, 6, "default algorithms");
  CHECK_STR(is->algorithms[0], "RS256", "default alg 0");
  CHECK_STR(is->algorithms[5], "ES512", "default alg 5");
  CHECK(is->algorithms[6] == NULL, "default algs NULL-terminated");
  CHECK_INT(is->leeway_ms, 30000, "default leeway");
  CHECK_INT(is->refresh_interval_ms, 300000, "default refresh_interval");
  CHECK(is->require_typ == NULL && is->ca_file == NULL, "issuer 2 optional fields unset");
  CHECK_INT(is->line, 36, "issuer 2 line");

  CHECK_INT(cfg->nupstreams, 2, "two upstreams");
  const gw_upstream_cfg_t *u = &cfg->upstreams[0];
  CHECK_STR(u->name, "api", "upstream name");
  CHECK_STR(u->prefix, "/api/v4", "prefix");
  CHECK_INT(u->prefix_len, 7, "prefix_len");
  CHECK_STR(u->url_text, "https://api.internal:9443/base/", "url_text as written");
  CHECK_INT(u->url.scheme, GW_SCHEME_HTTPS, "url scheme");
  CHECK_STR(u->url.host, "api.internal", "url host");
  CHECK_INT(u->url.port, 9443, "url port");
  CHECK_STR(u->url.path, "/base", "url path");
  CHECK_STR(u->url.authority, "api.internal:9443", "url authority");
  CHECK_INT(u->connect_timeout_ms, 3000, "connect_timeout");
  CHECK_INT(u->response_timeout_ms, 45000, "response_timeout");
  CHECK_INT(u->strip_prefix, 1, "strip_prefix");
  CHECK_INT(u->host_mode, GW_HOST_UPSTREAM, "host = upstream");
  CHECK_INT(u->max_body, 1048576, "max_body");
  CHECK_STR(u->ca_file, in_tmp("tls/up-ca.pem"), "upstream ca_file");
  CHECK_STR(u->client_cert, in_tmp("tls/client.crt"), "client_cert");
  CHECK_STR(u->client_key, in_tmp("tls/client.key"), "client_key");
  CHECK_INT(u->pool_size, 8, "pool_size");
  CHECK(u->resource == NULL, "no own resource");
  CHECK_INT(u->exclusive_audience, 0, "exclusive_audience default");
  CHECK_INT(u->line, 40, "upstream line");
  u = &cfg->upstreams[1];
  CHECK_STR(u->name, "mcp", "upstream 2 name");
  CHECK_STR(u->prefix, "/mcp", "upstream 2 prefix");
  CHECK_INT(u->connect_timeout_ms, 2000, "default connect_timeout");
  CHECK_INT(u->response_timeout_ms, 30000, "default response_timeout");
  CHECK_INT(u->strip_prefix, 0, "default strip_prefix");
  CHECK_INT(u->host_mode, GW_HOST_PRESERVE, "default host preserve");
  CHECK_INT(u->max_body, 0, "default max_body unlimited");
  CHECK_INT(u->pool_size, 64, "default pool_size");
  CHECK_STR(u->resource, "https://vanguard.profilebehavior.com/mcp", "own resource");
  CHECK_INT(u->exclusive_audience, 1, "exclusive_audience");
  CHECK(u->ca_file == NULL && u->client_cert == NULL && u->client_key == NULL, "no tls files");
  CHECK_STR(u->url.authority, "127.0.0.1:9002", "upstream 2 authority");

  CHECK_STR(cfg->policy_file, in_tmp("../policies/profile-api.ini"), "policy file resolved");

  CHECK_INT(cfg->nforward, 3, "three forward headers");
  CHECK_STR(cfg->forward[0].header, "X-Auth-Subject", "forward 0 header");
  CHECK_STR(cfg->forward[0].claim, "sub", "forward 0 claim");
  CHECK_STR(cfg->forward[1].header, "X-Auth-Client-Id", "forward 1 header");
  CHECK_STR(cfg->forward[1].claim, "client_id", "forward 1 claim");
  CHECK_STR(cfg->forward[2].header, "X-Auth-Scopes", "forward 2 header");
  CHECK_STR(cfg->forward[2].claim, "scope", "forward 2 claim");

  CHECK_INT(cfg->ncors_origins, 3, "three cors origins");
  CHECK_STR(cfg->cors_origins[0], "https://dashboard.example.com", "origin 0");
  CHECK_STR(cfg->cors_origins[1], "http://local.example", "origin 1 normalized");
  CHECK_STR(cfg->cors_origins[2], "http://x.example:3000", "origin 2 keeps port");
  CHECK(cfg->cors_origins[3] == NULL, "origins NULL-terminated");

  CHECK_INT(cfg->admin_enabled, 1, "admin enabled");
  CHECK_STR(cfg->admin_listen.text, "127.0.0.1:9999", "admin listen");

  CHECK_INT(cfg->log_level, GW_LOG_WARN, "log level");
  CHECK_STR(cfg->access_log, in_tmp("logs/access.log"), "access log resolved");
  config_free(cfg);
}

static void test_defaults(void) {
  gw_config_t *cfg = EXPECT_OK("");
  if (cfg) {
    CHECK_INT(cfg->nlisten, 1, "default: one listen");
    CHECK_STR(cfg->listen[0].text, "127.0.0.1:8080", "default listen");
    CHECK_INT(cfg->listen[0].addr.ss_family, AF_INET, "default listen family");
    CHECK_INT(ntohs(((struct sockaddr_in *)&cfg->listen[0].addr)->sin_port), 8080,
              "default listen port");
    CHECK_INT(cfg->ntls_listen, 0, "default: no tls_listen");
    CHECK(cfg->tls_cert == NULL && cfg->tls_key == NULL, "default: no tls files");
    CHECK_INT(cfg->workers, 0, "default workers");
    CHECK_STR(cfg->public_url, "http://127.0.0.1:8080", "default public_url from listen");
    CHECK_INT(cfg->max_header_bytes, 16384, "default max_header_bytes");
    CHECK_INT(cfg->max_headers, 100, "default max_headers");
    CHECK_INT(cfg->header_timeout_ms, 10000, "default header_timeout");
    CHECK_INT(cfg->idle_timeout_ms, 60000, "default idle_timeout");
    CHECK_INT(cfg->drain_timeout_ms, 30000, "default drain_timeout");
    CHECK_INT(cfg->max_connections, 10000, "default max_connections");
    CHECK(cfg->resource_identifier == NULL, "default: no identifier");
    CHECK(cfg->authorization_servers != NULL && cfg->authorization_servers[0] == NULL &&
              cfg->nauthorization_servers == 0,
          "default: empty authorization_servers array");
    CHECK(cfg->scopes_supported == NULL && cfg->nscopes_supported == 0,
          "default: scopes_supported NULL");
    CHECK(cfg->resource_documentation == NULL && cfg->resource_name == NULL,
          "default: no documentation/name");
    CHECK(cfg->nissuers == 0 && cfg->nupstreams == 0, "zero issuers and upstreams allowed");
    CHECK(cfg->policy_file == NULL, "default: no policy");
    CHECK(cfg->nforward == 0, "default: no forward headers");
    CHECK(cfg->cors_origins == NULL && cfg->ncors_origins == 0, "default: no cors");
    CHECK_INT(cfg->admin_enabled, 0, "default: admin disabled");
    CHECK_INT(cfg->log_level, GW_LOG_INFO, "default log level");
    CHECK_STR(cfg->access_log, "-", "default access log stdout");
    config_free(cfg);
  }

  cfg = EXPECT_OK("[resource]\nidentifier = https://r.example/\n[admin]\n[log]\naccess = off\n"
                  "[server]\nlisten = 10.1.2.3:81\n");
  if (cfg) {
    CHECK_STR(cfg->public_url, "https://r.example", "public_url defaults to identifier minus '/'");
    CHECK_STR(cfg->resource_identifier, "https://r.example/", "identifier kept verbatim");
    CHECK_INT(cfg->admin_enabled, 1, "empty [admin] enables admin");
    CHECK_STR(cfg->admin_listen.text, "127.0.0.1:9901", "default admin listen");
    CHECK(cfg->access_log == NULL, "access = off gives NULL");
    CHECK_INT(cfg->nlisten, 1, "explicit listen replaces default");
    CHECK_STR(cfg->listen[0].text, "10.1.2.3:81", "explicit listen");
    config_free(cfg);
  }

  cfg = EXPECT_OK("[server]\nlisten = [::1]:8080\n[log]\naccess = -\nlevel = debug\n");
  if (cfg) {
    CHECK_STR(cfg->public_url, "http://[::1]:8080", "public_url from ipv6 listen");
    CHECK_STR(cfg->access_log, "-", "access = - is stdout");
    CHECK_INT(cfg->log_level, GW_LOG_DEBUG, "level debug");
    config_free(cfg);
  }

  cfg = EXPECT_OK("[log]\nlevel = error\n[cors]\nallow_origins = *\n");
  if (cfg) {
    CHECK_INT(cfg->log_level, GW_LOG_ERROR, "level error");
    CHECK(cfg->ncors_origins == 1 && strcmp(cfg->cors_origins[0], "*") == 0, "cors '*'");
    config_free(cfg);
  }

  /* A config named without a directory resolves paths against the cwd. */
  char cwd[512];
  if (getcwd(cwd, sizeof cwd) && chdir(tmpdir) == 0) {
    write_file("bare.ini", "[policy]\nfile = p.ini\n");
    gw_errors_t e = {0};
    cfg = config_load("bare.ini", &e);
    CHECK(cfg != NULL, "bare file name loads");
    if (cfg) {
      CHECK_STR(cfg->dir, ".", "dir of a bare file name");
      CHECK_STR(cfg->policy_file, "p.ini", "path next to a bare file name");
    }
    config_free(cfg);
    gw_errors_free(&e);
    unlink("bare.ini");
    if (chdir(cwd) != 0) printf("# cannot chdir back\n");
  }
}

static void test_syntax(void) {
  /* comments, inline comments, blanks, CRLF, BOM, indentation */
  gw_config_t *cfg = EXPECT_OK(
      "\xef\xbb\xbf; BOM then comment\r\n"
      "  # indented comment\r\n"
      "\r\n"
      "  [server]   ; header comment\r\n"
      "\tlisten = 127.0.0.1:8081 ; inline\r\n"
      "workers=2\r\n");
  if (cfg) {
    CHECK_STR(cfg->listen[0].text, "127.0.0.1:8081", "indented key, inline comment, CRLF");
    CHECK_INT(cfg->workers, 2, "no blanks around '='");
    config_free(cfg);
  }

  cfg = EXPECT_OK("[server] # hash comment after header\n"
                  "workers = 3 ; inline comment\n"
                  "[resource]\n"
                  "resource_name = A # hash is not an inline comment\n"
                  "documentation = https://d.example/x;y\n");
  if (cfg) {
    CHECK_INT(cfg->workers, 3, "inline ' ; comment' stripped");
    CHECK_STR(cfg->resource_name, "A # hash is not an inline comment", "'#' kept inside a value");
    CHECK_STR(cfg->resource_documentation, "https://d.example/x;y", "';' without blank kept");
    config_free(cfg);
  }

  cfg = EXPECT_OK("\xef\xbb\xbf[server]\r\nworkers = 5\r\n");
  if (cfg) {
    CHECK_INT(cfg->workers, 5, "BOM before header, CRLF lines");
    config_free(cfg);
  }

  /* Indented line after a key is a key of its own, not a continuation. */
  cfg = EXPECT_OK("[server]\nlisten = 127.0.0.1:1\n    listen = 127.0.0.1:2\n");
  if (cfg) {
    CHECK_INT(cfg->nlisten, 2, "indented key is not a continuation line");
    config_free(cfg);
  }
}

static void test_parse_errors(void) {
  EXPECT_ONLY_ERR("[server]\nworkers = 1\n[bogus]\nx = 1\ny = 2\n", 3, "unknown section [bogus]");
  EXPECT_ONLY_ERR("[server]\nworkers = 1\nlisten_addr = 1.2.3.4:5\n", 3,
                  "unknown key 'listen_addr' in [server]");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nretries = 3\n", 4,
                  "unknown key 'retries' in [upstream:a]");
  EXPECT_ONLY_ERR("[server]\nworkers = 1\n\nworkers = 2\n", 4,
                  "duplicate key 'workers' in [server] (first at line 2)");
  EXPECT_ONLY_ERR("[issuer:x]\niss = https://i\njwks_file = j\niss = https://j\naudience = a\n", 4,
                  "duplicate key 'iss' in [issuer:x]");
  EXPECT_ONLY_ERR("[server]\nworkers = 1\n[log]\n[server]\nworkers = 1\n", 4,
                  "duplicate section [server] (first at line 1)");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\n[upstream:a]\nprefix = /b\nurl = "
                  "http://h\n",
                  4, "duplicate section [upstream:a]");
  EXPECT_ONLY_ERR("[issuer:a]\niss = https://a\njwks_file = a\naudience = x\n[issuer:a]\n", 5,
                  "duplicate section [issuer:a]");
  EXPECT_ONLY_ERR("[issuer]\niss = https://a\n", 1, "needs a name");
  EXPECT_ONLY_ERR("[upstream:]\n", 1, "invalid upstream name");
  EXPECT_ONLY_ERR("[upstream:a b]\n", 1, "invalid upstream name");
  EXPECT_ONLY_ERR("workers = 1\n[server]\n", 1, "outside of any section");
  EXPECT_ONLY_ERR("[server]\nworkers\n", 2, "expected 'name = value'");
  EXPECT_ONLY_ERR("[server]\nlisten 127.0.0.1:8080\n", 2, "expected '='");
  EXPECT_ONLY_ERR("[server]\nworkers: 2\n", 2, "expected '='");
  EXPECT_ONLY_ERR("[server]\n= 2\n", 2, "missing key name");
  EXPECT_ONLY_ERR("[server\nworkers = 1\n", 1, "without closing ']'");
  EXPECT_ONLY_ERR("[server ; x]\n", 1, "without closing ']'");
  EXPECT_ONLY_ERR("[server] junk\n", 1, "unexpected text after section header");
  EXPECT_ONLY_ERR("[]\nx = 1\n", 1, "empty section name");
  EXPECT_ONLY_ERR("[server]\nworkers =\n", 2, "empty value for 'workers'");
  EXPECT_ONLY_ERR("[server]\nworkers =    ; only a comment\n", 2, "empty value for 'workers'");
  EXPECT_ONLY_ERR("[resource]\nresource_name = a\x01" "b\n", 2, "control character");
  EXPECT_ONLY_ERR("[Server]\n", 1, "unknown section [Server]");
  EXPECT_ONLY_ERR("[server]\nWorkers = 1\n", 2, "unknown key 'Workers'");
}

static void test_value_errors(void) {
  EXPECT_ONLY_ERR("[server]\nworkers = 257\n", 2, "workers: expected a whole number from 0 to 256");
  EXPECT_ONLY_ERR("[server]\nworkers = -1\n", 2, "workers");
  EXPECT_ONLY_ERR("[server]\nworkers = 99999999999999999999999\n", 2, "workers");
  EXPECT_ONLY_ERR("[server]\nmax_header_bytes = 512\n", 2, "max_header_bytes: expected a size from 1k to 1m");
  EXPECT_ONLY_ERR("[server]\nmax_header_bytes = 2m\n", 2, "max_header_bytes");
  EXPECT_ONLY_ERR("[server]\nmax_header_bytes = 16kb\n", 2, "max_header_bytes");
  EXPECT_ONLY_ERR("[server]\nheader_timeout = 10 s\n", 2, "header_timeout: invalid duration");
  EXPECT_ONLY_ERR("[server]\nheader_timeout = 0\n", 2, "header_timeout: must be at least");
  EXPECT_ONLY_ERR("[server]\nidle_timeout = forever\n", 2, "idle_timeout: invalid duration");
  EXPECT_ONLY_ERR("[server]\ndrain_timeout = -5s\n", 2, "drain_timeout: invalid duration");
  EXPECT_ONLY_ERR("[server]\nmax_headers = 0\n", 2, "max_headers");
  EXPECT_ONLY_ERR("[server]\nmax_connections = 0\n", 2, "max_connections");
  EXPECT_ONLY_ERR("[server]\nlisten = localhost:8080\n", 2, "listen: invalid address 'localhost:8080'");
  EXPECT_ONLY_ERR("[server]\nlisten = 127.0.0.1:0\n", 2, "listen: invalid address");
  EXPECT_ONLY_ERR("[server]\nlisten = ::1:8080\n", 2, "listen: invalid address");
  EXPECT_ONLY_ERR("[server]\ntls_listen = 1.2.3.4\ntls_cert = c\ntls_key = k\n", 2,
                  "tls_listen: invalid address");
  EXPECT_ONLY_ERR("[server]\npublic_url = ftp://x\n", 2, "public_url: invalid URL");
  EXPECT_ONLY_ERR("[server]\npublic_url = https://x/?a=1\n", 2, "public_url: invalid URL");
  EXPECT_ONLY_ERR("[resource]\nidentifier = vanguard\n", 2, "identifier: invalid URL");
  EXPECT_ONLY_ERR("[resource]\nauthorization_servers = https://a notaurl\n", 2,
                  "authorization_servers: invalid URL 'notaurl'");
  EXPECT_ONLY_ERR("[resource]\nscopes_supported = a b a\n", 2, "'a' listed twice");
  EXPECT_ONLY_ERR("[resource]\nscopes_supported = a \"b\"\n", 2, "invalid scope");
  EXPECT_ONLY_ERR("[resource]\ndocumentation = docs\n", 2, "documentation: invalid URL");
  EXPECT_ONLY_ERR("[log]\nlevel = verbose\n", 2, "level: expected debug, info, warn or error");
  EXPECT_ONLY_ERR("[admin]\nlisten = 9901\n", 2, "listen: invalid address");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nstrip_prefix = maybe\n", 4,
                  "strip_prefix: expected yes/no");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nexclusive_audience = 2\n", 4,
                  "exclusive_audience: expected yes/no");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nhost = client\n", 4,
                  "host: expected 'preserve' or 'upstream'");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nmax_body = 1x\n", 4,
                  "max_body: invalid size");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nconnect_timeout = 0ms\n", 4,
                  "connect_timeout: must be at least");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nresponse_timeout = 1y\n", 4,
                  "response_timeout: invalid duration");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\npool_size = lots\n", 4, "pool_size");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = tcp://h\n", 3, "url: invalid URL 'tcp://h'");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://u@h\n", 3, "url: invalid URL");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h/x#y\n", 3, "url: invalid URL");
  EXPECT_ONLY_ERR("[issuer:a]\naudience = x\niss = https://a\nleeway = soon\njwks_file = j\n", 4,
                  "leeway: invalid duration");
  EXPECT_ONLY_ERR("[issuer:a]\niss = https://a\njwks_file = j\nrefresh_interval = 500ms\naudience = x\n", 4,
                  "refresh_interval: must be at least 1000ms");
  EXPECT_ONLY_ERR("[issuer:a]\niss = https://a\njwks_file = j\nrequire_typ = JWT\naudience = x\n", 4,
                  "require_typ: only 'at+jwt'");
  EXPECT_ONLY_ERR("[issuer:a]\niss = https://a\njwks_file = j\naudience = a b\n", 4,
                  "audience: one value expected");
  EXPECT_ONLY_ERR("[issuer:a]\niss = https://a\njwks_uri = file:///j\naudience = x\n", 3, "jwks_uri: invalid URL");
  EXPECT_ONLY_ERR("[issuer:a]\niss = not a url\njwks_file = j\naudience = x\n", 2, "iss: invalid URL");
}

static void test_algorithms(void) {
  const char *head = "[resource]\nidentifier = https://r\n[issuer:a]\niss = https://a\njwks_file = j\n";
  char buf[512];
  snprintf(buf, sizeof buf, "%salgorithms = RS256 none\n", head);
  EXPECT_ONLY_ERR(buf, 6, "'none' is never accepted");
  snprintf(buf, sizeof buf, "%salgorithms = HS256\n", head);
  EXPECT_ONLY_ERR(buf, 6, "'HS256' is never accepted with JWKS keys");
  snprintf(buf, sizeof buf, "%salgorithms = ES256 hs512\n", head);
  EXPECT_ONLY_ERR(buf, 6, "'hs512' is never accepted with JWKS keys");
  snprintf(buf, sizeof buf, "%salgorithms = HS384 NONE\n", head);
  EXPECT_ERR(buf, 6, "'HS384' is never accepted");
  EXPECT_ERR(buf, 6, "'none' is never accepted");
  snprintf(buf, sizeof buf, "%salgorithms = RS256 EdDSA\n", head);
  EXPECT_ONLY_ERR(buf, 6, "unknown algorithm 'EdDSA'");
  snprintf(buf, sizeof buf, "%salgorithms = rs256\n", head);
  EXPECT_ONLY_ERR(buf, 6, "unknown algorithm 'rs256'");
  snprintf(buf, sizeof buf, "%salgorithms = RS256 RS256\n", head);
  EXPECT_ONLY_ERR(buf, 6, "'RS256' listed twice");
  snprintf(buf, sizeof buf, "%salgorithms = PS256 PS384 PS512 RS384 RS512 ES384 ES512\n", head);
  gw_config_t *cfg = EXPECT_OK(buf);
  if (cfg) {
    CHECK_INT(cfg->issuers[0].nalgorithms, 7, "PS* and others accepted");
    CHECK_STR(cfg->issuers[0].algorithms[0], "PS256", "PS256 first");
    config_free(cfg);
  }
}

static void test_validation(void) {
  /* upstreams */
  EXPECT_ONLY_ERR("[upstream:a]\nurl = http://h\n", 1, "[upstream:a] needs prefix");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\n", 1, "[upstream:a] needs url");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = a\nurl = http://h\n", 2, "prefix 'a' must start with '/'");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a/\nurl = http://h\n", 2, "must not end with '/'");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /\nurl = http://h\n", 2, "must not be '/' alone");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a//b\nurl = http://h\n", 2, "must not contain '//'");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a/./b\nurl = http://h\n", 2, "'.' or '..' segments");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a/..\nurl = http://h\n", 2, "'.' or '..' segments");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a?x\nurl = http://h\n", 2, "must not contain '?' or '#'");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a#x\nurl = http://h\n", 2, "must not contain '?' or '#'");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a%2Fb\nurl = http://h\n", 2, "must not contain '%'");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a b\nurl = http://h\n", 2, "whitespace");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\tb\nurl = http://h\n", 2, "whitespace");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\\b\nurl = http://h\n", 2, "not allowed in a path");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\n[upstream:b]\nprefix = /a\nurl = "
                  "http://g\n",
                  5, "prefix '/a' is already used by [upstream:a] (line 2)");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nca_file = ca.pem\n", 4,
                  "ca_file only applies to an https:// url");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = https://h\nclient_cert = c.pem\n", 4,
                  "client_cert without client_key");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = https://h\nclient_key = k.pem\n", 4,
                  "client_key without client_cert");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nresource = https://r.example/\n", 4,
                  "needs a path");
  EXPECT_ONLY_ERR("[upstream:a]\nprefix = /a\nurl = http://h\nresource = https://r/x\n"
                  "[upstream:b]\nprefix = /b\nurl = http://h\nresource = https://r/x\n",
                  8, "is already used by [upstream:a]");

  /* issuers */
  EXPECT_ONLY_ERR("[resource]\nidentifier = https://r\n[issuer:a]\njwks_file = j\n", 3,
                  "[issuer:a] needs iss");
  EXPECT_ONLY_ERR("[resource]\nidentifier = https://r\n[issuer:a]\niss = https://a\n", 3,
                  "[issuer:a] needs jwks_uri or jwks_file");
  EXPECT_ONLY_ERR("[resource]\nidentifier = https://r\n[issuer:a]\niss = https://a\n"
                  "jwks_uri = https://a/j\njwks_file = j\n",
                  6, "jwks_uri and jwks_file are mutually exclusive");
  EXPECT_ONLY_ERR("[resource]\nidentifier = https://r\n[issuer:a]\niss = https://a\n"
                  "jwks_file = j\nca_file = ca.pem\n",
                  6, "ca_file only applies to an https:// jwks_uri");
  EXPECT_ONLY_ERR("[resource]\nidentifier = https://r\n[issuer:a]\niss = https://a\n"
                  "jwks_uri = http://a/j\nca_file = ca.pem\n",
                  6, "ca_file only applies to an https:// jwks_uri");
  EXPECT_ONLY_ERR("[resource]\nidentifier = https://r\n[issuer:a]\niss = https://a\njwks_file = "
                  "j\n[issuer:b]\niss = https://a\njwks_file = k\n",
                  7, "iss 'https://a' is already used by [issuer:a]");
  EXPECT_ONLY_ERR("[issuer:a]\niss = https://a\njwks_file = j\n", 1,
                  "[issuer:a] has no audience: set audience here or identifier in [resource]");
  gw_config_t *cfg = EXPECT_OK("[issuer:a]\niss = https://a\njwks_file = j\naudience = urn:x\n");
  if (cfg) {
    CHECK_STR(cfg->issuers[0].audience, "urn:x", "explicit audience without identifier");
    config_free(cfg);
  }
  /* Section order must not matter: [resource] after the issuer. */
  cfg = EXPECT_OK("[issuer:a]\niss = https://a\njwks_file = j\n[resource]\nidentifier = https://r\n");
  if (cfg) {
    CHECK_STR(cfg->issuers[0].audience, "https://r", "audience default with [resource] later");
    config_free(cfg);
  }

  /* server */
  EXPECT_ONLY_ERR("[server]\ntls_listen = 0.0.0.0:8443\ntls_cert = c.pem\n", 2,
                  "tls_listen needs both tls_cert and tls_key");
  EXPECT_ONLY_ERR("[server]\ntls_listen = 0.0.0.0:8443\n", 2, "tls_listen needs both");
  EXPECT_ONLY_ERR("[server]\ntls_key = k.pem\n", 2, "tls_key without tls_cert");
  EXPECT_ONLY_ERR("[server]\ntls_cert = c.pem\n", 2, "tls_cert without tls_key");
  EXPECT_ONLY_ERR("[server]\nlisten = 127.0.0.1:80\nlisten = 127.0.0.1:80\n", 3,
                  "address 127.0.0.1:80 conflicts with 127.0.0.1:80 (line 2)");
  EXPECT_ONLY_ERR("[server]\nlisten = 0.0.0.0:80\nlisten = 127.0.0.1:80\n", 3, "conflicts with 0.0.0.0:80");
  EXPECT_ONLY_ERR("[server]\nlisten = 127.0.0.1:80\ntls_listen = [::]:443\ntls_listen = [::1]:443\n"
                  "tls_cert = c\ntls_key = k\n",
                  4, "conflicts with [::]:443");
  EXPECT_ONLY_ERR("[admin]\nlisten = 127.0.0.1:8080\n", 2,
                  "conflicts with the default listen address 127.0.0.1:8080");
  EXPECT_ONLY_ERR("[server]\nlisten = 127.0.0.1:9901\n[admin]\n", 3, "conflicts with 127.0.0.1:9901");
  {
    char buf[2048];
    size_t o = (size_t)snprintf(buf, sizeof buf, "[server]\n");
    for (int i = 0; i < GW_MAX_LISTEN + 1; i++)
      o += (size_t)snprintf(buf + o, sizeof buf - o, "listen = 127.0.0.1:%d\n", 1000 + i);
    EXPECT_ONLY_ERR(buf, GW_MAX_LISTEN + 2, "listen: too many addresses (max 16)");
  }
  cfg = EXPECT_OK("[server]\nlisten = 127.0.0.1:80\nlisten = [::1]:80\nlisten = 127.0.0.2:80\n");
  if (cfg) {
    CHECK_INT(cfg->nlisten, 3, "same port on different addresses and families is fine");
    config_free(cfg);
  }

  /* policy, forward, cors */
  EXPECT_ONLY_ERR("[policy]\n", 1, "[policy] needs file");
  EXPECT_ONLY_ERR("[cors]\n", 1, "[cors] needs allow_origins");
  EXPECT_ONLY_ERR("[forward]\nX-Auth-Subject = sub\n", 2, "unknown key 'X-Auth-Subject' in [forward]");
  EXPECT_ONLY_ERR("[forward]\nheader.Host = sub\n", 2, "header 'Host' cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.authorization = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.Content-Length = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.Transfer-Encoding = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.Connection = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.Keep-Alive = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.Upgrade = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.TE = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.Proxy-Authorization = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.x-forwarded-user = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.X-Forwarded-For = sub\n", 2, "cannot carry a claim");
  EXPECT_ONLY_ERR("[forward]\nheader.X Auth = sub\n", 2, "not a valid HTTP header name");
  EXPECT_ONLY_ERR("[forward]\nheader.X(Auth) = sub\n", 2, "not a valid HTTP header name");
  EXPECT_ONLY_ERR("[forward]\nheader. = sub\n", 2, "empty header name");
  EXPECT_ONLY_ERR("[forward]\nheader.X-Sub =\n", 2, "empty claim name");
  EXPECT_ONLY_ERR("[forward]\nheader.X-Sub = a b\n", 2, "invalid claim name");
  EXPECT_ONLY_ERR("[forward]\nheader.X-Sub = sub\nheader.x-sub = client_id\n", 3,
                  "duplicate key 'header.x-sub' in [forward] (first at line 2)");
  EXPECT_ONLY_ERR("[cors]\nallow_origins = * https://a\n", 2, "'*' must be the only value");
  EXPECT_ONLY_ERR("[cors]\nallow_origins = https://a/\n", 2, "invalid origin 'https://a/'");
  EXPECT_ONLY_ERR("[cors]\nallow_origins = https://a/app\n", 2, "invalid origin");
  EXPECT_ONLY_ERR("[cors]\nallow_origins = a.example\n", 2, "invalid origin");
  EXPECT_ONLY_ERR("[cors]\nallow_origins = https://a:0\n", 2, "invalid origin");
  EXPECT_ONLY_ERR("[cors]\nallow_origins = https://u@a\n", 2, "invalid origin");
  EXPECT_ONLY_ERR("[cors]\nallow_origins = https://a https://A:443\n", 2, "listed twice");
  cfg = EXPECT_OK("[cors]\nallow_origins = https://[::1]:8443 app-x://h\n");
  if (cfg) {
    CHECK_STR(cfg->cors_origins[0], "https://[::1]:8443", "ipv6 origin");
    CHECK_STR(cfg->cors_origins[1], "app-x://h", "other scheme origin");
    config_free(cfg);
  }
}

static void test_many_errors(void) {
  const char *text = "[server]\n"                    /* 1 */
                     "workers = many\n"              /* 2 */
                     "listen = nowhere\n"            /* 3 */
                     "bogus = 1\n"                   /* 4 */
                     "[weird]\n"                     /* 5 */
                     "anything = goes\n"             /* 6 */
                     "[upstream:a]\n"                /* 7 */
                     "prefix = /a/\n"                /* 8 */
                     "[issuer:i]\n"                  /* 9 */
                     "algorithms = none\n"           /* 10 */
                     "[log]\n"                       /* 11 */
                     "level = loud\n"                /* 12 */
                     "level = quiet\n";              /* 13 */
  gw_errors_t e = {0};
  gw_config_t *cfg = load_text(text, &e);
  CHECK(cfg == NULL, "many errors: load fails");
  CHECK(has_error(&e, cfgpath, 2, "workers"), "many errors: workers at 2");
  CHECK(has_error(&e, cfgpath, 3, "listen: invalid address"), "many errors: listen at 3");
  CHECK(has_error(&e, cfgpath, 4, "unknown key 'bogus'"), "many errors: unknown key at 4");
  CHECK(has_error(&e, cfgpath, 5, "unknown section [weird]"), "many errors: section at 5");
  CHECK(has_error(&e, cfgpath, 7, "needs url"), "many errors: missing url at 7");
  CHECK(has_error(&e, cfgpath, 8, "must not end with '/'"), "many errors: prefix at 8");
  CHECK(has_error(&e, cfgpath, 9, "needs iss"), "many errors: missing iss at 9");
  CHECK(has_error(&e, cfgpath, 9, "needs jwks_uri or jwks_file"), "many errors: jwks at 9");
  CHECK(has_error(&e, cfgpath, 9, "has no audience"), "many errors: audience at 9");
  CHECK(has_error(&e, cfgpath, 10, "'none' is never accepted"), "many errors: none at 10");
  CHECK(has_error(&e, cfgpath, 12, "level"), "many errors: level at 12");
  CHECK(has_error(&e, cfgpath, 13, "duplicate key 'level'"), "many errors: duplicate at 13");
  CHECK_INT(e.n, 12, "many errors: exactly these, nothing for the unknown section's keys");
  if (e.n != 12) dump_errors(&e);
  config_free(cfg);
  gw_errors_free(&e);
}

static void test_long_lines(void) {
  /* 3000-byte scope list, read whole */
  size_t cap = 40000;
  char *buf = malloc(cap);
  char *val = malloc(cap);
  if (!buf || !val) return;
  size_t o = 0;
  int nscopes = 0;
  while (o < 3000) {
    o += (size_t)snprintf(val + o, cap - o, "%sscope%04d:read", o ? " " : "", nscopes);
    nscopes++;
  }
  snprintf(buf, cap, "[resource]\nscopes_supported = %s\n", val);
  gw_config_t *cfg = EXPECT_OK(buf);
  if (cfg) {
    CHECK_INT(cfg->nscopes_supported, nscopes, "3000-byte value: every scope read");
    char last[32];
    snprintf(last, sizeof last, "scope%04d:read", nscopes - 1);
    CHECK_STR(cfg->scopes_supported[nscopes - 1], last, "3000-byte value: last scope intact");
    config_free(cfg);
  }

  /* exactly GW_INI_MAX_LINE bytes is accepted */
  const char *pre = "resource_name = ";
  size_t plen = strlen(pre);
  memcpy(buf, "[resource]\n", 11);
  o = 11;
  memcpy(buf + o, pre, plen);
  o += plen;
  size_t vlen = GW_INI_MAX_LINE - plen;
  memset(buf + o, 'n', vlen);
  o += vlen;
  memcpy(buf + o, "\n", 2);
  cfg = EXPECT_OK(buf);
  if (cfg) {
    CHECK_INT(strlen(cfg->resource_name), vlen, "line of exactly the maximum read whole");
    config_free(cfg);
  }

  /* one byte more: error with its line number, later lines still checked */
  o = 0;
  o += (size_t)snprintf(buf + o, cap - o, "[server]\nworkers = 1\n[resource]\nresource_name = ");
  memset(buf + o, 'x', GW_INI_MAX_LINE + 1 - plen);
  o += GW_INI_MAX_LINE + 1 - plen;
  o += (size_t)snprintf(buf + o, cap - o, "\n[server]\n");
  gw_errors_t e = {0};
  cfg = load_text(buf, &e);
  char msg[120];
  snprintf(msg, sizeof msg, "line too long (%d bytes, max %d)", GW_INI_MAX_LINE + 1, GW_INI_MAX_LINE);
  CHECK(cfg == NULL, "over-long line: load fails");
  CHECK(has_error(&e, cfgpath, 4, msg), "over-long line: FILE:4: line too long (N bytes, max M)");
  CHECK(has_error(&e, cfgpath, 5, "duplicate section [server]"), "over-long line: line count stays right");
  CHECK_INT(e.n, 2, "over-long line: two errors");
  if (e.n != 2) dump_errors(&e);
  config_free(cfg);
  gw_errors_free(&e);

  /* an over-long comment line must not leak a key out of its tail */
  o = 0;
  o += (size_t)snprintf(buf + o, cap - o, "[server]\n; ");
  memset(buf + o, 'c', 20000);
  o += 20000;
  o += (size_t)snprintf(buf + o, cap - o, " workers = 7\n");
  e = (gw_errors_t){0};
  cfg = load_text(buf, &e);
  CHECK(cfg == NULL && has_error(&e, cfgpath, 2, "line too long (20014 bytes, max 16384)"),
        "over-long comment: error, tail not parsed");
  CHECK_INT(e.n, 1, "over-long comment: nothing else");
  config_free(cfg);
  gw_errors_free(&e);

  /* 300-byte lines in a row (well over inih's default 200-byte buffer) */
  o = (size_t)snprintf(buf, cap, "[forward]\n");
  for (int i = 0; i < 3; i++) {
    o += (size_t)snprintf(buf + o, cap - o, "header.X-H%d = ", i);
    memset(buf + o, 'a' + i, 300);
    o += 300;
    buf[o++] = '\n';
    buf[o] = '\0';
  }
  cfg = EXPECT_OK(buf);
  if (cfg) {
    CHECK_INT(cfg->nforward, 3, "three 300-byte lines: three keys");
    CHECK_INT(strlen(cfg->forward[2].claim), 300, "300-byte value whole");
    config_free(cfg);
  }
  free(buf);
  free(val);
}

/* ------------------------------------------------------------------ */
/* config_ini_parse on its own, as the policy loader uses it */

typedef struct {
  char log[4096];
  size_t len;
  int fail_on_line;
} rec_t;

static int rec_handler(void *user, const char *section, const char *name, const char *value,
                       int lineno) {
  rec_t *r = user;
  if (name)
    r->len += (size_t)snprintf(r->log + r->len, sizeof r->log - r->len, "%d:[%s]%s=%s|", lineno,
                               section, name, value);
  else
    r->len += (size_t)snprintf(r->log + r->len, sizeof r->log - r->len, "%d:[%s]|", lineno,
                               section);
  if (r->len >= sizeof r->log) r->len = sizeof r->log - 1;
  return lineno != r->fail_on_line;
}

static void test_ini_reader(void) {
  char *p = in_tmp("reader.ini");
  write_file(p, "top = 1\n"
                "\n"
                "[GET,HEAD /api/v4/profiles/{id}/settings/notifications/**]\n"
                "scopes = profile:read ; comment\n"
                "[empty]\n"
                "[empty]\n"
                "  key =  spaced value  \n"
                "v = a=b:c\n");
  rec_t r = {.len = 0, .fail_on_line = -1};
  gw_errors_t e = {0};
  int rc = config_ini_parse(p, rec_handler, &r, &e);
  CHECK_INT(rc, 0, "reader: parses");
  CHECK_INT(e.n, 0, "reader: no errors");
  CHECK_STR(r.log,
            "1:[]top=1|"
            "3:[GET,HEAD /api/v4/profiles/{id}/settings/notifications/**]|"
            "4:[GET,HEAD /api/v4/profiles/{id}/settings/notifications/**]scopes=profile:read|"
            "5:[empty]|6:[empty]|7:[empty]key=spaced value|8:[empty]v=a=b:c|",
            "reader: sections (full, uncut), NULL calls per header, 1-based line numbers");

  r = (rec_t){.len = 0, .fail_on_line = 2};
  write_file(p, "[a]\nx = 1\ny = 2\n");
  rc = config_ini_parse(p, rec_handler, &r, &e);
  CHECK_INT(rc, -1, "reader: handler failure gives -1");
  CHECK_STR(r.log, "1:[a]|2:[a]x=1|3:[a]y=2|", "reader: keeps going after a handler failure");
  CHECK_INT(e.n, 0, "reader: handler reports its own errors");

  r = (rec_t){.len = 0, .fail_on_line = -1};
  write_file(p, "[a\nx = 1\n[b]\ny = 2\nnovalue\n");
  rc = config_ini_parse(p, rec_handler, &r, &e);
  CHECK_INT(rc, -1, "reader: malformed lines give -1");
  CHECK_STR(r.log, "3:[b]|4:[b]y=2|", "reader: keys under a broken header are skipped");
  CHECK(has_error(&e, p, 1, "without closing ']'"), "reader: broken header at line 1");
  CHECK(has_error(&e, p, 5, "expected 'name = value'"), "reader: no '=' at line 5");
  CHECK_INT(e.n, 2, "reader: two errors");
  gw_errors_free(&e);

  {
    FILE *f = fopen(p, "wb");
    if (f) {
      fwrite("[a]\nx = 1\0y\n", 1, 12, f);
      fclose(f);
    }
  }
  r = (rec_t){.len = 0, .fail_on_line = -1};
  rc = config_ini_parse(p, rec_handler, &r, &e);
  CHECK(rc == -1 && has_error(&e, p, 2, "NUL byte"), "reader: NUL byte is an error");
  gw_errors_free(&e);

  write_file(p, "[a]\nlast = no newline at end");
  r = (rec_t){.len = 0, .fail_on_line = -1};
  rc = config_ini_parse(p, rec_handler, &r, &e);
  CHECK_INT(rc, 0, "reader: last line without newline");
  CHECK_STR(r.log, "1:[a]|2:[a]last=no newline at end|", "reader: last line read");
  gw_errors_free(&e);
  unlink(p);

  rc = config_ini_parse(in_tmp("does-not-exist.ini"), rec_handler, &r, &e);
  CHECK_INT(rc, -1, "reader: missing file");
  CHECK(has_error(&e, in_tmp("does-not-exist.ini"), 0, "cannot open: No such file or directory"),
        "reader: FILE: cannot open: strerror");
  gw_errors_free(&e);

  rc = config_ini_parse(tmpdir, rec_handler, &r, &e);
  CHECK(rc == -1 && has_error(&e, tmpdir, 0, "cannot read"), "reader: directory is an error");
  gw_errors_free(&e);
}

static void test_cannot_open(void) {
  gw_errors_t e = {0};
  char *p = in_tmp("missing/gateway.ini");
  gw_config_t *cfg = config_load(p, &e);
  CHECK(cfg == NULL, "missing file: NULL");
  CHECK_INT(e.n, 1, "missing file: one error");
  char want[700];
  snprintf(want, sizeof want, "%s: cannot open: No such file or directory", p);
  CHECK_STR(e.n ? e.msgs[0] : NULL, want, "missing file: FILE: cannot open: strerror");
  gw_errors_free(&e);
}

static void test_spec_example(void) {
  /* conf/gateway.ini as shown in the product contract (jwks_uri form). */
  gw_config_t *cfg = EXPECT_OK(
      "[server]\n"
      "listen = 127.0.0.1:8080          ; may repeat; host:port, [v6]:port\n"
      "tls_listen = 0.0.0.0:8443        ; optional; needs tls_cert and tls_key\n"
      "tls_cert = tls/server.crt\n"
      "tls_key = tls/server.key\n"
      "workers = 0                      ; 0 = one event loop per CPU\n"
      "public_url = https://vanguard.profilebehavior.com  ; external base URL\n"
      "max_header_bytes = 16k\n"
      "header_timeout = 10s             ; whole request head must arrive within this\n"
      "idle_timeout = 60s               ; keep-alive idle; never cuts an active SSE stream\n"
      "drain_timeout = 30s\n"
      "\n"
      "[resource]\n"
      "identifier = https://vanguard.profilebehavior.com   ; the RFC 8707 resource\n"
      "authorization_servers = https://login.profilebehavior.com   ; space-separated list\n"
      "; scopes_supported defaults to every scope named in the policy file\n"
      "documentation = https://example.invalid/docs        ; optional\n"
      "\n"
      "[issuer:login]                   ; one section per trusted issuer; NAME is free\n"
      "iss = https://login.profilebehavior.com\n"
      "jwks_uri = https://login.profilebehavior.com/.well-known/jwks.json  ; or:\n"
      "algorithms = RS256 ES256         ; allowlist\n"
      "                                 ; `none` and HS* with JWKS keys are never accepted\n"
      "audience = https://vanguard.profilebehavior.com   ; default: [resource] identifier\n"
      "leeway = 30s                     ; clock skew for exp/nbf/iat\n"
      "refresh_interval = 5m            ; JWKS refetch\n"
      "; ca_file = tls/idp-ca.pem       ; https:// jwks_uri: CA bundle\n"
      "\n"
      "[upstream:api]\n"
      "prefix = /api/v4\n"
      "url = http://127.0.0.1:9001      ; http:// or https://\n"
      "connect_timeout = 2s\n"
      "response_timeout = 30s           ; from request fully sent to first response byte\n"
      "; max_body = 0                   ; 0 = unlimited (streamed); else 413 when exceeded\n"
      "\n"
      "[upstream:mcp]\n"
      "prefix = /mcp\n"
      "url = http://127.0.0.1:9002\n"
      "; resource = https://vanguard.profilebehavior.com/mcp   ; optional\n"
      "\n"
      "[policy]\n"
      "file = ../policies/profile-api.ini\n"
      "\n"
      "[forward]                        ; identity headers set on forwarded requests\n"
      "header.X-Auth-Subject = sub\n"
      "header.X-Auth-Client-Id = client_id\n"
      "header.X-Auth-Scopes = scope\n"
      "\n"
      "[cors]                           ; optional\n"
      "allow_origins = https://dashboard.example.com   ; space-separated, or *\n"
      "\n"
      "[admin]\n"
      "listen = 127.0.0.1:9901          ; /metrics, /healthz, /readyz\n"
      "\n"
      "[log]\n"
      "level = info\n"
      "access = -                       ; `-` = stdout, else a file path\n");
  if (cfg) {
    CHECK_STR(cfg->public_url, "https://vanguard.profilebehavior.com", "spec: public_url");
    CHECK_INT(cfg->issuers[0].nalgorithms, 2, "spec: algorithms");
    CHECK_STR(cfg->upstreams[1].url.authority, "127.0.0.1:9002", "spec: mcp authority");
    CHECK_STR(cfg->access_log, "-", "spec: access stdout");
    config_free(cfg);
  }
}

/* ------------------------------------------------------------------ */
/* [m2m]: the built-in M2M token issuer's section (added with gateway/m2m.c;
 * the clients file and the signing key are checked by m2m_load(), see
 * tests/unit/test_m2m.c). */

static void test_m2m_section(void) {
  const char *res = "[resource]\nidentifier = https://api.example.com\n";
  char text[2048];

  /* Absent: defaults, disabled. */
  gw_config_t *cfg = EXPECT_OK(res);
  if (cfg) {
    CHECK_INT(cfg->m2m.enabled, 0, "m2m: disabled by default");
    CHECK_INT(cfg->m2m.line, 0, "m2m: no section line");
    CHECK_INT(cfg->m2m.lifetime_ms, 3600000, "m2m: default lifetime 1h");
    CHECK_INT(cfg->m2m.max_failures, 5, "m2m: default max_failures");
    CHECK_INT(cfg->m2m.lockout_ms, 300000, "m2m: default lockout 5m");
    CHECK_STR(cfg->m2m.jwks_path, "/.well-known/m2m-jwks.json", "m2m: default jwks_path");
    CHECK_STR(cfg->m2m.token_path, "/api/v4/auth", "m2m: default token_path");
    CHECK_STR(cfg->m2m.audience, "https://api.example.com", "m2m: audience from [resource]");
    CHECK(cfg->m2m.issuer == NULL && cfg->m2m.signing_key == NULL && cfg->m2m.kid == NULL &&
              cfg->m2m.clients_file == NULL,
          "m2m: nothing else set");
    config_free(cfg);
  }

  /* Every key. */
  snprintf(text, sizeof text,
           "%s"
           "[m2m]\n"                                     /* line 3 */
           "enable = yes\n"
           "issuer = https://gw.example.com\n"
           "signing_key = keys/m2m.pem\n"                /* line 6 */
           "kid = m2m-2024\n"
           "lifetime = 30m\n"
           "audience = urn:example:api\n"
           "clients = /etc/gateway/m2m-clients.ini\n"    /* line 10 */
           "jwks_path = /.well-known/jwks.json\n"
           "token_path = /oauth/token\n"
           "max_failures = 10\n"
           "lockout = 15m\n",
           res);
  cfg = EXPECT_OK(text);
  if (cfg) {
    CHECK_INT(cfg->m2m.enabled, 1, "m2m: enabled");
    CHECK_INT(cfg->m2m.line, 3, "m2m: section line");
    CHECK_STR(cfg->m2m.issuer, "https://gw.example.com", "m2m: issuer");
    CHECK_STR(cfg->m2m.signing_key, in_tmp("keys/m2m.pem"), "m2m: signing_key relative to the config");
    CHECK_INT(cfg->m2m.signing_key_line, 6, "m2m: signing_key line");
    CHECK_STR(cfg->m2m.kid, "m2m-2024", "m2m: kid");
    CHECK_INT(cfg->m2m.lifetime_ms, 1800000, "m2m: lifetime");
    CHECK_STR(cfg->m2m.audience, "urn:example:api", "m2m: audience");
    CHECK_STR(cfg->m2m.clients_file, "/etc/gateway/m2m-clients.ini", "m2m: absolute clients");
    CHECK_INT(cfg->m2m.clients_line, 10, "m2m: clients line");
    CHECK_STR(cfg->m2m.jwks_path, "/.well-known/jwks.json", "m2m: jwks_path");
    CHECK_STR(cfg->m2m.token_path, "/oauth/token", "m2m: token_path");
    CHECK_INT(cfg->m2m.max_failures, 10, "m2m: max_failures");
    CHECK_INT(cfg->m2m.lockout_ms, 900000, "m2m: lockout");
    config_free(cfg);
  }

  /* Disabled: required keys are not required, values still checked. */
  snprintf(text, sizeof text, "%s[m2m]\nenable = no\nlifetime = 2h\n", res);
  cfg = EXPECT_OK(text);
  if (cfg) {
    CHECK_INT(cfg->m2m.lifetime_ms, 7200000, "m2m: disabled section still parsed");
    config_free(cfg);
  }
  snprintf(text, sizeof text, "%s[m2m]\nenable = no\nlifetime = 2d\n", res);
  EXPECT_ONLY_ERR(text, 5, "lifetime: expected whole seconds from 1m to 24h");

  /* Enabled without the required keys: each named, at the section line. */
  snprintf(text, sizeof text, "%s\n[m2m]\nenable = yes\n", res);
  EXPECT_ERR(text, 4, "[m2m] is enabled but has no issuer");
  EXPECT_ERR(text, 4, "[m2m] is enabled but has no signing_key");
  EXPECT_ERR(text, 4, "[m2m] is enabled but has no clients");
  EXPECT_ONLY_ERR("[m2m]\nenable = yes\nissuer = https://gw.example.com\n"
                  "signing_key = k.pem\nclients = c.ini\n",
                  1, "[m2m] has no audience");

  /* Values. */
  static const struct {
    const char *line;
    const char *msg;
  } bad[] = {
      {"enable = maybe", "enable: expected yes/no"},
      {"issuer = gw.example.com", "issuer: invalid URL"},
      {"kid = two words", "kid 'two words' must be printable ASCII"},
      {"kid = a\"b", "must be printable ASCII"},
      {"lifetime = 59s", "lifetime: expected whole seconds from 1m to 24h"},
      {"lifetime = 25h", "lifetime: expected whole seconds from 1m to 24h"},
      {"lifetime = 90500ms", "lifetime: expected whole seconds"},
      {"lifetime = soon", "lifetime: expected whole seconds"},
      {"audience = a b", "audience: one value expected"},
      {"jwks_path = /jwks.json", "jwks_path '/jwks.json' must start with /.well-known/"},
      {"jwks_path = /.well-known/../x", "must not contain '.' or '..' segments"},
      {"jwks_path = /.well-known/oauth-protected-resource", "taken by the protected-resource"},
      {"jwks_path = /.well-known/oauth-protected-resource/m2m", "taken by the protected-resource"},
      {"token_path = api/v4/auth", "token_path 'api/v4/auth' must start with '/'"},
      {"token_path = /api/v4/auth/", "must not end with '/'"},
      {"token_path = /.well-known/m2m-jwks.json", "token_path and jwks_path are the same path"},
      {"max_failures = 1001", "max_failures: expected a whole number from 0 to 1000"},
      {"max_failures = -1", "max_failures: expected a whole number"},
      {"lockout = 0", "lockout: expected whole seconds from 1s to 24h"},
      {"lockout = 1500ms", "lockout: expected whole seconds"},
      {"lockout = 2d", "lockout: expected whole seconds"},
      {"color = blue", "unknown key 'color' in [m2m]"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(text, sizeof text, "%s[m2m]\n%s\n", res, bad[i].line);
    EXPECT_ONLY_ERR(text, 4, bad[i].msg);
  }
  snprintf(text, sizeof text, "%s[m2m]\nenable = no\n[m2m]\n", res);
  EXPECT_ONLY_ERR(text, 5, "duplicate section [m2m] (first at line 3)");
  snprintf(text, sizeof text, "%s[m2m]\nkid = a\nkid = b\n", res);
  EXPECT_ONLY_ERR(text, 5, "duplicate key 'kid' in [m2m]");
  snprintf(text, sizeof text, "%s[m2m]\nlifetime = 1m\nmax_failures = 0\nlockout = 24h\n", res);
  cfg = EXPECT_OK(text);
  if (cfg) {
    CHECK(cfg->m2m.lifetime_ms == 60000 && cfg->m2m.max_failures == 0 &&
              cfg->m2m.lockout_ms == 86400000,
          "m2m: bounds are inclusive; max_failures 0 allowed");
    config_free(cfg);
  }
}

/* [tls:NAME] (SNI certificates) and tls_ticket_rotate. */
static void test_tls_sections(void) {
#define TLS_SRV "[server]\ntls_listen = 127.0.0.1:8443\ntls_cert = d.crt\ntls_key = d.key\n"
  gw_config_t *cfg = EXPECT_OK(TLS_SRV
                               "tls_ticket_rotate = 90s\n"
                               "[tls:api]\nserver_names = API.Example.com *.Wild.example.com\n"
                               "cert = tls/api.crt\nkey = /abs/api.key\n"
                               "[tls:other]\nserver_names = other.test\ncert = o.crt\nkey = o.key\n");
  if (cfg) {
    CHECK_INT(cfg->tls_ticket_rotate_ms, 90000, "tls_ticket_rotate = 90s");
    CHECK_INT(cfg->ntls_certs, 2, "two [tls:NAME] sections");
    CHECK_STR(cfg->tls_certs[0].name, "api", "first section name");
    CHECK_INT(cfg->tls_certs[0].nserver_names, 2, "two names");
    CHECK_STR(cfg->tls_certs[0].server_names[0], "api.example.com", "names are lower-cased");
    CHECK_STR(cfg->tls_certs[0].server_names[1], "*.wild.example.com", "wildcard kept");
    CHECK(cfg->tls_certs[0].server_names[2] == NULL, "names NULL-terminated");
    CHECK_STR(cfg->tls_certs[0].cert, in_tmp("tls/api.crt"), "cert resolved against config dir");
    CHECK_STR(cfg->tls_certs[0].key, "/abs/api.key", "absolute key path kept");
    CHECK_INT(cfg->tls_certs[0].cert_line, 8, "cert line kept for load errors");
    CHECK_STR(cfg->tls_certs[1].server_names[0], "other.test", "second section");
    config_free(cfg);
  }
  cfg = EXPECT_OK(TLS_SRV);
  if (cfg) {
    CHECK_INT(cfg->tls_ticket_rotate_ms, 3600000, "tls_ticket_rotate default 1h");
    CHECK_INT(cfg->ntls_certs, 0, "no SNI certificates by default");
    config_free(cfg);
  }
  EXPECT_ONLY_ERR("[tls:a]\nserver_names = a.test\ncert = c\nkey = k\n", 1,
                  "[tls:a] without tls_listen in [server]");
  EXPECT_ONLY_ERR(TLS_SRV "[tls:a]\ncert = c\nkey = k\n", 5, "[tls:a] needs server_names");
  EXPECT_ONLY_ERR(TLS_SRV "[tls:a]\nserver_names = a.test\nkey = k\n", 5, "[tls:a] needs cert");
  EXPECT_ONLY_ERR(TLS_SRV "[tls:a]\nserver_names = a.test\ncert = c\n", 5, "[tls:a] needs key");
  EXPECT_ONLY_ERR(TLS_SRV "[tls]\n", 5, "section [tls] needs a name: [tls:NAME]");
  EXPECT_ONLY_ERR(TLS_SRV "[tls:a]\nserver_names = a.test\ncert = c\nkey = k\nsni = x\n", 9,
                  "unknown key 'sni' in [tls:a]");
  EXPECT_ONLY_ERR(TLS_SRV "[tls:a]\nserver_names = a.test\ncert = c\nkey = k\n"
                          "[tls:a]\nserver_names = b.test\ncert = c\nkey = k\n",
                  9, "duplicate section [tls:a] (first at line 5)");
  EXPECT_ONLY_ERR(TLS_SRV "[tls:a]\nserver_names = a.test\ncert = c\nkey = k\n"
                          "[tls:b]\nserver_names = b.test A.TEST\ncert = c\nkey = k\n",
                  10, "server_names: a.test is already listed in [tls:a]");
  EXPECT_ONLY_ERR(TLS_SRV "[tls:a]\nserver_names = a.test x.test a.test\ncert = c\nkey = k\n", 6,
                  "a.test is already listed in [tls:a]");
  static const char *const bad_names[] = {
      "a..b", ".a.b", "a.b.", "-a.b", "a-.b", "a.*.b", "*", "*.", "**.a", "a_b.c",
      "a%b", "*a.b", "xn--\xc3\xa9.test", "a.b:443",
  };
  for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
    char text[512];
    snprintf(text, sizeof text, TLS_SRV "[tls:a]\nserver_names = ok.test %s\ncert = c\nkey = k\n",
             bad_names[i]);
    EXPECT_ERR(text, 6, "server_names: invalid host name");
  }
  {
    char text[700], label[70];
    memset(label, 'a', 64);
    label[64] = 0;
    snprintf(text, sizeof text, TLS_SRV "[tls:a]\nserver_names = %s.test\ncert = c\nkey = k\n", label);
    EXPECT_ONLY_ERR(text, 6, "invalid host name");
    label[63] = 0;
    snprintf(text, sizeof text, TLS_SRV "[tls:a]\nserver_names = %s.test\ncert = c\nkey = k\n", label);
    cfg = EXPECT_OK(text);
    config_free(cfg);
  }
  EXPECT_ONLY_ERR(TLS_SRV "tls_ticket_rotate = 500ms\n", 5, "tls_ticket_rotate: must be at least 1000ms");
  EXPECT_ONLY_ERR(TLS_SRV "tls_ticket_rotate = 1500ms\n", 5, "expected whole seconds from 1s to 24h");
  EXPECT_ONLY_ERR(TLS_SRV "tls_ticket_rotate = 25h\n", 5, "expected whole seconds from 1s to 24h");
  EXPECT_ONLY_ERR("[server]\ntls_ticket_rotate = 1h\n", 2, "tls_ticket_rotate without tls_listen");
#undef TLS_SRV
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/gwcfg.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpdir)) {
    printf("Bail out! mkdtemp: %s\n", strerror(errno));
    return 2;
  }
  snprintf(cfgpath, sizeof cfgpath, "%s/gateway.ini", tmpdir);

  test_duration();
  test_size();
  test_bool();
  test_listen();
  test_url();
  test_split_words();
  test_errors_sink();
  test_full_config();
  test_defaults();
  test_syntax();
  test_parse_errors();
  test_value_errors();
  test_algorithms();
  test_validation();
  test_many_errors();
  test_long_lines();
  test_ini_reader();
  test_cannot_open();
  test_spec_example();
  test_m2m_section();
  test_tls_sections();

  unlink(cfgpath);
  rmdir(tmpdir);
  return TAP_DONE();
}
