/* metrics: per-worker counters summed at scrape, label interning across
 * reloads, the Prometheus text format (0.0.4) and its escaping. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>

#include "m2m.h"
#include "metrics.h"
#include "tap.h"

/* The value of the series line that starts with `series ` (exact name and
 * labels), or -1 when absent; -2 when it appears more than once. */
static double value_of(const char *text, const char *series) {
  size_t n = strlen(series);
  double v = -1;
  int seen = 0;
  for (const char *l = text; l && *l;) {
    const char *nl = strchr(l, '\n');
    if (strncmp(l, series, n) == 0 && l[n] == ' ') {
      if (seen++) return -2;
      v = strncmp(l + n + 1, "+Inf", 4) == 0 ? 1e300 : strtod(l + n + 1, NULL);
    }
    l = nl ? nl + 1 : NULL;
  }
  return v;
}

static int has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *l = text; l && *l;) {
    if (strncmp(l, line, n) == 0 && (l[n] == '\n' || l[n] == '\0')) return 1;
    const char *nl = strchr(l, '\n');
    l = nl ? nl + 1 : NULL;
  }
  return 0;
}

static int is_name_char(int c, int first) {
  return isalpha(c) || c == '_' || c == ':' || (!first && isdigit(c));
}

/* A strict enough reader of the text format: every family has HELP then
 * TYPE once, every sample belongs to the family declared last (with the
 * _bucket/_sum/_count suffixes for a histogram), label values are properly
 * escaped strings, values are numbers or +Inf, the text ends with '\n'.
 * Returns NULL when fine, else what is wrong. */
static const char *format_error(const char *text, int *nsamples) {
  static char why[200];
  char fam[128] = "", type[16] = "", seen[64][128];
  int nseen = 0;
  *nsamples = 0;
  size_t tl = strlen(text);
  if (tl == 0 || text[tl - 1] != '\n') return "does not end with a newline";
  for (const char *l = text; *l;) {
    const char *nl = strchr(l, '\n');
    size_t len = (size_t)(nl - l);
    char line[1024];
    if (len >= sizeof line) return "line too long";
    memcpy(line, l, len);
    line[len] = '\0';
    l = nl + 1;
    if (strncmp(line, "# HELP ", 7) == 0) {
      char name[128];
      if (sscanf(line + 7, "%127s", name) != 1) return "bad HELP";
      for (int i = 0; i < nseen; i++)
        if (strcmp(seen[i], name) == 0) {
          snprintf(why, sizeof why, "family %s declared twice", name);
          return why;
        }
      if (nseen == 64) return "too many families";
      strcpy(seen[nseen++], name);
      strcpy(fam, name);
      type[0] = '\0';
      continue;
    }
    if (strncmp(line, "# TYPE ", 7) == 0) {
      char name[128];
      if (sscanf(line + 7, "%127s %15s", name, type) != 2 || strcmp(name, fam) != 0)
        return "TYPE does not follow its HELP";
      if (strcmp(type, "counter") && strcmp(type, "gauge") && strcmp(type, "histogram"))
        return "unknown TYPE";
      continue;
    }
    if (line[0] == '#') return "unexpected comment";
    if (!type[0]) return "sample before TYPE";
    const char *p = line;
    if (!is_name_char(*p, 1)) return "bad metric name";
    while (is_name_char(*p, 0)) p++;
    char name[128];
    snprintf(name, sizeof name, "%.*s", (int)(p - line), line);
    int ok = strcmp(name, fam) == 0;
    if (!ok && strcmp(type, "histogram") == 0) {
      size_t fl = strlen(fam);
      ok = strncmp(name, fam, fl) == 0 && (strcmp(name + fl, "_bucket") == 0 ||
                                           strcmp(name + fl, "_sum") == 0 ||
                                           strcmp(name + fl, "_count") == 0);
    }
    if (!ok) {
      snprintf(why, sizeof why, "sample %.80s outside its family %.80s", name, fam);
      return why;
    }
    if (*p == '{') {
      p++;
      for (;;) {
        if (!is_name_char(*p, 1)) return "bad label name";
        while (is_name_char(*p, 0)) p++;
        if (*p++ != '=' || *p++ != '"') return "bad label syntax";
        while (*p && *p != '"') {
          if (*p == '\\') {
            p++;
            if (*p != '\\' && *p != '"' && *p != 'n') return "bad escape";
          }
          p++;
        }
        if (*p++ != '"') return "unterminated label value";
        if (*p == ',') {
          p++;
          continue;
        }
        if (*p++ != '}') return "bad label list";
        break;
      }
    }
    if (*p++ != ' ') return "no space before the value";
    if (strcmp(p, "+Inf") != 0) {
      char *end;
      strtod(p, &end);
      if (end == p || *end) {
        snprintf(why, sizeof why, "bad value in: %.150s", line);
        return why;
      }
    }
    ++*nsamples;
  }
  return NULL;
}

static char *render_at(gw_metrics_t *m, int64_t now) {
  size_t len = 0;
  char *t = metrics_render_at(m, now, &len);
  if (t && strlen(t) != len) {
    free(t);
    return NULL;
  }
  return t;
}

