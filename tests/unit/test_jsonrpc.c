/* jsonrpc: the strict reader of one MCP JSON-RPC message (gateway/lib/jsonrpc.h).
 * One group of cases per rule of the header: the result code, a `why` on
 * every error, and the decoded fields on success. Every input is copied
 * into a malloc'ed buffer of exactly its length (no NUL after it), so that
 * under ASan a read past the body is a report, and is compared afterwards
 * with the original (the reader never changes its input). Ends with a
 * property test: 2000 generated valid messages (random nesting, escapes,
 * Unicode, member order, whitespace) read back exactly, each then with one
 * byte changed, which must give a well-formed answer and nothing else. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "tap.h"

static jrpc_msg_t m;
static char *cur;     /* the exact-length copy of the last input */
static size_t cur_n;

/* Reads s[0..n) from an exact-length copy; fields poisoned first so that a
 * field the reader forgets to set shows. */
static jrpc_result_t parse_n(const char *s, size_t n) {
  free(cur);
  cur = malloc(n ? n : 1);
  if (!cur) abort();
  memcpy(cur, s, n);
  cur_n = n;
  memset(&m, 0x5a, sizeof m);
  jrpc_result_t r = jrpc_parse(cur, n, &m);
  if (memcmp(cur, s, n) != 0) {
    CHECK(0, "the input is never changed");
  }
  return r;
}

/* An error comes with a static text and an offset inside the body. */
static void expect_n(const char *s, size_t n, jrpc_result_t want, const char *what) {
  jrpc_result_t r = parse_n(s, n);
  CHECK_INT(r, want, what);
  if (r != JRPC_OK) {
    if (!CHECK(m.why != NULL && m.err_off <= n, "  ... with a why and err_off inside the body"))
      printf("#   why %s, err_off %zu of %zu\n", m.why ? m.why : "(null)", m.err_off, n);
  } else if (want == JRPC_OK) {
    CHECK(m.id_len == 0 || (m.id >= cur && m.id + m.id_len <= cur + n),
          "  ... and the id lies inside the body");
  }
  if (r != want) printf("#   input: %.*s\n#   why: %s\n", (int)(n > 300 ? 300 : n), s,
                        r != JRPC_OK && m.why ? m.why : "-");
}
static void expect(const char *s, jrpc_result_t want, const char *what) {
  expect_n(s, strlen(s), want, what);
}

