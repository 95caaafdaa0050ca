/* Path normalization and request-target splitting: every hostile spelling
 * either becomes the one path the policy judges and the upstream receives,
 * or is refused with its own reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pathnorm.h"
#include "tap.h"

typedef struct {
  const char *in;
  size_t len; /* 0: strlen(in); set for inputs with NUL bytes */
  const char *out; /* expected path, or NULL when refused */
  int err;
} norm_case_t;

static const norm_case_t norm_cases[] = {
    /* plain */
    {"/", 0, "/", 0},
    {"/api/v4/profiles", 0, "/api/v4/profiles", 0},
    {"/api/v4/profiles/", 0, "/api/v4/profiles/", 0},
    /* dot segments, after decoding */
    {"/api/v4/tags/../profiles", 0, "/api/v4/profiles", 0},
    {"/api/v4/tags/%2e%2e/profiles", 0, "/api/v4/profiles", 0},
    {"/api/v4/tags/%2E%2E/profiles", 0, "/api/v4/profiles", 0},
    {"/api/v4/tags/.%2e/profiles", 0, "/api/v4/profiles", 0},
    {"/api/v4/./profiles", 0, "/api/v4/profiles", 0},
    {"/api/v4/%2e/profiles", 0, "/api/v4/profiles", 0},
    {"/a/b/..", 0, "/a/", 0},
    {"/a/b/.", 0, "/a/b/", 0},
    {"/a/..", 0, "/", 0},
    {"/.", 0, "/", 0},
    {"/a/./", 0, "/a/", 0},
    {"/a/b/../../c", 0, "/c", 0},
    {"/..a/b", 0, "/..a/b", 0},
    {"/a../b", 0, "/a../b", 0},
    {"/.../b", 0, "/.../b", 0},
    /* climbing above the root */
    {"/..", 0, NULL, PATHNORM_E_CLIMB},
    {"/%2e%2e/x", 0, NULL, PATHNORM_E_CLIMB},
    {"/a/../../x", 0, NULL, PATHNORM_E_CLIMB},
    {"/a/b/../../../x", 0, NULL, PATHNORM_E_CLIMB},
    {"//../x", 0, NULL, PATHNORM_E_CLIMB},
    /* unreserved escapes decoded, case kept */
    {"/api/v4/%70rofiles", 0, "/api/v4/profiles", 0},
    {"/api/v4/%50rofiles", 0, "/api/v4/Profiles", 0},
    {"/%41%5a%61%7A%30%39%2D%2E%5F%7E", 0, "/AZaz09-._~", 0},
    {"/%7e%5f", 0, "/~_", 0},
    /* other escapes kept, hex upper-cased */
    {"/a%3bb", 0, "/a%3Bb", 0},
    {"/a%3Bb", 0, "/a%3Bb", 0},
    {"/a%20b", 0, "/a%20b", 0},
    {"/a%0ab", 0, "/a%0Ab", 0},
    {"/%c3%a9t%C3%A9", 0, "/%C3%A9t%C3%A9", 0},
    {"/%25", 0, "/%25", 0},
    {"/%252e%252e/x", 0, "/%252e%252e/x", 0},
    {"/a%3fb", 0, "/a%3Fb", 0},
    {"/a%23b", 0, "/a%23b", 0},
    /* raw 8-bit and unsafe ASCII are escaped: one spelling for one URI */
    {"/\xc3\xa9t\xc3\xa9", 0, "/%C3%A9t%C3%A9", 0},
    {"/\xff", 0, "/%FF", 0},
    {"/a{b}|c^d`e", 0, "/a%7Bb%7D%7Cc%5Ed%60e", 0},
    {"/a\"<>[]", 0, "/a%22%3C%3E%5B%5D", 0},
    /* merging of empty segments */
    {"/api/v4//profiles", 0, "/api/v4/profiles", 0},
    {"//api///v4//profiles", 0, "/api/v4/profiles", 0},
    {"//", 0, "/", 0},
    {"/a//", 0, "/a/", 0},
    /* ';' and sub-delims are ordinary, case is significant */
    {"/api/v4/profiles;x=1", 0, "/api/v4/profiles;x=1", 0},
    {"/api/v4/profiles/1;/..", 0, "/api/v4/profiles/", 0},
    {"/api/v4/profiles/..;/tags", 0, "/api/v4/profiles/..;/tags", 0},
    {"/API/v4/Profiles", 0, "/API/v4/Profiles", 0},
    {"/a!$&'()*+,=:@b", 0, "/a!$&'()*+,=:@b", 0},
    /* encoded separators */
    {"/api/v4/tags%2F..%2Fprofiles", 0, NULL, PATHNORM_E_ENCODED_SLASH},
    {"/api/v4/tags%2f..%2fprofiles", 0, NULL, PATHNORM_E_ENCODED_SLASH},
    {"/a%5Cb", 0, NULL, PATHNORM_E_ENCODED_BACKSLASH},
    {"/a%5cb", 0, NULL, PATHNORM_E_ENCODED_BACKSLASH},
    {"/a\\b", 0, NULL, PATHNORM_E_BACKSLASH},
    {"/..\\x", 0, NULL, PATHNORM_E_BACKSLASH},
    /* NUL and control bytes */
    {"/a%00b", 0, NULL, PATHNORM_E_NUL},
    {"/a\0b", 4, NULL, PATHNORM_E_NUL},
    {"/a\tb", 0, NULL, PATHNORM_E_CONTROL},
    {"/a\rb", 0, NULL, PATHNORM_E_CONTROL},
    {"/a\nb", 0, NULL, PATHNORM_E_CONTROL},
    {"/a\x7f", 0, NULL, PATHNORM_E_CONTROL},
    {"/a b", 0, NULL, PATHNORM_E_SPACE},
    /* bad escapes */
    {"/a%zz", 0, NULL, PATHNORM_E_BAD_ESCAPE},
    {"/a%4", 0, NULL, PATHNORM_E_BAD_ESCAPE},
    {"/a%", 0, NULL, PATHNORM_E_BAD_ESCAPE},
    {"/a%g0", 0, NULL, PATHNORM_E_BAD_ESCAPE},
    {"/a%0g", 0, NULL, PATHNORM_E_BAD_ESCAPE},
    {"/%%30", 0, NULL, PATHNORM_E_BAD_ESCAPE},
    /* shape */
    {"", 0, NULL, PATHNORM_E_EMPTY},
    {"api/v4", 0, NULL, PATHNORM_E_NOT_ABSOLUTE},
    {"%2Fapi", 0, NULL, PATHNORM_E_NOT_ABSOLUTE},
    {"*", 0, NULL, PATHNORM_E_NOT_ABSOLUTE},
    {"/a#frag", 0, NULL, PATHNORM_E_FRAGMENT},
    {"/a?q", 0, NULL, PATHNORM_E_QUERY_IN_PATH},
};

