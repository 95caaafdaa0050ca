/* sse: finds the events of a text/event-stream response body as its bytes
 * arrive, so that the proxy forwards them as they come and holds back only
 * the events it may have to change (the answer to a tools/list, say).
 *
 * The stream is read as WHATWG HTML "event stream interpretation" says:
 * lines end in CRLF, LF or CR (a CR and an LF in two feeds are one line
 * end); a line starting with ':' is a comment; "field:value" loses one
 * space after the colon; a line without a colon is a field with an empty
 * value; "data" lines accumulate, joined by LF; "id" (unless it holds a
 * NUL), "event" and "retry" (ASCII digits only) are kept; other fields are
 * ignored; an empty line ends the event; a UTF-8 BOM at the very start is
 * ignored. Bytes are not UTF-8 decoded: data is handed on as received (a
 * JSON reader refuses what is not UTF-8).
 *
 * Nothing is re-serialized. Every byte fed is either handed back at once
 * (SSE_PASS: forward it now) or, for an event the caller asked to hold,
 * collected and handed back whole with the event (ev->raw), or dropped
 * when the caller says so. The event's span: from the first byte of its
 * first field line (a comment line before it is not part of it; comments
 * inside it are) to the first byte of the line end of the empty line that
 * ends it. So for "\r\n\r\n" the final LF comes after the event as
 * SSE_PASS (an empty line with nothing pending, which a client ignores):
 * the dispatch never waits for a byte that has not arrived.
 *
 * For a caller that forwards ev->raw of every held event and returns
 * SSE_STREAM on SSE_OVERFLOW, the bytes forwarded are exactly the bytes fed,
 * in order, however they were cut into feeds.
 *
 * Memory: for a held event only, two growable buffers of at most `max`
 * bytes each: its raw bytes and its decoded data (an event passed through
 * costs nothing: its data is not kept). An event that lies inside one feed
 * is not copied at all: ev->raw, and ev->data when it is one line, point
 * into the bytes fed; the buffers take only an event that spans feeds or
 * data of several lines. They keep their size between events and are
 * freed by sse_free. Nothing else is allocated. */
#ifndef GW_SSE_H
#define GW_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define SSE_FIELD_MAX 256 /* bytes kept of "id" and "event" values */

typedef enum {
  SSE_PASS,     /* p, n: bytes to forward now, as they are (ev NULL) */
  SSE_BEGIN,    /* an event starts (its first byte follows): return SSE_HOLD or SSE_STREAM */
  SSE_OVERFLOW, /* a held event went over max: return SSE_STREAM or SSE_DROP */
  SSE_EVENT,    /* an event ended (ev->complete) or the stream ended inside one */
} sse_what_t;

/* Answers of the callback to SSE_BEGIN and SSE_OVERFLOW; 0 elsewhere. A
 * negative answer to anything stops sse_feed, which returns -1. */
enum {
  SSE_STREAM = 0, /* the event's bytes are SSE_PASS; on SSE_OVERFLOW the ones held so far first */
  SSE_HOLD = 1,   /* collect the event's bytes: ev->raw at SSE_EVENT */
  SSE_DROP = 2,   /* on SSE_OVERFLOW: discard what was held and the rest of the event */
};

typedef struct {
  /* Decoded data (final LF removed) of a held event; NULL when not held
   * (or no longer: after an overflow) and when the event is not complete. */
  const char *data;
  size_t data_len;
  /* The event's bytes as received, when held (NULL otherwise, and after
   * an overflow). */
  const char *raw;
  size_t raw_len;
  /* The event type buffer ("" means "message") and the last event ID
   * buffer as this event leaves it (it carries over between events); each
   * cut to SSE_FIELD_MAX, *_cut says so. */
  const char *type, *id;
  size_t type_len, id_len;
  int64_t retry;       /* a valid "retry" of this event (saturated), else -1 */
  uint8_t has_data;    /* a "data" line was seen: a client dispatches it */
  uint8_t too_large;   /* held, and its raw bytes went over max (SSE_OVERFLOW was asked) */
  uint8_t held;        /* SSE_HOLD was answered and no overflow since */
  uint8_t dropped;     /* SSE_DROP was answered */
  uint8_t complete;    /* ended by an empty line (0: by sse_finish) */
  uint8_t type_cut, id_cut;
} sse_event_t;

/* ev is NULL for SSE_PASS; p, n are NULL, 0 but for SSE_PASS. Everything
 * pointed at is valid only during the call. */
typedef int (*sse_cb)(void *ud, sse_what_t what, const char *p, size_t n, const sse_event_t *ev);

typedef struct sse sse_t;

/* A parser for one response body; max bounds a held event's raw bytes
 * (mcp_max_body; its data is shorter). NULL when out of memory. */
sse_t *sse_new(size_t max);
void sse_free(sse_t *s);

/* Feeds the next n bytes; callbacks in stream order. 0, or -1 when the
 * callback stopped it or memory ran out (the parser is then unusable). */
int sse_feed(sse_t *s, const char *p, size_t n, sse_cb cb, void *ud);

/* End of the body. An event begun and not ended is reported as SSE_EVENT
 * with complete 0 (a client discards it: a caller holding it should drop
 * it); the bytes of an unfinished BOM are SSE_PASS. 0 or -1 as sse_feed. */
int sse_finish(sse_t *s, sse_cb cb, void *ud);

/* The bytes of the held event raw[0..raw_len) (as ev->raw) with its data
 * replaced by data[0..data_len): every line but the "data" lines is copied
 * as it is, in place; the first "data" line becomes one "data: " line per
 * LF-separated piece of data, each ending as that line did; the other
 * "data" lines go. Appended to out; -1 when out of memory. */
int sse_rewrite_data(const char *raw, size_t raw_len, const char *data, size_t data_len,
                     outbuf_t *out);

#endif