static int str_is_n(const jrpc_str_t *v, const char *buf, const char *want, size_t n) {
  return v->type == JRPC_STRING && v->len == n && v->full_len == n && memcmp(buf, want, n) == 0;
}
#define STR_IS(field, want, what) \
  CHECK(str_is_n(&m.field, m.field##_buf, (want), sizeof(want) - 1), (what))
static int id_is(const char *want) {
  return m.id_len == strlen(want) && m.id && memcmp(m.id, want, m.id_len) == 0;
}

#define PRE "{\"jsonrpc\":\"2.0\","
#define CALL PRE "\"id\":1,\"method\":\"tools/call\",\"params\":"

/* ---- valid messages ---- */

static void test_valid(void) {
  expect(CALL "{\"name\":\"greet\",\"arguments\":{\"who\":\"you\"}}}", JRPC_OK, "tools/call");
  CHECK_INT(m.kind, JRPC_REQUEST, "a request (method and id)");
  STR_IS(method, "tools/call", "method decoded");
  STR_IS(name, "greet", "params.name decoded");
  CHECK_INT(m.uri.type, JRPC_ABSENT, "no params.uri");
  CHECK_INT(m.params_object, 1, "params is an object");
  CHECK(id_is("1"), "id 1 as text");
  CHECK(jrpc_str_is(&m.method, m.method_buf, "tools/call"), "jrpc_str_is on method");

  expect(PRE "\"id\":\"r1\",\"method\":\"resources/read\",\"params\":{\"uri\":\"file:///etc/x\"}}",
         JRPC_OK, "resources/read");
  STR_IS(method, "resources/read", "method");
  STR_IS(uri, "file:///etc/x", "params.uri decoded");
  CHECK_INT(m.name.type, JRPC_ABSENT, "no params.name");
  CHECK(id_is("\"r1\""), "a string id keeps its quotes");

  expect(PRE "\"id\":3,\"method\":\"prompts/get\",\"params\":{\"name\":\"p\",\"arguments\":{}}}",
         JRPC_OK, "prompts/get");
  STR_IS(name, "p", "prompts/get name");

  expect(PRE "\"method\":\"notifications/initialized\"}", JRPC_OK, "a notification");
  CHECK_INT(m.kind, JRPC_NOTIFICATION, "method without id: a notification");
  CHECK_INT(m.id_len, 0, "no id: id_len 0");
  CHECK_INT(m.name.type, JRPC_ABSENT, "no params: no name");
  CHECK_INT(m.uri.type, JRPC_ABSENT, "no params: no uri");
  CHECK_INT(m.params_object, 0, "no params: params_object 0");

  expect(PRE "\"id\":7,\"result\":{\"tools\":[]}}", JRPC_OK, "a response with result");
  CHECK_INT(m.kind, JRPC_RESPONSE, "a response");
  CHECK_INT(m.method.type, JRPC_ABSENT, "a response has no method");
  CHECK(id_is("7"), "response id");
  expect(PRE "\"id\":\"x\",\"error\":{\"code\":-32601,\"message\":\"no\"}}", JRPC_OK,
         "a response with error");
  CHECK_INT(m.kind, JRPC_RESPONSE, "an error response");
  expect(PRE "\"id\":1,\"result\":null}", JRPC_OK, "result null is a result");

  expect(CALL "[1,2,{\"name\":\"x\"}]}", JRPC_OK, "params an array");
  CHECK_INT(m.params_object, 0, "params_object 0 for an array");
  CHECK_INT(m.name.type, JRPC_ABSENT, "a name inside an array params is not params.name");
  expect(CALL "{}}", JRPC_OK, "params an empty object");
  CHECK_INT(m.params_object, 1, "params_object 1");
  CHECK_INT(m.name.type, JRPC_ABSENT, "empty params: no name");

  expect(CALL "{\"name\":5,\"uri\":null}}", JRPC_OK, "name and uri not strings");
  CHECK_INT(m.name.type, JRPC_OTHER, "a number name: JRPC_OTHER");
  CHECK_INT(m.uri.type, JRPC_OTHER, "a null uri: JRPC_OTHER");
  CHECK(!jrpc_str_is(&m.name, m.name_buf, "5"), "JRPC_OTHER is never equal to a string");
  expect(CALL "{\"name\":{\"a\":1},\"uri\":[\"u\"]}}", JRPC_OK, "name an object, uri an array");
  CHECK(m.name.type == JRPC_OTHER && m.uri.type == JRPC_OTHER, "both JRPC_OTHER");

  /* Only the top-level params' own members count. */
  expect(CALL "{\"arguments\":{\"name\":\"evil\",\"uri\":\"u\"},\"name\":\"good\"}}", JRPC_OK,
         "a nested name before the real one");
  STR_IS(name, "good", "params.name, not arguments.name");
  CHECK_INT(m.uri.type, JRPC_ABSENT, "arguments.uri is not params.uri");
  expect(CALL "{\"name\":\"good\",\"arguments\":{\"name\":\"evil\"}}}", JRPC_OK,
         "a nested name after the real one");
  STR_IS(name, "good", "the nested name does not overwrite");
  expect(PRE "\"id\":1,\"method\":\"tools/call\",\"name\":\"top\",\"_meta\":{\"params\":{\"name\":\"m\"}},"
             "\"params\":{}}",
         JRPC_OK, "name at the top and in another params");
  CHECK_INT(m.name.type, JRPC_ABSENT, "neither is params.name");
  expect(CALL "{\"method\":\"x\",\"id\":2,\"jsonrpc\":\"1.0\"}}", JRPC_OK,
         "method, id and jsonrpc inside params are ordinary members");
  STR_IS(method, "tools/call", "the top-level method");
  CHECK(id_is("1"), "the top-level id");

  /* Member order does not matter; unknown members are carried along. */
  expect("{\"params\":{\"name\":\"n\"},\"method\":\"tools/call\",\"_x\":[{}],\"id\":\"q\",\"jsonrpc\":\"2.0\"}",
         JRPC_OK, "members in another order");
  STR_IS(name, "n", "name");
  CHECK(id_is("\"q\""), "id");
}

/* ---- ids ---- */

static void test_ids(void) {
  static const char *const ids[] = {"1", "-0", "0", "1e3", "1E+3", "-1.5e-7", "0.0",
                                    "12345678901234567890", "1e400", "\"\"", "\"a\\\"b\"",
                                    "\"\\u0041\"", "\"\xc3\xa9\""};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    char buf[200];
    snprintf(buf, sizeof buf, PRE "\"method\":\"ping\",\"id\":%s}", ids[i]);
    char what[240];
    snprintf(what, sizeof what, "id %s accepted", ids[i]);
    expect(buf, JRPC_OK, what);
    snprintf(what, sizeof what, "id %s kept as it stands", ids[i]);
    CHECK(id_is(ids[i]), what);
    CHECK_INT(m.kind, JRPC_REQUEST, "  ... a request");
  }
  expect(PRE "\"method\":\"ping\",\"id\" :\t-0 \n}", JRPC_OK, "id with whitespace around");
  CHECK(id_is("-0"), "the id slice has no whitespace");
  static const char *const bad[] = {"null", "{}", "[]", "[1]", "true", "false"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char buf[200], what[240];
    snprintf(buf, sizeof buf, PRE "\"method\":\"ping\",\"id\":%s}", bad[i]);
    snprintf(what, sizeof what, "id %s: JRPC_INVALID_REQUEST", bad[i]);
    expect(buf, JRPC_INVALID_REQUEST, what);
    snprintf(buf, sizeof buf, PRE "\"id\":%s,\"result\":{}}", bad[i]);
    snprintf(what, sizeof what, "response id %s: JRPC_INVALID_REQUEST", bad[i]);
    expect(buf, JRPC_INVALID_REQUEST, what);
  }
}

/* ---- shape ---- */

static void test_shape(void) {
  static const struct {
    const char *in;
    jrpc_result_t want;
    const char *what;
  } cases[] = {
      {"[" PRE "\"id\":1,\"method\":\"ping\"}]", JRPC_INVALID_REQUEST, "a batch"},
      {"[]", JRPC_INVALID_REQUEST, "an empty array"},
      {"\"tools/call\"", JRPC_INVALID_REQUEST, "a top-level string"},
      {"1", JRPC_INVALID_REQUEST, "a top-level number"},
      {"-0.5e1", JRPC_INVALID_REQUEST, "a top-level real"},
      {"true", JRPC_INVALID_REQUEST, "top-level true"},
      {"null", JRPC_INVALID_REQUEST, "top-level null"},
      {"{}", JRPC_INVALID_REQUEST, "an empty object"},
      {"{\"id\":1,\"method\":\"ping\"}", JRPC_INVALID_REQUEST, "jsonrpc missing"},
      {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", JRPC_INVALID_REQUEST, "jsonrpc 1.0"},
      {"{\"jsonrpc\":2.0,\"id\":1,\"method\":\"ping\"}", JRPC_INVALID_REQUEST, "jsonrpc a number"},
      {"{\"jsonrpc\":\"2.0 \",\"id\":1,\"method\":\"ping\"}", JRPC_INVALID_REQUEST, "jsonrpc \"2.0 \""},
      {"{\"jsonrpc\":\"2.00\",\"id\":1,\"method\":\"ping\"}", JRPC_INVALID_REQUEST, "jsonrpc \"2.00\""},
      {"{\"jsonrpc\":\"2\",\"id\":1,\"method\":\"ping\"}", JRPC_INVALID_REQUEST, "jsonrpc \"2\""},
      {"{\"jsonrpc\":\"2.0\\u0000\",\"id\":1,\"method\":\"ping\"}", JRPC_INVALID_REQUEST,
       "jsonrpc \"2.0\\u0000\" (a NUL does not end the string)"},
      {"{\"jsonrpc\":\"2\\u002e0\",\"id\":1,\"method\":\"ping\"}", JRPC_OK,
       "jsonrpc \"2\\u002e0\" decodes to 2.0"},
      {"{\"jsonrpc\":null,\"id\":1,\"method\":\"ping\"}", JRPC_INVALID_REQUEST, "jsonrpc null"},
      {PRE "\"id\":1,\"method\":1}", JRPC_INVALID_REQUEST, "method a number"},
      {PRE "\"id\":1,\"method\":null}", JRPC_INVALID_REQUEST, "method null"},
      {PRE "\"id\":1,\"method\":{\"a\":\"b\"}}", JRPC_INVALID_REQUEST, "method an object"},
      {PRE "\"id\":1,\"method\":[\"ping\"]}", JRPC_INVALID_REQUEST, "method an array"},
      {PRE "\"method\":1}", JRPC_INVALID_REQUEST, "a notification whose method is a number"},
      {CALL "\"greet\"}", JRPC_INVALID_REQUEST, "params a string"},
      {CALL "1}", JRPC_INVALID_REQUEST, "params a number"},
      {CALL "null}", JRPC_INVALID_REQUEST, "params null"},
      {CALL "true}", JRPC_INVALID_REQUEST, "params true"},
      {PRE "\"id\":1,\"result\":{},\"error\":{}}", JRPC_INVALID_REQUEST, "result and error"},
      {PRE "\"id\":1}", JRPC_INVALID_REQUEST, "neither method, result nor error"},
      {PRE "\"result\":{}}", JRPC_INVALID_REQUEST, "a result without id"},
      {PRE "\"error\":{}}", JRPC_INVALID_REQUEST, "an error without id"},
      {PRE "\"id\":null,\"error\":{\"code\":-32700}}", JRPC_INVALID_REQUEST,
       "an error response with id null (the header: id a string or a number)"},
      {"{\"jsonrpc\":\"2.0\"}", JRPC_INVALID_REQUEST, "only jsonrpc"},
      {PRE "\"Method\":\"ping\",\"id\":1}", JRPC_INVALID_REQUEST, "\"Method\" is not method"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect(cases[i].in, cases[i].want, cases[i].what);

  /* Reading comes first: bad JSON is a parse error whatever its shape. */
  expect("[1,]", JRPC_PARSE_ERROR, "a broken batch is a parse error");
  expect("[{\"a\":1,\"a\":2}]", JRPC_PARSE_ERROR, "a batch with a duplicate: a parse error");
  expect("\"\xff\"", JRPC_PARSE_ERROR, "a top-level string with bad UTF-8: a parse error");
  expect("{\"jsonrpc\":\"1.0\",\"a\":1,\"a\":2}", JRPC_PARSE_ERROR,
         "a bad shape with a duplicate: a parse error");
  expect(PRE "\"id\":1,\"method\":1,\"x\":01}", JRPC_PARSE_ERROR,
         "a bad method followed by a bad number: a parse error");

  CHECK_INT(jrpc_code(JRPC_OK), 0, "jrpc_code(OK) = 0");
  CHECK_INT(jrpc_code(JRPC_PARSE_ERROR), -32700, "jrpc_code(PARSE_ERROR) = -32700");
  CHECK_INT(jrpc_code(JRPC_INVALID_REQUEST), -32600, "jrpc_code(INVALID_REQUEST) = -32600");
}

/* ---- duplicates ---- */

static void test_duplicates(void) {
  expect(PRE "\"id\":1,\"method\":\"tools/list\",\"method\":\"tools/call\"}", JRPC_PARSE_ERROR,
         "method twice");
  expect(PRE "\"id\":1,\"method\":\"tools/call\",\"method\":\"tools/call\"}", JRPC_PARSE_ERROR,
         "method twice with the same value");
  expect(CALL "{\"name\":\"a\"},\"params\":{\"name\":\"b\"}}", JRPC_PARSE_ERROR, "params twice");
  expect(CALL "{\"name\":\"greet\",\"name\":\"rm\"}}", JRPC_PARSE_ERROR, "name twice in params");
  expect(PRE "\"id\":1,\"id\":2,\"method\":\"ping\"}", JRPC_PARSE_ERROR, "id twice");
  expect(PRE "\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", JRPC_PARSE_ERROR, "jsonrpc twice");
  expect(CALL "{\"name\":\"greet\",\"n\\u0061me\":\"rm\"}}", JRPC_PARSE_ERROR,
         "\"n\\u0061me\" after \"name\": a duplicate after decoding");
  expect(CALL "{\"n\\u0061me\":\"rm\",\"name\":\"greet\"}}", JRPC_PARSE_ERROR,
         "\"name\" after \"n\\u0061me\"");
  expect(PRE "\"id\":1,\"method\":\"a\",\"m\\u0065thod\":\"b\"}", JRPC_PARSE_ERROR,
         "method twice, once escaped");
  expect(CALL "{\"u\\/ri\":1,\"u/ri\":2}}", JRPC_PARSE_ERROR, "\"u\\/ri\" and \"u/ri\"");
  expect(CALL "{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}}", JRPC_PARSE_ERROR,
         "a surrogate-pair name and its raw UTF-8");

  /* Ten levels down: params is depth 2, arguments 3, ..., the last {} 10. */
  expect(CALL "{\"name\":\"x\",\"arguments\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
              "{\"k\":1,\"j\":[],\"k\":2}}}}}}}}}}",
         JRPC_PARSE_ERROR, "a duplicate at depth 10");
  expect(CALL "{\"name\":\"x\",\"arguments\":[[{\"a\":1}],[{\"b\":1,\"b\":1}]]}}", JRPC_PARSE_ERROR,
         "a duplicate in an object inside arrays");
  expect(PRE "\"id\":1,\"result\":{\"content\":[{\"type\":\"t\",\"type\":\"u\"}]}}", JRPC_PARSE_ERROR,
         "a duplicate inside a response's result");
  expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"a\":1,\"b\":{\"c\":1,\"d\":[1,{\"e\":2}]},\"a\":2,\"method\":\"x\"}",
         JRPC_PARSE_ERROR, "a duplicate across a nested object");

  /* Not duplicates: the same name in different objects, or other names. */
  expect(CALL "{\"name\":\"greet\",\"Name\":\"secret\",\"NAME\":\"x\"}}", JRPC_OK,
         "\"Name\" and \"NAME\" are other members");
  STR_IS(name, "greet", "name is \"greet\"");
  expect(CALL "{\"name\":\"x\",\"arguments\":[{\"a\":1},{\"a\":1}]}}", JRPC_OK,
         "the same name in sibling objects");
  expect(CALL "{\"a\":{\"x\":1},\"x\":2,\"b\":{\"x\":{\"x\":3}}}}", JRPC_OK,
         "the same name in parent and child objects");
  expect(CALL "{\"a\":1,\"a\\u0000\":2,\"ab\":3,\"\":4}}", JRPC_OK,
         "\"a\", \"a\\u0000\", \"ab\" and \"\" are four names");
  expect(CALL "{\"name\":\"x\"},\"_p\":{\"params\":1,\"method\":2}}", JRPC_OK,
         "params and method as names of a nested object");

  /* Many members: the scratch array has to grow. */
  size_t cap = 40000, n = 0;
  char *big = malloc(cap);
  if (!big) abort();
  n += (size_t)snprintf(big + n, cap - n, "%s", CALL "{");
  for (int i = 0; i < 2000; i++) n += (size_t)snprintf(big + n, cap - n, "\"k%d\":%d,", i, i);
  n += (size_t)snprintf(big + n, cap - n, "\"name\":\"z\"}}");
  expect_n(big, n, JRPC_OK, "2000 distinct names in params");
  STR_IS(name, "z", "  ... and the name after them");
  n -= strlen("\"name\":\"z\"}}");
  n += (size_t)snprintf(big + n, cap - n, "\"k1234\":0}}");
  expect_n(big, n, JRPC_PARSE_ERROR, "2001 names, the last a repeat of the 1235th");
  free(big);
}

/* ---- strings and escapes ---- */

static void test_strings(void) {
  expect(PRE "\"id\":1,\"method\":\"tools\\/call\",\"params\":{\"name\":\"\\u0067reet\"}}", JRPC_OK,
         "escaped method and name");
  STR_IS(method, "tools/call", "\"tools\\/call\" is tools/call");
  STR_IS(name, "greet", "\"\\u0067reet\" is greet");
  CHECK(jrpc_str_is(&m.name, m.name_buf, "greet"), "jrpc_str_is sees greet");

  expect(CALL "{\"name\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}}", JRPC_OK, "every short escape");
  STR_IS(name, "\"\\/\b\f\n\r\t", "  ... decoded");
  expect(CALL "{\"name\":\"\\u00e9\\u20AC\\ud83d\\ude00\\uDBFF\\uDFFF\\uFFFF\"}}", JRPC_OK,
         "\\u escapes, surrogate pairs in both cases");
  STR_IS(name, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xef\xbf\xbf",
         "  ... decoded to UTF-8");
  expect(CALL "{\"name\":\"gr\\u0000eet\"}}", JRPC_OK, "a NUL escape");
  CHECK(m.name.type == JRPC_STRING && m.name.len == 6 && m.name.full_len == 6 &&
            memcmp(m.name_buf, "gr\0eet", 6) == 0,
        "  ... is one NUL byte inside the name");
  CHECK(!jrpc_str_is(&m.name, m.name_buf, "gr"), "jrpc_str_is does not stop at the NUL");
  CHECK(!jrpc_str_is(&m.name, m.name_buf, "greet"), "  ... nor skip it");
  expect(CALL "{\"name\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\x7f\"}}", JRPC_OK,
         "raw UTF-8 up to U+10FFFF, and DEL");
  STR_IS(name, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\x7f", "  ... kept");
  expect(CALL "{\"name\":\"\"}}", JRPC_OK, "an empty name");
  CHECK(m.name.type == JRPC_STRING && m.name.len == 0 && m.name.full_len == 0, "  ... length 0");
  CHECK(jrpc_str_is(&m.name, m.name_buf, ""), "  ... equals \"\"");
  CHECK(!jrpc_str_is(&m.name, m.name_buf, "x"), "  ... not \"x\"");
  expect(PRE "\"id\":1,\"\\u006d\\u0065thod\":\"tools/call\",\"params\":{\"n\\u0061me\":\"g\","
             "\"\\u0075ri\":\"u\"}}",
         JRPC_OK, "escaped member names");
  STR_IS(method, "tools/call", "\"\\u006d\\u0065thod\" is method");
  STR_IS(name, "g", "\"n\\u0061me\" is name");
  STR_IS(uri, "u", "\"\\u0075ri\" is uri");

  static const char *const bad[] = {
      "\\ud83d",           "lone high surrogate",
      "\\ude00",           "lone low surrogate",
      "\\ud83dx",          "high surrogate then a character",
      "\\ud83d\\u0041",    "high surrogate then a non-surrogate escape",
      "\\ud83d\\ud83d",    "two high surrogates",
      "\\ude00\\ud83d",    "a pair the wrong way round",
      "\\ud83d\\n",        "high surrogate then \\n",
      "\\ud83d\\",         "high surrogate then a lone backslash",
      "\\x41",             "\\x escape",
      "\\'",               "\\' escape",
      "\\U0041",           "\\U escape",
      "\\u12",             "a short \\u",
      "\\u12G4",           "a \\u with a non-hex digit",
      "\\u 123",           "a \\u with a blank",
      "\\",                "a backslash before the closing quote",
      "\x01",              "raw 0x01",
      "\n",                "raw newline",
      "\t",                "raw tab",
      "\x1f",              "raw 0x1f",
      "\xc0\x80",          "overlong C0 80",
      "\xc1\xbf",          "overlong C1 BF",
      "\xe0\x80\x80",      "overlong E0 80 80",
      "\xe0\x9f\xbf",      "overlong E0 9F BF",
      "\xf0\x80\x80\x80",  "overlong F0 80 80 80",
      "\xf0\x8f\xbf\xbf",  "overlong F0 8F BF BF",
      "\xed\xa0\x80",      "surrogate ED A0 80",
      "\xed\xbf\xbf",      "surrogate ED BF BF",
      "\xf4\x90\x80\x80",  "F4 90 80 80 above U+10FFFF",
      "\xf5\x80\x80\x80",  "F5 lead byte",
      "\xf8\x88\x80\x80\x80", "five-byte form",
      "\xff",              "bare 0xFF",
      "\xfe",              "bare 0xFE",
      "\x80",              "a lone continuation byte",
      "a\xbf",             "a continuation byte after ASCII",
      "\xc3",              "C3 then the closing quote",
      "\xe2\x82",          "E2 82 then the closing quote",
      "\xf0\x9f\x98",      "F0 9F 98 then the closing quote",
      "\xc3\x41",          "C3 then ASCII",
      "\xe2\x28\xa1",      "E2 then a bad second byte",
      "\xf0\x9f\x98\x41",  "F0 9F 98 then ASCII",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i += 2) {
    char buf[300], what[200];
    snprintf(buf, sizeof buf, CALL "{\"name\":\"%s\"}}", bad[i]);
    snprintf(what, sizeof what, "in params.name: %s", bad[i + 1]);
    expect(buf, JRPC_PARSE_ERROR, what);
    /* Everywhere: in a member name, in a value nobody reads, deep. */
    snprintf(buf, sizeof buf, CALL "{\"a%s\":1}}", bad[i]);
    snprintf(what, sizeof what, "in a member name: %s", bad[i + 1]);
    expect(buf, JRPC_PARSE_ERROR, what);
    snprintf(buf, sizeof buf, PRE "\"id\":1,\"result\":[[{\"t\":\"x%s\"}]]}", bad[i]);
    snprintf(what, sizeof what, "deep in a result: %s", bad[i + 1]);
    expect(buf, JRPC_PARSE_ERROR, what);
  }
  /* A raw NUL byte needs an explicit length. */
  static const char nul_in[] = CALL "{\"name\":\"a\0b\"}}";
  expect_n(nul_in, sizeof nul_in - 1, JRPC_PARSE_ERROR, "a raw NUL byte in a string");
  static const char nul_after[] = CALL "{}}\0";
  expect_n(nul_after, sizeof nul_after - 1, JRPC_PARSE_ERROR, "a NUL byte after the message");

  /* Invalid UTF-8 outside strings. */
  static const char *const outside[] = {
      CALL "{}}\xc3\xa9", CALL "{}}\xff", "\xef\xbb\xbf" CALL "{}}", CALL "\xc2\xa0{}}",
      CALL "{}\xed\xa0\x80}", PRE "\"id\":1,\"method\":\"m\",\xc0\x80\"x\":1}", CALL "{}}\xc3",
  };
  for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++)
    expect(outside[i], JRPC_PARSE_ERROR, "a non-ASCII byte outside strings (incl. a BOM, NBSP)");
}

/* ---- grammar ---- */

static void test_grammar(void) {
  static const char *const bad[] = {
      "01", "-01", "00", "+1", ".5", "1.", "1.e3", "1e", "1e+", "1E-", "-", "--1", "0x10",
      "NaN", "Infinity", "-Infinity", "1_000", "1.5.5", "0.", "- 1", "1 2", "\"a\" \"b\"",
      "True", "nul", "nulll", "tru", "falsey", "undefined", "'x'", "[1,]", "[,1]", "[1 2]",
      "{\"a\":1,}", "{,}", "{\"a\" 1}", "{\"a\":}", "{\"a\"}", "{a:1}", "{1:2}", "{'a':1}",
      "[", "]", "{", "\"", "\"abc", "[1", "{\"a\":[}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char buf[200], what[240];
    snprintf(buf, sizeof buf, CALL "{\"name\":\"x\",\"v\":%s}}", bad[i]);
    snprintf(what, sizeof what, "value %s: JRPC_PARSE_ERROR", bad[i]);
    expect(buf, JRPC_PARSE_ERROR, what);
  }
  static const char *const good[] = {"0", "-0", "1", "-1", "1.5", "1e3", "1E3", "1e+3", "1e-3",
                                     "0.0", "-0.0e-0", "12345678901234567890", "1e400", "-1e-400",
                                     "true", "false", "null", "[]", "{}", "[[],{}]", "\"\"",
                                     "123456789012345678901234567890.5e-99999999999999"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char buf[200], what[240];
    snprintf(buf, sizeof buf, CALL "{\"name\":\"x\",\"v\":%s}}", good[i]);
    snprintf(what, sizeof what, "value %s accepted", good[i]);
    expect(buf, JRPC_OK, what);
  }
  static const char *const whole[] = {
      "",
      " ",
      "\n\t\r ",
      CALL "{}}x",
      CALL "{}},",
      CALL "{}}}",
      CALL "{}} {}",
      CALL "{}},{}",
      CALL "{}} /* c */",
      CALL "{}} // c",
      "/* c */" CALL "{}}",
      CALL "{}/* c */}",
      PRE "\"id\":1,\"method\":\"ping\",}",
      "{,\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
      "{\"jsonrpc\":\"2.0\",,\"id\":1,\"method\":\"ping\"}",
      "{\"jsonrpc\":\"2.0\" \"id\":1,\"method\":\"ping\"}",
      "{'jsonrpc':'2.0','id':1,'method':'ping'}",
      CALL "{}}\f",
      "\v" CALL "{}}",
      CALL "{}",
  };
  for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++)
    expect(whole[i], JRPC_PARSE_ERROR, "not one JSON value: JRPC_PARSE_ERROR");

  expect(" \t\r\n{ \"jsonrpc\" : \"2.0\" ,\n\t\"id\"\r:\r1 , \"method\" :\"tools/call\" , \"params\" : "
         "{ \"name\" : \"g\" , \"a\" : [ 1 , { } , [ ] ] } } \n\r\t ",
         JRPC_OK, "whitespace around every token");
  STR_IS(name, "g", "  ... fields still read");
  CHECK(id_is("1"), "  ... id without whitespace");

  /* Every strict prefix of a message is incomplete. */
  static const char full[] = CALL "{\"name\":\"\\ud83d\\ude00\xc3\xa9\",\"uri\":\"u\",\"a\":[1.5e-3,true,"
                                  "null,false,{\"b\":\"\\u0041\"}],\"n\":-0}}";
  int all = 1;
  for (size_t k = 0; k + 1 < sizeof full; k++) {
    jrpc_result_t r = parse_n(full, k);
    if (r != JRPC_PARSE_ERROR || !m.why || m.err_off > k) {
      all = 0;
      printf("#   prefix of %zu bytes: %d\n", k, (int)r);
    }
  }
  CHECK(all, "every strict prefix of a message: JRPC_PARSE_ERROR with a why");
  expect(full, JRPC_OK, "  ... and the whole of it parses");
}

/* ---- depth ---- */

/* A message whose nesting (objects and arrays, the top-level object being
 * depth 1) reaches `depth`, through params; `arrays` picks the kind. */
static char *nested(int depth, int kind, size_t *n) {
  size_t cap = (size_t)depth * 8 + 200;
  char *s = malloc(cap);
  if (!s) abort();
  size_t k = (size_t)snprintf(s, cap, "%s", CALL);
  for (int d = 2; d <= depth; d++) {
    int obj = kind == 0 ? 0 : kind == 1 ? 1 : d % 2;
    k += (size_t)snprintf(s + k, cap - k, "%s", obj ? "{\"a\":" : "[");
  }
  k += (size_t)snprintf(s + k, cap - k, "1");
  for (int d = depth; d >= 2; d--) {
    int obj = kind == 0 ? 0 : kind == 1 ? 1 : d % 2;
    s[k++] = obj ? '}' : ']';
  }
  s[k++] = '}';
  *n = k;
  return s;
}

static void test_depth(void) {
  static const char *const kinds[] = {"arrays", "objects", "mixed"};
  for (int kind = 0; kind < 3; kind++) {
    for (int depth = 2; depth <= 70; depth++) {
      if (depth > 3 && depth < 63) continue;
      size_t n;
      char *s = nested(depth, kind, &n);
      char what[120];
      snprintf(what, sizeof what, "nesting depth %d (%s, the top object counted): %s", depth,
               kinds[kind], depth <= JRPC_MAX_DEPTH ? "OK" : "PARSE_ERROR");
      expect_n(s, n, depth <= JRPC_MAX_DEPTH ? JRPC_OK : JRPC_PARSE_ERROR, what);
      free(s);
    }
  }
  /* Deep but closed again: depth is the current nesting, not the total. */
  size_t cap = 8192, k = 0;
  char *s = malloc(cap);
  if (!s) abort();
  k += (size_t)snprintf(s, cap, "%s", CALL "[");
  for (int i = 0; i < 60; i++) {
    for (int d = 0; d < 50; d++) s[k++] = '[';
    for (int d = 0; d < 50; d++) s[k++] = ']';
    s[k++] = ',';
  }
  k += (size_t)snprintf(s + k, cap - k, "1]}");
  expect_n(s, k, JRPC_OK, "3000 arrays, never more than 53 deep");
  free(s);
  /* Far too deep: no stack overflow. */
  size_t dn = 200000;
  char *deep = malloc(dn);
  if (!deep) abort();
  memset(deep, '[', dn);
  expect_n(deep, dn, JRPC_PARSE_ERROR, "200000 open brackets");
  for (size_t i = 0; i + 5 <= dn; i += 5) memcpy(deep + i, "{\"a\":", 5);
  expect_n(deep, dn, JRPC_PARSE_ERROR, "40000 open objects");
  free(deep);
}

/* ---- long strings ---- */

static void test_lengths(void) {
  size_t cap = 40000;
  char *s = malloc(cap);
  if (!s) abort();
  static const size_t lens[] = {JRPC_NAME_MAX - 1, JRPC_NAME_MAX, JRPC_NAME_MAX + 1, 3000};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t L = lens[i], k = 0;
    k += (size_t)snprintf(s, cap, "%s", CALL "{\"name\":\"");
    for (size_t j = 0; j < L; j++) s[k++] = (char)('a' + j % 26);
    k += (size_t)snprintf(s + k, cap - k, "\",\"uri\":\"");
    for (size_t j = 0; j < L; j++) k += (size_t)snprintf(s + k, cap - k, "\\u00%02x", 'a' + (int)(j % 26));
    k += (size_t)snprintf(s + k, cap - k, "\"}}");
    char what[120];
    snprintf(what, sizeof what, "a name and an escaped uri of %zu bytes", L);
    expect_n(s, k, JRPC_OK, what);
    size_t keep = L < JRPC_NAME_MAX ? L : JRPC_NAME_MAX;
    int ok = m.name.type == JRPC_STRING && m.name.len == keep && m.name.full_len == L &&
             m.uri.type == JRPC_STRING && m.uri.len == keep && m.uri.full_len == L;
    for (size_t j = 0; ok && j < keep; j++)
      ok = m.name_buf[j] == (char)('a' + j % 26) && m.uri_buf[j] == (char)('a' + j % 26);
    snprintf(what, sizeof what, "  ... len %zu, full_len %zu, the first bytes kept", keep, L);
    if (!CHECK(ok, what))
      printf("#   name len %zu full %zu, uri len %zu full %zu\n", m.name.len, m.name.full_len,
             m.uri.len, m.uri.full_len);
    if (L > JRPC_NAME_MAX) {
      char *prefix = malloc(JRPC_NAME_MAX + 1);
      if (!prefix) abort();
      memcpy(prefix, m.name_buf, JRPC_NAME_MAX);
      prefix[JRPC_NAME_MAX] = 0;
      CHECK(!jrpc_str_is(&m.name, m.name_buf, prefix), "  ... a cut name never equals its prefix");
      free(prefix);
    }
  }
  /* A character across the cut: the cut is at most the buffer. */
  size_t k = (size_t)snprintf(s, cap, "%s", CALL "{\"name\":\"");
  for (size_t j = 0; j < JRPC_NAME_MAX - 1; j++) s[k++] = 'x';
  k += (size_t)snprintf(s + k, cap - k, "\xe2\x82\xac\"}}");
  expect_n(s, k, JRPC_OK, "a name whose last character crosses the cut");
  CHECK(m.name.len <= JRPC_NAME_MAX && m.name.len >= JRPC_NAME_MAX - 1 &&
            m.name.full_len == JRPC_NAME_MAX + 2,
        "  ... full_len counts it, len stays within the buffer");

  k = (size_t)snprintf(s, cap, "%s", PRE "\"id\":1,\"method\":\"");
  for (size_t j = 0; j < 300; j++) s[k++] = 'm';
  k += (size_t)snprintf(s + k, cap - k, "\"}");
  expect_n(s, k, JRPC_OK, "a method of 300 bytes");
  CHECK(m.method.type == JRPC_STRING && m.method.len == JRPC_METHOD_MAX && m.method.full_len == 300,
        "  ... len JRPC_METHOD_MAX, full_len 300");
  char pre[JRPC_METHOD_MAX + 1];
  memset(pre, 'm', JRPC_METHOD_MAX);
  pre[JRPC_METHOD_MAX] = 0;
  CHECK(!jrpc_str_is(&m.method, m.method_buf, pre), "  ... not equal to its first 128 bytes");
  k = (size_t)snprintf(s, cap, "%s", PRE "\"id\":1,\"method\":\"");
  for (size_t j = 0; j < JRPC_METHOD_MAX; j++) s[k++] = 'm';
  k += (size_t)snprintf(s + k, cap - k, "\"}");
  expect_n(s, k, JRPC_OK, "a method of exactly JRPC_METHOD_MAX bytes");
  CHECK(m.method.len == JRPC_METHOD_MAX && m.method.full_len == JRPC_METHOD_MAX &&
            jrpc_str_is(&m.method, m.method_buf, pre),
        "  ... kept whole and equal");
  free(s);
}

/* ---- jrpc_str_is ---- */

static void test_str_is(void) {
  jrpc_str_t v = {JRPC_STRING, 5, 5};
  const char *b = "greet";
  CHECK(jrpc_str_is(&v, b, "greet"), "equal");
  CHECK(!jrpc_str_is(&v, b, "gree"), "s shorter");
  CHECK(!jrpc_str_is(&v, b, "greets"), "s longer");
  CHECK(!jrpc_str_is(&v, b, "Greet"), "case counts");
  CHECK(!jrpc_str_is(&v, b, ""), "not empty");
  jrpc_str_t cut = {JRPC_STRING, 5, 9};
  CHECK(!jrpc_str_is(&cut, b, "greet"), "a cut string is not its kept bytes");
  jrpc_str_t absent = {JRPC_ABSENT, 0, 0}, other = {JRPC_OTHER, 0, 0};
  CHECK(!jrpc_str_is(&absent, b, ""), "JRPC_ABSENT equals nothing, not even \"\"");
  CHECK(!jrpc_str_is(&other, b, ""), "JRPC_OTHER equals nothing, not even \"\"");
  jrpc_str_t empty = {JRPC_STRING, 0, 0};
  CHECK(jrpc_str_is(&empty, b, ""), "an empty string equals \"\"");
  jrpc_str_t withnul = {JRPC_STRING, 3, 3};
  CHECK(!jrpc_str_is(&withnul, "a\0b", "a"), "an inner NUL is part of the string");
}

/* ---- property test ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n) { /* uniform enough in [0, n) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)((rng >> 16) % n);
}

typedef struct {
  char *p;
  size_t n, cap;
} sb_t;
static void sb_put(sb_t *b, const void *s, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
}
static void sb_s(sb_t *b, const char *s) { sb_put(b, s, strlen(s)); }
static void ws(sb_t *b) {
  static const char w[] = " \t\r\n";
  if (rnd(4) == 0)
    for (uint32_t i = rnd(3) + 1; i > 0; i--) sb_put(b, &w[rnd(4)], 1);
}

static size_t utf8(uint32_t c, char *o) {
  if (c < 0x80) return o[0] = (char)c, 1;
  if (c < 0x800) return o[0] = (char)(0xc0 | c >> 6), o[1] = (char)(0x80 | (c & 63)), 2;
  if (c < 0x10000)
    return o[0] = (char)(0xe0 | c >> 12), o[1] = (char)(0x80 | (c >> 6 & 63)),
           o[2] = (char)(0x80 | (c & 63)), 3;
  return o[0] = (char)(0xf0 | c >> 18), o[1] = (char)(0x80 | (c >> 12 & 63)),
         o[2] = (char)(0x80 | (c >> 6 & 63)), o[3] = (char)(0x80 | (c & 63)), 4;
}

/* One code point written into the JSON text in one of its spellings, its
 * UTF-8 appended to dec. */
static void put_cp(sb_t *j, sb_t *dec, uint32_t c) {
  char u[4];
  size_t un = utf8(c, u);
  sb_put(dec, u, un);
  static const char shortesc[] = "\"\\/\b\f\n\r\t", shortch[] = "\"\\/bfnrt";
  const char *se = c && c < 0x80 ? strchr(shortesc, (int)c) : NULL;
  int must = c < 0x20 || c == '"' || c == '\\';
  uint32_t how = rnd(5);
  char e[16];
  if (se && (must || how == 0)) {
    e[0] = '\\', e[1] = shortch[se - shortesc];
    sb_put(j, e, 2);
  } else if (must || how == 1) {
    const char *fmt = rnd(2) ? "\\u%04x" : "\\u%04X";
    if (c >= 0x10000) {
      uint32_t v = c - 0x10000;
      snprintf(e, sizeof e, fmt, 0xd800 + (v >> 10));
      sb_s(j, e);
      snprintf(e, sizeof e, fmt, 0xdc00 + (v & 0x3ff));
      sb_s(j, e);
    } else {
      snprintf(e, sizeof e, fmt, c);
      sb_s(j, e);
    }
  } else {
    sb_put(j, u, un);
  }
}

static uint32_t rand_cp(void) {
  switch (rnd(10)) {
  case 0: return rnd(0x20);
  case 1: return "\"\\/"[rnd(3)];
  case 2: return 0x80 + rnd(0x800 - 0x80);
  case 3: {
    uint32_t c = 0x800 + rnd(0x10000 - 0x800 - 0x800);
    return c >= 0xd800 ? c + 0x800 : c; /* no surrogates */
  }
  case 4: return 0x10000 + rnd(0x110000 - 0x10000);
  default: return 0x20 + rnd(0x5f);
  }
}

/* A string of up to maxcp random code points; its JSON in j, decoded in dec. */
static void gen_str(sb_t *j, sb_t *dec, uint32_t maxcp) {
  sb_put(j, "\"", 1);
  for (uint32_t i = rnd(maxcp + 1); i > 0; i--) put_cp(j, dec, rand_cp());
  sb_put(j, "\"", 1);
}
/* A given text in random spellings. */
static void gen_lit(sb_t *j, const char *s) {
  sb_t dec = {0};
  sb_put(j, "\"", 1);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) put_cp(j, &dec, *p);
  sb_put(j, "\"", 1);
  free(dec.p);
}

