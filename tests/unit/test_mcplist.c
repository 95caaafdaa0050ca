/* mcplist: list answers cut down to the allowed items, every other byte
 * kept; the id compared as raw text (other spellings of the same value
 * fail closed); everything that is not a readable answer refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcplist.h"
#include "tap.h"

typedef struct {
  const char *const *names; /* NULL-terminated */
  char seen[4096];          /* the decoded names asked about, '|'-separated */
  size_t seen_len;
} allow_t;

static int allowed(void *ud, const char *name, size_t n) {
  allow_t *a = ud;
  if (a->seen_len + n + 1 < sizeof a->seen) {
    memcpy(a->seen + a->seen_len, name, n);
    a->seen_len += n;
    a->seen[a->seen_len++] = '|';
    a->seen[a->seen_len] = 0;
  }
  for (const char *const *p = a->names; *p; p++)
    if (strlen(*p) == n && memcmp(*p, name, n) == 0) return 1;
  return 0;
}

static const char *const NONE[] = {NULL};
static const char *const AC[] = {"a", "c", NULL};
static const char *const B[] = {"b", NULL};
static const char *const ABC[] = {"a", "b", "c", NULL};

static outbuf_t out;
static allow_t al;

static mcplist_result_t filt(const char *json, const char *id, mcplist_kind_t kind,
                             const char *const *names) {
  out.len = 0;
  memset(&al, 0, sizeof al);
  al.names = names;
  mcplist_result_t r = mcplist_filter(json, strlen(json), id, strlen(id), kind, allowed, &al, &out);
  outbuf_append(&out, "", 1);
  out.len--;
  return r;
}

static void expect_filtered(const char *what, const char *json, const char *id, mcplist_kind_t kind,
                            const char *const *names, const char *want) {
  mcplist_result_t r = filt(json, id, kind, names);
  char w[300];
  snprintf(w, sizeof w, "%s: FILTERED", what);
  CHECK_INT(r, MCPLIST_FILTERED, w);
  CHECK_STR(r == MCPLIST_FILTERED ? out.data : "", want, what);
}

static void expect_result(const char *what, const char *json, const char *id, mcplist_result_t want) {
  outbuf_t o = {0};
  OUTBUF_LIT(&o, "before");
  memset(&al, 0, sizeof al);
  al.names = ABC;
  mcplist_result_t r = mcplist_filter(json, strlen(json), id, strlen(id), MCPLIST_TOOLS, allowed, &al, &o);
  CHECK_INT(r, want, what);
  if (r != MCPLIST_FILTERED) {
    char w[300];
    snprintf(w, sizeof w, "%s: out left as it was", what);
    CHECK(o.len == 6 && memcmp(o.data, "before", 6) == 0, w);
  }
  outbuf_free(&o);
}

static const char *LIST =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\",\"x\":[1,{\"name\":\"b\"}]}, "
    "{\"name\":\"b\"} ,{\"name\":\"c\"}],\"nextCursor\":\"n2\",\"_meta\":{\"k\":[]}}}";

