/* mcpjudge: what a JSON-RPC message on an MCP upstream asks for, judged
 * against the policy's MCP items (policy_mcp.h) before any scope check:
 * which tool, prompt or resource it calls, whether the MCP 2026-07-28
 * Mcp-Method / Mcp-Name headers agree with the body, and whether an item
 * without a section may be called at all. Also the two request checks that
 * need no body: the media type and the Origin. Pure functions. */
#ifndef GW_MCPJUDGE_H
#define GW_MCPJUDGE_H

#include <stddef.h>

#include "answer.h"
#include "jsonrpc.h"
#include "policy_mcp.h"

typedef struct {
  answer_kind_t refuse;       /* ANS_NONE: the scopes decide */
  const char *why;            /* for a refusal */
  int has_kind;               /* the method calls an item */
  gw_mcp_kind_t kind;
  const char *name;           /* the item's name or URI (decoded, into the message) */
  size_t name_len;
  const gw_mcp_item_t *item;  /* its section, or NULL */
  int deny_unlisted;          /* no section, and mcp_unlisted = deny */
} mcp_verdict_t;

/* A header value, or absent (p NULL). */
typedef struct {
  const char *p;
  size_t len;
} mcp_hdr_t;

void mcp_judge(const jrpc_msg_t *m, const gw_mcp_items_t *items, mcp_hdr_t mcp_method,
               mcp_hdr_t mcp_name, mcp_verdict_t *out);

/* Whether a token with these scopes (tok_ok 0: no token) may use the item
 * named: what a tools/list, prompts/list or resources/list answer may show. */
int mcp_item_usable(const gw_mcp_items_t *items, gw_mcp_kind_t k, const char *name, size_t len,
                    int tok_ok, gw_scopeset_t have);

/* The item kind a tools/list, prompts/list or resources/list request
 * lists: 1 and *k set, or 0. */
int mcp_list_method(const jrpc_msg_t *m, gw_mcp_kind_t *k);

/* Content-Type application/json, case-insensitive, parameters allowed. */
int mcp_media_is_json(const char *v, size_t n);

/* An Origin value against an allowlist ({"*"}: any; NULL or empty: none). */
int mcp_origin_allowed(const char *origin, size_t n, char *const *list, size_t nlist);

#endif
