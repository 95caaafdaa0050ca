/* revocations: see revocations.h. */
#include "revocations.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "b64url.h"
#include "jwt.h"
#include "keys.h"
#include "log.h"
#include "revoke.h"
#include "revsync.h"
#include "snapshot.h"
#include "verify.h"

#define MAX_BODY 16384
#define REPLAY_SLOTS 4096 /* jti of applied SETs remembered; the oldest goes first */

static gw_revoke_t *store;
static pthread_once_t store_once = PTHREAD_ONCE_INIT;
static void store_init(void) { store = revoke_new(); }

static gw_revoke_t *the_store(void) {
  pthread_once(&store_once, store_init);
  return store;
}

gw_revoke_t *revocations_store(void) { return the_store(); }

static int64_t now_s(void) { return (int64_t)time(NULL); }

int revocations_refuse(const request_t *r, const gw_tokcache_val_t *v) {
  gw_revoke_t *s = the_store();
  if (!s) return 0;
  const gw_config_t *cfg = r->gen->cfg;
  gw_revoke_claims_t q;
  memset(&q, 0, sizeof q);
  if (v->issuer < cfg->nissuers) {
    q.f[GW_REV_ISS] = cfg->issuers[v->issuer].iss;
    q.len[GW_REV_ISS] = strlen(q.f[GW_REV_ISS]);
  }
  static const int from[] = {[GW_REV_SUB] = VERIFY_STR_SUB, [GW_REV_CLIENT] = VERIFY_STR_CLIENT,
                             [GW_REV_JTI] = VERIFY_STR_JTI};
  for (int k = GW_REV_SUB; k < GW_REV_NFIELDS; k++) {
    q.f[k] = v->strs[from[k]];
    q.len[k] = v->lens[from[k]];
  }
  q.has_iat = v->has_iat;
  q.iat = v->iat;
  return revoke_check(s, &q, now_s());
}

/* ---- bodies ------------------------------------------------------------------ */

static answer_kind_t body_sink(void *ud, const char *p, size_t n) {
  request_t *r = ud;
  if (r->m2m_too_large) return ANS_NONE;
  if (r->m2mbody.len + n > MAX_BODY) {
    r->m2m_too_large = 1;
    outbuf_free(&r->m2mbody);
    return ANS_NONE;
  }
  outbuf_append(&r->m2mbody, p, n);
  return ANS_NONE;
}

/* The body is read (bounded, into m2mbody), then done(r) answers. */
static void read_body(request_t *r, void (*done)(request_t *)) {
  r->state = RS_M2M;
  r->body_done = done;
  r->h.sink = body_sink;
  r->h.sink_ud = r;
}

static void send_json(client_t *c, int status, json_t *doc) {
  char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
  json_decref(doc);
  if (!body) {
    conn_answer(c, ANS_NO_MEMORY_KEEP, NULL);
    return;
  }
  conn_answer_raw(c, status, ANSWER_JSON_HEADERS, body, strlen(body));
  free(body);
}

static void answer_error(client_t *c, int status, const char *code, const char *desc,
                         const char *extra) {
  char hdr[256];
  snprintf(hdr, sizeof hdr, ANSWER_JSON_HEADERS "%s", extra ? extra : "");
  char body[512];
  int n = snprintf(body, sizeof body, "{\"error\":\"%s\",\"error_description\":\"%s\"}", code, desc);
  conn_answer_raw(c, status, hdr, body, (size_t)n);
}

/* ---- the admin API ------------------------------------------------------------ */

/* The file is read on each admin request: they are rare, and a rotated
 * token takes effect at once. Both sides are hashed first, so the compare
 * takes the same time whatever the lengths. */
