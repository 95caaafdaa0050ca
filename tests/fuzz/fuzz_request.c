/* libFuzzer driver for the client request parser as the gateway runs it:
 * the real gateway/lib/reqhead.c (headscan from gateway/lib/http.c, then
 * llhttp 8.1 from Debian's C sources, HTTP_REQUEST, no lenient flags),
 * driven as gateway/loop/conn.c's client_run() drives it, by the driver the
 * unit test uses (tests/unit/reqhead_drive.h): pipelined requests each with
 * a fresh reqhead_init, reqhead_framing after every head, body bytes into a
 * sink, the connection ended by RH_ERROR, a framing refusal or a request
 * that is not keep-alive.
 *
 * The input is the bytes a client sends. Its last byte also picks the
 * limits (max_header_bytes 64..256 or 16 KiB, max_headers 2..6 or 100, a
 * sink that refuses after a few bytes or never), so that every refusal is
 * reachable from small inputs. The input is run whole, cut once and twice
 * at places its first byte picks, and one byte at a time when short.
 * Asserted (__builtin_trap() on violation):
 *   0. the outcome (per request: method, target, version, headers, where
 *      the head ends, the framing verdict, the body, trailers, where the
 *      message ends; then how the connection ended, with the answer kind and
 *      description) is the same text however the input was cut;
 *   1. no message begins inside the bytes headscan alone calls one head: no
 *      second request smuggled inside an accepted head;
 *   2. when a head is complete, headscan alone over the same bytes ends it
 *      at exactly the same byte (HTTP/0.9 request lines aside: llhttp 8.1
 *      takes "GET /\r\n" as a version 0.9 head; the framing rules refuse
 *      it without Host, and with one it is not keep-alive, so nothing
 *      follows it on the connection). This also covers the old rule 3:
 *      llhttp never finds the end of a head beyond where headscan put it;
 *   3. after every reqhead_execute: arena_len <= arena_max (and its
 *      capacity), nhdrs <= max_hdrs (and its capacity), the method, the
 *      target and every header slice inside the arena; *used never more than
 *      was given, RH_MORE takes everything.
 * Method PRI is the other llhttp 8.1 special case: after the request line
 * llhttp expects the rest of the HTTP/2 preface and never completes a head,
 * so "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" is a complete head to headscan and
 * an error (HPE_PAUSED_H2_UPGRADE, 400) to reqhead; rule 0 makes sure the
 * answer is the same however the preface arrives. llhttp refusing a head
 * (any HPE_* error) is fine: the gateway answers 400 and closes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/reqhead_drive.h"

#define CHECK(cond)                                                                        \
  do {                                                                                     \
    if (!(cond)) __builtin_trap();                                                         \
  } while (0)

static rd_outcome_t first, again;

/* Prints both outcomes before the trap, so that a reproducer explains itself. */
static void check_same(const char *how, const size_t *cuts, size_t ncuts) {
  if (again.violation) fprintf(stderr, "%s: broken invariant: %s\n", how, again.violation);
  CHECK(!again.violation);
  int same = strcmp(first.text, again.text) == 0;
  if (!same) {
    fprintf(stderr, "whole:\n%s%s:", first.text, how);
    for (size_t i = 0; i < ncuts; i++) fprintf(stderr, " %zu", cuts[i]);
    fprintf(stderr, "\n%s", again.text);
  }
  CHECK(same);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static size_t cuts[512];
  if (size == 0) return 0;
  const char *in = (const char *)data;
  uint8_t b = data[size - 1];
  rd_config_t cfg;
  cfg.max_headers = (b & 3) ? 2u * (b & 3) : 100;
  cfg.max_bytes = (b & 0x0c) ? 32u << ((b >> 2) & 3) : 16 * 1024;
  cfg.sink_limit = (b & 0x10) ? (size_t)(b >> 5) * 3 : RD_NO_LIMIT;

  if (rd_run(&cfg, in, size, NULL, 0, &first)) return 0;
  if (first.violation) fprintf(stderr, "whole: broken invariant: %s\n", first.violation);
  CHECK(!first.violation);
  if (size < 2) return 0;

  size_t k = 1 + data[0] % (size - 1); /* 1..size-1 */
  cuts[0] = k;
  if (rd_run(&cfg, in, size, cuts, 1, &again)) return 0;
  check_same("one cut", cuts, 1);

  cuts[0] = (k + 1) / 2;
  cuts[1] = k + (size - k) / 2;
  size_t n = cuts[1] > cuts[0] ? 2 : 1;
  if (rd_run(&cfg, in, size, cuts, n, &again)) return 0;
  check_same("two cuts", cuts, n);

  if (size <= sizeof cuts / sizeof cuts[0]) {
    for (size_t i = 1; i < size; i++) cuts[i - 1] = i;
    if (rd_run(&cfg, in, size, cuts, size - 1, &again)) return 0;
    check_same("byte by byte", cuts, size - 1);
  }
  return 0;
}
