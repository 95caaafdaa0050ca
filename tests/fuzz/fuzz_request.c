/* libFuzzer driver for the request-head path as the gateway runs it:
 * headscan_feed (gateway/http.h) first, then llhttp 8.1 (Debian's C
 * sources, HTTP_REQUEST, no lenient flags, as gateway/conn.c sets it up).
 *
 * The input is the bytes a client sends. When headscan says HS_DONE with
 * *used = U, llhttp is run over exactly data[0..U), pausing in
 * on_headers_complete (as conn.c does) to learn where llhttp thinks the head
 * ends, then resumed over whatever head bytes are left.
 * Asserted (abort() on violation):
 *   1. llhttp starts at most one message inside the bytes headscan calls one
 *      head: no second request smuggled inside an accepted head;
 *   2. when llhttp finishes a head inside data[0..U), it ends exactly at U
 *      (HTTP/0.9 aside, see below): the guard and the parser agree on where
 *      the head ends;
 *   3. llhttp never finds the end of this head beyond U: when it is still
 *      inside the head after data[0..U), the bytes after U, fed to it as
 *      gateway/conn.c does, must never complete the head (they would be
 *      header lines the guard never looked at).
 * llhttp refusing the head (any HPE_* error) is fine: the gateway answers
 * 400. Two llhttp 8.1 special cases make rule 2 too strict, and rule 3 is
 * what matters for them:
 *   - an HTTP/0.9 request line ("GET /\r\n", no version) ends the message
 *     at the first CRLF (the gateway then refuses it: no Host); rule 1 still
 *     holds for it, rule 2 is skipped when http_major == 0;
 *   - method PRI: after the request line llhttp expects the rest of the
 *     HTTP/2 preface ("\r\nSM\r\n\r\n") and never calls
 *     on_headers_complete; "PRI / HTTP/1.1\r\n\r\n" is a complete head to
 *     headscan while llhttp still waits for "SM\r\n\r\n", after which it
 *     returns HPE_PAUSED_H2_UPGRADE (conn.c: 400). Rule 3 covers it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "http.h"

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) __builtin_trap();                                                         \
  } while (0)

typedef struct {
  int begins;
  int heads;
  int completes;
  int in_headers_complete; /* the pause came from on_headers_complete */
} counts_t;

static int on_message_begin(llhttp_t *p) {
  ((counts_t *)p->data)->begins++;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  counts_t *c = p->data;
  c->heads++;
  c->in_headers_complete = 1;
  return HPE_PAUSED;
}

static int on_message_complete(llhttp_t *p) {
  ((counts_t *)p->data)->completes++;
  return 0;
}

static llhttp_settings_t settings;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  llhttp_settings_init(&settings);
  settings.on_message_begin = on_message_begin;
  settings.on_headers_complete = on_headers_complete;
  settings.on_message_complete = on_message_complete;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gw_headscan_t hs;
  headscan_init(&hs, 16384);
  size_t used = 0;
  if (headscan_feed(&hs, (const char *)data, size, &used) != HS_DONE) return 0;
  CHECK(used <= size);

  /* A private copy of exactly the head bytes, so that ASan flags any read
   * past what headscan handed over. */
  char *head = malloc(used ? used : 1);
  if (!head) return 0;
  memcpy(head, data, used);

  llhttp_t parser;
  counts_t c;
  memset(&c, 0, sizeof c);
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  parser.data = &c;

  const char *p = head, *end = head + used;
  long head_end = -1; /* offset where llhttp's first head ended */
  int major = -1;
  int begins_in_head = -1;
  for (;;) {
    c.in_headers_complete = 0;
    llhttp_errno_t e = llhttp_execute(&parser, p, (size_t)(end - p));
    if (e == HPE_PAUSED && c.in_headers_complete) {
      const char *at = llhttp_get_error_pos(&parser);
      CHECK(at >= p && at <= end);
      if (head_end < 0) {
        head_end = at - head;
        major = llhttp_get_http_major(&parser);
      }
      llhttp_resume(&parser);
      p = at;
      continue; /* the rest of the head bytes, if any, as llhttp sees them */
    }
    begins_in_head = c.begins;
    if (e == HPE_OK && c.heads == 0 && used < size) {
      /* Rule 3: llhttp took every head byte and is still inside the head:
       * the bytes after it must not complete it. */
      size_t rest = size - used;
      char *tail = malloc(rest);
      if (!tail) abort();
      memcpy(tail, data + used, rest);
      c.in_headers_complete = 0;
      llhttp_execute(&parser, tail, rest);
      CHECK(c.heads == 0);
      free(tail);
    }
    /* HPE_PAUSED_UPGRADE: what follows is tunnel data, not HTTP.
     * Any other error: the gateway answers 400. */
    break;
  }
  /* Rule 1 */
  CHECK(begins_in_head <= 1);
  /* Rule 2 */
  if (head_end >= 0 && major != 0) CHECK((size_t)head_end == used);
  free(head);
  return 0;
}
