/* main: command line, signals and the lifecycle of one gateway process.
 * Exit codes: 0 clean, 1 configuration error, 2 runtime failure. */
#include <getopt.h>
#include <termios.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lint.h"
#include "m2m.h"
#include <openssl/crypto.h>
#include "snapshot.h"
#include <jansson.h>
#include "log.h"
#include "llhttp.h"
#include "sdnotify.h"
#include "server.h"
#include "accesslog.h"
#include "jobs.h"
#include "logring.h"
#include "cluster.h"
#include "revocations.h"
#include "revsync.h"

#ifndef GW_VERSION
#define GW_VERSION "0.1.0"
/* How long exit waits for a slow log reader before giving up on it. */
#define LOG_DRAIN_MS 2000
#endif

typedef struct {
  const char *conf;
  uv_loop_t *loop;
  server_t server;
  gw_snapshot_t *first;    /* kept for its listeners and workers, which need a restart to change */
  gw_snapshot_t *current;  /* what workers are told to use; holds the main loop's reference */
  gw_snapshot_t *retired;  /* replaced, freed here once no worker uses them */
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t drain_timer, reaper;
  gw_metrics_t *metrics;
  unsigned reloads_ok, reloads_failed;
  int draining;
  int notified_ready;
} app_t;

static void usage(FILE *f) {
  fprintf(f,
          "usage: gateway -c FILE      run with the configuration FILE\n"
          "       gateway -t -c FILE   check FILE (and the policy and key files it names), then exit;\n"
          "                            warnings are printed and do not fail the check\n"
          "       gateway -T -c FILE   the same check, warnings count as errors (also --strict)\n"
          "       gateway --hash-secret  read an M2M client secret on stdin, print its\n"
          "                            `secret =` value for the [m2m] clients file\n"
          "       gateway --version | --help\n"
          "\n"
          "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads configuration, policy\n"
          "and jwks_files (an invalid new configuration is logged and the old one kept).\n"
          "Exit codes: 0 clean, 1 configuration error, 2 runtime failure.\n");
}

static void print_errors(gw_errors_t *errs, gw_log_level_t level, int to_log) {
  for (size_t i = 0; i < errs->n; i++) {
    if (to_log)
      gw_log(level, "%s", errs->msgs[i]);
    else
      fprintf(stderr, "%s\n", errs->msgs[i]);
  }
}

/* What -t warns about is logged by a running gateway too, so a reload that
 * brings a shadowed route in says so; under `strict = on` as errors, and
 * then the caller refuses the configuration. Returns the number. */
static size_t lint(const gw_snapshot_t *s, int to_log) {
  gw_errors_t w = {0};
  size_t n = config_lint(s->cfg, s->auth.policy, &w);
  print_errors(&w, s->cfg->strict ? GW_LOG_ERROR : GW_LOG_WARN, to_log);
  gw_errors_free(&w);
  return n;
}

static void close_main_handles(app_t *a) {
  keystore_stop(&a->current->keys);
  revsync_stop();
  uv_close((uv_handle_t *)&a->sigterm, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sighup, NULL);
  uv_close((uv_handle_t *)&a->drain_timer, NULL);
  uv_close((uv_handle_t *)&a->reaper, NULL);
  uv_close((uv_handle_t *)&a->server.main_async, NULL);
}

static void on_worker_done(uv_async_t *h) {
  app_t *a = h->data;
  /* Async sends coalesce, so the count lives in the server, not here. */
  if (atomic_load(&a->server.finished) < a->server.started) {
    if (atomic_load(&a->server.command) == SERVER_RUN) {
      LOG_ERROR("a worker stopped unexpectedly; stopping");
      server_command(&a->server, SERVER_STOP);
    }
    return;
  }
  close_main_handles(a);
}

/* systemd's READY=1 waits for the listeners and for every issuer's first
 * key set, like /readyz. Called after start and after every key fetch. */
static void maybe_ready(app_t *a) {
  if (a->notified_ready || a->draining || !keystore_all_loaded(&a->current->keys) ||
      !revsync_ready(NULL, 0))
    return;
  a->notified_ready = 1;
  sd_notify_ready("serving");
}

static app_t *the_app; /* for on_revocations_loaded, which takes no argument */
static void on_revocations_loaded(void) {
  if (the_app) maybe_ready(the_app);
}

