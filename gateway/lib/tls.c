#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <time.h>

#include <arpa/inet.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "fileio.h"

#define DEFAULT_CIPHERS                                                                     \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
  "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct gw_tls {
  SSL *ssl;
  BIO *rbio; /* ciphertext from the socket */
  BIO *wbio; /* ciphertext to the socket */
  int done;
  int closed; /* the peer's close_notify arrived */
  char why[160];
};

static void ssl_error(gw_errors_t *errs, const char *cfg_path, int line, const char *what,
                      const char *file) {
  unsigned long e = ERR_get_error();
  char buf[256] = "";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  gw_errors_add(errs, cfg_path, line, "%s %s: %s", what, file ? file : "", buf[0] ? buf : "failed");
}

/* ALPN: this gateway speaks HTTP/1.1 only. A client offering only h2 gets
 * no ALPN answer rather than a failed handshake (RFC 7301 allows either). */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl;
  (void)arg;
  for (unsigned int i = 0; i + 1 <= inlen;) {
    unsigned int n = in[i];
    if (i + 1 + n > inlen) break;
    if (n == 8 && memcmp(in + i + 1, "http/1.1", 8) == 0) {
      *out = in + i + 1;
      *outlen = (unsigned char)n;
      return SSL_TLSEXT_ERR_OK;
    }
    i += 1 + n;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

/* --- session tickets ---------------------------------------------------
 * Ticket keys are derived, not stored: the key for certificate C and period
 * E (monotonic seconds divided by tls_ticket_rotate) is HMAC-SHA256 of a
 * random per-process secret, C's tag and E. So every worker thread agrees
 * on them without locks or timers, a period's key exists only while the
 * callback runs, a ticket sealed in period E opens in E and E+1 only
 * (renewed in E+1), and a ticket made for one certificate opens under no
 * other. The secret outlives reloads, so a SIGHUP does not cost every client
 * a full handshake; a restart does.
 *
 * [server] tls_ticket_key_file (nginx's format, 48 or 80 random bytes)
 * replaces the random secret by the SHA-256 of the file, and periods are
 * then counted on the real-time clock: every instance that reads the same
 * file makes and opens the same tickets. Rotation: write a new file on
 * every instance and reload; tickets sealed under the old one cost their
 * clients one full handshake. */
static unsigned char ticket_secret[32];
static int ticket_secret_ok;
static pthread_once_t ticket_once = PTHREAD_ONCE_INIT;

static void ticket_secret_init(void) {
  ticket_secret_ok = RAND_bytes(ticket_secret, sizeof ticket_secret) == 1;
}

static int derive(const gw_tls_server_t *srv, const char *label, const char *tag, uint64_t epoch,
                  unsigned char out[32]) {
  unsigned char msg[8 + sizeof ((gw_tls_cert_t *)0)->tag + 8] = {0};
  size_t tl = strnlen(tag, sizeof ((gw_tls_cert_t *)0)->tag);
  memcpy(msg, label, strnlen(label, 8));
  memcpy(msg + 8, tag, tl);
  for (int i = 0; i < 8; i++) msg[8 + tl + i] = (unsigned char)(epoch >> (56 - 8 * i));
  unsigned int n = 32;
  return HMAC(EVP_sha256(), srv->ticket_secret, sizeof srv->ticket_secret, msg, 16 + tl, out, &n) !=
         NULL;
}

static int ticket_cb(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc) {
  /* The client hello callback has already moved ssl to its certificate's
   * context, so this is the certificate the ticket is (or was) made for. */
  const gw_tls_cert_t *cert = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
  if (!cert || !cert->srv->ticket_ok) return enc ? -1 : 0;
  const gw_tls_server_t *srv = cert->srv;
  struct timespec ts;
  clock_gettime(srv->ticket_wallclock ? CLOCK_REALTIME : CLOCK_MONOTONIC, &ts);
  uint64_t now = (uint64_t)ts.tv_sec / cert->srv->ticket_rotate_s, epoch = now;
  unsigned char prefix[32];
  if (!derive(srv, "name", cert->tag, 0, prefix)) return -1;
  if (enc) {
    memcpy(name, prefix, 8);
    for (int i = 0; i < 8; i++) name[8 + i] = (unsigned char)(now >> (56 - 8 * i));
    if (RAND_bytes(iv, 16) != 1) return -1;
  } else {
    if (memcmp(name, prefix, 8) != 0) return 0; /* another certificate or process */
    epoch = 0;
    for (int i = 0; i < 8; i++) epoch = epoch << 8 | name[8 + i];
    /* Too old, or from the future; instances sharing a key file may sit a
     * little apart across a period boundary. */
    if (epoch != now && epoch + 1 != now && !(srv->ticket_wallclock && epoch == now + 1)) return 0;
  }
  unsigned char aes[32], mac[32];
  int ok = derive(srv, "aes", cert->tag, epoch, aes) && derive(srv, "mac", cert->tag, epoch, mac);
  if (ok) {
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, mac, sizeof mac),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    ok = EVP_MAC_CTX_set_params(hctx, params) == 1 &&
         (enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, aes, iv)
              : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, aes, iv)) == 1;
  }
  OPENSSL_cleanse(aes, sizeof aes);
  OPENSSL_cleanse(mac, sizeof mac);
  if (!ok) return -1;
  return enc || epoch == now ? 1 : 2;
}

