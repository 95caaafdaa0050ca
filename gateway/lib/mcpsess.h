/* mcpsess: MCP sessions bound to the caller without shared state. The
 * client never sees the MCP server's session id alone: it gets
 * "<server id>.<MAC>", the MAC an HMAC-SHA256 (cut to 128 bits, base64url)
 * over the server id and the principal (iss, sub, client_id) whose request
 * received it. On the way in the gateway checks the MAC against the
 * caller's principal and hands the server its own id back. So another
 * principal reusing an id, or an id the gateway never handed out, is
 * refused, a refreshed token of the same principal keeps its session, and
 * any instance holding the key (session_key_file) can check any binding:
 * reloads, restarts and several instances need no store. The token itself
 * is never part of it (a refresh would end the session). */
#ifndef GW_MCPSESS_H
#define GW_MCPSESS_H

#include <stddef.h>

#define MCPSESS_KEY_LEN 32
#define MCPSESS_MAC_CHARS 22 /* 128 bits in base64url */
#define MCPSESS_SID_MAX 512  /* longest server session id bound */
#define MCPSESS_PRINCIPAL_MAX 1600

/* This process's random key (the same for every caller, made once). */
const unsigned char *mcpsess_process_key(void);
/* The key from a file of at least 32 bytes of secret (e.g. `openssl rand
 * -hex 32`), hashed to 32 bytes: 0, or -1 with why set. */
int mcpsess_key_from_file(const char *path, unsigned char key[MCPSESS_KEY_LEN], char *why, size_t cap);

/* The principal as length-prefixed fields, into out: its length, or 0 when
 * it does not fit. */
size_t mcpsess_principal(char *out, size_t cap, const char *iss, size_t isslen, const char *sub,
                         size_t sublen, const char *cid, size_t cidlen);

/* "<sid>.<MAC>" into out: its length, or 0 when sid is empty, too long, or
 * out too small (cap >= sidlen + 1 + MCPSESS_MAC_CHARS). */
size_t mcpsess_bind(const unsigned char key[MCPSESS_KEY_LEN], const char *princ, size_t plen,
                    const char *sid, size_t sidlen, char *out, size_t cap);
/* 1 when presented is a binding for princ (compared in constant time);
 * *sidlen gets the length of the server's id, a prefix of presented. */
int mcpsess_check(const unsigned char key[MCPSESS_KEY_LEN], const char *princ, size_t plen,
                  const char *presented, size_t n, size_t *sidlen);

#endif
