/* server: worker threads, each with its own libuv loop and its own listening
 * sockets (SO_REUSEPORT, so the kernel spreads connections), the coarse
 * timeout sweep, the access log, and drain/stop on the main thread's word. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "jwt.h"
#include "policy.h"
#include "snapshot.h"
#include "metrics.h"
#include "sdnotify.h"

#define TICK_MS 100
/* Like nginx: after accept() ran out of descriptors, wait this long. */
#define ACCEPT_PAUSE_MS 500
/* Refusals are logged at most this often per worker and reason. */
#define REFUSED_LOG_MS 5000
#define ACCESS_FLUSH_BYTES (16 * 1024)

atomic_uint gw_open_connections;
atomic_int gw_ready;

static int access_fd = -1;

uint64_t worker_now(worker_t *w) { return uv_now(&w->loop); }

unsigned server_cpu_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return (unsigned)n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

int server_open_access_log(const gw_config_t *cfg) {
  if (!cfg->access_log || strcmp(cfg->access_log, "off") == 0) {
    access_fd = -1;
    return 0;
  }
  if (strcmp(cfg->access_log, "-") == 0) {
    access_fd = STDOUT_FILENO;
    return 0;
  }
  access_fd = open(cfg->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (access_fd < 0) {
    LOG_ERROR("cannot open access log %s: %s", cfg->access_log, strerror(errno));
    return -1;
  }
  return 0;
}

/* On SIGHUP, for log rotation: the new file takes the old descriptor's
 * number (dup2 is atomic), so workers writing concurrently never see a
 * closed descriptor. Only a file can replace a file. */
int server_reopen_access_log(const gw_config_t *cfg) {
  const char *p = cfg->access_log;
  int is_file = p && strcmp(p, "-") != 0;
  if (!is_file || access_fd <= STDERR_FILENO) return (is_file || access_fd > STDERR_FILENO) ? -1 : 0;
  int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    LOG_ERROR("cannot open access log %s: %s", p, strerror(errno));
    return -1;
  }
  int rc = dup3(fd, access_fd, O_CLOEXEC) < 0 ? -1 : 0;
  close(fd);
  return rc;
}

