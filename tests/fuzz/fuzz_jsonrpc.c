/* libFuzzer driver for gateway/lib/jsonrpc.h, the strict reader of the MCP
 * JSON-RPC messages any client may send: a differential run against
 * jansson (json_loadb with JSON_REJECT_DUPLICATES | JSON_DECODE_ANY |
 * JSON_ALLOW_NUL; jansson's UTF-8 check is as strict as the header's).
 *
 * Asserted on every input (abort() on violation):
 *   - jrpc_parse answers OK, PARSE_ERROR or INVALID_REQUEST (inputs are
 *     small: never NOMEM), the same when asked twice, and leaves the input
 *     as it was; an error has a why and an err_off inside the body;
 *   - where jansson refuses the input, jrpc_parse says PARSE_ERROR;
 *   - where jansson accepts it: PARSE_ERROR when jansson's tree nests
 *     deeper than JRPC_MAX_DEPTH (objects and arrays, the top-level value
 *     being depth 1); otherwise the verdict of the header's shape rules
 *     computed on jansson's tree (ref_shape below), and on OK the same kind,
 *     method, params "name" and "uri" (decoded, cut to the buffers),
 *     params_object, and an id slice that lies in the body and that jansson
 *     reads as a value equal to jansson's "id".
 *
 * Where jansson and RFC 8259 differ, the input is judged without jansson:
 *   - a raw NUL byte: never valid JSON (not whitespace, not allowed raw in a
 *     string), but jansson's number scanner can swallow one after a number:
 *     such inputs must be PARSE_ERROR;
 *   - json_error_numeric_overflow ("too big integer", "real number
 *     overflow"): jansson refuses numbers the RFC grammar allows (the reader
 *     never converts numbers, so it may accept them): no assertion on the
 *     verdict;
 *   - json_error_null_byte_in_key ("\u0000" in a member name): jansson
 *     cannot hold such a name; the RFC allows it: no assertion;
 *   - \u0000 in string values is allowed by JSON_ALLOW_NUL, so those are
 *     compared (lengths, not C strings). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonrpc.h"

#define MAX_INPUT (256 * 1024)

static void check(int ok) {
  if (!ok) abort();
}

static size_t depth_of(const json_t *j) {
  size_t d = 0;
  if (json_is_object(j)) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)j, k, v) {
      size_t c = depth_of(v);
      if (c > d) d = c;
    }
    return d + 1;
  }
  if (json_is_array(j)) {
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) {
      size_t c = depth_of(v);
      if (c > d) d = c;
    }
    return d + 1;
  }
  return 0;
}

/* The header's shape rules on jansson's tree. */
static jrpc_result_t ref_shape(const json_t *top, jrpc_kind_t *kind) {
  if (!json_is_object(top)) return JRPC_INVALID_REQUEST;
  const json_t *v = json_object_get(top, "jsonrpc");
  if (!json_is_string(v) || json_string_length(v) != 3 || memcmp(json_string_value(v), "2.0", 3))
    return JRPC_INVALID_REQUEST;
  const json_t *method = json_object_get(top, "method"), *id = json_object_get(top, "id");
  const json_t *params = json_object_get(top, "params");
  if (method && !json_is_string(method)) return JRPC_INVALID_REQUEST;
  if (id && !json_is_string(id) && !json_is_number(id)) return JRPC_INVALID_REQUEST;
  if (params && !json_is_object(params) && !json_is_array(params)) return JRPC_INVALID_REQUEST;
  if (!method) {
    int res = json_object_get(top, "result") != NULL, err = json_object_get(top, "error") != NULL;
    if (!id || res + err != 1) return JRPC_INVALID_REQUEST;
    *kind = JRPC_RESPONSE;
  } else {
    *kind = id ? JRPC_REQUEST : JRPC_NOTIFICATION;
  }
  return JRPC_OK;
}

/* Our decoded member against jansson's value (NULL: absent). */
static void same_str(const jrpc_str_t *v, const char *buf, const json_t *j, size_t max) {
  if (!j) {
    check(v->type == JRPC_ABSENT);
    return;
  }
  if (!json_is_string(j)) {
    check(v->type == JRPC_OTHER);
    return;
  }
  size_t n = json_string_length(j);
  check(v->type == JRPC_STRING && v->full_len == n);
  if (n <= max) {
    check(v->len == n);
  } else {
    /* Cut within the buffer, at most a partial character short of it. */
    check(v->len <= max && v->len + 3 >= max);
  }
  check(memcmp(buf, json_string_value(j), v->len) == 0);
}

static void compare(const char *body, size_t size, const jrpc_msg_t *m, const json_t *top,
                    jrpc_kind_t kind) {
  check(m->kind == kind);
  const json_t *method = json_object_get(top, "method"), *id = json_object_get(top, "id");
  const json_t *params = json_object_get(top, "params");
  same_str(&m->method, m->method_buf, method, JRPC_METHOD_MAX);
  int pobj = json_is_object(params);
  check(m->params_object == pobj);
  same_str(&m->name, m->name_buf, pobj ? json_object_get(params, "name") : NULL, JRPC_NAME_MAX);
  same_str(&m->uri, m->uri_buf, pobj ? json_object_get(params, "uri") : NULL, JRPC_NAME_MAX);
  if (!id) {
    check(m->id_len == 0);
    return;
  }
  check(m->id_len > 0 && m->id >= body && m->id + m->id_len <= body + size);
  check((m->id[0] == '"') == json_is_string(id));
  json_t *mine = json_loadb(m->id, m->id_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  /* The slice is the value as written: nothing around it. */
  check(mine && m->id[0] != ' ' && m->id[m->id_len - 1] != ' ' && json_equal(mine, id));
  json_decref(mine);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_INPUT) return 0;
  char *body = malloc(size ? size : 1);
  if (!body) return 0;
  memcpy(body, data, size);
  static jrpc_msg_t m, m2;
  jrpc_result_t rc = jrpc_parse(body, size, &m);
  check(rc == JRPC_OK || rc == JRPC_PARSE_ERROR || rc == JRPC_INVALID_REQUEST);
  check(memcmp(body, data, size) == 0);
  if (rc != JRPC_OK) check(m.why != NULL && m.err_off <= size);
  check(jrpc_parse(body, size, &m2) == rc);

  if (memchr(body, 0, size)) {
    check(rc == JRPC_PARSE_ERROR);
  } else {
    json_error_t err;
    json_t *top = json_loadb(body, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL,
                             &err);
    if (!top) {
      enum json_error_code code = json_error_code(&err);
      if (code != json_error_numeric_overflow && code != json_error_null_byte_in_key)
        check(rc == JRPC_PARSE_ERROR);
    } else if (depth_of(top) > JRPC_MAX_DEPTH) {
      check(rc == JRPC_PARSE_ERROR);
    } else {
      jrpc_kind_t kind = JRPC_REQUEST;
      jrpc_result_t want = ref_shape(top, &kind);
      check(rc == want);
      if (rc == JRPC_OK) compare(body, size, &m, top, kind);
    }
    json_decref(top);
  }
  free(body);
  return 0;
}
