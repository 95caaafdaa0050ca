/* Policy loading (every error with its FILE:LINE), matching precedence
 * (SPEC "Paths and matching"), decisions, and a randomized comparison of
 * the trie against a linear reference matcher. Runs from the repo root. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "pathnorm.h"
#include "policy.h"
#include "tap.h"

static char tmpdir[64];
static char tmpfile_path[128];

static const char *write_file(const char *text) {
  FILE *f = fopen(tmpfile_path, "w");
  if (!f) {
    perror(tmpfile_path);
    exit(2);
  }
  fputs(text, f);
  fclose(f);
  return tmpfile_path;
}

static gw_policy_t *load_text(const char *text, char *const *sup, size_t nsup, gw_errors_t *e) {
  return policy_load(write_file(text), sup, nsup, e);
}

static void dump_errors(const gw_errors_t *e) {
  for (size_t i = 0; i < e->n; i++) printf("#   error: %s\n", e->msgs[i]);
}

/* ---- error reporting ---- */

typedef struct {
  int line;
  const char *text; /* substring of the message after "FILE:LINE: " */
} want_t;

typedef struct {
  const char *name;
  const char *ini;
  want_t want[4]; /* terminated by line 0 */
} err_case_t;

static const err_case_t err_cases[] = {
    {"unknown key in a route", "[GET /a]\nauth = token\nscope = x\n", {{3, "unknown key 'scope'"}}},
    {"lower-case method", "[get /a]\nauth = token\n", {{1, "method 'get' must be upper-case"}}},
    {"bad method byte", "[G@T /a]\nauth = token\n", {{1, "bad method 'G@T'"}}},
    {"empty method", "[GET,,POST /a]\nauth = token\n", {{1, "empty method"}}},
    {"'*' mixed with methods", "[GET,* /a]\nauth = token\n", {{1, "'*' cannot be combined"}}},
    {"'*' twice", "[*,* /a]\nauth = token\n", {{1, "'*' cannot be combined"}}},
    {"method listed twice", "[GET, GET /a]\nauth = token\n", {{1, "method 'GET' listed twice"}}},
    {"missing methods", "[/a]\nauth = token\n", {{1, "missing METHODS"}}},
    {"missing pattern", "[GET]\nauth = token\n", {{1, "expected [METHODS PATTERN]"}}},
    {"unknown section", "[server]\nlisten = x\n",
     {{1, "expected [METHODS PATTERN]"}, {2, "unknown key 'listen' in route"}}},
    {"method too long", "[ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFG /a]\nauth = token\n",
     {{1, "method name too long"}}},
    {"pattern not absolute", "[GET a/b]\nauth = token\n", {{1, "must start with '/'"}}},
    {"'**' not last", "[GET /a/**/b]\nauth = token\n", {{1, "'**' must be the last segment"}}},
    {"'**' then trailing slash", "[GET /a/**/]\nauth = token\n",
     {{1, "'**' must be the last segment"}}},
    {"empty segment", "[GET /a//b]\nauth = token\n", {{1, "empty segment"}}},
    {"leading empty segment", "[GET //a]\nauth = token\n", {{1, "empty segment"}}},
    {"'?' in pattern", "[GET /a?x=1]\nauth = token\n", {{1, "character '?' not allowed"}}},
    {"'#' in pattern", "[GET /a#x]\nauth = token\n", {{1, "character '#' not allowed"}}},
    {"'%' in pattern", "[GET /a%20b]\nauth = token\n", {{1, "character '%' not allowed"}}},
    {"space in pattern", "[GET /a b]\nauth = token\n", {{1, "character 0x20 not allowed"}}},
    {"tab in pattern", "[GET /a\tb]\nauth = token\n", {{1, "character 0x09 not allowed"}}},
    {"control byte in pattern", "[GET /a\x01]\nauth = token\n", {{1, "character 0x01 not allowed"}}},
    {"8-bit byte in pattern", "[GET /caf\xc3\xa9]\nauth = token\n", {{1, "character 0xC3 not allowed"}}},
    {"backslash in pattern", "[GET /a\\b]\nauth = token\n", {{1, "character '\\' not allowed"}}},
    {"partial wildcard", "[GET /a*]\nauth = token\n", {{1, "must be whole segments"}}},
    {"partial '**'", "[GET /a/b**]\nauth = token\n", {{1, "must be whole segments"}}},
    {"partial param", "[GET /a{id}]\nauth = token\n", {{1, "'{name}' must be a whole segment"}}},
    {"empty param", "[GET /{}]\nauth = token\n", {{1, "'{name}' must be a whole segment"}}},
    {"bad param name", "[GET /{a.b}]\nauth = token\n", {{1, "bad parameter name '{a.b}'"}}},
    {"dot segment", "[GET /a/./b]\nauth = token\n", {{1, "'.' and '..' segments"}}},
    {"dot-dot segment", "[GET /a/..]\nauth = token\n", {{1, "'.' and '..' segments"}}},
    {"duplicate route, {name} = *", "[GET /a/{id}]\nauth = token\n\n[GET,POST /a/*]\nauth = token\n",
     {{4, "duplicate route [GET,POST /a/*]: same pattern and method as [GET /a/{id}] at line 1"}}},
    {"duplicate '*' route", "[* /a/**]\nauth = token\n[* /a/**]\nauth = none\n",
     {{3, "duplicate route [* /a/**]"}}},
    {"duplicate via HEAD", "[GET,HEAD /a]\nauth = token\n[HEAD /a]\nauth = token\n",
     {{3, "at line 1"}}},
    {"duplicate trailing-slash route", "[GET /a/]\nauth = token\n[GET /a/]\nauth = token\n",
     {{3, "duplicate route"}}},
    {"auth = none then scopes", "[GET /a]\nauth = none\nscopes = x\n",
     {{3, "scopes conflicts with auth = none (line 2)"}}},
    {"any_scopes then auth = none", "[GET /a]\nany_scopes = x\nauth = none\n",
     {{3, "auth = none conflicts with any_scopes (line 2)"}}},
    {"route without keys", "[GET /a]\n[GET /b]\nauth = token\n",
     {{1, "route [GET /a] has no scopes, any_scopes or auth"}}},
    {"last route without keys", "[GET /b]\nauth = token\n[GET /a]\n",
     {{3, "route [GET /a] has no scopes"}}},
    {"duplicate key", "[GET /a]\nscopes = x\nscopes = y\n", {{3, "duplicate key 'scopes' (first at line 2)"}}},
    {"bad auth value", "[GET /a]\nauth = maybe\n", {{2, "auth must be 'none' or 'token'"}}},
    {"empty scopes", "[GET /a]\nscopes =\n", {{2, "scopes is empty"}}},
    {"invalid scope-token", "[GET /a]\nscopes = ok bad\"scope\n", {{2, "invalid scope 'bad\"scope'"}}},
    {"defaults: unknown key", "[defaults]\nunmatch = deny\n", {{2, "unknown key 'unmatch' in [defaults]"}}},
    {"defaults: allow refused", "[defaults]\nunmatched = allow\n", {{2, "unmatched = allow is not supported"}}},
    {"defaults: bad value", "[defaults]\nunmatched = maybe\n", {{2, "unmatched must be 'deny' or 'token'"}}},
    {"defaults twice", "[defaults]\nunmatched = deny\n[defaults]\nunmatched = token\n",
     {{3, "duplicate [defaults] section (first at line 1)"}}},
    {"unmatched twice", "[defaults]\nunmatched = deny\nunmatched = deny\n",
     {{3, "duplicate key 'unmatched'"}}},
    {"mcp-tool without scopes", "[mcp-tool:search]\n", {{1, "[mcp-tool:search] has no scopes"}}},
    {"mcp-tool unknown key", "[mcp-tool:search]\nscopes = a\nauth = none\n",
     {{3, "unknown key 'auth' in [mcp-tool:search]"}}},
    {"mcp-tool twice", "[mcp-tool:s]\nscopes = a\n[mcp-tool:s]\nscopes = b\n",
     {{3, "duplicate [mcp-tool:s] (first at line 1)"}}},
    {"mcp-tool empty name", "[mcp-tool:]\nscopes = a\n", {{1, "the name must have 1 to"}}},
    {"key outside a section", "scopes = a\n[GET /a]\nauth = token\n", {{1, "key 'scopes' outside of a section"}}},
    /* MCP item sections (SPEC "MCP upstreams"): each refusal at its own line */
    {"mcp-prompt empty name", "[mcp-prompt:]\nscopes = a\n", {{1, "the name must have 1 to 128"}}},
    {"mcp-resource empty URI", "[mcp-resource:]\nscopes = a\n", {{1, "the name must have 1 to 1024"}}},
    {"mcp-tool control byte in name", "[GET /a]\nauth = token\n[mcp-tool:a\x01" "b]\nscopes = a\n",
     {{3, "bad [mcp-tool:a?b]: the name must be printable ASCII"}}},
    {"mcp-tool space in name", "[mcp-tool:a b]\nscopes = a\n", {{1, "printable ASCII without spaces"}}},
    {"mcp-prompt 8-bit name", "[mcp-prompt:caf\xc3\xa9]\nscopes = a\n", {{1, "bad [mcp-prompt:caf??]"}}},
    {"mcp-resource DEL in URI", "[mcp-resource:file:///a\x7f]\nscopes = a\n", {{1, "printable ASCII"}}},
    {"'*' in a tool name", "[mcp-tool:search*]\nscopes = a\n",
     {{1, "bad [mcp-tool:search*]: '*' makes a prefix for resources only"}}},
    {"'*' inside a tool name", "[mcp-tool:a*b]\nscopes = a\n", {{1, "'*' makes a prefix for resources only"}}},
    {"'*' in a prompt name", "[mcp-prompt:*]\nscopes = a\n", {{1, "bad [mcp-prompt:*]"}}},
    {"mcp-prompt twice", "[mcp-prompt:p]\nscopes = a\n\n[mcp-prompt:p]\nany_scopes = b\n",
     {{4, "duplicate [mcp-prompt:p] (first at line 1)"}}},
    {"mcp-resource twice", "[mcp-resource:file:///a]\nscopes = a\n[mcp-resource:file:///a]\nscopes = a\n",
     {{3, "duplicate [mcp-resource:file:///a] (first at line 1)"}}},
    {"mcp-resource prefix twice", "[mcp-resource:file:///*]\nscopes = a\n[mcp-resource:file:///*]\nscopes = a\n",
     {{3, "duplicate [mcp-resource:file:///*] (first at line 1)"}}},
    {"mcp-resource unknown key", "[mcp-resource:file:///a]\nscope = a\n",
     {{2, "unknown key 'scope' in [mcp-resource:file:///a] (scopes, any_scopes, rate, burst, rate_key)"},
      {1, "[mcp-resource:file:///a] has no scopes"}}},
    {"mcp-prompt unknown key", "[mcp-prompt:p]\nscopes = a\nunlisted = deny\n",
     {{3, "unknown key 'unlisted' in [mcp-prompt:p]"}}},
    {"mcp-tool scopes twice", "[mcp-tool:s]\nscopes = a\nany_scopes = c\nscopes = b\n",
     {{4, "duplicate key 'scopes' in [mcp-tool:s]"}}},
    {"mcp-resource any_scopes twice", "[mcp-resource:u*]\nany_scopes = a\nany_scopes = a\n",
     {{3, "duplicate key 'any_scopes' in [mcp-resource:u*]"}}},
    {"mcp-prompt without scopes, then a route", "[mcp-prompt:p]\n[GET /a]\nauth = token\n",
     {{1, "[mcp-prompt:p] has no scopes"}}},
    {"mcp-resource without scopes, last", "[GET /a]\nauth = token\n[mcp-resource:file:///*]\n",
     {{3, "[mcp-resource:file:///*] has no scopes"}}},
    {"mcp-tool empty scopes", "[mcp-tool:s]\nscopes =\n", {{2, "scopes is empty"}}},
    {"mcp-tool invalid scope", "[mcp-tool:s]\nany_scopes = ok bad\"x\n", {{2, "invalid scope 'bad\"x'"}}},
    {"mcp_unlisted = maybe", "[defaults]\nmcp_unlisted = maybe\n", {{2, "mcp_unlisted must be 'allow' or 'deny'"}}},
    {"mcp_unlisted empty", "[defaults]\nmcp_unlisted =\n", {{2, "mcp_unlisted must be 'allow' or 'deny'"}}},
    {"mcp_unlisted = Deny", "[defaults]\nmcp_unlisted = Deny\n", {{2, "mcp_unlisted must be"}}},
    {"mcp_unlisted twice", "[defaults]\nmcp_unlisted = deny\nunmatched = deny\nmcp_unlisted = deny\n",
     {{4, "duplicate key 'mcp_unlisted' (first at line 2)"}}},
    {"mcp_unlisted outside [defaults]", "[mcp-tool:s]\nscopes = a\nmcp_unlisted = deny\n",
     {{3, "unknown key 'mcp_unlisted' in [mcp-tool:s]"}}},
    {"mcp section kind misspelt", "[mcp-tools:s]\nscopes = a\n", {{1, "bad route [mcp-tools:s]"}}},
};

