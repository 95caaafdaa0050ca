/* m2m.c: the built-in client_credentials token issuer. See m2m.h for the
 * contract; this file is the signing key, the clients file, the failure
 * table and the endpoint's decision procedure. */
#include "m2m.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "b64url.h"
#include "log.h"

#define KEY_FILE_MAX (64 * 1024)
#define SALT_MIN 16
#define HASH_MIN 32
#define HASH_MAX 64 /* also the salt maximum */
#define MAX_CLIENT_SCOPES 64
#define MAX_SCOPE_TEXT 2048
#define FT_BUCKETS 4096u
#define FT_NONE UINT32_MAX

/* ------------------------------------------------------------------ */
/* Types                                                               */

typedef struct {
  char *id;
  size_t id_len;
  unsigned iterations;
  unsigned char salt[HASH_MAX];
  size_t salt_len;
  unsigned char hash[HASH_MAX];
  size_t hash_len;
  char **scopes; /* NULL-terminated */
  size_t nscopes;
  int line, secret_line, scopes_line;
} m2m_client_t;

/* One failure counter: a client id or an address, by SHA-256 prefix. */
typedef struct {
  unsigned char key[16];
  uint32_t hnext;               /* bucket chain (index), FT_NONE at the end; free list too */
  uint32_t prev, next;          /* LRU list: head = most recently touched */
  uint32_t count;               /* failures in the current window */
  uint32_t inflight;            /* attempts being checked right now */
  int64_t window_start;
  int64_t locked_until;         /* 0 = not locked */
} ft_entry_t;

typedef struct {
  pthread_mutex_t mu;
  ft_entry_t *e;
  uint32_t n, cap;              /* used slots (incl. free ones), allocated slots */
  uint32_t free_head;
  uint32_t head, tail;
  uint32_t live;
  uint32_t buckets[FT_BUCKETS];
} ftable_t;

struct gw_m2m {
  EVP_PKEY *pkey;
  gw_jwa_t alg;
  const char *md_name;          /* "SHA256" ... */
  size_t ec_coord;              /* 0 for RSA */
  char *kid;
  char *jwks;
  size_t jwks_len;
  gw_keyset_t *keyset;
  char *issuer, *audience;
  int64_t lifetime_s;
  unsigned max_failures;
  int64_t lockout_s;
  m2m_client_t *clients;
  size_t nclients;
  m2m_client_t dummy;           /* unknown ids are checked against this */
  ftable_t ft;
};

static const char *const outcome_names[GW_M2M_OUTCOME_COUNT] = {
    [GW_M2M_ISSUED] = "issued",
    [GW_M2M_METHOD] = "method_not_allowed",
    [GW_M2M_TOO_LARGE] = "body_too_large",
    [GW_M2M_MALFORMED] = "invalid_request",
    [GW_M2M_UNSUPPORTED_GRANT] = "unsupported_grant_type",
    [GW_M2M_NO_CLIENT_AUTH] = "no_client_auth",
    [GW_M2M_UNKNOWN_CLIENT] = "unknown_client",
    [GW_M2M_BAD_SECRET] = "bad_secret",
    [GW_M2M_LOCKED_CLIENT] = "locked_client",
    [GW_M2M_LOCKED_ADDRESS] = "locked_address",
    [GW_M2M_INVALID_SCOPE] = "invalid_scope",
    [GW_M2M_SERVER_ERROR] = "server_error",
};

