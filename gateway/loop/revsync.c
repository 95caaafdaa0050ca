/* revsync: see revsync.h. */
#include "revsync.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster.h"
#include "log.h"

#define K_HASH "gw:revocations"
#define K_EXP "gw:revocations:expiry"
#define K_DEL "gw:revocations:deleted"
/* Operations queued for the main loop, and deletions kept for the next
 * connection; past these the oldest are dropped (the next load reconciles
 * the additions; a dropped deletion is logged). */
#define QUEUE_MAX 65536
#define PENDING_DEL_MAX 10000

/* Stores an entry unless Redis already knows it was deleted; drops expired
 * entries and tombstones on the way (a bounded number per call). */
static const char ADD_LUA[] =
    "local now = tonumber(ARGV[4])\n"
    "local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)\n"
    "for _, id in ipairs(gone) do redis.call('HDEL', KEYS[1], id); redis.call('ZREM', KEYS[2], id) end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)\n"
    "if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return 0 end\n"
    "if tonumber(ARGV[3]) <= now then return 0 end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])\n"
    "redis.call('PUBLISH', KEYS[1], '{\"op\":\"add\",\"entry\":' .. ARGV[2] .. '}')\n"
    "return 1\n";
/* ARGV[1] is 16 hex digits (checked before sending). */
static const char DEL_LUA[] =
    "redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])\n"
    "redis.call('PUBLISH', KEYS[1], '{\"op\":\"del\",\"id\":\"' .. ARGV[1] .. '\"}')\n"
    "return 1\n";
static const char LOAD_LUA[] =
    "return {redis.call('HGETALL', KEYS[1]), redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[1], '+inf')}\n";

static struct {
  gw_revoke_t *store;
  int64_t retain_s;
  void (*on_loaded)(void);
  atomic_int loaded;
  int up;          /* main loop: the connections are up (hooks) */
  int loading;     /* a load is in flight */
  json_t *del_during_load; /* ids deleted by messages while it is (object used as a set) */
  json_t *pending_del;     /* ids deleted here while Redis was away (array) */
  pthread_mutex_t mu;      /* guards queue */
  json_t *queue;           /* [{"a": entry} | {"d": id}] from any thread */
  int queue_dropped;
} S = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_s(void) { return (int64_t)time(NULL); }

static int valid_id(const char *id) {
  if (!id || strlen(id) != 16) return 0;
  for (const char *q = id; *q; q++)
    if (!((*q >= '0' && *q <= '9') || (*q >= 'a' && *q <= 'f'))) return 0;
  return 1;
}

int revsync_ready(char *why, size_t cap) {
  if (!cluster_on() || atomic_load(&S.loaded)) return 1;
  if (why && cap) {
    char err[200];
    cluster_last_error(err, sizeof err);
    snprintf(why, cap, "redis: revocations not loaded yet%s%s%s", err[0] ? " (" : "", err,
             err[0] ? ")" : "");
  }
  return 0;
}

/* ---- to Redis ------------------------------------------------------------------ */

static void on_published(void *ud, redisReply *r) {
  if (!r) {
    cluster_fallback(CLUSTER_FB_REVOCATION); /* the next load publishes it */
  } else if (r->type == REDIS_REPLY_ERROR) {
    LOG_WARN("redis: storing a revocation failed: %.200s", r->str ? r->str : "");
    cluster_fallback(CLUSTER_FB_REVOCATION);
  }
}

static void publish_add(json_t *entry) {
  const char *id = json_string_value(json_object_get(entry, "id"));
  json_int_t exp = json_integer_value(json_object_get(entry, "expires"));
  char *text = json_dumps(entry, JSON_COMPACT);
  if (!text || !valid_id(id)) {
    free(text);
    return;
  }
  char sexp[24], snow[24];
  snprintf(sexp, sizeof sexp, "%lld", (long long)exp);
  snprintf(snow, sizeof snow, "%lld", (long long)now_s());
  const char *argv[] = {"EVAL", ADD_LUA, "3", K_HASH, K_EXP, K_DEL, id, text, sexp, snow};
  size_t lens[10];
  for (int i = 0; i < 10; i++) lens[i] = strlen(argv[i]);
  if (!cluster_main_call(10, argv, lens, on_published, NULL)) cluster_fallback(CLUSTER_FB_REVOCATION);
  free(text);
}

