/* m2m_req.c: parsing a token request's body and Authorization header. See
 * m2m_req.h. */
#include "m2m_req.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

static const char *const param_names[M2M_P_N] = {"grant_type", "client_id",
                                                 "client_secret", "scope"};

const char *m2m_param_name(int k) { return k >= 0 && k < M2M_P_N ? param_names[k] : NULL; }

void m2m_params_free(m2m_params_t *p) {
  for (int i = 0; i < M2M_P_N; i++) {
    if (p->v[i]) OPENSSL_cleanse(p->v[i], p->len[i]);
    free(p->v[i]);
  }
  if (p->basic_secret) OPENSSL_cleanse(p->basic_secret, p->basic_secret_len);
  free(p->basic_id);
  free(p->basic_secret);
  memset(p, 0, sizeof *p);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* application/x-www-form-urlencoded value decoding; NULL on a bad escape,
 * a NUL byte or no memory (*oom set). */
static char *form_decode(const char *s, size_t n, size_t *outlen, int *oom) {
  char *o = malloc(n + 1);
  if (!o) {
    *oom = 1;
    return NULL;
  }
  size_t j = 0;
  for (size_t i = 0; i < n; i++) {
    int c = (unsigned char)s[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      int h = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int l = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
      if (h < 0 || l < 0) goto bad;
      c = h * 16 + l;
      i += 2;
    }
    if (c == 0) goto bad;
    o[j++] = (char)c;
  }
  o[j] = '\0';
  *outlen = j;
  return o;
bad:
  OPENSSL_cleanse(o, n + 1);
  free(o);
  return NULL;
}

static int param_index(const char *name, size_t n) {
  for (int i = 0; i < M2M_P_N; i++)
    if (strlen(param_names[i]) == n && memcmp(param_names[i], name, n) == 0) return i;
  return -1;
}

/* 0, -1 malformed (p->why set), -2 out of memory. */
static int parse_form(const char *b, size_t n, m2m_params_t *p) {
  size_t i = 0;
  while (i <= n) {
    size_t e = i;
    while (e < n && b[e] != '&') e++;
    if (e > i) {
      const char *eq = memchr(b + i, '=', e - i);
      size_t nl = eq ? (size_t)(eq - (b + i)) : e - i;
      int oom = 0;
      size_t klen;
      char *key = form_decode(b + i, nl, &klen, &oom);
      if (!key) {
        p->why = "malformed application/x-www-form-urlencoded body";
        return oom ? -2 : -1;
      }
      int k = param_index(key, klen);
      free(key);
      if (k >= 0) {
        if (p->v[k]) {
          p->why = k == M2M_P_GRANT    ? "parameter grant_type is repeated"
                   : k == M2M_P_ID     ? "parameter client_id is repeated"
                   : k == M2M_P_SECRET ? "parameter client_secret is repeated"
                                       : "parameter scope is repeated";
          return -1;
        }
        const char *vs = eq ? eq + 1 : b + e;
        size_t vl = eq ? (size_t)(b + e - (eq + 1)) : 0;
        p->v[k] = form_decode(vs, vl, &p->len[k], &oom);
        if (!p->v[k]) {
          p->why = "malformed application/x-www-form-urlencoded body";
          return oom ? -2 : -1;
        }
      }
    }
    i = e + 1;
  }
  return 0;
}

static int parse_json(const char *b, size_t n, m2m_params_t *p) {
  json_error_t jerr;
  json_t *doc = json_loadb(b, n, JSON_REJECT_DUPLICATES, &jerr);
  if (!doc) {
    p->why = strstr(jerr.text, "duplicate") ? "a parameter is repeated in the JSON body"
                                            : "the body is not valid JSON";
    return -1;
  }
  int rc = 0;
  if (!json_is_object(doc)) {
    p->why = "the JSON body is not an object";
    rc = -1;
    goto out;
  }
  for (int k = 0; k < M2M_P_N; k++) {
    json_t *v = json_object_get(doc, param_names[k]);
    if (!v) continue;
    if (!json_is_string(v)) {
      p->why = k == M2M_P_GRANT    ? "grant_type must be a string"
               : k == M2M_P_ID     ? "client_id must be a string"
               : k == M2M_P_SECRET ? "client_secret must be a string"
                                   : "scope must be a string";
      rc = -1;
      goto out;
    }
    p->len[k] = json_string_length(v);
    p->v[k] = strndup(json_string_value(v), p->len[k]);
    if (!p->v[k]) {
      rc = -2;
      goto out;
    }
  }
out:
  json_decref(doc);
  return rc;
}

/* Media type of a Content-Type value, lower-cased comparison. */
static bool media_is(const char *ct, const char *type) {
  while (*ct == ' ' || *ct == '\t') ct++;
  size_t n = strcspn(ct, ";");
  while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
  return n == strlen(type) && strncasecmp(ct, type, n) == 0;
}

static int b64std_val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* RFC 4648 §4 base64, padding optional but correct when present. */
static int b64std_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen) {
  size_t pad = 0;
  while (pad < 2 && n > 0 && in[n - 1] == '=') n--, pad++;
  if (pad && (n + pad) % 4 != 0) return -1;
  if (n % 4 == 1) return -1;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64std_val((unsigned char)in[i]);
    if (v < 0) return -1;
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= cap) return -1;
      out[o++] = (unsigned char)(acc >> bits);
      acc &= (1u << bits) - 1;
    }
  }
  *outlen = o;
  return 0;
}

