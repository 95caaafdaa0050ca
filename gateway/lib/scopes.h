/* scopes: the set of scope names known to one config snapshot, and scope
 * sets as bit masks over it, so that a policy decision is a mask compare.
 *
 * The registry is built once at load (from [resource] scopes_supported and
 * every scope the policy names) and is read-only afterwards. At most
 * GW_MAX_SCOPES names; more is a load error. */
#ifndef GW_SCOPES_H
#define GW_SCOPES_H

#include <stddef.h>
#include <stdint.h>

#define GW_MAX_SCOPES 64

typedef uint64_t gw_scopeset_t;

typedef struct {
  char *names[GW_MAX_SCOPES];
  size_t lens[GW_MAX_SCOPES];
  size_t n;
} gw_scope_registry_t;

/* Index of name[0..len) or -1 when unknown. */
int scopes_find(const gw_scope_registry_t *r, const char *name, size_t len);
/* Index of the name, adding it when new; -1 when the registry is full or
 * the name is empty or not a valid scope-token (RFC 6749 §3.3). */
int scopes_intern(gw_scope_registry_t *r, const char *name, size_t len);
/* Parse a space-separated list into a set over r; unknown names are ignored
 * (a token may carry scopes this gateway never checks). */
gw_scopeset_t scopes_parse_list(const gw_scope_registry_t *r, const char *s, size_t len);
/* Writes the names in `set` (registry order, space-separated, NUL-terminated)
 * into buf; returns the length, or -1 when it does not fit. */
int scopes_format(const gw_scope_registry_t *r, gw_scopeset_t set, char *buf, size_t cap);
void scopes_free(gw_scope_registry_t *r);

#endif