static int admin_authorized(const request_t *r) {
  const char *path = r->gen->cfg->revocation.admin_token_file;
  int n = 0;
  const hdr_t *h = req_header(r, "authorization", &n);
  if (!path || !h || n != 1) return 0;
  const char *v = r->h.arena + h->val_off;
  size_t vl = h->val_len;
  if (vl < 8 || strncasecmp(v, "bearer ", 7) != 0) return 0;
  v += 7;
  vl -= 7;
  char buf[1024];
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    LOG_ERROR("revocation: cannot open admin_token_file %s: %s", path, strerror(errno));
    return 0;
  }
  ssize_t got = read(fd, buf, sizeof buf);
  close(fd);
  if (got <= 0) return 0;
  size_t tl = (size_t)got;
  while (tl && (buf[tl - 1] == '\n' || buf[tl - 1] == '\r' || buf[tl - 1] == ' ')) tl--;
  if (tl == 0) return 0; /* an empty file allows nobody */
  unsigned char a[SHA256_DIGEST_LENGTH], b[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)buf, tl, a);
  SHA256((const unsigned char *)v, vl, b);
  OPENSSL_cleanse(buf, sizeof buf);
  return CRYPTO_memcmp(a, b, sizeof a) == 0;
}

static void list_one(void *ud, const gw_revocation_t *e) { json_array_append_new(ud, revoke_entry_json(e)); }

/* Stores e (fields pointing into the caller's memory); 201 with the entry. */
static void store_and_answer(client_t *c, const request_t *r, gw_revocation_t *e) {
  gw_revocation_t out;
  if (revoke_add(the_store(), e, (int64_t)(r->gen->cfg->revocation.retain_ms / 1000), &out) != 0) {
    answer_error(c, 400, "invalid_request", "a revocation names at least one of iss, sub, client_id, jti (non-empty, at most 1024 bytes)", NULL);
    return;
  }
  for (int k = 0; k < GW_REV_NFIELDS; k++) {
    out.f[k] = e->f[k];
    out.len[k] = e->len[k];
  }
  LOG_INFO("revocation: %s added (before %lld)", out.id, (long long)out.before);
  revsync_added(&out);
  send_json(c, 201, revoke_entry_json(&out));
}

static void admin_post_done(request_t *r) {
  client_t *c = r->c;
  r->decision = "revocation";
  if (r->m2m_too_large) {
    conn_answer(c, ANS_PAYLOAD_TOO_LARGE, NULL);
    return;
  }
  json_error_t jerr;
  json_t *doc = json_loadb(r->m2mbody.data ? r->m2mbody.data : "", r->m2mbody.len, 0, &jerr);
  if (!json_is_object(doc)) {
    json_decref(doc);
    answer_error(c, 400, "invalid_request", "the body is not a JSON object", NULL);
    return;
  }
  gw_revocation_t e;
  memset(&e, 0, sizeof e);
  e.created = now_s();
  e.before = e.created;
  const char *key;
  json_t *val;
  const char *bad = NULL;
  json_object_foreach(doc, key, val) {
    int k = 0;
    while (k < GW_REV_NFIELDS && strcmp(key, revoke_field_name(k)) != 0) k++;
    if (k < GW_REV_NFIELDS) {
      if (!json_is_string(val)) bad = "iss, sub, client_id and jti are strings";
      e.f[k] = json_string_value(val);
      e.len[k] = json_string_length(val);
    } else if (strcmp(key, "before") == 0) {
      if (!json_is_integer(val) || json_integer_value(val) < 0) bad = "before is a Unix time in seconds";
      else e.before = (int64_t)json_integer_value(val);
    } else {
      bad = "unknown field (expected iss, sub, client_id, jti, before)";
    }
  }
  if (bad) answer_error(c, 400, "invalid_request", bad, NULL);
  else store_and_answer(c, r, &e);
  json_decref(doc);
}

/* A sweep walks every entry under the write lock: at most once a second,
 * or loading 100k entries through the API would be quadratic and stall
 * every check meanwhile. Expired entries never refuse anything anyway
 * (revoke_check compares the expiry); sweeping only frees their memory. */
static void sweep_now_and_then(void) {
  static _Atomic int64_t last;
  int64_t now = now_s(), prev = atomic_load(&last);
  if (now == prev || !atomic_compare_exchange_strong(&last, &prev, now)) return;
  revoke_sweep(the_store(), now);
}

