/* cfgval: parsers for the values written in the gateway's INI files.
 *
 * Shared by every INI reader (gateway.ini, the policy file, the m2m clients
 * file). Strict by design: no blanks around values (the INI reader trims
 * them), no signs, overflow is an error rather than a wrap. Character classes
 * are ASCII only, so the C locale never matters. Unless said otherwise, a
 * parser returns 0 on success and -1 on a malformed value, and leaves *out
 * untouched on failure. */
#ifndef GW_CFGVAL_H
#define GW_CFGVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct {
  struct sockaddr_storage addr;
  socklen_t addrlen;
  char text[80]; /* as written, e.g. "127.0.0.1:8080" or "[::1]:8080" */
} gw_listen_t;

typedef enum { GW_SCHEME_HTTP = 0, GW_SCHEME_HTTPS = 1 } gw_scheme_t;

/* A parsed http(s) URL: host without brackets, port numeric, path without
 * trailing '/' ("" when the URL has no path or only "/"). */
typedef struct {
  gw_scheme_t scheme;
  char *host;
  uint16_t port;
  char *path;
  char *authority; /* host[:port] as to be sent in Host (port omitted when default) */
} gw_url_t;

/* "500ms" "30s" "5m" "1h"; a bare number is seconds. */
int config_parse_duration_ms(const char *s, uint64_t *out);
/* "16k" "1m" "1g" (powers of 1024, either case); a bare number is bytes. */
int config_parse_size(const char *s, uint64_t *out);
/* yes/no true/false on/off 1/0, any case. */
int config_parse_bool(const char *s, int *out);
/* Decimal digits only, from min to max. */
int config_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* IPV4:PORT or [IPV6]:PORT, numeric hosts only, port 1-65535. */
int config_parse_listen(const char *s, gw_listen_t *out);
/* http(s)://host[:port][/path] without user info, query, fragment or dot
 * segments; host lower-cased. On failure *out is zeroed (nothing to free). */
int config_parse_url(const char *s, gw_url_t *out);
void config_url_free(gw_url_t *u); /* frees and clears; twice is harmless */
/* scheme://host[:port] normalized the way browsers serialize an Origin
 * (lower case, default port omitted); a new string, or NULL when malformed
 * (or out of memory). */
char *config_parse_origin(const char *s);

/* Split on ASCII whitespace into a NULL-terminated array; returns count.
 * *out is NULL only when out of memory. */
size_t config_split_words(const char *s, char ***out);
void config_free_words(char **w);

/* A NUL-terminated copy of the n bytes at s (which need not be terminated);
 * NULL when out of memory. */
char *gw_dup_range(const char *s, size_t n);

/* ASCII character classes. */
bool gw_is_ws(int c);    /* space \t \r \n \f \v */
bool gw_is_alnum(int c);
bool gw_is_pchar(int c); /* RFC 3986 pchar without pct-encoded */
/* Any control character other than tab (tab separates words in lists). */
bool gw_has_ctl(const char *s);
void gw_lower_in_place(char *s);

#endif
