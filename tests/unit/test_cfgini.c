/* test_cfgini: the shared INI reader on its own, with a handler that
 * records every call. test_config covers the basics (full section names,
 * NUL bytes, a missing file); here: comments, blanks and line endings, the
 * BOM, what is never a continuation line, the exact line-length limit, and
 * that every malformed line is reported at its own FILE:LINE while reading
 * goes on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgini.h"
#include "tap.h"

static char tmpdir[256];
static char path[512];

static void write_bytes(const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    printf("Bail out! cannot write %s: %s\n", path, strerror(errno));
    exit(2);
  }
  fwrite(text, 1, n, f);
  fclose(f);
}

typedef struct {
  char log[2 * GW_INI_MAX_LINE]; /* room for one line at the limit */
  size_t len;
  int fail_on_line;
} rec_t;

static int rec(void *user, const char *section, const char *name, const char *value,
               int lineno) {
  rec_t *r = user;
  size_t room = sizeof r->log - r->len;
  int w = name ? snprintf(r->log + r->len, room, "%d:[%s]%s=%s|", lineno, section, name, value)
               : snprintf(r->log + r->len, room, "%d:[%s]|", lineno, section);
  r->len += w > 0 && (size_t)w < room ? (size_t)w : room - 1;
  return lineno != r->fail_on_line;
}

typedef struct {
  int rc;
  rec_t r;
  gw_errors_t e;
} run_t;

static run_t *parse_n(const char *text, size_t n, int fail_on_line) {
  static run_t run;
  gw_errors_free(&run.e);
  memset(&run, 0, sizeof run);
  run.r.fail_on_line = fail_on_line;
  write_bytes(text, n);
  run.rc = config_ini_parse(path, rec, &run.r, &run.e);
  return &run;
}
static run_t *parse(const char *text) { return parse_n(text, strlen(text), -1); }

/* The one and only error is exactly "PATH:LINE: msg". */
static int only_error(const run_t *run, int line, const char *msg) {
  char want[1024];
  snprintf(want, sizeof want, "%s:%d: %s", path, line, msg);
  if (run->e.n == 1 && strcmp(run->e.msgs[0], want) == 0) return 1;
  printf("#   want: %s\n", want);
  for (size_t i = 0; i < run->e.n; i++) printf("#   got:  %s\n", run->e.msgs[i]);
  return 0;
}

static void test_comments_and_blanks(void) {
  run_t *r = parse("; comment\n"
                   "# comment\n"
                   "   ; indented comment\n"
                   "\t# tab-indented comment\n"
                   "\n"
                   "   \t \n"
                   "[s] ; after a header\n"
                   "[t] # also after a header\n"
                   "a = 1 ; inline\n"
                   "b = 2;no blank before\n"
                   "c = x # not an inline comment\n"
                   "d =\n"
                   "e = ;\n");
  CHECK_INT(r->rc, 0, "comments: parses");
  CHECK_INT(r->e.n, 0, "comments: no errors");
  CHECK_STR(r->r.log,
            "7:[s]|8:[t]|9:[t]a=1|10:[t]b=2;no blank before|11:[t]c=x # not an inline comment|"
            "12:[t]d=|13:[t]e=|",
            "comments: ';' and '#' lines skipped, ' ;' ends a value, '#' inside a value kept");
}

static void test_line_endings_and_bom(void) {
  run_t *r = parse("[a]\r\nk = v\r\n\r\n; c\r\nz = last\r\n");
  CHECK_INT(r->rc, 0, "crlf: parses");
  CHECK_STR(r->r.log, "1:[a]|2:[a]k=v|5:[a]z=last|", "crlf: read like LF, line numbers kept");

  r = parse("\xEF\xBB\xBF[a]\nk = v\n");
  CHECK_INT(r->rc, 0, "bom: parses");
  CHECK_STR(r->r.log, "1:[a]|2:[a]k=v|", "bom: a UTF-8 BOM before the first line is skipped");

  r = parse("\xEF\xBB\xBFtop = 1\n");
  CHECK_STR(r->r.log, "1:[]top=1|", "bom: before a key in no section");

  r = parse("k = v");
  CHECK_STR(r->r.log, "1:[]k=v|", "no newline at the end of a key line before any section");

  r = parse("");
  CHECK(r->rc == 0 && r->r.len == 0 && r->e.n == 0, "empty file: nothing, no errors");

  r = parse("\n\n\n[late]\n");
  CHECK_STR(r->r.log, "4:[late]|", "blank lines still count");
}

