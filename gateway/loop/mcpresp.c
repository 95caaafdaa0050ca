/* mcpresp: filtering MCP list answers, JSON or SSE. */
#include "mcpresp.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "mcpjudge.h"
#include "mcplist.h"
#include "snapshot.h"
#include "sse.h"
#include "swar.h"

struct mcpresp {
  request_t *r;
  mcplist_kind_t kind;
  gw_mcp_kind_t item_kind;
  const gw_mcp_items_t *items;
  size_t max;
  sse_t *sse;       /* NULL: a JSON body, read whole into body */
  outbuf_t body;
  outbuf_t out;
  uint8_t too_large;
  outbuf_t pend;    /* an event stream's bytes of this feed: they go out as one piece */
  /* The feed being read and the run of it that goes out next, uncopied:
   * the pieces for the client are copied into pend only when one that is
   * not the next bytes of the feed comes (a rewritten or spanning event). */
  const char *feed, *feed_end, *run;
  size_t run_n;
  mcpresp_emit emit;
  void *ud;
};

static const gw_mcp_items_t no_items = {0};

mcpresp_t *mcpresp_start(request_t *r, int status, const char *ctype, size_t ctlen) {
  if (!r->mcp_list || status < 200 || status > 299) return NULL;
  mcpresp_t *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->r = r;
  m->item_kind = (gw_mcp_kind_t)(r->mcp_list - 1);
  m->kind = m->item_kind == GW_MCP_TOOL     ? MCPLIST_TOOLS
            : m->item_kind == GW_MCP_PROMPT ? MCPLIST_PROMPTS
                                            : MCPLIST_RESOURCES;
  const gw_policy_t *p = r->gen->snap->auth.policy;
  m->items = p ? policy_mcp(p) : &no_items;
  m->max = request_upstream(r)->mcp_max_body;
  /* Anything but an event stream is read as the one JSON answer: failing
   * closed when it is not one. */
  if (ctype && ctlen >= 17 && strncasecmp(ctype, "text/event-stream", 17) == 0) {
    m->sse = sse_new(m->max);
    if (!m->sse) {
      free(m);
      return NULL;
    }
  }
  return m;
}

static int allowed(void *ud, const char *name, size_t len) {
  const mcpresp_t *m = ud;
  return mcp_item_usable(m->items, m->item_kind, name, len, m->r->tok_ok, m->r->tok_scopes);
}

/* The answer as it may go to the client, into m->out (MCPLIST_FILTERED, or
 * MCPLIST_FAIL with an error for our id there), or MCPLIST_NOT_OURS when it
 * goes as it came. */
static mcplist_result_t filter(mcpresp_t *m, const char *json, size_t len) {
  request_t *r = m->r;
  m->out.len = 0;
  mcplist_result_t res = mcplist_filter(json, len, r->mcp_list_id, r->mcp_list_idlen, m->kind, allowed,
                                        m, &m->out);
  if (res == MCPLIST_FAIL) {
    LOG_WARN("upstream %s: a list answer that cannot be read strictly: sent as an error",
             request_upstream(r)->name);
    m->out.len = 0;
    mcplist_error(&m->out, r->mcp_list_id, r->mcp_list_idlen, -32603,
                  "the list answer could not be filtered");
  }
  return res;
}

static void error_for_id(mcpresp_t *m, const char *why) {
  m->out.len = 0;
  mcplist_error(&m->out, m->r->mcp_list_id, m->r->mcp_list_idlen, -32603, why);
}

/* Whether a message could carry a "result" member in any reading of it:
 * its letters must stand in it literally (in any case: some clients match
 * member names case-insensitively) unless a backslash escapes them. One
 * that cannot is no answer to any request, so no list to filter: it goes
 * as it came without the strict parse that costs more than the rest of the
 * way through the gateway (a stream of notifications before the answer). */
static int may_hold_result(const char *p, size_t n) {
  static const char word[6] = "result";
  for (size_t i = 0; i < n;) {
    /* Eight bytes at a time past those without a backslash, 'u' or 'U':
     * the 'u' of "result" (rarer in JSON-RPC text than its 'r', which
     * "jsonrpc" has) is where a candidate is tried. */
    if (n - i >= 8) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (!swar_has_byte(w, '\\') && !swar_has_byte(w | 0x2020202020202020ULL, 'u')) {
        i += 8;
        continue;
      }
    }
    for (size_t stop = n - i >= 8 ? i + 8 : n; i < stop; i++) {
      if (p[i] == '\\') return 1;
      if ((p[i] | 0x20) != 'u' || i < 3 || n - i < 3) continue;
      size_t k = 0;
      while (k < 6 && (p[i - 3 + k] | 0x20) == word[k]) k++;
      if (k == 6) return 1;
    }
  }
  return 0;
}

/* The bytes for the client: one piece per feed instead of one per event,
 * so a stream of small events is re-framed in chunks as large as the
 * upstream's reads. */