static void gen_num(sb_t *j) {
  char e[64];
  size_t k = 0;
  if (rnd(3) == 0) e[k++] = '-';
  if (rnd(4) == 0) e[k++] = '0';
  else
    for (uint32_t i = rnd(20) + 1, first = 1; i > 0; i--, first = 0)
      e[k++] = (char)((first ? '1' + rnd(9) : '0' + rnd(10)));
  if (rnd(3) == 0) {
    e[k++] = '.';
    for (uint32_t i = rnd(5) + 1; i > 0; i--) e[k++] = (char)('0' + rnd(10));
  }
  if (rnd(3) == 0) {
    e[k++] = "eE"[rnd(2)];
    uint32_t sign = rnd(3);
    if (sign) e[k++] = "+-"[sign - 1];
    for (uint32_t i = rnd(3) + 1; i > 0; i--) e[k++] = (char)('0' + rnd(10));
  }
  sb_put(j, e, k);
}

static void gen_value(sb_t *j, int depth);
/* An object's members: names made distinct by a distinct first character
 * ('_' then a letter per member), sometimes the decoys "name", "uri",
 * "method". */
static void gen_object(sb_t *j, int depth) {
  sb_put(j, "{", 1);
  uint32_t n = rnd(5);
  for (uint32_t i = 0; i < n; i++) {
    if (i) sb_put(j, ",", 1);
    ws(j);
    if (i == 0 && rnd(4) == 0) {
      gen_lit(j, (const char *[]){"name", "uri", "method", "params"}[rnd(4)]);
    } else {
      sb_t dec = {0};
      sb_put(j, "\"", 1);
      put_cp(j, &dec, '_');
      put_cp(j, &dec, 'a' + i);
      for (uint32_t c = rnd(4); c > 0; c--) put_cp(j, &dec, rand_cp());
      sb_put(j, "\"", 1);
      free(dec.p);
    }
    ws(j);
    sb_put(j, ":", 1);
    ws(j);
    gen_value(j, depth + 1);
    ws(j);
  }
  sb_put(j, "}", 1);
}

