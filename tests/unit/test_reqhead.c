/* Unit tests of gateway/lib/reqhead, driven as client_run() drives it
 * (tests/unit/reqhead_drive.h). Every fixture is fed whole, one byte at a
 * time and in a few pseudo-random cuts: what happened to each request
 * (method, target, headers, framing, body, where its head and message end,
 * the error) must be the same text in every case, and the expected one.
 * Fixtures: the fuzzer's request seeds (each must have an expectation
 * here), the complete requests among test_http.c's heads, and the framing,
 * limit and sink cases below. */
#include <dirent.h>

#include "reqhead_drive.h"
#include "tap.h"

#define SEEDS "tests/fuzz/corpus/request/"

typedef struct {
  const char *name;
  const char *in;
  size_t len; /* 0: strlen(in) */
  uint32_t max_bytes, max_headers; /* 0: the gateway's defaults */
  size_t sink_limit;                /* 0: none */
  const char *expect;
} fixture_t;

/* Expected outcomes of the seeds in tests/fuzz/corpus/request/, by file name. */
static const struct {
  const char *file, *expect;
} seed_expect[] = {
    {"absolute",
     "R1 GET http://gw.example:8080/a/b?c 1.1 {Host: gw.example:8080} @68 body=\"\" end@68\n"
     "end more\n"},
    {"bare_lf",
     "R1 in head\n"
     "end error BAD_FRAMING \"bare LF in request head\"\n"},
    {"chunk_no_crlf",
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"ab\"\n"
     "end error BAD_FRAMING \"chunk data not followed by CRLF\"\n"},
    {"chunked_trailers",
     "R1 POST /a 1.1 {Host: a} {Transfer-Encoding: chunked} @57 chunked body=\"data\" trailers {X-Sum: 1} end@81\n"
     "R2 GET /b 1.1 {Host: a} @109 body=\"\" end@109\n"
     "end more\n"},
    {"cl_pipelined",
     "R1 PUT /a 1.1 {Host: a} {Content-Length: 3} @47 cl=3 body=\"xyz\" end@50\n"
     "R2 PUT /b 1.1 {Host: a} {Content-Length: 2} @97 cl=2 body=\"uv\" end@99\n"
     "R3 GET /c 1.0 close @118 body=\"\" end@118\n"
     "end close\n"},
    {"chunked",
     "R1 POST /mcp 1.1 {Host: a} {Transfer-Encoding: chunked} @59 chunked body=\"abc\" end@72\n"
     "end more\n"},
    {"connect",
     "R1 CONNECT gw.example:443 1.1 {Host: gw.example:443} @57 body=\"\" end@57\n"
     "end more\n"},
    {"cr_x",
     "R1 in head\n"
     "end error BAD_FRAMING \"CR not followed by LF in request head\"\n"},
    {"ctl_value",
     "R1 in head\n"
     "end error BAD_FRAMING \"control character in header value\"\n"},
    {"double_space",
     "R1 in head\n"
     "end error BAD_FRAMING \"malformed request line\"\n"},
    {"dup_cl",
     "R1 in head\n"
     "end error BAD_FRAMING \"Duplicate Content-Length\"\n"},
    {"empty_name",
     "R1 in head\n"
     "end error BAD_FRAMING \"empty header name\"\n"},
    {"get",
     "R1 GET / 1.1 {Host: a} @27 body=\"\" end@27\n"
     "end more\n"},
    {"high_bytes",
     "R1 GET /\\xc3\\xa9 1.1 {Host: a} {X: \\xff\\xfe} @36 body=\"\" end@36\n"
     "end more\n"},
    {"http09",
     "R1 GET / 0.9 close @9 refused \"missing Host header\"\n"
     "end refused\n"},
    {"http10",
     "R1 GET / 1.0 close @18 body=\"\" end@18\n"
     "end close\n"},
    {"leading_crlf",
     "R1 GET /x?y=1 1.1 {Host: a} {Authorization: Bearer abc.def.ghi} @71 body=\"\" end@71\n"
     "end more\n"},
    {"long_line",
     "R1 GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1.1 {Host: a} @327 body=\"\" end@327\n"
     "end more\n"},
    {"no_colon",
     "R1 in head\n"
     "end error BAD_FRAMING \"whitespace in or after a header name\"\n"},
    {"obs_fold",
     "R1 in head\n"
     "end error BAD_FRAMING \"obsolete line folding in request head\"\n"},
    {"options_star",
     "R1 OPTIONS * 1.1 {Host: a} @31 body=\"\" end@31\n"
     "end more\n"},
    {"pipelined",
     "R1 GET /a 1.1 {Host: a} @28 body=\"\" end@28\n"
     "R2 GET /b 1.1 {Host: a} @56 body=\"\" end@56\n"
     "end more\n"},
    {"pri",
     "R1 in head\n"
     "end error BAD_FRAMING \"Pause on PRI/Upgrade\"\n"},
    {"post_cl_body",
     "R1 POST /api/v4/profiles 1.1 {Host: gw.example} {Content-Length: 5} {Content-Type: application/json} @103 cl=5 body=\"{\\x22a\\x22}\" end@108\n"
     "end more\n"},
    {"space_colon",
     "R1 in head\n"
     "end error BAD_FRAMING \"whitespace in or after a header name\"\n"},
    {"tab_value",
     "R1 GET / 1.1 {Host: a\\x09b} @29 body=\"\" end@29\n"
     "end more\n"},
    {"te_cl",
     "R1 in head\n"
     "end error BAD_FRAMING \"Content-Length can't be present with Transfer-Encoding\"\n"},
    {"upgrade",
     "R1 GET /ws 1.1 {Host: a} {Connection: Upgrade} {Upgrade: websocket} @70 body=\"\" end@70\n"
     "end more\n"},
};

