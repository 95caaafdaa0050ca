/* m2m_clients.c: the clients file, secret hashes and client scopes of the
 * token issuer. See m2m_clients.h (and m2m.h for the file's syntax). */
#include "m2m_clients.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "b64url.h"
#include "log.h"
#include "m2m.h"

#define SALT_MIN 16
#define HASH_MIN 32
#define HASH_MAX M2M_HASH_BYTES_MAX /* also the salt maximum */
#define MAX_CLIENT_SCOPES M2M_MAX_CLIENT_SCOPES
#define MAX_SCOPE_TEXT 2048

static bool id_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

static bool valid_client_id(const char *s, size_t n) {
  if (n == 0 || n > GW_M2M_MAX_CLIENT_ID) return false;
  for (size_t i = 0; i < n; i++)
    if (!id_char((unsigned char)s[i])) return false;
  return true;
}

/* RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E */
static bool scope_char(int c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}
static bool valid_scope(const char *s, size_t n) {
  if (n == 0) return false;
  for (size_t i = 0; i < n; i++)
    if (!scope_char((unsigned char)s[i])) return false;
  return true;
}

static int pbkdf2(const char *secret, size_t slen, const unsigned char *salt, size_t salt_len,
                  unsigned iter, unsigned char *out, size_t outlen) {
  if (slen > INT_MAX) return -1;
  return PKCS5_PBKDF2_HMAC(secret, (int)slen, salt, (int)salt_len, (int)iter, EVP_sha256(),
                           (int)outlen, out) == 1
             ? 0
             : -1;
}

/* ------------------------------------------------------------------ */
/* Secret hashes                                                       */

int m2m_hash_secret(const char *secret, size_t len, unsigned iterations, char *out, size_t cap) {
  unsigned char salt[16], hash[32];
  char s64[B64URL_ENCODED_LEN(sizeof salt) + 1], h64[B64URL_ENCODED_LEN(sizeof hash) + 1];
  if (!out || cap == 0) return -1;
  out[0] = '\0';
  if (iterations < GW_M2M_MIN_ITERATIONS || iterations > GW_M2M_MAX_ITERATIONS) return -1;
  if (RAND_bytes(salt, sizeof salt) != 1) return -1;
  if (pbkdf2(secret ? secret : "", secret ? len : 0, salt, sizeof salt, iterations, hash,
             sizeof hash) != 0)
    return -1;
  b64url_encode(salt, sizeof salt, s64, sizeof s64, NULL);
  b64url_encode(hash, sizeof hash, h64, sizeof h64, NULL);
  OPENSSL_cleanse(hash, sizeof hash);
  int n = snprintf(out, cap, "pbkdf2-sha256$%u$%s$%s", iterations, s64, h64);
  if (n < 0 || (size_t)n >= cap) {
    out[0] = '\0';
    return -1;
  }
  return 0;
}

/* Parses "pbkdf2-sha256$ITER$SALT$HASH" into cl; NULL or why not. The
 * value is never quoted back: it might be a plain-text secret. */
static const char *parse_secret_hash(const char *v, m2m_client_t *cl) {
  static const char pfx[] = "pbkdf2-sha256$";
  if (strncmp(v, pfx, sizeof pfx - 1) != 0) {
    if (!strchr(v, '$'))
      return "plain-text secrets are refused: store a pbkdf2-sha256$ITER$SALT$HASH hash "
             "(make one with tools/m2m-hash.c)";
    return "unsupported secret hash: expected pbkdf2-sha256$ITER$SALT$HASH";
  }
  const char *p = v + sizeof pfx - 1;
  unsigned long long it = 0;
  const char *q = p;
  for (; *q >= '0' && *q <= '9'; q++)
    if (it <= GW_M2M_MAX_ITERATIONS) it = it * 10 + (unsigned)(*q - '0'); /* saturates */
  if (q == p || *q != '$') return "malformed pbkdf2-sha256 hash: ITER must be a number";
  if (it < GW_M2M_MIN_ITERATIONS || it > GW_M2M_MAX_ITERATIONS)
    return "pbkdf2-sha256 iterations must be from 100000 to 10000000";
  const char *salt = q + 1;
  const char *d = strchr(salt, '$');
  if (!d) return "malformed pbkdf2-sha256 hash: expected pbkdf2-sha256$ITER$SALT$HASH";
  const char *hash = d + 1;
  if (strchr(hash, '$')) return "malformed pbkdf2-sha256 hash: too many '$' fields";
  size_t sl = (size_t)(d - salt), hl = strlen(hash);
  if (sl > B64URL_ENCODED_LEN(HASH_MAX) ||
      b64url_decode(salt, sl, cl->salt, sizeof cl->salt, &cl->salt_len) != 0)
    return "malformed pbkdf2-sha256 hash: SALT is not unpadded base64url";
  if (cl->salt_len < SALT_MIN) return "pbkdf2-sha256 salt must be at least 16 bytes";
  if (hl > B64URL_ENCODED_LEN(HASH_MAX) ||
      b64url_decode(hash, hl, cl->hash, sizeof cl->hash, &cl->hash_len) != 0)
    return "malformed pbkdf2-sha256 hash: HASH is not unpadded base64url";
  if (cl->hash_len < HASH_MIN) return "pbkdf2-sha256 hash must be 32 to 64 bytes";
  cl->iterations = (unsigned)it;
  return NULL;
}