static void test_no_continuation(void) {
  run_t *r = parse("[a]\n"
                   "k = one\n"
                   "    two = 2\n"
                   "\tthree = 3\n");
  CHECK_INT(r->rc, 0, "indent: parses");
  CHECK_STR(r->r.log, "1:[a]|2:[a]k=one|3:[a]two=2|4:[a]three=3|",
            "indent: an indented key is a key of its own, not a continuation");

  r = parse("[a]\nk = one\n    more words\n");
  CHECK_INT(r->rc, -1, "indent: an indented line without '=' fails");
  CHECK(only_error(r, 3, "expected 'name = value', '[section]' or a comment"),
        "indent: it is reported, never glued to the value above");
  CHECK_STR(r->r.log, "1:[a]|2:[a]k=one|", "indent: the value above stays whole");
}

static void test_separators(void) {
  run_t *r = parse("[a]\nlisten 1.2.3.4:80\n");
  CHECK(r->rc == -1 && only_error(r, 2, "expected '=' after the key name"),
        "':' before any '=' is refused (inih would split there)");
  CHECK_STR(r->r.log, "1:[a]|", "':' line not given to the handler");

  r = parse("[a]\nk:x = v\n");
  CHECK(r->rc == -1 && only_error(r, 2, "expected '=' after the key name"),
        "a ':' in the key name is refused too");

  r = parse("[a]\nk = a:b=c\n");
  CHECK(r->rc == 0 && strcmp(r->r.log, "1:[a]|2:[a]k=a:b=c|") == 0,
        "':' and '=' after the first '=' belong to the value");

  r = parse("[a]\n = v\n");
  CHECK(r->rc == -1 && only_error(r, 2, "missing key name before '='"), "empty key name");

  r = parse("[a]\n  spaced   key  =  v  v  \n");
  CHECK_STR(r->r.log, "1:[a]|2:[a]spaced   key=v  v|", "name and value trimmed at the ends only");
}

static void test_headers(void) {
  run_t *r = parse("[ spaced ]\nk = v\n");
  CHECK_STR(r->r.log, "1:[ spaced ]|2:[ spaced ]k=v|", "header: name as written, not trimmed");

  r = parse("[]\nk = v\n[b]\n");
  CHECK(r->rc == -1 && only_error(r, 1, "empty section name"), "header: '[]' is an error");
  CHECK_STR(r->r.log, "3:[b]|", "header: keys under '[]' are skipped");

  r = parse("[a] x\n");
  CHECK(r->rc == -1 && only_error(r, 1, "unexpected text after section header: 'x'"),
        "header: text after ']'");

  r = parse("[a ;b]\n");
  CHECK(r->rc == -1 && only_error(r, 1, "section header without closing ']'"),
        "header: ' ;' starts a comment inside brackets too, as in inih");

  r = parse("[a;b]\n");
  CHECK_STR(r->r.log, "1:[a;b]|", "header: ';' without a blank before it is part of the name");

  r = parse("[a]]\n");
  CHECK(r->rc == -1 && only_error(r, 1, "unexpected text after section header: ']'"),
        "header: a second ']'");

  char xs[101], lng[200], want[200];
  memset(xs, 'x', 100);
  xs[100] = '\0';
  snprintf(lng, sizeof lng, "[a] %s\n", xs);
  r = parse(lng);
  snprintf(want, sizeof want, "unexpected text after section header: '%.60s...'", xs);
  CHECK(r->rc == -1 && only_error(r, 1, want), "header: echoed text cut at 60 bytes");

  r = parse("[a]\nk = 1\n[a]\nk = 2\n");
  CHECK_STR(r->r.log, "1:[a]|2:[a]k=1|3:[a]|4:[a]k=2|",
            "header: a repeated section is announced again (the handler judges it)");
}