/* --- SNI --------------------------------------------------------------- */

static const gw_tls_cert_t *sni_lookup(const gw_tls_server_t *srv, const unsigned char *host,
                                       size_t n) {
  char name[256];
  if (n == 0 || n >= sizeof name) return NULL;
  for (size_t i = 0; i < n; i++) {
    if (host[i] == 0) return NULL;
    name[i] = host[i] >= 'A' && host[i] <= 'Z' ? (char)(host[i] + 32) : (char)host[i];
  }
  name[n] = 0;
  const char *dot = strchr(name, '.');
  for (size_t i = 1; i < srv->ncerts; i++) {
    for (char *const *sn = srv->certs[i].names; *sn; sn++) {
      const char *pat = *sn;
      if (strcmp(pat, name) == 0) return &srv->certs[i];
      /* "*.example.com" stands for exactly one label, never an empty one. */
      if (pat[0] == '*' && dot && dot != name && strcmp(pat + 1, dot) == 0) return &srv->certs[i];
    }
  }
  return NULL;
}

/* The certificate is chosen when the ClientHello arrives, before OpenSSL
 * looks at sessions and tickets: then session ids and tickets are checked
 * against the chosen certificate's context, and one made under another
 * certificate is not resumed. A name no [tls:NAME] lists (or no SNI) keeps
 * the default certificate, as nginx's default server does, rather than
 * failing the handshake. The extension is read from the client's bytes, so
 * every length is checked. */
