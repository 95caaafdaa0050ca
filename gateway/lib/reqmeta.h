/* reqmeta: facts about a request that its head states and the access log
 * records: the client address behind trusted proxies, the W3C trace
 * context.
 *
 * Client address (SPEC "Token details"): the peer's, unless the peer is in
 * [server] trusted_proxies; then X-Forwarded-For is read from the right and
 * the first entry that is not itself a trusted proxy is the client, as nginx
 * real_ip_recursive does. An entry that is not an IP address stops the walk
 * at the last trusted hop (a proxy never writes garbage, so what lies left of
 * it is the client's own invention). */
#ifndef GW_REQMETA_H
#define GW_REQMETA_H

#include <stddef.h>
#include <stdint.h>

#define GW_MAX_TRUSTED_PROXIES 64
#define GW_IP_TEXT 46 /* INET6_ADDRSTRLEN */

typedef struct {
  uint8_t v6;        /* 0: IPv4 (addr[0..4)), 1: IPv6 */
  uint8_t bits;      /* prefix length */
  uint8_t addr[16];
} gw_cidr_t;

/* "10.0.0.0/8", "192.0.2.1" (a /32), "fd00::/8", "::1". 0 or -1. Host bits
 * set beyond the prefix are refused: "10.1.2.3/8" is a typo more often than
 * not. */
int gw_cidr_parse(const char *s, gw_cidr_t *out);

/* Whether ip (text, not NUL-terminated) is inside some entry; an
 * IPv4-mapped IPv6 address counts as its IPv4 address. Not an address: 0. */
int gw_cidr_match(const gw_cidr_t *list, size_t n, const char *ip, size_t len);

/* Writes the client address into out (cap >= GW_IP_TEXT). xff[i] are the
 * X-Forwarded-For header values in the order they arrived. */
void gw_client_addr(const char *peer, const gw_cidr_t *trusted, size_t ntrusted,
                    const char *const *xff, const size_t *xff_len, size_t nxff, char *out,
                    size_t cap);

/* A valid traceparent (W3C Trace Context level 1): fills trace_id (32 hex +
 * NUL) and span_id (16 hex + NUL) and returns 0; else -1. */
int gw_traceparent(const char *v, size_t len, char trace_id[33], char span_id[17]);

#endif
