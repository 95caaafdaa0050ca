/* jsonobj: a strict JSON reader for JWS headers and JWT payloads.
 *
 * It reads one JSON object (RFC 8259) and indexes its members, and the
 * elements of members that are arrays; deeper values are checked and
 * skipped. It allocates nothing: strings are decoded in place in the
 * caller's buffer (which must stay alive and writable as long as the
 * result is used) and end with a NUL there.
 *
 * Why not jansson: on a token cache miss, building jansson's tree (a
 * hashtable and a malloc per value) cost more than everything else around
 * the signature check. What it accepts is jansson's grammar with
 * JSON_REJECT_DUPLICATES (tests/unit/test_jsonobj.c and the jsonobj fuzzer
 * compare the two): UTF-8 checked, \u0000 and lone surrogates refused,
 * duplicate names refused in every object, integers outside int64_t and
 * reals that overflow refused. On top of that it has limits (members, array
 * elements, nesting depth, keys per nested object, number length); past
 * one it answers GW_JOBJ_LIMIT, which callers treat like invalid input. */
#ifndef GW_JSONOBJ_H
#define GW_JSONOBJ_H

#include <stddef.h>
#include <stdint.h>

#define GW_JOBJ_MAX_MEMBERS 64      /* top-level members */
#define GW_JOBJ_MAX_ELEMS 128       /* elements of top-level arrays, all together */
#define GW_JOBJ_MAX_DEPTH 16        /* the top-level object is depth 1 */
#define GW_JOBJ_MAX_NESTED_KEYS 64  /* members of one nested object */
#define GW_JOBJ_MAX_NUMBER 64       /* characters of one number */

typedef enum {
  GW_JV_NULL,
  GW_JV_FALSE,
  GW_JV_TRUE,
  GW_JV_INT,
  GW_JV_REAL,
  GW_JV_STRING,
  GW_JV_ARRAY,
  GW_JV_OBJECT
} gw_jv_type_t;

typedef struct {
  gw_jv_type_t type;
  uint32_t first, count; /* GW_JV_ARRAY member: its elements are elems[first, first+count) */
  const char *s;         /* GW_JV_STRING: decoded, NUL-terminated (no NUL inside) */
  size_t len;
  union {
    int64_t i; /* GW_JV_INT */
    double d;  /* GW_JV_REAL */
  } n;
} gw_jv_t;

typedef struct {
  const char *name; /* decoded, NUL-terminated */
  size_t name_len;
  gw_jv_t v;
} gw_jmember_t;

typedef struct {
  size_t nmembers, nelems;
  gw_jmember_t members[GW_JOBJ_MAX_MEMBERS];
  gw_jv_t elems[GW_JOBJ_MAX_ELEMS]; /* nested arrays and objects in here: type only */
} gw_jobj_t;

enum { GW_JOBJ_OK = 0, GW_JOBJ_INVALID = -1, GW_JOBJ_LIMIT = -2 };

/* Parses buf[0..len) as one JSON object (whitespace around it allowed,
 * nothing else). buf is rewritten; o points into it. */
int jobj_parse(gw_jobj_t *o, char *buf, size_t len);

/* The member called name, or NULL. */
const gw_jv_t *jobj_get(const gw_jobj_t *o, const char *name);

/* Element i of an array member (i < v->count). */
static inline const gw_jv_t *jobj_elem(const gw_jobj_t *o, const gw_jv_t *v, size_t i) {
  return &o->elems[v->first + i];
}

#endif
