/* revoke: the revocation store (SPEC "Revocation, rate limits and several
 * instances"). A revocation names some of iss, sub, client_id and jti and a
 * time `before`; it refuses every token whose named claims all match and
 * whose iat is before `before` (a token without iat: refused).
 *
 * Shared by every worker of the process and read on every request that
 * carries a token, written rarely (admin API, SSF, the cluster): a
 * read-write lock, and one hash index over (which fields are named, their
 * values), so a check is one lookup per combination of fields in use (at
 * most 15, usually one or two) whatever the number of entries. Entries
 * expire `retain` after max(made, before): by then every token they could
 * refuse has expired too. */
#ifndef GW_REVOKE_H
#define GW_REVOKE_H

#include <stddef.h>
#include <stdint.h>

enum { GW_REV_ISS = 0, GW_REV_SUB, GW_REV_CLIENT, GW_REV_JTI, GW_REV_NFIELDS };

#define GW_REV_MAX_FIELD 1024 /* bytes per named value */

/* One revocation. f[k] NULL: field k is not named. */
typedef struct {
  char id[17];          /* 16 hex digits, unique across instances (random) */
  const char *f[GW_REV_NFIELDS];
  size_t len[GW_REV_NFIELDS];
  int64_t before;       /* Unix seconds */
  int64_t created;
  int64_t expires;
} gw_revocation_t;

/* What a token offers the check. f[k] NULL: the token has no such claim
 * (so no revocation naming it can match). */
typedef struct {
  const char *f[GW_REV_NFIELDS];
  size_t len[GW_REV_NFIELDS];
  int has_iat;
  int64_t iat;
} gw_revoke_claims_t;

typedef struct gw_revoke gw_revoke_t;

gw_revoke_t *revoke_new(void);
void revoke_free(gw_revoke_t *s);

/* Stores a copy of e. An empty e->id gets a fresh random one; an entry
 * with the id of a stored one replaces it (a replayed cluster message is
 * harmless). e->expires 0: created + retain_s after max(created, before).
 * Returns 0 (the stored entry copied to *out when out is set), -1 when no
 * field is named, a field is empty or over GW_REV_MAX_FIELD, or out of
 * memory. */
int revoke_add(gw_revoke_t *s, const gw_revocation_t *e, int64_t retain_s, gw_revocation_t *out);

/* 1 removed, 0 no such id. */
int revoke_remove(gw_revoke_t *s, const char *id);

/* 1 when a live revocation refuses these claims at now. */
int revoke_check(gw_revoke_t *s, const gw_revoke_claims_t *c, int64_t now);

/* Drops entries whose expiry is <= now; returns how many. */
size_t revoke_sweep(gw_revoke_t *s, int64_t now);

size_t revoke_count(gw_revoke_t *s);

/* Calls fn for each live entry (under the read lock: fn must not call back
 * into s). The entry is valid only during the call. */
void revoke_each(gw_revoke_t *s, int64_t now, void (*fn)(void *ud, const gw_revocation_t *e),
                 void *ud);

/* The field names as in the admin API and the claims: "iss", "sub", ... */
const char *revoke_field_name(int k);

/* An entry as the admin API shows it and the cluster stores it: id, the
 * named fields, before, created, expires. NULL when out of memory. */
struct json_t;
struct json_t *revoke_entry_json(const gw_revocation_t *e);
/* The reverse, for entries read back from the cluster: every member as
 * revoke_entry_json writes it (the fields point into o). 0, or -1 when o
 * is not such an entry. */
int revoke_entry_from_json(struct json_t *o, gw_revocation_t *e);

#endif
