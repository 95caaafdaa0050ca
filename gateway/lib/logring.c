#include "logring.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Storage is static: nothing to free, and a writer left behind at exit
 * still points at valid memory. */
static char error_bytes[GW_LOGRING_ERROR_BYTES];
static char access_bytes[GW_LOGRING_ACCESS_BYTES];

typedef struct {
  char *buf;
  size_t cap, head, len; /* queued bytes: [head, head + len) mod cap */
  int fd;
  int running;           /* the writer thread exists */
  int busy;              /* the writer is inside write() */
  pthread_t thr;
  pthread_cond_t more;   /* bytes were queued, or stop */
  _Atomic uint64_t dropped;
  uint64_t noted;        /* dropped lines already reported on stderr */
} ring_t;

static ring_t rings[GW_LOGRING_COUNT] = {
    {.buf = error_bytes, .cap = sizeof error_bytes, .fd = STDERR_FILENO, .more = PTHREAD_COND_INITIALIZER},
    {.buf = access_bytes, .cap = sizeof access_bytes, .fd = -1, .more = PTHREAD_COND_INITIALIZER},
};
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t drained = PTHREAD_COND_INITIALIZER;
static int started, stopping;

static const char *const ring_names[GW_LOGRING_COUNT] = {"error log (stderr)", "access log"};

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; /* EPIPE, EBADF, a full disk: nobody to tell but this log */
    p += w;
    n -= (size_t)w;
  }
}

static size_t count_lines(const char *p, size_t n) {
  size_t k = 0;
  for (const char *e = p + n; p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++) k++;
  return k;
}

size_t logring_write(gw_logring_id_t id, int fd, const char *p, size_t n) {
  ring_t *r = &rings[id];
  if (n == 0 || fd < 0) return 0;
  pthread_mutex_lock(&mu);
  if (!started || !r->running) {
    pthread_mutex_unlock(&mu);
    write_all(fd, p, n);
    return 0;
  }
  size_t take = n, room = r->cap - r->len;
  if (take > room) { /* whole lines only: a cut line would corrupt the next */
    take = 0;
    for (size_t i = room; i > 0; i--)
      if (p[i - 1] == '\n') {
        take = i;
        break;
      }
  }
  size_t tail = (r->head + r->len) % r->cap;
  size_t first = take < r->cap - tail ? take : r->cap - tail;
  memcpy(r->buf + tail, p, first);
  memcpy(r->buf, p + first, take - first);
  r->len += take;
  size_t lost = take < n ? count_lines(p + take, n - take) : 0;
  if (take < n && lost == 0) lost = 1; /* a last line without its newline */
  if (lost) atomic_fetch_add_explicit(&r->dropped, lost, memory_order_relaxed);
  if (take) pthread_cond_signal(&r->more);
  pthread_mutex_unlock(&mu);
  return lost;
}

uint64_t logring_dropped(gw_logring_id_t id) {
  return atomic_load_explicit(&rings[id].dropped, memory_order_relaxed);
}

