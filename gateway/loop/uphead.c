/* uphead: the request head sent upstream, rebuilt from what was parsed and
 * judged (never copied from client bytes): the normalized path and the
 * query, the client's headers minus hop-by-hop ones, framing and the
 * identity headers only the gateway may set, then X-Forwarded-*, the
 * request id, the identity headers and the framing of what is sent. */
#include "uphead.h"

#include <string.h>
#include <strings.h>

#include "http.h"

static int conn_lists(const request_t *r, const char *name, size_t len) {
  for (uint32_t i = 0; i < r->h.nhdrs; i++) {
    const hdr_t *h = &r->h.hdrs[i];
    if (HTTP_NAME_IS(r->h.arena + h->name_off, h->name_len, "connection") &&
        http_list_has(r->h.arena + h->val_off, h->val_len, name, len))
      return 1;
  }
  return 0;
}

/* Incoming headers named like a [forward] identity header never reach the
 * upstream: only the gateway may set them. */
static int forward_header_stripped(const request_t *r, const char *n, size_t nl) {
  const gw_config_t *cfg = r->gen->cfg;
  for (size_t i = 0; i < cfg->nforward; i++) {
    const char *h = cfg->forward[i].header;
    if (strlen(h) == nl && strncasecmp(h, n, nl) == 0) return 1;
  }
  return 0;
}

void uphead_build(request_t *r, outbuf_t *o, const char *client_ip, int client_tls) {
  const gw_upstream_cfg_t *u = request_upstream(r);
  const char *a = r->h.arena;
  o->len = 0;
  size_t mlen;
  const char *m = req_method(r, &mlen);
  const char *path = r->npath;
  size_t plen = r->npath_len;
  if (u->strip_prefix) {
    path += u->prefix_len;
    plen -= u->prefix_len;
  }
  outbuf_append(o, m, mlen);
  outbuf_append(o, " ", 1);
  outbuf_append(o, u->url.path, strlen(u->url.path));
  if (plen == 0 && u->url.path[0] == '\0') outbuf_append(o, "/", 1);
  outbuf_append(o, path, plen);
  if (r->query) {
    outbuf_append(o, "?", 1);
    outbuf_append(o, r->query, r->query_len);
  }
  outbuf_append(o, " HTTP/1.1\r\n", 11);

  const hdr_t *host = req_header(r, "host", NULL);
  outbuf_append(o, "Host: ", 6);
  if (u->host_mode == GW_HOST_UPSTREAM || !host)
    outbuf_append(o, u->url.authority, strlen(u->url.authority));
  else
    outbuf_append(o, a + host->val_off, host->val_len);
  outbuf_append(o, "\r\n", 2);

  int have_xff = 0;
  /* Most requests have no Connection header: then no name can be listed. */
  int has_conn = req_header(r, "connection", NULL) != NULL;
  for (uint32_t i = 0; i < r->h.nhdrs; i++) {
    const hdr_t *h = &r->h.hdrs[i];
    const char *n = a + h->name_off;
    size_t nl = h->name_len;
    if (http_is_hop_by_hop(n, nl) || HTTP_NAME_IS(n, nl, "host") ||
        HTTP_NAME_IS(n, nl, "content-length") || HTTP_NAME_IS(n, nl, "x-forwarded-proto") ||
        HTTP_NAME_IS(n, nl, "x-forwarded-host") || HTTP_NAME_IS(n, nl, "x-request-id") ||
        (has_conn && conn_lists(r, n, nl)))
      continue;
    if (HTTP_NAME_IS(n, nl, "x-forwarded-for")) {
      have_xff = 1; /* written after the loop, as one line */
      continue;
    }
    if (forward_header_stripped(r, n, nl)) continue;
    if (r->mcp_sid_len && HTTP_NAME_IS(n, nl, "mcp-session-id")) {
      /* The client holds the bound id; the server gets its own back. */
      OUTBUF_LIT(o, "Mcp-Session-Id: ");
      outbuf_append(o, a + r->mcp_sid_off, r->mcp_sid_len);
      OUTBUF_LIT(o, "\r\n");
      continue;
    }
    outbuf_append(o, n, nl);
    outbuf_append(o, ": ", 2);
    outbuf_append(o, a + h->val_off, h->val_len);
    outbuf_append(o, "\r\n", 2);
  }
  /* Several incoming values become one list, the client appended last.
   * One line of its own: other headers may come between them. */
  outbuf_append(o, "X-Forwarded-For: ", 17);
  for (uint32_t i = 0; have_xff && i < r->h.nhdrs; i++) {
    const hdr_t *h = &r->h.hdrs[i];
    if (!HTTP_NAME_IS(a + h->name_off, h->name_len, "x-forwarded-for")) continue;
    outbuf_append(o, a + h->val_off, h->val_len);
    outbuf_append(o, ", ", 2);
  }
  outbuf_append(o, client_ip, strlen(client_ip));
  if (client_tls)
    OUTBUF_LIT(o, "\r\nX-Forwarded-Proto: https\r\n");
  else
    OUTBUF_LIT(o, "\r\nX-Forwarded-Proto: http\r\n");
  if (host) {
    outbuf_append(o, "X-Forwarded-Host: ", 18);
    outbuf_append(o, a + host->val_off, host->val_len);
    outbuf_append(o, "\r\n", 2);
  }
  if (r->request_id[0]) {
    OUTBUF_LIT(o, "X-Request-Id: ");
    outbuf_append(o, r->request_id, strlen(r->request_id));
    OUTBUF_LIT(o, "\r\n");
  }
  outbuf_append(o, r->ident.data, r->ident.len);
  if (r->body_buffered)
    outbuf_append_u64(o, "Content-Length: ", r->m2mbody.len); /* read whole, sent as it came */
  else if (r->h.chunked_in)
    outbuf_append(o, "Transfer-Encoding: chunked\r\n", 28);
  else if (r->h.content_length > 0 || req_header(r, "content-length", NULL))
    outbuf_append_u64(o, "Content-Length: ", r->h.content_length);
  outbuf_append(o, "\r\n", 2);
}

