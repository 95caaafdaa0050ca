/* cfgini.c: the shared INI reader. See cfgini.h for the contract. */
#include "cfgini.h"

#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgval.h"

/* inih (Debian 12, r55) reads into a 200-byte stack buffer unless told
 * otherwise at run time, splits longer lines into several "lines" (the tail
 * of a comment can become a key), cuts section names at 49 bytes and cannot
 * report line numbers (built without INI_HANDLER_LINENO). So this reader
 * owns everything that is about lines: it reads each physical line whole,
 * counts lines, recognizes blank/comment/section lines itself, and hands
 * inih only "name = value" lines, each of which must fit inih's buffer in
 * one piece or is refused. inih is left with splitting name from value and
 * stripping blanks and inline comments. */

typedef struct {
  FILE *fp;
  const char *path;
  gw_errors_t *errs;
  gw_ini_handler h;
  void *user;
  char *section;     /* current section as written (never cut) */
  bool bad_section;  /* header was malformed: ignore its keys */
  const char *raw;   /* the key line being parsed by inih */
  int lineno;
  bool failed;
  bool expect_call, got_call;
  char line[GW_INI_MAX_LINE + 1];
} ini_state;

static void ini_err(ini_state *st, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void ini_err(ini_state *st, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  gw_errors_vadd(st->errs, st->path, line, fmt, ap);
  va_end(ap);
  st->failed = true;
}

/* A key line that inih did not turn into a handler call had no separator. */
static void ini_finish_line(ini_state *st) {
  if (st->expect_call && !st->got_call)
    ini_err(st, st->lineno, "expected 'name = value', '[section]' or a comment");
  st->expect_call = st->got_call = false;
}

static char *ini_blank(char *str, int num) {
  if (num >= 2) {
    str[0] = '\n';
    str[1] = '\0';
  } else if (num == 1) {
    str[0] = '\0';
  }
  return str;
}

static void ini_section_line(ini_state *st, const char *p) {
  /* Same end rule as inih: ']' or an inline ';' comment after a blank. */
  const char *q = p + 1;
  bool was_space = false;
  while (*q && *q != ']' && !(was_space && *q == ';')) {
    was_space = gw_is_ws((unsigned char)*q);
    q++;
  }
  st->bad_section = true;
  if (*q != ']') {
    ini_err(st, st->lineno, "section header without closing ']'");
    return;
  }
  const char *rest = q + 1;
  while (gw_is_ws((unsigned char)*rest)) rest++;
  if (*rest && *rest != ';' && *rest != '#') {
    ini_err(st, st->lineno, "unexpected text after section header: " GW_VFMT, GW_VARG(rest));
    return;
  }
  if (q == p + 1) {
    ini_err(st, st->lineno, "empty section name");
    return;
  }
  char *name = gw_dup_range(p + 1, (size_t)(q - (p + 1)));
  if (!name) {
    ini_err(st, st->lineno, "out of memory");
    return;
  }
  free(st->section);
  st->section = name;
  st->bad_section = false;
  if (!st->h(st->user, st->section, NULL, NULL, st->lineno)) st->failed = true;
}

static char *ini_read(char *str, int num, void *stream) {
  ini_state *st = stream;
  ini_finish_line(st);

  size_t len = 0, total = 0;
  bool any = false, nul = false;
  int ch;
  while ((ch = getc(st->fp)) != EOF) {
    any = true;
    if (ch == '\n') break;
    if (ch == '\0') nul = true;
    if (len < GW_INI_MAX_LINE) st->line[len++] = (char)ch;
    if (total < SIZE_MAX) total++; /* the rest of a long line is counted, not kept */
  }
  if (ch == EOF && ferror(st->fp)) {
    ini_err(st, 0, "cannot read: %s", strerror(errno));
    return NULL;
  }
  if (!any) return NULL;
  st->lineno++;
  st->line[len] = '\0';

  if (total > GW_INI_MAX_LINE) {
    ini_err(st, st->lineno, "line too long (%zu bytes, max %d)", total, GW_INI_MAX_LINE);
    return ini_blank(str, num);
  }
  if (nul) {
    ini_err(st, st->lineno, "NUL byte in line");
    return ini_blank(str, num);
  }
  char *p = st->line;
  if (st->lineno == 1 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
      (unsigned char)p[2] == 0xBF)
    p += 3;
  /* Stripping leading blanks here also keeps inih's multi-line continuation
   * (an indented line extends the previous value) from ever applying. */
  while (gw_is_ws((unsigned char)*p)) p++;
  if (*p == '\0' || *p == ';' || *p == '#') return ini_blank(str, num);
  if (*p == '[') {
    ini_section_line(st, p);
    return ini_blank(str, num);
  }
  if (st->bad_section) return ini_blank(str, num);

  size_t plen = strlen(p);
  if (num < 2 || plen + 2 > (size_t)num) {
    /* Only when the inih build ignores the run-time buffer size. */
    ini_err(st, st->lineno, "line too long (%zu bytes, max %d)", total, num < 2 ? 0 : num - 2);
    return ini_blank(str, num);
  }
  memcpy(str, p, plen);
  str[plen] = '\n';
  str[plen + 1] = '\0';
  st->raw = p;
  st->expect_call = true;
  st->got_call = false;
  return str;
}

static int ini_cb(void *user, const char *section, const char *name, const char *value) {
  ini_state *st = user;
  (void)section; /* inih's copy may be cut; st->section is authoritative */
  if (!st->expect_call || st->got_call) {
    ini_err(st, st->lineno, "unexpected line continuation");
    return 1;
  }
  st->got_call = true;
  if (!name || !value) {
    ini_err(st, st->lineno, "expected 'name = value'");
    return 1;
  }
  /* inih also splits at ':' (configparser style); "listen 1.2.3.4:80" with a
   * forgotten '=' must not become key "listen 1.2.3.4". */
  const char *sep = st->raw ? strpbrk(st->raw, "=:") : NULL;
  if (sep && *sep == ':') {
    ini_err(st, st->lineno, "expected '=' after the key name");
    return 1;
  }
  if (name[0] == '\0') {
    ini_err(st, st->lineno, "missing key name before '='");
    return 1;
  }
  if (!st->h(st->user, st->section, name, value, st->lineno)) st->failed = true;
  return 1;
}

/* inih's knobs are process-wide variables; set all of them every time so
 * that nothing else in the process can change how our files are read. */
static char ini_inline_prefixes[] = ";";
static char ini_start_prefixes[] = ";#";
static void ini_configure(void) {
  ini_use_stack = false;
  ini_initial_alloc = GW_INI_MAX_LINE + 3;
  ini_max_line = GW_INI_MAX_LINE + 3;
  ini_allow_realloc = false;
  ini_allow_multiline = false;
  ini_allow_bom = false;
  ini_allow_inline_comments = true;
  ini_inline_comment_prefixes = ini_inline_prefixes;
  ini_start_comment_prefixes = ini_start_prefixes;
  ini_stop_on_first_error = false;
  ini_allow_no_value = false;
}

int config_ini_parse(const char *path, gw_ini_handler h, void *user, gw_errors_t *errs) {
  FILE *fp = fopen(path, "re");
  if (!fp) {
    gw_errors_add(errs, path, 0, "cannot open: %s", strerror(errno));
    return -1;
  }
  ini_state *st = calloc(1, sizeof *st);
  char *sec = calloc(1, 1);
  if (!st || !sec) {
    free(st);
    free(sec);
    fclose(fp);
    gw_errors_add(errs, path, 0, "out of memory");
    return -1;
  }
  st->fp = fp;
  st->path = path;
  st->errs = errs;
  st->h = h;
  st->user = user;
  st->section = sec;

  ini_configure();
  int r = ini_parse_stream(ini_read, st, ini_cb, st);
  ini_finish_line(st);
  if (r == -2)
    ini_err(st, 0, "out of memory");
  else if (r != 0 && !st->failed)
    ini_err(st, r > 0 ? r : 0, "malformed line");

  int rc = st->failed ? -1 : 0;
  fclose(fp);
  free(st->section);
  free(st);
  return rc;
}