static void test_empty(void) {
  gw_metrics_t *m = metrics_new(2, "1.2.3");
  CHECK(m != NULL, "metrics_new");
  CHECK(metrics_worker(m, 1) != NULL && metrics_worker(m, 2) == NULL, "metrics_worker bounds");
  char *t = render_at(m, 0);
  CHECK(t != NULL, "render without labels");
  int n;
  const char *err = format_error(t, &n);
  CHECK_STR(err, NULL, "empty exposition is well-formed");
  static const char *const families[] = {
      "requests_total counter", "auth_decisions_total counter", "token_cache_hits_total counter",
      "token_cache_misses_total counter", "token_cache_entries gauge",
      "mcp_requests_total counter", "responses_total counter",
      "jwks_last_success_timestamp_seconds gauge",
      "jwks_fetches_total counter", "jwks_keys gauge", "jwks_last_success_age_seconds gauge",
      "upstream_request_duration_seconds histogram", "upstream_connect_errors_total counter",
      "upstream_timeouts_total counter", "upstream_retries_total counter",
      "upstream_pool_idle gauge", "open_connections gauge",
      "upstream_write_batches_total counter", "upstream_batched_writes_total counter",
      "reloads_total counter", "build_info gauge"};
  for (size_t i = 0; i < sizeof families / sizeof *families; i++) {
    char line[128], what[160];
    snprintf(line, sizeof line, "# TYPE gateway_%s", families[i]);
    snprintf(what, sizeof what, "declares %s", families[i]);
    CHECK(has_line(t, line), what);
  }
  CHECK(has_line(t, "gateway_build_info{version=\"1.2.3\"} 1"), "build_info carries the version");
  CHECK(has_line(t, "gateway_reloads_total{result=\"ok\"} 0"), "reloads ok starts at 0");
  CHECK(has_line(t, "gateway_reloads_total{result=\"failed\"} 0"), "reloads failed starts at 0");
  CHECK(has_line(t, "gateway_open_connections 0"), "open_connections starts at 0");
  CHECK(has_line(t, "gateway_token_cache_entries 0"), "token_cache_entries starts at 0");
  CHECK(strstr(t, "gateway_requests_total{") == NULL, "no request series before any request");
  free(t);
  metrics_free(m);
}

static const char *const UPS[] = {"api", "mcp"};
static const char *const ROUTES[] = {"/api/v4/profiles", "/api/v4/profiles/*", "/mcp"};
static const char *const ISS[] = {"login", "partner"};

