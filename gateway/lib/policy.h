// policy: the scope policy table (policies/*.ini), compiled once at load into
// an immutable segment trie, and the pure decision taken per request.
//
// File format (SPEC "policies/*.ini"):
//   [METHODS PATTERN]      one route; METHODS is `*` or a comma list of
//                          upper-case method tokens (spaces around commas
//                          allowed); whitespace separates it from PATTERN
//     scopes = a b         all required
//     any_scopes = c d     at least one required
//     auth = none|token    none: public (no token looked at; excludes the
//                          two keys above); token: any valid token
//     rate = 100/s         (/m, /h) token bucket per rate_key (ratelimit.h)
//     burst = N            bucket size (default: the count); needs rate
//     rate_key = sub|client_id|address   (default sub); needs rate
//   [defaults]
//     unmatched = deny     (default) no route: 401 without a valid token,
//                          403 with one: fail closed
//     unmatched = token    no route: any valid token passes. For operators
//                          migrating a large API route by route; it is
//                          still closed to anonymous callers. `allow` (fail
//                          open) is refused: write `[* /**] auth = none`
//                          if that is really meant, so it shows as a route.
//   [mcp-tool:NAME], [mcp-prompt:NAME], [mcp-resource:URI] (URI* a prefix)
//     scopes = a b         extra scopes for a JSON-RPC call of that item
//     any_scopes = c d     (policy_mcp.h)
//   [defaults] mcp_unlisted = allow | deny   an item without a section
//
// PATTERN: absolute path; segments are literals, `*` or `{name}` (exactly
// one non-empty segment) or, last only, `**` (zero or more segments). A
// pattern ending in '/' has a literal empty last segment ("/a/" matches the
// path "/a/" only). Literals are compared with normalized paths (see
// pathnorm.h), case-sensitively and byte for byte, so a literal may not hold
// bytes a normalized path never has in that place.
//
// Precedence (SPEC "Paths and matching"): among the routes whose pattern
// matches the path and whose methods admit the request method, compare
// patterns segment by segment from the left; at the first differing
// position literal beats `*` beats `**`; if one pattern is a prefix of the
// other the longer wins, except that a final `**` matching zero segments
// loses to the pattern that ends there ("/a" beats "/a/**" for the path
// "/a"); then, for one pattern, an explicit method beats
// `*`. GET routes serve HEAD unless the same pattern has an explicit HEAD
// route; such a GET route counts as explicit (it beats `*` for HEAD).
//
// Errors are collected, all of them, as "FILE:LINE: message".
#ifndef GW_POLICY_H
#define GW_POLICY_H

#include <stddef.h>

#include "config.h"
#include "policy_mcp.h"
#include "ratelimit.h"
#include "scopes.h"

#define GW_POLICY_MAX_ROUTES 16384
#define GW_POLICY_MAX_PATTERN 1024 /* bytes of one pattern */
#define GW_POLICY_MAX_METHODS 16   /* methods in one METHODS list */
#define GW_POLICY_MAX_METHOD_LEN 32

typedef enum { GW_AUTH_NONE = 0, GW_AUTH_TOKEN = 1 } gw_auth_kind_t;
typedef enum { GW_UNMATCHED_DENY = 0, GW_UNMATCHED_TOKEN = 1 } gw_unmatched_t;

typedef struct gw_route {
  const char *pattern;    /* as written, NUL-terminated */
  const char *methods;    /* canonical: "*" or "GET,HEAD" (no spaces), NUL-terminated */
  int line;               /* line of the section header */
  gw_auth_kind_t auth;    /* NONE: public route; TOKEN: a valid token, plus: */
  gw_scopeset_t required; /* every one of these */
  gw_scopeset_t any;      /* at least one of these; 0 = no such requirement */
  unsigned index;         /* position in file order: policy_route(p, index) is this route */
  gw_rate_t rate;         /* `rate`, `burst`, `rate_key`; rate.count 0: no limit */
} gw_route_t;

typedef struct gw_policy gw_policy_t;

/* Loads and compiles path. scopes_supported (may be NULL when nsupported is
 * 0) is [resource] scopes_supported: when given, its names are interned
 * first, in order, and every scope the policy names must be one of them.
 * Returns NULL with errs->n > 0 on any error. Never prints. */
gw_policy_t *policy_load(const char *path, char *const *scopes_supported, size_t nsupported,
                         gw_errors_t *errs);
void policy_free(gw_policy_t *p);

/* The route for method + normalized path (from pathnorm()), or NULL when
 * none matches. Cost: each trie node is visited at most once, and only
 * nodes whose pattern prefix matches the path prefix are visited, so it
 * follows the path's length (times the few branches a real table has), not
 * the number of routes. Thread-safe: reads only. */
const gw_route_t *policy_match(const gw_policy_t *p, const char *method, size_t mlen,
                               const char *path, size_t plen);

typedef enum {
  GW_POLICY_PUBLIC = 0,             /* auth = none: forward, no token needed */
  GW_POLICY_NEED_TOKEN,             /* no valid token: 401 */
  GW_POLICY_ALLOW,                  /* valid token with what the route needs */
  GW_POLICY_INSUFFICIENT_SCOPE,     /* valid token, scopes missing: 403 */
  GW_POLICY_DENY_UNMATCHED,         /* no route under `unmatched = deny`, valid token: 403 */
} gw_policy_verdict_t;

/* Pure decision. route is policy_match()'s result (NULL = unmatched, then
 * [defaults] unmatched applies). token_ok: a token was presented and passed
 * every check. *missing (may be NULL) gets, for INSUFFICIENT_SCOPE, exactly
 * the required scopes the token lacks plus, when none of any_scopes is held,
 * the whole any_scopes set; 0 otherwise. */
gw_policy_verdict_t policy_decide(const gw_policy_t *p, const gw_route_t *route, int token_ok,
                                  gw_scopeset_t token_scopes, gw_scopeset_t *missing);

/* The registry every mask of this policy refers to. Parse token scopes with
 * scopes_parse_list(policy_scopes(p), ...). */
const gw_scope_registry_t *policy_scopes(const gw_policy_t *p);
/* Every scope in the registry (scopes_supported, then those the policy
 * names), for the root RFC 9728 document. */
gw_scopeset_t policy_all_scopes(const gw_policy_t *p);
// Scopes named by routes that can match some path at or under prefix
// (segment boundary, e.g. "/mcp"; a catch-all "/**" counts), for an
// upstream's own RFC 9728 document.
gw_scopeset_t policy_scopes_under(const gw_policy_t *p, const char *prefix, size_t len);
/* 1 when some path at or under prefix can match r's pattern. */
int policy_route_reaches(const gw_route_t *r, const char *prefix, size_t len);
/* Union of the scopes every [mcp-*] item section names. */
gw_scopeset_t policy_tool_scopes(const gw_policy_t *p);
/* Scopes (scopes and any_scopes) a tools/call of tool NAME names on top of
 * the route's; 0 when the tool has no section. */
gw_scopeset_t policy_tool(const gw_policy_t *p, const char *name, size_t len);
/* The MCP item sections and [defaults] mcp_unlisted. */
const gw_mcp_items_t *policy_mcp(const gw_policy_t *p);

gw_unmatched_t policy_unmatched(const gw_policy_t *p);
size_t policy_route_count(const gw_policy_t *p);
/* Routes in file order, i < policy_route_count(p). */
const gw_route_t *policy_route(const gw_policy_t *p, size_t i);

#endif