static int has_error(const gw_errors_t *e, const char *file, int line, const char *text) {
  char prefix[256];
  snprintf(prefix, sizeof prefix, "%s:%d: ", file, line);
  for (size_t i = 0; i < e->n; i++)
    if (strncmp(e->msgs[i], prefix, strlen(prefix)) == 0 && strstr(e->msgs[i] + strlen(prefix), text))
      return 1;
  return 0;
}

static void test_errors(void) {
  char what[256];
  for (size_t i = 0; i < sizeof err_cases / sizeof err_cases[0]; i++) {
    const err_case_t *c = &err_cases[i];
    gw_errors_t e = {0};
    gw_policy_t *p = load_text(c->ini, NULL, 0, &e);
    snprintf(what, sizeof what, "error: %s: policy refused", c->name);
    CHECK(p == NULL, what);
    size_t nwant = 0;
    for (; nwant < 4 && c->want[nwant].line; nwant++) {
      snprintf(what, sizeof what, "error: %s: line %d says \"%s\"", c->name, c->want[nwant].line,
               c->want[nwant].text);
      if (!CHECK(has_error(&e, tmpfile_path, c->want[nwant].line, c->want[nwant].text), what))
        dump_errors(&e);
    }
    snprintf(what, sizeof what, "error: %s: nothing else reported", c->name);
    CHECK_INT(e.n, nwant, what);
    if (e.n != nwant) dump_errors(&e);
    policy_free(p);
    gw_errors_free(&e);
  }
}

static void test_many_errors(void) {
  const char *ini =
      "[defaults]\n"                  /* 1 */
      "unmatched = allow\n"           /* 2 */
      "[GET /ok]\n"                   /* 3 */
      "scopes = a\n"                  /* 4 */
      "[get /x]\n"                    /* 5 */
      "auth = token\n"                /* 6 */
      "[GET /a/**/b]\n"               /* 7 */
      "auth = token\n"                /* 8 */
      "[GET /ok]\n"                   /* 9 */
      "scopes = a\n"                  /* 10 */
      "color = blue\n"                /* 11 */
      "[POST /y]\n"                   /* 12 */
      "auth = none\n"                 /* 13 */
      "any_scopes = b\n"              /* 14 */
      "[DELETE /z]\n"                 /* 15 */
      "[PUT /w]\n"                    /* 16 */
      "scopes = a zzz\n";             /* 17 */
  char *sup[] = {"a", "b"};
  gw_errors_t e = {0};
  gw_policy_t *p = load_text(ini, sup, 2, &e);
  CHECK(p == NULL, "many errors: refused");
  CHECK(has_error(&e, tmpfile_path, 2, "unmatched = allow"), "many errors: line 2");
  CHECK(has_error(&e, tmpfile_path, 5, "upper-case"), "many errors: line 5");
  CHECK(has_error(&e, tmpfile_path, 7, "'**' must be the last"), "many errors: line 7");
  CHECK(has_error(&e, tmpfile_path, 9, "duplicate route"), "many errors: line 9");
  CHECK(has_error(&e, tmpfile_path, 11, "unknown key 'color'"), "many errors: line 11");
  CHECK(has_error(&e, tmpfile_path, 14, "conflicts with auth = none"), "many errors: line 14");
  CHECK(has_error(&e, tmpfile_path, 15, "has no scopes"), "many errors: line 15");
  CHECK(has_error(&e, tmpfile_path, 17, "scope 'zzz' is not in [resource] scopes_supported"),
        "many errors: line 17");
  CHECK_INT(e.n, 8, "many errors: exactly eight, all reported");
  if (e.n != 8) dump_errors(&e);
  /* reported in file order, which is what an operator reads */
  int ordered = 1;
  for (size_t i = 1; i < e.n; i++) {
    int a = atoi(strchr(e.msgs[i - 1] + strlen(tmpfile_path), ':') + 1);
    int b = atoi(strchr(e.msgs[i] + strlen(tmpfile_path), ':') + 1);
    if (b < a) ordered = 0;
  }
  CHECK(ordered, "many errors: in line order");
  gw_errors_free(&e);
}