static void access_flush(worker_t *w) {
  if (w->access.len == 0 || access_fd < 0) {
    w->access.len = 0;
    return;
  }
  size_t off = 0;
  while (off < w->access.len) {
    ssize_t n = write(access_fd, w->access.data + off, w->access.len - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += (size_t)n;
  }
  w->access.len = 0;
}

int access_log_enabled(void) { return access_fd >= 0; }

void access_log_request(request_t *r) {
  worker_t *w = r->c->w;
  if (r->c->is_admin) return;
  if (w->mc && r->gen->snap->ml) {
    uint32_t up = r->pool ? (uint32_t)(r->pool - r->gen->pools) : GW_MUP_NONE;
    uint32_t route = r->route ? r->route->index : r->pool ? GW_MROUTE_UNMATCHED : GW_MROUTE_NONE;
    metrics_request(w->mc, r->gen->snap->ml, up, route, (unsigned)r->status);
  }
  if (access_fd < 0) return;
  char ts[40], method[64], path[600];
  gw_time_rfc3339(ts, sizeof ts);
  gw_json_escape(method, sizeof method, r->arena + r->method_off, r->method_len, 20);
  /* The query is never logged: it may carry an access_token. */
  size_t plen = r->url_len;
  const char *url = r->arena + r->url_off;
  const char *q = memchr(url, '?', plen);
  if (q) plen = (size_t)(q - url);
  gw_json_escape(path, sizeof path, url, plen, 256);
  uint64_t now = worker_now(w);
  outbuf_printf(&w->access,
                "{\"time\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
                "\"upstream\":%s%s%s,\"bytes\":%llu,\"duration_ms\":%llu",
                ts, method, path, r->status, r->pool ? "\"" : "",
                r->pool ? r->pool->cfg->name : "null", r->pool ? "\"" : "",
                (unsigned long long)r->bytes_out, (unsigned long long)(now - r->start_ms));
  if (r->route) {
    char pat[400];
    gw_json_escape(pat, sizeof pat, r->route->pattern, strlen(r->route->pattern), 256);
    outbuf_printf(&w->access, ",\"route\":\"%s %s\"", r->route->methods, pat);
  }
  if (r->pool && r->up_start_ms)
    outbuf_printf(&w->access, ",\"upstream_ms\":%llu", (unsigned long long)r->up_ms);
  if (r->request_id[0]) outbuf_printf(&w->access, ",\"request_id\":\"%s\"", r->request_id);
  if (r->decision) outbuf_printf(&w->access, ",\"decision\":\"%s\"", r->decision);
  if (r->reason) outbuf_printf(&w->access, ",\"reason\":\"%s\"", r->reason);
  if (r->kind) outbuf_printf(&w->access, ",\"kind\":\"%s\"", r->kind);
  outbuf_append(&w->access, r->logx.data, r->logx.len);
  OUTBUF_LIT(&w->access, "}\n");
  if (w->access.len > ACCESS_FLUSH_BYTES) access_flush(w);
}

/* ---- sockets -------------------------------------------------------------- */

int server_bind(const gw_listen_t *l, int reuseport) {
  int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  if (l->addr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) < 0 || listen(fd, 1024) < 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  return fd;
}

/* ---- accepting: pauses, refusals, the descriptor budget ------------------ */

/* Closed at once, not in the close callback: SIGTERM refuses new
 * connections from the moment it is seen. */
static void close_listeners(worker_t *w) {
  for (size_t i = 0; i < w->nlisteners; i++) {
    gw_listener_t *l = &w->listeners[i];
    if (l->fd < 0) continue;
    uv_close((uv_handle_t *)&l->poll, NULL);
    close(l->fd);
    l->fd = -1;
  }
}

/* The count since the previous message goes with each message, so a flood
 * costs a line per REFUSED_LOG_MS, not one per connection. Returns that
 * count when a message is due, else 0. */
static unsigned refused(worker_t *w, gw_mrefused_t why) {
  if (w->mc) metrics_connection_refused(w->mc, why);
  w->refused_unlogged[why]++;
  uint64_t now = worker_now(w);
  if (now < w->refused_log_ms[why]) return 0;
  w->refused_log_ms[why] = now + REFUSED_LOG_MS;
  unsigned n = w->refused_unlogged[why];
  w->refused_unlogged[why] = 0;
  return n;
}

void server_refused_max_connections(worker_t *w) {
  unsigned n = refused(w, GW_MREFUSED_MAX_CONNECTIONS);
  if (n)
    LOG_WARN("worker %d: connection limit (%u) reached: %u new connection(s) closed since the last message",
             w->id, server_max_connections(w->cfg), n);
}

static void on_accept_resume(uv_timer_t *t) {
  worker_t *w = t->data;
  w->accept_paused = 0;
  if (w->draining) return;
  for (size_t i = 0; i < w->nlisteners; i++)
    uv_poll_start(&w->listeners[i].poll, UV_READABLE, conn_on_listener);
}

/* Every listener of the worker pauses: descriptors are the process's, so
 * the others would fail the same way. Connections wait in the backlog;
 * those already accepted are served meanwhile and free descriptors. */
void server_accept_failed(worker_t *w, int err) {
  if (w->accept_paused || w->draining) return;
  w->accept_paused = 1;
  for (size_t i = 0; i < w->nlisteners; i++) uv_poll_stop(&w->listeners[i].poll);
  uv_timer_start(&w->accept_timer, on_accept_resume, ACCEPT_PAUSE_MS, 0);
  if (err != EMFILE && err != ENFILE) {
    LOG_ERROR("worker %d: accept: %s: not accepting new connections for %d ms", w->id, strerror(err),
              ACCEPT_PAUSE_MS);
    return;
  }
  unsigned n = refused(w, GW_MREFUSED_DESCRIPTORS);
  if (n)
    LOG_WARN("worker %d: accept: %s: not accepting new connections for %d ms "
             "(%u pause(s) since the last message)",
             w->id, strerror(err), ACCEPT_PAUSE_MS, n);
}

/* Descriptors outside client connections: those open once the listeners
 * are up (measured), idle upstream pools, and a reserve for key set
 * fetches, name lookups, reloads and admin connections. Each client
 * connection needs two: itself and its upstream connection. */
#define FD_RESERVE 32
static rlim_t fd_limit = RLIM_INFINITY;
static unsigned long fd_base;
static atomic_uint fd_max_connections = UINT_MAX;

unsigned server_max_connections(const gw_config_t *cfg) {
  unsigned cap = atomic_load_explicit(&fd_max_connections, memory_order_relaxed);
  return cfg->max_connections < cap ? cfg->max_connections : cap;
}

/* HAProxy and nginx size themselves from the hard limit too: the soft one
 * is often left at a default far below what the host allows. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rlim_t was = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
      LOG_INFO("descriptor limit raised from %llu to %llu", (unsigned long long)was,
               (unsigned long long)rl.rlim_max);
    else
      LOG_WARN("cannot raise the descriptor limit from %llu to %llu: %s", (unsigned long long)was,
               (unsigned long long)rl.rlim_max, strerror(errno));
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) fd_limit = rl.rlim_cur;
}

static unsigned long count_open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 64; /* a guess on the safe side */
  unsigned long n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n > 0 ? n - 1 : 0; /* not the directory's own descriptor */
}

