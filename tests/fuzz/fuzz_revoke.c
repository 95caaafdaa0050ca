/* libFuzzer driver for the revocation entries the cluster reads back from
 * Redis (gateway/lib/revoke.h revoke_entry_from_json): what another
 * instance, or anyone who can write to that Redis, may have stored in
 * gw:revocations or published on its channel.
 *
 * Input: any bytes, parsed as JSON by jansson (as revsync.c does).
 *
 * Asserted (abort() on violation):
 *   - an accepted entry has a 16-hex-digit id, at least one field named,
 *     each field a string of len bytes (== what jansson holds), and times
 *     >= 0 with expires > 0;
 *   - it survives the round trip: revoke_entry_json then
 *     revoke_entry_from_json gives the same entry;
 *   - stored (revoke_add) while live, it refuses exactly a token with its
 *     own fields and an iat before `before`, and revoke_remove finds it by
 *     id; an entry whose fields are empty or too long is refused by
 *     revoke_add, never stored half. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "revoke.h"

#define MAX_INPUT (16 * 1024)

static void check(int ok) {
  if (!ok) abort();
}

static int same(const gw_revocation_t *a, const gw_revocation_t *b) {
  if (strcmp(a->id, b->id) || a->before != b->before || a->created != b->created ||
      a->expires != b->expires)
    return 0;
  for (int k = 0; k < GW_REV_NFIELDS; k++) {
    if (!a->f[k] != !b->f[k]) return 0;
    if (a->f[k] && (a->len[k] != b->len[k] || memcmp(a->f[k], b->f[k], a->len[k]))) return 0;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_INPUT) return 0;
  json_t *o = json_loadb((const char *)data, size, 0, NULL);
  gw_revocation_t e;
  if (revoke_entry_from_json(o, &e) != 0) {
    json_decref(o);
    return 0;
  }
  check(strlen(e.id) == 16);
  for (const char *q = e.id; *q; q++) check((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'));
  check(e.before >= 0 && e.created >= 0 && e.expires > 0);
  int named = 0;
  for (int k = 0; k < GW_REV_NFIELDS; k++) {
    if (!e.f[k]) continue;
    named = 1;
    json_t *v = json_object_get(o, revoke_field_name(k));
    check(json_is_string(v) && json_string_length(v) == e.len[k] &&
          memcmp(json_string_value(v), e.f[k], e.len[k]) == 0);
  }
  json_t *back = revoke_entry_json(&e);
  gw_revocation_t e2;
  check(back && revoke_entry_from_json(back, &e2) == 0 && same(&e, &e2));

  gw_revoke_t *s = revoke_new();
  check(s != NULL);
  int valid = named;
  for (int k = 0; k < GW_REV_NFIELDS; k++)
    if (e.f[k] && (e.len[k] == 0 || e.len[k] > GW_REV_MAX_FIELD)) valid = 0;
  int64_t now = e.expires - 1;
  int added = revoke_add(s, &e, 3600, NULL) == 0;
  check(added == valid);
  check(revoke_count(s) == (size_t)added);
  if (added) {
    gw_revoke_claims_t q;
    memset(&q, 0, sizeof q);
    for (int k = 0; k < GW_REV_NFIELDS; k++) {
      q.f[k] = e.f[k];
      q.len[k] = e.len[k];
    }
    q.has_iat = 1;
    q.iat = e.before - 1;
    check(revoke_check(s, &q, now) == 1);
    q.iat = e.before;
    check(revoke_check(s, &q, now) == 0);
    check(revoke_remove(s, e.id) == 1 && revoke_count(s) == 0);
  }
  revoke_free(s);
  json_decref(back);
  json_decref(o);
  return 0;
}