static void on_keys(void *ud) {
  app_t *a = ud;
  server_notify(&a->server);
  maybe_ready(a);
}

static void on_drain_timeout(uv_timer_t *t) {
  app_t *a = t->data;
  LOG_WARN("drain_timeout reached: closing remaining connections");
  server_command(&a->server, SERVER_STOP);
}

static void start_drain(uv_timer_t *t) {
  app_t *a = t->data;
  uint64_t ms = a->current->cfg->drain_timeout_ms;
  LOG_INFO("draining (up to %llums)", (unsigned long long)ms);
  server_command(&a->server, SERVER_DRAIN);
  uv_timer_start(&a->drain_timer, on_drain_timeout, ms, 0);
}

static void on_stop_signal(uv_signal_t *s, int signum) {
  app_t *a = s->data;
  if (a->draining) {
    if (signum == SIGINT) server_command(&a->server, SERVER_STOP);
    return;
  }
  a->draining = 1;
  atomic_store(&gw_stopping, 1);
  sd_notify_stopping("draining");
  uint64_t delay = a->current->cfg->shutdown_delay_ms;
  LOG_INFO("%s: stopping; /readyz is 503 from now on", signum == SIGTERM ? "SIGTERM" : "SIGINT");
  if (delay) {
    /* A load balancer that polls /readyz takes the instance out before
     * its listeners close: requests routed meanwhile are still served. */
    LOG_INFO("shutdown_delay: serving for %llums before the drain", (unsigned long long)delay);
    uv_timer_start(&a->drain_timer, start_drain, delay, 0);
    return;
  }
  start_drain(&a->drain_timer);
}

/* Frees replaced snapshots no worker uses any more. Their key stores were
 * stopped when they were replaced, so their handles are closed by now. */
static void reap(app_t *a, int all) {
  gw_snapshot_t **pp = &a->retired;
  while (*pp) {
    gw_snapshot_t *s = *pp;
    if (all || atomic_load(&s->refs) == 0) {
      *pp = s->next_retired;
      snapshot_free(s);
    } else {
      pp = &s->next_retired;
    }
  }
}

static void on_reaper(uv_timer_t *t) { reap(t->data, 0); }

static int same_listen(const gw_listen_t *a, size_t na, const gw_listen_t *b, size_t nb) {
  if (na != nb) return 0;
  for (size_t i = 0; i < na; i++)
    if (strcmp(a[i].text, b[i].text) != 0) return 0;
  return 1;
}

static void on_hup(uv_signal_t *sig, int signum) {
  app_t *a = sig->data;
  (void)signum;
  if (a->draining) return;
  sd_notify_reloading("reloading configuration");
  gw_errors_t errs = {0};
  gw_snapshot_t *next = snapshot_load(a->conf, a->current, a->metrics, &errs);
  if (!next) {
    a->reloads_failed++;
    metrics_reload(a->metrics, 0);
    LOG_ERROR("SIGHUP: reload of %s failed; the running configuration stays:", a->conf);
    print_errors(&errs, GW_LOG_ERROR, 1);
    gw_errors_free(&errs);
    sd_notify_ready("reload failed; serving the previous configuration");
    return;
  }
  gw_errors_free(&errs);
  size_t nw = lint(next, 1);
  if (next->cfg->strict && nw) {
    a->reloads_failed++;
    metrics_reload(a->metrics, 0);
    LOG_ERROR("SIGHUP: %zu warning%s in %s, which strict = on counts as errors; the running "
              "configuration stays", nw, nw == 1 ? "" : "s", a->conf);
    snapshot_free(next);
    sd_notify_ready("reload failed; serving the previous configuration");
    return;
  }
  const gw_config_t *now = a->first->cfg, *c = next->cfg;
  if (!same_listen(now->listen, now->nlisten, c->listen, c->nlisten) ||
      now->workers != c->workers || now->admin_enabled != c->admin_enabled ||
      (c->admin_enabled && strcmp(now->admin_listen.text, c->admin_listen.text) != 0))
    LOG_WARN("SIGHUP: listen, workers and [admin] changes take effect at the next restart");
  cluster_check_reload(c);
  if (access_log_reopen(c))
    LOG_WARN("SIGHUP: the access log keeps its previous destination");
  server_fit_max_connections(c, a->server.nworkers);
  gw_snapshot_t *old = a->current;
  keystore_stop(&old->keys);
  keystore_start(&next->keys, a->loop, on_keys, a);
  a->current = next;
  atomic_store(&a->server.snap, next);
  server_notify(&a->server);
  snapshot_unref(old); /* the main loop's reference */
  old->next_retired = a->retired;
  a->retired = old;
  a->reloads_ok++;
  metrics_activate(a->metrics, next->ml);
  metrics_reload(a->metrics, 1);
  LOG_INFO("SIGHUP: configuration reloaded from %s", a->conf);
  if (a->notified_ready)
    sd_notify_ready("serving");
  else
    maybe_ready(a);
}