static void test_limits(void) {
  gw_errors_t e = {0};
  /* room for GW_POLICY_MAX_ROUTES + 1 routes of ~30 bytes, and more */
  size_t cap = (GW_POLICY_MAX_ROUTES + 2) * 40 + 200000, n = 0;
  char *buf = malloc(cap);

  /* 65 distinct scopes do not fit a 64-bit set */
  n = (size_t)snprintf(buf, cap, "[GET /a]\nscopes =");
  for (int i = 0; i < 65; i++) n += (size_t)snprintf(buf + n, cap - n, " s%d", i);
  n += (size_t)snprintf(buf + n, cap - n, "\n");
  gw_policy_t *p = load_text(buf, NULL, 0, &e);
  CHECK(p == NULL && has_error(&e, tmpfile_path, 2, "too many distinct scopes (at most 64)"),
        "65th scope refused");
  CHECK_INT(e.n, 1, "one error for the 65th scope");
  gw_errors_free(&e);

  /* routes per file */
  n = 0;
  for (int i = 0; i <= GW_POLICY_MAX_ROUTES; i++)
    n += (size_t)snprintf(buf + n, cap - n, "[GET /r%d]\nauth = token\n", i);
  p = load_text(buf, NULL, 0, &e);
  CHECK(p == NULL && has_error(&e, tmpfile_path, 2 * GW_POLICY_MAX_ROUTES + 1, "too many routes"),
        "route limit + 1 refused at the first route over");
  CHECK_INT(e.n, 1, "route limit reported once");
  gw_errors_free(&e);
  char last[64];
  snprintf(last, sizeof last, "[GET /r%d]\nauth = token\n", GW_POLICY_MAX_ROUTES);
  n -= strlen(last);
  buf[n] = '\0';
  p = load_text(buf, NULL, 0, &e);
  CHECK(p != NULL && policy_route_count(p) == GW_POLICY_MAX_ROUTES, "route limit accepted");
  policy_free(p);
  gw_errors_free(&e);

  /* pattern length and depth */
  n = (size_t)snprintf(buf, cap, "[GET /");
  for (int i = 0; i < GW_POLICY_MAX_PATTERN; i++) buf[n++] = 'x';
  n += (size_t)snprintf(buf + n, cap - n, "]\nauth = token\n");
  p = load_text(buf, NULL, 0, &e);
  CHECK(p == NULL && has_error(&e, tmpfile_path, 1, "pattern longer than 1024 bytes"),
        "over-long pattern refused");
  gw_errors_free(&e);
  n = (size_t)snprintf(buf, cap, "[GET ");
  for (int i = 0; i <= GW_PATH_MAX_SEGMENTS; i++) n += (size_t)snprintf(buf + n, cap - n, "/a");
  n += (size_t)snprintf(buf + n, cap - n, "]\nauth = token\n");
  p = load_text(buf, NULL, 0, &e);
  CHECK(p == NULL && has_error(&e, tmpfile_path, 1, "more than 128 segments"),
        "over-deep pattern refused");
  gw_errors_free(&e);
  n = (size_t)snprintf(buf, cap, "[GET ");
  for (int i = 0; i < GW_PATH_MAX_SEGMENTS; i++) n += (size_t)snprintf(buf + n, cap - n, "/a");
  n += (size_t)snprintf(buf + n, cap - n, "]\nauth = token\n");
  p = load_text(buf, NULL, 0, &e);
  CHECK(p != NULL, "deepest pattern accepted");
  policy_free(p);
  gw_errors_free(&e);
  free(buf);

  p = policy_load("/nonexistent/policy.ini", NULL, 0, &e);
  CHECK(p == NULL && e.n >= 1, "missing file is an error");
  gw_errors_free(&e);
}

/* ---- matching precedence ---- */

static const char *prec_ini =
    "[GET /p/a]\nauth = token\n"            /* 1 */
    "[GET /p/*]\nauth = token\n"            /* 3 */
    "[GET /p/**]\nauth = token\n"           /* 5 */
    "[GET /q/{id}/x]\nauth = token\n"       /* 7 */
    "[GET /q/a/**]\nauth = token\n"         /* 9 */
    "[GET /r]\nauth = token\n"              /* 11 */
    "[GET /r/**]\nauth = token\n"           /* 13 */
    "[* /m]\nauth = token\n"                /* 15 */
    "[POST /m]\nauth = token\n"             /* 17 */
    "[GET /h]\nauth = token\n"              /* 19 */
    "[GET /h2]\nauth = token\n"             /* 21 */
    "[HEAD /h2]\nauth = token\n"            /* 23 */
    "[GET /h3]\nauth = token\n"             /* 25 */
    "[* /h3]\nauth = token\n"               /* 27 */
    "[* /h4]\nauth = token\n"               /* 29 */
    "[GET /t/]\nauth = token\n"             /* 31 */
    "[GET /u/*]\nauth = token\n"            /* 33 */
    "[GET /v/**]\nauth = token\n"           /* 35 */
    "[GET /api/v4/profiles]\nauth = token\n" /* 37 */
    "[GET /w/**]\nauth = token\n"           /* 39 */
    "[* /w/x]\nauth = token\n"              /* 41 */
    "[GET /y/a]\nauth = token\n"            /* 43 */
    "[* /y/**]\nauth = token\n"             /* 45 */
    "[GET /]\nauth = token\n"               /* 47 */
    "[GET /z/*/*]\nauth = token\n"          /* 49 */
    "[GET /z/a/**]\nauth = token\n"         /* 51 */
    "[GET /z/*/b/**]\nauth = token\n"       /* 53 */
    "[GET,  HEAD ,POST /sp]\nauth = token\n" /* 55 */
    "[GET\t/tab]\nauth = token\n"           /* 57 */
    "[GET /s/*/x]\nauth = token\n"          /* 59 */
    "[GET /s/a/y]\nauth = token\n"          /* 61 */
    "[GET /k/a]\nauth = token\n"            /* 63 */
    "[HEAD /k/*]\nauth = token\n";          /* 65 */

typedef struct {
  const char *method, *path;
  int line; /* 0: no route */
  const char *why;
} prec_case_t;

static const prec_case_t prec_cases[] = {
    {"GET", "/p/a", 1, "literal beats * and **"},
    {"GET", "/p/b", 3, "* beats **"},
    {"GET", "/p/a/b", 5, "** takes deeper paths"},
    {"GET", "/p", 5, "** matches zero segments"},
    {"GET", "/p/", 5, "trailing '/' is an empty segment: not *, but **"},
    {"GET", "/q/a/x", 9, "first difference decides: literal 'a' beats {id} though the other is longer"},
    {"GET", "/q/b/x", 7, "{id} where no literal"},
    {"GET", "/r", 11, "/r beats /r/** for /r: a final ** matching no segment loses (SPEC)"},
    {"GET", "/r/x", 13, "only /r/** matches"},
    {"POST", "/m", 17, "explicit method beats *"},
    {"GET", "/m", 15, "* serves other methods"},
    {"BREW", "/m", 15, "* serves unknown methods"},
    {"HEAD", "/h", 19, "GET serves HEAD"},
    {"HEAD", "/h2", 23, "a HEAD route takes HEAD"},
    {"GET", "/h2", 21, "GET stays GET"},
    {"HEAD", "/h3", 25, "GET serving HEAD beats *"},
    {"POST", "/h3", 27, "* still serves the rest"},
    {"HEAD", "/h4", 29, "* serves HEAD"},
    {"POST", "/h", 0, "GET route does not serve POST"},
    {"GET", "/t/", 31, "literal trailing '/' route"},
    {"GET", "/t", 0, "/t/ does not match /t"},
    {"GET", "/u/", 0, "* does not match an empty segment"},
    {"GET", "/u/x", 33, "* matches one segment"},
    {"GET", "/u/x/y", 0, "* matches exactly one segment"},
    {"GET", "/v", 35, "** zero segments"},
    {"GET", "/v/", 35, "** matches the trailing empty segment"},
    {"GET", "/v/a/b/c/d", 35, "** many segments"},
    {"GET", "/api/v4/profiles", 37, "exact"},
    {"GET", "/api/v4/profiles;x=1", 0, "';' is not special"},
    {"GET", "/api/v4/profiles;", 0, "';' is not special, even alone"},
    {"GET", "/API/v4/profiles", 0, "case-sensitive path"},
    {"GET", "/api/v4/Profiles", 0, "case-sensitive segment"},
    {"get", "/api/v4/profiles", 0, "case-sensitive method"},
    {"GET", "/api/v4/profiles/", 0, "trailing '/' is another path"},
    {"GET", "/w/x", 41, "pattern before method: /w/x (method *) beats /w/** (GET)"},
    {"POST", "/y/a", 45, "a route must admit the method: POST falls to /y/**"},
    {"GET", "/y/a", 43, "GET takes the literal route"},
    {"HEAD", "/y/a", 43, "HEAD via GET on the literal route"},
    {"GET", "/", 47, "root"},
    {"GET", "/x", 0, "root pattern is not a prefix"},
    {"GET", "/z/a/c", 51, "literal at position 2 beats * there"},
    {"GET", "/z/c/b", 53, "/z/*/b/** beats /z/*/*: literal b at position 2 (** then matches zero)"},
    {"GET", "/z/c/d", 49, "/z/*/* where b does not match"},
    {"GET", "/z/a/b", 51, "/z/a/** (literal at 2) beats /z/*/* and /z/*/b/**"},
    {"GET", "/z/c/b/d", 53, "only /z/*/b/** matches"},
    {"HEAD", "/sp", 55, "spaces around commas in METHODS"},
    {"POST", "/sp", 55, "every method of the list"},
    {"GET", "/tab", 57, "tab between METHODS and PATTERN"},
    {"GET", "/s/a/x", 59, "literal branch dead-ends, * branch matches (backtracking)"},
    {"GET", "/s/a/y", 61, "literal branch matches"},
    {"HEAD", "/k/a", 63, "HEAD: pattern first, so GET /k/a beats HEAD /k/*"},
    {"HEAD", "/k/b", 65, "HEAD /k/* where the literal does not match"},
    {"GET", "/k/b", 0, "a HEAD route does not serve GET"},
    {"GET", "", 0, "empty path"},
    {"GET", "*", 0, "asterisk-form is not a path"},
};

