/* upbatch: request heads written in one turn of a worker's loop go to the
 * upstreams with one io_submit (see upbatch.c for why). */
#ifndef GW_UPBATCH_H
#define GW_UPBATCH_H

#include "worker-t.h"

void upbatch_init(worker_t *w);
void upbatch_close(worker_t *w); /* closes the prepare handle */
void upbatch_free(worker_t *w);  /* after the loop ended */
/* Queues uc's head for the batch before the next poll; 0 when it must be written now. */
int upbatch_write_soon(upconn_t *uc);
/* uc's head is in this turn's batch. */
int upbatch_pending(const upconn_t *uc);
void upbatch_forget(upconn_t *uc);

#endif