/* --hash-secret: the secret comes from stdin (asked for without echo on a
 * terminal), never from argv, where `ps` would show it to every user. */
static int hash_secret(void) {
  char secret[4097], out[GW_M2M_HASH_MAX];
  struct termios old, quiet;
  int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    fprintf(stderr, "client secret: ");
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  size_t n = 0;
  int ch;
  while (n < sizeof secret && (ch = getchar()) != EOF && !(tty && ch == '\n')) secret[n++] = (char)ch;
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  if (n > 0 && secret[n - 1] == '\n') n--; /* printf/echo's newline is not part of it */
  if (n > 0 && secret[n - 1] == '\r') n--;
  int rc = 1;
  if (n == sizeof secret)
    fprintf(stderr, "gateway: secret longer than %zu bytes\n", sizeof secret - 1);
  else if (n == 0 || memchr(secret, '\0', n))
    fprintf(stderr, "gateway: %s\n", n ? "the secret contains a NUL byte" : "empty secret");
  else if (m2m_hash_secret(secret, n, GW_M2M_DEFAULT_ITERATIONS, out, sizeof out) != 0)
    fprintf(stderr, "gateway: cannot hash the secret\n");
  else {
    printf("%s\n", out);
    rc = 0;
  }
  OPENSSL_cleanse(secret, sizeof secret);
  return rc;
}