static void put_copy(mcpresp_t *m, const char *p, size_t n) {
  if (outbuf_append(&m->pend, p, n)) {
    m->emit(m->ud, m->pend.data, m->pend.len); /* out of memory: in order all the same */
    m->pend.len = 0;
    m->emit(m->ud, p, n);
  }
}

static void put(mcpresp_t *m, const char *p, size_t n) {
  if (n == 0) return;
  /* The next bytes of the feed itself (what every event that goes as it
   * came is): a longer run, no copy. */
  uintptr_t at = (uintptr_t)p, lo = (uintptr_t)m->feed, hi = (uintptr_t)m->feed_end;
  if (m->pend.len == 0 && at >= lo && at <= hi && n <= hi - at &&
      (m->run_n == 0 || m->run + m->run_n == p)) {
    if (m->run_n == 0) m->run = p;
    m->run_n += n;
    return;
  }
  if (m->run_n) put_copy(m, m->run, m->run_n);
  m->run_n = 0;
  put_copy(m, p, n);
}

static void flush_pend(mcpresp_t *m) {
  if (m->run_n) m->emit(m->ud, m->run, m->run_n);
  m->run_n = 0;
  if (m->pend.len) m->emit(m->ud, m->pend.data, m->pend.len);
  m->pend.len = 0;
  if (m->pend.cap > 16384) outbuf_free(&m->pend);
  m->feed = m->feed_end = NULL;
}

static int on_sse(void *ud, sse_what_t what, const char *p, size_t n, const sse_event_t *ev) {
  mcpresp_t *m = ud;
  switch (what) {
  case SSE_PASS:
    put(m, p, n);
    return 0;
  case SSE_BEGIN:
    /* Every event is held to its end: whether it answers our id is only
     * known from its data, and a second answer must be filtered too. */
    return SSE_HOLD;
  case SSE_OVERFLOW:
    /* Larger than mcp_max_body: it may be our list, so it is never sent;
     * the events after it are still read. */
    error_for_id(m, "the list answer is larger than mcp_max_body");
    {
      static const char pre[] = "event: message\ndata: ", post[] = "\n\n";
      put(m, pre, sizeof pre - 1);
      put(m, m->out.data, m->out.len);
      put(m, post, sizeof post - 1);
    }
    return SSE_DROP;
  case SSE_EVENT: {
    if (!ev->held) return 0;
    if (!ev->complete) return 0; /* cut off by the end: a client discards it too */
    size_t k = 0;
    while (k < ev->data_len && (ev->data[k] == ' ' || ev->data[k] == '\t' || ev->data[k] == '\n' ||
                                ev->data[k] == '\r'))
      k++;
    /* No message at all (a priming event, a keep-alive), or none that
     * answers anything: as it came. */
    if (!ev->has_data || k == ev->data_len || !may_hold_result(ev->data + k, ev->data_len - k)) {
      put(m, ev->raw, ev->raw_len);
      return 0;
    }
    /* Filtered, or unreadable (an error for our id in its place). */
    mcplist_result_t rc = filter(m, ev->data, ev->data_len);
    if (rc == MCPLIST_NOT_OURS) {
      put(m, ev->raw, ev->raw_len);
      return 0;
    }
    outbuf_t rew = {0};
    if (sse_rewrite_data(ev->raw, ev->raw_len, m->out.data, m->out.len, &rew) == 0)
      put(m, rew.data, rew.len);
    outbuf_free(&rew);
    return 0;
  }
  }
  return 0;
}

void mcpresp_body(mcpresp_t *m, const char *p, size_t n, mcpresp_emit emit, void *ud) {
  m->emit = emit;
  m->ud = ud;
  if (m->sse) {
    m->feed = p;
    m->feed_end = p + n;
    sse_feed(m->sse, p, n, on_sse, m);
    flush_pend(m);
    return;
  }
  if (m->too_large) return;
  if (m->body.len + n > m->max) {
    m->too_large = 1;
    outbuf_free(&m->body);
    return;
  }
  outbuf_append(&m->body, p, n);
}

void mcpresp_end(mcpresp_t *m, mcpresp_emit emit, void *ud) {
  m->emit = emit;
  m->ud = ud;
  if (m->sse) {
    sse_finish(m->sse, on_sse, m);
    flush_pend(m);
    return;
  }
  if (m->too_large)
    error_for_id(m, "the list answer is larger than mcp_max_body");
  else if (filter(m, m->body.data ? m->body.data : "", m->body.len) == MCPLIST_NOT_OURS) {
    emit(ud, m->body.data, m->body.len);
    return;
  }
  emit(ud, m->out.data, m->out.len);
}

void mcpresp_free(mcpresp_t *m) {
  if (!m) return;
  sse_free(m->sse);
  outbuf_free(&m->body);
  outbuf_free(&m->out);
  outbuf_free(&m->pend);
  free(m);
}
