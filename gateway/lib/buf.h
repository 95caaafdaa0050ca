/* buf: the growable byte buffer every answer, head and log line is built
 * in, and the intrusive list the loop keeps its objects on. Plain memory,
 * no I/O: usable from any thread, owned by whoever embeds it. */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct dlist {
  struct dlist *prev, *next;
} dlist_t;

static inline void dlist_init(dlist_t *l) { l->prev = l->next = l; }
static inline int dlist_empty(const dlist_t *l) { return l->next == l; }
static inline void dlist_insert_tail(dlist_t *head, dlist_t *n) {
  n->prev = head->prev;
  n->next = head;
  head->prev->next = n;
  head->prev = n;
}
static inline void dlist_remove(dlist_t *n) {
  n->prev->next = n->next;
  n->next->prev = n->prev;
  n->prev = n->next = n;
}
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* A growable output buffer; released when a connection goes idle so that
 * idle keep-alive connections hold no buffers. */
typedef struct {
  char *data;
  size_t len, cap;
} outbuf_t;

int outbuf_reserve(outbuf_t *b, size_t extra);
int outbuf_append(outbuf_t *b, const void *p, size_t n);
int outbuf_printf(outbuf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a string literal (its length known at compile time). */
#define OUTBUF_LIT(b, lit) outbuf_append((b), (lit), sizeof(lit) - 1)
/* Appends "name<decimal v>\r\n". */
int outbuf_append_u64(outbuf_t *b, const char *name, uint64_t v);
void outbuf_free(outbuf_t *b);

#endif
