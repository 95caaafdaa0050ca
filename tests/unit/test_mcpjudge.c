/* mcpjudge (gateway/lib/mcpjudge.h): which MCP item a JSON-RPC message
 * calls and whether the Mcp-Method / Mcp-Name headers agree with it
 * (SPEC "MCP upstreams"), then the media-type and Origin checks. Messages
 * are read with the real reader (jrpc_parse), items are loaded through the
 * policy_mcp loading calls, so what is judged is what the gateway judges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"
#include "mcpjudge.h"
#include "policy_mcp.h"
#include "tap.h"

static jrpc_msg_t msg;
static mcp_verdict_t v;

/* One item section with a scope mask of its own, so that which section a
 * call found shows in item->required. */
static void add(gw_mcp_items_t *t, const char *sec, gw_scopeset_t scopes) {
  gw_errors_t e = {0};
  static int line = 1;
  if (mcp_items_section(t, sec, line, "t.ini", &e) != 1 || e.n) {
    printf("# cannot add [%s]: %s\n", sec, e.n ? e.msgs[0] : "not an item section");
    exit(2);
  }
  mcp_items_set(t, mcp_items_key(t, "scopes", line + 1, "t.ini", &e), scopes);
  mcp_items_end(t, "t.ini", &e);
  if (e.n) {
    printf("# [%s]: %s\n", sec, e.msgs[0]);
    exit(2);
  }
  gw_errors_free(&e);
  line += 2;
}

/* The tool search (0x1) and the resource file:///a (0x2). */
static void basic_items(gw_mcp_items_t *t) {
  mcp_items_init(t);
  add(t, "mcp-tool:search", 0x1);
  add(t, "mcp-resource:file:///a", 0x2);
  mcp_items_done(t);
}

static mcp_hdr_t H(const char *s) { return (mcp_hdr_t){s, s ? strlen(s) : 0}; }
static const mcp_hdr_t NONE = {NULL, 0};

/* Parses body (which must be a valid message) and judges it. */
static const mcp_verdict_t *judge(const gw_mcp_items_t *t, const char *body, mcp_hdr_t meth,
                                  mcp_hdr_t name) {
  jrpc_result_t r = jrpc_parse(body, strlen(body), &msg);
  if (r != JRPC_OK) {
    printf("# test body does not parse (%d, %s): %.80s\n", (int)r, msg.why ? msg.why : "", body);
    exit(2);
  }
  memset(&v, 0x5a, sizeof v);
  mcp_judge(&msg, t, meth, name, &v);
  return &v;
}

static gw_scopeset_t item_scopes(const mcp_verdict_t *x) { return x->item ? x->item->required : 0; }

static int named(const mcp_verdict_t *x, const char *s) {
  return x->name && x->name_len == strlen(s) && memcmp(x->name, s, x->name_len) == 0;
}

#define CALL(method, params) "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"" method "\",\"params\":" params "}"

/* A call whose params member (name or uri) is start then 3000 'x': longer
 * than the reader keeps (JRPC_NAME_MAX). free() it. */
static char *long_call(const char *method, const char *member, const char *start) {
  enum { BIG = 3000 };
  char *b = malloc(BIG + 256);
  int n = snprintf(b, 256, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"%s\",\"params\":{\"%s\":\"%s",
                   method, member, start);
  memset(b + n, 'x', BIG);
  snprintf(b + n + BIG, 8, "\"}}");
  return b;
}

