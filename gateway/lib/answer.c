/* answer: the table of the gateway's own answers and their bytes. */
#include "answer.h"

#include <stdio.h>
#include <string.h>

#include "http.h"
#include "log.h"

static const answer_def_t defs[ANS_KIND_COUNT] = {
    [ANS_BAD_REQUEST] = {400, 0, 0, "invalid_request", NULL, NULL},
    [ANS_BAD_FRAMING] = {400, 1, 0, "invalid_request", NULL, NULL},
    [ANS_URI_TOO_LONG] = {414, 1, 0, "uri_too_long", "request line longer than max_header_bytes", NULL},
    [ANS_HEAD_TOO_LARGE] = {431, 1, 0, "request_header_fields_too_large",
                            "request head larger than max_header_bytes", NULL},
    [ANS_TOO_MANY_HEADERS] = {431, 1, 0, "request_header_fields_too_large", "too many header fields", NULL},
    [ANS_HEAD_TIMEOUT] = {408, 1, 0, "request_timeout", "request head not received within header_timeout",
                          NULL},
    [ANS_BODY_TIMEOUT] = {408, 1, 0, "request_timeout", "request body not received within idle_timeout",
                          NULL},
    [ANS_EXPECTATION_FAILED] = {417, 1, 0, "expectation_failed", "only 100-continue is supported", NULL},
    [ANS_PAYLOAD_TOO_LARGE] = {413, 1, 0, "payload_too_large",
                               "request body larger than the upstream's max_body", NULL},
    [ANS_NOT_FOUND] = {404, 0, 0, "not_found", NULL, NULL},
    [ANS_METHOD_NOT_ALLOWED] = {405, 0, 0, "method_not_allowed", "only GET and HEAD", "Allow: GET, HEAD\r\n"},
    [ANS_NO_MEMORY] = {503, 1, 0, "temporarily_unavailable", "out of memory", NULL},
    [ANS_NO_MEMORY_KEEP] = {503, 0, 0, "temporarily_unavailable", "out of memory", NULL},
    [ANS_NOT_READY] = {503, 0, 0, "unavailable", "not ready", NULL},
    [ANS_TOKEN_JOB_FAILED] = {503, 1, 0, "temporarily_unavailable", "token request could not run", NULL},
    [ANS_TOKEN_BUSY] = {503, 0, 0, "temporarily_unavailable", "too many token requests in progress; retry later",
                        "Retry-After: 1\r\n"},
    [ANS_BAD_GATEWAY] = {502, 0, 0, "bad_gateway", NULL, NULL},
    [ANS_GATEWAY_TIMEOUT] = {504, 0, 0, "gateway_timeout", NULL, NULL},
    [ANS_UNAUTHORIZED] = {401, 0, 1, "unauthorized", "no bearer token in the Authorization header", NULL},
    [ANS_INVALID_TOKEN] = {401, 0, 1, "invalid_token", NULL, NULL},
    [ANS_INSUFFICIENT_SCOPE] = {403, 0, 1, "insufficient_scope", NULL, NULL},
    [ANS_AUTH_BAD_REQUEST] = {400, 0, 1, "invalid_request", NULL, NULL},
    [ANS_KEYS_UNAVAILABLE] = {503, 0, 0, "temporarily_unavailable",
                              "signing keys of the token issuer are not loaded yet", "Retry-After: 5\r\n"},
    [ANS_RATE_LIMITED] = {429, 0, 0, "rate_limited", "rate limit of this route exceeded", NULL},
    [ANS_UNSUPPORTED_MEDIA] = {415, 0, 0, "unsupported_media_type",
                               "a JSON-RPC message must be sent as application/json", NULL},
    [ANS_MCP_TOO_LARGE] = {413, 1, 0, "payload_too_large", "JSON-RPC body larger than mcp_max_body", NULL},
    [ANS_RPC_PARSE] = {400, 0, 0, "invalid_request", "Parse error", NULL, -32700},
    [ANS_RPC_INVALID] = {400, 0, 0, "invalid_request", "Invalid Request", NULL, -32600},
    [ANS_RPC_PARAMS] = {400, 0, 0, "invalid_request", "Invalid params", NULL, -32602},
    [ANS_RPC_HEADERS] = {400, 0, 0, "invalid_request", "Mcp-Method or Mcp-Name does not match the body",
                         NULL, -32020},
    [ANS_RPC_ORIGIN] = {403, 0, 0, "forbidden", "Origin not allowed", NULL, -32000},
    [ANS_RPC_SESSION] = {404, 0, 0, "not_found", "Session not found", NULL, -32001},
};