static void test_table(void) {
  char out[256], what[200];
  for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases[0]; i++) {
    const norm_case_t *c = &norm_cases[i];
    size_t len = c->len ? c->len : strlen(c->in), olen = 99;
    const char *why = "unset";
    int rc = pathnorm(c->in, len, out, sizeof out, &olen, &why);
    snprintf(what, sizeof what, "pathnorm #%zu %s", i, c->out ? c->out : pathnorm_strerror(c->err));
    if (c->out) {
      CHECK_INT(rc, 0, what);
      CHECK_STR(out, c->out, what);
      CHECK_INT(olen, strlen(c->out), what);
      CHECK(why == NULL, "no reason on success");
    } else {
      CHECK_INT(rc, c->err, what);
      CHECK_STR(why, pathnorm_strerror(c->err), "reason text matches the code");
      CHECK_INT(olen, 0, "no length on error");
    }
  }
}

/* Normalizing a normal form changes nothing: otherwise what the policy
 * judged and what an upstream gateway re-normalizing sees could differ. */
static void test_idempotent(void) {
  char a[256], b[256];
  int bad = 0;
  for (size_t i = 0; i < sizeof norm_cases / sizeof norm_cases[0]; i++) {
    const norm_case_t *c = &norm_cases[i];
    if (!c->out) continue;
    size_t la, lb;
    if (pathnorm(c->out, strlen(c->out), a, sizeof a, &la, NULL) != 0) bad++;
    else if (pathnorm(a, la, b, sizeof b, &lb, NULL) != 0 || la != lb || memcmp(a, b, la)) bad++;
    else if (la != strlen(c->out) || memcmp(a, c->out, la)) bad++;
  }
  CHECK_INT(bad, 0, "normalization is idempotent on every normal form of the table");
}