static int publish_del(const char *id) {
  if (!valid_id(id)) return 0;
  char keep[24];
  snprintf(keep, sizeof keep, "%lld", (long long)(now_s() + S.retain_s));
  const char *argv[] = {"EVAL", DEL_LUA, "3", K_HASH, K_EXP, K_DEL, id, keep};
  size_t lens[8];
  for (int i = 0; i < 8; i++) lens[i] = strlen(argv[i]);
  return cluster_main_call(8, argv, lens, on_published, NULL) != NULL;
}

static void keep_del(const char *id) {
  if (!S.pending_del) S.pending_del = json_array();
  if (json_array_size(S.pending_del) >= PENDING_DEL_MAX) {
    LOG_WARN("redis: more than %d deletions while Redis is away; the oldest is not passed on",
             PENDING_DEL_MAX);
    json_array_remove(S.pending_del, 0);
  }
  json_array_append_new(S.pending_del, json_string(id));
}

/* ---- from Redis ------------------------------------------------------------------ */

static void apply_entry(json_t *entry) {
  gw_revocation_t e;
  if (revoke_entry_from_json(entry, &e) != 0) {
    LOG_WARN("redis: ignoring a revocation that is not one (in %s)", K_HASH);
    return;
  }
  if (e.expires <= now_s()) return;
  if (revoke_add(S.store, &e, S.retain_s, NULL) != 0) LOG_WARN("redis: cannot store revocation %s", e.id);
}

static void on_message(const char *p, size_t n) {
  json_t *m = json_loadb(p, n, 0, NULL);
  const char *op = json_string_value(json_object_get(m, "op"));
  if (op && strcmp(op, "add") == 0) {
    apply_entry(json_object_get(m, "entry"));
  } else if (op && strcmp(op, "del") == 0) {
    const char *id = json_string_value(json_object_get(m, "id"));
    if (valid_id(id)) {
      revoke_remove(S.store, id);
      if (S.loading && S.del_during_load) json_object_set_new(S.del_during_load, id, json_true());
    }
  }
  json_decref(m);
}

struct publish_missing {
  json_t *remote; /* ids Redis has */
  json_t *todo;   /* entries to publish (collected under the store's lock, sent after) */
};

static void collect_missing(void *ud, const gw_revocation_t *e) {
  struct publish_missing *pm = ud;
  if (!json_object_get(pm->remote, e->id)) json_array_append_new(pm->todo, revoke_entry_json(e));
}

static void on_loaded_reply(void *ud, redisReply *r) {
  S.loading = 0;
  json_t *during = S.del_during_load;
  S.del_during_load = NULL;
  if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_ARRAY || r->element[1]->type != REDIS_REPLY_ARRAY) {
    if (r && r->type == REDIS_REPLY_ERROR) LOG_WARN("redis: loading revocations failed: %.200s", r->str);
    json_decref(during);
    return; /* the connection went down: the next up loads again */
  }
  redisReply *h = r->element[0], *d = r->element[1];
  json_t *remote = json_object();
  size_t n = 0;
  for (size_t i = 0; i + 1 < h->elements; i += 2) {
    redisReply *k = h->element[i], *v = h->element[i + 1];
    if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
    json_object_set_new(remote, k->str, json_true());
    if (during && json_object_get(during, k->str)) continue;
    json_t *entry = json_loadb(v->str, v->len, 0, NULL);
    apply_entry(entry);
    json_decref(entry);
    n++;
  }
  size_t ndel = 0;
  for (size_t i = 0; i < d->elements; i++)
    if (d->element[i]->type == REDIS_REPLY_STRING && valid_id(d->element[i]->str))
      ndel += (size_t)revoke_remove(S.store, d->element[i]->str);
  json_decref(during);
  /* What this instance holds and Redis lacks: made here while it was away. */
  struct publish_missing pm = {remote, json_array()};
  revoke_each(S.store, now_s(), collect_missing, &pm);
  size_t i;
  json_t *e;
  json_array_foreach(pm.todo, i, e) publish_add(e);
  size_t npub = json_array_size(pm.todo);
  json_decref(pm.todo);
  json_decref(remote);
  size_t nd = 0;
  if (S.pending_del) {
    json_array_foreach(S.pending_del, i, e) nd += (size_t)publish_del(json_string_value(e));
    json_decref(S.pending_del);
    S.pending_del = NULL;
  }
  LOG_INFO("redis: %zu revocation(s) loaded, %zu removed as deleted elsewhere, %zu made here "
           "passed on, %zu deletion(s) passed on", n, ndel, npub, nd);
  if (!atomic_exchange(&S.loaded, 1) && S.on_loaded) S.on_loaded();
}

