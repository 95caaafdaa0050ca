/* cluster: see cluster.h. */
#include "cluster.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "hex.h"
#include "log.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000
#define CONNECT_TIMEOUT_MS 2000
#define WATCHDOG_MS 50
#define MAX_PASSWORD 512

/* The connection settings, fixed at start. */
static struct {
  int on;
  char host[256];
  unsigned port, db;
  char url[300];
  char password[MAX_PASSWORD + 1];
  size_t password_len;
  uint64_t timeout_ms;
} K;

/* ---- metrics ---------------------------------------------------------------- */

static const double dur_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                    0.01,   0.025,   0.05,   0.1,   0.25,   0.5, 1};
#define NDUR (sizeof dur_bounds / sizeof *dur_bounds)
static struct {
  atomic_uint conns, up; /* connections wanted, connections up */
  atomic_ullong connects;
  atomic_ullong fallbacks[CLUSTER_FB_N];
  atomic_ullong dur[NDUR + 1];
  atomic_ullong dur_sum_us, dur_count;
  pthread_mutex_t err_mu;
  char last_error[200];
} M = {.err_mu = PTHREAD_MUTEX_INITIALIZER};

void cluster_fallback(cluster_fb_t what) {
  if (what < CLUSTER_FB_N) atomic_fetch_add_explicit(&M.fallbacks[what], 1, memory_order_relaxed);
}