static void test_bounds(void) {
  char out[16];
  size_t olen;
  const char *why;
  CHECK_INT(pathnorm("/0123456789abcd", 15, out, sizeof out, &olen, &why), 0,
            "15 bytes + NUL fit a 16-byte buffer");
  CHECK_INT(pathnorm("/0123456789abcde", 16, out, sizeof out, &olen, &why), PATHNORM_E_TOO_LONG,
            "16 bytes + NUL do not");
  CHECK_INT(pathnorm("/0123456789a\xff", 13, out, sizeof out, &olen, &why), 0,
            "escaped 8-bit byte: 15 bytes + NUL fit");
  CHECK_STR(out, "/0123456789a%FF", "escaped at the very end");
  CHECK_INT(pathnorm("/0123456789ab\xff", 14, out, sizeof out, &olen, &why), PATHNORM_E_TOO_LONG,
            "escaping growth counts against the buffer");
  CHECK_INT(pathnorm("/", 1, out, 1, &olen, &why), PATHNORM_E_TOO_LONG, "no room for '/' + NUL");
  CHECK_INT(pathnorm("/", 1, out, 2, &olen, &why), 0, "'/' + NUL in 2 bytes");
  CHECK_STR(out, "/", "root");

  /* depth: GW_PATH_MAX_SEGMENTS kept segments fit, one more does not;
   * dot segments and merged slashes do not count. */
  size_t n = (GW_PATH_MAX_SEGMENTS + 1) * 2 + 64;
  char *in = malloc(n), *big = malloc(4 * n);
  size_t k = 0;
  for (int i = 0; i < GW_PATH_MAX_SEGMENTS; i++) {
    in[k++] = '/';
    in[k++] = 'a';
  }
  CHECK_INT(pathnorm(in, k, big, 4 * n, &olen, &why), 0, "max depth accepted");
  memcpy(in + k, "/./..//b", 8);
  CHECK_INT(pathnorm(in, k + 8, big, 4 * n, &olen, &why), 0, "dot segments do not count");
  in[k++] = '/';
  in[k++] = 'a';
  CHECK_INT(pathnorm(in, k, big, 4 * n, &olen, &why), PATHNORM_E_TOO_DEEP, "max depth + 1 refused");
  CHECK_STR(why, "path has too many segments", "depth reason");
  free(in);
  free(big);
}

static int ours(void *user, const char *a, size_t n) {
  const char *want = user;
  return n == strlen(want) && memcmp(a, want, n) == 0;
}

typedef struct {
  const char *target;
  const char *method;
  int err;
  gw_target_form_t form;
  const char *authority, *path, *query; /* query NULL: no '?' */
  const char *norm;                     /* normalized path, NULL: not checked */
} target_case_t;

