/* answer: every answer the gateway gives itself, as one table from a kind
 * to its status, error code, description and whether it ends the
 * connection, and the builders of its bytes: status line, CORS, framing,
 * the JSON error body and the RFC 6750 challenge. The loop decides when to
 * answer; what the answer says is decided here, in one place. */
#ifndef GW_ANSWER_H
#define GW_ANSWER_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum {
  ANS_NONE = 0,           /* no answer: carry on */
  ANS_BAD_REQUEST,        /* 400, the description says why */
  ANS_BAD_FRAMING,        /* 400 and close: the connection's byte stream is not trusted */
  ANS_URI_TOO_LONG,       /* 414 */
  ANS_HEAD_TOO_LARGE,     /* 431 */
  ANS_TOO_MANY_HEADERS,   /* 431 */
  ANS_HEAD_TIMEOUT,       /* 408 */
  ANS_BODY_TIMEOUT,       /* 408: the client stopped sending its body */
  ANS_EXPECTATION_FAILED, /* 417 */
  ANS_PAYLOAD_TOO_LARGE,  /* 413 */
  ANS_NOT_FOUND,          /* 404 */
  ANS_METHOD_NOT_ALLOWED, /* 405, GET and HEAD only */
  ANS_NO_MEMORY,          /* 503 and close */
  ANS_NO_MEMORY_KEEP,     /* 503, the connection stays */
  ANS_NOT_READY,          /* 503 from /readyz */
  ANS_TOKEN_JOB_FAILED,   /* 503: the M2M job could not run */
  ANS_TOKEN_BUSY,         /* 503 + Retry-After: the M2M job queue is full */
  ANS_BAD_GATEWAY,        /* 502 */
  ANS_GATEWAY_TIMEOUT,    /* 504 */
  /* The token and policy refusals: they carry a challenge. */
  ANS_UNAUTHORIZED,       /* 401 without a token */
  ANS_INVALID_TOKEN,      /* 401 */
  ANS_INSUFFICIENT_SCOPE, /* 403 */
  ANS_AUTH_BAD_REQUEST,   /* 400 invalid_request about the Authorization header */
  ANS_KEYS_UNAVAILABLE,   /* 503 + Retry-After: the issuer's keys are not loaded yet */
  ANS_RATE_LIMITED,       /* 429: the route's rate; Retry-After and RateLimit* by the caller */
  /* MCP upstreams (protocol = mcp) */
  ANS_UNSUPPORTED_MEDIA,  /* 415: a JSON-RPC POST that is not application/json */
  ANS_MCP_TOO_LARGE,      /* 413: over mcp_max_body */
  /* With a JSON-RPC error body (answer_jsonrpc), the code in .rpc: */
  ANS_RPC_PARSE,          /* 400, -32700 */
  ANS_RPC_INVALID,        /* 400, -32600 */
  ANS_RPC_PARAMS,         /* 400, -32602 */
  ANS_RPC_HEADERS,        /* 400, -32020: Mcp-Method / Mcp-Name differ from the body */
  ANS_RPC_ORIGIN,         /* 403: Origin not allowed (a body without "id") */
  ANS_RPC_SESSION,        /* 404: a session id not bound to this caller */
  ANS_KIND_COUNT
} answer_kind_t;

typedef struct {
  uint16_t status;
  uint8_t closes;      /* the answer always ends the connection */
  uint8_t challenge;   /* carries WWW-Authenticate */
  const char *code;    /* the body's "error" */
  const char *desc;    /* default "error_description" (NULL: the caller's) */
  const char *headers; /* extra header lines of this kind */
  int rpc;             /* JSON-RPC error code of a JSON-RPC answer, else 0 */
} answer_def_t;

const answer_def_t *answer_def(answer_kind_t k);

/* CORS as judged for one request: 0 none, 1 the origin echoed, 2 any. */
typedef struct {
  uint8_t mode;
  const char *origin;
  size_t origin_len;
} answer_cors_t;

/* Access-Control-* lines for a judged origin (nothing for mode 0). */
void answer_cors(outbuf_t *o, const answer_cors_t *c);

/* Status line, headers, CORS, Content-Length (except 204/304) and, when
 * close, Connection: close, then the blank line. */
void answer_head(outbuf_t *o, int status, const char *headers, const answer_cors_t *cors,
                 size_t body_len, int close);

/* {"error":CODE,"error_description":DESC<extra_json>} into buf (cut to
 * cap - 1); the description is JSON-escaped and cut at 300 bytes. */
size_t answer_json(char *buf, size_t cap, const char *code, const char *desc,
                   const char *extra_json);

/* The header lines of a refusal of kind k: the challenge (pointing at
 * metadata_url; scope= when scope is non-empty) or Retry-After, into buf.
 * extra gets the body's extra members (",\"scope\":..." on 403). */
void answer_refusal_headers(answer_kind_t k, const char *desc, const char *scope,
                            const char *metadata_url, char *buf, size_t cap, char *extra,
                            size_t extra_cap);

/* {"jsonrpc":"2.0","id":ID,"error":{"code":CODE,"message":MSG}} into buf:
 * id is raw JSON text (id_len 0: null); with_id 0 leaves "id" out. */
size_t answer_jsonrpc(char *buf, size_t cap, int code, const char *message, const char *id,
                      size_t id_len, int with_id);

#define ANSWER_JSON_HEADERS "Content-Type: application/json\r\nCache-Control: no-store\r\n"

#endif