static void test_precedence(void) {
  gw_errors_t e = {0};
  gw_policy_t *p = load_text(prec_ini, NULL, 0, &e);
  CHECK(p != NULL, "precedence policy loads");
  dump_errors(&e);
  gw_errors_free(&e);
  if (!p) return;
  char what[256];
  for (size_t i = 0; i < sizeof prec_cases / sizeof prec_cases[0]; i++) {
    const prec_case_t *c = &prec_cases[i];
    const gw_route_t *r = policy_match(p, c->method, strlen(c->method), c->path, strlen(c->path));
    snprintf(what, sizeof what, "%s %s: %s", c->method, c->path, c->why);
    CHECK_INT(r ? r->line : 0, c->line, what);
  }
  const gw_route_t *r = policy_match(p, "GET", 3, "/q/a/x", 6);
  CHECK(r && strcmp(r->pattern, "/q/a/**") == 0 && strcmp(r->methods, "GET") == 0,
        "route carries its pattern and methods");
  r = policy_match(p, "POST", 4, "/sp", 3);
  CHECK(r && strcmp(r->methods, "GET,HEAD,POST") == 0, "methods are stored canonical");
  /* the length given is the path: bytes after it are not looked at */
  CHECK_INT(policy_match(p, "GET", 3, "/p/a/zzz", 4)->line, 1, "path length is honoured");
  CHECK_INT(policy_match(p, "POSTX", 4, "/m", 2)->line, 17, "method length is honoured");
  CHECK_INT(policy_route_count(p), 33, "every route listed");
  CHECK(policy_route(p, 0)->line == 1 && policy_route(p, 32)->line == 65 && !policy_route(p, 33),
        "routes in file order");
  policy_free(p);

  /* A path far deeper than any pattern: the walk stops where the trie
   * does, so depth and length of the path cost nothing more. */
  p = load_text("[GET /**]\nauth = token\n[GET /a/*/a/**]\nauth = token\n[GET /a/a/a/b]\nauth = token\n",
                NULL, 0, &e);
  CHECK(p != NULL, "deep-path policy loads");
  size_t n = 200000;
  char *deep = malloc(n);
  for (size_t i = 0; i < n; i += 2) {
    deep[i] = '/';
    deep[i + 1] = 'a';
  }
  CHECK_INT(policy_match(p, "GET", 3, deep, n)->line, 3, "100000 segments: /a/*/a/** wins");
  deep[5] = 'b';
  CHECK_INT(policy_match(p, "GET", 3, deep, n)->line, 1, "literal mismatch at 3: only /** remains");
  deep[5] = 'a';
  deep[7] = 'b';
  CHECK_INT(policy_match(p, "GET", 3, deep, 8)->line, 5, "the first 8 bytes: exact /a/a/a/b");
  CHECK_INT(policy_match(p, "GET", 3, deep, 9)->line, 3, "/a/a/a/b/ is not /a/a/a/b: /a/*/a/** takes it");
  free(deep);
  policy_free(p);
  gw_errors_free(&e);
}

/* ---- decisions and scope listings ---- */

static gw_scopeset_t S(const gw_policy_t *p, const char *list) {
  return scopes_parse_list(policy_scopes(p), list, strlen(list));
}

static void test_decide(void) {
  const char *ini =
      "[GET /all]\nscopes = a b\n"
      "[GET /any]\nany_scopes = b c\n"
      "[GET /both]\nscopes = a\nany_scopes = b c\n"
      "[GET /pub]\nauth = none\n"
      "[GET /tok]\nauth = token\n"
      "[GET /tokscope]\nauth = token\nscopes = d\n"
      "[mcp-tool:delete_profile]\nscopes = c d\n"
      "[mcp-tool:a.b-c_d]\nscopes = a\n";
  gw_errors_t e = {0};
  gw_policy_t *p = load_text(ini, NULL, 0, &e);
  CHECK(p != NULL, "decision policy loads");
  dump_errors(&e);
  gw_errors_free(&e);
  if (!p) return;
  gw_scopeset_t miss = 12345;
#define ROUTE(path) policy_match(p, "GET", 3, path, strlen(path))
  CHECK_INT(policy_decide(p, ROUTE("/all"), 1, S(p, "a b"), &miss), GW_POLICY_ALLOW, "all held");
  CHECK_INT(miss, 0, "nothing missing");
  CHECK_INT(policy_decide(p, ROUTE("/all"), 1, S(p, "b x"), &miss), GW_POLICY_INSUFFICIENT_SCOPE,
            "one of all missing");
  CHECK_INT(miss, S(p, "a"), "exactly the missing required scope");
  CHECK_INT(policy_decide(p, ROUTE("/all"), 1, 0, &miss), GW_POLICY_INSUFFICIENT_SCOPE, "none held");
  CHECK_INT(miss, S(p, "a b"), "all required scopes missing");
  CHECK_INT(policy_decide(p, ROUTE("/all"), 0, S(p, "a b"), &miss), GW_POLICY_NEED_TOKEN,
            "scopes of an invalid token do not count");
  CHECK_INT(miss, 0, "no missing set without a token");
  CHECK_INT(policy_decide(p, ROUTE("/any"), 1, S(p, "c"), &miss), GW_POLICY_ALLOW, "one of any");
  CHECK_INT(policy_decide(p, ROUTE("/any"), 1, S(p, "a d"), &miss), GW_POLICY_INSUFFICIENT_SCOPE,
            "none of any");
  CHECK_INT(miss, S(p, "b c"), "the any set is missing");
  CHECK_INT(policy_decide(p, ROUTE("/both"), 1, S(p, "b"), &miss), GW_POLICY_INSUFFICIENT_SCOPE,
            "any held, required not");
  CHECK_INT(miss, S(p, "a"), "only the required one");
  CHECK_INT(policy_decide(p, ROUTE("/both"), 1, S(p, "a"), &miss), GW_POLICY_INSUFFICIENT_SCOPE,
            "required held, any not");
  CHECK_INT(miss, S(p, "b c"), "only the any set");
  CHECK_INT(policy_decide(p, ROUTE("/both"), 1, S(p, "d"), &miss), GW_POLICY_INSUFFICIENT_SCOPE,
            "neither");
  CHECK_INT(miss, S(p, "a b c"), "both");
  CHECK_INT(policy_decide(p, ROUTE("/both"), 1, S(p, "c a"), &miss), GW_POLICY_ALLOW, "both held");
  CHECK_INT(policy_decide(p, ROUTE("/pub"), 0, 0, &miss), GW_POLICY_PUBLIC, "public, no token");
  CHECK_INT(policy_decide(p, ROUTE("/pub"), 1, 0, &miss), GW_POLICY_PUBLIC, "public, with token");
  CHECK_INT(policy_decide(p, ROUTE("/tok"), 1, 0, &miss), GW_POLICY_ALLOW, "auth = token, no scope");
  CHECK_INT(policy_decide(p, ROUTE("/tok"), 0, 0, &miss), GW_POLICY_NEED_TOKEN, "auth = token, no token");
  CHECK_INT(policy_decide(p, ROUTE("/tokscope"), 1, 0, &miss), GW_POLICY_INSUFFICIENT_SCOPE,
            "auth = token with scopes still needs them");
  CHECK_INT(policy_decide(p, NULL, 0, 0, &miss), GW_POLICY_NEED_TOKEN, "unmatched, no token: 401");
  CHECK_INT(policy_decide(p, NULL, 1, ~(gw_scopeset_t)0, &miss), GW_POLICY_DENY_UNMATCHED,
            "unmatched, valid token with every scope: still denied");
  CHECK_INT(miss, 0, "no scope would help");
  CHECK_INT(policy_decide(p, ROUTE("/all"), 1, S(p, "a"), NULL), GW_POLICY_INSUFFICIENT_SCOPE,
            "missing may be NULL");
  CHECK_INT(policy_unmatched(p), GW_UNMATCHED_DENY, "deny is the default");
#undef ROUTE
  char buf[128];
  CHECK_INT(scopes_format(policy_scopes(p), policy_all_scopes(p), buf, sizeof buf), 7,
            "all scopes formatted");
  CHECK_STR(buf, "a b c d", "all scopes in order of first use");
  CHECK_INT(policy_tool(p, "delete_profile", 14), S(p, "c d"), "tool scopes");
  CHECK_INT(policy_tool(p, "a.b-c_d", 7), S(p, "a"), "tool with punctuation");
  CHECK_INT(policy_tool(p, "delete_profil", 13), 0, "prefix of a tool name is not the tool");
  CHECK_INT(policy_tool(p, "nope", 4), 0, "unknown tool needs nothing extra");
  CHECK_INT(policy_tool_scopes(p), S(p, "a c d"), "union of tool scopes");
  policy_free(p);

  p = load_text("[defaults]\nunmatched = token\n[GET /x]\nscopes = a\n", NULL, 0, &e);
  CHECK(p && policy_unmatched(p) == GW_UNMATCHED_TOKEN, "unmatched = token loads");
  if (p) {
    CHECK_INT(policy_decide(p, NULL, 1, 0, NULL), GW_POLICY_ALLOW, "unmatched = token: valid token passes");
    CHECK_INT(policy_decide(p, NULL, 0, 0, NULL), GW_POLICY_NEED_TOKEN, "unmatched = token: anonymous refused");
  }
  policy_free(p);
  gw_errors_free(&e);
}