int revocations_admin(client_t *c, request_t *r) {
  const char *url = r->h.arena + r->h.url_off;
  size_t ulen = r->h.url_len;
  for (size_t i = 0; i < ulen; i++)
    if (url[i] == '?') ulen = i;
  if (ulen < 12 || memcmp(url, "/revocations", 12) != 0 || (ulen > 12 && url[12] != '/')) return 0;
  r->decision = "revocation";
  if (!r->gen->cfg->revocation.admin_token_file) {
    conn_answer(c, ANS_NOT_FOUND, "the revocation API is off: [revocation] admin_token_file is not set");
    return 1;
  }
  if (!admin_authorized(r)) {
    answer_error(c, 401, "unauthorized", "the admin API needs Authorization: Bearer <admin token>",
                 "WWW-Authenticate: Bearer realm=\"admin\"\r\n");
    return 1;
  }
  if (ulen == 12 && req_method_is(r, "POST")) {
    read_body(r, admin_post_done);
  } else if (ulen == 12 && (req_method_is(r, "GET") || req_method_is(r, "HEAD"))) {
    json_t *arr = json_array();
    revoke_each(the_store(), now_s(), list_one, arr);
    json_t *doc = json_object();
    json_object_set_new(doc, "revocations", arr);
    send_json(c, 200, doc);
  } else if (ulen > 13 && req_method_is(r, "DELETE")) {
    char id[17];
    size_t il = ulen - 13;
    if (il >= sizeof id) il = sizeof id - 1;
    memcpy(id, url + 13, il);
    id[il] = '\0';
    if (ulen - 13 < sizeof id && revoke_remove(the_store(), id)) {
      LOG_INFO("revocation: %s deleted", id);
      revsync_removed(id);
      conn_answer_raw(c, 204, "Cache-Control: no-store\r\n", NULL, 0);
    } else {
      conn_answer(c, ANS_NOT_FOUND, "no such revocation");
    }
  } else {
    answer_error(c, 405, "method_not_allowed", "POST or GET /revocations, DELETE /revocations/{id}",
                 ulen == 12 ? "Allow: GET, HEAD, POST\r\n" : "Allow: DELETE\r\n");
  }
  sweep_now_and_then();
  return 1;
}

/* ---- the SSF push receiver (RFC 8935) ------------------------------------------ */

#define SESSION_REVOKED "https://schemas.openid.net/secevent/caep/event-type/session-revoked"

/* "iss jti" of applied SETs: a replay is acknowledged and not applied
 * again. A fixed ring, so a flood of SETs cannot grow it. */
static struct {
  pthread_mutex_t mu;
  char *seen[REPLAY_SLOTS];
  size_t next;
} replay = {PTHREAD_MUTEX_INITIALIZER, {0}, 0};

static int replay_seen(const char *key) {
  int hit = 0;
  pthread_mutex_lock(&replay.mu);
  for (size_t i = 0; i < REPLAY_SLOTS && !hit; i++) hit = replay.seen[i] && strcmp(replay.seen[i], key) == 0;
  pthread_mutex_unlock(&replay.mu);
  return hit;
}

static void replay_add(const char *key) {
  char *d = strdup(key);
  if (!d) return;
  pthread_mutex_lock(&replay.mu);
  free(replay.seen[replay.next]);
  replay.seen[replay.next] = d;
  replay.next = (replay.next + 1) % REPLAY_SLOTS;
  pthread_mutex_unlock(&replay.mu);
}

/* RFC 8935 §2.3: 400 with {"err", "description"}. */
static void ssf_error(client_t *c, const char *err, const char *desc) {
  json_t *o = json_object();
  json_object_set_new(o, "err", json_string(err));
  json_object_set_new(o, "description", json_string(desc));
  send_json(c, 400, o);
}

static const char *ssf_err_of(gw_jwt_result_t res) {
  switch (res) {
  case GW_JWT_UNKNOWN_ISSUER: return "invalid_issuer";
  case GW_JWT_AUD_MISMATCH: return "invalid_audience";
  case GW_JWT_BAD_SIGNATURE:
  case GW_JWT_UNKNOWN_KID:
  case GW_JWT_KEY_ALG_MISMATCH:
  case GW_JWT_ALG_NOT_ALLOWED: return "invalid_key";
  default: return "invalid_request";
  }
}

