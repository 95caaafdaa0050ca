/* lint: warnings about a configuration that loads but probably does not
 * do what its author meant (`gateway -t`; `-T` makes them errors).
 *
 * Each warning is "FILE:LINE: warning: text" in *warns. Checked:
 * - a route method outside the IANA HTTP method registry (`GIT`);
 * - a route no request reaches: every path it matches is won by a more
 *   specific route, or it lies outside every upstream prefix;
 * - a policy without routes;
 * - [mcp-*] item sections while no upstream has protocol = mcp;
 * - without [resource] scopes_supported: a scope that only one route (or
 *   item section) names and that is not one of the API's documented scopes,
 *   most likely a typo. (With scopes_supported set, an unlisted scope is an
 *   error of the policy load already.)
 * Never prints; reads only. */
#ifndef GW_LINT_H
#define GW_LINT_H

#include "config.h"
#include "errs.h"
#include "policy.h"

/* p may be NULL (no [policy]). Returns the number of warnings added. */
size_t config_lint(const gw_config_t *cfg, const gw_policy_t *p, gw_errors_t *warns);

#endif