/* A value whose containers would sit at `depth`. */
static void gen_value(sb_t *j, int depth) {
  uint32_t what = rnd(depth < 6 ? 9 : depth <= JRPC_MAX_DEPTH ? 6 : 5);
  if (depth <= JRPC_MAX_DEPTH && rnd(40) == 0) what = 7 + rnd(2); /* now and then, deep */
  switch (what) {
  case 0: case 1: {
    sb_t dec = {0};
    gen_str(j, &dec, 8);
    free(dec.p);
    break;
  }
  case 2: gen_num(j); break;
  case 3: sb_s(j, "true"); break;
  case 4: sb_s(j, rnd(2) ? "false" : "null"); break;
  case 5: case 7: {
    sb_put(j, "[", 1);
    for (uint32_t i = rnd(4); i > 0; i--) {
      ws(j);
      gen_value(j, depth + 1);
      ws(j);
      if (i > 1) sb_put(j, ",", 1);
    }
    sb_put(j, "]", 1);
    break;
  }
  default: gen_object(j, depth); break;
  }
}

typedef struct {
  jrpc_kind_t kind;
  sb_t method, name, uri;
  jrpc_type_t name_t, uri_t;
  int params_object;
  size_t id_off, id_len;
} expect_t;

/* One member "key": value of the top-level object, written in any spelling. */
static void member(sb_t *j, int *first, const char *key) {
  if (!*first) sb_put(j, ",", 1);
  *first = 0;
  ws(j);
  gen_lit(j, key);
  ws(j);
  sb_put(j, ":", 1);
  ws(j);
}