#define NUL_HEAD "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"
#define LONG40 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LONG200 LONG40 LONG40 LONG40 LONG40 LONG40

static const fixture_t table[] = {
    /* test_http.c's heads that are whole requests */
    {"simple GET", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, 0, 0,
     "R1 GET / 1.1 {Host: a} @27 body=\"\" end@27\n"
     "end more\n"},
    {"head followed by body bytes", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc", 0, 0, 0,
     0,
     "R1 POST / 1.1 {Host: a} {Content-Length: 3} @47 cl=3 body=\"abc\" end@50\n"
     "end more\n"},
    {"leading CRLF before the request line", "\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, 0, 0,
     "R1 GET / 1.1 {Host: a} @29 body=\"\" end@29\n"
     "end more\n"},
    {"incomplete head", "GET / HTTP/1.1\r\nHost: a\r\n", 0, 0, 0, 0,
     "R1\n"
     "end more\n"},
    {"header value with tab and high bytes", "GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\xc3\xa9\r\n\r\n", 0, 0,
     0, 0,
     "R1 GET / 1.1 {Host: a} {X: a\\x09b\\xc3\\xa9} @37 body=\"\" end@37\n"
     "end more\n"},
    {"bare LF ends the request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"bare LF in request head\"\n"},
    {"bare LF ends a header line", "GET / HTTP/1.1\r\nHost: a\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"bare LF in request head\"\n"},
    {"bare LF empty line", "GET / HTTP/1.1\r\nHost: a\r\n\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"bare LF in request head\"\n"},
    {"head ended by CR LF CR X", "GET / HTTP/1.1\r\nHost: a\r\n\rXGET /smuggled HTTP/1.1\r\n\r\n", 0, 0,
     0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"CR not followed by LF in request head\"\n"},
    {"CR inside a header value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"CR not followed by LF in request head\"\n"},
    {"NUL inside a header value", NUL_HEAD, sizeof NUL_HEAD - 1, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"control character in header value\"\n"},
    {"obs-fold continuation line", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"obsolete line folding in request head\"\n"},
    {"obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"obsolete line folding in request head\"\n"},
    {"whitespace before the colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"whitespace in or after a header name\"\n"},
    {"tab before the colon", "GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"whitespace in or after a header name\"\n"},
    {"empty header name", "GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"empty header name\"\n"},
    {"header line without colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"whitespace in or after a header name\"\n"},
    {"control byte in request line", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"control character in request line\"\n"},

    /* requests as clients send them */
    {"GET with headers",
     "GET /api/v1/items?x=1 HTTP/1.1\r\nHost: gw.example\r\nAuthorization: Bearer abc.def.ghi\r\n"
     "Accept: */*\r\nX-Empty:\r\nX-Pad:  v  \r\n\r\n",
     0, 0, 0, 0,
     "R1 GET /api/v1/items?x=1 1.1 {Host: gw.example} {Authorization: Bearer abc.def.ghi} {Accept: */*} {X-Empty: } {X-Pad: v  } @123 body=\"\" end@123\n"
     "end more\n"},
    {"three pipelined requests with bodies",
     "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
     "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwxyz"
     "DELETE /c HTTP/1.1\r\nHost: a\r\n\r\n",
     0, 0, 0, 0,
     "R1 GET /a 1.1 {Host: a} @28 body=\"\" end@28\n"
     "R2 POST /b 1.1 {Host: a} {Content-Length: 4} @76 cl=4 body=\"wxyz\" end@80\n"
     "R3 DELETE /c 1.1 {Host: a} @111 body=\"\" end@111\n"
     "end more\n"},
    {"pipelined request after a chunked one",
     "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
     "GET /b HTTP/1.1\r\nHost: a\r\n\r\n",
     0, 0, 0, 0,
     "R1 POST /a 1.1 {Host: a} {Transfer-Encoding: chunked} @57 chunked body=\"hi\" end@69\n"
     "R2 GET /b 1.1 {Host: a} @97 body=\"\" end@97\n"
     "end more\n"},
    {"Content-Length body, next request incomplete",
     "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789GET /y HTTP/1.1\r\nHo", 0, 0, 0,
     0,
     "R1 PUT /x 1.1 {Host: a} {Content-Length: 10} @48 cl=10 body=\"0123456789\" end@58\n"
     "R2\n"
     "end more\n"},
    {"Content-Length body not complete yet", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n01234",
     0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Content-Length: 10} @48 cl=10 body=\"01234\"\n"
     "end more\n"},
    {"Content-Length: 0", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Content-Length: 0} @47 body=\"\" end@47\n"
     "end more\n"},
    {"chunked body, several chunks and an extension",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "3\r\nabc\r\na;ext=1\r\n0123456789\r\n0\r\n\r\n",
     0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"abc0123456789\" end@90\n"
     "end more\n"},
    {"chunked body with trailers",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "4\r\ndata\r\n0\r\nX-Sum: 12\r\nX-More: y\r\n\r\n",
     0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"data\" trailers {X-Sum: 12} {X-More: y} end@92\n"
     "end more\n"},
    {"Transfer-Encoding: Chunked (case, trailing space)",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked \r\n\r\n1\r\nz\r\n0\r\n\r\n", 0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: Chunked } @57 chunked body=\"z\" end@68\n"
     "end more\n"},
    {"chunk data not followed by CRLF",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"abc\"\n"
     "end error BAD_FRAMING \"chunk data not followed by CRLF\"\n"},
    {"chunk data followed by CR and not LF",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\rX0\r\n\r\n", 0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"abc\"\n"
     "end error BAD_FRAMING \"chunk data not followed by CRLF\"\n"},
    {"chunk data followed by LF alone",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"abc\"\n"
     "end error BAD_FRAMING \"chunk data not followed by CRLF\"\n"},
    {"smuggling through chunk data without CRLF",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
     "2\r\nabGET /admin HTTP/1.1\r\nHost: a\r\n\r\n0\r\n\r\n",
     0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"ab\"\n"
     "end error BAD_FRAMING \"chunk data not followed by CRLF\"\n"},
    {"bad chunk size", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, 0, 0,
     0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"\"\n"
     "end error BAD_FRAMING \"Invalid character in chunk size\"\n"},
    {"Content-Length and Transfer-Encoding",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0,
     0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Content-Length can't be present with Transfer-Encoding\"\n"},
    {"Transfer-Encoding, then Content-Length",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 0,
     0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Content-Length can't be present with Transfer-Encoding\"\n"},
    {"Transfer-Encoding other than chunked, with Content-Length",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Content-Length can't be present with Transfer-Encoding\"\n"},
    {"two Content-Length headers",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Duplicate Content-Length\"\n"},
    {"invalid Content-Length", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\nabc", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Invalid character in Content-Length\"\n"},
    {"Transfer-Encoding other than chunked",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: gzip, chunked} @62 refused \"Transfer-Encoding other than chunked\"\n"
     "end refused\n"},
    {"Transfer-Encoding: identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n",
     0, 0, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: identity} @57 refused \"Transfer-Encoding other than chunked\"\n"
     "end refused\n"},
    {"two Transfer-Encoding headers",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
     "\r\n",
     0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Invalid `Transfer-Encoding` header value\"\n"},
    {"missing Host on HTTP/1.1", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 0, 0, 0, 0,
     "R1 GET / 1.1 {Accept: */*} @31 refused \"missing Host header\"\n"
     "end refused\n"},
    {"two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 0, 0, 0, 0,
     "R1 GET / 1.1 {Host: a} {Host: b} @36 refused \"several Host headers\"\n"
     "end refused\n"},
    {"HTTP/1.0 without Host, keep-alive",
     "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\nGET /c HTTP/1.0\r\n\r\n", 0,
     0, 0, 0,
     "R1 GET /a 1.0 {Connection: keep-alive} @43 body=\"\" end@43\n"
     "R2 GET /b 1.0 close @62 body=\"\" end@62\n"
     "end close\n"},
    {"Connection: close ends the connection",
     "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0,
     0, 0,
     "R1 GET /a 1.1 close {Host: a} {Connection: close} @47 body=\"\" end@47\n"
     "end close\n"},

    /* limits */
    {"too many headers", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 0, 0, 3, 0,
     "R1 in head\n"
     "end error TOO_MANY_HEADERS \"-\"\n"},
    {"as many headers as allowed", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n", 0, 0, 3, 0,
     "R1 GET / 1.1 {Host: a} {A: 1} {B: 2} @39 body=\"\" end@39\n"
     "end more\n"},
    {"trailers count against max_headers",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\nY: 2\r\n\r\n", 0, 0, 3,
     0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"\"\n"
     "end error TOO_MANY_HEADERS \"-\"\n"},
    {"head over max_bytes", "GET / HTTP/1.1\r\nHost: a\r\nX: " LONG200 "\r\n\r\n", 0, 128, 0, 0,
     "R1 in head\n"
     "end error HEAD_TOO_LARGE \"-\"\n"},
    {"request line over max_bytes", "GET /" LONG200 " HTTP/1.1\r\nHost: a\r\n\r\n", 0, 128, 0, 0,
     "R1 in head\n"
     "end error URI_TOO_LONG \"-\"\n"},
    {"head of exactly max_bytes", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 27, 0, 0,
     "R1 GET / 1.1 {Host: a} @27 body=\"\" end@27\n"
     "end more\n"},
    {"head one byte over max_bytes", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 26, 0, 0,
     "R1 in head\n"
     "end error HEAD_TOO_LARGE \"-\"\n"},
    {"second request over max_bytes",
     "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nX: " LONG200 "\r\n\r\n", 0, 128, 0, 0,
     "R1 GET /a 1.1 {Host: a} @28 body=\"\" end@28\n"
     "R2 in head\n"
     "end error HEAD_TOO_LARGE \"-\"\n"},

    /* the sink */
    {"sink refuses a Content-Length body",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", 0, 0, 0, 4,
     "R1 POST / 1.1 {Host: a} {Content-Length: 10} @48 cl=10 body=\"0123\"\n"
     "end error PAYLOAD_TOO_LARGE \"-\"\n"},
    {"sink refuses a chunked body",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", 0,
     0, 0, 5,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"abcde\"\n"
     "end error PAYLOAD_TOO_LARGE \"-\"\n"},
    {"sink takes a body of exactly its limit",
     "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd", 0, 0, 0, 4,
     "R1 POST / 1.1 {Host: a} {Content-Length: 4} @47 cl=4 body=\"abcd\" end@51\n"
     "end more\n"},

    /* A request both malformed and over a limit, or refused twice: the
     * first refused byte decides, however the bytes were cut. */
    {"unknown method, then a bare LF", "FOO / HTTP/1.1\r\nHost: a\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Invalid method encountered\"\n"},
    {"unknown method, then a head over max_bytes", "FOO / HTTP/1.1\r\nX: " LONG200 "\r\n\r\n", 0, 128, 0,
     0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Invalid method encountered\"\n"},
    {"too many headers, then a line llhttp refuses", "GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 0,
     0, 1, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Invalid header token\"\n"},
    {"trailer over max_bytes, then a byte llhttp refuses",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " LONG40 "\x01\r\n\r\n", 0,
     64, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"\"\n"
     "end error BAD_FRAMING \"Invalid header value char\"\n"},
    {"trailer over max_bytes", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " LONG40
     "\r\n\r\n", 0, 64, 0, 0,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"\"\n"
     "end error HEAD_TOO_LARGE \"-\"\n"},
    {"sink refuses a chunk whose CRLF is wrong",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 0, 0, 0, 2,
     "R1 POST / 1.1 {Host: a} {Transfer-Encoding: chunked} @56 chunked body=\"ab\"\n"
     "end error PAYLOAD_TOO_LARGE \"-\"\n"},

    /* llhttp's own refusals and special cases */
    {"PRI preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Pause on PRI/Upgrade\"\n"},
    {"unknown method", "FOO / HTTP/1.1\r\nHost: a\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Invalid method encountered\"\n"},
    {"HTTP/0.9 request line with a Host line", "GET /\r\nHost: a\r\n\r\n", 0, 0, 0, 0,
     "R1 GET / 0.9 close {Host: a} @18 body=\"\" end@18\n"
     "end close\n"},
    {"bad version", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 0, 0, 0, 0,
     "R1 in head\n"
     "end error BAD_FRAMING \"Invalid minor version\"\n"},
};