void server_fit_max_connections(const gw_config_t *cfg, unsigned nworkers) {
  if (fd_limit == RLIM_INFINITY) return;
  unsigned long long pools = 0;
  for (size_t i = 0; i < cfg->nupstreams; i++) pools += cfg->upstreams[i].pool_size;
  pools *= nworkers;
  unsigned long long used = fd_base + pools + FD_RESERVE;
  unsigned long long fit = fd_limit > used ? (fd_limit - used) / 2 : 0;
  if (fit < 1) fit = 1;
  if (fit > UINT_MAX) fit = UINT_MAX;
  atomic_store_explicit(&fd_max_connections, (unsigned)fit, memory_order_relaxed);
  if (fit < cfg->max_connections)
    LOG_WARN("max_connections %u lowered to %llu: the descriptor limit is %llu (%lu in use at start, "
             "%llu for idle upstream pools, %d in reserve, 2 per connection)",
             cfg->max_connections, fit, (unsigned long long)fd_limit, fd_base, pools, FD_RESERVE);
}

/* ---- the worker loop ---------------------------------------------------- */

static void worker_close_handles(worker_t *w);
static void worker_swap(worker_t *w, gw_snapshot_t *snap);

static void on_tick(uv_timer_t *t) {
  worker_t *w = t->data;
  uint64_t now = worker_now(w);
  dlist_t *it, *next;
  for (it = w->clients.next; it != &w->clients; it = next) {
    next = it->next;
    client_t *c = container_of(it, client_t, link);
    if (c->tmo != TMO_NONE && !c->closing && c->deadline <= now) conn_timeout(c);
  }
  for (it = w->upconns.next; it != &w->upconns; it = next) {
    next = it->next;
    upconn_t *uc = container_of(it, upconn_t, link);
    if (uc->tmo != TMO_NONE && !uc->closing && uc->deadline <= now) upstream_timeout(uc);
  }
  for (size_t i = 0; i < w->cur->cfg->nupstreams; i++) {
    upool_t *p = &w->cur->pools[i];
    for (it = p->idle.next; it != &p->idle; it = next) {
      next = it->next;
      upconn_t *uc = container_of(it, upconn_t, link);
      if (uc->deadline <= now) upstream_close(uc);
    }
  }
  access_flush(w);
  if (w->draining && w->nclients == 0 && !w->stopping) worker_close_handles(w);
}

