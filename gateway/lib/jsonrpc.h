/* jsonrpc: the strict reader of one MCP JSON-RPC message, as the gateway
 * judges it before anything reaches an MCP server.
 *
 * The whole body is read once, strictly: one JSON value (RFC 8259) and
 * nothing after it but whitespace; valid UTF-8 everywhere (no overlong
 * forms, no surrogates, nothing above U+10FFFF), \u escapes decoded and
 * paired (a lone surrogate escape is refused); no member name twice in one
 * object, at any depth, compared after decoding (so "n\u0061me" is "name");
 * nesting at most JRPC_MAX_DEPTH (the top-level value is depth 1, so 64
 * levels pass and 65 fail); numbers as the grammar says. Anything
 * else is JRPC_PARSE_ERROR (JSON-RPC -32700).
 *
 * Then the message's shape: the top-level value must be an object (an array
 * is a batch, which MCP no longer allows): JRPC_INVALID_REQUEST (-32600)
 * otherwise, and also when "jsonrpc" is not "2.0", "method" is not a
 * string, "id" is neither a string nor a number, "params" is neither an
 * object nor an array, or a message without "method" is not a response (an
 * "id" and exactly one of "result" and "error").
 *
 * What the judge needs comes out decoded: method, and of an object
 * "params" its "name" and "uri" members (the only spellings: "Name" is
 * another member). Names are compared exactly, so the reader never guesses.
 * The input is never changed: what is forwarded is the body as received.
 * No allocation but one scratch array for the duplicate check, freed before
 * returning. */
#ifndef GW_JSONRPC_H
#define GW_JSONRPC_H

#include <stddef.h>
#include <stdint.h>

#define JRPC_MAX_DEPTH 64
#define JRPC_METHOD_MAX 128 /* decoded bytes kept of "method" */
#define JRPC_NAME_MAX 2048  /* of params "name" and "uri" */

typedef enum {
  JRPC_OK = 0,
  JRPC_PARSE_ERROR,     /* -32700: not acceptable JSON */
  JRPC_INVALID_REQUEST, /* -32600: JSON, but not one JSON-RPC message */
  JRPC_NOMEM,
} jrpc_result_t;

typedef enum { JRPC_REQUEST = 0, JRPC_NOTIFICATION, JRPC_RESPONSE } jrpc_kind_t;

/* A member's value as the judge sees it. */
typedef enum { JRPC_ABSENT = 0, JRPC_STRING, JRPC_OTHER } jrpc_type_t;

typedef struct {
  jrpc_type_t type;
  size_t len;      /* decoded bytes in buf (at most the buffer's size) */
  size_t full_len; /* decoded length of the whole string: > len when cut */
} jrpc_str_t;

typedef struct {
  jrpc_kind_t kind;
  jrpc_str_t method, name, uri; /* name and uri: members of an object "params" */
  char method_buf[JRPC_METHOD_MAX];
  char name_buf[JRPC_NAME_MAX];
  char uri_buf[JRPC_NAME_MAX];
  /* "id" as it stands in the input (quotes included for a string), or
   * id_len 0: compared byte for byte, never turned into a number. */
  const char *id;
  size_t id_len;
  uint8_t params_object; /* "params" is an object */
  /* On an error: a static description and, for JRPC_PARSE_ERROR, the byte
   * offset it was found at (0 for a shape error). On any error kind,
   * method, name, uri and id are cleared. */
  const char *why;
  size_t err_off;
} jrpc_msg_t;

jrpc_result_t jrpc_parse(const char *body, size_t len, jrpc_msg_t *out);

/* Whether a decoded string equals the C string s (the whole of it). */
int jrpc_str_is(const jrpc_str_t *v, const char *buf, const char *s);

/* Decodes a string of a document jrpc_parse accepted: raw is just after
 * its opening quote. Up to cap decoded bytes go to dst; returns the decoded
 * length of the whole string, and *close points at its closing quote. For
 * readers that walk a document jrpc_parse has already checked. */
size_t jrpc_unescape(const char *raw, char *dst, size_t cap, const char **close);

/* The JSON-RPC error code of a result (-32700, -32600; -32603 for
 * JRPC_NOMEM), 0 for JRPC_OK. Judge names with jrpc_str_is or full_len:
 * a cut buffer may end inside a UTF-8 sequence. */
int jrpc_code(jrpc_result_t r);

#endif
