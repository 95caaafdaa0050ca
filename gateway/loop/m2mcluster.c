/* m2mcluster: see m2mcluster.h. */
#include "m2mcluster.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "hex.h"

/* {failures, lock ms left} for each key. */
static const char GET_LUA[] =
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  out[2 * i - 1] = tonumber(redis.call('GET', k .. ':n') or '0')\n"
    "  local t = redis.call('PTTL', k .. ':lock')\n"
    "  if t < 0 then t = 0 end\n"
    "  out[2 * i] = t\n"
    "end\n"
    "return out\n";
/* ARGV: lockout ms, then each key's limit. A locked key counts no more. */
static const char FAIL_LUA[] =
    "local ms = tonumber(ARGV[1])\n"
    "for i, k in ipairs(KEYS) do\n"
    "  if redis.call('EXISTS', k .. ':lock') == 0 then\n"
    "    local n = redis.call('INCR', k .. ':n')\n"
    "    if n == 1 then redis.call('PEXPIRE', k .. ':n', ms) end\n"
    "    if n >= tonumber(ARGV[i + 1]) then\n"
    "      redis.call('SET', k .. ':lock', '1', 'PX', ms)\n"
    "      redis.call('DEL', k .. ':n')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return 1\n";

/* Kept in r->cl_ctx between the send and the answer. */
struct m2m_ask {
  gw_m2m_lockkey_t keys[2];
  gw_m2m_t *m;
  void (*then)(request_t *r);
};

static void key_name(const gw_m2m_lockkey_t *k, char out[7 + 32 + 1]) {
  memcpy(out, "gw:m2m:", 7);
  gw_hex(out + 7, k->key, 16);
}

static void finish(request_t *r) {
  struct m2m_ask *a = r->cl_ctx;
  void (*then)(request_t *) = a->then;
  r->cl_ticket = NULL;
  r->cl_ctx = NULL;
  free(a);
  then(r);
}

static void on_get(void *ud, redisReply *rep) {
  request_t *r = ud;
  struct m2m_ask *a = r->cl_ctx;
  if (rep && rep->type == REDIS_REPLY_ARRAY) {
    int64_t now = (int64_t)time(NULL);
    size_t j = 0;
    for (int k = 0; k < 2; k++) {
      if (!a->keys[k].used) continue;
      if (j + 1 >= rep->elements) break;
      redisReply *n = rep->element[j], *t = rep->element[j + 1];
      j += 2;
      if (n->type != REDIS_REPLY_INTEGER || t->type != REDIS_REPLY_INTEGER) continue;
      unsigned cnt = n->integer > 0 ? (unsigned)(n->integer > 100000 ? 100000 : n->integer) : 0;
      unsigned lock = t->integer > 0 ? (unsigned)((t->integer + 999) / 1000) : 0;
      m2m_lockout_seed(a->m, &a->keys[k], cnt, lock, now);
    }
  } else {
    cluster_fallback(CLUSTER_FB_M2M);
  }
  finish(r);
}

static void on_fail(void *ud, redisReply *rep) {
  if (!rep || rep->type == REDIS_REPLY_ERROR) cluster_fallback(CLUSTER_FB_M2M);
  finish(ud);
}

/* Sends script over the used keys (extra args after them); 1 when sent. */
static int ask(request_t *r, struct m2m_ask *a, const char *script, const char *const *extra,
               size_t nextra, void (*fn)(void *, redisReply *)) {
  char names[2][40], nk[4];
  const char *argv[3 + 2 + 3];
  size_t lens[3 + 2 + 3], n = 0, used = 0;
  argv[n++] = "EVAL";
  argv[n++] = script;
  n++; /* the key count, below */
  for (int k = 0; k < 2; k++)
    if (a->keys[k].used) {
      key_name(&a->keys[k], names[used]);
      argv[n++] = names[used++];
    }
  snprintf(nk, sizeof nk, "%zu", used);
  argv[2] = nk;
  for (size_t i = 0; i < nextra && n < sizeof argv / sizeof *argv; i++) argv[n++] = extra[i];
  for (size_t i = 0; i < n; i++) lens[i] = strlen(argv[i]);
  if (!used) return 0;
  r->cl_ctx = a;
  r->cl_ticket = cluster_call(r->gen->w, (int)n, argv, lens, fn, r);
  if (r->cl_ticket) return 1;
  r->cl_ctx = NULL;
  cluster_fallback(CLUSTER_FB_M2M);
  return 0;
}

static struct m2m_ask *new_ask(gw_m2m_t *m, const gw_m2m_request_t *q, void (*then)(request_t *)) {
  if (!cluster_on() || !m) return NULL;
  struct m2m_ask *a = calloc(1, sizeof *a);
  if (!a) return NULL;
  if (!m2m_lockout_keys(m, q, a->keys)) {
    free(a);
    return NULL;
  }
  a->m = m;
  a->then = then;
  return a;
}

int m2mcluster_fetch(request_t *r, gw_m2m_t *m, const gw_m2m_request_t *q, void (*then)(request_t *r)) {
  struct m2m_ask *a = new_ask(m, q, then);
  if (!a) return 0;
  if (ask(r, a, GET_LUA, NULL, 0, on_get)) return 1;
  free(a);
  return 0;
}

int m2mcluster_record(request_t *r, gw_m2m_t *m, const gw_m2m_request_t *q, gw_m2m_outcome_t outcome,
                      void (*then)(request_t *r)) {
  int failed = outcome == GW_M2M_BAD_SECRET || outcome == GW_M2M_UNKNOWN_CLIENT;
  if (!failed && outcome != GW_M2M_ISSUED) return 0;
  struct m2m_ask *a = new_ask(m, q, then);
  if (!a) return 0;
  if (!failed) {
    /* A success clears the pair, as in the issuer's own table; no need to wait. */
    if (a->keys[0].used) {
      char name[40], n1[48];
      key_name(&a->keys[0], name);
      snprintf(n1, sizeof n1, "%s:n", name);
      const char *argv[] = {"DEL", n1};
      size_t lens[] = {3, strlen(n1)};
      cluster_call(r->gen->w, 2, argv, lens, NULL, NULL);
    }
    free(a);
    return 0;
  }
  char ms[24], l0[16], l1[16];
  snprintf(ms, sizeof ms, "%u", m2m_lockout_seconds(m) * 1000u);
  snprintf(l0, sizeof l0, "%u", a->keys[0].limit);
  snprintf(l1, sizeof l1, "%u", a->keys[1].limit);
  /* The limits in the order of the keys sent (the pair only when used). */
  const char *extra[3] = {ms, a->keys[0].used ? l0 : l1, l1};
  if (ask(r, a, FAIL_LUA, extra, a->keys[0].used ? 3 : 2, on_fail)) return 1;
  free(a);
  return 0;
}