static void test_filter(void) {
  expect_filtered("none allowed: the array is empty", LIST, "1", MCPLIST_TOOLS, NONE,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[],\"nextCursor\":\"n2\","
                  "\"_meta\":{\"k\":[]}}}");
  CHECK_STR(al.seen, "a|b|c|", "each element's name asked once (a nested \"name\" is not one)");
  expect_filtered("some allowed: the separator before a kept element comes with it", LIST, "1",
                  MCPLIST_TOOLS, AC,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\",\"x\":[1,{\"name\":"
                  "\"b\"}]} ,{\"name\":\"c\"}],\"nextCursor\":\"n2\",\"_meta\":{\"k\":[]}}}");
  expect_filtered("the middle one only", LIST, "1", MCPLIST_TOOLS, B,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"b\"}],\"nextCursor\":"
                  "\"n2\",\"_meta\":{\"k\":[]}}}");
  expect_filtered("all allowed: the same bytes", LIST, "1", MCPLIST_TOOLS, ABC, LIST);

  const char *pretty = "\n{\r\n  \"result\" : {\n    \"zz\": 1,\n    \"prompts\" : [\n      {\"name\": "
                       "\"a\"},\n      {\"name\": \"b\"}\n    ],\n    \"nextCursor\": null\n  },\n  \"id\" : "
                       "\"r-1\",\n  \"jsonrpc\": \"2.0\"\n}\n\t";
  expect_filtered("pretty-printed, id after result: whitespace and order kept", pretty, "\"r-1\"",
                  MCPLIST_PROMPTS, B,
                  "\n{\r\n  \"result\" : {\n    \"zz\": 1,\n    \"prompts\" : [\n      {\"name\": "
                  "\"b\"}\n    ],\n    \"nextCursor\": null\n  },\n  \"id\" : \"r-1\",\n  \"jsonrpc\": "
                  "\"2.0\"\n}\n\t");
  expect_filtered("pretty-printed, the first kept", pretty, "\"r-1\"", MCPLIST_PROMPTS, AC,
                  "\n{\r\n  \"result\" : {\n    \"zz\": 1,\n    \"prompts\" : [\n      {\"name\": "
                  "\"a\"}\n    ],\n    \"nextCursor\": null\n  },\n  \"id\" : \"r-1\",\n  \"jsonrpc\": "
                  "\"2.0\"\n}\n\t");
  expect_filtered("pretty-printed, none kept", pretty, "\"r-1\"", MCPLIST_PROMPTS, NONE,
                  "\n{\r\n  \"result\" : {\n    \"zz\": 1,\n    \"prompts\" : [\n    ],\n    "
                  "\"nextCursor\": null\n  },\n  \"id\" : \"r-1\",\n  \"jsonrpc\": \"2.0\"\n}\n\t");
  expect_filtered("an empty array stays []",
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[ ]}}", "1", MCPLIST_TOOLS, NONE,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[ ]}}");
  expect_filtered("resources by uri",
                  "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"resources\":[{\"uri\":\"a\",\"name\":"
                  "\"b\"},{\"name\":\"a\",\"uri\":\"c\"}]}}",
                  "7", MCPLIST_RESOURCES, AC,
                  "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"resources\":[{\"uri\":\"a\",\"name\":"
                  "\"b\"},{\"name\":\"a\",\"uri\":\"c\"}]}}");
  expect_filtered("resources: a name is not a uri",
                  "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"resources\":[{\"uri\":\"x\",\"name\":"
                  "\"a\"}]}}",
                  "7", MCPLIST_RESOURCES, AC,
                  "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"resources\":[]}}");
  expect_filtered("only the array of the kind asked changes",
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"prompts\":[{\"name\":\"z\"}],"
                  "\"tools\":[{\"name\":\"z\"}]}}",
                  "1", MCPLIST_TOOLS, NONE,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"prompts\":[{\"name\":\"z\"}],"
                  "\"tools\":[]}}");
  expect_filtered("escaped names and member names are decoded",
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"t\\u006fols\":[{\"n\\u0061me\":"
                  "\"t\\u00e9st\\ud83d\\ude00\\n\"},{\"name\":\"\\u0061\"}]}}",
                  "1", MCPLIST_TOOLS, AC,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"t\\u006fols\":[{\"name\":\"\\u0061\"}]}}");
  CHECK_STR(al.seen, "t\xc3\xa9st\xf0\x9f\x98\x80\n|a|", "the callback saw the decoded names");

  /* a name longer than the stack buffer */
  size_t big = 3000;
  char *doc = malloc(big + 200), *name = malloc(big + 1);
  memset(name, 'q', big);
  name[big] = 0;
  snprintf(doc, big + 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"%s\"}]}}", name);
  const char *const LONG[] = {name, NULL};
  CHECK_INT(filt(doc, "1", MCPLIST_TOOLS, LONG), MCPLIST_FILTERED, "a 3000-byte name");
  CHECK_STR(out.data, doc, "is read whole and allowed");
  free(doc);
  free(name);
}

static void test_ids(void) {
  const char *m = "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"tools\":[{\"name\":\"x\"}]}}";
  char d[256];
  snprintf(d, sizeof d, m, "1");
  expect_result("id 1 for 1: ours", d, "1", MCPLIST_FILTERED);
  expect_result("id \"1\" for 1: another id", d, "\"1\"", MCPLIST_NOT_OURS);
  expect_result("id 2 for 1: another id", d, "2", MCPLIST_NOT_OURS);
  expect_result("id 1 for 1.0: another spelling of the same number fails closed", d, "1.0",
                MCPLIST_FAIL);
  snprintf(d, sizeof d, m, "1e0");
  expect_result("id 1e0 for 1: fails closed", d, "1", MCPLIST_FAIL);
  snprintf(d, sizeof d, m, "-0");
  expect_result("id -0 for 0: fails closed", d, "0", MCPLIST_FAIL);
  snprintf(d, sizeof d, m, "9007199254740993");
  expect_result("ids a double cannot tell apart fail closed", d, "9007199254740992", MCPLIST_FAIL);
  snprintf(d, sizeof d, m, "\"1\"");
  expect_result("id \"1\" for \"1\": ours", d, "\"1\"", MCPLIST_FILTERED);
  expect_result("id \"1\" for 1: another id", d, "1", MCPLIST_NOT_OURS);
  snprintf(d, sizeof d, m, "\"\\u0031\"");
  expect_result("id \"\\u0031\" for \"1\": fails closed", d, "\"1\"", MCPLIST_FAIL);
  expect_result("id \"\\u0031\" for \"\\u0031\": ours", d, "\"\\u0031\"", MCPLIST_FILTERED);
  snprintf(d, sizeof d, m, "\"a\"");
  expect_result("id \"a\" for \"b\": another id", d, "\"b\"", MCPLIST_NOT_OURS);
  snprintf(d, sizeof d, m, "null");
  expect_result("id null: not ours", d, "1", MCPLIST_NOT_OURS);
}