/* ------------------------------------------------------------------ */
/* Clients file                                                        */

typedef struct {
  const char *path;
  gw_errors_t *errs;
  const gw_config_t *cfg;
  int nerr;
  m2m_client_t *clients;
  size_t n;
  long cur;        /* index of the current client, -1 outside, -2 in a bad section */
} cparse_t;

static void cp_err(cparse_t *cp, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void cp_err(cparse_t *cp, int line, const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  gw_errors_add(cp->errs, cp->path, line, "%s", buf);
  cp->nerr++;
}

static void client_free(m2m_client_t *cl) {
  free(cl->id);
  config_free_words(cl->scopes);
  OPENSSL_cleanse(cl->hash, sizeof cl->hash);
  memset(cl, 0, sizeof *cl);
}

static int cp_section(cparse_t *cp, const char *section, int line) {
  cp->cur = -2;
  if (strncmp(section, "client:", 7) != 0) {
    char safe[80];
    cp_err(cp, line, "unknown section [%s] (expected [client:ID])",
           gw_log_safe(safe, sizeof safe, section, strlen(section)));
    return 0;
  }
  const char *id = section + 7;
  size_t n = strlen(id);
  if (!valid_client_id(id, n)) {
    char safe[80];
    cp_err(cp, line, "invalid client id '%s' (1-%d characters from A-Z a-z 0-9 - . _ ~)",
           gw_log_safe(safe, sizeof safe, id, n), GW_M2M_MAX_CLIENT_ID);
    return 0;
  }
  for (size_t i = 0; i < cp->n; i++) {
    if (strcmp(cp->clients[i].id, id) == 0) {
      cp_err(cp, line, "duplicate client [client:%s] (first at line %d)", id,
             cp->clients[i].line);
      return 0;
    }
  }
  m2m_client_t *nc = realloc(cp->clients, (cp->n + 1) * sizeof *nc);
  if (!nc) {
    cp_err(cp, line, "out of memory");
    return 0;
  }
  cp->clients = nc;
  m2m_client_t *cl = &cp->clients[cp->n];
  memset(cl, 0, sizeof *cl);
  cl->id = strndup(id, n);
  if (!cl->id) {
    cp_err(cp, line, "out of memory");
    return 0;
  }
  cl->id_len = n;
  cl->line = line;
  cp->cur = (long)cp->n++;
  return 1;
}

static int cp_scopes(cparse_t *cp, m2m_client_t *cl, const char *v, int line) {
  if (strlen(v) > MAX_SCOPE_TEXT) {
    cp_err(cp, line, "scopes: longer than %d bytes", MAX_SCOPE_TEXT);
    return 0;
  }
  char **w = NULL;
  size_t n = config_split_words(v, &w);
  if (!w) {
    cp_err(cp, line, "out of memory");
    return 0;
  }
  int ok = 1;
  if (n == 0) {
    cp_err(cp, line, "scopes: at least one scope is needed");
    ok = 0;
  } else if (n > MAX_CLIENT_SCOPES) {
    cp_err(cp, line, "scopes: more than %d scopes", MAX_CLIENT_SCOPES);
    ok = 0;
  }
  for (size_t i = 0; ok && i < n; i++) {
    char safe[80];
    if (!valid_scope(w[i], strlen(w[i]))) {
      cp_err(cp, line, "scopes: invalid scope '%s' (RFC 6749 scope-token)",
             gw_log_safe(safe, sizeof safe, w[i], strlen(w[i])));
      ok = 0;
      break;
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(w[i], w[j]) == 0) {
        cp_err(cp, line, "scopes: '%s' listed twice", w[i]);
        ok = 0;
        break;
      }
    }
    if (ok && cp->cfg->scopes_supported) {
      bool known = false;
      for (size_t j = 0; j < cp->cfg->nscopes_supported; j++)
        if (strcmp(cp->cfg->scopes_supported[j], w[i]) == 0) known = true;
      if (!known) {
        cp_err(cp, line, "scopes: '%s' is not in [resource] scopes_supported", w[i]);
        ok = 0;
      }
    }
  }
  if (!ok) {
    config_free_words(w);
    return 0;
  }
  cl->scopes = w;
  cl->nscopes = n;
  return 1;
}