static void test_counts(void) {
  gw_metrics_t *m = metrics_new(2, "x");
  gw_mlabels_t *lm = metrics_labels_new(m, UPS, 2, ROUTES, 3, ISS, 2);
  CHECK(lm != NULL, "metrics_labels_new");
  metrics_activate(m, lm);
  gw_mcounters_t *w0 = metrics_worker(m, 0), *w1 = metrics_worker(m, 1);

  metrics_request(w0, lm, 0, 0, 200);
  metrics_request(w1, lm, 0, 0, 204);
  metrics_request(w1, lm, 0, 0, 299);
  metrics_request(w0, lm, 0, 1, 404);
  metrics_request(w0, lm, 1, 2, 101);
  metrics_request(w0, lm, 1, 2, 302);
  metrics_request(w0, lm, 1, 2, 503);
  metrics_request(w0, lm, 1, 2, 0);   /* no status: 5xx */
  metrics_request(w1, lm, 1, 2, 700); /* out of range: 5xx */
  metrics_request(w0, lm, 0, GW_MROUTE_UNMATCHED, 403);
  metrics_request(w1, lm, GW_MUP_NONE, GW_MROUTE_NONE, 404);
  metrics_request(w1, lm, GW_MUP_NONE, GW_MROUTE_NONE, 404);

  metrics_auth(w0, GW_MOUT_INVALID_TOKEN, GW_MREASON_EXPIRED);
  metrics_auth(w1, GW_MOUT_INVALID_TOKEN, GW_MREASON_EXPIRED);
  metrics_auth(w1, GW_MOUT_INVALID_TOKEN, GW_MREASON_EXPIRED);
  metrics_auth(w0, GW_MOUT_UNAUTHORIZED, GW_MREASON_MISSING_TOKEN);
  metrics_auth(w0, GW_MOUT_ALLOW, GW_MREASON_NONE);

  metrics_token_cache(w0, 1);
  metrics_token_cache(w1, 1);
  metrics_token_cache(w1, 0);
  metrics_token_cache_entries_add(w0, 3);
  metrics_token_cache_entries_add(w1, 2);
  metrics_token_cache_entries_add(w0, -1);
  metrics_open_connections_add(w0, 5);
  metrics_open_connections_add(w1, 1);
  metrics_open_connections_add(w0, -2);
  metrics_connection_refused(w0, GW_MREFUSED_DESCRIPTORS);
  metrics_connection_refused(w1, GW_MREFUSED_DESCRIPTORS);
  metrics_upstream_batch(w0, 5);
  metrics_upstream_batch(w1, 1);
  metrics_upstream_batch(w0, 2);

  /* 0.5 ms, 1 ms (on a bound: le is inclusive), 3 ms, 2 s, 20 s (+Inf) */
  metrics_upstream_duration(w0, lm, 0, 500000);
  metrics_upstream_duration(w1, lm, 0, 1000000);
  metrics_upstream_duration(w0, lm, 0, 3000000);
  metrics_upstream_duration(w1, lm, 0, 2000000000);
  metrics_upstream_duration(w0, lm, 0, 20000000000ull);
  metrics_upstream_connect_error(w0, lm, 1);
  metrics_upstream_connect_error(w1, lm, 1);
  metrics_upstream_timeout(w1, lm, 0);
  metrics_upstream_retry(w0, lm, 0);
  metrics_upstream_pool_idle_add(w0, lm, 0, 2);
  metrics_upstream_pool_idle_add(w1, lm, 0, 1);
  metrics_upstream_pool_idle_add(w0, lm, 0, -1);

  metrics_jwks_fetch(lm, 0, GW_MJWKS_OK);
  metrics_jwks_fetch(lm, 0, GW_MJWKS_OK);
  metrics_jwks_fetch(lm, 0, GW_MJWKS_HTTP_STATUS);
  metrics_jwks_fetch(lm, 1, GW_MJWKS_ERROR);
  metrics_jwks_loaded(lm, 0, 3, 1700000000000);
  metrics_reload(m, 1);
  metrics_reload(m, 0);
  metrics_reload(m, 0);

  char *t = render_at(m, 1700000001500);
  CHECK(t != NULL, "render");
  int n;
  CHECK_STR(format_error(t, &n), NULL, "exposition is well-formed");
#define V(s) value_of(t, s)
  CHECK_INT(V("gateway_requests_total{upstream=\"api\",route=\"/api/v4/profiles\",status_class=\"2xx\"}"), 3,
            "requests summed over the workers");
  CHECK_INT(V("gateway_requests_total{upstream=\"api\",route=\"/api/v4/profiles/*\",status_class=\"4xx\"}"), 1,
            "404 counts as 4xx");
  CHECK_INT(V("gateway_requests_total{upstream=\"mcp\",route=\"/mcp\",status_class=\"1xx\"}"), 1, "101 is 1xx");
  CHECK_INT(V("gateway_requests_total{upstream=\"mcp\",route=\"/mcp\",status_class=\"3xx\"}"), 1, "302 is 3xx");
  CHECK_INT(V("gateway_requests_total{upstream=\"mcp\",route=\"/mcp\",status_class=\"5xx\"}"), 3,
            "503, 0 and 700 count as 5xx");
  CHECK_INT(V("gateway_requests_total{upstream=\"api\",route=\"unmatched\",status_class=\"4xx\"}"), 1,
            "unmatched route");
  CHECK_INT(V("gateway_requests_total{upstream=\"none\",route=\"none\",status_class=\"4xx\"}"), 2,
            "no upstream, no route");
  CHECK_INT(V("gateway_requests_total{upstream=\"api\",route=\"/mcp\",status_class=\"2xx\"}"), -1,
            "a series never incremented is not listed");
  CHECK_INT(V("gateway_auth_decisions_total{outcome=\"invalid_token\",reason=\"expired\"}"), 3,
            "auth decisions summed");
  CHECK_INT(V("gateway_auth_decisions_total{outcome=\"unauthorized\",reason=\"missing_token\"}"), 1,
            "missing token");
  CHECK_INT(V("gateway_auth_decisions_total{outcome=\"allow\",reason=\"none\"}"), 1, "allow");
  CHECK_INT(V("gateway_auth_decisions_total{outcome=\"allow\",reason=\"expired\"}"), -1,
            "zero auth series not listed");
  CHECK_INT(V("gateway_token_cache_hits_total"), 2, "cache hits");
  CHECK_INT(V("gateway_token_cache_misses_total"), 1, "cache misses");
  CHECK_INT(V("gateway_token_cache_entries"), 4, "cache entries: signed deltas summed");
  CHECK_INT(V("gateway_open_connections"), 4, "open connections: 5 + 1 - 2");
  CHECK_INT(V("gateway_connections_refused_total{reason=\"descriptors\"}"), 2, "refusals of all workers");
  CHECK_INT(V("gateway_connections_refused_total{reason=\"max_connections\"}"), 0, "refusals listed at 0");
  CHECK_INT(V("gateway_upstream_write_batches_total"), 3, "io_submit batches of all workers");
  CHECK_INT(V("gateway_upstream_batched_writes_total"), 8, "heads in those batches: 5 + 1 + 2");

  static const struct {
    const char *le;
    int v;
  } buckets[] = {{"0.001", 2}, {"0.005", 3}, {"0.01", 3},  {"0.025", 3}, {"0.05", 3},
                 {"0.1", 3},   {"0.25", 3},  {"0.5", 3},   {"1", 3},     {"2.5", 4},
                 {"5", 4},     {"10", 4},    {"+Inf", 5}};
  for (size_t i = 0; i < sizeof buckets / sizeof *buckets; i++) {
    char s[160], what[64];
    snprintf(s, sizeof s, "gateway_upstream_request_duration_seconds_bucket{upstream=\"api\",le=\"%s\"}",
             buckets[i].le);
    snprintf(what, sizeof what, "histogram bucket le=%s is cumulative", buckets[i].le);
    CHECK_INT(V(s), buckets[i].v, what);
  }
  CHECK(has_line(t, "gateway_upstream_request_duration_seconds_sum{upstream=\"api\"} 22.004500000"),
        "histogram sum, exact");
  CHECK_INT(V("gateway_upstream_request_duration_seconds_count{upstream=\"api\"}"), 5, "histogram count");
  CHECK_INT(V("gateway_upstream_request_duration_seconds_count{upstream=\"mcp\"}"), 0,
            "an idle upstream's histogram is listed with 0");
  CHECK(V("gateway_upstream_request_duration_seconds_count{upstream=\"none\"}") == -1,
        "no histogram for the 'none' upstream");
  CHECK_INT(V("gateway_upstream_connect_errors_total{upstream=\"mcp\"}"), 2, "connect errors");
  CHECK_INT(V("gateway_upstream_connect_errors_total{upstream=\"api\"}"), 0, "zero connect errors listed");
  CHECK_INT(V("gateway_upstream_timeouts_total{upstream=\"api\"}"), 1, "timeouts");
  CHECK_INT(V("gateway_upstream_retries_total{upstream=\"api\"}"), 1, "retries");
  CHECK_INT(V("gateway_upstream_retries_total{upstream=\"mcp\"}"), 0, "zero retries listed");
  CHECK_INT(V("gateway_upstream_pool_idle{upstream=\"api\"}"), 2, "pool idle gauge");

  CHECK_INT(V("gateway_jwks_fetches_total{issuer=\"login\",result=\"ok\"}"), 2, "jwks ok fetches");
  CHECK_INT(V("gateway_jwks_fetches_total{issuer=\"login\",result=\"http_status\"}"), 1, "jwks http_status");
  CHECK_INT(V("gateway_jwks_fetches_total{issuer=\"login\",result=\"invalid\"}"), 0, "jwks zero results listed");
  CHECK_INT(V("gateway_jwks_fetches_total{issuer=\"partner\",result=\"error\"}"), 1, "jwks error");
  CHECK_INT(V("gateway_jwks_keys{issuer=\"login\"}"), 3, "jwks keys");
  CHECK_INT(V("gateway_jwks_keys{issuer=\"partner\"}"), 0, "jwks keys 0 before the first load");
  CHECK(has_line(t, "gateway_jwks_last_success_age_seconds{issuer=\"login\"} 1.500"),
        "age computed at scrape time");
  CHECK(has_line(t, "gateway_jwks_last_success_age_seconds{issuer=\"partner\"} +Inf"),
        "age +Inf when never loaded");
  CHECK_INT(V("gateway_reloads_total{result=\"ok\"}"), 1, "reloads ok");
  CHECK_INT(V("gateway_reloads_total{result=\"failed\"}"), 2, "reloads failed");
  free(t);

  t = render_at(m, 1699999999000);
  CHECK(t && has_line(t, "gateway_jwks_last_success_age_seconds{issuer=\"login\"} 0.000"),
        "a clock behind the last load gives age 0, never negative");
  free(t);
  t = metrics_render(m, NULL);
  CHECK(t && value_of(t, "gateway_jwks_last_success_age_seconds{issuer=\"login\"}") > 1e6,
        "metrics_render uses the wall clock");
  free(t);
#undef V
  metrics_labels_free(lm);
  metrics_free(m);
}

