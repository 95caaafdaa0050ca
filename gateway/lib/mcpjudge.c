/* mcpjudge: MCP items named by a JSON-RPC message, and the header checks. */
#include "mcpjudge.h"

#include <string.h>
#include <strings.h>

static int eq(const char *a, size_t an, const char *b, size_t bn) {
  return an == bn && memcmp(a, b, an) == 0;
}

void mcp_judge(const jrpc_msg_t *m, const gw_mcp_items_t *items, mcp_hdr_t mcp_method,
               mcp_hdr_t mcp_name, mcp_verdict_t *out) {
  memset(out, 0, sizeof *out);
  int has_method = m->method.type == JRPC_STRING;
  /* A method name cut by the reader cannot be one of these. */
  int whole = has_method && m->method.len == m->method.full_len;
  const char *mb = m->method_buf;
  const jrpc_str_t *arg = NULL;
  const char *argbuf = NULL;
  if (whole && jrpc_str_is(&m->method, mb, "tools/call")) {
    out->kind = GW_MCP_TOOL;
    arg = &m->name;
    argbuf = m->name_buf;
  } else if (whole && jrpc_str_is(&m->method, mb, "prompts/get")) {
    out->kind = GW_MCP_PROMPT;
    arg = &m->name;
    argbuf = m->name_buf;
  } else if (whole && (jrpc_str_is(&m->method, mb, "resources/read") ||
                       jrpc_str_is(&m->method, mb, "resources/subscribe") ||
                       jrpc_str_is(&m->method, mb, "resources/unsubscribe"))) {
    out->kind = GW_MCP_RESOURCE;
    arg = &m->uri;
    argbuf = m->uri_buf;
  }
  if (mcp_method.p && (!whole || !eq(mcp_method.p, mcp_method.len, mb, m->method.len))) {
    out->refuse = ANS_RPC_HEADERS;
    out->why = "the Mcp-Method header does not match the body's method";
    return;
  }
  if (mcp_name.p) {
    /* The name of the item called, else whatever name or uri the params hold. */
    const jrpc_str_t *n = arg ? arg : m->name.type == JRPC_STRING ? &m->name : &m->uri;
    const char *nb = n == &m->name ? m->name_buf : m->uri_buf;
    if (n->type != JRPC_STRING || n->len != n->full_len || !eq(mcp_name.p, mcp_name.len, nb, n->len)) {
      out->refuse = ANS_RPC_HEADERS;
      out->why = "the Mcp-Name header does not match the body's params";
      return;
    }
  }
  if (!arg) return; /* judged by the route alone */
  if (arg->type != JRPC_STRING) {
    out->refuse = ANS_RPC_PARAMS;
    out->why = out->kind == GW_MCP_RESOURCE ? "params.uri must be a string"
                                            : "params.name must be a string";
    return;
  }
  out->has_kind = 1;
  out->name = argbuf;
  out->name_len = arg->len;
  /* A name longer than the reader keeps is longer than any section's. */
  if (arg->len == arg->full_len || out->kind == GW_MCP_RESOURCE)
    out->item = mcp_items_find(items, out->kind, argbuf, arg->len);
  if (out->item && out->kind == GW_MCP_RESOURCE && !out->item->prefix && arg->len != arg->full_len)
    out->item = NULL;
  out->deny_unlisted = !out->item && items->unlisted == GW_MCP_UNLISTED_DENY;
}

int mcp_item_usable(const gw_mcp_items_t *items, gw_mcp_kind_t k, const char *name, size_t len,
                    int tok_ok, gw_scopeset_t have) {
  const gw_mcp_item_t *it = mcp_items_find(items, k, name, len);
  if (!it) return items->unlisted == GW_MCP_UNLISTED_ALLOW;
  if (!it->required && !it->any) return 1;
  if (!tok_ok) return 0;
  if (it->required & ~have) return 0;
  return !it->any || (it->any & have);
}

int mcp_list_method(const jrpc_msg_t *m, gw_mcp_kind_t *k) {
  if (m->kind != JRPC_REQUEST || m->method.type != JRPC_STRING) return 0;
  static const struct {
    const char *method;
    gw_mcp_kind_t kind;
  } lists[] = {{"tools/list", GW_MCP_TOOL}, {"prompts/list", GW_MCP_PROMPT}, {"resources/list", GW_MCP_RESOURCE}};
  for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
    if (jrpc_str_is(&m->method, m->method_buf, lists[i].method)) {
      *k = lists[i].kind;
      return 1;
    }
  return 0;
}

int mcp_media_is_json(const char *v, size_t n) {
  size_t i = 0;
  while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
  static const char want[] = "application/json";
  size_t wl = sizeof want - 1;
  if (n - i < wl || strncasecmp(v + i, want, wl) != 0) return 0;
  i += wl;
  while (i < n && (v[i] == ' ' || v[i] == '\t')) i++;
  return i == n || v[i] == ';';
}

int mcp_origin_allowed(const char *origin, size_t n, char *const *list, size_t nlist) {
  for (size_t i = 0; list && i < nlist; i++) {
    if (strcmp(list[i], "*") == 0) return 1;
    if (strlen(list[i]) == n && strncasecmp(list[i], origin, n) == 0) return 1;
  }
  return 0;
}