static void worker_close_handles(worker_t *w) {
  if (w->stopping) return;
  w->stopping = 1;
  for (size_t i = 0; i < w->cur->cfg->nupstreams; i++) upstream_pool_close_all(&w->cur->pools[i]);
  dlist_t *it, *next;
  for (it = w->clients.next; it != &w->clients; it = next) {
    next = it->next;
    conn_close(container_of(it, client_t, link));
  }
  for (it = w->upconns.next; it != &w->upconns; it = next) {
    next = it->next;
    upstream_close(container_of(it, upconn_t, link));
  }
  close_listeners(w);
  uv_close((uv_handle_t *)&w->accept_timer, NULL);
  uv_close((uv_handle_t *)&w->tick, NULL);
  uv_close((uv_handle_t *)&w->async, NULL);
  upstream_batch_close(w);
}

static void on_async(uv_async_t *a) {
  worker_t *w = a->data;
  server_t *s = w->server;
  int cmd = atomic_load(&s->command);
  if (cmd >= SERVER_DRAIN && !w->draining) {
    w->draining = 1;
    close_listeners(w);
    dlist_t *it, *next;
    for (it = w->clients.next; it != &w->clients; it = next) {
      next = it->next;
      conn_drain(container_of(it, client_t, link));
    }
    for (size_t i = 0; i < w->cur->cfg->nupstreams; i++) upstream_pool_close_all(&w->cur->pools[i]);
  }
  if (cmd >= SERVER_STOP || (w->draining && w->nclients == 0)) {
    worker_close_handles(w);
    return;
  }
  gw_snapshot_t *snap = atomic_load(&s->snap);
  if (snap != w->cur->snap) worker_swap(w, snap);
  gate_wake(w);
}

static void worker_main(void *arg) {
  worker_t *w = arg;
  uv_run(&w->loop, UV_RUN_DEFAULT);
  access_flush(w);
  /* Run once more so close callbacks of the last handles complete. */
  uv_run(&w->loop, UV_RUN_NOWAIT);
  wgen_t *g = w->cur;
  w->cur = NULL;
  wgen_release(g);
  conn_free_recycled(w);
  upstream_batch_free(w);
  jwt_thread_cleanup();
  atomic_fetch_add(&w->server->finished, 1);
  uv_async_send(&w->server->main_async);
}

/* ---- configuration generations ------------------------------------------- */

wgen_t *wgen_new(worker_t *w, gw_snapshot_t *snap) {
  const gw_config_t *cfg = snap->cfg;
  wgen_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->w = w;
  g->cfg = cfg;
  dlist_init(&g->link);
  g->pools = calloc(cfg->nupstreams ? cfg->nupstreams : 1, sizeof *g->pools);
  g->gate = gate_new(&snap->auth);
  if (!g->pools || !g->gate) {
    gate_free(g->gate);
    free(g->pools);
    free(g);
    return NULL;
  }
  g->snap = snapshot_ref(snap);
  g->tls_ctx = snap->server_tls ? tls_server_ctx(snap->server_tls) : NULL;
  g->snap_upstream_tls = snap->upstream_tls;
  g->users = 1; /* the worker's own reference while it is current */
  for (size_t i = 0; i < cfg->nupstreams; i++) {
    upool_t *p = &g->pools[i];
    p->w = w;
    p->gen = g;
    p->cfg = &cfg->upstreams[i];
    dlist_init(&p->idle);
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    if (uv_ip4_addr(p->cfg->url.host, p->cfg->url.port, &a4) == 0) {
      memcpy(&p->addr, &a4, sizeof a4);
      p->addrlen = sizeof a4;
    } else if (uv_ip6_addr(p->cfg->url.host, p->cfg->url.port, &a6) == 0) {
      memcpy(&p->addr, &a6, sizeof a6);
      p->addrlen = sizeof a6;
    } else {
      p->addr_expires = 1; /* a host name: resolve before the first connect */
    }
  }
  return g;
}