/* A reload with the same names continues the same series; a new route
 * starts a new one; a dropped one keeps its value; the JWKS gauges follow
 * the active snapshot. */
static void test_reload(void) {
  gw_metrics_t *m = metrics_new(1, "x");
  gw_mcounters_t *w = metrics_worker(m, 0);
  gw_mlabels_t *a = metrics_labels_new(m, UPS, 2, ROUTES, 3, ISS, 2);
  metrics_activate(m, a);
  metrics_request(w, a, 0, 0, 200);
  metrics_upstream_duration(w, a, 1, 1000);
  metrics_jwks_fetch(a, 1, GW_MJWKS_OK);
  metrics_jwks_loaded(a, 1, 2, 1000);

  /* the new config: mcp first, api second, a new route, /mcp dropped, one issuer */
  static const char *const ups2[] = {"mcp", "api"};
  static const char *const routes2[] = {"/api/v4/tags/**", "/api/v4/profiles"};
  static const char *const iss2[] = {"login"};
  gw_mlabels_t *b = metrics_labels_new(m, ups2, 2, routes2, 2, iss2, 1);
  CHECK(b != NULL, "labels for the reloaded config");
  metrics_request(w, a, 0, 0, 200); /* in flight on the old snapshot */
  metrics_request(w, b, 1, 1, 200); /* same upstream and route, new indices */
  metrics_request(w, b, 1, 0, 200);
  metrics_upstream_duration(w, b, 0, 1000); /* mcp through the new map */
  metrics_activate(m, b);
  metrics_labels_free(a);

  char *t = render_at(m, 2000);
  int n;
  CHECK_STR(format_error(t, &n), NULL, "well-formed after a reload");
  CHECK_INT(value_of(t, "gateway_requests_total{upstream=\"api\",route=\"/api/v4/profiles\",status_class=\"2xx\"}"), 3,
            "old and new snapshots count into one series");
  CHECK_INT(value_of(t, "gateway_requests_total{upstream=\"api\",route=\"/api/v4/tags/**\",status_class=\"2xx\"}"), 1,
            "a new route gets its own series");
  CHECK_INT(value_of(t, "gateway_upstream_request_duration_seconds_count{upstream=\"mcp\"}"), 2,
            "upstream series continue across reordering");
  CHECK_INT(value_of(t, "gateway_jwks_fetches_total{issuer=\"partner\",result=\"ok\"}"), 1,
            "a removed issuer's counters stay");
  CHECK_INT(value_of(t, "gateway_jwks_keys{issuer=\"partner\"}"), -1,
            "a removed issuer loses its gauges");
  CHECK_INT(value_of(t, "gateway_jwks_last_success_age_seconds{issuer=\"partner\"}"), -1,
            "a removed issuer loses its age gauge");
  CHECK(has_line(t, "gateway_jwks_last_success_age_seconds{issuer=\"login\"} +Inf"),
        "the active issuer keeps its gauges");
  free(t);

  /* reloading the same config again allocates nothing new */
  gw_mlabels_t *c = metrics_labels_new(m, ups2, 2, routes2, 2, iss2, 1);
  CHECK(c != NULL && c->req[2 * 4 + 3] == b->req[2 * 4 + 3] && c->up[0] == b->up[0],
        "same names, same cells");
  metrics_labels_free(b);
  metrics_labels_free(c);
  metrics_free(m);
}