const char *m2m_outcome_name(gw_m2m_outcome_t o) {
  return (unsigned)o < GW_M2M_OUTCOME_COUNT ? outcome_names[o] : "?";
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

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

static char *dupn(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

/* base64url of bin into a fresh string. */
static char *b64url_dup(const unsigned char *bin, size_t n) {
  size_t cap = B64URL_ENCODED_LEN(n) + 1;
  char *s = malloc(cap);
  if (s && b64url_encode(bin, n, s, cap, NULL) != 0) {
    free(s);
    s = NULL;
  }
  return s;
}

/* Fixed-width big-endian base64url of a BIGNUM parameter (width 0: minimal). */
static char *bn_param_b64(const EVP_PKEY *pk, const char *name, size_t width) {
  BIGNUM *bn = NULL;
  char *out = NULL;
  if (EVP_PKEY_get_bn_param(pk, name, &bn) != 1) return NULL;
  size_t n = width ? width : (size_t)BN_num_bytes(bn);
  unsigned char *buf = malloc(n ? n : 1);
  if (buf && BN_bn2binpad(bn, buf, (int)n) == (int)n) out = b64url_dup(buf, n);
  free(buf);
  BN_free(bn);
  return out;
}

static void sha256(const void *data, size_t n, unsigned char out[32]) {
  unsigned int len = 0;
  if (EVP_Digest(data, n, out, &len, EVP_sha256(), NULL) != 1 || len != 32) memset(out, 0, 32);
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
  cl->id = dupn(id, n);
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

static int load_clients(gw_m2m_t *m, const gw_config_t *cfg, gw_errors_t *errs) {
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
  m->clients = cp.clients;
  m->nclients = cp.n;
  return (r == 0 && cp.nerr == 0) ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Signing key                                                         */

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
  (void)buf, (void)size, (void)rwflag, (void)u;
  return -1;
}

static int read_file(const char *path, char **out, size_t *len, char *why, size_t whylen) {
  FILE *f = fopen(path, "re");
  if (!f) {
    snprintf(why, whylen, "%s", strerror(errno));
    return -1;
  }
  char *buf = malloc(KEY_FILE_MAX + 1);
  size_t n = buf ? fread(buf, 1, KEY_FILE_MAX + 1, f) : 0;
  int err = ferror(f);
  fclose(f);
  if (!buf || err) {
    snprintf(why, whylen, "%s", buf ? "read error" : "out of memory");
    free(buf);
    return -1;
  }
  if (n > KEY_FILE_MAX) {
    snprintf(why, whylen, "larger than %d bytes", KEY_FILE_MAX);
    OPENSSL_cleanse(buf, KEY_FILE_MAX + 1);
    free(buf);
    return -1;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

static int load_key(gw_m2m_t *m, const gw_config_t *cfg, gw_errors_t *errs) {
  const char *file = cfg->path;
  int line = cfg->m2m.signing_key_line ? cfg->m2m.signing_key_line : cfg->m2m.line;
  const char *kpath = cfg->m2m.signing_key;
  char why[160];
  char *pem = NULL;
  size_t pemlen = 0;
  if (read_file(kpath, &pem, &pemlen, why, sizeof why) != 0) {
    gw_errors_add(errs, file, line, "signing_key '%s': cannot read: %s", kpath, why);
    return -1;
  }
  bool encrypted = strstr(pem, "ENCRYPTED") != NULL;
  BIO *bio = BIO_new_mem_buf(pem, (int)pemlen);
  EVP_PKEY *pk = bio ? PEM_read_bio_PrivateKey_ex(bio, NULL, no_passphrase, NULL, NULL, NULL)
                     : NULL;
  BIO_free(bio);
  OPENSSL_cleanse(pem, pemlen);
  free(pem);
  ERR_clear_error();
  if (!pk) {
    gw_errors_add(errs, file, line, "signing_key '%s': %s", kpath,
                  encrypted ? "encrypted private keys are not supported"
                            : "no PEM private key found");
    return -1;
  }
  int ok = 0;
  if (EVP_PKEY_is_a(pk, "RSA")) {
    int bits = EVP_PKEY_get_bits(pk);
    if (bits < GW_JWKS_MIN_RSA_BITS || bits > GW_JWKS_MAX_RSA_BITS) {
      gw_errors_add(errs, file, line, "signing_key '%s': RSA key of %d bits (need %d to %d)",
                    kpath, bits, GW_JWKS_MIN_RSA_BITS, GW_JWKS_MAX_RSA_BITS);
    } else {
      m->alg = GW_JWA_RS256;
      m->md_name = "SHA256";
      ok = 1;
    }
  } else if (EVP_PKEY_is_a(pk, "EC")) {
    char group[64] = "";
    if (EVP_PKEY_get_group_name(pk, group, sizeof group, NULL) != 1) group[0] = '\0';
    if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) {
      m->alg = GW_JWA_ES256, m->md_name = "SHA256", m->ec_coord = 32, ok = 1;
    } else if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) {
      m->alg = GW_JWA_ES384, m->md_name = "SHA384", m->ec_coord = 48, ok = 1;
    } else if (strcmp(group, "secp521r1") == 0 || strcmp(group, "P-521") == 0) {
      m->alg = GW_JWA_ES512, m->md_name = "SHA512", m->ec_coord = 66, ok = 1;
    } else {
      gw_errors_add(errs, file, line,
                    "signing_key '%s': EC curve %s is not supported (P-256, P-384, P-521)",
                    kpath, group[0] ? group : "(explicit parameters)");
    }
  } else {
    gw_errors_add(errs, file, line,
                  "signing_key '%s': unsupported key type %s (RSA or EC expected)", kpath,
                  EVP_PKEY_get0_type_name(pk) ? EVP_PKEY_get0_type_name(pk) : "?");
  }
  if (ok) {
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    /* The pair must match (no primality tests: fast even for big keys). */
    if (!c || EVP_PKEY_pairwise_check(c) != 1) {
      gw_errors_add(errs, file, line, "signing_key '%s': the key fails OpenSSL's key check",
                    kpath);
      ok = 0;
    }
    EVP_PKEY_CTX_free(c);
    ERR_clear_error();
  }
  if (!ok) {
    EVP_PKEY_free(pk);
    return -1;
  }
  m->pkey = pk;
  return 0;
}

/* The public JWK members (RFC 7518 §6) and the RFC 7638 thumbprint. */
static int build_jwks(gw_m2m_t *m, const gw_config_t *cfg, gw_errors_t *errs) {
  char *a = NULL, *b = NULL, *canon = NULL;
  const char *crv = NULL;
  json_t *jwk = NULL, *doc = NULL;
  int rc = -1;
  if (m->ec_coord == 0) {
    a = bn_param_b64(m->pkey, OSSL_PKEY_PARAM_RSA_N, 0);
    b = bn_param_b64(m->pkey, OSSL_PKEY_PARAM_RSA_E, 0);
  } else {
    crv = m->alg == GW_JWA_ES256 ? "P-256" : m->alg == GW_JWA_ES384 ? "P-384" : "P-521";
    a = bn_param_b64(m->pkey, OSSL_PKEY_PARAM_EC_PUB_X, m->ec_coord);
    b = bn_param_b64(m->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, m->ec_coord);
  }
  if (!a || !b) goto out;
  /* RFC 7638 §3.2: required members only, lexicographic order, no blanks. */
  int n = m->ec_coord ? asprintf(&canon, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                                 crv, a, b)
                      : asprintf(&canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}", b, a);
  if (n < 0) {
    canon = NULL;
    goto out;
  }
  if (cfg->m2m.kid) {
    m->kid = strdup(cfg->m2m.kid);
  } else {
    unsigned char d[32];
    sha256(canon, (size_t)n, d);
    m->kid = b64url_dup(d, sizeof d);
  }
  if (!m->kid) goto out;
  if (m->ec_coord)
    jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "use", "sig", "alg",
                    jwa_name(m->alg), "kid", m->kid, "crv", crv, "x", a, "y", b);
  else
    jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "use", "sig", "alg",
                    jwa_name(m->alg), "kid", m->kid, "n", a, "e", b);
  doc = jwk ? json_pack("{s:[O]}", "keys", jwk) : NULL;
  m->jwks = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  if (!m->jwks) goto out;
  m->jwks_len = strlen(m->jwks);
  char err[256];
  m->keyset = jwks_parse(m->jwks, m->jwks_len, "[m2m]", NULL, NULL, err, sizeof err);
  if (!m->keyset) {
    gw_errors_add(errs, cfg->path, cfg->m2m.signing_key_line,
                  "signing_key '%s': the public key is not usable: %s", cfg->m2m.signing_key,
                  err);
    goto out_reported;
  }
  rc = 0;
  goto done;
out:
  gw_errors_add(errs, cfg->path, cfg->m2m.signing_key_line,
                "signing_key '%s': cannot build the public JWK (out of memory?)",
                cfg->m2m.signing_key);
out_reported:
done:
  ERR_clear_error();
  json_decref(jwk);
  json_decref(doc);
  free(a);
  free(b);
  free(canon);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Failure table                                                       */

static void ft_init(ftable_t *ft) {
  memset(ft, 0, sizeof *ft);
  pthread_mutex_init(&ft->mu, NULL);
  ft->free_head = ft->head = ft->tail = FT_NONE;
  for (uint32_t i = 0; i < FT_BUCKETS; i++) ft->buckets[i] = FT_NONE;
}

static void ft_destroy(ftable_t *ft) {
  pthread_mutex_destroy(&ft->mu);
  free(ft->e);
}

static uint32_t ft_bucket(const unsigned char *key) {
  return ((uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16) % FT_BUCKETS;
}

static uint32_t ft_find(ftable_t *ft, const unsigned char *key) {
  for (uint32_t i = ft->buckets[ft_bucket(key)]; i != FT_NONE; i = ft->e[i].hnext)
    if (memcmp(ft->e[i].key, key, 16) == 0) return i;
  return FT_NONE;
}

static void lru_unlink(ftable_t *ft, uint32_t i) {
  ft_entry_t *x = &ft->e[i];
  if (x->prev != FT_NONE) ft->e[x->prev].next = x->next;
  else ft->head = x->next;
  if (x->next != FT_NONE) ft->e[x->next].prev = x->prev;
  else ft->tail = x->prev;
  x->prev = x->next = FT_NONE;
}

static void lru_push_head(ftable_t *ft, uint32_t i) {
  ft_entry_t *x = &ft->e[i];
  x->prev = FT_NONE;
  x->next = ft->head;
  if (ft->head != FT_NONE) ft->e[ft->head].prev = i;
  ft->head = i;
  if (ft->tail == FT_NONE) ft->tail = i;
}

static void ft_touch(ftable_t *ft, uint32_t i) {
  if (ft->head == i) return;
  lru_unlink(ft, i);
  lru_push_head(ft, i);
}

static void ft_remove(ftable_t *ft, uint32_t i) {
  uint32_t *pp = &ft->buckets[ft_bucket(ft->e[i].key)];
  while (*pp != i) pp = &ft->e[*pp].hnext;
  *pp = ft->e[i].hnext;
  lru_unlink(ft, i);
  ft->e[i].hnext = ft->free_head;
  ft->free_head = i;
  ft->live--;
}

/* Finds or creates the entry for key; evicts the least recently touched
 * one when the table is full. FT_NONE only when out of memory. */
static uint32_t ft_get(ftable_t *ft, const unsigned char *key) {
  uint32_t i = ft_find(ft, key);
  if (i != FT_NONE) return i;
  if (ft->free_head != FT_NONE) {
    i = ft->free_head;
    ft->free_head = ft->e[i].hnext;
  } else if (ft->n < ft->cap) {
    i = ft->n++;
  } else if (ft->cap < GW_M2M_MAX_TRACKED) {
    uint32_t ncap = ft->cap ? ft->cap * 2 : 64;
    if (ncap > GW_M2M_MAX_TRACKED) ncap = GW_M2M_MAX_TRACKED;
    ft_entry_t *ne = realloc(ft->e, ncap * sizeof *ne);
    if (!ne) return FT_NONE;
    ft->e = ne;
    ft->cap = ncap;
    i = ft->n++;
  } else {
    ft_remove(ft, ft->tail);
    i = ft->free_head;
    ft->free_head = ft->e[i].hnext;
  }
  ft_entry_t *x = &ft->e[i];
  memset(x, 0, sizeof *x);
  memcpy(x->key, key, 16);
  uint32_t b = ft_bucket(key);
  x->hnext = ft->buckets[b];
  ft->buckets[b] = i;
  x->prev = x->next = FT_NONE;
  lru_push_head(ft, i);
  ft->live++;
  return i;
}

/* Lock and window expiry, applied lazily whenever an entry is looked at. */
static void ft_refresh(ft_entry_t *x, int64_t now, int64_t lockout_s) {
  if (x->locked_until && x->locked_until <= now) {
    x->locked_until = 0;
    x->count = 0;
  }
  if (!x->locked_until && x->count && now - x->window_start >= lockout_s) x->count = 0;
}

typedef struct {
  unsigned char key[16];
  int used;
} ft_key_t;

/* Before checking a secret: refuses (returns the Retry-After seconds) when
 * a key is locked or when the attempts already counted or under way reach
 * the limit; otherwise marks one more attempt under way on every key. */
static unsigned ft_begin(gw_m2m_t *m, const ft_key_t *keys, size_t nkeys, int64_t now,
                         size_t *which) {
  ftable_t *ft = &m->ft;
  unsigned retry = 0;
  pthread_mutex_lock(&ft->mu);
  for (size_t k = 0; k < nkeys && !retry; k++) {
    if (!keys[k].used) continue;
    uint32_t i = ft_find(ft, keys[k].key);
    if (i == FT_NONE) continue;
    ft_entry_t *x = &ft->e[i];
    ft_refresh(x, now, m->lockout_s);
    if (x->locked_until) {
      retry = (unsigned)(x->locked_until - now);
      *which = k;
    } else if (x->count > 0 && x->count + x->inflight >= m->max_failures) {
      /* The last allowed attempts are being checked right now. A key
       * without failures is never refused for concurrency: many honest
       * clients may share one egress address. */
      retry = 1;
      *which = k;
    }
  }
  if (!retry) {
    for (size_t k = 0; k < nkeys; k++) {
      if (!keys[k].used) continue;
      uint32_t i = ft_get(ft, keys[k].key);
      if (i != FT_NONE) ft->e[i].inflight++;
    }
  }
  pthread_mutex_unlock(&ft->mu);
  return retry;
}

/* After checking: a failure counts on every key (and may start a lockout:
 * bit k of the result); a success clears the client's counter (key 0). */
static unsigned ft_end(gw_m2m_t *m, const ft_key_t *keys, size_t nkeys, int64_t now, int failed) {
  ftable_t *ft = &m->ft;
  unsigned locked = 0;
  pthread_mutex_lock(&ft->mu);
  for (size_t k = 0; k < nkeys; k++) {
    if (!keys[k].used) continue;
    uint32_t i = failed ? ft_get(ft, keys[k].key) : ft_find(ft, keys[k].key);
    if (i == FT_NONE) continue;
    ft_entry_t *x = &ft->e[i];
    if (x->inflight) x->inflight--;
    ft_refresh(x, now, m->lockout_s);
    if (failed) {
      if (x->locked_until) continue; /* already locked by a concurrent attempt */
      if (x->count == 0) x->window_start = now;
      x->count++;
      if (x->count >= m->max_failures) {
        x->locked_until = now + m->lockout_s;
        locked |= 1u << k;
      }
      ft_touch(ft, i);
    } else if (k == 0) {
      x->count = 0;
      x->locked_until = 0;
    }
    if (!x->count && !x->inflight && !x->locked_until) ft_remove(ft, i);
  }
  pthread_mutex_unlock(&ft->mu);
  return locked;
}

void m2m_inherit_limits(gw_m2m_t *m, gw_m2m_t *prev) {
  if (!m || !prev || m == prev) return;
  pthread_mutex_lock(&prev->ft.mu);
  pthread_mutex_lock(&m->ft.mu);
  /* Oldest first, so that the LRU order carries over. */
  for (uint32_t i = prev->ft.tail; i != FT_NONE; i = prev->ft.e[i].prev) {
    const ft_entry_t *x = &prev->ft.e[i];
    if (!x->count && !x->locked_until) continue;
    uint32_t j = ft_get(&m->ft, x->key);
    if (j == FT_NONE) break;
    m->ft.e[j].count = x->count;
    m->ft.e[j].window_start = x->window_start;
    m->ft.e[j].locked_until = x->locked_until;
    ft_touch(&m->ft, j);
  }
  pthread_mutex_unlock(&m->ft.mu);
  pthread_mutex_unlock(&prev->ft.mu);
}

static void client_key(const char *id, size_t n, ft_key_t *out) {
  unsigned char d[32];
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned int len = 0;
  int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(c, "client\0", 7) == 1 && EVP_DigestUpdate(c, id, n) == 1 &&
           EVP_DigestFinal_ex(c, d, &len) == 1;
  EVP_MD_CTX_free(c);
  if (!ok) sha256(id, n, d); /* still a stable key */
  memcpy(out->key, d, 16);
  out->used = 1;
}

/* IPv4 as is, IPv6 by its /64 (one host usually owns a whole /64), IPv4-
 * mapped IPv6 as IPv4; anything else as the text. */
static void addr_key(const char *addr, ft_key_t *out) {
  unsigned char buf[1 + 16];
  size_t n = 0;
  char tmp[INET6_ADDRSTRLEN + 8];
  size_t al = strlen(addr);
  if (al >= 2 && addr[0] == '[' && addr[al - 1] == ']') addr++, al -= 2;
  if (al < sizeof tmp) {
    memcpy(tmp, addr, al);
    tmp[al] = '\0';
    char *pct = strchr(tmp, '%'); /* zone id */
    if (pct) *pct = '\0';
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton(AF_INET, tmp, &v4) == 1) {
      buf[0] = 4;
      memcpy(buf + 1, &v4, 4);
      n = 5;
    } else if (inet_pton(AF_INET6, tmp, &v6) == 1) {
      if (IN6_IS_ADDR_V4MAPPED(&v6)) {
        buf[0] = 4;
        memcpy(buf + 1, v6.s6_addr + 12, 4);
        n = 5;
      } else {
        buf[0] = 6;
        memcpy(buf + 1, v6.s6_addr, 8);
        n = 9;
      }
    }
  }
  unsigned char d[32];
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  unsigned int len = 0;
  int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
           EVP_DigestUpdate(c, "addr\0", 5) == 1 &&
           (n ? EVP_DigestUpdate(c, buf, n) : EVP_DigestUpdate(c, addr, al)) == 1 &&
           EVP_DigestFinal_ex(c, d, &len) == 1;
  EVP_MD_CTX_free(c);
  if (!ok) sha256(addr, al, d);
  memcpy(out->key, d, 16);
  out->used = 1;
}

/* ------------------------------------------------------------------ */
/* Load / free                                                         */

void m2m_free(gw_m2m_t *m) {
  if (!m) return;
  EVP_PKEY_free(m->pkey);
  free(m->kid);
  free(m->jwks);
  jwks_keyset_unref(m->keyset);
  free(m->issuer);
  free(m->audience);
  for (size_t i = 0; i < m->nclients; i++) client_free(&m->clients[i]);
  free(m->clients);
  ft_destroy(&m->ft);
  free(m);
}

gw_m2m_t *m2m_load(const gw_config_t *cfg, gw_errors_t *errs) {
  if (!cfg || !cfg->m2m.enabled) return NULL;
  const gw_m2m_cfg_t *mc = &cfg->m2m;
  if (!mc->issuer || !mc->signing_key || !mc->clients_file || !mc->audience) {
    gw_errors_add(errs, cfg->path, mc->line, "[m2m] is incomplete (issuer, signing_key, "
                                             "clients and an audience are needed)");
    return NULL;
  }
  gw_m2m_t *m = calloc(1, sizeof *m);
  if (!m) {
    gw_errors_add(errs, cfg->path, mc->line, "out of memory");
    return NULL;
  }
  ft_init(&m->ft);
  m->issuer = strdup(mc->issuer);
  m->audience = strdup(mc->audience);
  m->lifetime_s = (int64_t)(mc->lifetime_ms / 1000);
  m->max_failures = mc->max_failures;
  m->lockout_s = (int64_t)((mc->lockout_ms + 999) / 1000);
  if (m->lockout_s < 1) m->lockout_s = 1;
  if (!m->issuer || !m->audience) {
    gw_errors_add(errs, cfg->path, mc->line, "out of memory");
    m2m_free(m);
    return NULL;
  }
  /* Both are checked, so that -t reports key and clients problems at once. */
  int bad = 0;
  if (load_key(m, cfg, errs) != 0 || build_jwks(m, cfg, errs) != 0) bad = 1;
  if (load_clients(m, cfg, errs) != 0) bad = 1;
  if (bad) {
    m2m_free(m);
    return NULL;
  }
  /* The dummy: as slow as the slowest client, matches no secret. */
  m2m_client_t *d = &m->dummy;
  d->salt_len = 16;
  d->hash_len = HASH_MIN;
  d->iterations = GW_M2M_MIN_ITERATIONS;
  for (size_t i = 0; i < m->nclients; i++) {
    if (m->clients[i].iterations > d->iterations) d->iterations = m->clients[i].iterations;
    if (m->clients[i].hash_len > d->hash_len) d->hash_len = m->clients[i].hash_len;
  }
  if (RAND_bytes(d->salt, (int)d->salt_len) != 1 || RAND_bytes(d->hash, (int)d->hash_len) != 1) {
    gw_errors_add(errs, cfg->path, mc->line, "[m2m]: the random generator failed");
    m2m_free(m);
    return NULL;
  }
  return m;
}

const char *m2m_jwks(const gw_m2m_t *m, size_t *len) {
  if (len) *len = m ? m->jwks_len : 0;
  return m ? m->jwks : NULL;
}
gw_keyset_t *m2m_keyset(const gw_m2m_t *m) { return m ? jwks_keyset_ref(m->keyset) : NULL; }
const char *m2m_kid(const gw_m2m_t *m) { return m ? m->kid : NULL; }
const char *m2m_alg(const gw_m2m_t *m) { return m ? jwa_name(m->alg) : NULL; }
size_t m2m_nclients(const gw_m2m_t *m) { return m ? m->nclients : 0; }

/* ------------------------------------------------------------------ */
/* Request parsing                                                     */

enum { P_GRANT, P_ID, P_SECRET, P_SCOPE, P_N };
static const char *const param_names[P_N] = {"grant_type", "client_id", "client_secret",
                                             "scope"};

typedef struct {
  char *v[P_N]; /* NULL when absent */
  size_t len[P_N];
  char *basic_id, *basic_secret;
  size_t basic_id_len, basic_secret_len;
  int basic;
  const char *why; /* invalid_request description */
} params_t;

static void params_free(params_t *p) {
  for (int i = 0; i < P_N; i++) {
    if (p->v[i]) OPENSSL_cleanse(p->v[i], p->len[i]);
    free(p->v[i]);
  }
  if (p->basic_secret) OPENSSL_cleanse(p->basic_secret, p->basic_secret_len);
  free(p->basic_id);
  free(p->basic_secret);
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
  for (int i = 0; i < P_N; i++)
    if (strlen(param_names[i]) == n && memcmp(param_names[i], name, n) == 0) return i;
  return -1;
}

/* 0, -1 malformed (p->why set), -2 out of memory. */
static int parse_form(const char *b, size_t n, params_t *p) {
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
          p->why = k == P_GRANT ? "parameter grant_type is repeated"
                   : k == P_ID  ? "parameter client_id is repeated"
                   : k == P_SECRET ? "parameter client_secret is repeated"
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

static int parse_json(const char *b, size_t n, params_t *p) {
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
  for (int k = 0; k < P_N; k++) {
    json_t *v = json_object_get(doc, param_names[k]);
    if (!v) continue;
    if (!json_is_string(v)) {
      p->why = k == P_GRANT ? "grant_type must be a string"
               : k == P_ID  ? "client_id must be a string"
               : k == P_SECRET ? "client_secret must be a string"
                               : "scope must be a string";
      rc = -1;
      goto out;
    }
    p->len[k] = json_string_length(v);
    p->v[k] = dupn(json_string_value(v), p->len[k]);
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
static int parse_authorization(const char *h, params_t *p) {
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

/* ------------------------------------------------------------------ */
/* Answers                                                             */

static const char oom_body[] =
    "{\"error\":\"server_error\",\"error_description\":\"internal error\"}";

static void set_body(gw_m2m_response_t *r, json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  json_decref(j);
  if (!s) {
    r->status = 500;
    r->outcome = GW_M2M_SERVER_ERROR;
    r->www_authenticate = NULL;
    r->allow = NULL;
    r->retry_after_s = 0;
    r->body = (char *)oom_body;
    r->body_len = sizeof oom_body - 1;
    r->body_static_ = 1;
    return;
  }
  r->body = s;
  r->body_len = strlen(s);
}

static void answer(gw_m2m_response_t *r, int status, gw_m2m_outcome_t o, const char *error,
                   const char *desc) {
  r->status = status;
  r->outcome = o;
  if (status == 401) r->www_authenticate = "Basic realm=\"m2m\"";
  set_body(r, json_pack("{s:s, s:s}", "error", error, "error_description", desc));
}

void m2m_response_free(gw_m2m_response_t *r) {
  if (!r) return;
  if (!r->body_static_) free(r->body);
  r->body = NULL;
  r->body_len = 0;
}

/* ------------------------------------------------------------------ */
/* Token                                                               */

/* DER ECDSA-Sig-Value -> fixed-width R||S (RFC 7518 §3.4). */
static int ecdsa_der_to_raw(const unsigned char *der, size_t len, size_t coord,
                            unsigned char *out) {
  const unsigned char *p = der;
  ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
  if (!s) return -1;
  const BIGNUM *r = NULL, *sv = NULL;
  ECDSA_SIG_get0(s, &r, &sv);
  int ok = BN_bn2binpad(r, out, (int)coord) == (int)coord &&
           BN_bn2binpad(sv, out + coord, (int)coord) == (int)coord;
  ECDSA_SIG_free(s);
  return ok ? 0 : -1;
}

static char *b64url_json(json_t *j) {
  char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
  char *o = s ? b64url_dup((const unsigned char *)s, strlen(s)) : NULL;
  free(s);
  return o;
}

static char *sign_token(const gw_m2m_t *m, const m2m_client_t *cl, const char *scope,
                        int64_t now) {
  unsigned char jti[16];
  char jti64[B64URL_ENCODED_LEN(sizeof jti) + 1];
  if (RAND_bytes(jti, sizeof jti) != 1) return NULL;
  b64url_encode(jti, sizeof jti, jti64, sizeof jti64, NULL);

  json_t *hdr = json_pack("{s:s, s:s, s:s}", "alg", jwa_name(m->alg), "typ", "at+jwt", "kid",
                          m->kid);
  json_t *pl = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "iss", m->issuer, "sub",
                         cl->id, "aud", m->audience, "client_id", cl->id, "scope", scope, "iat",
                         (json_int_t)now, "exp", (json_int_t)(now + m->lifetime_s), "jti",
                         jti64);
  char *h64 = b64url_json(hdr), *p64 = b64url_json(pl);
  json_decref(hdr);
  json_decref(pl);
  char *input = NULL, *tok = NULL;
  unsigned char *sig = NULL;
  unsigned char raw[2 * 66];
  EVP_MD_CTX *mc = NULL;
  if (!h64 || !p64 || asprintf(&input, "%s.%s", h64, p64) < 0) {
    input = NULL;
    goto out;
  }
  size_t inlen = strlen(input), siglen = 0;
  mc = EVP_MD_CTX_new();
  if (!mc || EVP_DigestSignInit_ex(mc, NULL, m->md_name, NULL, NULL, m->pkey, NULL) != 1 ||
      EVP_DigestSign(mc, NULL, &siglen, (const unsigned char *)input, inlen) != 1)
    goto out;
  sig = malloc(siglen);
  if (!sig || EVP_DigestSign(mc, sig, &siglen, (const unsigned char *)input, inlen) != 1) goto out;
  const unsigned char *final = sig;
  size_t flen = siglen;
  if (m->ec_coord) {
    if (ecdsa_der_to_raw(sig, siglen, m->ec_coord, raw) != 0) goto out;
    final = raw;
    flen = 2 * m->ec_coord;
  }
  size_t slen = B64URL_ENCODED_LEN(flen);
  tok = malloc(inlen + 1 + slen + 1);
  if (!tok) goto out;
  memcpy(tok, input, inlen);
  tok[inlen] = '.';
  if (b64url_encode(final, flen, tok + inlen + 1, slen + 1, NULL) != 0) {
    free(tok);
    tok = NULL;
  }
out:
  ERR_clear_error();
  EVP_MD_CTX_free(mc);
  free(sig);
  free(input);
  free(h64);
  free(p64);
  return tok;
}

static const m2m_client_t *find_client(const gw_m2m_t *m, const char *id, size_t n) {
  for (size_t i = 0; i < m->nclients; i++)
    if (m->clients[i].id_len == n && memcmp(m->clients[i].id, id, n) == 0) return &m->clients[i];
  return NULL;
}

/* 1 when secret matches cl's hash. Always does the full PBKDF2. */
static int check_secret(const m2m_client_t *cl, const char *secret, size_t n) {
  unsigned char got[HASH_MAX];
  if (pbkdf2(secret, n, cl->salt, cl->salt_len, cl->iterations, got, cl->hash_len) != 0)
    return 0;
  int ok = CRYPTO_memcmp(got, cl->hash, cl->hash_len) == 0;
  OPENSSL_cleanse(got, sizeof got);
  return ok;
}

/* The granted scope text: the client's scopes, narrowed by `req` when it
 * names any. NULL with *bad set to the first unknown scope (or "" when it
 * cannot be quoted) for invalid_scope; NULL without on out of memory. */
static char *grant_scopes(const m2m_client_t *cl, const char *req, size_t rlen, char *bad,
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

static void log_lockout(const gw_m2m_t *m, const char *what, const char *v, size_t n) {
  char safe[6 * GW_M2M_MAX_CLIENT_ID + 8]; /* gw_log_safe keeps cap/6 input bytes */
  LOG_WARN("m2m: %s '%s' locked out for %llds after %u failed authentications", what,
           gw_log_safe(safe, sizeof safe, v, n), (long long)m->lockout_s, m->max_failures);
}

void m2m_token(gw_m2m_t *m, const gw_m2m_request_t *req, int64_t now,
               gw_m2m_response_t *out) {
  memset(out, 0, sizeof *out);
  params_t p;
  memset(&p, 0, sizeof p);
  ft_key_t keys[2]; /* [0] the client id, [1] the address */
  memset(keys, 0, sizeof keys);

  if (!m || !req) {
    answer(out, 500, GW_M2M_SERVER_ERROR, "server_error", "internal error");
    return;
  }
  if (!req->method || strcmp(req->method, "POST") != 0) {
    out->allow = "POST";
    answer(out, 405, GW_M2M_METHOD, "invalid_request", "the token endpoint accepts POST only");
    return;
  }
  if (req->body_too_large || req->body_len > GW_M2M_MAX_BODY) {
    answer(out, 413, GW_M2M_TOO_LARGE, "invalid_request", "the request body is too large");
    return;
  }
  bool limit = m->max_failures > 0;
  if (limit && req->client_addr && req->client_addr[0]) {
    addr_key(req->client_addr, &keys[1]);
    /* Cheap early refusal, before any parsing or hashing. */
    unsigned retry = 0;
    pthread_mutex_lock(&m->ft.mu);
    uint32_t i = ft_find(&m->ft, keys[1].key);
    if (i != FT_NONE) {
      ft_refresh(&m->ft.e[i], now, m->lockout_s);
      if (m->ft.e[i].locked_until) retry = (unsigned)(m->ft.e[i].locked_until - now);
    }
    pthread_mutex_unlock(&m->ft.mu);
    if (retry) {
      out->retry_after_s = retry;
      answer(out, 429, GW_M2M_LOCKED_ADDRESS, "slow_down",
             "too many failed authentications; retry later");
      return;
    }
  }

  int a = parse_authorization(req->authorization, &p);
  if (a == -3) {
    answer(out, 401, GW_M2M_NO_CLIENT_AUTH, "invalid_client",
           "unsupported client authentication method: use HTTP Basic or client_id and "
           "client_secret in the body");
    goto done;
  }
  if (a == -2) goto oom;
  if (a == -1) {
    answer(out, 400, GW_M2M_MALFORMED, "invalid_request", p.why);
    goto done;
  }

  if (req->body_len > 0) {
    const char *ct = req->content_type ? req->content_type : "";
    int r;
    if (media_is(ct, "application/json"))
      r = parse_json(req->body, req->body_len, &p);
    else if (media_is(ct, "application/x-www-form-urlencoded"))
      r = parse_form(req->body, req->body_len, &p);
    else {
      r = -1;
      p.why = "Content-Type must be application/json or application/x-www-form-urlencoded";
    }
    if (r == -2) goto oom;
    if (r != 0) {
      answer(out, 400, GW_M2M_MALFORMED, "invalid_request", p.why);
      goto done;
    }
  }

  if (!p.v[P_GRANT]) {
    if (!(p.basic && req->body_len == 0)) {
      answer(out, 400, GW_M2M_MALFORMED, "invalid_request", "grant_type is missing");
      goto done;
    }
  } else if (strcmp(p.v[P_GRANT], "client_credentials") != 0) {
    answer(out, 400, GW_M2M_UNSUPPORTED_GRANT, "unsupported_grant_type",
           "only grant_type client_credentials is supported");
    goto done;
  }

  const char *id, *secret;
  size_t id_len, secret_len;
  if (p.basic) {
    if (p.v[P_SECRET] || (p.v[P_ID] && (p.len[P_ID] != p.basic_id_len ||
                                        memcmp(p.v[P_ID], p.basic_id, p.basic_id_len) != 0))) {
      answer(out, 400, GW_M2M_MALFORMED, "invalid_request",
             "client credentials must be sent either with HTTP Basic or in the body, not both");
      goto done;
    }
    id = p.basic_id, id_len = p.basic_id_len;
    secret = p.basic_secret, secret_len = p.basic_secret_len;
  } else if (p.v[P_ID] && p.v[P_SECRET]) {
    if (p.len[P_ID] == 0) {
      answer(out, 400, GW_M2M_MALFORMED, "invalid_request", "client_id is empty");
      goto done;
    }
    id = p.v[P_ID], id_len = p.len[P_ID];
    secret = p.v[P_SECRET], secret_len = p.len[P_SECRET];
  } else if (p.v[P_ID] || p.v[P_SECRET]) {
    answer(out, 400, GW_M2M_MALFORMED, "invalid_request",
           p.v[P_ID] ? "client_secret is missing" : "client_id is missing");
    goto done;
  } else {
    answer(out, 401, GW_M2M_NO_CLIENT_AUTH, "invalid_client",
           "client authentication is required: HTTP Basic, or client_id and client_secret "
           "in the body");
    goto done;
  }

  const m2m_client_t *cl = find_client(m, id, id_len);
  if (cl) memcpy(out->client_id, cl->id, cl->id_len + 1);

  if (limit) {
    client_key(id, id_len, &keys[0]);
    size_t which = 0;
    unsigned retry = ft_begin(m, keys, 2, now, &which);
    if (retry) {
      out->retry_after_s = retry;
      answer(out, 429, which == 0 ? GW_M2M_LOCKED_CLIENT : GW_M2M_LOCKED_ADDRESS, "slow_down",
             "too many failed authentications; retry later");
      goto done;
    }
  }
  int ok = check_secret(cl ? cl : &m->dummy, secret, secret_len) && cl;
  if (limit) {
    unsigned locked = ft_end(m, keys, 2, now, !ok);
    if (locked & 1u) log_lockout(m, "client id", id, id_len);
    if (locked & 2u) log_lockout(m, "address", req->client_addr, strlen(req->client_addr));
  }
  if (!ok) {
    answer(out, 401, cl ? GW_M2M_BAD_SECRET : GW_M2M_UNKNOWN_CLIENT, "invalid_client",
           "client authentication failed");
    goto done;
  }

  char bad[72];
  int invalid = 0;
  char *scope = grant_scopes(cl, p.v[P_SCOPE], p.len[P_SCOPE], bad, sizeof bad, &invalid);
  if (!scope && invalid) {
    char desc[160];
    if (bad[0])
      snprintf(desc, sizeof desc, "scope '%s' is not granted to this client", bad);
    else
      snprintf(desc, sizeof desc, "a requested scope is not granted to this client");
    answer(out, 400, GW_M2M_INVALID_SCOPE, "invalid_scope", desc);
    goto done;
  }
  if (!scope) goto oom;
  char *tok = sign_token(m, cl, scope, now);
  if (!tok) {
    free(scope);
    goto oom;
  }
  out->status = 200;
  out->outcome = GW_M2M_ISSUED;
  set_body(out, json_pack("{s:s, s:s, s:I, s:s}", "access_token", tok, "token_type", "Bearer",
                          "expires_in", (json_int_t)m->lifetime_s, "scope", scope));
  free(tok);
  free(scope);
  goto done;

oom:
  out->www_authenticate = NULL;
  out->allow = NULL;
  out->retry_after_s = 0;
  answer(out, 500, GW_M2M_SERVER_ERROR, "server_error", "internal error");
done:
  params_free(&p);
}