static void test_not_ours_and_fail(void) {
  expect_result("an error response for the id passes untouched",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":\"no\"}}", "1",
                MCPLIST_NOT_OURS);
  expect_result("a notification passes",
                "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"}", "1",
                MCPLIST_NOT_OURS);
  expect_result("a server request with the same id passes",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sampling/createMessage\",\"params\":{}}", "1",
                MCPLIST_NOT_OURS);
  expect_result("another id with an odd result passes",
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":3}}", "1", MCPLIST_NOT_OURS);
  expect_result("a result without the array fails",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"nextCursor\":\"x\"}}", "1", MCPLIST_FAIL);
  expect_result("an array that is null fails", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":null}}",
                "1", MCPLIST_FAIL);
  expect_result("a result that is not an object fails",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":[{\"name\":\"a\"}]}", "1", MCPLIST_FAIL);
  expect_result("a non-object element fails",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"},\"b\"]}}", "1",
                MCPLIST_FAIL);
  expect_result("an element without a name fails",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"title\":\"a\"}]}}", "1",
                MCPLIST_FAIL);
  expect_result("a name that is not a string fails",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":[\"a\"]}]}}", "1",
                MCPLIST_FAIL);
  expect_result("a duplicate member in an element fails",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"x\",\"name\":\"a\"}]}}",
                "1", MCPLIST_FAIL);
  expect_result("a duplicate id fails (which one would a client take?)",
                "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[]},\"id\":1}", "1", MCPLIST_FAIL);
  expect_result("a duplicate spelled with an escape fails",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]},\"r\\u0065sult\":{}}", "1",
                MCPLIST_FAIL);
  expect_result("result and error both fail",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]},\"error\":{}}", "1", MCPLIST_FAIL);
  expect_result("a response without jsonrpc 2.0 fails", "{\"id\":1,\"result\":{\"tools\":[]}}", "1",
                MCPLIST_FAIL);
  expect_result("a method and a result for the id fail",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":{\"tools\":[]}}", "1",
                MCPLIST_FAIL);
  expect_result("invalid JSON fails", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}", "1",
                MCPLIST_FAIL);
  expect_result("invalid UTF-8 fails",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"\xc0\xaf\"}]}}", "1",
                MCPLIST_FAIL);
  expect_result("trailing data fails", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}} x", "1",
                MCPLIST_FAIL);
  expect_result("a batch fails", "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[]}}]", "1",
                MCPLIST_FAIL);
  expect_result("not JSON at all fails", "hello", "1", MCPLIST_FAIL);
  char deep[400];
  int n = snprintf(deep, sizeof deep, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[],\"d\":");
  for (int i = 0; i < 70; i++) deep[n++] = '[';
  for (int i = 0; i < 70; i++) deep[n++] = ']';
  deep[n++] = '}';
  deep[n++] = '}';
  deep[n] = 0;
  expect_result("nesting over 64 fails", deep, "1", MCPLIST_FAIL);
}

static void test_helpers(void) {
  outbuf_t o = {0};
  CHECK_INT(mcplist_error(&o, "\"a\"", 3, -32603, "list \"too\" large"), 0, "mcplist_error");
  outbuf_append(&o, "", 1);
  CHECK_STR(o.data,
            "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"error\":{\"code\":-32603,\"message\":\"list \\\"too\\\" "
            "large\"}}",
            "mcplist_error: the id as given, the message escaped");
  outbuf_free(&o);
  mcplist_kind_t k = MCPLIST_TOOLS;
  CHECK(mcplist_kind_of("prompts/list", 12, &k) && k == MCPLIST_PROMPTS, "prompts/list");
  CHECK(mcplist_kind_of("resources/list", 14, &k) && k == MCPLIST_RESOURCES, "resources/list");
  CHECK(mcplist_kind_of("tools/list", 10, &k) && k == MCPLIST_TOOLS, "tools/list");
  CHECK(!mcplist_kind_of("tools/call", 10, &k) && !mcplist_kind_of("tools/lis", 9, &k),
        "other methods are not lists");
}

