/* Unit tests of the JSON escaping the access log and the error log use:
 * valid UTF-8 passes through, invalid bytes become U+FFFD, control
 * characters (C0, DEL, C1) are escaped, and a cut never splits a character.
 * Every output is checked to be valid UTF-8 by jansson's own parser. */
#include <jansson.h>
#include <stdlib.h>

#include "log.h"
#include "tap.h"

static char out[512];

static const char *esc(const char *s, size_t len, size_t max) {
  gw_json_escape(out, sizeof out, s, len, max);
  return out;
}
#define ESC(lit) esc(lit, sizeof lit - 1, 256)

/* The escaped text inside quotes is a JSON string jansson accepts. */
static int json_ok(const char *inner) {
  char doc[600];
  snprintf(doc, sizeof doc, "\"%s\"", inner);
  json_error_t e;
  json_t *j = json_loads(doc, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  int ok = j && json_is_string(j);
  json_decref(j);
  return ok;
}

int main(void) {
  CHECK_STR(ESC("j\xc3\xb6rg"), "j\xc3\xb6rg", "jörg (2-byte UTF-8) passes through");
  CHECK_STR(ESC("\xe2\x82\xac \xf0\x9f\x98\x80"), "\xe2\x82\xac \xf0\x9f\x98\x80", "3- and 4-byte characters pass through");
  CHECK_STR(ESC("a\"b\\c"), "a\\\"b\\\\c", "quote and backslash escaped");
  CHECK_STR(ESC("a\nb\x01\x7f"), "a\\u000ab\\u0001\\u007f", "C0 and DEL escaped");
  CHECK_STR(ESC("\xc2\x9b[31m"), "\\u009b[31m", "C1 control (CSI) escaped");
  CHECK_STR(ESC("\xc2\xa0"), "\xc2\xa0", "U+00A0 is not a control: passes");
  CHECK_STR(ESC("a\xffz"), "a\xef\xbf\xbdz", "a byte that starts nothing: U+FFFD");
  CHECK_STR(ESC("\xc0\xaf"), "\xef\xbf\xbd\xef\xbf\xbd", "overlong '/' refused byte by byte");
  CHECK_STR(ESC("\xe0\x80\xaf"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "3-byte overlong refused");
  CHECK_STR(ESC("\xed\xa0\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "surrogate U+D800 refused");
  CHECK_STR(ESC("\xf4\x90\x80\x80"), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", "above U+10FFFF refused");
  CHECK_STR(ESC("x\xc3"), "x\xef\xbf\xbd", "a sequence the input ends inside: U+FFFD");
  CHECK_STR(ESC("\xc3(x"), "\xef\xbf\xbd(x", "a lead byte with a bad continuation: U+FFFD, the next byte kept");
  CHECK_STR(esc("ab\xc3\xb6", 4, 3), "ab...", "a cut at max never splits a character");
  CHECK_STR(esc("ab\xc3\xb6", 4, 4), "ab\xc3\xb6", "exactly max bytes: no cut");
  char small[4];
  gw_json_escape(small, sizeof small, "a\xe2\x82\xac", 4, 256);
  CHECK_STR(small, "a", "a character that does not fit the buffer is not split");

  /* Random bytes: the output is always a valid JSON string. */
  srand(1);
  int bad = 0;
  for (int n = 0; n < 20000; n++) {
    unsigned char in[40];
    size_t len = (size_t)(rand() % 40);
    for (size_t i = 0; i < len; i++) in[i] = (unsigned char)(rand() % 5 == 0 ? rand() % 256 : 0x80 + rand() % 0x78);
    gw_json_escape(out, sizeof out, (const char *)in, len, (size_t)(rand() % 41));
    if (!json_ok(out)) bad++;
  }
  CHECK_INT(bad, 0, "20000 random byte strings all escape to valid JSON strings");
  return TAP_DONE();
}