static const target_case_t target_cases[] = {
    {"/api/v4/profiles", "GET", 0, GW_TARGET_ORIGIN, NULL, "/api/v4/profiles", NULL, "/api/v4/profiles"},
    {"/api/v4/profiles?limit=10&x=%2F", "GET", 0, GW_TARGET_ORIGIN, NULL, "/api/v4/profiles",
     "limit=10&x=%2F", "/api/v4/profiles"},
    {"/p?", "GET", 0, GW_TARGET_ORIGIN, NULL, "/p", "", "/p"},
    {"/api/v4/tags/../profiles?a=/../b", "GET", 0, GW_TARGET_ORIGIN, NULL, "/api/v4/tags/../profiles",
     "a=/../b", "/api/v4/profiles"},
    {"/api/v4/%70rofiles?q=%70", "GET", 0, GW_TARGET_ORIGIN, NULL, "/api/v4/%70rofiles", "q=%70",
     "/api/v4/profiles"},
    {"/a?b?c", "GET", 0, GW_TARGET_ORIGIN, NULL, "/a", "b?c", "/a"},
    {"/a?q=\xc3\xa9", "GET", 0, GW_TARGET_ORIGIN, NULL, "/a", "q=\xc3\xa9", "/a"},
    {"/a#f", "GET", PATHNORM_E_FRAGMENT, 0, NULL, NULL, NULL, NULL},
    {"/a?q#f", "GET", PATHNORM_E_FRAGMENT, 0, NULL, NULL, NULL, NULL},
    {"/a?q=\r\nX: y", "GET", PATHNORM_E_CONTROL, 0, NULL, NULL, NULL, NULL},
    {"/a?q= x", "GET", PATHNORM_E_SPACE, 0, NULL, NULL, NULL, NULL},
    {"http://gw.example/api/v4/profiles?x=1", "GET", 0, GW_TARGET_ABSOLUTE, "gw.example",
     "/api/v4/profiles", "x=1", "/api/v4/profiles"},
    {"HTTPS://gw.example/a/%2e%2e/b", "GET", 0, GW_TARGET_ABSOLUTE, "gw.example", "/a/%2e%2e/b",
     NULL, "/b"},
    {"http://gw.example", "GET", 0, GW_TARGET_ABSOLUTE, "gw.example", "/", NULL, "/"},
    {"http://gw.example?x", "GET", 0, GW_TARGET_ABSOLUTE, "gw.example", "/", "x", "/"},
    {"http://other.example/api/v4/profiles", "GET", PATHNORM_E_AUTHORITY, 0, NULL, NULL, NULL, NULL},
    {"http://user@gw.example/", "GET", PATHNORM_E_AUTHORITY, 0, NULL, NULL, NULL, NULL},
    {"http:///api", "GET", PATHNORM_E_AUTHORITY, 0, NULL, NULL, NULL, NULL},
    {"http://gw.example#f", "GET", PATHNORM_E_FRAGMENT, 0, NULL, NULL, NULL, NULL},
    {"ftp://gw.example/", "GET", PATHNORM_E_FORM, 0, NULL, NULL, NULL, NULL},
    {"http:/gw.example/", "GET", PATHNORM_E_FORM, 0, NULL, NULL, NULL, NULL},
    {"gw.example:443", "CONNECT", PATHNORM_E_FORM, 0, NULL, NULL, NULL, NULL},
    {"api/v4", "GET", PATHNORM_E_FORM, 0, NULL, NULL, NULL, NULL},
    {"%2Fapi", "GET", PATHNORM_E_FORM, 0, NULL, NULL, NULL, NULL},
    {"*", "OPTIONS", 0, GW_TARGET_ASTERISK, NULL, "*", NULL, NULL},
    {"*", "GET", PATHNORM_E_METHOD, 0, NULL, NULL, NULL, NULL},
    {"*", "options", PATHNORM_E_METHOD, 0, NULL, NULL, NULL, NULL},
    {"*?x", "OPTIONS", PATHNORM_E_FORM, 0, NULL, NULL, NULL, NULL},
    {"", "GET", PATHNORM_E_EMPTY, 0, NULL, NULL, NULL, NULL},
    /* the classifier splits; pathnorm refuses */
    {"/api/v4/tags%2F..%2Fprofiles", "GET", 0, GW_TARGET_ORIGIN, NULL, "/api/v4/tags%2F..%2Fprofiles",
     NULL, NULL},
};

static int slice_is(const char *p, size_t n, const char *want) {
  if (!want) return p == NULL;
  return p && n == strlen(want) && memcmp(p, want, n) == 0;
}

static void test_targets(void) {
  char what[200], out[256];
  for (size_t i = 0; i < sizeof target_cases / sizeof target_cases[0]; i++) {
    const target_case_t *c = &target_cases[i];
    gw_target_t t;
    const char *why = NULL;
    int rc = target_split(c->target, strlen(c->target), c->method, strlen(c->method), ours,
                          (void *)"gw.example", &t, &why);
    snprintf(what, sizeof what, "target #%zu %s %s", i, c->method, c->target);
    for (char *w = what; *w; w++)
      if ((unsigned char)*w < 0x20) *w = '?';
    CHECK_INT(rc, c->err, what);
    if (c->err) {
      CHECK_STR(why, pathnorm_strerror(c->err), "reason text");
      continue;
    }
    CHECK_INT(t.form, c->form, "form");
    CHECK(slice_is(t.authority, t.authority_len, c->authority), "authority slice");
    CHECK(slice_is(t.path, t.path_len, c->path), "path slice");
    CHECK(slice_is(t.query, t.query_len, c->query), "query slice");
    if (c->norm) {
      size_t olen;
      CHECK_INT(pathnorm(t.path, t.path_len, out, sizeof out, &olen, NULL), 0, "path normalizes");
      CHECK_STR(out, c->norm, "normalized path");
    }
  }

  gw_target_t t;
  const char *why;
  CHECK_INT(target_split("http://gw.example/", 18, "GET", 3, NULL, NULL, &t, &why),
            PATHNORM_E_AUTHORITY, "absolute-form refused without an authority judge");
  CHECK_INT(target_split("http://gw.example:8080/x", 24, "GET", 3, ours, (void *)"gw.example:8080",
                         &t, &why),
            0, "authority with port is given whole to the judge");
  CHECK(slice_is(t.scheme, t.scheme_len, "http"), "scheme slice");
  CHECK_INT(target_split("/a\0b", 4, "GET", 3, NULL, NULL, &t, &why), 0,
            "the splitter leaves path bytes to pathnorm");
  CHECK_INT(pathnorm(t.path, t.path_len, (char[16]){0}, 16, NULL, &why), PATHNORM_E_NUL,
            "pathnorm refuses the NUL");
}

