/* mcpresp: the answer to an MCP tools/list, prompts/list or resources/list
 * on its way to the client, cut down to the items the caller's token may
 * use (mcplist.h). A JSON body is read whole (bounded by mcp_max_body) and
 * sent filtered; an event stream passes through event by event, only the
 * event answering the request's id rewritten. Whatever cannot be filtered
 * becomes a JSON-RPC error for that id: never an unfiltered list. The
 * upstream side calls these from its response callbacks and re-frames
 * what comes out (the length changes, so it is always chunked or
 * close-delimited to the client). */
#ifndef GW_MCPRESP_H
#define GW_MCPRESP_H

#include <stddef.h>

#include "request-t.h"

typedef struct mcpresp mcpresp_t;

/* Bytes of the new response body, in order. */
typedef void (*mcpresp_emit)(void *ud, const char *p, size_t n);

/* At the response head: a filter for r's answer when r is a list request
 * on an MCP upstream and the response has a body worth reading (2xx), else
 * NULL. ctype: the response's Content-Type (NULL when absent). */
mcpresp_t *mcpresp_start(request_t *r, int status, const char *ctype, size_t ctlen);
/* Body bytes from the upstream. */
void mcpresp_body(mcpresp_t *m, const char *p, size_t n, mcpresp_emit emit, void *ud);
/* The end of the body: what is held goes out (filtered, or an error). */
void mcpresp_end(mcpresp_t *m, mcpresp_emit emit, void *ud);
void mcpresp_free(mcpresp_t *m);

#endif