/* The one-pass walk: strings skipped by memchr (a quote after an even or odd
 * run of backslashes), the element table past its first 64 entries, the id
 * after the result, elements judged only for our answer. */
static void test_one_pass(void) {
  expect_filtered("backslash runs before quotes inside and at the end of strings",
                  "{\"jsonrpc\":\"2.0\",\"result\":{\"tools\":[{\"d\":\"q\\\"]\\\\\",\"name\":\"a\\\\\"},"
                  "{\"name\":\"b\",\"d\":\"\\\\\\\"}{[\"},{\"name\":\"c\",\"d\":\"\\\\\\\\\"}]},\"id\":1}",
                  "1", MCPLIST_TOOLS, B,
                  "{\"jsonrpc\":\"2.0\",\"result\":{\"tools\":[{\"name\":\"b\",\"d\":\"\\\\\\\"}{[\"}]},\"id\":1}");
  CHECK_STR(al.seen, "a\\|b|c|", "backslashes: the decoded names, in order");
  /* 150 elements: t0 .. t149, every tenth allowed */
  static const char *const TENTHS[] = {"t0", "t10", "t20", "t30", "t40", "t50", "t60", "t70",
                                       "t80", "t90", "t100", "t110", "t120", "t130", "t140", NULL};
  outbuf_t in = {0}, want = {0};
  OUTBUF_LIT(&in, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[ ");
  OUTBUF_LIT(&want, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"tools\":[ ");
  for (int i = 0; i < 150; i++) {
    outbuf_printf(&in, "%s{\"name\":\"t%d\",\"s\":{\"a\":[%d,\"]\"]}}", i ? " , " : "", i, i);
    if (i % 10 == 0) outbuf_printf(&want, "%s{\"name\":\"t%d\",\"s\":{\"a\":[%d,\"]\"]}}", i ? " , " : "", i, i);
  }
  OUTBUF_LIT(&in, " ]}}");
  OUTBUF_LIT(&want, " ]}}");
  outbuf_append(&in, "", 1);
  outbuf_append(&want, "", 1);
  expect_filtered("150 elements, every tenth kept", in.data, "7", MCPLIST_TOOLS, TENTHS, want.data);
  CHECK(al.seen_len > 0 && strncmp(al.seen, "t0|t1|t2|", 9) == 0 && strstr(al.seen, "|t149|"),
        "150 elements: each name asked once, in order");
  outbuf_free(&in);
  outbuf_free(&want);
  expect_filtered("the id after the result, the array first in it",
                  "{\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}],\"x\":1},\"jsonrpc\":\"2.0\",\"id\":\"k\"}",
                  "\"k\"", MCPLIST_TOOLS, AC,
                  "{\"result\":{\"tools\":[{\"name\":\"a\"}],\"x\":1},\"jsonrpc\":\"2.0\",\"id\":\"k\"}");
  expect_result("another id with bad elements passes (nothing to filter)",
                "{\"jsonrpc\":\"2.0\",\"result\":{\"tools\":[{\"title\":\"a\"},3,{\"name\":[]}]},\"id\":2}", "1",
                MCPLIST_NOT_OURS);
  CHECK_INT(al.seen_len, 0, "not ours: no name was asked about");
  expect_result("bad elements after the id in our answer fail",
                "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\",\"name2\":1},[]]}}",
                "1", MCPLIST_FAIL);
  expect_result("a bad element before our id fails",
                "{\"jsonrpc\":\"2.0\",\"result\":{\"tools\":[{\"name\":1}]},\"id\":1}", "1", MCPLIST_FAIL);
  expect_filtered("the other kinds' arrays are not looked into",
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"prompts\":[5],\"tools\":[{\"name\":\"b\"}]}}", "1",
                  MCPLIST_TOOLS, NONE, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"prompts\":[5],\"tools\":[]}}");
  expect_filtered("an array named like ours deeper down is not ours",
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"m\":{\"tools\":[1]},\"tools\":[{\"name\":\"a\"}]}}",
                  "1", MCPLIST_TOOLS, ABC,
                  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"m\":{\"tools\":[1]},\"tools\":[{\"name\":\"a\"}]}}");
}

int main(void) {
  test_filter();
  test_one_pass();
  test_ids();
  test_not_ours_and_fail();
  test_helpers();
  outbuf_free(&out);
  return TAP_DONE();
}
