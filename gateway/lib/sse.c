/* sse: an event-stream reader that decodes what it must and hands every
 * byte back in order. Bytes are handed back in runs: a run ends only where
 * their fate changes (an event begins, ends or overflows) or where the
 * feed ends, so a stream of pass-through events costs one callback per
 * feed and event boundary, not per byte. */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

#include "swar.h"

enum { ST_BOM, ST_LINE, ST_NAME, ST_VALUE_SP, ST_VALUE, ST_COMMENT };
enum { F_OTHER, F_DATA, F_ID, F_EVENT, F_RETRY };

#define NAME_CAP 8

struct sse {
  size_t max;
  sse_cb cb;
  void *ud;
  const char *rs; /* start of the run not yet handed back */
  uint8_t st, cr; /* cr: the last byte was a CR ending a line */
  uint8_t in_event, hold, drop, too_large, has_data;
  uint8_t field, val_nul, val_nondigit, val_cut;
  uint8_t bom_n;
  unsigned char bom[3];
  char name[NAME_CAP];
  size_t name_len;
  char val[SSE_FIELD_MAX];
  size_t val_len;
  char id[SSE_FIELD_MAX], type[SSE_FIELD_MAX];
  size_t id_len, type_len;
  uint8_t id_cut, type_cut;
  int64_t retry;
  /* A held event's raw bytes and data: while they lie in one run of the
   * current feed (an event that arrives inside one read, the common case)
   * only a pointer to them (rawp, datap; the buffer is then empty); copied
   * into the buffer when a piece from elsewhere joins them or the feed ends
   * before the event does. */
  outbuf_t data, raw;
  const char *rawp, *datap;
  size_t rawp_n, datap_n;
};

sse_t *sse_new(size_t max) {
  sse_t *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->max = max;
  s->retry = -1;
  return s;
}

void sse_free(sse_t *s) {
  if (!s) return;
  outbuf_free(&s->data);
  outbuf_free(&s->raw);
  free(s);
}

/* Appends p[0..n) to what is held in the pointer pp/pn or the buffer b:
 * kept as a pointer while the pieces are adjacent, copied once one is not. */
static int hold_add(outbuf_t *b, const char **pp, size_t *pn, const char *p, size_t n) {
  if (b->len == 0 && (*pn == 0 || *pp + *pn == p)) {
    if (*pn == 0) *pp = p;
    *pn += n;
    return 0;
  }
  if (*pn) {
    if (outbuf_append(b, *pp, *pn)) return -1;
    *pn = 0;
  }
  return outbuf_append(b, p, n);
}

/* What is held by a pointer goes into the buffer: the bytes pointed at go
 * away with the feed. */
static int hold_keep(outbuf_t *b, const char **pp, size_t *pn) {
  if (*pn == 0) return 0;
  int r = outbuf_append(b, *pp, *pn);
  *pn = 0;
  return r;
}

static const char *held_at(const outbuf_t *b, const char *p, size_t pn, size_t *len) {
  *len = pn ? pn : b->len;
  return pn ? p : b->data ? b->data : "";
}

static void fill_event(sse_t *s, sse_event_t *ev) {
  memset(ev, 0, sizeof *ev);
  if (s->hold && !s->too_large) ev->data = held_at(&s->data, s->datap, s->datap_n, &ev->data_len);
  if (s->hold) ev->raw = held_at(&s->raw, s->rawp, s->rawp_n, &ev->raw_len);
  ev->type = s->type;
  ev->type_len = s->type_len;
  ev->type_cut = s->type_cut;
  ev->id = s->id;
  ev->id_len = s->id_len;
  ev->id_cut = s->id_cut;
  ev->retry = s->retry;
  ev->has_data = s->has_data;
  ev->too_large = s->too_large;
  ev->held = s->hold;
  ev->dropped = s->drop;
}

static int pass(sse_t *s, const char *p, size_t n) {
  return n == 0 || s->cb(s->ud, SSE_PASS, p, n, NULL) >= 0 ? 0 : -1;
}

/* Hands back p[0..n) as the current event's fate says. */
static int emit(sse_t *s, const char *p, size_t n) {
  if (n == 0) return 0;
  if (!s->in_event || (!s->hold && !s->drop)) return pass(s, p, n);
  if (s->drop) return 0;
  if (s->raw.len + s->rawp_n + n <= s->max) return hold_add(&s->raw, &s->rawp, &s->rawp_n, p, n);
  s->too_large = 1;
  sse_event_t ev;
  fill_event(s, &ev);
  ev.raw = NULL;
  ev.raw_len = 0;
  int r = s->cb(s->ud, SSE_OVERFLOW, NULL, 0, &ev);
  if (r < 0) return -1;
  s->hold = 0;
  size_t held_n;
  const char *held = held_at(&s->raw, s->rawp, s->rawp_n, &held_n);
  s->raw.len = s->rawp_n = 0;
  if (r == SSE_DROP) {
    s->drop = 1;
    return 0;
  }
  if (pass(s, held, held_n)) return -1;
  return pass(s, p, n);
}

