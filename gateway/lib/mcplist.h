/* mcplist: the answer to a tools/list, prompts/list or resources/list,
 * cut down to the items a token may use, byte for byte otherwise.
 *
 * One JSON-RPC message (a JSON body, or the data of one SSE event) is read
 * as strictly as the requests are (jsonrpc.h: RFC 8259, UTF-8, no
 * duplicate member names, depth). It is the answer when its top-level
 * "id" is the id the gateway forwarded, compared as raw JSON text (1,
 * 1.0 and "1" are three ids). Then only the array result.tools (prompts,
 * resources) changes: the elements whose "name" ("uri" for resources),
 * decoded, the caller does not allow are taken out with their commas;
 * every other byte stays where it was: whitespace, member order,
 * "nextCursor", members nobody knows. An empty array stays "[]".
 *
 * Fail closed: what cannot be read strictly, or is the answer but is not a
 * valid JSON-RPC response, or whose result has no such array, or an
 * element that is not an object with a string "name" ("uri"), is
 * MCPLIST_FAIL: the caller answers that id with mcplist_error instead. So
 * is a message whose "id" is another spelling of the same value (1.0 or
 * 1e0 for 1, -0 for 0, "\u0061" for "a", two numbers a double cannot tell
 * apart): a client comparing decoded ids would take it for the answer.
 *
 * Memory: jsonrpc's scratch array for the duplicate check, a table of the
 * array's elements beyond the first 64 and a buffer for a decoded name
 * over 1 KiB; all freed before returning. The output is at most len bytes. */
#ifndef GW_MCPLIST_H
#define GW_MCPLIST_H

#include <stddef.h>

#include "buf.h"

typedef enum { MCPLIST_TOOLS, MCPLIST_PROMPTS, MCPLIST_RESOURCES } mcplist_kind_t;

typedef enum {
  MCPLIST_NOT_OURS = 0, /* forward it untouched: not a response for that id (no "id", another id,
                         * a request or notification), or a response without "result" (an error) */
  MCPLIST_FILTERED,     /* forward out's new bytes instead */
  MCPLIST_FAIL,         /* forward mcplist_error(id) instead; out unchanged */
} mcplist_result_t;

/* The list kind of a decoded method name: 1 and *kind for "tools/list",
 * "prompts/list", "resources/list", else 0. */
int mcplist_kind_of(const char *method, size_t len, mcplist_kind_t *kind);

/* want_id[0..want_id_len) is the request's "id" as jrpc_parse gave it (a
 * JSON string, quotes included, or number). allowed(ud, name, name_len)
 * gets each element's decoded name (not NUL-terminated) and answers
 * non-zero to keep it. On MCPLIST_FILTERED the filtered message is
 * appended to out; otherwise out is left as it was. */
mcplist_result_t mcplist_filter(const char *json, size_t len, const char *want_id,
                                size_t want_id_len, mcplist_kind_t kind,
                                int (*allowed)(void *ud, const char *name, size_t name_len),
                                void *ud, outbuf_t *out);

/* Appends {"jsonrpc":"2.0","id":ID,"error":{"code":CODE,"message":MSG}}
 * (id raw JSON text as above, msg JSON-escaped); -1 when out of memory. */
int mcplist_error(outbuf_t *out, const char *id, size_t id_len, int code, const char *msg);

#endif