static void test_scopes_under(void) {
  const char *ini =
      "[GET /api/v4/a]\nscopes = s1\n"
      "[GET /api/v4/b/**]\nany_scopes = s2 s3\n"
      "[GET /mcp]\nscopes = m1\n"
      "[POST /mcp/**]\nscopes = m2\n"
      "[GET /*/x]\nscopes = w1\n"
      "[GET /mcpx]\nscopes = n1\n"
      "[GET /]\nscopes = r1\n"
      "[GET /**]\nscopes = all\n"
      "[GET /pub/**]\nauth = none\n";
  gw_errors_t e = {0};
  char *sup[] = {"all", "zz", "r1", "n1", "w1", "m2", "m1", "s3", "s2", "s1"};
  gw_policy_t *p = load_text(ini, sup, 10, &e);
  CHECK(p != NULL, "scopes_under policy loads");
  dump_errors(&e);
  gw_errors_free(&e);
  if (!p) return;
  char buf[256];
  scopes_format(policy_scopes(p), policy_scopes_under(p, "/mcp", 4), buf, sizeof buf);
  CHECK_STR(buf, "all w1 m2 m1", "under /mcp: /mcp, /mcp/**, /*/x, /** (not /mcpx), registry order");
  scopes_format(policy_scopes(p), policy_scopes_under(p, "/api/v4", 7), buf, sizeof buf);
  CHECK_STR(buf, "all s3 s2 s1", "under /api/v4");
  scopes_format(policy_scopes(p), policy_scopes_under(p, "/api/v4/", 8), buf, sizeof buf);
  CHECK_STR(buf, "all s3 s2 s1", "a trailing '/' on the prefix changes nothing");
  scopes_format(policy_scopes(p), policy_scopes_under(p, "/", 1), buf, sizeof buf);
  CHECK_STR(buf, "all r1 n1 w1 m2 m1 s3 s2 s1", "under / : everything");
  scopes_format(policy_scopes(p), policy_all_scopes(p), buf, sizeof buf);
  CHECK_STR(buf, "all zz r1 n1 w1 m2 m1 s3 s2 s1", "all scopes: scopes_supported order, unused included");
  policy_free(p);
}

/* ---- the shipped policies ---- */

typedef struct {
  const char *method, *target; /* raw target, normalized here first */
  const char *pattern;         /* NULL: unmatched */
  int auth;                    /* GW_AUTH_* */
  const char *scopes;          /* required scopes, formatted */
} api_case_t;

static const api_case_t api_cases[] = {
    {"POST", "/api/v4/auth", "/api/v4/auth", GW_AUTH_NONE, ""},
    {"GET", "/api/v4/auth", NULL, 0, NULL},
    {"POST", "/api/v4/test", "/api/v4/test", GW_AUTH_TOKEN, ""},
    {"GET", "/api/v4/profiles", "/api/v4/profiles", GW_AUTH_TOKEN, "profiles:read"},
    {"HEAD", "/api/v4/profiles", "/api/v4/profiles", GW_AUTH_TOKEN, "profiles:read"},
    {"POST", "/api/v4/profiles", "/api/v4/profiles", GW_AUTH_TOKEN, "profiles:write"},
    {"GET", "/api/v4/profiles/p1", "/api/v4/profiles/{id}", GW_AUTH_TOKEN, "profiles:read"},
    {"PATCH", "/api/v4/profiles/p1", "/api/v4/profiles/{id}", GW_AUTH_TOKEN, "profiles:write"},
    {"PUT", "/api/v4/profiles/p1", "/api/v4/profiles/{id}", GW_AUTH_TOKEN, "profiles:write"},
    {"DELETE", "/api/v4/profiles/p1", "/api/v4/profiles/{id}", GW_AUTH_TOKEN, "profiles:write"},
    {"GET", "/api/v4/profiles/p1/disc", "/api/v4/profiles/{id}/disc", GW_AUTH_TOKEN, "profiles:read"},
    {"GET", "/api/v4/profiles/p1/focus", "/api/v4/profiles/{id}/focus", GW_AUTH_TOKEN, "profiles:read"},
    {"GET", "/api/v4/profiles/p1/core", "/api/v4/profiles/{id}/core", GW_AUTH_TOKEN, "profiles:read"},
    {"GET", "/api/v4/profiles/p1/debrief", "/api/v4/profiles/{id}/debrief", GW_AUTH_TOKEN, "profiles:read"},
    {"POST", "/api/v4/profiles/p1/debrief", "/api/v4/profiles/{id}/debrief", GW_AUTH_TOKEN, "profiles:read"},
    {"POST", "/api/v4/profiles/p1/resend-invite", "/api/v4/profiles/{id}/resend-invite", GW_AUTH_TOKEN,
     "profiles:write"},
    {"DELETE", "/api/v4/profiles/p1/disc", NULL, 0, NULL},
    {"GET", "/api/v4/tags", "/api/v4/tags", GW_AUTH_TOKEN, "tags:manage"},
    {"POST", "/api/v4/tags", "/api/v4/tags", GW_AUTH_TOKEN, "tags:manage"},
    {"PATCH", "/api/v4/tags/t1", "/api/v4/tags/{id}", GW_AUTH_TOKEN, "tags:manage"},
    {"DELETE", "/api/v4/tags/t1", "/api/v4/tags/{id}", GW_AUTH_TOKEN, "tags:manage"},
    {"PUT", "/api/v4/tags/t1/profiles", "/api/v4/tags/{id}/profiles", GW_AUTH_TOKEN, "tags:manage"},
    {"GET", "/api/v4/account", "/api/v4/account", GW_AUTH_TOKEN, "account:read"},
    {"PATCH", "/api/v4/account", NULL, 0, NULL},
    {"DELETE", "/api/v4/account", NULL, 0, NULL},
    {"PUT", "/api/v4/account/logo", "/api/v4/account/logo", GW_AUTH_TOKEN, "account:write"},
    {"PATCH", "/api/v4/account/preferences", "/api/v4/account/preferences", GW_AUTH_TOKEN, "account:write"},
    {"GET", "/api/v4/assessments", "/api/v4/assessments", GW_AUTH_TOKEN, "account:read"},
    {"GET", "/api/v4/resource-aliases/x", "/api/v4/resource-aliases/{id}", GW_AUTH_TOKEN, "account:read"},
    {"POST", "/api/v4/resource-aliases", "/api/v4/resource-aliases", GW_AUTH_TOKEN, "account:write"},
    {"DELETE", "/api/v4/resource-aliases/x", "/api/v4/resource-aliases/{id}", GW_AUTH_TOKEN, "account:write"},
    {"GET", "/mcp", "/mcp", GW_AUTH_TOKEN, ""},
    {"POST", "/mcp", "/mcp", GW_AUTH_TOKEN, ""},
    {"DELETE", "/mcp/session/1", "/mcp/**", GW_AUTH_TOKEN, ""},
    {"GET", "/mcpx", NULL, 0, NULL},
    /* hostile spellings normalize to the judged path */
    {"GET", "/api/v4/tags/../profiles", "/api/v4/profiles", GW_AUTH_TOKEN, "profiles:read"},
    {"GET", "/api/v4/tags/%2e%2e/profiles", "/api/v4/profiles", GW_AUTH_TOKEN, "profiles:read"},
    {"GET", "/api/v4/%70rofiles", "/api/v4/profiles", GW_AUTH_TOKEN, "profiles:read"},
    {"GET", "/api/v4//profiles", "/api/v4/profiles", GW_AUTH_TOKEN, "profiles:read"},
    {"GET", "/api/v4/profiles/p1/./disc", "/api/v4/profiles/{id}/disc", GW_AUTH_TOKEN, "profiles:read"},
    {"GET", "/api/v4/profiles;x=1", NULL, 0, NULL},
    {"GET", "/api/v4/profiles/", NULL, 0, NULL},
    {"GET", "/API/v4/profiles", NULL, 0, NULL},
    {"GET", "/api/v4/profiles/p1/disc/extra", NULL, 0, NULL},
    {"OPTIONS", "/api/v4/profiles", NULL, 0, NULL},
};