const answer_def_t *answer_def(answer_kind_t k) {
  return &defs[(unsigned)k < ANS_KIND_COUNT ? k : ANS_BAD_REQUEST];
}

void answer_cors(outbuf_t *o, const answer_cors_t *c) {
  if (!c || c->mode == 0) return;
  if (c->mode == 2) {
    OUTBUF_LIT(o, "Access-Control-Allow-Origin: *\r\n");
  } else {
    OUTBUF_LIT(o, "Access-Control-Allow-Origin: ");
    outbuf_append(o, c->origin, c->origin_len);
    OUTBUF_LIT(o, "\r\nVary: Origin\r\n");
  }
  OUTBUF_LIT(o, "Access-Control-Expose-Headers: WWW-Authenticate\r\n");
}

void answer_head(outbuf_t *o, int status, const char *headers, const answer_cors_t *cors,
                 size_t body_len, int close) {
  char line[64];
  outbuf_append(o, line, http_status_line(line, status));
  if (headers) outbuf_append(o, headers, strlen(headers));
  answer_cors(o, cors);
  if (status != 204 && status != 304) outbuf_append_u64(o, "Content-Length: ", body_len);
  if (close) OUTBUF_LIT(o, "Connection: close\r\n");
  OUTBUF_LIT(o, "\r\n");
}

size_t answer_jsonrpc(char *buf, size_t cap, int code, const char *message, const char *id,
                      size_t id_len, int with_id) {
  char esc[400];
  gw_json_escape(esc, sizeof esc, message ? message : "", message ? strlen(message) : 0, 300);
  int n;
  if (!with_id)
    n = snprintf(buf, cap, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":%d,\"message\":\"%s\"}}", code, esc);
  else if (id_len == 0 || id_len > 256)
    n = snprintf(buf, cap, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":\"%s\"}}", code,
                 esc);
  else
    n = snprintf(buf, cap, "{\"jsonrpc\":\"2.0\",\"id\":%.*s,\"error\":{\"code\":%d,\"message\":\"%s\"}}",
                 (int)id_len, id, code, esc);
  return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

size_t answer_json(char *buf, size_t cap, const char *code, const char *desc,
                   const char *extra_json) {
  char esc[400];
  gw_json_escape(esc, sizeof esc, desc ? desc : "", desc ? strlen(desc) : 0, 300);
  int n = snprintf(buf, cap, "{\"error\":\"%s\",\"error_description\":\"%s\"%s}", code, esc,
                   extra_json ? extra_json : "");
  return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

void answer_refusal_headers(answer_kind_t k, const char *desc, const char *scope,
                            const char *metadata_url, char *buf, size_t cap, char *extra,
                            size_t extra_cap) {
  const answer_def_t *d = answer_def(k);
  if (extra_cap) extra[0] = '\0';
  if (!d->challenge) {
    snprintf(buf, cap, "%s", d->headers ? d->headers : "");
    return;
  }
  switch (k) {
  case ANS_UNAUTHORIZED:
    /* The scopes the route needs, so a client asks for them at once. */
    if (scope[0])
      snprintf(buf, cap, "WWW-Authenticate: Bearer resource_metadata=\"%s\", scope=\"%s\"\r\n",
               metadata_url, scope);
    else
      snprintf(buf, cap, "WWW-Authenticate: Bearer resource_metadata=\"%s\"\r\n", metadata_url);
    break;
  case ANS_INSUFFICIENT_SCOPE:
    /* No scope parameter when no scope would help (an unmatched route). */
    snprintf(buf, cap,
             "WWW-Authenticate: Bearer error=\"insufficient_scope\", %s%s%s"
             "error_description=\"%s\", resource_metadata=\"%s\"\r\n",
             scope[0] ? "scope=\"" : "", scope, scope[0] ? "\", " : "", desc, metadata_url);
    snprintf(extra, extra_cap, ",\"scope\":\"%s\"", scope);
    break;
  default: /* invalid_token, invalid_request */
    snprintf(buf, cap,
             "WWW-Authenticate: Bearer error=\"%s\", error_description=\"%s\", "
             "resource_metadata=\"%s\"\r\n",
             d->code, desc, metadata_url);
    break;
  }
}