static void test_items(void) {
  gw_mcp_items_t t;
  mcp_items_init(&t);
  add(&t, "mcp-tool:search", 0x1);
  add(&t, "mcp-prompt:search", 0x2); /* the same name under another kind */
  add(&t, "mcp-prompt:greet", 0x4);
  add(&t, "mcp-resource:file:///docs/readme", 0x8);
  add(&t, "mcp-resource:file:///docs/*", 0x10);
  add(&t, "mcp-resource:file:///docs/private/*", 0x20);
  add(&t, "mcp-resource:file:///docs/readme*", 0x40);
  add(&t, "mcp-resource:*", 0x80);
  mcp_items_done(&t);

  const mcp_verdict_t *x = judge(&t, CALL("tools/call", "{\"name\":\"search\",\"arguments\":{}}"), NONE, NONE);
  CHECK(x->refuse == ANS_NONE && x->has_kind && x->kind == GW_MCP_TOOL, "tools/call: a tool call");
  CHECK(named(x, "search"), "tools/call: named by params.name");
  CHECK_INT(item_scopes(x), 0x1, "tools/call: the [mcp-tool:search] section, not the prompt's");
  CHECK(!x->deny_unlisted, "tools/call: listed, so not denied");

  x = judge(&t, CALL("prompts/get", "{\"name\":\"search\"}"), NONE, NONE);
  CHECK(x->refuse == ANS_NONE && x->has_kind && x->kind == GW_MCP_PROMPT, "prompts/get: a prompt");
  CHECK_INT(item_scopes(x), 0x2, "prompts/get: the [mcp-prompt:search] section, not the tool's");
  x = judge(&t, CALL("prompts/get", "{\"name\":\"greet\"}"), NONE, NONE);
  CHECK_INT(item_scopes(x), 0x4, "prompts/get greet: its section");
  x = judge(&t, CALL("tools/call", "{\"name\":\"greet\"}"), NONE, NONE);
  CHECK(x->has_kind && x->item == NULL, "tools/call greet: a prompt's section is not a tool's");

  static const char *const res_methods[] = {"resources/read", "resources/subscribe", "resources/unsubscribe"};
  char body[256], what[128];
  for (size_t i = 0; i < 3; i++) {
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"%s\",\"params\":{\"name\":\"search\",\"uri\":\"file:///docs/a\"}}",
             res_methods[i]);
    x = judge(&t, body, NONE, NONE);
    snprintf(what, sizeof what, "%s: a resource named by params.uri", res_methods[i]);
    CHECK(x->refuse == ANS_NONE && x->has_kind && x->kind == GW_MCP_RESOURCE && named(x, "file:///docs/a"), what);
    snprintf(what, sizeof what, "%s: the prefix section file:///docs/*", res_methods[i]);
    CHECK_INT(item_scopes(x), 0x10, what);
  }

  /* exact beats prefix, longest prefix wins, an empty prefix is the last resort */
  static const struct {
    const char *uri, *what;
    gw_scopeset_t want;
  } res[] = {
      {"file:///docs/readme", "exact section beats the prefixes that also match", 0x8},
      {"file:///docs/readme.md", "longest prefix (file:///docs/readme*) wins", 0x40},
      {"file:///docs/private/key", "longer prefix (file:///docs/private/*) beats file:///docs/*", 0x20},
      {"file:///docs/", "a prefix matches the URI equal to it", 0x10},
      {"file:///doc", "shorter than every other prefix: [mcp-resource:*]", 0x80},
      {"FILE:///docs/readme", "URIs compared byte for byte (case matters)", 0x80},
  };
  for (size_t i = 0; i < sizeof res / sizeof res[0]; i++) {
    snprintf(body, sizeof body, CALL("resources/read", "{\"uri\":\"%s\"}"), res[i].uri);
    x = judge(&t, body, NONE, NONE);
    snprintf(what, sizeof what, "resource %s: %s", res[i].uri, res[i].what);
    CHECK_INT(item_scopes(x), res[i].want, what);
  }

  /* A 3000-byte URI is cut by the reader but still starts with the prefix. */
  char *b = long_call("resources/read", "uri", "file:///docs/private/");
  x = judge(&t, b, NONE, NONE);
  CHECK(msg.uri.full_len > msg.uri.len, "3000-byte uri: longer than the reader keeps");
  CHECK(x->refuse == ANS_NONE && x->has_kind, "3000-byte uri: judged");
  CHECK_INT(item_scopes(x), 0x20, "3000-byte uri: still matches its prefix section");
  free(b);
  mcp_items_free(&t);
}