static void test_profile_api(void) {
  static char *sup[] = {"profiles:read", "profiles:write", "tags:manage", "account:read",
                        "account:write"};
  gw_errors_t e = {0};
  gw_policy_t *p = policy_load("policies/profile-api.ini", NULL, 0, &e);
  CHECK(p != NULL, "policies/profile-api.ini loads cleanly");
  CHECK_INT(e.n, 0, "no errors in profile-api.ini");
  dump_errors(&e);
  gw_errors_free(&e);
  if (!p) return;
  char buf[256], what[256], path[256];
  scopes_format(policy_scopes(p), policy_all_scopes(p), buf, sizeof buf);
  CHECK_STR(buf, "profiles:read profiles:write tags:manage account:read account:write",
            "the five documented scopes, nothing else");
  CHECK_INT(policy_unmatched(p), GW_UNMATCHED_DENY, "profile-api: unmatched = deny");
  for (size_t i = 0; i < sizeof api_cases / sizeof api_cases[0]; i++) {
    const api_case_t *c = &api_cases[i];
    size_t plen;
    snprintf(what, sizeof what, "profile-api: %s %s", c->method, c->target);
    if (pathnorm(c->target, strlen(c->target), path, sizeof path, &plen, NULL) != 0) {
      CHECK(0, what);
      continue;
    }
    const gw_route_t *r = policy_match(p, c->method, strlen(c->method), path, plen);
    CHECK_STR(r ? r->pattern : NULL, c->pattern, what);
    if (!r || !c->pattern) continue;
    CHECK_INT(r->auth, c->auth, "auth kind");
    scopes_format(policy_scopes(p), r->required, buf, sizeof buf);
    CHECK_STR(buf, c->scopes, "required scopes");
    CHECK_INT(r->any, 0, "no any_scopes in the table");
  }
  CHECK_INT(policy_scopes_under(p, "/mcp", 4), 0, "/mcp routes name no scope");
  CHECK_INT(policy_scopes_under(p, "/api/v4", 7), policy_all_scopes(p), "/api/v4 uses all five");

  /* decisions on the real table */
  const gw_route_t *r = policy_match(p, "GET", 3, "/api/v4/profiles/p1/disc", 24);
  gw_scopeset_t have = S(p, "profiles:write tags:manage"), miss;
  CHECK_INT(policy_decide(p, r, 1, have, &miss), GW_POLICY_INSUFFICIENT_SCOPE,
            "profiles:write does not read scores");
  scopes_format(policy_scopes(p), miss, buf, sizeof buf);
  CHECK_STR(buf, "profiles:read", "the missing scope is named");
  policy_free(p);

  p = policy_load("policies/profile-api.ini", sup, 5, &e);
  CHECK(p != NULL && e.n == 0, "profile-api.ini loads against the documented scopes_supported");
  policy_free(p);
  gw_errors_free(&e);

  p = policy_load("policies/profile-api.ini", sup, 3, &e);
  CHECK(p == NULL, "a shorter scopes_supported makes the policy invalid");
  int all = e.n > 0;
  for (size_t i = 0; i < e.n; i++)
    if (!strstr(e.msgs[i], "policies/profile-api.ini:") || !strstr(e.msgs[i], "is not in [resource] scopes_supported"))
      all = 0;
  CHECK(all, "every use of account:* is reported with its line");
  CHECK(e.n >= 10, "all of them, not only the first");
  gw_errors_free(&e);

  p = policy_load("policies/public.ini", NULL, 0, &e);
  CHECK(p != NULL && e.n == 0, "policies/public.ini loads");
  if (p) {
    r = policy_match(p, "DELETE", 6, "/any/thing", 10);
    CHECK(r && policy_decide(p, r, 0, 0, NULL) == GW_POLICY_PUBLIC, "public.ini: everything public");
    r = policy_match(p, "GET", 3, "/", 1);
    CHECK(r && r->auth == GW_AUTH_NONE, "public.ini: root too");
  }
  policy_free(p);
  gw_errors_free(&e);
}

/* ---- MCP item sections ---- */

static const gw_mcp_item_t *find_item(const gw_policy_t *p, gw_mcp_kind_t k, const char *name) {
  return mcp_items_find(policy_mcp(p), k, name, strlen(name));
}

static void test_mcp_items(void) {
  const char *ini =
      "[defaults]\n"                         /* 1 */
      "mcp_unlisted = deny\n"                /* 2 */
      "[POST /mcp]\n"                        /* 3 */
      "scopes = mcp\n"                       /* 4 */
      "[mcp-tool:search]\n"                  /* 5 */
      "scopes = s1 s2\n"                     /* 6 */
      "any_scopes = a1 a2\n"                 /* 7 */
      "[mcp-tool:admin]\n"                   /* 8 */
      "any_scopes = adm\n"                   /* 9 */
      "[mcp-prompt:search]\n"                /* 10 */
      "scopes = p1\n"                        /* 11 */
      "[mcp-resource:file:///docs/*]\n"      /* 12 */
      "scopes = r1\n"                        /* 13 */
      "[mcp-resource:file:///docs/readme]\n" /* 14 */
      "any_scopes = r2\n"                    /* 15 */
      "[mcp-resource:search]\n"              /* 16 */
      "scopes = r3\n"                        /* 17 */
      "[mcp-resource:search*]\n"             /* 18 */
      "scopes = r4 ; a prefix and the exact URI are two sections\n"; /* 19 */
  gw_errors_t e = {0};
  gw_policy_t *p = load_text(ini, NULL, 0, &e);
  CHECK(p != NULL && e.n == 0, "mcp items: every kind and key loads; one name under several kinds is fine");
  dump_errors(&e);
  gw_errors_free(&e);
  if (!p) return;
  const gw_mcp_items_t *t = policy_mcp(p);
  CHECK_INT(t->n, 7, "mcp items: seven sections");
  CHECK_INT(t->unlisted, GW_MCP_UNLISTED_DENY, "mcp items: mcp_unlisted = deny");
  CHECK_INT(t->unlisted_line, 2, "mcp items: mcp_unlisted from line 2");
  CHECK_INT(policy_route_count(p), 1, "mcp items: sections are not routes");

  const gw_mcp_item_t *it = find_item(p, GW_MCP_TOOL, "search");
  CHECK(it && it->kind == GW_MCP_TOOL && it->line == 5 && !it->prefix, "tool search: found, line 5");
  CHECK(it && it->required == S(p, "s1 s2") && it->any == S(p, "a1 a2"), "tool search: scopes and any_scopes apart");
  CHECK_STR(it ? it->section : NULL, "[mcp-tool:search]", "tool search: section text");
  CHECK_INT(it ? it->index : 99, 0, "tool search: first in file order");
  it = find_item(p, GW_MCP_TOOL, "admin");
  CHECK(it && it->required == 0 && it->any == S(p, "adm"), "tool admin: any_scopes only");
  it = find_item(p, GW_MCP_PROMPT, "search");
  CHECK(it && it->kind == GW_MCP_PROMPT && it->required == S(p, "p1") && it->line == 10, "prompt search: its own");
  it = find_item(p, GW_MCP_RESOURCE, "file:///docs/x");
  CHECK(it && it->prefix && it->len == 13 && memcmp(it->name, "file:///docs/", 13) == 0 && it->required == S(p, "r1"),
        "resource prefix: name kept without the '*'");
  CHECK_STR(it ? it->section : NULL, "[mcp-resource:file:///docs/*]", "resource prefix: section as written");
  CHECK_INT(it ? it->index : 99, 3, "resource prefix: index is file order, whatever the lookup order");
  it = find_item(p, GW_MCP_RESOURCE, "file:///docs/readme");
  CHECK(it && !it->prefix && it->any == S(p, "r2") && it->line == 14, "resource exact: beats the prefix");
  it = find_item(p, GW_MCP_RESOURCE, "search");
  CHECK(it && !it->prefix && it->required == S(p, "r3"), "resource 'search': exact");
  it = find_item(p, GW_MCP_RESOURCE, "searching");
  CHECK(it && it->prefix && it->required == S(p, "r4"), "resource 'searching': the prefix search*");
  CHECK(find_item(p, GW_MCP_PROMPT, "admin") == NULL, "prompt admin: a tool's name is no prompt");
  CHECK(find_item(p, GW_MCP_TOOL, "file:///docs/readme") == NULL, "tool: a resource's URI is no tool");
  CHECK(find_item(p, GW_MCP_RESOURCE, "file:///doc") == NULL, "resource shorter than the prefix: none");

  CHECK_INT(policy_tool(p, "search", 6), S(p, "s1 s2 a1 a2"), "policy_tool(search): scopes + any_scopes");
  CHECK_INT(policy_tool(p, "admin", 5), S(p, "adm"), "policy_tool(admin): any_scopes");
  CHECK_INT(policy_tool(p, "searc", 5), 0, "policy_tool: a prefix of a name is not the tool");
  CHECK_INT(policy_tool(p, "searchx", 7), 0, "policy_tool: a longer name is not the tool");
  CHECK_INT(policy_tool(p, "Search", 6), 0, "policy_tool: names are case-sensitive");
  CHECK_INT(policy_tool(p, "file:///docs/readme", 19), 0, "policy_tool: resources are not tools");
  CHECK_INT(policy_tool_scopes(p), S(p, "s1 s2 a1 a2 adm p1 r1 r2 r3 r4"),
            "policy_tool_scopes: every item's scopes, not the route's");
  CHECK(!(policy_tool_scopes(p) & S(p, "mcp")), "policy_tool_scopes: the route scope is not in it");
  policy_free(p);

  /* defaults: allow, and a policy without items */
  p = load_text("[GET /a]\nauth = token\n", NULL, 0, &e);
  CHECK(p && policy_mcp(p)->n == 0 && policy_mcp(p)->unlisted == GW_MCP_UNLISTED_ALLOW,
        "no items: mcp_unlisted defaults to allow");
  CHECK(p && policy_tool_scopes(p) == 0 && policy_tool(p, "x", 1) == 0, "no items: no tool scopes");
  policy_free(p);
  p = load_text("[defaults]\nmcp_unlisted = allow\nunmatched = token\n[mcp-tool:t]\nscopes = x\n", NULL, 0, &e);
  CHECK(p && policy_mcp(p)->unlisted == GW_MCP_UNLISTED_ALLOW && policy_unmatched(p) == GW_UNMATCHED_TOKEN,
        "mcp_unlisted = allow next to unmatched");
  CHECK(p && policy_tool(p, "t", 1) == S(p, "x"), "an item section without any route");
  policy_free(p);
  dump_errors(&e);
  gw_errors_free(&e);
}