static void feed_whole(size_t len, size_t *cuts, size_t *n) {
  (void)len;
  (void)cuts;
  *n = 0;
}

static void feed_bytes(size_t len, size_t *cuts, size_t *n) {
  *n = 0;
  for (size_t i = 1; i < len; i++) cuts[(*n)++] = i;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Up to four cuts at random places, in order. */
static void feed_random(size_t len, size_t *cuts, size_t *n) {
  *n = 0;
  if (len < 2) return;
  size_t k = 1 + rng() % 4;
  size_t at = 0;
  for (size_t i = 0; i < k && at + 1 < len; i++) {
    at += 1 + rng() % (len - at - 1);
    cuts[(*n)++] = at;
  }
}

static rd_outcome_t whole, other;

/* Runs one fixture in every way; one TAP line for the expected outcome, one
 * for the agreement of the cuts. */
static void run_fixture(const char *name, const char *in, size_t len, const rd_config_t *cfg,
                        const char *expect) {
  static size_t cuts[1 << 16];
  char what[256];
  size_t ncuts;
  feed_whole(len, cuts, &ncuts);
  if (rd_run(cfg, in, len, cuts, ncuts, &whole)) {
    CHECK(0, "out of memory");
    return;
  }
  snprintf(what, sizeof what, "%s: outcome", name);
  CHECK_STR(whole.text, expect, what);
  snprintf(what, sizeof what, "%s: no broken invariant", name);
  CHECK_STR(whole.violation, NULL, what);
  static const struct {
    const char *how;
    void (*cut)(size_t, size_t *, size_t *);
  } ways[] = {{"one byte at a time", feed_bytes}, {"random cuts", feed_random},
              {"random cuts", feed_random},       {"random cuts", feed_random},
              {"random cuts", feed_random}};
  int same = 1;
  for (size_t w = 0; w < sizeof ways / sizeof ways[0] && same; w++) {
    ways[w].cut(len, cuts, &ncuts);
    if (rd_run(cfg, in, len, cuts, ncuts, &other)) {
      CHECK(0, "out of memory");
      return;
    }
    if (strcmp(whole.text, other.text) != 0 || other.violation) {
      same = 0;
      snprintf(what, sizeof what, "%s: %s gives what the whole input gives", name, ways[w].how);
      CHECK_STR(other.text, whole.text, what);
      printf("#   cuts:");
      for (size_t i = 0; i < ncuts; i++) printf(" %zu", cuts[i]);
      printf("\n#   violation: %s\n", other.violation ? other.violation : "none");
      if (strcmp(whole.text, other.text) == 0) CHECK(0, what);
    }
  }
  if (same) {
    snprintf(what, sizeof what, "%s: whole, byte by byte and cut at random agree", name);
    CHECK(1, what);
  }
}

static const rd_config_t *config_of(uint32_t max_bytes, uint32_t max_headers, size_t sink_limit) {
  static rd_config_t c;
  c.max_bytes = max_bytes ? max_bytes : 16 * 1024;
  c.max_headers = max_headers ? max_headers : 100;
  c.sink_limit = sink_limit ? sink_limit : RD_NO_LIMIT;
  return &c;
}

static void run_seeds(void) {
  DIR *dir = opendir(SEEDS);
  CHECK(dir != NULL, "the request seeds are there (run from the repository root)");
  if (!dir) return;
  struct dirent *e;
  int found[sizeof seed_expect / sizeof seed_expect[0]] = {0};
  while ((e = readdir(dir))) {
    if (e->d_name[0] == '.') continue;
    size_t k = 0;
    while (k < sizeof seed_expect / sizeof seed_expect[0] && strcmp(seed_expect[k].file, e->d_name))
      k++;
    char what[400];
    snprintf(what, sizeof what, "seed %.200s has an expected outcome in test_reqhead.c", e->d_name);
    if (!CHECK(k < sizeof seed_expect / sizeof seed_expect[0], what)) continue;
    found[k] = 1;
    char path[512];
    snprintf(path, sizeof path, SEEDS "%.300s", e->d_name);
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    snprintf(what, sizeof what, "seed %.200s", e->d_name);
    run_fixture(what, buf, n, config_of(0, 0, 0), seed_expect[k].expect);
  }
  closedir(dir);
  for (size_t k = 0; k < sizeof seed_expect / sizeof seed_expect[0]; k++) {
    char what[400];
    snprintf(what, sizeof what, "seed %s is still in " SEEDS, seed_expect[k].file);
    CHECK(found[k], what);
  }
}


/* reqhead_compact: what stays (method, target, the kept headers in their
 * order and spelling) reads as before; trailers still append after it. */
static void run_compact(void) {
  static const char in[] = "POST /mcp?x=1 HTTP/1.1\r\nHost: a.example\r\nAuthorization: Bearer abc.def\r\n"
                           "X-Forwarded-For: 10.0.0.1\r\nUser-Agent: t/1\r\nx-forwarded-for: 10.0.0.2\r\n"
                           "Transfer-Encoding: chunked\r\n\r\n";
  static const char body[] = "3\r\nabc\r\n0\r\nX-Sum: 9\r\n\r\n";
  static const char *const keep[] = {"host", "user-agent", "x-forwarded-for"};
  reqhead_t h;
  memset(&h, 0, sizeof h);
  reqhead_init(&h, 8192, 100);
  size_t used;
  CHECK_INT(reqhead_execute(&h, in, sizeof in - 1, &used), RH_HEAD, "compact: the head parses");
  CHECK(reqhead_framing(&h) == NULL, "compact: chunked framing");
  CHECK_INT(reqhead_compact(&h, keep, 3), 0, "compact: done");
  size_t ml;
  const char *m = reqhead_method(&h, &ml);
  CHECK(ml == 4 && memcmp(m, "POST", 4) == 0, "compact: the method stays");
  CHECK(h.url_len == 8 && memcmp(h.arena + h.url_off, "/mcp?x=1", 8) == 0, "compact: the target stays");
  CHECK_INT(h.nhdrs, 4, "compact: four headers kept");
  CHECK_INT(h.arena_cap, h.arena_len, "compact: the arena is cut to size");
  CHECK_INT(h.arena_len, 4 + 8 + 4 + 9 + 15 + 8 + 10 + 3 + 15 + 8, "compact: nothing else in the arena");
  int n = 0;
  const hdr_t *f = reqhead_header(&h, "x-forwarded-for", &n);
  CHECK(f && n == 2 && memcmp(h.arena + f->val_off, "10.0.0.1", f->val_len) == 0,
        "compact: both X-Forwarded-For kept, the first first");
  CHECK(memcmp(h.arena + h.hdrs[3].name_off, "x-forwarded-for", 15) == 0 &&
            memcmp(h.arena + h.hdrs[3].val_off, "10.0.0.2", 8) == 0,
        "compact: the order and the spelling of names kept");
  f = reqhead_header(&h, "user-agent", NULL);
  CHECK(f && f->val_len == 3 && memcmp(h.arena + f->val_off, "t/1", 3) == 0, "compact: User-Agent kept");
  CHECK(reqhead_header(&h, "authorization", NULL) == NULL, "compact: Authorization is gone");
  CHECK(reqhead_header(&h, "transfer-encoding", NULL) == NULL, "compact: Transfer-Encoding is gone");
  CHECK_INT(reqhead_execute(&h, body, sizeof body - 1, &used), RH_MSG, "compact: the body and trailers still parse");
  CHECK_INT(used, sizeof body - 1, "compact: to the end of the message");
  f = reqhead_header(&h, "x-sum", NULL);
  CHECK(f && f->val_len == 1 && h.arena[f->val_off] == '9', "compact: a trailer appends after the kept head");
  CHECK(reqhead_header(&h, "host", NULL) != NULL, "compact: Host still there after the trailer");
  CHECK_INT(reqhead_compact(&h, keep, 0), 0, "compact: keeping no header");
  CHECK(h.nhdrs == 0 && h.hdrs == NULL && reqhead_header(&h, "host", NULL) == NULL,
        "compact: no header table at all");
  m = reqhead_method(&h, &ml);
  CHECK(ml == 4 && memcmp(m, "POST", 4) == 0 && h.arena_len == 12, "compact: method and target alone");
  reqhead_free(&h);
}

int main(void) {
  run_seeds();
  run_compact();
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    const fixture_t *t = &table[i];
    run_fixture(t->name, t->in, t->len ? t->len : strlen(t->in),
                config_of(t->max_bytes, t->max_headers, t->sink_limit), t->expect);
  }
  rd_free();
  return TAP_DONE();
}