static void test_escaping(void) {
  gw_metrics_t *m = metrics_new(1, "v\"1\\2\n");
  static const char *const ups[] = {"we\"ird\\name\nx"};
  static const char *const routes[] = {"/a/\"{id}\""};
  gw_mlabels_t *lm = metrics_labels_new(m, ups, 1, routes, 1, NULL, 0);
  metrics_request(metrics_worker(m, 0), lm, 0, 0, 200);
  char *t = render_at(m, 0);
  int n;
  CHECK_STR(format_error(t, &n), NULL, "well-formed with quotes, backslashes and newlines in labels");
  CHECK(has_line(t, "gateway_requests_total{upstream=\"we\\\"ird\\\\name\\nx\",route=\"/a/\\\"{id}\\\"\",status_class=\"2xx\"} 1"),
        "label values escaped");
  CHECK(has_line(t, "gateway_build_info{version=\"v\\\"1\\\\2\\n\"} 1"), "version escaped");
  free(t);
  metrics_labels_free(lm);
  metrics_free(m);
}

static void test_names(void) {
  /* must stay equal to jwt_result_name() (gateway/jwt.c), GW_JWT_OK being "none" */
  static const char *const jwt[] = {"none", "malformed", "alg_missing", "alg_not_allowed", "crit",
                                    "unknown_issuer", "no_keyset", "unknown_kid", "key_alg_mismatch",
                                    "bad_signature", "exp_missing", "expired", "not_yet_valid",
                                    "iat_future", "aud_mismatch", "typ_invalid", "claim_type",
                                    "missing_token", "revoked"};
  int ok = sizeof jwt / sizeof *jwt == GW_MREASON_COUNT;
  for (int i = 0; ok && i < GW_MREASON_COUNT; i++) ok = strcmp(metrics_reason_name(i), jwt[i]) == 0;
  CHECK(ok, "reason names in gw_jwt_result_t order");
  CHECK_STR(metrics_outcome_name(GW_MOUT_INSUFFICIENT_SCOPE), "insufficient_scope", "outcome name");
  CHECK_STR(metrics_outcome_name(GW_MOUT_UNAVAILABLE), "unavailable", "outcome name unavailable");
  CHECK_STR(metrics_jwks_result_name(GW_MJWKS_HTTP_STATUS), "http_status", "jwks result name");
  CHECK_STR(metrics_reason_name(GW_MREASON_COUNT), "invalid", "out-of-range reason");
}

/* gateway_request_duration_seconds: microseconds in, exact buckets out, by
 * upstream and answered_by; the M2M token counters by outcome. */
static void test_request_duration_m2m(void) {
  gw_metrics_t *m = metrics_new(2, "x");
  gw_mlabels_t *lm = metrics_labels_new(m, UPS, 2, NULL, 0, NULL, 0);
  gw_mcounters_t *w0 = metrics_worker(m, 0), *w1 = metrics_worker(m, 1);
  metrics_request_duration(w0, lm, GW_MUP_NONE, 0, 40);   /* a 404 in 40 us */
  metrics_request_duration(w1, lm, GW_MUP_NONE, 0, 100);  /* on the bound: le="0.0001" */
  metrics_request_duration(w0, lm, GW_MUP_NONE, 0, 101);
  metrics_request_duration(w1, lm, 0, 1, 1500);           /* proxied by api */
  metrics_request_duration(w0, lm, 0, 0, 20000000);       /* a 504 after 20 s: +Inf */
  metrics_m2m_token(w0, GW_M2M_ISSUED);
  metrics_m2m_token(w1, GW_M2M_ISSUED);
  metrics_m2m_token(w1, GW_M2M_BAD_SECRET);
  metrics_m2m_token(w0, GW_MM2M_BUSY);
  metrics_m2m_token(w0, GW_MM2M_CELLS); /* out of range: ignored */
  char *t = render_at(m, 0);
  int n;
  CHECK_STR(format_error(t, &n), NULL, "well-formed");
#define RD(labels, le) value_of(t, "gateway_request_duration_seconds_bucket{" labels ",le=\"" le "\"}")
  CHECK_INT(RD("upstream=\"none\",answered_by=\"gateway\"", "0.0001"), 2, "40 us and 100 us in the first bucket");
  CHECK_INT(RD("upstream=\"none\",answered_by=\"gateway\"", "0.00025"), 3, "101 us in the second");
  CHECK_INT(RD("upstream=\"none\",answered_by=\"gateway\"", "+Inf"), 3, "cumulative");
  CHECK(has_line(t, "gateway_request_duration_seconds_sum{upstream=\"none\",answered_by=\"gateway\"} 0.000241"),
        "sum in seconds, microsecond-exact");
  CHECK_INT(value_of(t, "gateway_request_duration_seconds_count{upstream=\"none\",answered_by=\"gateway\"}"), 3,
            "count");
  CHECK_INT(value_of(t, "gateway_request_duration_seconds_count{upstream=\"none\",answered_by=\"upstream\"}"), -1,
            "nothing routed nowhere comes from an upstream");
  CHECK_INT(RD("upstream=\"api\",answered_by=\"upstream\"", "0.001"), 0, "1.5 ms is over 1 ms");
  CHECK_INT(RD("upstream=\"api\",answered_by=\"upstream\"", "0.0025"), 1, "and under 2.5 ms");
  CHECK_INT(RD("upstream=\"api\",answered_by=\"gateway\"", "10"), 0, "20 s only in +Inf");
  CHECK_INT(RD("upstream=\"api\",answered_by=\"gateway\"", "+Inf"), 1, "20 s in +Inf");
  CHECK_INT(value_of(t, "gateway_request_duration_seconds_count{upstream=\"mcp\",answered_by=\"upstream\"}"), 0,
            "an idle upstream's series are there, at 0");
#undef RD
  CHECK_INT(value_of(t, "gateway_m2m_token_requests_total{outcome=\"issued\"}"), 2, "issued, both workers");
  CHECK_INT(value_of(t, "gateway_m2m_token_requests_total{outcome=\"bad_secret\"}"), 1, "bad_secret");
  CHECK_INT(value_of(t, "gateway_m2m_token_requests_total{outcome=\"busy\"}"), 1, "busy");
  CHECK_INT(value_of(t, "gateway_m2m_token_requests_total{outcome=\"job_failed\"}"), 0, "job_failed listed at 0");
  CHECK_INT(value_of(t, "gateway_m2m_token_requests_total{outcome=\"locked_address\"}"), 0, "every outcome listed");
  free(t);
  metrics_labels_free(lm);
  metrics_free(m);
}