static int flush(sse_t *s, const char *upto) {
  const char *from = s->rs;
  s->rs = upto;
  return emit(s, from, (size_t)(upto - from));
}

static int begin(sse_t *s) {
  s->in_event = 1;
  int r = s->cb(s->ud, SSE_BEGIN, NULL, 0, NULL);
  if (r < 0) return -1;
  s->hold = r == SSE_HOLD;
  return 0;
}

static void reset_event(sse_t *s) {
  s->in_event = s->hold = s->drop = s->too_large = s->has_data = 0;
  s->data.len = s->raw.len = 0;
  s->datap_n = s->rawp_n = 0;
  s->type_len = 0;
  s->type_cut = 0;
  s->retry = -1;
}

static int end_event(sse_t *s, int complete) {
  sse_event_t ev;
  fill_event(s, &ev);
  ev.complete = (uint8_t)complete;
  if (!complete) { /* its last line may be cut: no data a client would see */
    ev.data = NULL;
    ev.data_len = 0;
  }
  int r = s->cb(s->ud, SSE_EVENT, NULL, 0, &ev);
  reset_event(s);
  return r < 0 ? -1 : 0;
}

static void add_data(sse_t *s, const char *p, size_t n) {
  if (s->too_large || !s->hold || n == 0) return;
  if (s->data.len + s->datap_n + n > s->max || hold_add(&s->data, &s->datap, &s->datap_n, p, n))
    s->too_large = 1;
}

static void add_value(sse_t *s, const char *p, size_t n) {
  if (s->field == F_DATA) {
    add_data(s, p, n);
    return;
  }
  if (s->field == F_OTHER) return;
  if (memchr(p, 0, n)) s->val_nul = 1;
  for (size_t i = 0; i < n; i++)
    if (p[i] < '0' || p[i] > '9') s->val_nondigit = 1;
  size_t room = sizeof s->val - s->val_len, k = n < room ? n : room;
  memcpy(s->val + s->val_len, p, k);
  s->val_len += k;
  if (k < n) s->val_cut = 1;
}

static int name_is(const sse_t *s, const char *name, size_t len) {
  return s->name_len == len && memcmp(s->name, name, len) == 0;
}

static void start_value(sse_t *s) {
  s->field = name_is(s, "data", 4)    ? F_DATA
             : name_is(s, "id", 2)    ? F_ID
             : name_is(s, "event", 5) ? F_EVENT
             : name_is(s, "retry", 5) ? F_RETRY
                                      : F_OTHER;
  /* The LF that joins data lines goes in before the next one, not after
   * each: the data of a one-line event is then the line itself, in place. */
  if (s->field == F_DATA && s->has_data) add_data(s, "\n", 1);
  s->val_len = 0;
  s->val_nul = s->val_nondigit = s->val_cut = 0;
}

static void end_field(sse_t *s) {
  switch (s->field) {
  case F_DATA:
    s->has_data = 1;
    break;
  case F_ID:
    if (!s->val_nul) {
      memcpy(s->id, s->val, s->val_len);
      s->id_len = s->val_len;
      s->id_cut = s->val_cut;
    }
    break;
  case F_EVENT:
    memcpy(s->type, s->val, s->val_len);
    s->type_len = s->val_len;
    s->type_cut = s->val_cut;
    break;
  case F_RETRY:
    if (s->val_len > 0 && !s->val_nondigit) {
      int64_t v = 0;
      for (size_t i = 0; i < s->val_len && v >= 0; i++)
        v = v > (INT64_MAX - 9) / 10 ? -1 : v * 10 + (s->val[i] - '0');
      s->retry = v < 0 || s->val_cut ? INT64_MAX : v;
    }
    break;
  default: break;
  }
}

/* Scans p up to a CR or LF; returns where it stopped. Eight bytes at a
 * time: a data line is most of an event's bytes. One test per word, for
 * any byte below 0x0E (CR and LF are; a word with a tab or NUL is looked
 * at byte by byte and the scan goes on). */
static const char *to_eol(const char *p, const char *end) {
  while (end - p >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    if (swar_has_below(w, '\r' + 1))
      for (int i = 0; i < 8; i++)
        if (p[i] == '\r' || p[i] == '\n') return p + i;
    p += 8;
  }
  while (p < end && *p != '\r' && *p != '\n') p++;
  return p;
}

/* The BOM check of the stream's first bytes: they are kept aside until
 * they are known to be a BOM (handed back as SSE_PASS) or the start of a
 * field line. Returns 1 when the byte was consumed here. */