/* Authorization: 0 none, 1 Basic (p->basic_*), -1 malformed Basic, -3 another
 * scheme, -2 out of memory. */
static int parse_authorization(const char *h, m2m_params_t *p) {
  if (!h) return 0;
  while (*h == ' ' || *h == '\t') h++;
  size_t sl = strcspn(h, " \t");
  if (sl == 0) {
    p->why = "empty Authorization header";
    return -1;
  }
  if (!(sl == 5 && strncasecmp(h, "Basic", 5) == 0)) return -3;
  const char *c = h + 5;
  while (*c == ' ' || *c == '\t') c++;
  size_t cl = strcspn(c, " \t");
  const char *rest = c + cl;
  while (*rest == ' ' || *rest == '\t') rest++;
  if (cl == 0 || *rest || cl > 4 * 1024) {
    p->why = "malformed HTTP Basic credentials";
    return -1;
  }
  size_t cap = cl / 4 * 3 + 3, dl = 0;
  unsigned char *dec = malloc(cap);
  if (!dec) return -2;
  int rc = -1;
  if (b64std_decode(c, cl, dec, cap, &dl) != 0) goto out;
  unsigned char *colon = memchr(dec, ':', dl);
  if (!colon || colon == dec) goto out;
  int oom = 0;
  /* RFC 6749 §2.3.1: both parts are form-urlencoded before base64. */
  p->basic_id = form_decode((char *)dec, (size_t)(colon - dec), &p->basic_id_len, &oom);
  if (p->basic_id)
    p->basic_secret = form_decode((char *)colon + 1, dl - (size_t)(colon + 1 - dec),
                                  &p->basic_secret_len, &oom);
  if (oom) {
    rc = -2;
    goto out;
  }
  if (!p->basic_id || !p->basic_secret || p->basic_id_len == 0) goto out;
  p->basic = 1;
  rc = 1;
out:
  OPENSSL_cleanse(dec, cap);
  free(dec);
  if (rc == -1) p->why = "malformed HTTP Basic credentials";
  return rc;
}


int m2m_req_parse(const char *body, size_t body_len, const char *content_type,
                  const char *authorization, m2m_params_t *p) {
  memset(p, 0, sizeof *p);
  int r = parse_authorization(authorization, p);
  if (r == -3 || r == -2 || r == -1) {
    const char *why = p->why;
    m2m_params_free(p);
    if (r == -1) p->why = why;
    return r == -3 ? M2M_REQ_OTHER_SCHEME : r == -2 ? M2M_REQ_NOMEM : M2M_REQ_MALFORMED;
  }
  if (body_len > 0) {
    const char *ct = content_type ? content_type : "";
    if (media_is(ct, "application/json"))
      r = parse_json(body, body_len, p);
    else if (media_is(ct, "application/x-www-form-urlencoded"))
      r = parse_form(body, body_len, p);
    else {
      r = -1;
      p->why = "Content-Type must be application/json or application/x-www-form-urlencoded";
    }
    if (r != 0) {
      const char *why = p->why;
      m2m_params_free(p);
      if (r == -1) p->why = why;
      return r == -2 ? M2M_REQ_NOMEM : M2M_REQ_MALFORMED;
    }
  }
  return M2M_REQ_OK;
}
