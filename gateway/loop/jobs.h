/* jobs: a small thread pool of its own for CPU-heavy work (the M2M token
 * endpoint's PBKDF2), apart from libuv's shared pool.
 *
 * libuv's pool (4 threads by default) also runs uv_getaddrinfo for hostname
 * upstreams: a flood of wrong-secret token requests queued behind each other
 * there made name resolution wait seconds and requests to unrelated
 * upstreams fail with 502. Here the work has JOBS_THREADS threads and a queue
 * bounded at JOBS_MAX_QUEUE waiting jobs; when it is full, jobs_submit()
 * refuses at once (the caller answers 503 + Retry-After), so a flood costs
 * at most a bounded wait and never touches name resolution.
 *
 * A job's done() runs on the worker that submitted it (a uv_async wakes the
 * worker), with ok = 1; when that worker has stopped in the meantime, or at
 * jobs_stop(), it runs with ok = 0 on whatever thread finds it, and must only
 * release the job. */
#ifndef GW_JOBS_H
#define GW_JOBS_H

#include "worker-t.h"

#define JOBS_THREADS 2
#define JOBS_MAX_QUEUE 128

typedef struct gw_job {
  void (*run)(struct gw_job *);          /* a pool thread */
  void (*done)(struct gw_job *, int ok); /* see above */
  struct jobq *q;                        /* private */
  struct gw_job *next;                   /* private */
} gw_job_t;

/* The worker's side: its completion queue and async handle (worker_init),
 * and their close (with the other handles; finished jobs still queued for
 * it get done(ok = 0)). */
int jobs_worker_init(worker_t *w);
void jobs_worker_close(worker_t *w);

/* 0: queued (threads start on first use); -1: the queue is full or no
 * thread could start. */
int jobs_submit(worker_t *w, gw_job_t *j);

/* After the workers stopped: joins the threads, jobs never run get done(ok = 0). */
void jobs_stop(void);

#endif
