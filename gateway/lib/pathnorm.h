/* pathnorm: split a request-target and normalize its path, so that the path
 * the policy judges is byte for byte the path the upstream receives.
 *
 * The caller forwards the normalized path followed by the original query
 * (when there was one): nothing is decoded that could change the meaning of
 * the path for the upstream, and anything ambiguous is refused (400).
 *
 * Normal form of a path:
 *   - percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are
 *     decoded; every other escape is kept, its hex digits upper-cased;
 *   - raw bytes that RFC 3986 does not allow in a path and that are not
 *     refused below (8-bit bytes and " < > [ ] ^ ` { | }) are
 *     percent-encoded, so the raw and the encoded spelling of the same URI
 *     become the same bytes;
 *   - empty segments are merged ("//" -> "/"), "." and ".." segments are
 *     removed after decoding (so "%2e%2e" is ".."), RFC 3986 §5.2.4 style: a
 *     path ending in "." or ".." keeps a trailing '/';
 *   - a trailing '/' is kept: "/a/" stays "/a/" (it is a different resource);
 *   - case is kept; ';' is an ordinary character.
 * Refused: an encoded '/' or '\' (%2F %5C in any case), %00, a raw control
 * byte (0x00-0x1F, 0x7F), a raw space, a raw '\', '#', '?', an invalid or
 * truncated escape, a path not starting with '/', a ".." above the root, a
 * result longer than the caller's buffer, more than GW_PATH_MAX_SEGMENTS
 * segments kept. Escaped control bytes other than %00 (e.g. %0A) stay
 * escaped and are allowed: they cannot split anything on the way out. */
#ifndef GW_PATHNORM_H
#define GW_PATHNORM_H

#include <stddef.h>

/* Depth of a normalized path; also the deepest pattern a policy accepts. */
#define GW_PATH_MAX_SEGMENTS 128

typedef enum {
  PATHNORM_OK = 0,
  PATHNORM_E_EMPTY = -1,            /* empty request-target or path */
  PATHNORM_E_NOT_ABSOLUTE = -2,     /* path does not start with '/' */
  PATHNORM_E_ENCODED_SLASH = -3,    /* %2F */
  PATHNORM_E_ENCODED_BACKSLASH = -4,/* %5C */
  PATHNORM_E_NUL = -5,              /* raw NUL or %00 */
  PATHNORM_E_CONTROL = -6,          /* raw 0x01-0x1F or 0x7F */
  PATHNORM_E_SPACE = -7,            /* raw space */
  PATHNORM_E_BACKSLASH = -8,        /* raw '\' */
  PATHNORM_E_BAD_ESCAPE = -9,       /* '%' not followed by two hex digits */
  PATHNORM_E_FRAGMENT = -10,        /* '#' anywhere in the target */
  PATHNORM_E_QUERY_IN_PATH = -11,   /* '?' given to pathnorm() */
  PATHNORM_E_CLIMB = -12,           /* ".." above the root */
  PATHNORM_E_TOO_LONG = -13,        /* result does not fit the caller's buffer */
  PATHNORM_E_TOO_DEEP = -14,        /* more than GW_PATH_MAX_SEGMENTS segments */
  PATHNORM_E_FORM = -15,            /* request-target form not accepted */
  PATHNORM_E_METHOD = -16,          /* "*" with a method other than OPTIONS */
  PATHNORM_E_AUTHORITY = -17,       /* absolute-form authority refused */
} pathnorm_err_t;

/* Normalizes path[0..len) (the path part only: no query) into out, which is
 * NUL-terminated; *out_len excludes the NUL. Returns PATHNORM_OK or a
 * negative pathnorm_err_t, with *why (when why is not NULL) set to a short
 * static reason fit for an error_description. Output never exceeds cap - 1
 * bytes; it is at most 3 * len bytes (only percent-encoding grows it). */
int pathnorm(const char *path, size_t len, char *out, size_t cap, size_t *out_len,
             const char **why);

typedef enum {
  GW_TARGET_ORIGIN = 0,   /* "/p?q" */
  GW_TARGET_ABSOLUTE = 1, /* "http://authority/p?q", authority accepted by the caller */
  GW_TARGET_ASTERISK = 2, /* "*", OPTIONS only; path is "*" and is not normalized */
} gw_target_form_t;

/* Slices into the caller's target buffer (or a static "/" for an absolute
 * URI without a path). Not NUL-terminated. */
typedef struct {
  gw_target_form_t form;
  const char *scheme;    /* absolute-form: "http" / "https" as written; else NULL */
  size_t scheme_len;
  const char *authority; /* absolute-form: host[:port]; else NULL */
  size_t authority_len;
  const char *path;
  size_t path_len;
  const char *query;     /* after '?', NULL when the target had no '?' */
  size_t query_len;      /* may be 0 with query != NULL ("/p?") */
} gw_target_t;

/* Decides whether an absolute-form authority names this gateway. */
typedef int (*gw_authority_ok_fn)(void *user, const char *authority, size_t len);

/* Classifies and splits a request-target. Origin-form is always accepted;
 * absolute-form only with an http/https scheme, no userinfo, and when
 * authority_ok (non-NULL) returns non-zero; asterisk-form only for OPTIONS.
 * The query is checked too: no control bytes, space or '#', since it is
 * forwarded as is. The path is NOT normalized here: feed t->path to
 * pathnorm(). Returns PATHNORM_OK or a negative pathnorm_err_t with *why. */
int target_split(const char *target, size_t len, const char *method, size_t mlen,
                 gw_authority_ok_fn authority_ok, void *user, gw_target_t *t,
                 const char **why);

/* Short static text for a pathnorm_err_t. */
const char *pathnorm_strerror(int err);

#endif