static void test_line_limit(void) {
  /* "k = " + value: exactly GW_INI_MAX_LINE bytes is accepted whole. */
  size_t n = GW_INI_MAX_LINE;
  char *buf = malloc(2 * n + 64);
  if (!buf) return;
  strcpy(buf, "[a]\nk = ");
  size_t at = strlen(buf);
  memset(buf + at, 'v', n - 4);
  at += n - 4;
  buf[at++] = '\n';
  strcpy(buf + at, "after = 1\n");
  run_t *r = parse_n(buf, strlen(buf), -1);
  CHECK_INT(r->rc, 0, "limit: a line of exactly GW_INI_MAX_LINE bytes is fine");
  CHECK(r->r.len > 0 && strstr(r->r.log, "3:[a]after=1|") != NULL,
        "limit: the next line keeps its number");
  const char *kv = strstr(r->r.log, "2:[a]k=");
  CHECK(kv && strspn(kv + 7, "v") == n - 4, "limit: the long value is given whole");

  /* One byte more: refused, and reading goes on at the right line. */
  strcpy(buf, "[a]\nk = ");
  at = strlen(buf);
  memset(buf + at, 'v', n - 3);
  at += n - 3;
  buf[at++] = '\n';
  strcpy(buf + at, "after = 1\n");
  r = parse_n(buf, strlen(buf), -1);
  char want[100];
  snprintf(want, sizeof want, "line too long (%d bytes, max %d)", GW_INI_MAX_LINE + 1,
           GW_INI_MAX_LINE);
  CHECK(r->rc == -1 && only_error(r, 2, want), "limit: one byte over is an error at its line");
  CHECK_STR(r->r.log, "1:[a]|3:[a]after=1|", "limit: the long line is dropped, not cut");

  /* A comment is no exception: an overlong line is never half read. */
  buf[0] = ';';
  memset(buf + 1, 'c', 2 * n);
  buf[2 * n + 1] = '\n';
  strcpy(buf + 2 * n + 2, "[b]\n");
  r = parse_n(buf, strlen(buf), -1);
  snprintf(want, sizeof want, "line too long (%zu bytes, max %d)", 2 * n + 1, GW_INI_MAX_LINE);
  CHECK(r->rc == -1 && only_error(r, 1, want), "limit: an overlong comment is an error too");
  CHECK_STR(r->r.log, "2:[b]|", "limit: reading goes on after it");
  free(buf);
}

static void test_many_errors(void) {
  run_t *r = parse("top = 1\n"
                   "[ok]\n"
                   "no separator\n"
                   "a: b\n"
                   "[]\n"
                   "x = skipped\n"
                   "[next\n"
                   "y = skipped\n"
                   "[fine]\n"
                   "z = 1\n"
                   " = 2\n");
  CHECK_INT(r->rc, -1, "many: fails");
  CHECK_INT(r->e.n, 5, "many: every bad line reported");
  static const struct {
    int line;
    const char *msg;
  } want[] = {
      {3, "expected 'name = value', '[section]' or a comment"},
      {4, "expected '=' after the key name"},
      {5, "empty section name"},
      {7, "section header without closing ']'"},
      {11, "missing key name before '='"},
  };
  for (size_t i = 0; i < sizeof want / sizeof *want && i < r->e.n; i++) {
    char w[700];
    snprintf(w, sizeof w, "%s:%d: %s", path, want[i].line, want[i].msg);
    CHECK_STR(r->e.msgs[i], w, "many: FILE:LINE: message, in file order");
  }
  CHECK_STR(r->r.log, "1:[]top=1|2:[ok]|9:[fine]|10:[fine]z=1|",
            "many: the good lines still reach the handler");

  r = parse_n("[a]\nk = 1\n[b]\n", 14, 3);
  CHECK_INT(r->rc, -1, "handler: a failed section call gives -1");
  CHECK_INT(r->e.n, 0, "handler: the reader adds nothing of its own");
}

int main(void) {
  const char *t = getenv("TMPDIR");
  snprintf(tmpdir, sizeof tmpdir, "%s/gwini.XXXXXX", t && *t ? t : "/tmp");
  if (!mkdtemp(tmpdir)) {
    printf("Bail out! mkdtemp: %s\n", strerror(errno));
    return 2;
  }
  snprintf(path, sizeof path, "%s/t.ini", tmpdir);

  test_comments_and_blanks();
  test_line_endings_and_bom();
  test_no_continuation();
  test_separators();
  test_headers();
  test_line_limit();
  test_many_errors();

  gw_errors_t *last = &parse("")->e;
  gw_errors_free(last);
  unlink(path);
  rmdir(tmpdir);
  return TAP_DONE();
}
