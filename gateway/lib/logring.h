/* logring: how log lines leave the process without ever blocking a worker.
 *
 * A line is copied into a bounded in-memory ring, one per log (the error log
 * on stderr, the access log); one thread per ring writes it out with
 * blocking writes. When the reader (a pipe to journald, a terminal, a slow
 * disk) falls behind, the ring fills, and new lines are dropped and counted
 * (logring_dropped, the gateway_log_dropped_lines_total metric) while the
 * workers go on serving: HAProxy's rings and Envoy's async flush do the same.
 * Once a ring drains, its writer says on stderr how many lines it dropped.
 *
 * Before logring_start() (the -t check, unit tests) and after
 * logring_stop(), a line is written at once, as a plain blocking write.
 *
 * Repeated warnings (one per failed request during an upstream outage) go
 * through a gw_logrl_t: a few per window, then a count, and when the window
 * is over one line "WHAT: N more in the last 10 s". */
#ifndef GW_LOGRING_H
#define GW_LOGRING_H

#include <stddef.h>
#include <stdint.h>

typedef enum { GW_LOGRING_ERROR = 0, GW_LOGRING_ACCESS, GW_LOGRING_COUNT } gw_logring_id_t;

#define GW_LOGRING_ERROR_BYTES (64 * 1024)
#define GW_LOGRING_ACCESS_BYTES (256 * 1024)

/* Starts the writer threads; access_fd < 0 means no access log. 0, or -1
 * when a thread could not start (then lines are written synchronously). */
int logring_start(int access_fd);
/* Waits up to timeout_ms for the rings to drain, then stops the writers. A
 * writer stuck in write() on a reader that never reads is left behind (the
 * process is about to exit), so shutdown is bounded. */
void logring_stop(unsigned timeout_ms);

/* Any thread. Queues the whole lines of p[0..n) for fd (the ring's fd:
 * STDERR_FILENO for GW_LOGRING_ERROR, the access log's descriptor), as many
 * as fit; returns how many lines were dropped. Never blocks on the fd. */
size_t logring_write(gw_logring_id_t id, int fd, const char *p, size_t n);
uint64_t logring_dropped(gw_logring_id_t id);

/* One rate limiter per log site, static, initialised with GW_LOGRL("what"):
 * GW_LOGRL_BURST lines per GW_LOGRL_WINDOW_S window pass, the rest are
 * counted and summed up in one line at the end of the window. */
#define GW_LOGRL_BURST 10
#define GW_LOGRL_WINDOW_S 10
typedef struct gw_logrl {
  const char *what;
  /* private, under the limiters' mutex */
  uint64_t window_end_ms;
  unsigned used, suppressed;
  int linked;
  struct gw_logrl *next;
} gw_logrl_t;
#define GW_LOGRL(what_) {.what = (what_)}

/* 1: log this one now. May first log the summary of the previous window. */
int logrl_allow(gw_logrl_t *rl);
/* Logs the summaries of windows that are over (the error writer calls it
 * every second; tests may call it themselves). */
void logrl_tick(void);

/* A warning through rate limiter rl (needs log.h). */
#define LOG_WARN_RL(rl, ...) do { if (logrl_allow(rl)) gw_log(GW_LOG_WARN, __VA_ARGS__); } while (0)

#endif