static void load(void) {
  if (S.loading) return;
  char snow[24];
  snprintf(snow, sizeof snow, "%lld", (long long)now_s());
  const char *argv[] = {"EVAL", LOAD_LUA, "3", K_HASH, K_EXP, K_DEL, snow};
  size_t lens[7];
  for (int i = 0; i < 7; i++) lens[i] = strlen(argv[i]);
  json_decref(S.del_during_load);
  S.del_during_load = json_object();
  if (cluster_main_call(7, argv, lens, on_loaded_reply, NULL)) S.loading = 1;
}

/* ---- the hooks -------------------------------------------------------------------- */

static void on_up(void) {
  S.up = 1;
  load();
}

static void on_down(void) { S.up = 0; }

static void on_wake(void) {
  pthread_mutex_lock(&S.mu);
  json_t *q = S.queue;
  S.queue = NULL;
  int dropped = S.queue_dropped;
  S.queue_dropped = 0;
  pthread_mutex_unlock(&S.mu);
  if (dropped && S.up) load(); /* reconciles what the queue lost */
  size_t i;
  json_t *op;
  json_array_foreach(q, i, op) {
    json_t *a = json_object_get(op, "a");
    const char *d = json_string_value(json_object_get(op, "d"));
    if (a) {
      if (S.up) publish_add(a);
      else cluster_fallback(CLUSTER_FB_REVOCATION); /* the next load passes it on */
    } else if (d) {
      if (!S.up || !publish_del(d)) {
        cluster_fallback(CLUSTER_FB_REVOCATION);
        keep_del(d);
      }
    }
  }
  json_decref(q);
}

static void enqueue(json_t *op) {
  if (!op) return;
  pthread_mutex_lock(&S.mu);
  if (!S.queue) S.queue = json_array();
  if (json_array_size(S.queue) >= QUEUE_MAX) {
    json_array_remove(S.queue, 0);
    S.queue_dropped = 1;
  }
  json_array_append_new(S.queue, op);
  pthread_mutex_unlock(&S.mu);
  cluster_main_wake();
}

void revsync_added(const gw_revocation_t *e) {
  if (!cluster_on()) return;
  enqueue(json_pack("{s:o}", "a", revoke_entry_json(e)));
}

void revsync_removed(const char *id) {
  if (!cluster_on()) return;
  enqueue(json_pack("{s:s}", "d", id));
}

static const cluster_main_hooks_t hooks = {on_up, on_down, on_message, on_wake};

int revsync_start(uv_loop_t *loop, gw_revoke_t *store, int64_t retain_s, void (*on_loaded)(void)) {
  if (!cluster_on()) return 0;
  S.store = store;
  S.retain_s = retain_s;
  S.on_loaded = on_loaded;
  return cluster_main_start(loop, K_HASH, &hooks);
}

void revsync_stop(void) {
  cluster_main_stop();
  json_decref(S.pending_del);
  S.pending_del = NULL;
  json_decref(S.del_during_load);
  S.del_during_load = NULL;
  pthread_mutex_lock(&S.mu);
  json_decref(S.queue);
  S.queue = NULL;
  pthread_mutex_unlock(&S.mu);
}
