/* accesslog: the access log and the per-request metrics. */
#include "accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "logring.h"
#include "policy.h"
#include "reqmeta.h"
#include "snapshot.h"

#define ACCESS_FLUSH_BYTES (16 * 1024)

static int access_fd = -1;

int access_log_open(const gw_config_t *cfg) {
  if (!cfg->access_log || strcmp(cfg->access_log, "off") == 0) {
    access_fd = -1;
    return 0;
  }
  if (strcmp(cfg->access_log, "-") == 0) {
    access_fd = STDOUT_FILENO;
    return 0;
  }
  access_fd = open(cfg->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (access_fd < 0) {
    LOG_ERROR("cannot open access log %s: %s", cfg->access_log, strerror(errno));
    return -1;
  }
  return 0;
}

/* On SIGHUP, for log rotation: the new file takes the old descriptor's
 * number (dup2 is atomic), so workers writing concurrently never see a
 * closed descriptor. Only a file can replace a file. */
int access_log_reopen(const gw_config_t *cfg) {
  const char *p = cfg->access_log;
  int is_file = p && strcmp(p, "-") != 0;
  if (!is_file || access_fd <= STDERR_FILENO) return (is_file || access_fd > STDERR_FILENO) ? -1 : 0;
  int fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    LOG_ERROR("cannot open access log %s: %s", p, strerror(errno));
    return -1;
  }
  int rc = dup3(fd, access_fd, O_CLOEXEC) < 0 ? -1 : 0;
  close(fd);
  return rc;
}

/* Into the access log's ring (logring.h): a reader that falls behind costs
 * dropped lines, counted in gateway_log_dropped_lines_total, never a
 * stalled worker. */
void access_log_flush(worker_t *w) {
  if (w->access.len && access_fd >= 0)
    logring_write(GW_LOGRING_ACCESS, access_fd, w->access.data, w->access.len);
  w->access.len = 0;
}

int access_log_fd(void) { return access_fd; }

int access_log_enabled(void) { return access_fd >= 0; }

#define MAX_XFF_HEADERS 16

void request_client_addr(const request_t *r, const char *peer, char *out, size_t cap) {
  const gw_config_t *cfg = r->gen->cfg;
  const char *vals[MAX_XFF_HEADERS];
  size_t lens[MAX_XFF_HEADERS], n = 0;
  for (uint32_t i = 0; cfg->ntrusted_proxies && i < r->h.nhdrs; i++) {
    const hdr_t *f = &r->h.hdrs[i];
    if (f->name_len != 15 || !http_name_eq(r->h.arena + f->name_off, 15, "x-forwarded-for"))
      continue;
    /* More headers than this: the client's own padding, left of the hops
     * that matter; keep the rightmost ones. */
    if (n == MAX_XFF_HEADERS) {
      memmove(vals, vals + 1, sizeof vals - sizeof vals[0]);
      memmove(lens, lens + 1, sizeof lens - sizeof lens[0]);
      n--;
    }
    vals[n] = r->h.arena + f->val_off;
    lens[n++] = f->val_len;
  }
  gw_client_addr(peer, cfg->trusted_proxies, cfg->ntrusted_proxies, vals, lens, n, out, cap);
}

/* A header's value, JSON-escaped and cut, as `,"key":"value"`; nothing
 * when the header is absent. */
static void log_header(outbuf_t *o, const request_t *r, const char *lname, const char *key,
                       size_t max) {
  const hdr_t *h = req_header(r, lname, NULL);
  if (!h) return;
  char v[6 * 256 + 8];
  gw_json_escape(v, sizeof v, r->h.arena + h->val_off, h->val_len, max);
  outbuf_printf(o, ",\"%s\":\"%s\"", key, v);
}

static void log_trace(outbuf_t *o, const request_t *r) {
  int n;
  const hdr_t *h = req_header(r, "traceparent", &n);
  char trace[33], span[17];
  /* Two traceparent headers are no trace context (W3C: ignore them). */
  if (!h || n != 1 || gw_traceparent(r->h.arena + h->val_off, h->val_len, trace, span) != 0)
    return;
  outbuf_printf(o, ",\"trace_id\":\"%s\",\"span_id\":\"%s\"", trace, span);
}

