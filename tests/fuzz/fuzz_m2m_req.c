/* libFuzzer driver for gateway/m2m_req.h, the token endpoint's parser of
 * the request body, Content-Type and Authorization (what any client on
 * the network may send to /api/v4/auth).
 *
 * Input: FLAGS CONTENT_TYPE \0 AUTHORIZATION \0 BODY (a missing field is
 * empty). FLAGS bit 0: no Content-Type header (NULL); bit 1: no
 * Authorization header (NULL); bits 2-3: 0 the CONTENT_TYPE field as
 * given, 1 application/json, 2 application/x-www-form-urlencoded, 3 the
 * same with "; charset=UTF-8", so that most inputs reach a body parser.
 *
 * Asserted (abort() on violation):
 *   - the result is OK, MALFORMED or OTHER_SCHEME (inputs are small: never
 *     out of memory), and the same when parsed twice;
 *   - on OK: why is NULL; every parameter present is NUL-terminated with
 *     len == strlen (no NUL inside); basic is 1 exactly when basic_id and
 *     basic_secret are set, basic_id is not empty; no body parameter when
 *     the body is empty;
 *   - on an error: no parameter and no Basic credentials left; why set
 *     (one of the parser's fixed texts, printable) exactly for MALFORMED;
 *   - OTHER_SCHEME exactly when an Authorization is given whose first
 *     token is not "Basic" (any case);
 *   - without Authorization, a form body gives what a reference decoder
 *     written from RFC 6749 / the URL spec gives (values byte for byte, or
 *     the same refusal), and a JSON body what jansson gives (an object
 *     without repeated names whose four parameters, when present, are
 *     strings; the same strings). */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "m2m_req.h"

#define MAX_INPUT (64 * 1024)

static const char *const known_why[] = {
    "malformed application/x-www-form-urlencoded body",
    "parameter grant_type is repeated",
    "parameter client_id is repeated",
    "parameter client_secret is repeated",
    "parameter scope is repeated",
    "a parameter is repeated in the JSON body",
    "the body is not valid JSON",
    "the JSON body is not an object",
    "grant_type must be a string",
    "client_id must be a string",
    "client_secret must be a string",
    "scope must be a string",
    "Content-Type must be application/json or application/x-www-form-urlencoded",
    "empty Authorization header",
    "malformed HTTP Basic credentials",
};

static int is_known_why(const char *w) {
  for (size_t i = 0; i < sizeof known_why / sizeof known_why[0]; i++)
    if (strcmp(w, known_why[i]) == 0) return 1;
  return 0;
}

static void check_str(const char *s, size_t n) {
  if (!s || strlen(s) != n) abort();
}

static void check_params(int rc, const m2m_params_t *p, size_t body_len) {
  if (rc != M2M_REQ_OK && rc != M2M_REQ_MALFORMED && rc != M2M_REQ_OTHER_SCHEME) abort();
  if (rc == M2M_REQ_OK) {
    if (p->why) abort();
    for (int k = 0; k < M2M_P_N; k++) {
      if (p->v[k]) check_str(p->v[k], p->len[k]);
      else if (p->len[k]) abort();
      if (p->v[k] && body_len == 0) abort();
    }
    if (p->basic != 0 && p->basic != 1) abort();
    if (p->basic) {
      check_str(p->basic_id, p->basic_id_len);
      check_str(p->basic_secret, p->basic_secret_len);
      if (p->basic_id_len == 0) abort();
    } else if (p->basic_id || p->basic_secret || p->basic_id_len || p->basic_secret_len) {
      abort();
    }
    return;
  }
  for (int k = 0; k < M2M_P_N; k++)
    if (p->v[k] || p->len[k]) abort();
  if (p->basic || p->basic_id || p->basic_secret || p->basic_id_len || p->basic_secret_len)
    abort();
  if ((rc == M2M_REQ_MALFORMED) != (p->why != NULL)) abort();
  if (p->why && !is_known_why(p->why)) abort();
}

static int same_params(const m2m_params_t *a, const m2m_params_t *b) {
  for (int k = 0; k < M2M_P_N; k++) {
    if (!a->v[k] != !b->v[k] || a->len[k] != b->len[k]) return 0;
    if (a->v[k] && memcmp(a->v[k], b->v[k], a->len[k]) != 0) return 0;
  }
  if (a->basic != b->basic || a->basic_id_len != b->basic_id_len ||
      a->basic_secret_len != b->basic_secret_len)
    return 0;
  if (a->basic && (memcmp(a->basic_id, b->basic_id, a->basic_id_len) != 0 ||
                   memcmp(a->basic_secret, b->basic_secret, a->basic_secret_len) != 0))
    return 0;
  return (a->why == NULL) == (b->why == NULL) && (!a->why || strcmp(a->why, b->why) == 0);
}

/* OTHER_SCHEME when the first blank-delimited token is not "Basic". */
static int other_scheme(const char *auth) {
  if (!auth) return 0;
  while (*auth == ' ' || *auth == '\t') auth++;
  size_t n = strcspn(auth, " \t");
  return n != 0 && !(n == 5 && strncasecmp(auth, "basic", 5) == 0);
}

/* ---- Reference form decoder ---- */

