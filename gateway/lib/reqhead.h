/* reqhead: one client request as llhttp sees it, before any decision. The
 * llhttp callbacks only record: method, target and header bytes are copied
 * into a bounded arena (offsets, so it may grow), header fields into a
 * bounded table; the head guard and the checks llhttp 8.1 lacks (the CRLF
 * after chunk data, framing headers) run here as bytes arrive. Body bytes go
 * to a sink that the loop sets once it knows where they belong. No sockets:
 * the unit tests and the fuzzer drive exactly this code. */
#ifndef GW_REQHEAD_H
#define GW_REQHEAD_H

#include <stddef.h>
#include <stdint.h>

#include "answer.h"
#include "http.h"
#include "llhttp.h"

typedef struct {
  uint32_t name_off, name_len, val_off, val_len;
} hdr_t;

/* Takes body bytes; returns ANS_NONE, or the answer that refuses them. */
typedef answer_kind_t (*reqhead_sink_fn)(void *ud, const char *p, size_t n);

typedef enum { RH_MORE = 0, RH_HEAD, RH_MSG, RH_ERROR } reqhead_event_t;

typedef struct reqhead {
  llhttp_t parser;
  gw_headscan_t hs;
  char *arena; /* grows on demand up to arena_max (max_header_bytes) */
  uint32_t arena_len, arena_cap, arena_max;
  uint32_t method_off, method_len, url_off, url_len;
  hdr_t *hdrs; /* grows on demand up to max_hdrs (max_headers) */
  uint32_t nhdrs, cap_hdrs, max_hdrs;
  uint8_t in_head;    /* the head is not complete yet */
  uint8_t scanned;    /* headscan found the end of the head */
  uint8_t in_field;
  uint8_t event;      /* what paused the parser */
  uint8_t chunked_in; /* the body is chunked */
  uint8_t crlf_due;   /* bytes of the CRLF after chunk data still to check */
  uint64_t content_length;
  uint64_t chunk_left; /* bytes of the current chunk still to come */
  uint64_t body_in;    /* body bytes read */
  const char *exec_end;
  reqhead_sink_fn sink; /* NULL: body bytes are dropped */
  void *sink_ud;
  answer_kind_t over; /* a limit crossed in the header part being read */
  answer_kind_t err;  /* why RH_ERROR */
  const char *err_desc;
} reqhead_t;

/* Starts a new head with these limits; buffers already held are kept. */
void reqhead_init(reqhead_t *h, uint32_t max_bytes, uint32_t max_headers);
void reqhead_free(reqhead_t *h);

/* Feeds data[0..len). RH_HEAD and RH_MSG stop at the end of the head or the
 * message (*used bytes taken, the rest belongs to what follows); RH_MORE took
 * everything; RH_ERROR sets err and err_desc. */
reqhead_event_t reqhead_execute(reqhead_t *h, const char *data, size_t len, size_t *used);

/* The SPEC's framing rules beyond llhttp's, on a complete head: NULL when
 * fine (content_length and chunked_in set), else why it is refused. */
const char *reqhead_framing(reqhead_t *h);

/* For a request that stays open long after its head was used (an event
 * stream): the arena and header table shrink to exactly the method, the
 * target and the headers named in keep[] (lowercase), in their order; every
 * other header is gone. Later bytes (trailers) still append. 0, or -1 when
 * out of memory (the head is then as it was). */
int reqhead_compact(reqhead_t *h, const char *const *keep, size_t nkeep);

static inline const char *reqhead_method(const reqhead_t *h, size_t *len) {
  *len = h->method_len;
  return h->arena + h->method_off;
}
/* The first header named lower_name; *count (if given) how many there are. */
const hdr_t *reqhead_header(const reqhead_t *h, const char *lower_name, int *count);

#endif