static void test_unlisted(void) {
  gw_mcp_items_t t;
  basic_items(&t);

  const mcp_verdict_t *x = judge(&t, CALL("tools/call", "{\"name\":\"other\"}"), NONE, NONE);
  CHECK(x->refuse == ANS_NONE && x->has_kind && x->item == NULL, "unlisted tool: no section");
  CHECK(named(x, "other"), "unlisted tool: its name");
  CHECK(!x->deny_unlisted, "unlisted tool: allowed by default (mcp_unlisted = allow)");
  x = judge(&t, CALL("resources/read", "{\"uri\":\"file:///a/b\"}"), NONE, NONE);
  CHECK(x->item == NULL && !x->deny_unlisted, "unlisted resource: an exact section is no prefix");

  /* 3000-byte tool name: longer than any section can be, so never listed */
  char *b = long_call("tools/call", "name", "search");
  x = judge(&t, b, NONE, NONE);
  CHECK(x->refuse == ANS_NONE && x->has_kind && x->item == NULL, "3000-byte tool name: no section");
  CHECK(!x->deny_unlisted, "3000-byte tool name: unlisted, allowed under allow");

  t.unlisted = GW_MCP_UNLISTED_DENY;
  x = judge(&t, b, NONE, NONE);
  CHECK(x->item == NULL && x->deny_unlisted, "3000-byte tool name: unlisted, denied under deny");
  free(b);
  x = judge(&t, CALL("tools/call", "{\"name\":\"other\"}"), NONE, NONE);
  CHECK(x->refuse == ANS_NONE && x->deny_unlisted, "mcp_unlisted = deny: unlisted tool denied");
  x = judge(&t, CALL("prompts/get", "{\"name\":\"p\"}"), NONE, NONE);
  CHECK(x->deny_unlisted, "mcp_unlisted = deny: unlisted prompt denied");
  x = judge(&t, CALL("resources/read", "{\"uri\":\"file:///b\"}"), NONE, NONE);
  CHECK(x->deny_unlisted, "mcp_unlisted = deny: unlisted resource denied");
  x = judge(&t, CALL("tools/call", "{\"name\":\"search\"}"), NONE, NONE);
  CHECK(x->item && !x->deny_unlisted, "mcp_unlisted = deny: a listed tool is not");
  x = judge(&t, CALL("tools/list", "{}"), NONE, NONE);
  CHECK(!x->has_kind && !x->deny_unlisted && x->refuse == ANS_NONE, "mcp_unlisted = deny: tools/list calls no item");

  /* no items at all (the policy has none) */
  gw_mcp_items_t empty;
  mcp_items_init(&empty);
  mcp_items_done(&empty);
  x = judge(&empty, CALL("tools/call", "{\"name\":\"x\"}"), NONE, NONE);
  CHECK(x->has_kind && x->item == NULL && !x->deny_unlisted, "no items: a call is unlisted, allowed");
  mcp_items_free(&empty);
  mcp_items_free(&t);
}

static void test_no_item(void) {
  gw_mcp_items_t t;
  basic_items(&t);
  t.unlisted = GW_MCP_UNLISTED_DENY; /* so that a wrongly found item would show */
  static const struct {
    const char *what, *body;
  } cases[] = {
      {"tools/list", CALL("tools/list", "{\"name\":\"search\"}")},
      {"initialize", CALL("initialize", "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}")},
      {"resources/list", CALL("resources/list", "{\"uri\":\"file:///a\"}")},
      {"a notification", "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"},
      {"a response", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"name\":\"search\"}}"},
      {"an error response", "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,\"message\":\"x\"}}"},
      {"tools/call with a suffix", CALL("tools/call2", "{\"name\":\"search\"}")},
      {"Tools/Call (methods are case-sensitive)", CALL("Tools/Call", "{\"name\":\"search\"}")},
  };
  char what[160];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const mcp_verdict_t *x = judge(&t, cases[i].body, NONE, NONE);
    snprintf(what, sizeof what, "%s: no item, judged by the route alone", cases[i].what);
    CHECK(x->refuse == ANS_NONE && !x->has_kind && x->item == NULL && !x->deny_unlisted, what);
  }

  /* escapes decoded before comparing: the same method, the same name */
  const mcp_verdict_t *x = judge(&t, CALL("tools\\/call", "{\"name\":\"se\\u0061rch\"}"), NONE, NONE);
  CHECK(x->has_kind && x->kind == GW_MCP_TOOL && x->item && x->item->required == 0x1,
        "tools\\/call with an escaped name: the tool search");
  x = judge(&t, CALL("\\u0074ools\\u002Fcall", "{\"name\":\"search\"}"), NONE, NONE);
  CHECK(x->has_kind && x->kind == GW_MCP_TOOL && x->item, "\\u-escaped tools/call: a tool call");
  x = judge(&t, CALL("tools\\u002fcall", "{\"name\":\"search\"}"), H("tools/call"), H("search"));
  CHECK(x->refuse == ANS_NONE && x->item, "escaped method: Mcp-Method tools/call agrees with it");
  mcp_items_free(&t);
}