static void test_mcp_limits(void) {
  char ini[4096], name[GW_POLICY_MAX_RESOURCE_URI + 2];
  gw_errors_t e = {0};
  memset(name, 't', sizeof name);
  name[GW_POLICY_MAX_TOOL_NAME] = '\0';
  snprintf(ini, sizeof ini, "[mcp-tool:%s]\nscopes = a\n", name);
  gw_policy_t *p = load_text(ini, NULL, 0, &e);
  CHECK(p && policy_tool(p, name, GW_POLICY_MAX_TOOL_NAME) == S(p, "a"), "tool name of the longest length loads");
  policy_free(p);
  name[GW_POLICY_MAX_TOOL_NAME] = 't';
  name[GW_POLICY_MAX_TOOL_NAME + 1] = '\0';
  snprintf(ini, sizeof ini, "[GET /a]\nauth = token\n[mcp-prompt:%s]\nscopes = a\n", name);
  p = load_text(ini, NULL, 0, &e);
  if (!CHECK(!p && e.n == 1 && has_error(&e, tmpfile_path, 3, "the name must have 1 to 128"),
             "prompt name one too long: refused at its line"))
    dump_errors(&e);
  gw_errors_free(&e);

  memset(name, 'u', sizeof name);
  name[GW_POLICY_MAX_RESOURCE_URI] = '\0';
  snprintf(ini, sizeof ini, "[mcp-resource:%s]\nscopes = a\n", name);
  p = load_text(ini, NULL, 0, &e);
  CHECK(p != NULL && e.n == 0, "resource URI of the longest length loads");
  policy_free(p);
  name[GW_POLICY_MAX_RESOURCE_URI] = 'u';
  name[GW_POLICY_MAX_RESOURCE_URI + 1] = '\0';
  snprintf(ini, sizeof ini, "[mcp-resource:%s]\nscopes = a\n", name);
  p = load_text(ini, NULL, 0, &e);
  if (!CHECK(!p && e.n == 1 && has_error(&e, tmpfile_path, 1, "the name must have 1 to 1024"),
             "resource URI one too long: refused"))
    dump_errors(&e);
  gw_errors_free(&e);

  /* scopes_supported holds for item sections as for routes */
  char *sup[] = {"a", "b"};
  p = load_text("[mcp-tool:t]\nscopes = a\nany_scopes = b zz\n", sup, 2, &e);
  if (!CHECK(!p && e.n == 1 && has_error(&e, tmpfile_path, 3, "scope 'zz' is not in [resource] scopes_supported"),
             "item scope outside scopes_supported: refused at its line"))
    dump_errors(&e);
  gw_errors_free(&e);

  /* every error of a file with several, in one load */
  const char *many =
      "[mcp-tool:]\n"              /* 1 */
      "scopes = a\n"               /* 2 */
      "[mcp-tool:x*]\n"            /* 3 */
      "[mcp-tool:ok]\n"            /* 4 */
      "scopes = a\n"               /* 5 */
      "[mcp-tool:ok]\n"            /* 6 */
      "[mcp-prompt:ok]\n"          /* 7 */
      "color = red\n"              /* 8 */
      "[defaults]\n"               /* 9 */
      "mcp_unlisted = maybe\n"     /* 10 */
      "mcp_unlisted = deny\n";     /* 11 */
  p = load_text(many, NULL, 0, &e);
  CHECK(p == NULL, "mcp many errors: refused");
  CHECK(has_error(&e, tmpfile_path, 1, "must have 1 to"), "mcp many errors: line 1");
  CHECK(has_error(&e, tmpfile_path, 3, "'*' makes a prefix"), "mcp many errors: line 3");
  CHECK(has_error(&e, tmpfile_path, 6, "duplicate [mcp-tool:ok] (first at line 4)"), "mcp many errors: line 6");
  CHECK(has_error(&e, tmpfile_path, 8, "unknown key 'color'"), "mcp many errors: line 8");
  CHECK(has_error(&e, tmpfile_path, 7, "[mcp-prompt:ok] has no scopes"), "mcp many errors: line 7");
  CHECK(has_error(&e, tmpfile_path, 10, "mcp_unlisted must be"), "mcp many errors: line 10");
  CHECK(has_error(&e, tmpfile_path, 11, "duplicate key 'mcp_unlisted' (first at line 10)"), "mcp many errors: line 11");
  CHECK_INT(e.n, 7, "mcp many errors: exactly seven");
  if (e.n != 7) dump_errors(&e);
  gw_errors_free(&e);
}

/* ---- randomized comparison with a linear reference ---- */

typedef struct {
  char pattern[64];
  const char *methods[4];
  size_t nm;
  int star;
  int line;
} ref_route_t;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static unsigned rnd(unsigned n) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (unsigned)((rng_state >> 33) % n);
}

static const char *const lits[] = {"a", "b", "c", ";", "a;b"};
static const char *const meths[] = {"GET", "HEAD", "POST", "DELETE"};

/* Segments of a pattern or path: after the leading '/', split on '/'. */
static size_t split(const char *s, const char **seg, size_t *len, size_t max) {
  size_t n = 0;
  const char *p = s + 1;
  for (;;) {
    const char *e = strchr(p, '/');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    if (n < max) {
      seg[n] = p;
      len[n] = l;
    }
    n++;
    if (!e) break;
    p = e + 1;
  }
  return n;
}

static int seg_kind(const char *s, size_t l) {
  if (l == 2 && s[0] == '*' && s[1] == '*') return 0;
  if ((l == 1 && s[0] == '*') || (l > 1 && s[0] == '{')) return 1;
  return 2;
}

static int ref_path_match(const char *pat, const char *path) {
  const char *ps[16], *xs[16];
  size_t pl[16], xl[16];
  size_t np = split(pat, ps, pl, 16), nx = split(path, xs, xl, 16);
  for (size_t i = 0; i < np; i++) {
    int k = seg_kind(ps[i], pl[i]);
    if (k == 0) return 1;
    if (i >= nx) return 0;
    if (k == 1 && xl[i] == 0) return 0;
    if (k == 2 && (pl[i] != xl[i] || memcmp(ps[i], xs[i], pl[i]) != 0)) return 0;
  }
  return np == nx;
}

/* SPEC order: first differing position decides literal > * > **; a prefix
 * loses to the longer pattern, except to one that only adds a final `**`,
 * which (both matching the path) matched no segment. >0 when a is more
 * specific. */