int main(int argc, char **argv) {
  const char *conf = NULL;
  int test_only = 0, strict = 0;
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
      {"strict", no_argument, NULL, 'T'},       {"hash-secret", no_argument, NULL, 'H'},
      {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:tTVh", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': conf = optarg; break;
    case 't': test_only = 1; break;
    case 'T': test_only = strict = 1; break;
    case 'V': printf("gateway %s (libuv %s, llhttp %d.%d.%d)\n", GW_VERSION, uv_version_string(),
                     LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
      return 0;
    case 'h': usage(stdout); return 0;
    case 'H': return optind == argc ? hash_secret() : (usage(stderr), 1);
    default: usage(stderr); return 1;
    }
  }
  if (!conf || optind != argc) {
    usage(stderr);
    return 1;
  }

  /* jansson's hash seed is set lazily and not thread-safe: set it before any worker. */
  json_object_seed(0);
  gw_errors_t errs = {0};
  gw_snapshot_t *snap = snapshot_load(conf, NULL, NULL, &errs);
  if (!snap) {
    print_errors(&errs, GW_LOG_ERROR, 0);
    gw_errors_free(&errs);
    return 1;
  }
  gw_errors_free(&errs);
  if (test_only) {
    size_t nw = lint(snap, 0);
    int cfg_strict = snap->cfg->strict;
    snapshot_free(snap);
    if ((strict || cfg_strict) && nw) {
      fprintf(stderr, "%zu warning%s, which %s counts as errors\n", nw, nw == 1 ? "" : "s",
              strict ? "-T" : "strict = on");
      return 1;
    }
    printf("configuration ok\n");
    return 0;
  }
  const gw_config_t *cfg = snap->cfg;
  gw_log_min_level = cfg->log_level;
  gw_log_json = cfg->log_json;
  size_t nwarn = lint(snap, 1);
  if (cfg->strict && nwarn) {
    LOG_ERROR("%zu warning%s in %s, which strict = on counts as errors", nwarn,
              nwarn == 1 ? "" : "s", conf);
    snapshot_free(snap);
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  if (access_log_open(cfg)) {
    snapshot_free(snap);
    return 2;
  }
  /* From here on no thread writes a log descriptor itself (logring.h). */
  if (logring_start(access_log_fd())) LOG_WARN("log writer thread: cannot start, logging synchronously");

  app_t a;
  memset(&a, 0, sizeof a);
  a.conf = conf;
  /* One counter block per worker; labels come with each snapshot. */
  a.server.nworkers = cfg->workers ? cfg->workers : server_cpu_count();
  a.metrics = metrics_new(a.server.nworkers, GW_VERSION);
  if (!a.metrics || snapshot_metrics(snap, a.metrics, conf, &errs)) {
    print_errors(&errs, GW_LOG_ERROR, 0);
    gw_errors_free(&errs);
    snapshot_free(snap);
    if (a.metrics) metrics_free(a.metrics);
    logring_stop(LOG_DRAIN_MS);
    return 2;
  }
  metrics_activate(a.metrics, snap->ml);
  a.server.metrics = a.metrics;
  a.loop = uv_default_loop();
  a.first = snapshot_ref(snap);
  a.current = snap;
  a.server.cfg = cfg;
  atomic_store(&a.server.snap, snap);
  uv_async_init(a.loop, &a.server.main_async, on_worker_done);
  a.server.main_async.data = &a;
  uv_signal_init(a.loop, &a.sigterm);
  uv_signal_init(a.loop, &a.sigint);
  uv_signal_init(a.loop, &a.sighup);
  uv_timer_init(a.loop, &a.drain_timer);
  uv_timer_init(a.loop, &a.reaper);
  a.sigterm.data = a.sigint.data = a.sighup.data = a.drain_timer.data = a.reaper.data = &a;
  uv_signal_start(&a.sigterm, on_stop_signal, SIGTERM);
  uv_signal_start(&a.sigint, on_stop_signal, SIGINT);
  uv_signal_start(&a.sighup, on_hup, SIGHUP);
  uv_timer_start(&a.reaper, on_reaper, 1000, 1000);
  uv_unref((uv_handle_t *)&a.reaper);

  char cwhy[600];
  if (cluster_configure(cfg, cwhy, sizeof cwhy)) {
    LOG_ERROR("%s", cwhy);
    snapshot_free(snap);
    metrics_free(a.metrics);
    logring_stop(LOG_DRAIN_MS);
    return 2;
  }
  int rc = server_start(&a.server);
  if (rc) {
    if (a.server.started) {
      server_command(&a.server, SERVER_STOP);
      server_join(&a.server);
      jobs_stop();
    } else {
      server_abort(&a.server);
    }
    close_main_handles(&a);
    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    snapshot_free(a.current);
    metrics_free(a.metrics);
    logring_stop(LOG_DRAIN_MS);
    return rc;
  }
  keystore_start(&snap->keys, a.loop, on_keys, &a);
  the_app = &a;
  if (revsync_start(a.loop, revocations_store(), (int64_t)(cfg->revocation.retain_ms / 1000), on_revocations_loaded))
    LOG_ERROR("redis: cannot start the revocation connections");
  if (cluster_on()) LOG_INFO("cluster: sharing revocations, lockouts and rate limits through %s", cfg->cluster.redis_url);
  atomic_store(&gw_ready, 1);
  maybe_ready(&a);
  for (size_t i = 0; i < cfg->nlisten; i++) LOG_INFO("listening on %s", cfg->listen[i].text);
  for (size_t i = 0; i < cfg->ntls_listen; i++) LOG_INFO("listening on %s (TLS)", cfg->tls_listen[i].text);
  if (cfg->admin_enabled) LOG_INFO("admin on %s", cfg->admin_listen.text);
  LOG_INFO("gateway %s started with %u worker(s)", GW_VERSION, a.server.nworkers);

  uv_run(a.loop, UV_RUN_DEFAULT);
  server_join(&a.server);
  jobs_stop(); /* token jobs still queued hold snapshot references */
  uv_loop_close(a.loop);
  LOG_INFO("stopped");
  /* Workers are gone: every snapshot can go. The first one may also be the
   * current one or a retired one; it is freed exactly once. */
  snapshot_unref(a.first);
  if (a.first != a.current) {
    int retired = 0;
    for (gw_snapshot_t *s = a.retired; s; s = s->next_retired) retired |= s == a.first;
    if (!retired) snapshot_free(a.first);
  }
  reap(&a, 1);
  snapshot_free(a.current);
  metrics_free(a.metrics);
  logring_stop(LOG_DRAIN_MS);
  return 0;
}