static int cp_handler(void *user, const char *section, const char *name, const char *value,
                      int line) {
  cparse_t *cp = user;
  if (!name) return cp_section(cp, section, line);
  if (cp->cur == -2) return 1; /* the section header was already reported */
  if (cp->cur < 0) {
    cp_err(cp, line, "key outside of a [client:ID] section");
    return 0;
  }
  m2m_client_t *cl = &cp->clients[cp->cur];
  int *seen;
  if (strcmp(name, "secret") == 0)
    seen = &cl->secret_line;
  else if (strcmp(name, "scopes") == 0)
    seen = &cl->scopes_line;
  else {
    char safe[80];
    cp_err(cp, line, "unknown key '%s' in [client:%s] (expected secret, scopes)",
           gw_log_safe(safe, sizeof safe, name, strlen(name)), cl->id);
    return 0;
  }
  if (*seen) {
    cp_err(cp, line, "duplicate key '%s' in [client:%s] (first at line %d)", name, cl->id,
           *seen);
    return 0;
  }
  *seen = line;
  if (seen == &cl->scopes_line) return cp_scopes(cp, cl, value, line);
  if (value[0] == '\0') {
    cp_err(cp, line, "secret: empty value in [client:%s]", cl->id);
    return 0;
  }
  const char *why = parse_secret_hash(value, cl);
  if (why) {
    cp_err(cp, line, "secret of [client:%s]: %s", cl->id, why);
    return 0;
  }
  return 1;
}

void m2m_clients_free(m2m_client_t *c, size_t n) {
  for (size_t i = 0; i < n; i++) client_free(&c[i]);
  free(c);
}

int m2m_clients_load(const gw_config_t *cfg, gw_errors_t *errs, m2m_client_t **out, size_t *n) {
  cparse_t cp = {.path = cfg->m2m.clients_file, .errs = errs, .cfg = cfg, .cur = -1};
  int r = config_ini_parse(cp.path, cp_handler, &cp, errs);
  if (r == 0 && cp.nerr == 0) {
    for (size_t i = 0; i < cp.n; i++) {
      if (!cp.clients[i].secret_line)
        cp_err(&cp, cp.clients[i].line, "[client:%s] needs secret", cp.clients[i].id);
      if (!cp.clients[i].scopes_line)
        cp_err(&cp, cp.clients[i].line, "[client:%s] needs scopes", cp.clients[i].id);
    }
    if (cp.n == 0) cp_err(&cp, 0, "no [client:ID] section: at least one client is needed");
  }
  if (r != 0 || cp.nerr != 0) {
    m2m_clients_free(cp.clients, cp.n);
    *out = NULL;
    *n = 0;
    return -1;
  }
  *out = cp.clients;
  *n = cp.n;
  return 0;
}

/* ------------------------------------------------------------------ */
/* Clients at run time                                                 */

const m2m_client_t *m2m_client_find(const m2m_client_t *c, size_t n, const char *id, size_t len) {
  for (size_t i = 0; i < n; i++)
    if (c[i].id_len == len && memcmp(c[i].id, id, len) == 0) return &c[i];
  return NULL;
}

int m2m_client_dummy(m2m_client_t *d, const m2m_client_t *c, size_t n) {
  memset(d, 0, sizeof *d);
  d->salt_len = 16;
  d->hash_len = HASH_MIN;
  d->iterations = GW_M2M_MIN_ITERATIONS;
  for (size_t i = 0; i < n; i++) {
    if (c[i].iterations > d->iterations) d->iterations = c[i].iterations;
    if (c[i].hash_len > d->hash_len) d->hash_len = c[i].hash_len;
  }
  if (RAND_bytes(d->salt, (int)d->salt_len) != 1 || RAND_bytes(d->hash, (int)d->hash_len) != 1)
    return -1;
  return 0;
}

int m2m_client_check_secret(const m2m_client_t *cl, const char *secret, size_t n) {
  unsigned char got[HASH_MAX];
  if (pbkdf2(secret, n, cl->salt, cl->salt_len, cl->iterations, got, cl->hash_len) != 0)
    return 0;
  int ok = CRYPTO_memcmp(got, cl->hash, cl->hash_len) == 0;
  OPENSSL_cleanse(got, sizeof got);
  return ok;
}

char *m2m_client_grant_scopes(const m2m_client_t *cl, const char *req, size_t rlen, char *bad,
                              size_t badcap, int *invalid) {
  *invalid = 0;
  unsigned char want[MAX_CLIENT_SCOPES] = {0};
  bool any = false;
  if (req) {
    size_t i = 0;
    while (i < rlen) {
      while (i < rlen && req[i] == ' ') i++;
      size_t s = i;
      while (i < rlen && req[i] != ' ') i++;
      if (i == s) break;
      size_t n = i - s;
      size_t k = 0;
      for (; k < cl->nscopes; k++)
        if (strlen(cl->scopes[k]) == n && memcmp(cl->scopes[k], req + s, n) == 0) break;
      if (k == cl->nscopes) {
        *invalid = 1;
        if (valid_scope(req + s, n) && n < badcap) {
          memcpy(bad, req + s, n);
          bad[n] = '\0';
        } else if (badcap) {
          bad[0] = '\0';
        }
        return NULL;
      }
      want[k] = 1;
      any = true;
    }
  }
  size_t total = 1;
  for (size_t k = 0; k < cl->nscopes; k++) total += strlen(cl->scopes[k]) + 1;
  char *out = malloc(total);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t k = 0; k < cl->nscopes; k++) {
    if (any && !want[k]) continue;
    size_t n = strlen(cl->scopes[k]);
    if (o) out[o++] = ' ';
    memcpy(out + o, cl->scopes[k], n);
    o += n;
  }
  out[o] = '\0';
  return out;
}