/* Many routes: label cells spill over several chunks. */
static void test_many_routes(void) {
  enum { NR = 3000 };
  static char names[NR][32];
  static const char *routes[NR];
  for (int i = 0; i < NR; i++) {
    snprintf(names[i], sizeof names[i], "/r/%d", i);
    routes[i] = names[i];
  }
  gw_metrics_t *m = metrics_new(3, "x");
  gw_mlabels_t *lm = metrics_labels_new(m, UPS, 2, routes, NR, NULL, 0);
  CHECK(lm != NULL, "3000 routes x 2 upstreams");
  for (int i = 0; i < NR; i++) metrics_request(metrics_worker(m, (unsigned)i % 3), lm, (uint32_t)(i & 1), (uint32_t)i, 200 + (unsigned)i % 300);
  char *t = render_at(m, 0);
  int n;
  CHECK_STR(format_error(t, &n), NULL, "well-formed with 3000 routes");
  /* + 14 M2M outcomes, and 19 request-duration lines (17 buckets, sum, count)
   * for "none" (gateway only) and twice for each upstream */
  CHECK_INT(n, NR + 56 + 14 + 5 * 19, "one series per request plus the fixed ones (5 process_*, 2 dropped log lines)");
  CHECK_INT(value_of(t, "gateway_requests_total{upstream=\"mcp\",route=\"/r/2999\",status_class=\"4xx\"}"), 1,
            "last route counted");
  CHECK_INT(value_of(t, "gateway_requests_total{upstream=\"api\",route=\"/r/0\",status_class=\"2xx\"}"), 1,
            "first route counted");
  free(t);
  metrics_labels_free(lm);
  metrics_free(m);
}

/* Label space exhausted: NULL, and what exists keeps working. */
static void test_exhaustion(void) {
  enum { NR = 3000, NU = 300 };
  static char rn[NR][32], un[NU][32];
  static const char *routes[NR], *ups[NU];
  for (int i = 0; i < NR; i++) snprintf(rn[i], sizeof rn[i], "/x/%d", i), routes[i] = rn[i];
  for (int i = 0; i < NU; i++) snprintf(un[i], sizeof un[i], "u%d", i), ups[i] = un[i];
  gw_metrics_t *m = metrics_new(1, "x");
  gw_mlabels_t *ok = metrics_labels_new(m, UPS, 2, ROUTES, 3, NULL, 0);
  gw_mlabels_t *big = metrics_labels_new(m, ups, NU, routes, NR, NULL, 0);
  CHECK(big == NULL, "301 x 3002 pairs exceed the label space: NULL");
  metrics_request(metrics_worker(m, 0), ok, 1, 2, 200);
  char *t = render_at(m, 0);
  int n;
  CHECK(t != NULL && format_error(t, &n) == NULL, "still renders after a refused label set");
  CHECK_INT(value_of(t, "gateway_requests_total{upstream=\"mcp\",route=\"/mcp\",status_class=\"2xx\"}"), 1,
            "existing labels still count");
  free(t);
  metrics_labels_free(ok);
  metrics_free(m);
}

/* Workers count while the main thread scrapes and adds labels (new chunks). */
enum { THREADS = 4, PER_THREAD = 200000 };
static gw_metrics_t *cm;
static gw_mlabels_t *clm;
static atomic_int started;

static void *counter_thread(void *arg) {
  gw_mcounters_t *w = metrics_worker(cm, (unsigned)(uintptr_t)arg);
  atomic_fetch_add(&started, 1);
  for (int i = 0; i < PER_THREAD; i++) {
    metrics_request(w, clm, 0, 0, 200);
    metrics_auth(w, GW_MOUT_ALLOW, GW_MREASON_NONE);
    metrics_upstream_duration(w, clm, 0, 1000);
  }
  return NULL;
}