void wgen_release(wgen_t *g) {
  if (--g->users > 0) return;
  /* Its token cache goes with it: the gauge counts live entries only. */
  if (g->w->mc) metrics_token_cache_entries_add(g->w->mc, -(int64_t)gate_cache_entries(g->gate));
  dlist_remove(&g->link);
  gate_free(g->gate);
  free(g->pools);
  snapshot_unref(g->snap);
  free(g);
}

/* SIGHUP built a new snapshot: new requests use it; requests in flight
 * finish on the one they started with. */
static void worker_swap(worker_t *w, gw_snapshot_t *snap) {
  wgen_t *g = wgen_new(w, snap);
  if (!g) {
    LOG_ERROR("worker %d: out of memory applying the new configuration", w->id);
    return;
  }
  wgen_t *old = w->cur;
  for (size_t i = 0; i < old->cfg->nupstreams; i++) upstream_pool_close_all(&old->pools[i]);
  gate_wake_all(old->gate);
  w->cur = g;
  w->cfg = g->cfg;
  dlist_insert_tail(&w->retired, &old->link);
  wgen_release(old);
}

static int worker_init(server_t *s, worker_t *w, int id) {
  w->id = id;
  w->server = s;
  dlist_init(&w->clients);
  dlist_init(&w->upconns);
  dlist_init(&w->retired);
  if (uv_loop_init(&w->loop)) return -1;
  w->loop.data = w;
  uv_timer_init(&w->loop, &w->tick);
  w->tick.data = w;
  uv_timer_init(&w->loop, &w->accept_timer);
  w->accept_timer.data = w;
  uv_async_init(&w->loop, &w->async, on_async);
  w->async.data = w;
  upstream_batch_init(w);
  w->cur = wgen_new(w, atomic_load(&s->snap));
  if (!w->cur) return -1;
  w->mc = s->metrics ? metrics_worker(s->metrics, (unsigned)id) : NULL;
  if (getrandom(w->rid_state, sizeof w->rid_state, 0) != sizeof w->rid_state || !(w->rid_state[0] | w->rid_state[1])) {
    w->rid_state[0] = uv_hrtime() | 1;
    w->rid_state[1] = (uint64_t)(uintptr_t)w ^ 0x9e3779b97f4a7c15u;
  }
  w->cfg = w->cur->cfg;
  uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
  return 0;
}

static int add_listener(worker_t *w, int fd, int kind) {
  gw_listener_t *l = &w->listeners[w->nlisteners];
  int rc = uv_poll_init_socket(&w->loop, &l->poll, fd);
  if (rc) {
    LOG_ERROR("listen: %s", uv_strerror(rc));
    close(fd);
    return -1;
  }
  l->poll.data = w;
  l->fd = fd;
  l->kind = (uint8_t)kind;
  w->nlisteners++; /* closed by close_listeners from here on */
  rc = uv_poll_start(&l->poll, UV_READABLE, conn_on_listener);
  if (rc) {
    LOG_ERROR("listen: %s", uv_strerror(rc));
    return -1;
  }
  return 0;
}

/* Start-up failed: undo what worker_init and add_listener did. */
void server_abort(server_t *s) {
  for (unsigned i = 0; i < s->nworkers && s->workers; i++) {
    worker_t *w = &s->workers[i];
    if (!w->loop.data) continue; /* never initialized */
    close_listeners(w);
    uv_close((uv_handle_t *)&w->accept_timer, NULL);
    uv_close((uv_handle_t *)&w->tick, NULL);
    uv_close((uv_handle_t *)&w->async, NULL);
    upstream_batch_close(w);
    uv_run(&w->loop, UV_RUN_NOWAIT);
    uv_loop_close(&w->loop);
    upstream_batch_free(w);
    if (w->cur) wgen_release(w->cur);
    w->cur = NULL;
  }
  free(s->workers);
  s->workers = NULL;
}

