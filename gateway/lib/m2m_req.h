/* m2m_req: parsing a token request (RFC 6749 §2.3.1, §4.4.2) into its
 * parameters, without deciding anything: m2m_token() (m2m.c) decides the
 * answer from what this returns. A pure function of its inputs (no state,
 * no locks, nothing logged), so safe on any thread and fuzzable
 * (tests/fuzz/fuzz_m2m_req.c).
 *
 * m2m_req_parse(body, body_len, content_type, authorization, out):
 * - authorization (the Authorization header value, or NULL when absent):
 *   "Basic" (any case) and one base64 token (RFC 4648 §4, padding optional
 *   but correct, at most 4096 characters) of "ID:SECRET", where both parts
 *   are form-urlencoded ('+' is a space, %XX escapes) and ID is not empty:
 *   out->basic = 1 with basic_id/basic_secret. Another scheme: OTHER_SCHEME
 *   (the body is then not read). Empty, or malformed Basic: MALFORMED.
 * - the body, when body_len > 0, by content_type's media type (parameters
 *   such as charset ignored, case-insensitive; NULL counts as none):
 *   application/json: an object without repeated names; grant_type,
 *   client_id, client_secret and scope must be strings (no NUL: jansson
 *   refuses \u0000); other members are ignored.
 *   application/x-www-form-urlencoded: NAME=VALUE pairs split on '&' (empty
 *   pairs skipped; a NAME without '=' has the value ""), each part decoded
 *   like the Basic parts (a bad %-escape or a NUL is MALFORMED), one of the
 *   four names twice is MALFORMED, other names are ignored.
 *   Anything else, including no Content-Type: MALFORMED.
 *   body_len is not limited here (m2m_token refuses over GW_M2M_MAX_BODY);
 *   body may be NULL when body_len is 0.
 * Returns M2M_REQ_OK with *out filled (free with m2m_params_free), or an
 * error with *out empty (no pointer set, basic 0) except out->why, a static
 * description, set for M2M_REQ_MALFORMED (and NULL on M2M_REQ_OK).
 * Secrets are cleansed from every buffer that is freed. */
#ifndef GW_M2M_REQ_H
#define GW_M2M_REQ_H

#include <stddef.h>

#include "m2m-t.h"

enum {
  M2M_REQ_OK = 0,
  M2M_REQ_MALFORMED,    /* 400 invalid_request, out->why says why */
  M2M_REQ_OTHER_SCHEME, /* Authorization is not Basic: 401 invalid_client */
  M2M_REQ_NOMEM,
};

int m2m_req_parse(const char *body, size_t body_len, const char *content_type,
                  const char *authorization, m2m_params_t *out);

/* Frees and empties *p (why included); an empty one is fine. */
void m2m_params_free(m2m_params_t *p);

/* The body parameter's name, "grant_type" for M2M_P_GRANT, ... */
const char *m2m_param_name(int k);

#endif
