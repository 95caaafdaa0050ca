/* local: the endpoints the gateway serves itself: the admin listener
 * (/healthz, /readyz, /metrics), RFC 9728 protected-resource metadata, CORS
 * preflights, and the built-in M2M issuer (its JWKS, and token requests,
 * which run PBKDF2 on the thread pool). */
#ifndef GW_LOCAL_H
#define GW_LOCAL_H

#include "request-t.h"

void local_admin(client_t *c, request_t *r);
/* Each returns 1 when it answered (or took) the request. */
int local_wellknown(client_t *c, request_t *r);
int local_m2m(client_t *c, request_t *r);
int local_is_preflight(const request_t *r);
void local_preflight(client_t *c, request_t *r);
/* A token request's body is complete: issue on the thread pool. */
void local_m2m_start(request_t *r);
/* The request goes away while its token job runs. */
void local_m2m_detach(request_t *r);

#endif