static int hex(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes s[0..n) into out (n + 1 bytes); -1 on a bad escape or a NUL. */
static long ref_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '%') {
      if (n - i < 3 || hex((unsigned char)s[i + 1]) < 0 || hex((unsigned char)s[i + 2]) < 0)
        return -1;
      c = (unsigned char)(hex((unsigned char)s[i + 1]) * 16 + hex((unsigned char)s[i + 2]));
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (c == 0) return -1;
    out[o++] = (char)c;
  }
  out[o] = 0;
  return (long)o;
}

static void check_form(const char *body, size_t n, int rc, const m2m_params_t *p) {
  char *val[M2M_P_N] = {0};
  long len[M2M_P_N] = {0};
  char *tmp = malloc(n + 1);
  int want_ok = 1;
  if (!tmp) abort();
  const char *seg = body, *end = body + n;
  while (want_ok && seg <= end) {
    const char *amp = memchr(seg, '&', (size_t)(end - seg));
    const char *se = amp ? amp : end;
    if (se > seg) {
      const char *eq = memchr(seg, '=', (size_t)(se - seg));
      const char *ne = eq ? eq : se;
      long kl = ref_decode(seg, (size_t)(ne - seg), tmp);
      if (kl < 0) {
        want_ok = 0;
        break;
      }
      for (int k = 0; k < M2M_P_N; k++) {
        if (strlen(m2m_param_name(k)) != (size_t)kl || memcmp(tmp, m2m_param_name(k), kl) != 0)
          continue;
        if (val[k]) {
          want_ok = 0;
          break;
        }
        const char *vs = eq ? eq + 1 : se;
        val[k] = malloc((size_t)(se - vs) + 1);
        if (!val[k]) abort();
        len[k] = ref_decode(vs, (size_t)(se - vs), val[k]);
        if (len[k] < 0) want_ok = 0;
      }
    }
    if (!amp) break;
    seg = amp + 1;
  }
  if (want_ok != (rc == M2M_REQ_OK)) abort();
  if (want_ok) {
    for (int k = 0; k < M2M_P_N; k++) {
      if (!val[k] != !p->v[k]) abort();
      if (val[k] && ((size_t)len[k] != p->len[k] || memcmp(val[k], p->v[k], p->len[k]) != 0))
        abort();
    }
  }
  for (int k = 0; k < M2M_P_N; k++) free(val[k]);
  free(tmp);
}

static void check_json(const char *body, size_t n, int rc, const m2m_params_t *p) {
  json_t *doc = json_loadb(body, n, JSON_REJECT_DUPLICATES, NULL);
  int want_ok = doc && json_is_object(doc);
  for (int k = 0; want_ok && k < M2M_P_N; k++) {
    json_t *v = json_object_get(doc, m2m_param_name(k));
    if (v && !json_is_string(v)) want_ok = 0;
  }
  if (want_ok != (rc == M2M_REQ_OK)) abort();
  for (int k = 0; want_ok && k < M2M_P_N; k++) {
    json_t *v = json_object_get(doc, m2m_param_name(k));
    if (!v != !p->v[k]) abort();
    if (v && (json_string_length(v) != p->len[k] ||
              memcmp(json_string_value(v), p->v[k], p->len[k]) != 0))
      abort();
  }
  json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > MAX_INPUT) return 0;
  unsigned flags = data[0];
  /* A copy of the rest with a NUL after it, so that each field is a string. */
  size_t rest = size - 1;
  char *buf = malloc(rest + 1);
  if (!buf) return 0;
  memcpy(buf, data + 1, rest);
  buf[rest] = 0;
  char *ct = buf, *auth = buf + rest, *body = buf + rest;
  size_t body_len = 0;
  char *z = memchr(ct, 0, rest + 1);
  if (z < buf + rest) {
    auth = z + 1;
    char *z2 = memchr(auth, 0, (size_t)(buf + rest + 1 - auth));
    if (z2 < buf + rest) {
      body = z2 + 1;
      body_len = (size_t)(buf + rest - body);
    }
  }
  static const char *const fixed_ct[] = {NULL, "application/json",
                                         "application/x-www-form-urlencoded",
                                         "application/x-www-form-urlencoded; charset=UTF-8"};
  unsigned mode = (flags >> 2) & 3;
  const char *ctv = flags & 1 ? NULL : mode ? fixed_ct[mode] : ct;
  const char *authv = flags & 2 ? NULL : auth;

  m2m_params_t p, q;
  int rc = m2m_req_parse(body, body_len, ctv, authv, &p);
  check_params(rc, &p, body_len);
  if ((rc == M2M_REQ_OTHER_SCHEME) != other_scheme(authv)) abort();
  int rc2 = m2m_req_parse(body, body_len, ctv, authv, &q);
  if (rc2 != rc || !same_params(&p, &q)) abort();
  m2m_params_free(&q);

  if (!authv && body_len > 0 && ctv && mode) {
    if (mode == 1)
      check_json(body, body_len, rc, &p);
    else
      check_form(body, body_len, rc, &p);
  }
  m2m_params_free(&p);
  /* m2m_params_free empties: a second call is harmless. */
  m2m_params_free(&p);
  free(buf);
  return 0;
}
