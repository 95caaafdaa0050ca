/* mcpsess (gateway/lib/mcpsess.h): MCP session ids bound to a principal by
 * a MAC (SPEC "MCP upstreams", Sessions). A binding must check only for the
 * principal and key it was made with, and not survive any change to its
 * bytes; the key file must give the same key on every load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mcpsess.h"
#include "tap.h"

static char tmpdir[64];

static const char *write_tmp(const char *name, const char *data, size_t n) {
  static char path[160];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n) {
    perror(path);
    exit(2);
  }
  fclose(f);
  return path;
}

static size_t princ(char *out, size_t cap, const char *iss, const char *sub, const char *cid) {
  return mcpsess_principal(out, cap, iss, strlen(iss), sub, strlen(sub), cid, strlen(cid));
}

/* check() on an exact-length copy, so that ASan sees a read past n. */
static int check(const unsigned char *key, const char *p, size_t pl, const char *s, size_t n,
                 size_t *sl) {
  char *c = malloc(n ? n : 1);
  memcpy(c, s, n);
  int ok = mcpsess_check(key, p, pl, c, n, sl);
  free(c);
  return ok;
}

static unsigned char key1[MCPSESS_KEY_LEN], key2[MCPSESS_KEY_LEN];

static void test_bind_check(void) {
  char p1[256], p2[256], out[MCPSESS_SID_MAX + 64];
  size_t l1 = princ(p1, sizeof p1, "https://issuer.example", "user-1", "client-a");
  size_t l2 = princ(p2, sizeof p2, "https://issuer.example", "user-2", "client-a");
  CHECK(l1 > 0 && l2 > 0, "principals fit");
  const char *sid = "3f2a9c1e-5b7d-4e8f-9a0b-1c2d3e4f5a6b";
  size_t sidlen = strlen(sid);
  size_t n = mcpsess_bind(key1, p1, l1, sid, sidlen, out, sizeof out);
  CHECK_INT(n, sidlen + 1 + MCPSESS_MAC_CHARS, "bind: sid '.' MAC");
  CHECK(memcmp(out, sid, sidlen) == 0 && out[sidlen] == '.', "bind: starts with the server's id and '.'");
  int b64 = 1;
  for (size_t i = sidlen + 1; i < n; i++)
    if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", out[i])) b64 = 0;
  CHECK(b64, "bind: the MAC is base64url");

  size_t sl = 0;
  CHECK(check(key1, p1, l1, out, n, &sl) == 1, "check: round-trips");
  CHECK_INT(sl, sidlen, "check: gives the server id's length");
  char again[sizeof out];
  CHECK(mcpsess_bind(key1, p1, l1, sid, sidlen, again, sizeof again) == n && memcmp(again, out, n) == 0,
        "bind: deterministic");
  CHECK(!check(key1, p2, l2, out, n, &sl), "check: another principal fails");
  CHECK(!check(key2, p1, l1, out, n, &sl), "check: another key fails");

  /* one character changed anywhere: in the id, the '.', the MAC */
  int flips_failed = 0;
  for (size_t i = 0; i < n; i++) {
    char c[sizeof out];
    memcpy(c, out, n);
    c[i] = c[i] == 'A' ? 'B' : 'A';
    if (!check(key1, p1, l1, c, n, &sl)) flips_failed++;
  }
  CHECK_INT(flips_failed, n, "check: each one-character change fails");
  /* the MAC's last character holds 2 bits only; any other value there fails too */
  int last_failed = 0, tried = 0;
  for (const char *a = "AQgw"; *a; a++) {
    char c[sizeof out];
    memcpy(c, out, n);
    if (c[n - 1] == *a) continue;
    c[n - 1] = *a;
    tried++;
    if (!check(key1, p1, l1, c, n, &sl)) last_failed++;
  }
  CHECK(tried == 3 && last_failed == 3, "check: the last MAC character is compared whole");

  char longer[sizeof out + 8];
  memcpy(longer, out, n);
  longer[n] = 'x';
  CHECK(!check(key1, p1, l1, longer, n + 1, &sl), "check: a suffix added fails");
  memcpy(longer, out, n);
  memcpy(longer + n, ".", 1);
  CHECK(!check(key1, p1, l1, longer, n + 1, &sl), "check: a '.' added fails");
  longer[0] = 'x';
  memcpy(longer + 1, out, n);
  CHECK(!check(key1, p1, l1, longer, n + 1, &sl), "check: a prefix added fails");
  CHECK(!check(key1, p1, l1, out, n - 1, &sl), "check: the last character cut fails");
  CHECK(!check(key1, p1, l1, out + 1, n - 1, &sl), "check: the first character cut fails");
  CHECK(!check(key1, p1, l1, sid, sidlen, &sl), "check: the bare server id fails");

  /* short strings: nothing to check, and nothing read past n */
  CHECK(!check(key1, p1, l1, "", 0, &sl), "check: empty fails");
  CHECK(!check(key1, p1, l1, out + sidlen, n - sidlen, &sl), "check: '.MAC' alone fails");
  CHECK(!check(key1, p1, l1, "a.b", 3, &sl), "check: too short fails");
  char dots[MCPSESS_MAC_CHARS + 2];
  memset(dots, '.', sizeof dots);
  CHECK(!check(key1, p1, l1, dots, sizeof dots, &sl), "check: only dots fails");
}

