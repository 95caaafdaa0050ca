/* policy_mcp: the MCP items of a policy file: [mcp-tool:NAME],
 * [mcp-prompt:NAME] and [mcp-resource:URI] (URI exact, or a prefix when it
 * ends in '*'), each with scopes and/or any_scopes that a JSON-RPC call to
 * that item needs on top of its route's; and [defaults] mcp_unlisted, what
 * an item without a section gets. policy.c reads the file and hands the
 * sections and keys of these kinds here. */
#ifndef GW_POLICY_MCP_H
#define GW_POLICY_MCP_H

#include <stddef.h>

#include "errs.h"
#include "ratelimit.h"
#include "scopes.h"

#define GW_POLICY_MAX_MCP_ITEMS 1024
#define GW_POLICY_MAX_TOOL_NAME 128  /* tools and prompts */
#define GW_POLICY_MAX_RESOURCE_URI 1024

typedef enum { GW_MCP_TOOL = 0, GW_MCP_PROMPT, GW_MCP_RESOURCE, GW_MCP_KINDS } gw_mcp_kind_t;
typedef enum { GW_MCP_UNLISTED_ALLOW = 0, GW_MCP_UNLISTED_DENY } gw_mcp_unlisted_t;

typedef struct {
  gw_mcp_kind_t kind;
  char *name;             /* without a resource prefix's final '*' */
  size_t len;
  int prefix;             /* [mcp-resource:URI*]: any URI that starts with name */
  gw_scopeset_t required; /* scopes: every one */
  gw_scopeset_t any;      /* any_scopes: at least one; 0 = none asked */
  int line;
  unsigned index;         /* position in file order, for metrics labels */
  const char *section;    /* "[mcp-tool:NAME]" as written, for messages */
  gw_rate_t rate;         /* `rate`, `burst`, `rate_key`; rate.count 0: no limit */
} gw_mcp_item_t;

typedef struct {
  gw_mcp_item_t *items;
  size_t n, cap;
  gw_scopeset_t all; /* every scope some item names */
  gw_mcp_unlisted_t unlisted;
  int unlisted_line;
  /* while loading */
  long cur;          /* the section being read, or -1 */
  int has_scopes, has_any, limit_reported;
  int has_rate, has_burst, has_rkey;
  int any_rate;      /* some item has a rate */
} gw_mcp_items_t;

void mcp_items_init(gw_mcp_items_t *t);
void mcp_items_free(gw_mcp_items_t *t);

/* Loading. A section header: 1 when it is an MCP item section (begun, or
 * refused with an error), 0 when it is something else. */
int mcp_items_section(gw_mcp_items_t *t, const char *sec, int line, const char *file,
                      gw_errors_t *errs);
/* A key of the current item section: which set the value goes to (1:
 * scopes, 2: any_scopes) once the caller parsed it; 0 after an error. */
int mcp_items_key(gw_mcp_items_t *t, const char *name, int line, const char *file, gw_errors_t *errs);
void mcp_items_set(gw_mcp_items_t *t, int which, gw_scopeset_t set);
/* `rate`, `burst` and `rate_key` of the current item section (as on
 * routes): 1 when name is one of them (handled, errors reported), 0 when
 * it is not. */
int mcp_items_rate_key(gw_mcp_items_t *t, const char *name, const char *value, int line,
                       const char *file, gw_errors_t *errs);
/* The end of an item section: an item must ask for something. */
void mcp_items_end(gw_mcp_items_t *t, const char *file, gw_errors_t *errs);
/* [defaults] mcp_unlisted = allow | deny. */
void mcp_items_unlisted(gw_mcp_items_t *t, const char *value, int line, const char *file,
                        gw_errors_t *errs);
/* After the whole file: sorted for lookups. */
void mcp_items_done(gw_mcp_items_t *t);

/* The item a call names, or NULL when it has no section: tools and prompts
 * by exact name; resources by exact URI, else the longest prefix. */
const gw_mcp_item_t *mcp_items_find(const gw_mcp_items_t *t, gw_mcp_kind_t k, const char *name,
                                    size_t len);

const char *mcp_kind_name(gw_mcp_kind_t k); /* "tool", "prompt", "resource" */

#endif
