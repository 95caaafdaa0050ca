/* test_m2m_clients: the clients file module (gateway/m2m_clients.c) on its
 * own: loading into entries, looking them up, secrets against their
 * hashes, the stand-in for unknown ids, and narrowing scopes. (The file's
 * errors, line by line, are in test_m2m through m2m_load.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "m2m.h"
#include "m2m_clients.h"
#include "tap.h"

#define ITER 100000

static char dir[64] = "/tmp/test_m2m_clients.XXXXXX";

int main(void) {
  if (!mkdtemp(dir)) {
    printf("Bail out! mkdtemp\n");
    return 2;
  }
  char h1[GW_M2M_HASH_MAX], h2[GW_M2M_HASH_MAX];
  CHECK_INT(m2m_hash_secret("s3cret", 6, ITER, h1, sizeof h1), 0, "hash: made");
  CHECK_INT(m2m_hash_secret("other", 5, ITER + 1, h2, sizeof h2), 0, "hash: another made");
  CHECK_INT(m2m_hash_secret("x", 1, ITER, h2, 0), -1, "hash: no room: -1");

  char path[128], text[1024];
  snprintf(path, sizeof path, "%s/clients.ini", dir);
  snprintf(text, sizeof text,
           "[client:demo]\nsecret = %s\nscopes = profiles:read tags:manage\n\n"
           "[client:slow.one]\nscopes = a\nsecret = %s\n",
           h1, h2);
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
    printf("Bail out! cannot write %s\n", path);
    return 2;
  }
  gw_config_t cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.m2m.clients_file = path;
  gw_errors_t errs = {0};
  m2m_client_t *c = NULL;
  size_t n = 0;
  CHECK_INT(m2m_clients_load(&cfg, &errs, &c, &n), 0, "load: 0");
  CHECK_INT(errs.n, 0, "load: no errors");
  CHECK_INT(n, 2, "load: two clients");

  const m2m_client_t *demo = m2m_client_find(c, n, "demo", 4);
  CHECK(demo && demo == &c[0], "find: demo");
  CHECK(m2m_client_find(c, n, "dem", 3) == NULL, "find: a prefix is not the id");
  CHECK(m2m_client_find(c, n, "demox", 4) == &c[0], "find: by length, not by NUL");
  CHECK(m2m_client_find(c, n, "DEMO", 4) == NULL, "find: case-sensitive");
  CHECK(demo && demo->nscopes == 2 && strcmp(demo->scopes[1], "tags:manage") == 0,
        "load: scopes in file order");
  CHECK(demo && demo->iterations == ITER && demo->salt_len == 16 && demo->hash_len == 32,
        "load: the hash's parts");
  CHECK(demo && demo->line == 1 && demo->secret_line == 2 && demo->scopes_line == 3,
        "load: lines kept for messages");

  CHECK_INT(m2m_client_check_secret(demo, "s3cret", 6), 1, "secret: the right one");
  CHECK_INT(m2m_client_check_secret(demo, "s3cre", 5), 0, "secret: a prefix");
  CHECK_INT(m2m_client_check_secret(demo, "s3cret!", 7), 0, "secret: longer");
  CHECK_INT(m2m_client_check_secret(&c[1], "other", 5), 1, "secret: the other client's");

  m2m_client_t dummy;
  CHECK_INT(m2m_client_dummy(&dummy, c, n), 0, "dummy: made");
  CHECK_INT(dummy.iterations, ITER + 1, "dummy: as slow as the slowest client");
  CHECK_INT(m2m_client_check_secret(&dummy, "s3cret", 6), 0, "dummy: matches no secret");

  char bad[72] = "unset";
  int invalid = -1;
  char *s = m2m_client_grant_scopes(demo, NULL, 0, bad, sizeof bad, &invalid);
  CHECK_STR(s, "profiles:read tags:manage", "scopes: none asked: all");
  CHECK_INT(invalid, 0, "scopes: ... valid");
  free(s);
  s = m2m_client_grant_scopes(demo, "   ", 3, bad, sizeof bad, &invalid);
  CHECK_STR(s, "profiles:read tags:manage", "scopes: blank: all");
  free(s);
  s = m2m_client_grant_scopes(demo, " tags:manage  tags:manage ", 26, bad, sizeof bad, &invalid);
  CHECK_STR(s, "tags:manage", "scopes: narrowed, a repeat counted once");
  free(s);
  s = m2m_client_grant_scopes(demo, "tags:manage profiles:read", 25, bad, sizeof bad, &invalid);
  CHECK_STR(s, "profiles:read tags:manage", "scopes: in the client's order");
  free(s);
  s = m2m_client_grant_scopes(demo, "profiles:read profiles:write", 28, bad, sizeof bad,
                              &invalid);
  CHECK(s == NULL && invalid == 1, "scopes: one the client lacks: invalid");
  CHECK_STR(bad, "profiles:write", "scopes: ... named in bad");
  s = m2m_client_grant_scopes(demo, "a\"b", 3, bad, sizeof bad, &invalid);
  CHECK(s == NULL && invalid == 1 && bad[0] == '\0',
        "scopes: not a scope-token: invalid, not quoted");
  s = m2m_client_grant_scopes(demo, "profiles:read tags", 13, bad, sizeof bad, &invalid);
  CHECK_STR(s, "profiles:read", "scopes: only rlen bytes are read");
  free(s);

  m2m_clients_free(c, n);
  gw_errors_free(&errs);

  /* A bad file: -1, the errors, and nothing to free. */
  f = fopen(path, "w");
  if (!f || fputs("[client:demo]\nsecret = plain\nscopes = a\n", f) < 0 || fclose(f) != 0) {
    printf("Bail out! cannot write %s\n", path);
    return 2;
  }
  c = (m2m_client_t *)1;
  n = 7;
  CHECK_INT(m2m_clients_load(&cfg, &errs, &c, &n), -1, "bad file: -1");
  CHECK(c == NULL && n == 0, "bad file: no clients returned");
  CHECK(errs.n == 1 && strstr(errs.msgs[0], ":2: secret of [client:demo]: plain-text"),
        "bad file: the error at its line");
  gw_errors_free(&errs);

  unlink(path);
  rmdir(dir);
  return TAP_DONE();
}
