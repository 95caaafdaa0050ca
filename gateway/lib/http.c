#include "http.h"

#include <string.h>

#include "swar.h"

enum {
  ST_LINE = 0, /* inside a line */
  ST_CR,       /* saw CR, LF must follow */
  ST_LF,       /* at the start of a line, after CRLF */
  ST_LF_CR,    /* an empty line's CR: LF must follow and ends the head */
};

void headscan_init(gw_headscan_t *s, uint32_t max_bytes) {
  memset(s, 0, sizeof *s);
  s->max_bytes = max_bytes;
  s->in_request_line = 1;
  s->state = ST_LF; /* llhttp tolerates CRLFs before a request line */
}

static gw_headscan_result_t bad(gw_headscan_t *s, const char *why) {
  s->why = why;
  return HS_BAD;
}

/* The bulk of a head is header values and the request target: runs of
 * ordinary bytes are skipped eight at a time, only the bytes that can end
 * or break a line go through the state machine. A word holding any byte
 * below `below` or DEL is walked byte by byte (a tab in a value is such a
 * byte and is fine). */
static size_t skip_plain(gw_headscan_t *s, const char *data, size_t i, size_t len) {
  size_t lim = len;
  size_t room = s->max_bytes - s->total;
  if (lim - i > room) lim = i + room;
  size_t j = i;
  int line = s->in_request_line;
  unsigned below = line ? 0x21 : 0x20;
  while (j < lim) {
    if (lim - j >= 8) {
      uint64_t w;
      memcpy(&w, data + j, 8);
      if (!(swar_has_below(w, below) | swar_has_byte(w, 0x7f))) {
        j += 8;
        continue;
      }
    }
    unsigned char c = (unsigned char)data[j];
    if (line ? (c <= 0x20 || c == 0x7f) : (c < 0x20 ? c != '\t' : c == 0x7f)) break;
    j++;
  }
  if (line && j > i) s->seen_colon = 0; /* here: "the last byte was a space" */
  s->total += (uint32_t)(j - i);
  s->line_len += (uint32_t)(j - i);
  return j;
}

gw_headscan_result_t headscan_feed(gw_headscan_t *s, const char *data, size_t len, size_t *used) {
  for (size_t i = 0; i < len; i++) {
    if (s->state == ST_LINE && (s->in_request_line || s->seen_colon)) {
      i = skip_plain(s, data, i, len);
      if (i == len) return HS_MORE;
    }
    unsigned char c = (unsigned char)data[i];
    if (++s->total > s->max_bytes)
      return s->in_request_line ? HS_TOO_LONG_LINE : HS_TOO_LARGE;
    switch (s->state) {
    case ST_CR:
      if (c != '\n') return bad(s, "CR not followed by LF in request head");
      s->state = ST_LF;
      if (s->line_len > 0) {
        if (s->in_request_line && s->seen_colon) return bad(s, "malformed request line");
        s->in_request_line = 0;
      }
      s->line_len = 0;
      s->seen_colon = 0;
      continue;
    case ST_LF_CR:
      if (c != '\n') return bad(s, "CR not followed by LF in request head");
      *used = i + 1;
      return HS_DONE;
    case ST_LF:
      if (c == '\r') {
        /* An empty line: before the request line llhttp skips it, after the
         * request line it ends the head. */
        s->state = s->in_request_line ? ST_CR : ST_LF_CR;
        continue;
      }
      if (c == ' ' || c == '\t') {
        if (!s->in_request_line) return bad(s, "obsolete line folding in request head");
        return bad(s, "whitespace before the request line");
      }
      s->state = ST_LINE;
      break;
    default:
      break;
    }
    /* ST_LINE */
    if (c == '\r') {
      s->state = ST_CR;
      continue;
    }
    if (c == '\n') return bad(s, "bare LF in request head");
    s->line_len++;
    if (s->in_request_line) {
      if (c < 0x20 || c == 0x7f) return bad(s, "control character in request line");
      /* method SP target SP version: exactly one space between parts */
      if (c == ' ') {
        if (s->seen_colon == 1) return bad(s, "malformed request line");
        s->seen_colon = 1;
      } else {
        s->seen_colon = 0;
      }
      continue;
    }
    if (!s->seen_colon) {
      if (c == ':') {
        if (s->line_len == 1) return bad(s, "empty header name");
        s->seen_colon = 1;
      } else if (!http_is_tchar(c)) {
        return bad(s, c == ' ' || c == '\t' ? "whitespace in or after a header name"
                                            : "invalid character in header name");
      }
    } else if ((c < 0x20 && c != '\t') || c == 0x7f) {
      return bad(s, "control character in header value");
    }
  }
  return HS_MORE;
}

