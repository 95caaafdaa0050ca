/* tls: TLS over memory BIOs, so the event loop keeps owning the sockets.
 *
 * This is the transport seam: a connection with a gw_tls_t feeds the bytes
 * it read from the socket to tls_feed() and gets plaintext back; plaintext
 * to send goes through tls_write(), and tls_take() hands over the records
 * (handshake, application data, alerts) to write to the socket. Code above
 * (HTTP parsing, proxying) does not know which transport it talks to.
 *
 * Contexts: the server context (tls_listen) and one client context per
 * https upstream or JWKS URL, all built at configuration load so a bad
 * certificate is a configuration error (and a failed reload keeps the old
 * one). TLS 1.2 and 1.3 only. */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "config.h"

typedef struct gw_tls gw_tls_t;

/* Server side of tls_listen: the default certificate ([server] tls_cert) and
 * one context per [tls:NAME], picked by SNI; ALPN http/1.1; session tickets
 * with keys rotating every tls_ticket_rotate. Owned by a snapshot, so the
 * contexts (and the server_names they point into) live as long as it. */
typedef struct gw_tls_server gw_tls_server_t;
typedef struct {
  const gw_tls_server_t *srv;
  SSL_CTX *ctx;
  char *const *names; /* the config's server_names; NULL for the default */
  char tag[72];       /* "gw" or "gw/NAME": session id context, ticket key label */
} gw_tls_cert_t;
struct gw_tls_server {
  gw_tls_cert_t *certs; /* [0]: default; then one per [tls:NAME] */
  size_t ncerts;
  uint64_t ticket_rotate_s;
  unsigned char ticket_secret[32]; /* the process's, or from tls_ticket_key_file */
  int ticket_ok;
  int ticket_wallclock; /* periods by the real-time clock: instances must agree */
};
/* The context new connections start with. */
SSL_CTX *tls_server_ctx(const gw_tls_server_t *srv);

/* NULL with errs filled on failure. */
gw_tls_server_t *tls_server_new(const gw_config_t *cfg, const char *cfg_path, gw_errors_t *errs);
void tls_server_free(gw_tls_server_t *srv);
/* Client: peer verified against ca_file or the system store; optional
 * client certificate. */
SSL_CTX *tls_client_ctx(const char *ca_file, const char *cert_file, const char *key_file,
                        const char *cfg_path, int line, gw_errors_t *errs);

gw_tls_t *tls_new_server(SSL_CTX *ctx);
/* host: sent as SNI (unless numeric) and verified against the certificate. */
gw_tls_t *tls_new_client(SSL_CTX *ctx, const char *host);
void tls_free(gw_tls_t *t);

typedef void (*tls_plain_fn)(void *ud, const char *p, size_t n);

/* Feeds ciphertext; calls out for the plaintext it yields (possibly several
 * times, possibly none while handshaking). Returns 0, or -1 on a fatal error
 * (bad record, failed handshake or verification) with *why set to a static
 * or per-connection text. After -1 the connection must be closed (after
 * writing what tls_take() still has: an alert).
 * A feed may leave records to send even when it yields no plaintext and the
 * handshake is not done: a TLS 1.2 client's second flight (key exchange,
 * ChangeCipherSpec, Finished) goes out while it still waits for the server's
 * Finished. So after every feed the caller sends what tls_take() has. */
int tls_feed(gw_tls_t *t, const char *data, size_t n, tls_plain_fn out, void *ud,
             const char **why);
/* Encrypts plaintext (handshake must be done, or it is kept until it is).
 * Returns 0 or -1. */
int tls_write(gw_tls_t *t, const char *data, size_t n);
/* Starts the handshake of a client connection (its ClientHello). */
int tls_connect(gw_tls_t *t);
/* Moves pending records into *buf (grown with realloc; len and cap updated).
 * Returns the number of bytes moved, or -1 when out of memory. */
long tls_take(gw_tls_t *t, char **buf, size_t *len, size_t *cap);
int tls_handshake_done(const gw_tls_t *t);
/* 1 when the peer ended the session with close_notify (tls_feed returned -1
 * for it): the authenticated end of the stream, which ends a response
 * delimited by the connection's close, unlike a failure. */
int tls_peer_closed(const gw_tls_t *t);
/* Queues a close_notify alert (to be sent with tls_take). */
void tls_shutdown(gw_tls_t *t);
/* 1 when data starts like a plaintext HTTP request line. */
int tls_looks_like_http(const char *data, size_t n);

#endif