static void test_sid_shapes(void) {
  char p[256], out[MCPSESS_SID_MAX + 64];
  size_t pl = princ(p, sizeof p, "iss", "sub", "cid"), sl = 0;
  /* an id holding '.': the MAC is after the last one */
  const char *sid = "a.b.c";
  size_t n = mcpsess_bind(key1, p, pl, sid, 5, out, sizeof out);
  CHECK(n == 5 + 1 + MCPSESS_MAC_CHARS && check(key1, p, pl, out, n, &sl) && sl == 5,
        "sid with '.': binds, checks, split at the last '.'");
  n = mcpsess_bind(key1, p, pl, "x", 1, out, sizeof out);
  CHECK(n && check(key1, p, pl, out, n, &sl) && sl == 1, "one-character sid: round-trips");
  CHECK_INT(mcpsess_bind(key1, p, pl, "", 0, out, sizeof out), 0, "bind: empty sid refused");

  char big[MCPSESS_SID_MAX + 2];
  memset(big, 'S', sizeof big);
  n = mcpsess_bind(key1, p, pl, big, MCPSESS_SID_MAX, out, sizeof out);
  CHECK(n == MCPSESS_SID_MAX + 1 + MCPSESS_MAC_CHARS && check(key1, p, pl, out, n, &sl) && sl == MCPSESS_SID_MAX,
        "bind: MCPSESS_SID_MAX bytes round-trip");
  CHECK_INT(mcpsess_bind(key1, p, pl, big, MCPSESS_SID_MAX + 1, out, sizeof out), 0,
            "bind: over MCPSESS_SID_MAX refused");
  /* a presented id whose sid part is too long is refused, not read past a buffer */
  char over[MCPSESS_SID_MAX + 1 + 1 + MCPSESS_MAC_CHARS];
  memset(over, 'S', sizeof over);
  over[MCPSESS_SID_MAX + 1] = '.';
  CHECK(!check(key1, p, pl, over, sizeof over, &sl), "check: sid over MCPSESS_SID_MAX fails");

  /* out too small by one: refused, nothing written past cap */
  char small[8 + MCPSESS_MAC_CHARS + 1];
  memset(small, '#', sizeof small);
  CHECK_INT(mcpsess_bind(key1, p, pl, "12345678", 8, small, 8 + MCPSESS_MAC_CHARS), 0,
            "bind: out one byte too small refused");
  CHECK(small[8 + MCPSESS_MAC_CHARS] == '#', "bind: nothing written past cap");
  CHECK_INT(mcpsess_bind(key1, p, pl, "12345678", 8, small, 8 + 1 + MCPSESS_MAC_CHARS), 8 + 1 + MCPSESS_MAC_CHARS,
            "bind: out exactly large enough (no NUL needed)");
}