static void test_concurrency(void) {
  cm = metrics_new(THREADS, "x");
  clm = metrics_labels_new(cm, UPS, 2, ROUTES, 3, NULL, 0);
  pthread_t th[THREADS];
  for (uintptr_t i = 0; i < THREADS; i++) pthread_create(&th[i], NULL, counter_thread, (void *)i);
  double prev = 0;
  int monotonic = 1, scrapes = 0, fmt_ok = 1;
  gw_mlabels_t *extra[40] = {0};
  int nextra = 0;
  while (atomic_load(&started) < THREADS || prev < (double)THREADS * PER_THREAD) {
    char *t = render_at(cm, 0);
    int n;
    if (format_error(t, &n)) fmt_ok = 0;
    double v = value_of(t, "gateway_requests_total{upstream=\"api\",route=\"/api/v4/profiles\",status_class=\"2xx\"}");
    if (v < 0) v = 0;
    if (v < prev) monotonic = 0;
    prev = v;
    free(t);
    scrapes++;
    if (nextra < 40) { /* new labels while counting: new chunks appear under the workers */
      static char names[300][32];
      static const char *routes[300];
      for (int i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "/new/%d/%d", nextra, i);
        routes[i] = names[i];
      }
      extra[nextra++] = metrics_labels_new(cm, UPS, 2, routes, 300, NULL, 0);
    }
  }
  for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
  char *t = render_at(cm, 0);
  CHECK(monotonic, "counters never go backwards between scrapes");
  CHECK(fmt_ok, "every concurrent scrape is well-formed");
  CHECK(scrapes > 0, "scraped while counting");
  CHECK_INT(value_of(t, "gateway_requests_total{upstream=\"api\",route=\"/api/v4/profiles\",status_class=\"2xx\"}"),
            THREADS * PER_THREAD, "no increment lost");
  CHECK_INT(value_of(t, "gateway_auth_decisions_total{outcome=\"allow\",reason=\"none\"}"), THREADS * PER_THREAD,
            "no auth increment lost");
  CHECK_INT(value_of(t, "gateway_upstream_request_duration_seconds_count{upstream=\"api\"}"), THREADS * PER_THREAD,
            "no histogram observation lost");
  free(t);
  for (int i = 0; i < nextra; i++) metrics_labels_free(extra[i]);
  metrics_labels_free(clm);
  metrics_free(cm);
}

/* gateway_mcp_requests_total: only MCP upstreams, items by kind, other and
 * none, the same series again after a reload that keeps the names. */
static void test_mcp(void) {
  gw_metrics_t *m = metrics_new(2, "x");
  static const char *const items[] = {"tool:get_profile", "prompt:greet", "resource:file:///docs/*"};
  static const unsigned char kinds[] = {0, 1, 2};
  static const unsigned char mcp_up[] = {0, 1};
  gw_mlabels_t *lm = metrics_labels_new(m, UPS, 2, ROUTES, 3, NULL, 0);
  CHECK_INT(metrics_labels_mcp(lm, mcp_up, items, kinds, 3), 0, "metrics_labels_mcp");
  gw_mcounters_t *w0 = metrics_worker(m, 0), *w1 = metrics_worker(m, 1);
  CHECK(metrics_mcp_series(lm, 0, GW_MCPM_TOOLS_CALL, 0) == UINT32_MAX, "no series for a plain upstream");
  metrics_mcp(w0, metrics_mcp_series(lm, 0, GW_MCPM_TOOLS_CALL, 0), GW_MCPD_ALLOW); /* ignored */
  metrics_mcp(w0, metrics_mcp_series(lm, 1, GW_MCPM_TOOLS_CALL, 0), GW_MCPD_ALLOW);
  metrics_mcp(w1, metrics_mcp_series(lm, 1, GW_MCPM_TOOLS_CALL, 0), GW_MCPD_ALLOW);
  metrics_mcp(w1, metrics_mcp_series(lm, 1, GW_MCPM_TOOLS_CALL, -1), GW_MCPD_UNLISTED);
  metrics_mcp(w1, metrics_mcp_series(lm, 1, GW_MCPM_TOOLS_CALL, 1), GW_MCPD_INSUFFICIENT_SCOPE); /* a prompt */
  metrics_mcp(w0, metrics_mcp_series(lm, 1, GW_MCPM_PROMPTS_GET, 1), GW_MCPD_UNAUTHORIZED);
  metrics_mcp(w0, metrics_mcp_series(lm, 1, GW_MCPM_RESOURCES_READ, 2), GW_MCPD_ALLOW);
  metrics_mcp(w0, metrics_mcp_series(lm, 1, GW_MCPM_TOOLS_LIST, 0), GW_MCPD_ALLOW); /* no item */
  metrics_mcp(w0, metrics_mcp_series(lm, 1, metrics_mcp_method("bogus", 5), -1), GW_MCPD_INVALID);
  metrics_mcp(w0, metrics_mcp_series(lm, 1, metrics_mcp_method(NULL, 0), -1), GW_MCPD_ALLOW);
  metrics_mcp(w0, metrics_mcp_series(lm, 1, metrics_mcp_method("notifications/initialized", 25), -1),
              GW_MCPD_ALLOW);
  char *t = render_at(m, 0);
  int n;
  CHECK_STR(format_error(t, &n), NULL, "well-formed with MCP series");
  CHECK(has_line(t, "# TYPE gateway_mcp_requests_total counter"), "declares mcp_requests_total");
#define MCP_S(meth, item, dec) \
  "gateway_mcp_requests_total{upstream=\"mcp\",method=\"" meth "\",item=\"" item "\",decision=\"" dec "\"}"
  CHECK_INT(value_of(t, MCP_S("tools/call", "tool:get_profile", "allow")), 2, "tool allowed, two workers summed");
  CHECK_INT(value_of(t, MCP_S("tools/call", "other", "unlisted")), 1, "unlisted tool is other");
  CHECK_INT(value_of(t, MCP_S("tools/call", "other", "insufficient_scope")), 1, "an item of another kind is other");
  CHECK_INT(value_of(t, MCP_S("prompts/get", "prompt:greet", "unauthorized")), 1, "prompt item");
  CHECK_INT(value_of(t, MCP_S("resources/read", "resource:file:///docs/*", "allow")), 1, "resource prefix item");
  CHECK_INT(value_of(t, MCP_S("tools/list", "none", "allow")), 1, "a method without an item: none");
  CHECK_INT(value_of(t, MCP_S("other", "none", "invalid")), 1, "unknown method: other");
  CHECK_INT(value_of(t, MCP_S("response", "none", "allow")), 1, "a client's response");
  CHECK_INT(value_of(t, MCP_S("notification", "none", "allow")), 1, "notifications/*");
  CHECK_INT(value_of(t, MCP_S("tools/call", "tool:get_profile", "invalid")), -1, "zero series are left out");
  CHECK(strstr(t, "upstream=\"api\",method=") == NULL, "nothing for the plain upstream");
  free(t);
  /* the same names after a reload continue the series */
  gw_mlabels_t *lm2 = metrics_labels_new(m, UPS, 2, ROUTES, 3, NULL, 0);
  static const char *const items2[] = {"prompt:greet", "tool:get_profile"};
  static const unsigned char kinds2[] = {1, 0};
  CHECK_INT(metrics_labels_mcp(lm2, mcp_up, items2, kinds2, 2), 0, "metrics_labels_mcp after a reload");
  metrics_labels_free(lm);
  metrics_mcp(w1, metrics_mcp_series(lm2, 1, GW_MCPM_TOOLS_CALL, 1), GW_MCPD_ALLOW);
  t = render_at(m, 0);
  CHECK_INT(value_of(t, MCP_S("tools/call", "tool:get_profile", "allow")), 3, "series continues across a reload");
  CHECK_INT(value_of(t, MCP_S("resources/read", "resource:file:///docs/*", "allow")), 1, "a dropped item keeps its value");
#undef MCP_S
  free(t);
  CHECK_STR(metrics_mcp_method_name(GW_MCPM_RESOURCES_TEMPLATES_LIST), "resources/templates/list", "method name");
  CHECK(metrics_mcp_method("logging/setLevel", 16) == GW_MCPM_LOGGING_SETLEVEL, "logging/setLevel");
  CHECK(metrics_mcp_method("notifications/", 14) == GW_MCPM_OTHER, "a bare notifications/ prefix is other");
  CHECK(metrics_mcp_decision(GW_MOUT_INSUFFICIENT_SCOPE, 1) == GW_MCPD_UNLISTED, "unlisted decision");
  CHECK(metrics_mcp_decision(GW_MOUT_PUBLIC, 0) == GW_MCPD_ALLOW, "public is allow");
  metrics_labels_free(lm2);
  metrics_free(m);
}

