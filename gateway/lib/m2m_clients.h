/* m2m_clients: the clients file of the token issuer ([m2m] clients = ...),
 * the clients' secret hashes and their scopes. The file's syntax and its
 * errors are described in m2m.h; m2m_hash_secret() (declared there) is
 * implemented here. Read-only after loading, so safe on any thread. */
#ifndef GW_M2M_CLIENTS_H
#define GW_M2M_CLIENTS_H

#include <stddef.h>

#include "config.h"
#include "m2m-t.h"

/* Reads cfg->m2m.clients_file. 0 with *out (n entries, free with
 * m2m_clients_free) or -1 with every problem added to errs as
 * "FILE:LINE: message" (and *out NULL, *n 0). */
int m2m_clients_load(const gw_config_t *cfg, gw_errors_t *errs, m2m_client_t **out, size_t *n);
void m2m_clients_free(m2m_client_t *c, size_t n);

/* The client with id[0..len), or NULL. */
const m2m_client_t *m2m_client_find(const m2m_client_t *c, size_t n, const char *id, size_t len);

/* Fills *d as the stand-in for an unknown client id: a random hash no
 * secret matches, as slow as the slowest of c[0..n). 0, or -1 when the
 * random generator fails. */
int m2m_client_dummy(m2m_client_t *d, const m2m_client_t *c, size_t n);

/* 1 when secret[0..n) matches cl's hash. Always runs the full PBKDF2, and
 * compares in constant time. */
int m2m_client_check_secret(const m2m_client_t *cl, const char *secret, size_t n);

/* The granted scope text (free it): the client's scopes in their order,
 * narrowed to those that req[0..rlen) names (space-separated) when it names
 * any. NULL with *invalid = 1 when req names a scope the client lacks: bad
 * (badcap bytes) gets that scope when it is a valid scope-token that fits,
 * else "". NULL with *invalid = 0 when out of memory. */
char *m2m_client_grant_scopes(const m2m_client_t *cl, const char *req, size_t rlen, char *bad,
                              size_t badcap, int *invalid);

#endif