static void observe_us(uint64_t us) {
  size_t i = 0;
  while (i < NDUR && (double)us > dur_bounds[i] * 1e6) i++;
  atomic_fetch_add_explicit(&M.dur[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&M.dur_sum_us, us, memory_order_relaxed);
  atomic_fetch_add_explicit(&M.dur_count, 1, memory_order_relaxed);
}

static void set_error(const char *msg) {
  pthread_mutex_lock(&M.err_mu);
  snprintf(M.last_error, sizeof M.last_error, "%s", msg);
  pthread_mutex_unlock(&M.err_mu);
}

void cluster_last_error(char *buf, size_t cap) {
  pthread_mutex_lock(&M.err_mu);
  snprintf(buf, cap, "%s", M.last_error);
  pthread_mutex_unlock(&M.err_mu);
}

void cluster_metrics(outbuf_t *b) {
  if (!K.on) return;
  unsigned conns = atomic_load(&M.conns), up = atomic_load(&M.up);
  outbuf_printf(b,
                "# HELP gateway_redis_up 1 when every connection to the [cluster] Redis is up.\n"
                "# TYPE gateway_redis_up gauge\ngateway_redis_up %d\n"
                "# HELP gateway_redis_connections_up Connections to Redis that are up, of "
                "gateway_redis_connections.\n"
                "# TYPE gateway_redis_connections_up gauge\ngateway_redis_connections_up %u\n"
                "# HELP gateway_redis_connections Connections to Redis the gateway keeps (one per "
                "worker, two for revocations).\n"
                "# TYPE gateway_redis_connections gauge\ngateway_redis_connections %u\n"
                "# HELP gateway_redis_connects_total Connections to Redis established.\n"
                "# TYPE gateway_redis_connects_total counter\ngateway_redis_connects_total %llu\n",
                conns > 0 && up == conns, up, conns, (unsigned long long)atomic_load(&M.connects));
  static const char *const fb[CLUSTER_FB_N] = {"rate_limit", "m2m", "revocation"};
  OUTBUF_LIT(b, "# HELP gateway_redis_fallbacks_total Decisions taken locally (rate_limit, m2m) "
                "or revocation updates deferred (revocation) because Redis was away or slow.\n"
                "# TYPE gateway_redis_fallbacks_total counter\n");
  for (int i = 0; i < CLUSTER_FB_N; i++)
    outbuf_printf(b, "gateway_redis_fallbacks_total{what=\"%s\"} %llu\n", fb[i],
                  (unsigned long long)atomic_load(&M.fallbacks[i]));
  OUTBUF_LIT(b, "# HELP gateway_redis_command_duration_seconds Time from sending a command to "
                "Redis to its answer.\n# TYPE gateway_redis_command_duration_seconds histogram\n");
  unsigned long long cum = 0;
  for (size_t i = 0; i <= NDUR; i++) {
    cum += atomic_load(&M.dur[i]);
    if (i < NDUR)
      outbuf_printf(b, "gateway_redis_command_duration_seconds_bucket{le=\"%g\"} %llu\n",
                    dur_bounds[i], cum);
    else
      outbuf_printf(b, "gateway_redis_command_duration_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
  }
  outbuf_printf(b, "gateway_redis_command_duration_seconds_sum %.6f\n"
                   "gateway_redis_command_duration_seconds_count %llu\n",
                (double)atomic_load(&M.dur_sum_us) / 1e6, (unsigned long long)atomic_load(&M.dur_count));
}

/* ---- configuration ------------------------------------------------------------ */

int cluster_on(void) { return K.on; }

int cluster_configure(const gw_config_t *cfg, char *why, size_t cap) {
  const gw_cluster_cfg_t *c = &cfg->cluster;
  if (!c->redis_host) return 0;
  memset(&K, 0, sizeof K);
  snprintf(K.host, sizeof K.host, "%s", c->redis_host);
  snprintf(K.url, sizeof K.url, "%s", c->redis_url);
  K.port = c->redis_port;
  K.db = c->redis_db;
  K.timeout_ms = c->timeout_ms;
  if (c->password_file) {
    size_t n = 0;
    char *p = NULL, err[128];
    if (gw_read_file(c->password_file, MAX_PASSWORD + 2, &p, &n, err, sizeof err) != 0) {
      snprintf(why, cap, "%s:%d: redis_password_file: %s: %s", cfg->path, c->password_line,
               c->password_file, err);
      return -1;
    }
    while (n && (p[n - 1] == '\n' || p[n - 1] == '\r')) n--;
    if (n == 0 || n > MAX_PASSWORD || memchr(p, '\n', n) || memchr(p, '\0', n)) {
      OPENSSL_cleanse(p, n);
      free(p);
      snprintf(why, cap, "%s:%d: redis_password_file: expected one line of 1 to %d bytes",
               cfg->path, c->password_line, MAX_PASSWORD);
      return -1;
    }
    memcpy(K.password, p, n);
    K.password_len = n;
    OPENSSL_cleanse(p, n);
    free(p);
  }
  K.on = 1;
  return 0;
}

void cluster_check_reload(const gw_config_t *cfg) {
  const gw_cluster_cfg_t *c = &cfg->cluster;
  int same = K.on ? c->redis_url && strcmp(c->redis_url, K.url) == 0 && c->timeout_ms == K.timeout_ms
                  : !c->redis_host;
  if (!same) LOG_WARN("reload: [cluster] changes take effect on restart; still using %s", K.on ? K.url : "no cluster");
}

/* ---- one connection ------------------------------------------------------------ */

enum { RC_DOWN = 0, RC_RESOLVING, RC_CONNECTING, RC_UP };

typedef struct rconn {
  uv_loop_t *loop;
  redisAsyncContext *ac;
  int state;
  int counted_up;
  int closing;
  int nhandles;         /* open uv handles (timers) + a getaddrinfo in flight */
  int gai_busy;
  uv_timer_t retry, watchdog;
  uv_getaddrinfo_t gai;
  uint64_t backoff_ms;
  uint64_t state_ms;
  dlist_t pending;      /* tickets in the order sent: answers come in that order */
  const char *name;
  int outage_logged;
  uint32_t scripts_loaded; /* bit k: script slot k was sent with SCRIPT LOAD on this connection */
  int use_sha;             /* scripts as EVALSHA (the workers' hot path) */
  /* the subscriber's channel (NULL for a command connection) */
  const char *channel;
  void (*on_up)(struct rconn *);
  void (*on_down)(struct rconn *);
  void (*on_message)(const char *p, size_t n);
} rconn_t;

struct cluster_ticket {
  rconn_t *rc;
  int script;  /* its script slot, -1 for other commands */
  dlist_t link;
  uint64_t sent_ns;
  cluster_reply_fn fn;
  void *ud;
};

static uint64_t now_ms(rconn_t *rc) { return uv_now(rc->loop); }

static void rc_connect(rconn_t *rc);
static void on_retry(uv_timer_t *h) { rc_connect(h->data); }

static void mark_up(rconn_t *rc, int up) {
  if (up == rc->counted_up) return;
  rc->counted_up = up;
  if (up) atomic_fetch_add(&M.up, 1);
  else atomic_fetch_sub(&M.up, 1);
}

static void schedule_retry(rconn_t *rc) {
  if (rc->closing) return;
  uint64_t d = rc->backoff_ms ? rc->backoff_ms : BACKOFF_MIN_MS;
  rc->backoff_ms = d * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : d * 2;
  uv_timer_start(&rc->retry, on_retry, d, 0);
}

/* The connection is gone (ac already NULL or being freed by hiredis). */
static void rc_gone(rconn_t *rc, const char *why) {
  int was_up = rc->state == RC_UP;
  rc->scripts_loaded = 0;
  rc->state = RC_DOWN;
  rc->state_ms = now_ms(rc);
  mark_up(rc, 0);
  if (why && !rc->closing) {
    char msg[200];
    snprintf(msg, sizeof msg, "%.96s: %.100s", K.url, why);
    set_error(msg);
    /* One line per outage, not one per attempt. */
    if (was_up || !rc->outage_logged)
      LOG_WARN("redis (%s): %s%s", rc->name, msg, was_up ? "; deciding locally until it is back" : "");
    rc->outage_logged = 1;
  }
  if (was_up && rc->on_down) rc->on_down(rc);
  schedule_retry(rc);
}

/* Tears down the connection ourselves: every call in flight gets no reply. */
static void rc_fail(rconn_t *rc, const char *why) {
  redisAsyncContext *ac = rc->ac;
  rc->ac = NULL;
  rc_gone(rc, why);
  if (ac) redisAsyncFree(ac);
}

static void on_ticket_reply(redisAsyncContext *ac, void *reply, void *privdata) {
  cluster_ticket_t *t = privdata;
  redisReply *r = reply;
  dlist_remove(&t->link);
  if (reply) observe_us((uv_hrtime() - t->sent_ns) / 1000);
  if (r && r->type == REDIS_REPLY_ERROR && t->script >= 0 && r->str && strncmp(r->str, "NOSCRIPT", 8) == 0)
    t->rc->scripts_loaded = 0;
  if (t->fn) t->fn(t->ud, reply);
  free(t);
}

/* The Lua scripts callers send as EVAL SOURCE ... go out as EVALSHA: a
 * token bucket's 600 bytes and Redis's hashing of them are not paid per
 * request. Scripts are static strings, told apart by address; each
 * connection sends SCRIPT LOAD before its first use of one (answers come
 * in order, so the EVALSHA behind it finds it). A NOSCRIPT answer (someone
 * ran SCRIPT FLUSH) makes the connection load them again; that one call
 * is then decided locally. Only the workers do this: the main thread's
 * revocation updates are rare and must not be lost to a NOSCRIPT, so they
 * stay EVAL. */
#define MAX_SCRIPTS 16
static struct {
  _Atomic(const char *) src[MAX_SCRIPTS];
  char sha[MAX_SCRIPTS][41];
  pthread_mutex_t mu;
} SC = {.mu = PTHREAD_MUTEX_INITIALIZER};

static int script_slot(const char *src) {
  for (int i = 0; i < MAX_SCRIPTS; i++) {
    const char *p = atomic_load_explicit(&SC.src[i], memory_order_acquire);
    if (!p) break;
    if (p == src) return i;
  }
  pthread_mutex_lock(&SC.mu);
  int i = 0;
  for (; i < MAX_SCRIPTS; i++) {
    const char *p = atomic_load_explicit(&SC.src[i], memory_order_relaxed);
    if (p == src) break;
    if (!p) {
      unsigned char md[SHA_DIGEST_LENGTH];
      SHA1((const unsigned char *)src, strlen(src), md);
      gw_hex(SC.sha[i], md, SHA_DIGEST_LENGTH);
      atomic_store_explicit(&SC.src[i], src, memory_order_release);
      break;
    }
  }
  pthread_mutex_unlock(&SC.mu);
  return i < MAX_SCRIPTS ? i : -1;
}

static cluster_ticket_t *rc_call(rconn_t *rc, int argc, const char **argv, const size_t *lens,
                                 cluster_reply_fn fn, void *ud) {
  if (!rc || rc->state != RC_UP || !rc->ac) return NULL;
  const char *av[16];
  size_t al[16];
  int slot = -1;
  if (rc->use_sha && argc >= 2 && argc <= 16 && strcmp(argv[0], "EVAL") == 0 &&
      (slot = script_slot(argv[1])) >= 0) {
    if (!(rc->scripts_loaded & 1u << slot)) {
      const char *load[3] = {"SCRIPT", "LOAD", argv[1]};
      size_t ll[3] = {6, 4, lens[1]};
      if (redisAsyncCommandArgv(rc->ac, NULL, NULL, 3, load, ll) != REDIS_OK) return NULL;
      rc->scripts_loaded |= 1u << slot;
    }
    memcpy(av, argv, (size_t)argc * sizeof *av);
    memcpy(al, lens, (size_t)argc * sizeof *al);
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = SC.sha[slot], al[1] = 40;
    argv = av, lens = al;
  }
  cluster_ticket_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->rc = rc;
  t->script = slot;
  t->fn = fn;
  t->ud = ud;
  t->sent_ns = uv_hrtime();
  if (redisAsyncCommandArgv(rc->ac, on_ticket_reply, t, argc, argv, lens) != REDIS_OK) {
    free(t);
    return NULL;
  }
  dlist_insert_tail(&rc->pending, &t->link);
  return t;
}

void cluster_cancel(cluster_ticket_t *t) {
  if (!t) return;
  t->fn = NULL;
  t->ud = NULL;
}

/* A call unanswered for redis_timeout means Redis is stuck (or the path to
 * it): stop waiting on this connection and decide locally. */
static void on_watchdog(uv_timer_t *h) {
  rconn_t *rc = h->data;
  uint64_t now = now_ms(rc);
  if (rc->state == RC_CONNECTING && now - rc->state_ms > CONNECT_TIMEOUT_MS) {
    rc_fail(rc, "connect timed out");
    return;
  }
  if (rc->state != RC_UP || dlist_empty(&rc->pending)) return;
  cluster_ticket_t *t = container_of(rc->pending.next, cluster_ticket_t, link);
  if ((uv_hrtime() - t->sent_ns) / 1000000 >= K.timeout_ms) {
    char why[96];
    snprintf(why, sizeof why, "no answer within redis_timeout (%llums)", (unsigned long long)K.timeout_ms);
    rc_fail(rc, why);
  }
}

static void on_disconnect(const redisAsyncContext *ac, int status) {
  rconn_t *rc = ac->data;
  if (!rc || rc->ac != ac) return; /* we let go of it already */
  rc->ac = NULL;
  rc_gone(rc, ac->err ? ac->errstr : "connection closed");
}

static void on_connect(const redisAsyncContext *ac, int status) {
  rconn_t *rc = ac->data;
  if (!rc || rc->ac != ac) return;
  if (status != REDIS_OK) {
    rc->ac = NULL; /* hiredis frees it after this callback */
    rc_gone(rc, ac->errstr[0] ? ac->errstr : "cannot connect");
  }
}

static void on_subscribed(redisAsyncContext *ac, void *reply, void *privdata);

static void rc_up(rconn_t *rc) {
  rc->state = RC_UP;
  rc->state_ms = now_ms(rc);
  rc->backoff_ms = 0;
  rc->outage_logged = 0;
  mark_up(rc, 1);
  atomic_fetch_add(&M.connects, 1);
  if (rc->on_up) rc->on_up(rc);
}

/* Answers of the setup commands: AUTH, SELECT, then PING (which marks the
 * connection up: every setup answer before it was fine). */
static void on_setup(redisAsyncContext *ac, void *reply, void *privdata) {
  rconn_t *rc = ac->data;
  redisReply *r = reply;
  if (!rc || rc->ac != ac || !r) return;
  const char *what = privdata;
  if (r->type == REDIS_REPLY_ERROR) {
    char why[160];
    /* The server's words only: the password is never part of them. */
    snprintf(why, sizeof why, "%s refused: %.100s", what, r->str ? r->str : "");
    rc_fail(rc, why);
    return;
  }
  if (strcmp(what, "PING") != 0) return;
  if (rc->channel) {
    /* A subscriber is up once the subscription is confirmed. */
    redisAsyncCommand(ac, on_subscribed, NULL, "SUBSCRIBE %s", rc->channel);
    return;
  }
  rc_up(rc);
}

static void on_subscribed(redisAsyncContext *ac, void *reply, void *privdata) {
  rconn_t *rc = ac->data;
  redisReply *r = reply;
  if (!rc || rc->ac != ac || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 3) return;
  redisReply *kind = r->element[0];
  if (kind->type != REDIS_REPLY_STRING) return;
  if (strcmp(kind->str, "subscribe") == 0) {
    rc_up(rc);
  } else if (strcmp(kind->str, "message") == 0 && r->element[2]->type == REDIS_REPLY_STRING &&
             rc->on_message) {
    rc->on_message(r->element[2]->str, r->element[2]->len);
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  rconn_t *rc = req->data;
  rc->gai_busy = 0;
  rc->nhandles--;
  if (rc->closing) {
    if (res) uv_freeaddrinfo(res);
    if (rc->nhandles == 0) free(rc);
    return;
  }
  char ip[64] = "";
  if (status == 0 && res) {
    if (res->ai_family == AF_INET) uv_ip4_name((struct sockaddr_in *)(void *)res->ai_addr, ip, sizeof ip);
    else if (res->ai_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)(void *)res->ai_addr, ip, sizeof ip);
  }
  if (res) uv_freeaddrinfo(res);
  if (!ip[0]) {
    rc_gone(rc, status ? uv_strerror(status) : "no address for the host");
    return;
  }
  redisAsyncContext *ac = redisAsyncConnect(ip, (int)K.port);
  if (!ac || ac->err) {
    char why[160];
    snprintf(why, sizeof why, "%s", ac ? ac->errstr : "out of memory");
    if (ac) redisAsyncFree(ac);
    rc_gone(rc, why);
    return;
  }
  if (redisLibuvAttach(ac, rc->loop) != REDIS_OK) {
    redisAsyncFree(ac);
    rc_gone(rc, "cannot watch the socket");
    return;
  }
  ac->data = rc;
  rc->ac = ac;
  rc->state = RC_CONNECTING;
  rc->state_ms = now_ms(rc);
  redisAsyncSetConnectCallback(ac, on_connect);
  redisAsyncSetDisconnectCallback(ac, on_disconnect);
  /* Sent once connected, answered in this order. */
  if (K.password_len) {
    const char *argv[2] = {"AUTH", K.password};
    size_t lens[2] = {4, K.password_len};
    redisAsyncCommandArgv(ac, on_setup, (void *)"AUTH", 2, argv, lens);
  }
  if (K.db) redisAsyncCommand(ac, on_setup, (void *)"SELECT", "SELECT %u", K.db);
  redisAsyncCommand(ac, on_setup, (void *)"PING", "PING");
}

static void rc_connect(rconn_t *rc) {
  if (rc->closing || rc->state != RC_DOWN || rc->gai_busy) return;
  rc->state = RC_RESOLVING;
  rc->state_ms = now_ms(rc);
  struct addrinfo hints;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  char port[8];
  snprintf(port, sizeof port, "%u", K.port);
  rc->gai.data = rc;
  if (uv_getaddrinfo(rc->loop, &rc->gai, on_resolved, K.host, port, &hints) != 0) {
    rc_gone(rc, "cannot resolve the host");
    return;
  }
  rc->gai_busy = 1;
  rc->nhandles++;
}

static void on_handle_closed(uv_handle_t *h) {
  rconn_t *rc = h->data;
  if (--rc->nhandles == 0) free(rc);
}

static rconn_t *rc_new(uv_loop_t *loop, const char *name) {
  rconn_t *rc = calloc(1, sizeof *rc);
  if (!rc) return NULL;
  rc->loop = loop;
  rc->name = name;
  dlist_init(&rc->pending);
  uv_timer_init(loop, &rc->retry);
  uv_timer_init(loop, &rc->watchdog);
  rc->retry.data = rc->watchdog.data = rc;
  rc->nhandles = 2;
  atomic_fetch_add(&M.conns, 1);
  /* The first attempt from the loop itself (a worker's loop runs on its
   * own thread, which is not the one that creates the connection). */
  uv_timer_start(&rc->retry, on_retry, 0, 0);
  uv_timer_start(&rc->watchdog, on_watchdog, WATCHDOG_MS, WATCHDOG_MS);
  return rc;
}

static void rc_close(rconn_t *rc) {
  if (!rc || rc->closing) return;
  rc->closing = 1;
  mark_up(rc, 0);
  atomic_fetch_sub(&M.conns, 1);
  redisAsyncContext *ac = rc->ac;
  rc->ac = NULL;
  if (ac) redisAsyncFree(ac); /* calls in flight get no reply: decided locally */
  if (rc->gai_busy) uv_cancel((uv_req_t *)&rc->gai);
  uv_close((uv_handle_t *)&rc->retry, on_handle_closed);
  uv_close((uv_handle_t *)&rc->watchdog, on_handle_closed);
}

/* ---- workers ------------------------------------------------------------------ */

int cluster_worker_init(worker_t *w) {
  if (!K.on) return 0;
  static const char *const names[] = {"worker 0", "worker 1", "worker 2", "worker 3", "worker 4",
                                      "worker 5", "worker 6", "worker 7"};
  w->redis = rc_new(&w->loop, w->id >= 0 && w->id < 8 ? names[w->id] : "worker");
  if (!w->redis) return -1;
  w->redis->use_sha = 1;
  return 0;
}

void cluster_worker_close(worker_t *w) {
  rc_close(w->redis);
  w->redis = NULL;
}

cluster_ticket_t *cluster_call(worker_t *w, int argc, const char **argv, const size_t *lens,
                               cluster_reply_fn fn, void *ud) {
  return rc_call(w->redis, argc, argv, lens, fn, ud);
}

/* ---- the main thread ------------------------------------------------------------ */

static struct {
  rconn_t *cmd, *sub;
  const cluster_main_hooks_t *hooks;
  uv_async_t wake;
  int started;
  int announced; /* hooks->up ran and hooks->down not since */
} MT;

static void main_state(rconn_t *rc) {
  int both = MT.cmd && MT.sub && MT.cmd->state == RC_UP && MT.sub->state == RC_UP;
  if (both && !MT.announced) {
    MT.announced = 1;
    MT.hooks->up();
  } else if (!both && MT.announced) {
    MT.announced = 0;
    MT.hooks->down();
  }
}

static void on_wake(uv_async_t *h) {
  if (MT.hooks && MT.hooks->wake) MT.hooks->wake();
}

int cluster_main_start(uv_loop_t *loop, const char *channel, const cluster_main_hooks_t *hooks) {
  if (!K.on) return 0;
  MT.hooks = hooks;
  if (uv_async_init(loop, &MT.wake, on_wake)) return -1;
  MT.started = 1;
  MT.cmd = rc_new(loop, "revocations");
  MT.sub = rc_new(loop, "revocation events");
  if (!MT.cmd || !MT.sub) return -1;
  MT.sub->channel = channel;
  MT.sub->on_message = hooks->message;
  MT.cmd->on_up = MT.cmd->on_down = MT.sub->on_up = MT.sub->on_down = main_state;
  return 0;
}

void cluster_main_stop(void) {
  if (!MT.started) return;
  MT.started = 0;
  MT.hooks = NULL;
  rc_close(MT.cmd);
  rc_close(MT.sub);
  MT.cmd = MT.sub = NULL;
  uv_close((uv_handle_t *)&MT.wake, NULL);
}

cluster_ticket_t *cluster_main_call(int argc, const char **argv, const size_t *lens,
                                    cluster_reply_fn fn, void *ud) {
  return rc_call(MT.cmd, argc, argv, lens, fn, ud);
}

void cluster_main_wake(void) {
  if (MT.started) uv_async_send(&MT.wake);
}