static void test_principal(void) {
  char a[64], b[64], out1[128], out2[128];
  size_t la = princ(a, sizeof a, "ab", "c", "x"), lb = princ(b, sizeof b, "a", "bc", "x");
  CHECK(la == lb && la == 2 + 2 + 2 + 1 + 2 + 1 && memcmp(a, b, la) != 0,
        "principal: (\"ab\",\"c\") and (\"a\",\"bc\") differ though their bytes run alike");
  size_t sl;
  size_t n = mcpsess_bind(key1, a, la, "sid", 3, out1, sizeof out1);
  CHECK(n && !check(key1, b, lb, out1, n, &sl), "principal: a binding for (ab,c) fails for (a,bc)");
  la = princ(a, sizeof a, "i", "s", "cd");
  lb = princ(b, sizeof b, "i", "sc", "d");
  n = mcpsess_bind(key1, a, la, "sid", 3, out1, sizeof out1);
  CHECK(n && !check(key1, b, lb, out1, n, &sl), "principal: sub/client_id boundary counts too");
  la = princ(a, sizeof a, "i", "s", "");
  lb = princ(b, sizeof b, "i", "s", "c");
  CHECK(la && lb && la != lb, "principal: an empty client_id is a field of its own");
  n = mcpsess_bind(key1, a, la, "sid", 3, out1, sizeof out1);
  size_t n2 = mcpsess_bind(key1, b, lb, "sid", 3, out2, sizeof out2);
  CHECK(n == n2 && memcmp(out1, out2, n) != 0, "principal: with and without client_id bind differently");
  CHECK(princ(a, sizeof a, "", "", "") == 6, "principal: three empty fields still take their lengths");
  /* the sid/principal boundary: sid "ab" + principal vs sid "a" + "b"... */
  la = princ(a, sizeof a, "i", "s", "c");
  n = mcpsess_bind(key1, a, la, "ab", 2, out1, sizeof out1);
  n2 = mcpsess_bind(key1, a, la, "a", 1, out2, sizeof out2);
  CHECK(n && n2 && memcmp(out1 + 3, out2 + 2, MCPSESS_MAC_CHARS) != 0, "bind: the sid length is in the MAC");

  /* fitting: exactly, and one byte short */
  CHECK_INT(mcpsess_principal(a, 9, "i", 1, "s", 1, "c", 1), 9, "principal: fits exactly");
  CHECK_INT(mcpsess_principal(a, 8, "i", 1, "s", 1, "c", 1), 0, "principal: one byte short gives 0");
  CHECK_INT(mcpsess_principal(a, 0, "i", 1, "s", 1, "c", 1), 0, "principal: cap 0 gives 0");
}

