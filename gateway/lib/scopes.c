#include "scopes.h"

#include <stdlib.h>
#include <string.h>

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static int scope_char_ok(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

int scopes_find(const gw_scope_registry_t *r, const char *name, size_t len) {
  for (size_t i = 0; i < r->n; i++)
    if (r->lens[i] == len && memcmp(r->names[i], name, len) == 0) return (int)i;
  return -1;
}

int scopes_intern(gw_scope_registry_t *r, const char *name, size_t len) {
  int i = scopes_find(r, name, len);
  if (i >= 0) return i;
  if (len == 0 || r->n >= GW_MAX_SCOPES) return -1;
  for (size_t k = 0; k < len; k++)
    if (!scope_char_ok((unsigned char)name[k])) return -1;
  char *copy = malloc(len + 1);
  if (!copy) return -1;
  memcpy(copy, name, len);
  copy[len] = '\0';
  r->names[r->n] = copy;
  r->lens[r->n] = len;
  return (int)r->n++;
}

gw_scopeset_t scopes_parse_list(const gw_scope_registry_t *r, const char *s, size_t len) {
  gw_scopeset_t set = 0;
  size_t i = 0;
  while (i < len) {
    while (i < len && s[i] == ' ') i++;
    size_t start = i;
    while (i < len && s[i] != ' ') i++;
    if (i > start) {
      int idx = scopes_find(r, s + start, i - start);
      if (idx >= 0) set |= (gw_scopeset_t)1 << idx;
    }
  }
  return set;
}

int scopes_format(const gw_scope_registry_t *r, gw_scopeset_t set, char *buf, size_t cap) {
  size_t pos = 0;
  if (cap == 0) return -1;
  for (size_t i = 0; i < r->n; i++) {
    if (!(set & ((gw_scopeset_t)1 << i))) continue;
    size_t need = r->lens[i] + (pos ? 1 : 0);
    if (pos + need + 1 > cap) return -1;
    if (pos) buf[pos++] = ' ';
    memcpy(buf + pos, r->names[i], r->lens[i]);
    pos += r->lens[i];
  }
  buf[pos] = '\0';
  return (int)pos;
}

void scopes_free(gw_scope_registry_t *r) {
  for (size_t i = 0; i < r->n; i++) free(r->names[i]);
  r->n = 0;
}
