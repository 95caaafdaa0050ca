#include "jobs.h"

#include <pthread.h>
#include <stdlib.h>

/* One worker's finished jobs. Reference counted: the worker holds one
 * reference, every job on its way holds one, so a pool thread finishing a
 * job after its worker stopped still finds the queue (closed). */
struct jobq {
  pthread_mutex_t mu;
  uv_async_t async;
  gw_job_t *done, *done_tail;
  unsigned refs;
  int closed;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static gw_job_t *head, *tail;
static unsigned queued;
static unsigned nthreads;
static pthread_t threads[JOBS_THREADS];
static int stopping;

static void q_unref(struct jobq *q) {
  pthread_mutex_lock(&q->mu);
  unsigned left = --q->refs;
  pthread_mutex_unlock(&q->mu);
  if (left) return;
  pthread_mutex_destroy(&q->mu);
  free(q);
}

/* Each job of the list to its done(); each held a reference to its queue. */
static void deliver(gw_job_t *j, int ok) {
  while (j) {
    gw_job_t *next = j->next;
    struct jobq *q = j->q;
    j->done(j, ok);
    q_unref(q);
    j = next;
  }
}

static gw_job_t *take_done(struct jobq *q, int close) {
  pthread_mutex_lock(&q->mu);
  gw_job_t *j = q->done;
  q->done = q->done_tail = NULL;
  if (close) q->closed = 1;
  pthread_mutex_unlock(&q->mu);
  return j;
}

/* The worker's loop: hand each finished job to its done(). */
static void on_done(uv_async_t *a) { deliver(take_done(a->data, 0), 1); }

static void finished(gw_job_t *j) {
  struct jobq *q = j->q;
  pthread_mutex_lock(&q->mu);
  if (q->closed) {
    pthread_mutex_unlock(&q->mu);
    j->done(j, 0);
    q_unref(q);
    return;
  }
  j->next = NULL;
  if (q->done_tail) q->done_tail->next = j;
  else q->done = j;
  q->done_tail = j;
  /* Under q->mu: the worker closes the handle only after setting closed. */
  uv_async_send(&q->async);
  pthread_mutex_unlock(&q->mu);
}

static void *pool_thread(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (!head && !stopping) pthread_cond_wait(&more, &mu);
    if (!head) break;
    gw_job_t *j = head;
    head = j->next;
    if (!head) tail = NULL;
    queued--;
    pthread_mutex_unlock(&mu);
    j->run(j);
    finished(j);
    pthread_mutex_lock(&mu);
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

int jobs_worker_init(worker_t *w) {
  struct jobq *q = calloc(1, sizeof *q);
  if (!q) return -1;
  pthread_mutex_init(&q->mu, NULL);
  q->refs = 1;
  uv_async_init(&w->loop, &q->async, on_done);
  q->async.data = q;
  w->jobq = q;
  return 0;
}

static void q_async_closed(uv_handle_t *h) { q_unref(h->data); }

void jobs_worker_close(worker_t *w) {
  struct jobq *q = w->jobq;
  if (!q) return;
  w->jobq = NULL;
  deliver(take_done(q, 1), 0);
  uv_close((uv_handle_t *)&q->async, q_async_closed); /* the worker's reference */
}

int jobs_submit(worker_t *w, gw_job_t *j) {
  struct jobq *q = w->jobq;
  if (!q) return -1;
  pthread_mutex_lock(&mu);
  if (stopping || queued >= JOBS_MAX_QUEUE) {
    pthread_mutex_unlock(&mu);
    return -1;
  }
  /* Threads start on first use: a gateway without [m2m] has none. */
  while (nthreads < JOBS_THREADS && pthread_create(&threads[nthreads], NULL, pool_thread, NULL) == 0)
    nthreads++;
  if (nthreads == 0) {
    pthread_mutex_unlock(&mu);
    return -1;
  }
  pthread_mutex_lock(&q->mu);
  q->refs++;
  pthread_mutex_unlock(&q->mu);
  j->q = q;
  j->next = NULL;
  if (tail) tail->next = j;
  else head = j;
  tail = j;
  queued++;
  pthread_cond_signal(&more);
  pthread_mutex_unlock(&mu);
  return 0;
}

void jobs_stop(void) {
  pthread_mutex_lock(&mu);
  stopping = 1;
  gw_job_t *j = head; /* never started: their workers are gone */
  head = tail = NULL;
  queued = 0;
  pthread_cond_broadcast(&more);
  unsigned n = nthreads;
  pthread_mutex_unlock(&mu);
  for (unsigned i = 0; i < n; i++) pthread_join(threads[i], NULL);
  deliver(j, 0);
  pthread_mutex_lock(&mu);
  nthreads = 0;
  stopping = 0;
  pthread_mutex_unlock(&mu);
}