/* Sockets passed by systemd (socket activation), matched to the configured
 * addresses; worker 0 takes the passed descriptor, the others a dup() of it
 * (a passed socket has no SO_REUSEPORT twin to bind). */
#define MAX_PASSED 64
static int passed_fds[MAX_PASSED], npassed;
static uint8_t passed_used[MAX_PASSED];

static int listen_fd(const gw_listen_t *l, unsigned worker, int reuseport) {
  int k = sd_listen_fd_find(passed_fds, npassed, (const struct sockaddr *)&l->addr, l->addrlen);
  if (k < 0) return server_bind(l, reuseport);
  passed_used[k] = 1;
  if (worker == 0) return passed_fds[k];
  int fd = fcntl(passed_fds[k], F_DUPFD_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
}

static int open_listener(worker_t *w, unsigned i, const gw_listen_t *l, int kind) {
  int fd = listen_fd(l, i, kind != LISTENER_ADMIN);
  if (fd < 0) {
    LOG_ERROR("cannot listen on %s%s: %s", l->text,
              kind == LISTENER_TLS ? " (TLS)" : kind == LISTENER_ADMIN ? " (admin)" : "",
              strerror(-fd));
    return 2;
  }
  return add_listener(w, fd, kind) ? 2 : 0;
}

int server_start(server_t *s) {
  const gw_config_t *cfg = s->cfg;
  s->nworkers = cfg->workers ? cfg->workers : server_cpu_count();
  s->workers = calloc(s->nworkers, sizeof *s->workers);
  if (!s->workers) return 2;
  raise_fd_limit();
  npassed = sd_listen_fds_get(passed_fds, MAX_PASSED);
  if (npassed < 0) npassed = 0;
  if (npassed) LOG_INFO("socket activation: %d socket(s) passed", npassed);
  for (unsigned i = 0; i < s->nworkers; i++) {
    worker_t *w = &s->workers[i];
    if (worker_init(s, w, (int)i)) return 2;
    for (size_t l = 0; l < cfg->nlisten; l++)
      if (open_listener(w, i, &cfg->listen[l], LISTENER_PLAIN)) return 2;
    for (size_t l = 0; l < cfg->ntls_listen; l++)
      if (open_listener(w, i, &cfg->tls_listen[l], LISTENER_TLS)) return 2;
    if (i == 0 && cfg->admin_enabled && open_listener(w, i, &cfg->admin_listen, LISTENER_ADMIN))
      return 2;
  }
  for (int k = 0; k < npassed; k++) {
    if (passed_used[k]) continue;
    LOG_WARN("socket activation: a passed socket matches no configured address; closed");
    close(passed_fds[k]);
  }
  fd_base = count_open_fds();
  server_fit_max_connections(cfg, s->nworkers);
  for (unsigned i = 0; i < s->nworkers; i++) {
    if (uv_thread_create(&s->workers[i].thread, worker_main, &s->workers[i])) {
      LOG_ERROR("cannot start worker thread %u", i);
      return 2;
    }
    s->started++;
  }
  return 0;
}

/* Wakes every worker (e.g. a key set fetch ended) without a command. */
void server_notify(void *ud) {
  server_t *s = ud;
  for (unsigned i = 0; i < s->started; i++) uv_async_send(&s->workers[i].async);
}

void server_command(server_t *s, int cmd) {
  atomic_store(&s->command, cmd);
  for (unsigned i = 0; i < s->started; i++) uv_async_send(&s->workers[i].async);
}

void server_join(server_t *s) {
  for (unsigned i = 0; i < s->started; i++) uv_thread_join(&s->workers[i].thread);
  for (unsigned i = 0; i < s->nworkers; i++) {
    worker_t *w = &s->workers[i];
    if (i < s->started) {
      uv_loop_close(&w->loop);
    }
    outbuf_free(&w->access);
  }
  free(s->workers);
  s->workers = NULL;
  if (access_fd > STDERR_FILENO) close(access_fd);
  access_fd = -1;
}
