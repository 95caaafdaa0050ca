#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#define DEFAULT_CIPHERS                                                                     \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:" \
  "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct gw_tls {
  SSL *ssl;
  BIO *rbio; /* ciphertext from the socket */
  BIO *wbio; /* ciphertext to the socket */
  int done;
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

SSL_CTX *tls_server_ctx(const gw_config_t *cfg, const char *cfg_path, gw_errors_t *errs) {
  const char *cert_file = cfg->tls_cert, *key_file = cfg->tls_key, *ciphers = cfg->tls_ciphers;
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) {
    ssl_error(errs, cfg_path, cfg->tls_cert_line, "cannot create TLS context", NULL);
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
    ssl_error(errs, cfg_path, cfg->tls_cert_line, "cannot load tls_cert", cert_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    ssl_error(errs, cfg_path, cfg->tls_key_line, "cannot load tls_key", key_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ssl_error(errs, cfg_path, cfg->tls_cert_line, "tls_key does not match tls_cert", key_file);
    SSL_CTX_free(ctx);
    return NULL;
  }
  SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
  /* Stateless tickets (OpenSSL's default keys are random per context, so a
   * reload, which builds a new context, rotates them) plus a session cache. */
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_timeout(ctx, 3600);
  static const unsigned char sid[] = "gateway";
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
  return ctx;
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
    if (e == SSL_ERROR_ZERO_RETURN) {
      *why = "peer closed the TLS session";
      return -1;
    }
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
