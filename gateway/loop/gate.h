/* gate: the decision on a complete request head, before any byte goes
 * upstream: target form and path normalization, the request id, CORS, the
 * gateway's own endpoints (local.c), routing, the scope policy and the
 * bearer token; a request whose issuer's keys are being fetched waits
 * (parked) and is judged again when the fetch ends. */
#ifndef GW_GATE_H
#define GW_GATE_H

#include "request-t.h"
#include "worker-t.h"

void gate_request(client_t *c, request_t *r);
/* A key set fetch ended: parked requests try again (once). */
void gate_wake(worker_t *w);
/* The generation was replaced: nobody waits for its fetches any more. */
void gate_wake_all(wgen_t *g);
/* The request goes away: nothing may call back into it any more. */
void gate_detach(request_t *r);
/* Hands the request to its upstream. */
void gate_forward(client_t *c, request_t *r);

#endif
