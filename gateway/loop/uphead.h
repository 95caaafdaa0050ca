/* uphead: the head a request is forwarded with. */
#ifndef GW_UPHEAD_H
#define GW_UPHEAD_H

#include "buf.h"
#include "request-t.h"

/* Replaces o's contents with r's upstream request head; the client's
 * address and whether it came over TLS make X-Forwarded-For/-Proto. */
void uphead_build(request_t *r, outbuf_t *o, const char *client_ip, int client_tls);

#endif