int http_is_tchar(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
  switch (c) {
  case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
  case '-': case '.': case '^': case '_': case '`': case '|': case '~':
    return 1;
  default:
    return 0;
  }
}

size_t http_ip4_text(const unsigned char b[4], char out[16]) {
  char *p = out;
  for (int i = 0; i < 4; i++) {
    unsigned v = b[i];
    if (v >= 100) *p++ = (char)('0' + v / 100);
    if (v >= 10) *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    if (i < 3) *p++ = '.';
  }
  *p = '\0';
  return (size_t)(p - out);
}

/* ASCII tolower of eight bytes at once, exact: only bytes 'A'..'Z' change.
 * Each per-byte sum stays below 0x100, so no carry crosses a byte. */
static inline uint64_t swar_tolower(uint64_t w) {
  uint64_t low7 = w & ~SWAR_HIGHS;
  uint64_t ge_a = low7 + SWAR_ONES * (0x80 - 'A');
  uint64_t gt_z = low7 + SWAR_ONES * (0x80 - 'Z' - 1);
  uint64_t upper = ge_a & ~gt_z & ~w & SWAR_HIGHS;
  return w | (upper >> 2);
}

static inline int word_eq_ci(const char *name, const char *lower) {
  uint64_t a, b;
  memcpy(&a, name, 8);
  memcpy(&b, lower, 8);
  return swar_tolower(a) == b;
}

int http_name_eq_n(const char *name, const char *lower, size_t n) {
  if (n < 8) {
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)name[i];
      if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
      if (c != (unsigned char)lower[i]) return 0;
    }
    return 1;
  }
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    if (!word_eq_ci(name + i, lower + i)) return 0;
  /* The last word overlaps bytes already compared: no partial loads. */
  return i == n || word_eq_ci(name + n - 8, lower + n - 8);
}

int http_name_eq(const char *name, size_t len, const char *lower) {
  size_t n = strlen(lower);
  return len == n && http_name_eq_n(name, lower, n);
}

int http_is_hop_by_hop(const char *name, size_t len) {
  switch (len) {
  case 2: return http_name_eq_n(name, "te", 2);
  case 7: return http_name_eq_n(name, "trailer", 7) || http_name_eq_n(name, "upgrade", 7);
  case 10: return http_name_eq_n(name, "connection", 10) || http_name_eq_n(name, "keep-alive", 10);
  case 16: return http_name_eq_n(name, "proxy-connection", 16);
  case 17: return http_name_eq_n(name, "transfer-encoding", 17);
  default: break;
  }
  return len >= 6 && http_name_eq_n(name, "proxy-", 6);
}

void http_list_each(const char *v, size_t len, void (*fn)(void *, const char *, size_t),
                    void *ud) {
  size_t i = 0;
  while (i < len) {
    while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t start = i;
    while (i < len && v[i] != ',') i++;
    size_t end = i;
    while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) end--;
    if (end > start) fn(ud, v + start, end - start);
  }
}

struct list_has_ctx {
  const char *tok;
  size_t tlen;
  int found;
};

static int eq_ci(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z') x = (unsigned char)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (unsigned char)(y + 32);
    if (x != y) return 0;
  }
  return 1;
}

static void list_has_cb(void *ud, const char *tok, size_t tlen) {
  struct list_has_ctx *x = ud;
  if (tlen == x->tlen && eq_ci(tok, x->tok, tlen)) x->found = 1;
}

int http_list_has(const char *value, size_t len, const char *token, size_t tlen) {
  struct list_has_ctx x = {token, tlen, 0};
  http_list_each(value, len, list_has_cb, &x);
  return x.found;
}

int http_parse_content_length(const char *v, size_t len, uint64_t *out) {
  uint64_t n = 0;
  if (len == 0 || len > 18) return -1;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9') return -1;
    n = n * 10 + (uint64_t)(v[i] - '0');
  }
  *out = n;
  return 0;
}

size_t http_status_line(char *buf, int status) {
  const char *reason = http_reason(status);
  size_t rl = strlen(reason);
  memcpy(buf, "HTTP/1.1 ", 9);
  buf[9] = (char)('0' + status / 100 % 10);
  buf[10] = (char)('0' + status / 10 % 10);
  buf[11] = (char)('0' + status % 10);
  buf[12] = ' ';
  memcpy(buf + 13, reason, rl);
  buf[13 + rl] = '\r';
  buf[14 + rl] = '\n';
  return 15 + rl;
}

const char *http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 101: return "Switching Protocols";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 203: return "Non-Authoritative Information";
  case 204: return "No Content";
  case 205: return "Reset Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Range Not Satisfiable";
  case 417: return "Expectation Failed";
  case 422: return "Unprocessable Content";
  case 425: return "Too Early";
  case 428: return "Precondition Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "";
  }
}