void access_log_request(const request_t *r, int is_admin, const char *peer,
                        const char *upstream_addr) {
  worker_t *w = r->gen->w;
  if (is_admin) return;
  /* The answer's last byte was just handed to the socket (or the client left). */
  uint64_t us = worker_now_us() - r->start_us;
  if (w->mc && r->gen->snap->ml) {
    uint32_t up = r->pool ? (uint32_t)r->up_index : GW_MUP_NONE;
    uint32_t route = r->route ? r->route->index : r->pool ? GW_MROUTE_UNMATCHED : GW_MROUTE_NONE;
    metrics_request(w->mc, r->gen->snap->ml, up, route, (unsigned)r->status);
    metrics_request_duration(w->mc, r->gen->snap->ml, up, r->up_status != 0, us);
    /* no upstream status: the gateway answered (499 is no answer at all) */
    if (!r->up_status && r->status != GW_STATUS_CLIENT_CLOSED) metrics_own_response(w->mc, (unsigned)r->status);
  }
  if (access_fd < 0) return;
  char ts[40], method[64], path[600];
  gw_time_rfc3339(ts, sizeof ts);
  gw_json_escape(method, sizeof method, r->h.arena + r->h.method_off, r->h.method_len, 20);
  /* The query is never logged: it may carry an access_token. */
  size_t plen = r->h.url_len;
  const char *url = r->h.arena + r->h.url_off;
  const char *q = memchr(url, '?', plen);
  if (q) plen = (size_t)(q - url);
  gw_json_escape(path, sizeof path, url, plen, 256);
  outbuf_printf(&w->access,
                "{\"time\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,"
                "\"upstream\":%s%s%s,\"bytes\":%llu,\"duration_ms\":%llu,\"duration_us\":%llu",
                ts, method, path, r->status, r->pool ? "\"" : "",
                r->pool ? request_upstream(r)->name : "null", r->pool ? "\"" : "",
                (unsigned long long)r->bytes_out, (unsigned long long)(us / 1000u),
                (unsigned long long)us);
  if (r->route) {
    char pat[400];
    gw_json_escape(pat, sizeof pat, r->route->pattern, strlen(r->route->pattern), 256);
    outbuf_printf(&w->access, ",\"route\":\"%s %s\"", r->route->methods, pat);
  }
  if (r->pool && r->up_start_us)
    outbuf_printf(&w->access, ",\"upstream_ms\":%llu,\"upstream_us\":%llu",
                  (unsigned long long)(r->up_us / 1000u), (unsigned long long)r->up_us);
  if (r->request_id[0]) outbuf_printf(&w->access, ",\"request_id\":\"%s\"", r->request_id);
  if (r->decision) outbuf_printf(&w->access, ",\"decision\":\"%s\"", r->decision);
  if (r->reason) outbuf_printf(&w->access, ",\"reason\":\"%s\"", r->reason);
  if (r->up_status) outbuf_printf(&w->access, ",\"upstream_status\":%d", r->up_status);
  if (upstream_addr)
    outbuf_printf(&w->access, ",\"upstream_addr\":\"%s\"", upstream_addr);
  char client[GW_IP_TEXT];
  request_client_addr(r, peer, client, sizeof client);
  outbuf_printf(&w->access, ",\"client\":\"%s\",\"proto\":\"HTTP/%d.%d\",\"bytes_in\":%llu",
                client, r->h.parser.http_major, r->h.parser.http_minor,
                (unsigned long long)r->h.hs.total + r->h.body_in);
  log_header(&w->access, r, "host", "host", 256);
  log_header(&w->access, r, "user-agent", "user_agent", 256);
  log_trace(&w->access, r);
  if (r->kind) outbuf_printf(&w->access, ",\"kind\":\"%s\"", r->kind);
  if (r->decide_only) OUTBUF_LIT(&w->access, ",\"mode\":\"decision\"");
  outbuf_append(&w->access, r->logx.data, r->logx.len);
  OUTBUF_LIT(&w->access, "}\n");
  if (w->access.len > ACCESS_FLUSH_BYTES) access_log_flush(w);
}

void access_log_close(void) {
  if (access_fd > STDERR_FILENO) close(access_fd);
  access_fd = -1;
}