static int bom_byte(sse_t *s, unsigned char c, int *err) {
  static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
  if (c == bom[s->bom_n]) {
    s->bom[s->bom_n++] = c;
    if (s->bom_n == 3) {
      s->st = ST_LINE;
      s->bom_n = 0;
      *err = pass(s, (const char *)s->bom, 3);
    }
    return 1;
  }
  s->st = ST_LINE;
  if (s->bom_n == 0) return 0;
  /* "\xEF" or "\xEF\xBB" then something else: a field line with a name
   * no field has. */
  uint8_t n = s->bom_n;
  s->bom_n = 0;
  *err = begin(s) || emit(s, (const char *)s->bom, n);
  s->st = ST_NAME;
  s->name_len = NAME_CAP + 1;
  return 0;
}

int sse_feed(sse_t *s, const char *p, size_t n, sse_cb cb, void *ud) {
  const char *end = p + n;
  s->cb = cb;
  s->ud = ud;
  s->rs = p;
  while (p < end) {
    unsigned char c = (unsigned char)*p;
    if (s->cr) {
      s->cr = 0;
      if (c == '\n') {
        p++;
        continue;
      }
    }
    int err = 0;
    switch (s->st) {
    case ST_BOM:
      if (bom_byte(s, c, &err)) s->rs = ++p;
      if (err) return -1;
      continue;
    case ST_LINE:
      if (c == '\r' || c == '\n') {
        s->cr = c == '\r';
        p++;
        if (s->in_event && (flush(s, p) || end_event(s, 1))) return -1;
        continue;
      }
      if (c == ':') {
        s->st = ST_COMMENT;
        p++;
        continue;
      }
      if (!s->in_event && (flush(s, p) || begin(s))) return -1;
      s->st = ST_NAME;
      s->name_len = 0;
      continue;
    case ST_NAME: {
      const char *q = p;
      while (q < end && *q != ':' && *q != '\r' && *q != '\n') q++;
      size_t k = (size_t)(q - p);
      if (s->name_len + k <= NAME_CAP) memcpy(s->name + s->name_len, p, k);
      s->name_len = s->name_len + k <= NAME_CAP ? s->name_len + k : NAME_CAP + 1;
      p = q;
      if (p == end) continue;
      start_value(s);
      if (*p == ':') {
        s->st = ST_VALUE_SP;
        p++;
        continue;
      }
      end_field(s); /* a name alone: the field with an empty value */
      s->st = ST_LINE;
      s->cr = *p == '\r';
      p++;
      continue;
    }
    case ST_VALUE_SP:
      s->st = ST_VALUE;
      if (c == ' ') p++;
      continue;
    case ST_VALUE:
    case ST_COMMENT: {
      const char *q = to_eol(p, end);
      if (s->st == ST_VALUE) add_value(s, p, (size_t)(q - p));
      p = q;
      if (p == end) continue;
      if (s->st == ST_VALUE) end_field(s);
      s->st = ST_LINE;
      s->cr = *p == '\r';
      p++;
      continue;
    }
    }
  }
  if (flush(s, end)) return -1;
  if (s->in_event && (hold_keep(&s->raw, &s->rawp, &s->rawp_n) ||
                      (!s->too_large && hold_keep(&s->data, &s->datap, &s->datap_n))))
    return -1;
  return 0;
}

int sse_finish(sse_t *s, sse_cb cb, void *ud) {
  s->cb = cb;
  s->ud = ud;
  if (s->st == ST_BOM && s->bom_n) {
    uint8_t n = s->bom_n;
    s->bom_n = 0;
    if (pass(s, (const char *)s->bom, n)) return -1;
  }
  s->st = ST_LINE;
  s->cr = 0;
  if (s->in_event) return end_event(s, 0);
  return 0;
}

/* Whether the line [p, q) (no line end) is a "data" field line. */
static int is_data_line(const char *p, const char *q) {
  size_t n = (size_t)(q - p);
  return n >= 4 && memcmp(p, "data", 4) == 0 && (n == 4 || p[4] == ':');
}

int sse_rewrite_data(const char *raw, size_t raw_len, const char *data, size_t data_len,
                     outbuf_t *out) {
  const char *p = raw, *end = raw + raw_len;
  int done = 0;
  while (p < end) {
    const char *q = to_eol(p, end), *next = q;
    if (next < end && *next++ == '\r' && next < end && *next == '\n') next++;
    if (!is_data_line(p, q)) {
      if (outbuf_append(out, p, (size_t)(next - p))) return -1;
    } else if (!done) {
      done = 1;
      const char *d = data, *dend = data + data_len;
      const char *eol = next > q ? q : "\n";
      size_t eol_len = next > q ? (size_t)(next - q) : 1;
      for (;;) {
        const char *e = d < dend ? memchr(d, '\n', (size_t)(dend - d)) : NULL;
        if (!e) e = dend;
        if (OUTBUF_LIT(out, "data: ") || outbuf_append(out, d, (size_t)(e - d)) ||
            outbuf_append(out, eol, eol_len))
          return -1;
        if (e == dend) break;
        d = e + 1;
      }
    }
    p = next;
  }
  return 0;
}
