/* reqhead: llhttp callbacks that only record, and the checks llhttp 8.1
 * does not make. */
#include "reqhead.h"

#include <stdlib.h>
#include <string.h>

static const llhttp_settings_t *parser_settings(void);

void reqhead_init(reqhead_t *h, uint32_t max_bytes, uint32_t max_headers) {
  char *arena = h->arena;
  uint32_t arena_cap = h->arena_cap;
  hdr_t *hdrs = h->hdrs;
  uint32_t cap_hdrs = h->cap_hdrs;
  memset(h, 0, sizeof *h);
  h->arena = arena;
  h->arena_cap = arena_cap;
  h->hdrs = hdrs;
  h->cap_hdrs = cap_hdrs;
  h->arena_max = max_bytes;
  h->max_hdrs = max_headers;
  h->in_head = 1;
  /* A parser per request, not per connection: an idle keep-alive
   * connection does not carry one, and every request starts clean. */
  llhttp_init(&h->parser, HTTP_REQUEST, parser_settings());
  h->parser.data = h;
  headscan_init(&h->hs, max_bytes);
}

void reqhead_free(reqhead_t *h) {
  free(h->arena);
  free(h->hdrs);
  h->arena = NULL;
  h->hdrs = NULL;
  h->arena_cap = h->cap_hdrs = 0;
}

static int fail(reqhead_t *h, answer_kind_t k, const char *desc) {
  h->err = k;
  h->err_desc = desc;
  return HPE_USER;
}

/* A limit crossed inside a header name or value (trailers included) is
 * answered when that name or value is complete, not at the piece that
 * crossed it: llhttp hands a part over in pieces that depend on how the
 * bytes were read, and a byte it refuses before the part ends must win
 * however they were. The bytes past the limit are dropped meanwhile. */
static int over_limit(reqhead_t *h, answer_kind_t k) {
  if (h->over == ANS_NONE) h->over = k;
  return 0;
}

static int part_complete(llhttp_t *p) {
  reqhead_t *h = p->data;
  return h->over != ANS_NONE ? fail(h, h->over, NULL) : 0;
}

/* Appends to the arena and to the part's length *len. */
static int arena_add(reqhead_t *h, const char *p, size_t n, uint32_t *len) {
  if (h->over != ANS_NONE) return 0;
  if (h->arena_len + n > h->arena_max) return over_limit(h, ANS_HEAD_TOO_LARGE);
  if (h->arena_len + n > h->arena_cap) {
    /* Offsets, not pointers, point into the arena: it may move. */
    uint32_t cap = h->arena_cap ? h->arena_cap : 2048;
    while (cap < h->arena_len + n) cap *= 2;
    if (cap > h->arena_max) cap = h->arena_max;
    char *a = realloc(h->arena, cap);
    if (!a) return fail(h, ANS_NO_MEMORY, NULL);
    h->arena = a;
    h->arena_cap = cap;
  }
  memcpy(h->arena + h->arena_len, p, n);
  h->arena_len += (uint32_t)n;
  *len += (uint32_t)n;
  return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t n) {
  reqhead_t *h = p->data;
  if (h->method_len == 0) h->method_off = h->arena_len;
  return arena_add(h, at, n, &h->method_len);
}