/* A long string now and then, to cross the buffers' sizes. */
static void gen_field(sb_t *j, sb_t *dec, uint32_t limit) {
  uint32_t r = rnd(20);
  if (r == 0) {
    sb_put(j, "\"", 1);
    for (uint32_t i = limit - 3 + rnd(6); i > 0; i--) put_cp(j, dec, 'a' + rnd(26));
    sb_put(j, "\"", 1);
  } else if (r == 1) {
    gen_str(j, dec, limit); /* multi-byte characters: crosses it too */
  } else {
    gen_str(j, dec, 12);
  }
}

static void gen_message(sb_t *j, expect_t *e) {
  memset(e, 0, sizeof *e);
  e->kind = (jrpc_kind_t)rnd(3);
  enum { M_JSONRPC, M_METHOD, M_ID, M_PARAMS, M_RESULT, M_X1, M_X2, M_N };
  int order[M_N];
  for (int i = 0; i < M_N; i++) order[i] = i;
  for (int i = M_N - 1; i > 0; i--) {
    int k = (int)rnd((uint32_t)i + 1), t = order[i];
    order[i] = order[k], order[k] = t;
  }
  int params = (int)rnd(4); /* 0 none, 1-2 object, 3 array */
  int first = 1;
  ws(j);
  sb_put(j, "{", 1);
  for (int oi = 0; oi < M_N; oi++) {
    switch (order[oi]) {
    case M_JSONRPC: member(j, &first, "jsonrpc"); gen_lit(j, "2.0"); break;
    case M_METHOD:
      if (e->kind == JRPC_RESPONSE) break;
      member(j, &first, "method");
      if (rnd(3) == 0) {
        const char *known = (const char *[]){"tools/call", "resources/read", "prompts/get",
                                             "initialize", "tools/list"}[rnd(5)];
        gen_lit(j, known);
        sb_s(&e->method, known);
      } else {
        gen_field(j, &e->method, JRPC_METHOD_MAX);
      }
      break;
    case M_ID:
      if (e->kind == JRPC_NOTIFICATION) break;
      member(j, &first, "id");
      e->id_off = j->n;
      if (rnd(2)) {
        sb_t dec = {0};
        gen_str(j, &dec, 10);
        free(dec.p);
      } else {
        gen_num(j);
      }
      e->id_len = j->n - e->id_off;
      break;
    case M_PARAMS:
      if (e->kind == JRPC_RESPONSE || params == 0) break;
      member(j, &first, "params");
      if (params == 3) {
        sb_put(j, "[", 1);
        for (uint32_t i = rnd(3); i > 0; i--) {
          gen_value(j, 3);
          if (i > 1) sb_put(j, ",", 1);
        }
        sb_put(j, "]", 1);
        break;
      }
      e->params_object = 1;
      {
        int pf = 1;
        sb_put(j, "{", 1);
        uint32_t which = rnd(4); /* bit 0: name, bit 1: uri */
        int porder = (int)rnd(2);
        for (int t = 0; t < 4; t++) {
          int slot = (t + porder) % 4;
          if (slot == 0 && (which & 1)) {
            member(j, &pf, "name");
            if (rnd(6) == 0) {
              sb_s(j, (const char *[]){"null", "5", "{}", "[\"n\"]", "true"}[rnd(5)]);
              e->name_t = JRPC_OTHER;
            } else {
              gen_field(j, &e->name, JRPC_NAME_MAX), e->name_t = JRPC_STRING;
            }
          } else if (slot == 1 && (which & 2)) {
            member(j, &pf, "uri");
            gen_field(j, &e->uri, JRPC_NAME_MAX), e->uri_t = JRPC_STRING;
          } else if (slot == 2) {
            member(j, &pf, "_args");
            gen_object(j, 3);
          } else if (slot == 3 && rnd(2)) {
            member(j, &pf, "_list");
            gen_value(j, 3);
          }
          ws(j);
        }
        sb_put(j, "}", 1);
      }
      break;
    case M_RESULT:
      if (e->kind != JRPC_RESPONSE) break;
      member(j, &first, rnd(2) ? "result" : "error");
      gen_value(j, 2);
      break;
    case M_X1: case M_X2:
      if (rnd(2)) break;
      member(j, &first, order[oi] == M_X1 ? "_meta" : "_x");
      if (order[oi] == M_X2 && rnd(4) == 0) { /* exactly as deep as allowed */
        for (int d = 2; d <= JRPC_MAX_DEPTH; d++) sb_put(j, "[", 1);
        for (int d = 2; d <= JRPC_MAX_DEPTH; d++) sb_put(j, "]", 1);
      } else {
        gen_value(j, 2);
      }
      break;
    }
    ws(j);
  }
  sb_put(j, "}", 1);
  ws(j);
}

