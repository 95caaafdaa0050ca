/* main: command line, signals and the lifecycle of one gateway process.
 * Exit codes: 0 clean, 1 configuration error, 2 runtime failure. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "keys.h"
#include <jansson.h>
#include "log.h"
#include "llhttp.h"
#include "server.h"

#ifndef GW_VERSION
#define GW_VERSION "0.1.0"
#endif

typedef struct {
  uv_loop_t *loop;
  server_t server;
  gw_keystore_t keys;
  gw_authctx_t auth;
  uv_signal_t sigterm, sigint, sighup;
  uv_timer_t drain_timer;
  int draining;
} app_t;

static void usage(FILE *f) {
  fprintf(f,
          "usage: gateway -c FILE      run with the configuration FILE\n"
          "       gateway -t -c FILE   check FILE (and the policy it names), then exit\n"
          "       gateway --version | --help\n"
          "\n"
          "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads.\n"
          "Exit codes: 0 clean, 1 configuration error, 2 runtime failure.\n");
}

static void close_main_handles(app_t *a) {
  keystore_stop(&a->keys);
  uv_close((uv_handle_t *)&a->sigterm, NULL);
  uv_close((uv_handle_t *)&a->sigint, NULL);
  uv_close((uv_handle_t *)&a->sighup, NULL);
  uv_close((uv_handle_t *)&a->drain_timer, NULL);
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

static void on_drain_timeout(uv_timer_t *t) {
  app_t *a = t->data;
  LOG_WARN("drain_timeout reached: closing remaining connections");
  server_command(&a->server, SERVER_STOP);
}

static void on_stop_signal(uv_signal_t *s, int signum) {
  app_t *a = s->data;
  if (a->draining) {
    if (signum == SIGINT) server_command(&a->server, SERVER_STOP);
    return;
  }
  a->draining = 1;
  LOG_INFO("%s: draining (up to %llums)", signum == SIGTERM ? "SIGTERM" : "SIGINT",
           (unsigned long long)a->server.cfg->drain_timeout_ms);
  server_command(&a->server, SERVER_DRAIN);
  uv_timer_start(&a->drain_timer, on_drain_timeout, a->server.cfg->drain_timeout_ms, 0);
}

static void on_hup(uv_signal_t *s, int signum) {
  (void)s;
  (void)signum;
  LOG_WARN("SIGHUP: reload is not implemented yet; configuration unchanged");
}

int main(int argc, char **argv) {
  const char *conf = NULL;
  int test_only = 0;
  static const struct option longopts[] = {
      {"config", required_argument, NULL, 'c'}, {"test", no_argument, NULL, 't'},
      {"version", no_argument, NULL, 'V'},      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int ch;
  while ((ch = getopt_long(argc, argv, "c:tVh", longopts, NULL)) != -1) {
    switch (ch) {
    case 'c': conf = optarg; break;
    case 't': test_only = 1; break;
    case 'V': printf("gateway %s (libuv %s, llhttp %d.%d.%d)\n", GW_VERSION, uv_version_string(),
                     LLHTTP_VERSION_MAJOR, LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
      return 0;
    case 'h': usage(stdout); return 0;
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
  app_t a;
  memset(&a, 0, sizeof a);
  gw_config_t *cfg = config_load(conf, &errs);
  if (cfg) {
    /* The policy and the key files are part of the configuration: -t
     * checks them too, and errors in them are configuration errors. */
    keystore_init(&a.keys, cfg, &errs);
    if (auth_init(&a.auth, cfg, &a.keys, &errs) && errs.n == 0)
      gw_errors_add(&errs, conf, 0, "cannot initialize authentication");
  }
  if (errs.n) {
    for (size_t i = 0; i < errs.n; i++) fprintf(stderr, "%s\n", errs.msgs[i]);
    gw_errors_free(&errs);
    if (cfg) {
      auth_free(&a.auth);
      keystore_free(&a.keys);
      config_free(cfg);
    }
    return 1;
  }
  gw_errors_free(&errs);
  if (test_only) {
    printf("configuration ok\n");
    auth_free(&a.auth);
    keystore_free(&a.keys);
    config_free(cfg);
    return 0;
  }
  gw_log_min_level = cfg->log_level;
  signal(SIGPIPE, SIG_IGN);
  if (server_open_access_log(cfg)) {
    auth_free(&a.auth);
    keystore_free(&a.keys);
    config_free(cfg);
    return 2;
  }

  a.loop = uv_default_loop();
  a.server.cfg = cfg;
  a.server.auth = &a.auth;
  uv_async_init(a.loop, &a.server.main_async, on_worker_done);
  a.server.main_async.data = &a;
  uv_signal_init(a.loop, &a.sigterm);
  uv_signal_init(a.loop, &a.sigint);
  uv_signal_init(a.loop, &a.sighup);
  uv_timer_init(a.loop, &a.drain_timer);
  a.sigterm.data = a.sigint.data = a.sighup.data = a.drain_timer.data = &a;
  uv_signal_start(&a.sigterm, on_stop_signal, SIGTERM);
  uv_signal_start(&a.sigint, on_stop_signal, SIGINT);
  uv_signal_start(&a.sighup, on_hup, SIGHUP);

  int rc = server_start(&a.server);
  if (rc) {
    if (a.server.started) {
      server_command(&a.server, SERVER_STOP);
      server_join(&a.server);
    } else {
      server_abort(&a.server);
    }
    close_main_handles(&a);
    uv_run(a.loop, UV_RUN_DEFAULT);
    uv_loop_close(a.loop);
    auth_free(&a.auth);
    keystore_free(&a.keys);
    config_free(cfg);
    return rc;
  }
  keystore_start(&a.keys, a.loop, server_notify, &a.server);
  atomic_store(&gw_ready, 1);
  for (size_t i = 0; i < cfg->nlisten; i++) LOG_INFO("listening on %s", cfg->listen[i].text);
  if (cfg->admin_enabled) LOG_INFO("admin on %s", cfg->admin_listen.text);
  LOG_INFO("gateway %s started with %u worker(s)", GW_VERSION, a.server.nworkers);

  uv_run(a.loop, UV_RUN_DEFAULT);
  server_join(&a.server);
  uv_loop_close(a.loop);
  LOG_INFO("stopped");
  auth_free(&a.auth);
  keystore_free(&a.keys);
  config_free(cfg);
  return 0;
}