static void test_params(void) {
  gw_mcp_items_t t;
  basic_items(&t);
  static const struct {
    const char *what, *body;
  } bad[] = {
      {"tools/call, params.name a number", CALL("tools/call", "{\"name\":42}")},
      {"tools/call, params.name null", CALL("tools/call", "{\"name\":null}")},
      {"tools/call, params.name an object", CALL("tools/call", "{\"name\":{\"x\":\"search\"}}")},
      {"tools/call, params without name", CALL("tools/call", "{\"arguments\":{}}")},
      {"tools/call, params an array", CALL("tools/call", "[\"search\"]")},
      {"tools/call, params absent", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\"}"},
      {"prompts/get, params absent", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\"}"},
      {"resources/read, uri a number", CALL("resources/read", "{\"uri\":7}")},
      {"resources/read, only a name", CALL("resources/read", "{\"name\":\"file:///a\"}")},
      {"tools/call notification without params", "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\"}"},
  };
  char what[160];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    const mcp_verdict_t *x = judge(&t, bad[i].body, NONE, NONE);
    snprintf(what, sizeof what, "%s: ANS_RPC_PARAMS", bad[i].what);
    CHECK_INT(x->refuse, ANS_RPC_PARAMS, what);
    snprintf(what, sizeof what, "%s: with a reason", bad[i].what);
    CHECK(x->why && x->why[0], what);
  }
  mcp_items_free(&t);
}

static void test_headers(void) {
  gw_mcp_items_t t;
  basic_items(&t);
  const char *tool = CALL("tools/call", "{\"name\":\"search\",\"uri\":\"file:///a\"}");
  const char *res = CALL("resources/read", "{\"name\":\"search\",\"uri\":\"file:///a\"}");
  const char *list = CALL("tools/list", "{}");
  const char *resp = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";

  const mcp_verdict_t *x = judge(&t, tool, H("tools/call"), NONE);
  CHECK(x->refuse == ANS_NONE && x->item, "Mcp-Method equal: accepted");
  x = judge(&t, list, H("tools/list"), NONE);
  CHECK(x->refuse == ANS_NONE, "Mcp-Method equal on tools/list: accepted");
  x = judge(&t, tool, H("tools/list"), NONE);
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Method different: ANS_RPC_HEADERS");
  CHECK(x->why && x->why[0], "Mcp-Method different: with a reason");
  x = judge(&t, tool, H("Tools/Call"), NONE);
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Method differing in case: ANS_RPC_HEADERS");
  x = judge(&t, tool, H("tools/call "), NONE);
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Method with a trailing space: ANS_RPC_HEADERS");
  x = judge(&t, tool, H("tools/cal"), NONE);
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Method a prefix of the method: ANS_RPC_HEADERS");
  x = judge(&t, tool, H(""), NONE);
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Method present but empty: ANS_RPC_HEADERS");
  x = judge(&t, resp, H("tools/call"), NONE);
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Method on a response: ANS_RPC_HEADERS");
  x = judge(&t, resp, NONE, NONE);
  CHECK_INT(x->refuse, ANS_NONE, "a response without headers: accepted");

  x = judge(&t, tool, NONE, H("search"));
  CHECK(x->refuse == ANS_NONE && x->item, "Mcp-Name equal to params.name: accepted");
  x = judge(&t, tool, H("tools/call"), H("search"));
  CHECK(x->refuse == ANS_NONE && x->item, "both headers equal: accepted");
  x = judge(&t, tool, NONE, H("file:///a"));
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "tools/call, Mcp-Name equal to params.uri: ANS_RPC_HEADERS");
  x = judge(&t, res, NONE, H("file:///a"));
  CHECK(x->refuse == ANS_NONE && x->item, "resources/read, Mcp-Name equal to params.uri: accepted");
  x = judge(&t, res, NONE, H("search"));
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "resources/read, Mcp-Name equal to params.name: ANS_RPC_HEADERS");
  x = judge(&t, tool, NONE, H("Search"));
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Name differing in case: ANS_RPC_HEADERS");
  x = judge(&t, tool, NONE, H("other"));
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Name different: ANS_RPC_HEADERS");
  CHECK(x->why && x->why[0], "Mcp-Name different: with a reason");
  x = judge(&t, tool, H("tools/call"), H("other"));
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Method equal, Mcp-Name different: ANS_RPC_HEADERS");
  x = judge(&t, list, NONE, H("search"));
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Name on a message without params.name/uri: ANS_RPC_HEADERS");
  x = judge(&t, resp, NONE, H("search"));
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Name on a response: ANS_RPC_HEADERS");
  x = judge(&t, CALL("tools/call", "{\"name\":\"se\\u0061rch\"}"), NONE, H("search"));
  CHECK(x->refuse == ANS_NONE, "Mcp-Name against the decoded params.name: accepted");

  /* A 3000-byte name cannot be compared whole (the reader keeps 2048). */
  char *b = long_call("tools/call", "name", ""), *hn = malloc(JRPC_NAME_MAX + 1);
  memset(hn, 'x', JRPC_NAME_MAX);
  hn[JRPC_NAME_MAX] = '\0';
  x = judge(&t, b, NONE, H(hn));
  CHECK_INT(x->refuse, ANS_RPC_HEADERS, "Mcp-Name equal to the kept part of a longer name: ANS_RPC_HEADERS");
  free(b);
  free(hn);
  mcp_items_free(&t);
}

