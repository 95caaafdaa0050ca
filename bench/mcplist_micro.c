/* mcplist_micro: the cost of filtering one tools/list answer, the JSON of
 * bench/mcp-upstream.js (100 tools of ~200 bytes, t0..t9 allowed), split
 * into jrpc_parse alone (the strict pass every answer pays) and the whole
 * mcplist_filter; also an answer for another id (not ours).
 *
 * Build and run from the repo root, after make (links build/libgw.a):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -I gateway/lib bench/mcplist_micro.c build/libgw.a \
 *       -o /tmp/mcplist_micro -lm && /tmp/mcplist_micro [tools, default 100] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jsonrpc.h"
#include "mcplist.h"

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int allow(void *ud, const char *name, size_t n) {
  (void)ud;
  return n == 2 && name[0] == 't'; /* t0..t9 */
}

int main(int argc, char **argv) {
  int ntools = argc > 1 ? atoi(argv[1]) : 100;
  outbuf_t j = {0};
  OUTBUF_LIT(&j, "{\"jsonrpc\":\"2.0\",\"id\":42,\"result\":{\"tools\":[");
  for (int i = 0; i < ntools; i++)
    outbuf_printf(&j,
                  "%s{\"name\":\"t%d\",\"description\":\"Tool number %d: reads one field of a profile and "
                  "returns it with its history.\",\"inputSchema\":{\"type\":\"object\",\"properties\":"
                  "{\"profile_id\":{\"type\":\"string\"},\"limit\":{\"type\":\"integer\"}},\"required\":"
                  "[\"profile_id\"]}}",
                  i ? "," : "", i, i);
  OUTBUF_LIT(&j, "],\"nextCursor\":\"c-2\"}}");
  outbuf_t out = {0};
  const int iters = 20000;
  double best[3] = {1e18, 1e18, 1e18};
  for (int rep = 0; rep < 5; rep++) {
    double t0 = now_ns();
    for (int i = 0; i < iters; i++) {
      jrpc_msg_t m;
      if (jrpc_parse(j.data, j.len, &m) != JRPC_OK) return 1;
    }
    double t1 = now_ns();
    for (int i = 0; i < iters; i++) {
      out.len = 0;
      if (mcplist_filter(j.data, j.len, "42", 2, MCPLIST_TOOLS, allow, NULL, &out) != MCPLIST_FILTERED) return 1;
    }
    double t2 = now_ns();
    for (int i = 0; i < iters; i++)
      if (mcplist_filter(j.data, j.len, "43", 2, MCPLIST_TOOLS, allow, NULL, &out) != MCPLIST_NOT_OURS) return 1;
    double t3 = now_ns();
    double d[3] = {(t1 - t0) / iters, (t2 - t1) / iters, (t3 - t2) / iters};
    for (int k = 0; k < 3; k++)
      if (d[k] < best[k]) best[k] = d[k];
  }
  printf("answer %zu bytes, %d tools; filtered to %zu bytes\n", j.len, ntools, out.len);
  printf("jrpc_parse alone        %8.1f us\n", best[0] / 1000);
  printf("mcplist_filter (ours)   %8.1f us  (%.1f us beyond jrpc_parse)\n", best[1] / 1000, (best[1] - best[0]) / 1000);
  printf("mcplist_filter (other)  %8.1f us\n", best[2] / 1000);
  outbuf_free(&j);
  outbuf_free(&out);
  return 0;
}
