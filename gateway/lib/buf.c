/* buf: growable output buffers. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int outbuf_reserve(outbuf_t *b, size_t extra) {
  if (b->len + extra <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 512;
  while (cap < b->len + extra) cap *= 2;
  char *p = realloc(b->data, cap);
  if (!p) return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int outbuf_append(outbuf_t *b, const void *p, size_t n) {
  if (n == 0) return 0;
  if (outbuf_reserve(b, n)) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int outbuf_printf(outbuf_t *b, const char *fmt, ...) {
  va_list ap;
  for (int attempt = 0; attempt < 2; attempt++) {
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? room : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < room) {
      b->len += (size_t)n;
      return 0;
    }
    if (outbuf_reserve(b, (size_t)n + 1)) return -1;
  }
  return -1;
}

int outbuf_append_u64(outbuf_t *b, const char *name, uint64_t v) {
  char num[24];
  size_t i = sizeof num;
  num[--i] = '\n';
  num[--i] = '\r';
  do {
    num[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  if (outbuf_append(b, name, strlen(name))) return -1;
  return outbuf_append(b, num + i, sizeof num - i);
}

void outbuf_free(outbuf_t *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}
