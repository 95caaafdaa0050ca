/* libFuzzer driver for gateway/jsonobj.h, the JSON reader of JWS headers and
 * JWT payloads, checked against jansson (JSON_REJECT_DUPLICATES, an object
 * at the top), which the verifier used before.
 *
 * Asserted (abort() on violation):
 *   - jobj_parse answers OK, INVALID or LIMIT;
 *   - outside the limits, and for inputs without a NUL byte (jansson skips
 *     one after a number; jsonobj refuses them all), jobj_parse accepts
 *     exactly what jansson accepts;
 *   - when both accept: the same members in the same order with the same
 *     values (strings byte for byte, integers, reals, types; the elements of
 *     top-level arrays too), every string NUL-terminated with no NUL inside,
 *     and every string lying inside the input buffer. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonobj.h"

static gw_jobj_t obj;

static int same(const gw_jv_t *v, json_t *j, int top, const char *lo, const char *hi) {
  if (v->type == GW_JV_STRING) {
    if (v->s < lo || v->s + v->len >= hi || v->s[v->len] != 0 || memchr(v->s, 0, v->len)) abort();
    return json_is_string(j) && json_string_length(j) == v->len &&
           memcmp(json_string_value(j), v->s, v->len) == 0;
  }
  switch (v->type) {
  case GW_JV_NULL: return json_is_null(j);
  case GW_JV_TRUE: return json_is_true(j);
  case GW_JV_FALSE: return json_is_false(j);
  case GW_JV_INT: return json_is_integer(j) && json_integer_value(j) == v->n.i;
  case GW_JV_REAL: return json_is_real(j) && json_real_value(j) == v->n.d;
  case GW_JV_OBJECT: return json_is_object(j);
  case GW_JV_ARRAY:
    if (!json_is_array(j)) return 0;
    if (!top) return 1;
    if (json_array_size(j) != v->count) return 0;
    for (size_t i = 0; i < v->count; i++)
      if (!same(jobj_elem(&obj, v, i), json_array_get(j, i), 0, lo, hi)) return 0;
    return 1;
  default: return 0;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 1 << 16) return 0;
  char *buf = malloc(size + 1);
  if (!buf) return 0;
  memcpy(buf, data, size);
  int rc = jobj_parse(&obj, buf, size);
  if (rc != GW_JOBJ_OK && rc != GW_JOBJ_INVALID && rc != GW_JOBJ_LIMIT) abort();
  if (rc != GW_JOBJ_LIMIT && !memchr(data, 0, size)) {
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    int theirs = j && json_is_object(j);
    if ((rc == GW_JOBJ_OK) != theirs) abort();
    if (theirs) {
      if (json_object_size(j) != obj.nmembers) abort();
      /* jansson keeps insertion order in iteration. */
      void *it = json_object_iter(j);
      for (size_t i = 0; i < obj.nmembers; i++, it = json_object_iter_next(j, it)) {
        const gw_jmember_t *m = &obj.members[i];
        if (!it || strlen(json_object_iter_key(it)) != m->name_len ||
            memcmp(json_object_iter_key(it), m->name, m->name_len) != 0)
          abort();
        if (m->name < buf || m->name + m->name_len >= buf + size + 1 || m->name[m->name_len] != 0)
          abort();
        if (!same(&m->v, json_object_iter_value(it), 1, buf, buf + size + 1)) abort();
      }
    }
    json_decref(j);
  }
  free(buf);
  return 0;
}