static int ref_cmp_pattern(const char *a, const char *b) {
  const char *as[16], *bs[16];
  size_t al[16], bl[16];
  size_t na = split(a, as, al, 16), nb = split(b, bs, bl, 16);
  for (size_t i = 0; i < na && i < nb; i++) {
    int ka = seg_kind(as[i], al[i]), kb = seg_kind(bs[i], bl[i]);
    if (ka != kb) return ka - kb;
  }
  if (nb == na + 1 && seg_kind(bs[na], bl[na]) == 0) return 1;
  if (na == nb + 1 && seg_kind(as[nb], al[nb]) == 0) return -1;
  return (int)na - (int)nb;
}

/* Same pattern, `{x}` and `*` being one. */
static int ref_same_pattern(const char *a, const char *b) {
  const char *as[16], *bs[16];
  size_t al[16], bl[16];
  size_t na = split(a, as, al, 16), nb = split(b, bs, bl, 16);
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++) {
    int ka = seg_kind(as[i], al[i]), kb = seg_kind(bs[i], bl[i]);
    if (ka != kb) return 0;
    if (ka == 2 && (al[i] != bl[i] || memcmp(as[i], bs[i], al[i]) != 0)) return 0;
  }
  return 1;
}

static int ref_has(const ref_route_t *r, const char *m) {
  for (size_t i = 0; i < r->nm; i++)
    if (strcmp(r->methods[i], m) == 0) return 1;
  return 0;
}

/* 3 explicit, 2 GET serving HEAD, 1 `*`, 0 not admitted. */
static int ref_method_rank(const ref_route_t *rs, size_t n, const ref_route_t *r, const char *m) {
  if (ref_has(r, m)) return 3;
  if (strcmp(m, "HEAD") == 0 && ref_has(r, "GET")) {
    for (size_t i = 0; i < n; i++)
      if (ref_same_pattern(rs[i].pattern, r->pattern) && ref_has(&rs[i], "HEAD")) return r->star;
    return 2;
  }
  return r->star;
}

static const ref_route_t *ref_match(const ref_route_t *rs, size_t n, const char *m, const char *path) {
  const ref_route_t *best = NULL;
  int best_rank = 0;
  for (size_t i = 0; i < n; i++) {
    int rank = ref_method_rank(rs, n, &rs[i], m);
    if (!rank || !ref_path_match(rs[i].pattern, path)) continue;
    if (!best) {
      best = &rs[i];
      best_rank = rank;
      continue;
    }
    int c = ref_cmp_pattern(rs[i].pattern, best->pattern);
    if (c > 0 || (c == 0 && rank > best_rank)) {
      best = &rs[i];
      best_rank = rank;
    }
  }
  return best;
}

static int ref_overlap(const ref_route_t *a, const ref_route_t *b) {
  if (a->star || b->star) return a->star && b->star;
  for (size_t i = 0; i < a->nm; i++)
    if (ref_has(b, a->methods[i])) return 1;
  return 0;
}

static void random_pattern(char *out, size_t cap) {
  size_t n = 0, depth = rnd(5);
  if (depth == 0) {
    snprintf(out, cap, rnd(2) ? "/" : "/**");
    return;
  }
  for (size_t i = 0; i < depth; i++) {
    unsigned k = rnd(10);
    const char *s = k < 5 ? lits[rnd(5)] : k < 7 ? "*" : k < 8 ? "{id}" : "";
    if (i + 1 == depth && k >= 8) s = rnd(2) ? "**" : "";
    if (!*s && i + 1 < depth) s = "b";
    n += (size_t)snprintf(out + n, cap - n, "/%s", s);
  }
}

static void random_path(char *out, size_t cap) {
  static const char *const segs[] = {"a", "b", "c", "d", ";", "a;b", "A"};
  size_t n = 0, depth = 1 + rnd(5);
  for (size_t i = 0; i < depth; i++) {
    const char *s = (i + 1 == depth && rnd(6) == 0) ? "" : segs[rnd(7)];
    n += (size_t)snprintf(out + n, cap - n, "/%s", s);
  }
}

static void test_random(void) {
  enum { ROUNDS = 300, ROUTES = 40, PATHS = 60 };
  ref_route_t rs[ROUTES];
  size_t cap = 16384, compared = 0;
  char *ini = malloc(cap);
  int mismatches = 0, dup_mismatch = 0, load_fail = 0;
  for (int round = 0; round < ROUNDS; round++) {
    /* draw routes, duplicates included */
    size_t n = 0, len = 0, dups = 0;
    ref_route_t all[ROUTES];
    int line = 1;
    for (size_t i = 0; i < ROUTES; i++) {
      ref_route_t *r = &all[i];
      memset(r, 0, sizeof *r);
      random_pattern(r->pattern, sizeof r->pattern);
      if (rnd(4) == 0) {
        r->star = 1;
      } else {
        for (size_t k = 0; k < 4; k++)
          if (rnd(3) == 0) r->methods[r->nm++] = meths[k];
        if (r->nm == 0) r->methods[r->nm++] = meths[rnd(4)];
      }
      r->line = line;
      len += (size_t)snprintf(ini + len, cap - len, "[");
      if (r->star) len += (size_t)snprintf(ini + len, cap - len, "*");
      for (size_t k = 0; k < r->nm; k++)
        len += (size_t)snprintf(ini + len, cap - len, "%s%s", k ? ", " : "", r->methods[k]);
      len += (size_t)snprintf(ini + len, cap - len, " %s]\nauth = token\n", r->pattern);
      line += 2;
      int dup = 0;
      for (size_t j = 0; j < n; j++)
        if (ref_same_pattern(rs[j].pattern, r->pattern) && ref_overlap(&rs[j], r)) dup = 1;
      if (dup)
        dups++;
      else
        rs[n++] = *r;
    }
    gw_errors_t e = {0};
    gw_policy_t *p = load_text(ini, NULL, 0, &e);
    size_t ndup = 0;
    for (size_t i = 0; i < e.n; i++)
      if (strstr(e.msgs[i], "duplicate route")) ndup++;
    if (ndup != dups || e.n != dups || (dups == 0) != (p != NULL)) {
      if (!dup_mismatch) {
        printf("# round %d: %zu duplicates expected, %zu reported\n", round, dups, ndup);
        dump_errors(&e);
      }
      dup_mismatch++;
    }
    policy_free(p);
    gw_errors_free(&e);

    /* the same routes without the duplicates, then compare lookups */
    len = 0;
    for (size_t i = 0; i < n; i++) {
      ref_route_t *r = &rs[i];
      len += (size_t)snprintf(ini + len, cap - len, "[");
      if (r->star) len += (size_t)snprintf(ini + len, cap - len, "*");
      for (size_t k = 0; k < r->nm; k++)
        len += (size_t)snprintf(ini + len, cap - len, "%s%s", k ? "," : "", r->methods[k]);
      len += (size_t)snprintf(ini + len, cap - len, "\t%s]\nauth = token\n", r->pattern);
      r->line = (int)(2 * i + 1);
    }
    p = load_text(ini, NULL, 0, &e);
    if (!p) {
      load_fail++;
      dump_errors(&e);
      gw_errors_free(&e);
      continue;
    }
    for (int k = 0; k < PATHS; k++) {
      char path[64];
      random_path(path, sizeof path);
      for (size_t m = 0; m < 5; m++) {
        const char *meth = m < 4 ? meths[m] : "PUT";
        const ref_route_t *want = ref_match(rs, n, meth, path);
        const gw_route_t *got = policy_match(p, meth, strlen(meth), path, strlen(path));
        compared++;
        if ((want ? want->line : 0) != (got ? got->line : 0)) {
          if (mismatches < 5)
            printf("# round %d: %s %s: trie line %d (%s), reference line %d (%s)\n", round, meth,
                   path, got ? got->line : 0, got ? got->pattern : "-", want ? want->line : 0,
                   want ? want->pattern : "-");
          mismatches++;
        }
      }
    }
    policy_free(p);
  }
  free(ini);
  CHECK_INT(load_fail, 0, "random: every duplicate-free table loads");
  CHECK_INT(dup_mismatch, 0, "random: duplicates reported exactly as the reference finds them");
  CHECK_INT(mismatches, 0, "random: trie agrees with the linear reference matcher");
  CHECK(compared >= 80000, "random: enough lookups compared");
  printf("# random: %zu lookups compared\n", compared);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/gw-test-policy-XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  snprintf(tmpfile_path, sizeof tmpfile_path, "%s/policy.ini", tmpdir);
  test_errors();
  test_many_errors();
  test_limits();
  test_precedence();
  test_decide();
  test_scopes_under();
  test_profile_api();
  test_mcp_items();
  test_mcp_limits();
  test_random();
  unlink(tmpfile_path);
  rmdir(tmpdir);
  return TAP_DONE();
}