/* responses_total by code, the JWKS success timestamp, process_* */
static void test_ops(void) {
  gw_metrics_t *m = metrics_new(2, "x");
  gw_mlabels_t *lm = metrics_labels_new(m, UPS, 2, ROUTES, 3, ISS, 2);
  metrics_activate(m, lm);
  metrics_own_response(metrics_worker(m, 0), 401);
  metrics_own_response(metrics_worker(m, 1), 401);
  metrics_own_response(metrics_worker(m, 1), 503);
  metrics_own_response(metrics_worker(m, 1), 600); /* out of range: ignored */
  metrics_jwks_loaded(lm, 0, 2, 1700000000123);
  char *t = render_at(m, 1700000005000);
  int n;
  CHECK_STR(format_error(t, &n), NULL, "well-formed with ops families");
  CHECK_INT(value_of(t, "gateway_responses_total{code=\"401\"}"), 2, "401 by code, two workers summed");
  CHECK_INT(value_of(t, "gateway_responses_total{code=\"503\"}"), 1, "503 by code");
  CHECK_INT(value_of(t, "gateway_responses_total{code=\"200\"}"), -1, "codes never sent are left out");
  CHECK(has_line(t, "gateway_jwks_last_success_timestamp_seconds{issuer=\"login\"} 1700000000.123"),
        "last success as a unix timestamp");
  CHECK(has_line(t, "gateway_jwks_last_success_timestamp_seconds{issuer=\"partner\"} 0.000"), "never: 0");
  CHECK(has_line(t, "gateway_jwks_last_success_age_seconds{issuer=\"login\"} 4.877"), "the age gauge stays");
  static const char *const proc[] = {"# TYPE process_cpu_seconds_total counter", "# TYPE process_open_fds gauge",
                                     "# TYPE process_max_fds gauge", "# TYPE process_resident_memory_bytes gauge",
                                     "# TYPE process_start_time_seconds gauge"};
  for (size_t i = 0; i < 5; i++) CHECK(has_line(t, proc[i]), proc[i]);
  CHECK(value_of(t, "process_open_fds") >= 3, "open fds: at least stdin, stdout, stderr");
  CHECK(value_of(t, "process_max_fds") >= value_of(t, "process_open_fds"), "max fds");
  CHECK(value_of(t, "process_resident_memory_bytes") > 1e5, "resident memory");
  CHECK(value_of(t, "process_start_time_seconds") > 1.5e9, "start time since the epoch");
  CHECK(value_of(t, "process_cpu_seconds_total") >= 0, "cpu seconds");
  free(t);
  metrics_labels_free(lm);
  metrics_free(m);
}

int main(void) {
  test_mcp();
  test_ops();
  test_empty();
  test_counts();
  test_reload();
  test_escaping();
  test_names();
  test_request_duration_m2m();
  test_many_routes();
  test_exhaustion();
  test_concurrency();
  return TAP_DONE();
}