static void *writer(void *arg) {
  ring_t *r = arg;
  int is_error = r == &rings[GW_LOGRING_ERROR];
  pthread_mutex_lock(&mu);
  for (;;) {
    if (r->len == 0) {
      if (stopping) break;
      if (is_error) {
        /* Wake every second for the rate limiters' summaries. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&r->more, &mu, &ts);
        pthread_mutex_unlock(&mu);
        logrl_tick();
        pthread_mutex_lock(&mu);
      } else {
        pthread_cond_wait(&r->more, &mu);
      }
      continue;
    }
    /* Producers only append after head + len, so the chunk stays put while
     * the lock is released for the (maybe long) write. */
    size_t chunk = r->len < r->cap - r->head ? r->len : r->cap - r->head;
    const char *p = r->buf + r->head;
    r->busy = 1;
    pthread_mutex_unlock(&mu);
    write_all(r->fd, p, chunk);
    pthread_mutex_lock(&mu);
    r->busy = 0;
    r->head = (r->head + chunk) % r->cap;
    r->len -= chunk;
    if (r->len == 0) pthread_cond_broadcast(&drained);
    uint64_t d = atomic_load_explicit(&r->dropped, memory_order_relaxed);
    if (d != r->noted) {
      uint64_t k = d - r->noted;
      r->noted = d;
      pthread_mutex_unlock(&mu);
      gw_log(GW_LOG_WARN, "%s: %llu line(s) dropped: the log was not read fast enough", ring_names[r - rings],
             (unsigned long long)k);
      pthread_mutex_lock(&mu);
    }
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

int logring_start(int access_fd) {
  int rc = 0;
  pthread_mutex_lock(&mu);
  rings[GW_LOGRING_ACCESS].fd = access_fd;
  stopping = 0;
  started = 1;
  for (int i = 0; i < GW_LOGRING_COUNT; i++) {
    ring_t *r = &rings[i];
    if (r->fd < 0 || r->running) continue;
    if (pthread_create(&r->thr, NULL, writer, r) != 0) {
      rc = -1;
      continue;
    }
    r->running = 1;
  }
  pthread_mutex_unlock(&mu);
  return rc;
}

void logring_stop(unsigned timeout_ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += timeout_ms / 1000;
  until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&mu);
  stopping = 1;
  for (;;) {
    int pending = 0;
    for (int i = 0; i < GW_LOGRING_COUNT; i++) {
      pthread_cond_signal(&rings[i].more);
      pending |= rings[i].running && (rings[i].len > 0 || rings[i].busy);
    }
    if (!pending || pthread_cond_timedwait(&drained, &mu, &until) == ETIMEDOUT) break;
  }
  started = 0; /* from here on, lines are written synchronously */
  for (int i = 0; i < GW_LOGRING_COUNT; i++) {
    ring_t *r = &rings[i];
    if (!r->running) continue;
    r->running = 0;
    int stuck = r->len > 0 || r->busy;
    pthread_mutex_unlock(&mu);
    if (stuck) pthread_detach(r->thr);
    else pthread_join(r->thr, NULL);
    pthread_mutex_lock(&mu);
  }
  pthread_mutex_unlock(&mu);
}

/* ---- rate limiters ---------------------------------------------------- */

static pthread_mutex_t rlmu = PTHREAD_MUTEX_INITIALIZER;
static gw_logrl_t *limiters;

static void summary(const gw_logrl_t *rl, unsigned n) {
  gw_log(GW_LOG_WARN, "%s: %u more in the last %d s", rl->what, n, GW_LOGRL_WINDOW_S);
}

int logrl_allow(gw_logrl_t *rl) {
  uint64_t now = mono_ms();
  unsigned flush = 0;
  pthread_mutex_lock(&rlmu);
  if (!rl->linked) {
    rl->linked = 1;
    rl->next = limiters;
    limiters = rl;
  }
  if (now >= rl->window_end_ms) {
    flush = rl->suppressed;
    rl->suppressed = 0;
    rl->used = 0;
    rl->window_end_ms = now + GW_LOGRL_WINDOW_S * 1000u;
  }
  int ok = rl->used < GW_LOGRL_BURST;
  if (ok) rl->used++;
  else rl->suppressed++;
  pthread_mutex_unlock(&rlmu);
  if (flush) summary(rl, flush);
  return ok;
}

void logrl_tick(void) {
  uint64_t now = mono_ms();
  for (;;) {
    gw_logrl_t *due = NULL;
    unsigned n = 0;
    pthread_mutex_lock(&rlmu);
    for (gw_logrl_t *rl = limiters; rl; rl = rl->next)
      if (rl->suppressed && now >= rl->window_end_ms) {
        due = rl;
        n = rl->suppressed;
        rl->suppressed = 0;
        break;
      }
    pthread_mutex_unlock(&rlmu);
    if (!due) return;
    summary(due, n);
  }
}
