/* m2m-t.h: the types that the files of the token issuer share (m2m.c, the
 * issuer; m2m_clients.c, the clients file; m2m_limits.c, the failure table;
 * m2m_req.c, the request parser). Types only: each file's functions are in
 * its own header. Not for the rest of the gateway, which uses m2m.h. */
#ifndef GW_M2M_T_H
#define GW_M2M_T_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of the longest PBKDF2 output, also of the longest salt (not to be
 * confused with GW_M2M_HASH_MAX, the length of a hash string). */
#define M2M_HASH_BYTES_MAX 64
#define M2M_MAX_CLIENT_SCOPES 64

/* One [client:ID] of the clients file. */
typedef struct {
  char *id;
  size_t id_len;
  unsigned iterations;
  unsigned char salt[M2M_HASH_BYTES_MAX];
  size_t salt_len;
  unsigned char hash[M2M_HASH_BYTES_MAX];
  size_t hash_len;
  char **scopes; /* NULL-terminated */
  size_t nscopes;
  int line, secret_line, scopes_line;
} m2m_client_t;

/* ---- The failure table (m2m_limits.h) ---- */

#define M2M_FT_BUCKETS 4096u

/* One failure counter: a client id or an address, by SHA-256 prefix. */
typedef struct {
  unsigned char key[16];
  uint32_t hnext;               /* bucket chain (index), M2M_FT_NONE at the end; free list too */
  uint32_t prev, next;          /* LRU list: head = most recently touched */
  uint32_t count;               /* failures in the current window */
  uint32_t inflight;            /* attempts being checked right now */
  int64_t window_start;
  int64_t locked_until;         /* 0 = not locked */
} m2m_ft_entry_t;

typedef struct {
  pthread_mutex_t mu;
  unsigned max_failures;        /* 0: counting is off */
  int64_t lockout_s;            /* >= 1 */
  m2m_ft_entry_t *e;
  uint32_t n, cap;              /* used slots (incl. free ones), allocated slots */
  uint32_t free_head;
  uint32_t head, tail;
  uint32_t live;
  uint32_t buckets[M2M_FT_BUCKETS];
} m2m_limits_t;

/* What the table counts under: a digest of a client id and address pair,
 * of an address, or of a client id. */
typedef struct {
  unsigned char key[16];
  int used;                     /* 0: skip this slot */
  unsigned factor;              /* locks after max_failures times this (0 counts as 1) */
} m2m_limit_key_t;

/* ---- A parsed token request (m2m_req.h) ---- */

enum { M2M_P_GRANT, M2M_P_ID, M2M_P_SECRET, M2M_P_SCOPE, M2M_P_N };

typedef struct {
  /* Body parameters grant_type, client_id, client_secret, scope (in the
   * order of the enum above): NUL-terminated, no NUL inside, len[k] ==
   * strlen(v[k]); NULL when absent. */
  char *v[M2M_P_N];
  size_t len[M2M_P_N];
  /* HTTP Basic: set (both non-NULL, id not empty) when basic is 1. */
  char *basic_id, *basic_secret;
  size_t basic_id_len, basic_secret_len;
  int basic;
  const char *why; /* static: the invalid_request description */
} m2m_params_t;

#endif