/* An RFC 9493 iss_sub subject: its iss and sub into e. */
static int iss_sub(json_t *s, gw_revocation_t *e) {
  json_t *iss = json_object_get(s, "iss"), *sub = json_object_get(s, "sub");
  if (!json_is_string(json_object_get(s, "format")) ||
      strcmp(json_string_value(json_object_get(s, "format")), "iss_sub") != 0 ||
      !json_is_string(iss) || !json_is_string(sub))
    return 0;
  e->f[GW_REV_ISS] = json_string_value(iss);
  e->len[GW_REV_ISS] = json_string_length(iss);
  e->f[GW_REV_SUB] = json_string_value(sub);
  e->len[GW_REV_SUB] = json_string_length(sub);
  return 1;
}

/* sub_id is iss_sub, or complex with user (iss_sub) and optional
 * application (opaque: its id is the client_id). */
static const char *subject(json_t *s, gw_revocation_t *e) {
  const char *fmt = json_string_value(json_object_get(s, "format"));
  if (!fmt) return "the event has no subject (sub_id)";
  if (strcmp(fmt, "iss_sub") == 0) return iss_sub(s, e) ? NULL : "sub_id: iss_sub needs iss and sub";
  if (strcmp(fmt, "complex") != 0) return "sub_id: only the iss_sub and complex formats are accepted";
  if (!iss_sub(json_object_get(s, "user"), e)) return "sub_id: complex needs a user of format iss_sub";
  json_t *app = json_object_get(s, "application");
  if (!app) return NULL;
  json_t *id = json_object_get(app, "id");
  const char *af = json_string_value(json_object_get(app, "format"));
  if (!af || strcmp(af, "opaque") != 0 || !json_is_string(id))
    return "sub_id: application must be of format opaque with an id";
  e->f[GW_REV_CLIENT] = json_string_value(id);
  e->len[GW_REV_CLIENT] = json_string_length(id);
  return NULL;
}

static json_t *set_payload(const char *tok, size_t len) {
  const char *d1 = memchr(tok, '.', len);
  const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok)) : NULL;
  if (!d2) return NULL;
  unsigned char buf[GW_JWT_MAX_PAYLOAD];
  size_t n = 0;
  if (b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), buf, sizeof buf, &n) != 0) return NULL;
  return json_loadb((const char *)buf, n, 0, NULL);
}

static void ssf_apply(client_t *c, request_t *r, const char *tok, size_t len,
                      const gw_jwt_claims_t *cl) {
  const gw_config_t *cfg = r->gen->cfg;
  json_t *doc = set_payload(tok, len);
  json_t *ev = json_object_get(json_object_get(doc, "events"), SESSION_REVOKED);
  gw_revocation_t e;
  memset(&e, 0, sizeof e);
  const char *why = NULL;
  if (!json_is_object(ev)) {
    why = "unsupported event type (only CAEP session-revoked is accepted)";
  } else {
    json_t *s = json_object_get(doc, "sub_id");
    if (!s) s = json_object_get(ev, "subject"); /* the CAEP drafts' place for it */
    why = subject(s, &e);
  }
  if (why) {
    json_decref(doc);
    ssf_error(c, "invalid_request", why);
    return;
  }
  const char *iss = cfg->issuers[cfg->revocation.ssf_issuer_index].iss;
  size_t kl = strlen(iss) + cl->jti_len + 2;
  char *key = malloc(kl);
  if (!key) {
    json_decref(doc);
    conn_answer(c, ANS_NO_MEMORY_KEEP, NULL);
    return;
  }
  snprintf(key, kl, "%s %s", iss, cl->jti);
  if (replay_seen(key)) {
    LOG_INFO("revocation: SET %s replayed, ignored", cl->jti);
    conn_answer_raw(c, 202, "Cache-Control: no-store\r\n", NULL, 0);
  } else {
    e.created = now_s();
    json_t *ts = json_object_get(ev, "event_timestamp");
    e.before = json_is_integer(ts) ? (int64_t)json_integer_value(ts) : e.created;
    gw_revocation_t out;
    if (revoke_add(the_store(), &e, (int64_t)(cfg->revocation.retain_ms / 1000), &out) != 0) {
      ssf_error(c, "invalid_request", "the subject names an empty or over-long value");
    } else {
      replay_add(key);
      for (int k = 0; k < GW_REV_NFIELDS; k++) out.f[k] = e.f[k], out.len[k] = e.len[k];
      revsync_added(&out);
      LOG_INFO("revocation: %s added from SET %s (before %lld)", out.id, cl->jti, (long long)out.before);
      conn_answer_raw(c, 202, "Cache-Control: no-store\r\n", NULL, 0);
    }
  }
  free(key);
  json_decref(doc);
}