static void test_key_file(void) {
  char why[512];
  unsigned char k1[MCPSESS_KEY_LEN], k2[MCPSESS_KEY_LEN], k3[MCPSESS_KEY_LEN];
  const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  const char *path = write_tmp("k1", hex, 64);
  why[0] = '\0';
  CHECK_INT(mcpsess_key_from_file(path, k1, why, sizeof why), 0, "key file: 64 hex characters load");
  CHECK_INT(mcpsess_key_from_file(path, k2, why, sizeof why), 0, "key file: loads again");
  CHECK(memcmp(k1, k2, sizeof k1) == 0, "key file: two loads give the same key");
  char line[80];
  snprintf(line, sizeof line, "%s\n", hex);
  path = write_tmp("k2", line, 65);
  CHECK(mcpsess_key_from_file(path, k3, why, sizeof why) == 0 && memcmp(k1, k3, sizeof k1) == 0,
        "key file: a final newline (openssl rand -hex 32 > file) is not part of the key");
  path = write_tmp("k3", "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", 64);
  CHECK(mcpsess_key_from_file(path, k3, why, sizeof why) == 0 && memcmp(k1, k3, sizeof k1) != 0,
        "key file: another secret, another key");

  /* a key from the file binds like any key: an instance loading it checks another's binding */
  char p[64], out[128];
  size_t pl = princ(p, sizeof p, "i", "s", "c"), sl;
  size_t n = mcpsess_bind(k1, p, pl, "sid", 3, out, sizeof out);
  CHECK(n && check(k2, p, pl, out, n, &sl), "key file: a binding made with one load checks with the other");

  path = write_tmp("short", "deadbeefdeadbeefdeadbeefdeadbee", 31);
  why[0] = '\0';
  CHECK_INT(mcpsess_key_from_file(path, k3, why, sizeof why), -1, "key file: 31 bytes refused");
  CHECK(strstr(why, path) && strstr(why, "32"), "key file: short: the message names the file and 32 bytes");
  CHECK(!strstr(why, "deadbeef"), "key file: short: the message does not show the secret");
  path = write_tmp("short-nl", "deadbeefdeadbeefdeadbeefdeadbee\n\n  \r\n", 37);
  CHECK_INT(mcpsess_key_from_file(path, k3, why, sizeof why), -1,
            "key file: 31 bytes plus trailing blanks refused");
  path = write_tmp("exact", "deadbeefdeadbeefdeadbeefdeadbeef", 32);
  CHECK_INT(mcpsess_key_from_file(path, k3, why, sizeof why), 0, "key file: 32 bytes load");
  path = write_tmp("empty", "", 0);
  CHECK_INT(mcpsess_key_from_file(path, k3, why, sizeof why), -1, "key file: empty refused");

  char missing[160];
  snprintf(missing, sizeof missing, "%s/no-such-file", tmpdir);
  why[0] = '\0';
  CHECK_INT(mcpsess_key_from_file(missing, k3, why, sizeof why), -1, "key file: missing refused");
  CHECK(strstr(why, missing) != NULL, "key file: missing: the message names the file");
  printf("# %s\n", why);

  size_t bign = 70 * 1024;
  char *big = malloc(bign);
  memset(big, 'k', bign);
  path = write_tmp("big", big, bign);
  free(big);
  CHECK_INT(mcpsess_key_from_file(path, k3, why, sizeof why), -1, "key file: over 64 KiB refused");
  CHECK(mcpsess_key_from_file(tmpdir, k3, why, sizeof why) == -1, "key file: a directory refused");
}

static void test_process_key(void) {
  const unsigned char *a = mcpsess_process_key(), *b = mcpsess_process_key();
  unsigned char copy[MCPSESS_KEY_LEN], zero[MCPSESS_KEY_LEN] = {0};
  memcpy(copy, a, sizeof copy);
  CHECK(a == b && memcmp(copy, b, sizeof copy) == 0, "process key: the same on every call");
  CHECK(memcmp(copy, zero, sizeof zero) != 0, "process key: not all zero (random)");
  char p[64], out[128];
  size_t pl = princ(p, sizeof p, "i", "s", "c"), sl;
  size_t n = mcpsess_bind(mcpsess_process_key(), p, pl, "sid", 3, out, sizeof out);
  CHECK(n && check(mcpsess_process_key(), p, pl, out, n, &sl), "process key: binds and checks");
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/gw-test-mcpsess-XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  memset(key1, 0x11, sizeof key1);
  memcpy(key2, key1, sizeof key2);
  key2[MCPSESS_KEY_LEN - 1] ^= 1; /* a key differing in one bit */
  test_bind_check();
  test_sid_shapes();
  test_principal();
  test_key_file();
  test_process_key();
  static const char *const files[] = {"k1", "k2", "k3", "short", "short-nl", "exact", "empty", "big"};
  char path[160];
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
    unlink(path);
  }
  rmdir(tmpdir);
  return TAP_DONE();
}
