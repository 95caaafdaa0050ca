/* server: worker threads, each with its own libuv loop and its own listening
 * sockets (SO_REUSEPORT, so the kernel spreads connections), socket
 * activation, and drain/stop on the main thread's word. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "accesslog.h"
#include "conn.h"
#include "log.h"
#include "sdnotify.h"
#include "worker.h"

unsigned server_cpu_count(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return (unsigned)n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
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

/* SO_REUSEPORT lets any socket of the same user join the group: a second
 * gateway (or anything else that set it) would share the port and get half
 * the connections, silently. Before the first worker binds an address, a
 * socket without SO_REUSEPORT must be able to take it: then nobody holds it.
 * (Two instances starting within the same microseconds could both pass;
 * the check is for the operator's mistake, not a lock.) */
static int address_free(const gw_listen_t *l) {
  int fd = server_bind(l, 0);
  if (fd < 0) return fd;
  close(fd);
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
  w->nlisteners++; /* closed by conn_listeners_close from here on */
  rc = uv_poll_start(&l->poll, UV_READABLE, conn_on_listener);
  if (rc) {
    LOG_ERROR("listen: %s", uv_strerror(rc));
    return -1;
  }
  return 0;
}

/* ---- the descriptor budget ------------------------------------------------ */

/* Descriptors outside client connections: those open once the listeners
 * are up (measured), idle upstream pools, and a reserve for key set
 * fetches, name lookups, reloads and admin connections. Each client
 * connection needs two: itself and its upstream connection. */
#define FD_RESERVE 32
static rlim_t fd_limit = RLIM_INFINITY;
static unsigned long fd_base;

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
  atomic_store_explicit(&gw_fd_max_connections, (unsigned)fit, memory_order_relaxed);
  if (fit < cfg->max_connections)
    LOG_WARN("max_connections %u lowered to %llu: the descriptor limit is %llu (%lu in use at start, "
             "%llu for idle upstream pools, %d in reserve, 2 per connection)",
             cfg->max_connections, fit, (unsigned long long)fd_limit, fd_base, pools, FD_RESERVE);
}

/* Start-up failed: undo what worker_init and add_listener did. */
void server_abort(server_t *s) {
  for (unsigned i = 0; i < s->nworkers && s->workers; i++) worker_abort(&s->workers[i]);
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
  if (k < 0) {
    int rc = reuseport && worker == 0 ? address_free(l) : 0;
    return rc < 0 ? rc : server_bind(l, reuseport);
  }
  passed_used[k] = 1;
  if (worker == 0) return passed_fds[k];
  int fd = fcntl(passed_fds[k], F_DUPFD_CLOEXEC, 0);
  return fd < 0 ? -errno : fd;
}

static int open_listener(worker_t *w, unsigned i, const gw_listen_t *l, int kind) {
  int fd = listen_fd(l, i, kind != LISTENER_ADMIN);
  if (fd < 0) {
    LOG_ERROR("cannot listen on %s%s: %s", l->text,
              kind == LISTENER_TLS        ? " (TLS)"
              : kind == LISTENER_ADMIN    ? " (admin)"
              : kind == LISTENER_DECISION ? " (decision)"
                                          : "",
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
    for (size_t l = 0; l < cfg->ndecision_listen; l++)
      if (open_listener(w, i, &cfg->decision_listen[l], LISTENER_DECISION)) return 2;
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
  access_log_close();
}