static void ssf_done(request_t *r) {
  client_t *c = r->c;
  const gw_config_t *cfg = r->gen->cfg;
  r->decision = "ssf";
  const hdr_t *ct = req_header(r, "content-type", NULL);
  /* The media type, before any parameter (the arena is not NUL-terminated). */
  const char *ctv = ct ? r->h.arena + ct->val_off : NULL;
  const char *semi = ct ? memchr(ctv, ';', ct->val_len) : NULL;
  size_t ctl = ct ? (semi ? (size_t)(semi - ctv) : ct->val_len) : 0;
  while (ctl && (ctv[ctl - 1] == ' ' || ctv[ctl - 1] == '\t')) ctl--;
  if (!ct || !http_name_eq(ctv, ctl, "application/secevent+jwt")) {
    ssf_error(c, "invalid_request", "Content-Type must be application/secevent+jwt");
    return;
  }
  if (r->m2m_too_large || !r->m2mbody.len) {
    ssf_error(c, "invalid_request", r->m2m_too_large ? "the SET is too large" : "no SET in the body");
    return;
  }
  const char *tok = r->m2mbody.data;
  size_t len = r->m2mbody.len;
  while (len && (tok[len - 1] == '\n' || tok[len - 1] == '\r' || tok[len - 1] == ' ')) len--;
  size_t i = cfg->revocation.ssf_issuer_index;
  const gw_issuer_cfg_t *ic = &cfg->issuers[i];
  uint64_t gen = 0;
  gw_keyset_t *ks = keystore_acquire(&r->gen->snap->keys, i, &gen);
  if (!ks) {
    answer_error(c, 503, "temporarily_unavailable", "the SSF issuer's keys are not loaded yet",
                 "Retry-After: 5\r\n");
    return;
  }
  const char *aud[1] = {cfg->resource_identifier};
  gw_jwt_issuer_t is = {.iss = ic->iss,
                        .iss_len = strlen(ic->iss),
                        .audiences = aud,
                        .naudiences = aud[0] ? 1 : 0,
                        .leeway_s = (int64_t)(ic->leeway_ms / 1000),
                        .security_event = 1,
                        .keys = ks};
  for (size_t k = 0; k < ic->nalgorithms; k++) {
    int alg = jwa_from_name(ic->algorithms[k], strlen(ic->algorithms[k]));
    if (alg >= 0) is.algs |= GW_JWA_BIT(alg);
  }
  gw_jwt_verifier_t ver = {.issuers = &is, .nissuers = 1, .scopes = r->gen->snap->auth.scopes};
  gw_jwt_claims_t cl;
  gw_jwt_result_t res = jwt_verify(tok, len, &ver, now_s(), &cl);
  if (res != GW_JWT_OK) {
    r->reason = jwt_result_name(res);
    ssf_error(c, ssf_err_of(res), jwt_result_text(res));
  } else if (!cl.jti || !cl.jti_len) {
    ssf_error(c, "invalid_request", "the SET has no jti");
  } else {
    ssf_apply(c, r, tok, len, &cl);
  }
  jwt_claims_free(&cl);
  jwks_keyset_unref(ks);
}

int revocations_ssf(client_t *c, request_t *r) {
  const gw_revocation_cfg_t *rc = &r->gen->cfg->revocation;
  if (!rc->ssf_issuer || r->npath_len != strlen(rc->ssf_path) ||
      memcmp(r->npath, rc->ssf_path, r->npath_len) != 0)
    return 0;
  r->decision = "ssf";
  if (!req_method_is(r, "POST")) {
    answer_error(c, 405, "method_not_allowed", "SETs are pushed with POST", "Allow: POST\r\n");
    return 1;
  }
  read_body(r, ssf_done);
  return 1;
}
