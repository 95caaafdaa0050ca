/* upbatch: batched upstream head writes.
 *
 * When the upstream runs on the same CPU (a sidecar, or the benchmark), every
 * write(2) of a request head wakes it, and the scheduler switches to it on
 * the way out of that write: one pair of context switches per request, each
 * costing the gateway microseconds and the upstream its batching. Heads
 * written in one turn of the loop are therefore collected and submitted with
 * a single io_submit(2) (Linux AIO on non-blocking sockets completes at once,
 * inside the call), so the upstream wakes once and finds them all. The submit
 * runs from a prepare handle: before the loop polls again, whichever callback
 * queued the head, so no head waits on a blocking poll. Anything the kernel
 * did not take whole goes through the normal write path. Without AIO
 * (io_setup refused, e.g. by a seccomp profile) heads are written at once. */
#include "upbatch.h"

#include <errno.h>
#include <linux/aio_abi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "upstream-t.h"

#define UP_BATCH_MAX 64

static void batch_off(worker_t *w, const char *why, int err) {
  LOG_WARN("worker %d: batched upstream writes off (%s: %s); writing each at once", w->id, why,
           strerror(err));
  syscall(SYS_io_destroy, (aio_context_t)w->up_aio);
  w->up_aio = 0;
}

static void up_on_prepare(uv_prepare_t *h);

int upbatch_write_soon(upconn_t *uc) {
  worker_t *w = uc->pool->w;
  if (!w->up_aio || uc->wq.tls || uc->wq.queued || !uc->wq.out.len) return 0;
  if (dlist_empty(&uc->pend)) dlist_insert_tail(&w->up_pending, &uc->pend);
  if (!uv_is_active((uv_handle_t *)&w->up_prepare)) uv_prepare_start(&w->up_prepare, up_on_prepare);
  return 1;
}

/* The kernel took res bytes (or failed with -res) of what uc had queued. */
static void batch_done(upconn_t *uc, int64_t res) {
  outbuf_t *o = &uc->wq.out;
  if (res >= 0 && (size_t)res == o->len) {
    o->len = 0;
  } else if (res >= 0 || res == -EAGAIN) {
    if (res > 0) {
      memmove(o->data, o->data + res, o->len - (size_t)res);
      o->len -= (size_t)res;
    }
    upstream_flush_now(uc);
  } else {
    upstream_write_failed(uc);
  }
}

static void batch_submit(worker_t *w, upconn_t **ucs, const uv_os_fd_t *fds, size_t n) {
  struct iocb cbs[UP_BATCH_MAX], *cbp[UP_BATCH_MAX];
  struct io_event ev[UP_BATCH_MAX];
  for (size_t i = 0; i < n; i++) {
    memset(&cbs[i], 0, sizeof cbs[i]);
    cbs[i].aio_lio_opcode = IOCB_CMD_PWRITE;
    cbs[i].aio_fildes = (uint32_t)fds[i];
    cbs[i].aio_buf = (uint64_t)(uintptr_t)ucs[i]->wq.out.data;
    cbs[i].aio_nbytes = ucs[i]->wq.out.len;
    cbs[i].aio_data = i;
    cbp[i] = &cbs[i];
  }
  long sent = syscall(SYS_io_submit, (aio_context_t)w->up_aio, (long)n, cbp);
  if (sent < 0) {
    batch_off(w, "io_submit", errno);
    sent = 0;
  }
  if (sent > 0 && w->mc) metrics_upstream_batch(w->mc, (unsigned)sent);
  /* Socket writes complete inside io_submit: the events are already there. */
  long got = 0;
  struct timespec limit = {1, 0};
  while (got < sent) {
    long k = syscall(SYS_io_getevents, (aio_context_t)w->up_aio, sent - got, sent - got, ev + got, &limit);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    got += k;
  }
  uint8_t seen[UP_BATCH_MAX] = {0};
  for (long i = 0; i < got; i++) {
    size_t k = (size_t)ev[i].data;
    if (k >= (size_t)sent || seen[k]) continue;
    seen[k] = 1;
    if (!ucs[k]->closing) batch_done(ucs[k], ev[i].res);
  }
  for (size_t k = 0; k < n; k++) {
    if (seen[k] || ucs[k]->closing) continue;
    if (k < (size_t)sent) {
      /* Submitted but never reported: how much went out is unknown, so the
       * connection cannot carry on. */
      LOG_ERROR("worker %d: an upstream write was not reported back", w->id);
      upstream_write_failed(ucs[k]);
    } else {
      upstream_flush_now(ucs[k]);
    }
  }
  if (got < sent && w->up_aio) batch_off(w, "io_getevents", got < 0 ? errno : ETIMEDOUT);
}

static void up_on_prepare(uv_prepare_t *h) {
  worker_t *w = h->data;
  upconn_t *ucs[UP_BATCH_MAX];
  uv_os_fd_t fds[UP_BATCH_MAX];
  while (!dlist_empty(&w->up_pending)) {
    size_t n = 0;
    while (n < UP_BATCH_MAX && !dlist_empty(&w->up_pending)) {
      upconn_t *uc = container_of(w->up_pending.next, upconn_t, pend);
      dlist_remove(&uc->pend);
      if (uc->closing) continue;
      if (!w->up_aio || uc->wq.tls || uc->wq.queued || uv_fileno((uv_handle_t *)&uc->tcp, &fds[n]))
        upstream_flush_now(uc);
      else if (uc->wq.out.len)
        ucs[n++] = uc;
    }
    if (n) batch_submit(w, ucs, fds, n);
  }
  uv_prepare_stop(h);
}

void upbatch_init(worker_t *w) {
  dlist_init(&w->up_pending);
  uv_prepare_init(&w->loop, &w->up_prepare);
  w->up_prepare.data = w;
  w->up_aio = 0;
  const char *off = getenv("GATEWAY_UPSTREAM_AIO");
  if (off && strcmp(off, "0") == 0) return; /* an operator's way out, and the tests' */
  aio_context_t ctx = 0;
  if (syscall(SYS_io_setup, UP_BATCH_MAX, &ctx) == 0)
    w->up_aio = (unsigned long)ctx;
  else
    LOG_INFO("worker %d: no Linux AIO (%s): upstream writes not batched", w->id, strerror(errno));
}

void upbatch_close(worker_t *w) {
  if (!uv_is_closing((uv_handle_t *)&w->up_prepare)) uv_close((uv_handle_t *)&w->up_prepare, NULL);
}

void upbatch_free(worker_t *w) {
  if (w->up_aio) syscall(SYS_io_destroy, (aio_context_t)w->up_aio);
  w->up_aio = 0;
}


int upbatch_pending(const upconn_t *uc) { return !dlist_empty(&uc->pend); }
void upbatch_forget(upconn_t *uc) { dlist_remove(&uc->pend); }
