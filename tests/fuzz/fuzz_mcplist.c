/* libFuzzer driver for gateway/lib/mcplist.h, the filter of list answers
 * from MCP upstreams, checked against jansson.
 *
 * Input: FLAGS JSON. FLAGS bits 0-1 the kind (tools, prompts, resources;
 * 3 is tools), bits 2-4 the id the gateway forwarded (1, "1", "a", 0, -1,
 * 1.5, "\u0061", 10), bits 5-7 which names are allowed (by a hash of the
 * decoded name: none, all, or about a half, a third, ...).
 *
 * Asserted (__builtin_trap() on violation):
 *   - unless FILTERED, out is left as it was;
 *   - FILTERED: the output loads with jansson (JSON_REJECT_DUPLICATES) when
 *     the input does, and equals the input with result.<kind> replaced by
 *     its elements whose name (uri) is allowed, in order; with every name
 *     allowed it is the input byte for byte; it is never longer than the
 *     input, and the callback saw decoded names jansson also sees;
 *   - never an unfiltered list: when jansson reads the input as a response
 *     (jsonrpc "2.0", no method, no error) whose id has the same value as
 *     the forwarded one (same string, or numbers equal as doubles) and
 *     which has a result, mcplist does not answer NOT_OURS;
 *   - FILTERED only when jansson sees the forwarded id's very value. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcplist.h"

#define CHECK(c)                    \
  do {                              \
    if (!(c)) __builtin_trap();     \
  } while (0)

static const char *const IDS[] = {"1", "\"1\"", "\"a\"", "0", "-1", "1.5", "\"\\u0061\"", "10"};
static const char *const KEYS[] = {"tools", "prompts", "resources"};

static int rule;

static int allow_name(const char *name, size_t n) {
  if (rule == 0) return 0;
  if (rule == 1) return 1;
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)name[i]) * 16777619u;
  return h % (unsigned)rule == 0;
}

static int allowed(void *ud, const char *name, size_t n) {
  (*(size_t *)ud)++;
  return allow_name(name, n);
}

static int same_id(json_t *a, json_t *b) {
  if (json_is_string(a) && json_is_string(b))
    return json_string_length(a) == json_string_length(b) &&
           memcmp(json_string_value(a), json_string_value(b), json_string_length(a)) == 0;
  return json_is_number(a) && json_is_number(b) && json_number_value(a) == json_number_value(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 1 << 16) return 0;
  mcplist_kind_t kind = (data[0] & 3) == 3 ? MCPLIST_TOOLS : (mcplist_kind_t)(data[0] & 3);
  const char *want = IDS[(data[0] >> 2) & 7];
  rule = data[0] >> 5;
  const char *json = (const char *)data + 1;
  size_t len = size - 1;

  outbuf_t out = {0};
  size_t calls = 0;
  mcplist_result_t r = mcplist_filter(json, len, want, strlen(want), kind, allowed, &calls, &out);
  CHECK(r == MCPLIST_NOT_OURS || r == MCPLIST_FILTERED || r == MCPLIST_FAIL);
  if (r != MCPLIST_FILTERED) CHECK(out.len == 0);
  if (r == MCPLIST_FILTERED) CHECK(out.len <= len);

  json_t *in = json_loadb(json, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
  json_t *want_j = json_loads(want, JSON_DECODE_ANY, NULL);
  CHECK(want_j);
  if (in && json_is_object(in)) {
    json_t *id = json_object_get(in, "id"), *result = json_object_get(in, "result");
    json_t *jv = json_object_get(in, "jsonrpc");
    int response = json_is_string(jv) && strcmp(json_string_value(jv), "2.0") == 0 &&
                   !json_object_get(in, "method") && !json_object_get(in, "error");
    if (response && id && result && same_id(id, want_j)) CHECK(r != MCPLIST_NOT_OURS);
    if (r == MCPLIST_FILTERED) {
      CHECK(id && json_equal(id, want_j));
      json_t *o = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
      CHECK(o);
      /* the input as it should come out */
      json_t *arr = json_object_get(result, KEYS[kind]);
      CHECK(json_is_array(arr));
      json_t *kept = json_array();
      size_t i;
      json_t *el;
      json_array_foreach(arr, i, el) {
        json_t *nm = json_object_get(el, kind == MCPLIST_RESOURCES ? "uri" : "name");
        CHECK(json_is_string(nm));
        if (allow_name(json_string_value(nm), json_string_length(nm))) json_array_append(kept, el);
      }
      CHECK(calls == json_array_size(arr));
      int all = json_array_size(kept) == json_array_size(arr);
      json_object_set_new(result, KEYS[kind], kept);
      CHECK(json_equal(o, in));
      if (all) CHECK(out.len == len && memcmp(out.data, json, len) == 0);
      json_decref(o);
    }
  } else if (!in) {
    /* jansson refuses more than mcplist (reals out of range); the output
     * must still be JSON mcplist itself accepts */
    if (r == MCPLIST_FILTERED) {
      outbuf_t again = {0};
      rule = 1;
      CHECK(mcplist_filter(out.data, out.len, want, strlen(want), kind, allowed, &calls, &again) ==
            MCPLIST_FILTERED);
      CHECK(again.len == out.len && memcmp(again.data, out.data, out.len) == 0);
      outbuf_free(&again);
    }
  } else {
    CHECK(r != MCPLIST_FILTERED);
  }
  json_decref(in);
  json_decref(want_j);
  outbuf_free(&out);
  return 0;
}