/* Every prefix of a target, each in a buffer of exactly its length, so
 * that ASan catches a read past the given length (escapes cut short are the
 * risk); whatever is accepted must be a normal form. */
static void test_prefixes(void) {
  const char *t = "http://gw.example/api/v4/%70rofiles/%2e%2e/tags?x=%zz";
  size_t n = strlen(t);
  int bad = 0;
  for (size_t k = 0; k <= n; k++) {
    char *copy = malloc(k ? k : 1);
    memcpy(copy, t, k);
    gw_target_t tg;
    const char *why;
    char out[128];
    size_t olen;
    char again[128];
    if (target_split(copy, k, "GET", 3, ours, (void *)"gw.example", &tg, &why) == 0 &&
        pathnorm(tg.path, tg.path_len, out, sizeof out, &olen, &why) == 0) {
      size_t l2;
      if (out[0] != '/' || pathnorm(out, olen, again, sizeof again, &l2, NULL) != 0 ||
          l2 != olen || memcmp(out, again, olen) != 0)
        bad++;
    }
    free(copy);
  }
  for (size_t k = 0; k <= 12; k++) {
    char *copy = malloc(k ? k : 1);
    memcpy(copy, "/a/%2e%2/%4", k);
    char out[32];
    size_t olen;
    int rc = pathnorm(copy, k, out, sizeof out, &olen, NULL);
    if (rc == 0 && (olen == 0 || out[0] != '/')) bad++;
    free(copy);
  }
  CHECK_INT(bad, 0, "every prefix of a target is handled within its bounds");
}

/* Invariants of every accepted output, on random paths over an alphabet
 * rich in separators, dots and escapes (fixed seed). */
static int is_normal(const char *o, size_t n) {
  if (n == 0 || o[0] != '/') return 0;
  size_t seg = 1;
  for (size_t i = 1; i <= n; i++) {
    if (i == n || o[i] == '/') {
      size_t l = i - seg;
      if (l == 0 && i != n) return 0;                           /* "//" */
      if (l == 1 && o[seg] == '.') return 0;                     /* "." */
      if (l == 2 && o[seg] == '.' && o[seg + 1] == '.') return 0; /* ".." */
      seg = i + 1;
      continue;
    }
    unsigned char c = (unsigned char)o[i];
    if (c <= 0x20 || c >= 0x7F || c == '\\' || c == '?' || c == '#') return 0;
    if (c == '%') {
      if (n - i < 3) return 0;
      char h[3] = {o[i + 1], o[i + 2], 0};
      if (!strchr("0123456789ABCDEF", h[0]) || !strchr("0123456789ABCDEF", h[1])) return 0;
      unsigned v = (unsigned)strtoul(h, NULL, 16);
      if ((v >= 'A' && v <= 'Z') || (v >= 'a' && v <= 'z') || (v >= '0' && v <= '9') ||
          v == '-' || v == '.' || v == '_' || v == '~' || v == '/' || v == '\\' || v == 0)
        return 0;
      i += 2;
    }
  }
  return 1;
}

static void test_random(void) {
  static const char alpha[] = "/./%2e%2E%2f%5c%41%7e%c3%00a;{\x80";
  uint64_t st = 42;
  char in[40], out[160], again[160];
  int bad = 0, accepted = 0;
  for (int k = 0; k < 200000; k++) {
    st = st * 6364136223846793005ull + 1442695040888963407ull;
    size_t n = 1 + (size_t)((st >> 33) % 39);
    in[0] = '/';
    for (size_t i = 1; i < n; i++) {
      st = st * 6364136223846793005ull + 1442695040888963407ull;
      in[i] = alpha[(st >> 33) % (sizeof alpha - 1)];
    }
    size_t ol, al;
    if (pathnorm(in, n, out, sizeof out, &ol, NULL) != 0) continue;
    accepted++;
    if (!is_normal(out, ol) || strlen(out) != ol) bad++;
    else if (pathnorm(out, ol, again, sizeof again, &al, NULL) != 0 || al != ol ||
             memcmp(out, again, ol) != 0)
      bad++;
  }
  CHECK_INT(bad, 0, "random paths: every accepted output is a normal form and a fixed point");
  CHECK(accepted > 10000, "random paths: enough accepted to mean something");
}

int main(void) {
  test_table();
  test_idempotent();
  test_bounds();
  test_targets();
  test_prefixes();
  test_random();
  return TAP_DONE();
}