static int on_url(llhttp_t *p, const char *at, size_t n) {
  reqhead_t *h = p->data;
  if (h->url_len == 0) h->url_off = h->arena_len;
  return arena_add(h, at, n, &h->url_len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n) {
  reqhead_t *h = p->data;
  if (h->over != ANS_NONE) return 0;
  if (!h->in_field) {
    if (h->nhdrs >= h->max_hdrs) return over_limit(h, ANS_TOO_MANY_HEADERS);
    if (h->nhdrs == h->cap_hdrs) {
      uint32_t cap = h->cap_hdrs ? h->cap_hdrs * 2 : 16;
      if (cap > h->max_hdrs) cap = h->max_hdrs;
      hdr_t *nh = realloc(h->hdrs, cap * sizeof *nh);
      if (!nh) return fail(h, ANS_NO_MEMORY, NULL);
      h->hdrs = nh;
      h->cap_hdrs = cap;
    }
    hdr_t *f = &h->hdrs[h->nhdrs++];
    f->name_off = h->arena_len;
    f->name_len = 0;
    f->val_off = 0;
    f->val_len = 0;
    h->in_field = 1;
  }
  return arena_add(h, at, n, &h->hdrs[h->nhdrs - 1].name_len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t n) {
  reqhead_t *h = p->data;
  if (h->over != ANS_NONE) return 0;
  hdr_t *f = &h->hdrs[h->nhdrs - 1];
  if (h->in_field) {
    h->in_field = 0;
    f->val_off = h->arena_len;
  }
  return arena_add(h, at, n, &f->val_len);
}

static int on_header_value_complete(llhttp_t *p) {
  reqhead_t *h = p->data;
  h->in_field = 0;
  return part_complete(p);
}

static int on_headers_complete(llhttp_t *p) {
  reqhead_t *h = p->data;
  h->in_field = 0;
  h->in_head = 0;
  h->event = RH_HEAD;
  return HPE_PAUSED;
}

static int on_chunk_header(llhttp_t *p) {
  reqhead_t *h = p->data;
  h->chunk_left = p->content_length;
  return 0;
}

/* llhttp 8.1 does not check the two bytes after a chunk's data: they must
 * be CRLF, or the rest could be read as a smuggled request. */
static int check_chunk_end(reqhead_t *h, const char *at) {
  while (h->crlf_due && at < h->exec_end) {
    char want = h->crlf_due == 2 ? '\r' : '\n';
    if (*at != want) return -1;
    h->crlf_due--;
    at++;
  }
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n) {
  reqhead_t *h = p->data;
  h->body_in += n;
  /* The sink first: had the CRLF come in the next read, the sink would
   * have had the chunk (and perhaps refused it) before the check. */
  if (h->sink) {
    answer_kind_t k = h->sink(h->sink_ud, at, n);
    if (k != ANS_NONE) return fail(h, k, NULL);
  }
  if (h->chunked_in) {
    h->chunk_left -= n;
    if (h->chunk_left == 0) {
      h->crlf_due = 2;
      if (check_chunk_end(h, at + n)) return fail(h, ANS_BAD_FRAMING, "chunk data not followed by CRLF");
    }
  }
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  reqhead_t *h = p->data;
  h->event = RH_MSG;
  return HPE_PAUSED;
}

/* Constant: workers on several threads share it, nothing initializes it lazily. */
static const llhttp_settings_t *parser_settings(void) {
  static const llhttp_settings_t s = {
    .on_method = on_method,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_method_complete = part_complete,
    .on_url_complete = part_complete,
    .on_header_field_complete = part_complete,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
  };
  return &s;
}

reqhead_event_t reqhead_execute(reqhead_t *h, const char *data, size_t len, size_t *used) {
  *used = 0;
  answer_kind_t scan_err = ANS_NONE;
  const char *scan_why = NULL;
  if (h->in_head && !h->scanned) {
    if (len == 0) return RH_MORE;
    size_t u = len;
    uint32_t seen = h->hs.total;
    switch (headscan_feed(&h->hs, data, len, &u)) {
    case HS_MORE:
      break;
    case HS_DONE:
      h->scanned = 1; /* its verdict is in; what llhttp still reads is not its to judge */
      break;
    case HS_BAD:
      scan_err = ANS_BAD_FRAMING;
      scan_why = h->hs.why;
      break;
    case HS_TOO_LONG_LINE:
      scan_err = ANS_URI_TOO_LONG;
      break;
    case HS_TOO_LARGE:
      scan_err = ANS_HEAD_TOO_LARGE;
      break;
    }
    /* Had the bytes come one read at a time, llhttp would have judged the
     * ones before the refused byte first: so it does here, or the answer
     * would depend on how the client's bytes were cut. */
    if (scan_err) len = h->hs.total - seen - 1;
  }
  h->event = RH_MORE;
  h->exec_end = data + len;
  if (h->crlf_due && check_chunk_end(h, data)) {
    /* the CRLF after a chunk whose data ended with the previous read */
    fail(h, ANS_BAD_FRAMING, "chunk data not followed by CRLF");
    return RH_ERROR;
  }
  llhttp_errno_t e = llhttp_execute(&h->parser, data, len);
  if (e == HPE_PAUSED) {
    *used = (size_t)(llhttp_get_error_pos(&h->parser) - data);
    llhttp_resume(&h->parser);
  } else if (e != HPE_OK) {
    /* A callback that failed said why (llhttp reports the *_complete ones
     * as HPE_CB_*, not HPE_USER). */
    if (h->err == ANS_NONE) fail(h, ANS_BAD_FRAMING, llhttp_get_error_reason(&h->parser));
    return RH_ERROR;
  } else if (scan_err) {
    fail(h, scan_err, scan_why);
    return RH_ERROR;
  } else {
    *used = len;
  }
  return (reqhead_event_t)h->event;
}

const hdr_t *reqhead_header(const reqhead_t *h, const char *lower_name, int *count) {
  const hdr_t *found = NULL;
  int n = 0;
  size_t want = strlen(lower_name);
  for (uint32_t i = 0; i < h->nhdrs; i++) {
    const hdr_t *f = &h->hdrs[i];
    if (f->name_len == want && http_name_eq(h->arena + f->name_off, f->name_len, lower_name)) {
      if (!found) found = f;
      n++;
    }
  }
  if (count) *count = n;
  return found;
}

const char *reqhead_framing(reqhead_t *h) {
  int ncl = 0, nte = 0;
  const hdr_t *cl = reqhead_header(h, "content-length", &ncl);
  const hdr_t *te = reqhead_header(h, "transfer-encoding", &nte);
  if (cl && te) return "Content-Length together with Transfer-Encoding";
  if (ncl > 1) return "several Content-Length headers";
  if (cl) {
    uint64_t v;
    if (http_parse_content_length(h->arena + cl->val_off, cl->val_len, &v))
      return "invalid Content-Length";
    h->content_length = v;
  }
  if (nte > 1) return "several Transfer-Encoding headers";
  if (te) {
    size_t tl = te->val_len;
    while (tl > 0 && (h->arena[te->val_off + tl - 1] == ' ' || h->arena[te->val_off + tl - 1] == '\t'))
      tl--;
    if (!http_name_eq(h->arena + te->val_off, tl, "chunked"))
      return "Transfer-Encoding other than chunked";
    h->chunked_in = 1;
  }
  int nhost = 0;
  reqhead_header(h, "host", &nhost);
  if (nhost > 1) return "several Host headers";
  if (nhost == 0 && llhttp_get_http_minor(&h->parser) >= 1) return "missing Host header";
  return NULL;
}

int reqhead_compact(reqhead_t *h, const char *const *keep, size_t nkeep) {
  size_t len = (size_t)h->method_len + h->url_len;
  uint32_t n = 0;
  for (uint32_t i = 0; i < h->nhdrs; i++)
    for (size_t k = 0; k < nkeep; k++)
      if (http_name_eq(h->arena + h->hdrs[i].name_off, h->hdrs[i].name_len, keep[k])) {
        len += (size_t)h->hdrs[i].name_len + h->hdrs[i].val_len;
        n++;
        break;
      }
  /* Exact sizes: the arena and the table are allocated anew only when that
   * frees something; the old ones stay if memory runs out. */
  char *a = len ? malloc(len) : NULL;
  hdr_t *t = n ? malloc(n * sizeof *t) : NULL;
  if ((len && !a) || (n && !t)) {
    free(a);
    free(t);
    return -1;
  }
  uint32_t at = 0, j = 0;
#define COPY(off, l)                              \
  do {                                            \
    memcpy(a + at, h->arena + (off), (l));        \
    (off) = at;                                   \
    at += (l);                                    \
  } while (0)
  COPY(h->method_off, h->method_len);
  COPY(h->url_off, h->url_len);
  for (uint32_t i = 0; i < h->nhdrs; i++)
    for (size_t k = 0; k < nkeep; k++)
      if (http_name_eq(h->arena + h->hdrs[i].name_off, h->hdrs[i].name_len, keep[k])) {
        hdr_t f = h->hdrs[i];
        COPY(f.name_off, f.name_len);
        COPY(f.val_off, f.val_len);
        t[j++] = f;
        break;
      }
#undef COPY
  free(h->arena);
  free(h->hdrs);
  h->arena = a;
  h->arena_len = h->arena_cap = at;
  h->hdrs = t;
  h->nhdrs = h->cap_hdrs = n;
  return 0;
}