static void test_media(void) {
  static const struct {
    const char *v;
    int want;
  } cases[] = {
      {"application/json", 1},
      {"Application/JSON", 1},
      {"APPLICATION/JSON", 1},
      {"application/json; charset=utf-8", 1},
      {"application/json;charset=utf-8", 1},
      {"application/json ; charset=utf-8", 1},
      {" application/json", 1},
      {"\tapplication/json ", 1},
      {"application/jsonx", 0},
      {"application/json-rpc", 0},
      {"application/json+ld", 0},
      {"text/json", 0},
      {"application/jso", 0},
      {"application/x-json", 0},
      {"text/plain; x=application/json", 0},
      {"", 0},
      {" ", 0},
  };
  char what[128];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(what, sizeof what, "media \"%s\": %s", cases[i].v, cases[i].want ? "JSON" : "not JSON");
    CHECK_INT(mcp_media_is_json(cases[i].v, strlen(cases[i].v)), cases[i].want, what);
  }
  /* the length counts, not a NUL */
  CHECK_INT(mcp_media_is_json("application/jsonx", 16), 1, "media: only n bytes are read");
  CHECK_INT(mcp_media_is_json("application/json", 15), 0, "media: cut at n bytes, not JSON");
  /* an exact-length copy: ASan sees a read past n */
  char *e = malloc(1);
  CHECK_INT(mcp_media_is_json(e, 0), 0, "media: empty (n = 0)");
  free(e);
}

static void test_origin(void) {
  char *list[] = {"https://app.example.com", "http://localhost:3000"};
  char *star[] = {"*"};
  char *mixed[] = {"https://a.example", "*"};
#define O(s) (s), strlen(s)
  CHECK(mcp_origin_allowed(O("https://app.example.com"), list, 2), "origin: exact");
  CHECK(mcp_origin_allowed(O("http://localhost:3000"), list, 2), "origin: second entry");
  CHECK(mcp_origin_allowed(O("https://APP.Example.COM"), list, 2), "origin: host case-insensitive");
  CHECK(!mcp_origin_allowed(O("https://app.example.com:8443"), list, 2), "origin: another port refused");
  CHECK(!mcp_origin_allowed(O("http://localhost:3001"), list, 2), "origin: localhost, another port refused");
  CHECK(!mcp_origin_allowed(O("http://localhost"), list, 2), "origin: default port vs listed port refused");
  CHECK(!mcp_origin_allowed(O("http://app.example.com"), list, 2), "origin: another scheme refused");
  CHECK(!mcp_origin_allowed(O("https://app.example.com.evil"), list, 2), "origin: a longer host refused");
  CHECK(!mcp_origin_allowed(O("https://app.example.co"), list, 2), "origin: a prefix refused");
  CHECK(!mcp_origin_allowed(O("https://evil.example"), list, 2), "origin: another host refused");
  CHECK(!mcp_origin_allowed(O("null"), list, 2), "origin: null refused");
  CHECK(!mcp_origin_allowed(O(""), list, 2), "origin: empty refused");
  CHECK(mcp_origin_allowed(O("https://evil.example"), star, 1), "origin: '*' allows any");
  CHECK(mcp_origin_allowed(O("null"), star, 1), "origin: '*' allows null too");
  CHECK(mcp_origin_allowed(O("https://b.example"), mixed, 2), "origin: '*' anywhere in the list");
  CHECK(!mcp_origin_allowed(O("https://app.example.com"), NULL, 0), "origin: NULL list allows none");
  CHECK(!mcp_origin_allowed(O("https://app.example.com"), list, 0), "origin: empty list allows none");
  CHECK(!mcp_origin_allowed("https://app.example.comX", 24, list, 2) &&
            mcp_origin_allowed("https://app.example.comX", 23, list, 2),
        "origin: exactly n bytes compared");
#undef O
}

int main(void) {
  test_items();
  test_unlisted();
  test_no_item();
  test_params();
  test_headers();
  test_media();
  test_origin();
  return TAP_DONE();
}