static int client_hello(SSL *ssl, int *alert, void *arg) {
  (void)alert;
  const gw_tls_server_t *srv = arg;
  const unsigned char *p;
  size_t len;
  if (srv->ncerts < 2 || !SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len))
    return SSL_CLIENT_HELLO_SUCCESS;
  /* ServerNameList: u16 length, then entries of u8 type, u16 length, name. */
  if (len < 2 || (size_t)(p[0] << 8 | p[1]) != len - 2) return SSL_CLIENT_HELLO_SUCCESS;
  for (size_t i = 2; i + 3 <= len;) {
    size_t n = (size_t)(p[i + 1] << 8 | p[i + 2]);
    if (i + 3 + n > len) break;
    if (p[i] == TLSEXT_NAMETYPE_host_name) {
      const gw_tls_cert_t *c = sni_lookup(srv, p + i + 3, n);
      if (c) SSL_set_SSL_CTX(ssl, c->ctx);
      break;
    }
    i += 3 + n;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

/* One context per certificate, all with the same protocol settings: after
 * SNI switches the context, OpenSSL reads ALPN and ticket callbacks from the
 * new one. */
static SSL_CTX *server_ctx(gw_tls_cert_t *cert, const gw_config_t *cfg, const char *cert_file,
                           int cert_line, const char *key_file, int key_line,
                           const char *cfg_path, gw_errors_t *errs) {
  const char *ciphers = cfg->tls_ciphers;
  int dflt = cert->names == NULL; /* errors name the keys as written */
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    ssl_error(errs, cfg_path, cert_line, "cannot create TLS context", NULL);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* Renegotiation and compression are attack surface with no use here. */
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (!SSL_CTX_set_cipher_list(ctx, ciphers && *ciphers ? ciphers : DEFAULT_CIPHERS)) {
    ssl_error(errs, cfg_path, cfg->tls_ciphers_line, "invalid tls_ciphers", ciphers);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
    ssl_error(errs, cfg_path, cert_line, dflt ? "cannot load tls_cert" : "cannot load cert",
              cert_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    ssl_error(errs, cfg_path, key_line, dflt ? "cannot load tls_key" : "cannot load key",
              key_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ssl_error(errs, cfg_path, key_line,
              dflt ? "tls_key does not match tls_cert" : "key does not match cert", key_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_app_data(ctx, cert);
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  /* A ticket's key lives one to two periods; the session as long. */
  SSL_CTX_set_timeout(ctx, (long)(2 * cert->srv->ticket_rotate_s));
  unsigned char sid[32];
  SHA256((const unsigned char *)cert->tag, strlen(cert->tag), sid);
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid);
  return ctx;
}

SSL_CTX *tls_server_ctx(const gw_tls_server_t *srv) { return srv->certs[0].ctx; }

static int ticket_key_file(gw_tls_server_t *srv, const gw_config_t *cfg, const char *cfg_path,
                           gw_errors_t *errs) {
  char *buf = NULL, why[128];
  size_t len = 0;
  int rc = gw_read_file(cfg->tls_ticket_key_file, 81, &buf, &len, why, sizeof why);
  if (rc == 0 && len != 48 && len != 80) {
    snprintf(why, sizeof why, "%zu bytes; expected 80 (or 48) random bytes, e.g. openssl rand 80", len);
    rc = -1;
  }
  if (rc == 0) {
    SHA256((const unsigned char *)buf, len, srv->ticket_secret);
    srv->ticket_ok = 1;
    srv->ticket_wallclock = 1;
  } else {
    gw_errors_add(errs, cfg_path, cfg->tls_ticket_key_file_line, "tls_ticket_key_file %s: %s",
                  cfg->tls_ticket_key_file, why);
  }
  if (buf) OPENSSL_cleanse(buf, len);
  free(buf);
  return rc == 0 ? 0 : -1;
}

gw_tls_server_t *tls_server_new(const gw_config_t *cfg, const char *cfg_path, gw_errors_t *errs) {
  pthread_once(&ticket_once, ticket_secret_init);
  gw_tls_server_t *srv = calloc(1, sizeof *srv);
  if (srv) srv->certs = calloc(1 + cfg->ntls_certs, sizeof *srv->certs);
  if (!srv || !srv->certs) {
    free(srv);
    gw_errors_add(errs, cfg_path, 0, "out of memory");
    return NULL;
  }
  srv->ticket_rotate_s = cfg->tls_ticket_rotate_ms / 1000 ? cfg->tls_ticket_rotate_ms / 1000 : 3600;
  memcpy(srv->ticket_secret, ticket_secret, sizeof ticket_secret);
  srv->ticket_ok = ticket_secret_ok;
  if (cfg->tls_ticket_key_file && ticket_key_file(srv, cfg, cfg_path, errs) != 0) {
    free(srv->certs);
    free(srv);
    return NULL;
  }
  for (size_t i = 0; i <= cfg->ntls_certs; i++) {
    gw_tls_cert_t *c = &srv->certs[i];
    const gw_tls_cert_cfg_t *t = i ? &cfg->tls_certs[i - 1] : NULL;
    c->srv = srv;
    c->names = t ? t->server_names : NULL;
    snprintf(c->tag, sizeof c->tag, "gw%s%s", t ? "/" : "", t ? t->name : "");
    c->ctx = t ? server_ctx(c, cfg, t->cert, t->cert_line, t->key, t->key_line, cfg_path, errs)
               : server_ctx(c, cfg, cfg->tls_cert, cfg->tls_cert_line, cfg->tls_key,
                            cfg->tls_key_line, cfg_path, errs);
    srv->ncerts++;
  }
  if (errs->n) {
    tls_server_free(srv);
    return NULL;
  }
  SSL_CTX_set_client_hello_cb(srv->certs[0].ctx, client_hello, srv);
  return srv;
}

void tls_server_free(gw_tls_server_t *srv) {
  if (!srv) return;
  for (size_t i = 0; i < srv->ncerts; i++) SSL_CTX_free(srv->certs[i].ctx);
  free(srv->certs);
  OPENSSL_cleanse(srv->ticket_secret, sizeof srv->ticket_secret);
  free(srv);
}

SSL_CTX *tls_client_ctx(const char *ca_file, const char *cert_file, const char *key_file,
                        const char *cfg_path, int line, gw_errors_t *errs) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    ssl_error(errs, cfg_path, line, "cannot create TLS context", NULL);
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
                   : SSL_CTX_set_default_verify_paths(ctx);
  if (ok != 1) {
    ssl_error(errs, cfg_path, line, "cannot load CA bundle", ca_file ? ca_file : "(system)");
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (cert_file) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
      ssl_error(errs, cfg_path, line, "cannot load client_cert/client_key", cert_file);
      SSL_CTX_free(ctx);
      return NULL;
    }
  }
  static const unsigned char alpn[] = "\x08http/1.1";
  SSL_CTX_set_alpn_protos(ctx, alpn, sizeof alpn - 1);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return ctx;
}

static gw_tls_t *tls_new(SSL_CTX *ctx) {
  gw_tls_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->ssl = SSL_new(ctx);
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->ssl || !t->rbio || !t->wbio) {
    if (t->ssl) SSL_free(t->ssl);
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    free(t);
    ERR_clear_error();
    return NULL;
  }
  /* An empty memory BIO means "no data yet", not end of file. */
  BIO_set_mem_eof_return(t->rbio, -1);
  BIO_set_mem_eof_return(t->wbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  return t;
}

gw_tls_t *tls_new_server(SSL_CTX *ctx) {
  gw_tls_t *t = tls_new(ctx);
  if (t) SSL_set_accept_state(t->ssl);
  return t;
}

static int is_ip_literal(const char *host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

gw_tls_t *tls_new_client(SSL_CTX *ctx, const char *host) {
  gw_tls_t *t = tls_new(ctx);
  if (!t) return NULL;
  SSL_set_connect_state(t->ssl);
  if (is_ip_literal(host)) {
    X509_VERIFY_PARAM *p = SSL_get0_param(t->ssl);
    X509_VERIFY_PARAM_set1_ip_asc(p, host);
  } else {
    SSL_set_tlsext_host_name(t->ssl, host);
    SSL_set1_host(t->ssl, host);
  }
  return t;
}

void tls_free(gw_tls_t *t) {
  if (!t) return;
  SSL_free(t->ssl); /* frees both BIOs */
  free(t);
  ERR_clear_error();
}

static const char *fail(gw_tls_t *t, int rc) {
  int e = SSL_get_error(t->ssl, rc);
  long v = SSL_get_verify_result(t->ssl);
  unsigned long ee = ERR_peek_error();
  if (v != X509_V_OK && !t->done) {
    snprintf(t->why, sizeof t->why, "certificate verification failed: %s",
             X509_verify_cert_error_string(v));
  } else if (ee) {
    char buf[120];
    ERR_error_string_n(ee, buf, sizeof buf);
    snprintf(t->why, sizeof t->why, "TLS error: %s", buf);
  } else {
    snprintf(t->why, sizeof t->why, "TLS error %d", e);
  }
  ERR_clear_error();
  return t->why;
}

static int peer_closed(gw_tls_t *t, const char **why) {
  t->closed = 1;
  ERR_clear_error();
  *why = "peer closed the TLS session";
  return -1;
}

int tls_feed(gw_tls_t *t, const char *data, size_t n, tls_plain_fn out, void *ud,
             const char **why) {
  if (n && BIO_write(t->rbio, data, (int)n) != (int)n) {
    *why = "out of memory";
    return -1;
  }
  if (!t->done) {
    int rc = SSL_do_handshake(t->ssl);
    if (rc != 1) {
      int e = SSL_get_error(t->ssl, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
      if (e == SSL_ERROR_ZERO_RETURN) return peer_closed(t, why);
      *why = fail(t, rc);
      return -1;
    }
    t->done = 1;
  }
  char buf[16384];
  for (;;) {
    int rc = SSL_read(t->ssl, buf, sizeof buf);
    if (rc > 0) {
      out(ud, buf, (size_t)rc);
      continue;
    }
    int e = SSL_get_error(t->ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
    if (e == SSL_ERROR_ZERO_RETURN) return peer_closed(t, why);
    *why = fail(t, rc);
    return -1;
  }
}

int tls_write(gw_tls_t *t, const char *data, size_t n) {
  while (n > 0) {
    int chunk = n > 1u << 30 ? 1 << 30 : (int)n;
    int rc = SSL_write(t->ssl, data, chunk);
    if (rc <= 0) {
      ERR_clear_error();
      return -1;
    }
    data += rc;
    n -= (size_t)rc;
  }
  return 0;
}

int tls_connect(gw_tls_t *t) {
  int rc = SSL_do_handshake(t->ssl);
  if (rc == 1) {
    t->done = 1;
    return 0;
  }
  int e = SSL_get_error(t->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return 0;
  ERR_clear_error();
  return -1;
}

long tls_take(gw_tls_t *t, char **buf, size_t *len, size_t *cap) {
  size_t pending = BIO_ctrl_pending(t->wbio);
  if (pending == 0) return 0;
  if (*len + pending > *cap) {
    size_t nc = *cap ? *cap : 4096;
    while (nc < *len + pending) nc *= 2;
    char *p = realloc(*buf, nc);
    if (!p) return -1;
    *buf = p;
    *cap = nc;
  }
  int rc = BIO_read(t->wbio, *buf + *len, (int)pending);
  if (rc <= 0) return 0;
  *len += (size_t)rc;
  return rc;
}

int tls_handshake_done(const gw_tls_t *t) { return t->done; }

int tls_peer_closed(const gw_tls_t *t) { return t->closed; }

void tls_shutdown(gw_tls_t *t) {
  if (t->done) SSL_shutdown(t->ssl);
  ERR_clear_error();
}

int tls_looks_like_http(const char *data, size_t n) {
  /* A TLS record starts with a content type byte (0x14..0x18); an HTTP
   * request line starts with an upper-case method. */
  size_t i = 0;
  while (i < n && i < 8 && data[i] >= 'A' && data[i] <= 'Z') i++;
  return i >= 3 && (i == n || data[i] == ' ');
}
