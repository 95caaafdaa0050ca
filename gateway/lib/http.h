/* http: socket-free pieces of HTTP/1.1 handling.
 *
 * headscan is a byte-level guard run over the request head before llhttp
 * sees it. Debian's llhttp 8.1 lacks later upstream smuggling fixes, so the
 * scanner itself enforces strict CRLF line endings (CVE-2023-30589: bare LF;
 * CVE-2025-23167: a head ended by "\r\n\rX"), refuses obs-fold, whitespace
 * before the colon and control bytes, and applies the size limits as bytes
 * arrive, before any other work. */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  HS_MORE = 0,      /* head not complete yet; all bytes given were fine */
  HS_DONE,          /* end of head found; *used says where it ends */
  HS_BAD,           /* malformed: 400 */
  HS_TOO_LONG_LINE, /* request line alone over the limit: 414 */
  HS_TOO_LARGE,     /* head over the limit: 431 */
} gw_headscan_result_t;

typedef struct {
  uint32_t total;     /* head bytes seen so far */
  uint32_t line_len;  /* bytes of the current line so far */
  uint32_t max_bytes;
  uint8_t state;
  uint8_t in_request_line;
  uint8_t seen_colon;
  const char *why;    /* reason for HS_BAD, static text */
} gw_headscan_t;

void headscan_init(gw_headscan_t *s, uint32_t max_bytes);
/* Scans data[0..len); on HS_DONE *used is the number of bytes that belong to
 * the head (the rest is body or the next request). */
gw_headscan_result_t headscan_feed(gw_headscan_t *s, const char *data, size_t len, size_t *used);

/* Dotted-quad text of an IPv4 address in network order (printf-free: it
 * runs for every forwarded request). Returns the length, 7..15. */
size_t http_ip4_text(const unsigned char b[4], char out[16]);
/* Case-insensitive compare of a header name slice with a lower-case literal. */
int http_name_eq(const char *name, size_t len, const char *lower);
/* The same for n bytes of each, both known to be n long: eight at a time. */
int http_name_eq_n(const char *name, const char *lower, size_t n);
/* Against a string literal, comparing lengths first. */
#define HTTP_NAME_IS(name, len, lit) \
  ((len) == sizeof(lit) - 1 && http_name_eq_n((name), (lit), sizeof(lit) - 1))
/* True for hop-by-hop headers that a proxy never forwards (RFC 9110 §7.6.1,
 * plus Proxy-* and the non-standard Keep-Alive). */
int http_is_hop_by_hop(const char *name, size_t len);
/* Does the comma-separated token list value[0..len) contain token (case-insensitive)? */
int http_list_has(const char *value, size_t len, const char *token, size_t tlen);
/* Calls fn for each token of a comma-separated list (OWS trimmed, empty skipped). */
void http_list_each(const char *value, size_t len,
                    void (*fn)(void *ud, const char *tok, size_t tlen), void *ud);
/* RFC 9110 token characters. */
int http_is_tchar(unsigned char c);
/* Reason phrase for a status code ("" when unknown). */
const char *http_reason(int status);
/* "HTTP/1.1 NNN Reason\r\n" into buf (>= 64 bytes); returns its length.
 * status must be 100..999. */
size_t http_status_line(char *buf, int status);
/* Parses a Content-Length value: digits only, no sign, no list, <= 2^62.
 * Returns 0 and sets *out, or -1. */
int http_parse_content_length(const char *v, size_t len, uint64_t *out);

#endif