static int same_str(const jrpc_str_t *v, const char *buf, jrpc_type_t t, const sb_t *want, size_t max) {
  if (v->type != t) return 0;
  if (t != JRPC_STRING) return 1;
  size_t keep = want->n < max ? want->n : max;
  /* A cut may stop before a character that would not fit whole. */
  return v->full_len == want->n && v->len <= keep && v->len + 3 >= keep &&
         (v->len == 0 || memcmp(buf, want->p, v->len) == 0);
}

static int sane_str(const jrpc_str_t *v, size_t max) {
  return v->type == JRPC_ABSENT || v->type == JRPC_OTHER ||
         (v->type == JRPC_STRING && v->len <= max && v->len <= v->full_len &&
          (v->full_len <= max ? v->len == v->full_len : v->len + 3 >= max));
}

static void test_property(void) {
  int good = 0, sane = 0, runs = 2000;
  sb_t j = {0};
  expect_t e;
  for (int i = 0; i < runs; i++) {
    j.n = 0;
    gen_message(&j, &e);
    jrpc_result_t r = parse_n(j.p, j.n);
    int ok = r == JRPC_OK && m.kind == e.kind &&
             (e.kind == JRPC_RESPONSE ? m.method.type == JRPC_ABSENT
                                      : same_str(&m.method, m.method_buf, JRPC_STRING, &e.method,
                                                 JRPC_METHOD_MAX)) &&
             same_str(&m.name, m.name_buf, e.name_t, &e.name, JRPC_NAME_MAX) &&
             same_str(&m.uri, m.uri_buf, e.uri_t, &e.uri, JRPC_NAME_MAX) &&
             m.params_object == e.params_object && m.id_len == e.id_len &&
             (e.id_len == 0 || m.id == cur + e.id_off);
    if (ok) {
      good++;
    } else if (good + 5 > i) {
      printf("#   message %d: result %d (%s at %zu), kind %d/%d, method %d, name %d, uri %d, id %zu/%zu\n#   %.*s\n",
             i, (int)r, r ? m.why : "-", r ? m.err_off : 0, (int)m.kind, (int)e.kind,
             (int)m.method.type, (int)m.name.type, (int)m.uri.type, m.id_len, e.id_len,
             (int)(j.n > 400 ? 400 : j.n), j.p);
    }
    /* One byte changed: a proper answer, nothing read past the end. */
    size_t pos = rnd((uint32_t)j.n);
    j.p[pos] = (char)(j.p[pos] ^ (char)(1 + rnd(255)));
    r = parse_n(j.p, j.n);
    int s1 = (r == JRPC_OK || r == JRPC_PARSE_ERROR || r == JRPC_INVALID_REQUEST) &&
             (r == JRPC_OK ? sane_str(&m.method, JRPC_METHOD_MAX) && sane_str(&m.name, JRPC_NAME_MAX) &&
                                 sane_str(&m.uri, JRPC_NAME_MAX) &&
                                 (m.id_len == 0 || (m.id >= cur && m.id + m.id_len <= cur + j.n))
                           : m.why != NULL && m.err_off <= j.n);
    jrpc_result_t r2 = parse_n(j.p, j.n);
    if (s1 && r2 == r) sane++;
    else if (sane + 5 > i) printf("#   changed message %d: result %d then %d\n", i, (int)r, (int)r2);
    free(e.method.p), free(e.name.p), free(e.uri.p);
  }
  free(j.p);
  CHECK_INT(good, runs, "2000 generated messages read back exactly");
  CHECK_INT(sane, runs, "  ... each with one byte changed: a proper, repeatable answer");
}

int main(void) {
  test_valid();
  test_ids();
  test_shape();
  test_duplicates();
  test_strings();
  test_grammar();
  test_depth();
  test_lengths();
  test_str_is();
  test_property();
  free(cur);
  return TAP_DONE();
}
