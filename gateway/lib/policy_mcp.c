/* policy_mcp: the MCP item sections of a policy file and their lookup. */
#include "policy_mcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgval.h"

static const char *const kind_names[GW_MCP_KINDS] = {"tool", "prompt", "resource"};

const char *mcp_kind_name(gw_mcp_kind_t k) { return (unsigned)k < GW_MCP_KINDS ? kind_names[k] : "?"; }

void mcp_items_init(gw_mcp_items_t *t) {
  memset(t, 0, sizeof *t);
  t->cur = -1;
}

void mcp_items_free(gw_mcp_items_t *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->items[i].name);
    free((char *)t->items[i].section);
  }
  free(t->items);
  t->items = NULL;
  t->n = t->cap = 0;
}

int mcp_items_section(gw_mcp_items_t *t, const char *sec, int line, const char *file,
                      gw_errors_t *errs) {
  gw_mcp_kind_t kind;
  size_t skip;
  if (strncmp(sec, "mcp-tool:", 9) == 0) {
    kind = GW_MCP_TOOL;
    skip = 9;
  } else if (strncmp(sec, "mcp-prompt:", 11) == 0) {
    kind = GW_MCP_PROMPT;
    skip = 11;
  } else if (strncmp(sec, "mcp-resource:", 13) == 0) {
    kind = GW_MCP_RESOURCE;
    skip = 13;
  } else {
    return 0;
  }
  t->cur = -1;
  const char *name = sec + skip;
  size_t len = strlen(name);
  size_t max = kind == GW_MCP_RESOURCE ? GW_POLICY_MAX_RESOURCE_URI : GW_POLICY_MAX_TOOL_NAME;
  if (len == 0 || len > max) {
    gw_errors_add(errs, file, line, "bad [mcp-%s:%s]: the name must have 1 to %zu characters",
                  kind_names[kind], kind == GW_MCP_RESOURCE ? "URI" : "NAME", max);
    return 1;
  }
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)name[i];
    if (c <= 0x20 || c >= 0x7F) {
      char shown[72];
      size_t k = 0;
      for (size_t j = 0; j < len && k < 64; j++)
        shown[k++] = (unsigned char)name[j] <= 0x20 || (unsigned char)name[j] >= 0x7F ? '?' : name[j];
      shown[k] = '\0';
      gw_errors_add(errs, file, line, "bad [mcp-%s:%s]: the name must be printable ASCII without spaces",
                    kind_names[kind], shown);
      return 1;
    }
  }
  int prefix = kind == GW_MCP_RESOURCE && name[len - 1] == '*';
  if (kind != GW_MCP_RESOURCE && strchr(name, '*')) {
    gw_errors_add(errs, file, line, "bad [mcp-%s:%s]: '*' makes a prefix for resources only",
                  kind_names[kind], name);
    return 1;
  }
  size_t nlen = prefix ? len - 1 : len;
  for (size_t i = 0; i < t->n; i++) {
    const gw_mcp_item_t *o = &t->items[i];
    if (o->kind == kind && o->prefix == prefix && o->len == nlen && memcmp(o->name, name, nlen) == 0) {
      gw_errors_add(errs, file, line, "duplicate [mcp-%s:%s] (first at line %d)", kind_names[kind], name,
                    o->line);
      return 1;
    }
  }
  if (t->n == GW_POLICY_MAX_MCP_ITEMS) {
    if (!t->limit_reported)
      gw_errors_add(errs, file, line, "too many [mcp-tool|prompt|resource:*] sections (at most %d)",
                    GW_POLICY_MAX_MCP_ITEMS);
    t->limit_reported = 1;
    return 1;
  }
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    gw_mcp_item_t *ni = realloc(t->items, cap * sizeof *ni);
    if (!ni) {
      gw_errors_add(errs, file, line, "out of memory");
      return 1;
    }
    t->items = ni;
    t->cap = cap;
  }
  char *copy = gw_dup_range(name, nlen);
  char secbuf[GW_POLICY_MAX_RESOURCE_URI + 32];
  snprintf(secbuf, sizeof secbuf, "[mcp-%s:%s]", kind_names[kind], name);
  char *section = gw_dup_range(secbuf, strlen(secbuf));
  if (!copy || !section) {
    free(copy);
    free(section);
    gw_errors_add(errs, file, line, "out of memory");
    return 1;
  }
  t->items[t->n] = (gw_mcp_item_t){kind, copy, nlen, prefix, 0, 0, line, (unsigned)t->n, section, {0, 0, 0, GW_RATE_KEY_SUB}};
  t->cur = (long)t->n++;
  t->has_scopes = t->has_any = 0;
  t->has_rate = t->has_burst = t->has_rkey = 0;
  return 1;
}

int mcp_items_key(gw_mcp_items_t *t, const char *name, int line, const char *file, gw_errors_t *errs) {
  if (t->cur < 0) return 0; /* the section header was refused */
  const gw_mcp_item_t *it = &t->items[t->cur];
  int which = strcmp(name, "scopes") == 0 ? 1 : strcmp(name, "any_scopes") == 0 ? 2 : 0;
  if (!which) {
    char shown[64];
    size_t n = strlen(name);
    snprintf(shown, sizeof shown, "%.*s", (int)(n > 48 ? 48 : n), name);
    for (char *c = shown; *c; c++)
      if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7F) *c = '?';
    gw_errors_add(errs, file, line, "unknown key '%s' in %s (scopes, any_scopes, rate, burst, rate_key)",
                  shown, it->section);
    return 0;
  }
  int *seen = which == 1 ? &t->has_scopes : &t->has_any;
  if (*seen) {
    gw_errors_add(errs, file, line, "duplicate key '%s' in %s", name, it->section);
    return 0;
  }
  *seen = line;
  return which;
}

int mcp_items_rate_key(gw_mcp_items_t *t, const char *name, const char *value, int line,
                       const char *file, gw_errors_t *errs) {
  int *seen = strcmp(name, "rate") == 0       ? &t->has_rate
              : strcmp(name, "burst") == 0    ? &t->has_burst
              : strcmp(name, "rate_key") == 0 ? &t->has_rkey
                                              : NULL;
  if (!seen) return 0;
  if (t->cur < 0) return 1;
  gw_mcp_item_t *it = &t->items[t->cur];
  if (*seen) {
    gw_errors_add(errs, file, line, "duplicate key '%s' in %s", name, it->section);
    return 1;
  }
  *seen = line;
  gw_rate_t *rt = &it->rate;
  char *end = NULL;
  unsigned long b = seen == &t->has_burst ? strtoul(value, &end, 10) : 0;
  if (seen == &t->has_rate ? ratelimit_parse_rate(value, &rt->count, &rt->window_s) != 0
      : seen == &t->has_rkey ? ratelimit_parse_key(value, &rt->key) != 0
      : (value[0] < '1' || value[0] > '9' || *end || b > 1000000000ul))
    gw_errors_add(errs, file, line, "%s must be %s in %s", name,
                  seen == &t->has_rate ? "COUNT/s, COUNT/m or COUNT/h"
                  : seen == &t->has_rkey ? "sub, client_id or address" : "a count from 1",
                  it->section);
  else if (seen == &t->has_burst)
    rt->burst = (uint32_t)b;
  return 1;
}

void mcp_items_set(gw_mcp_items_t *t, int which, gw_scopeset_t set) {
  if (t->cur < 0) return;
  if (which == 1)
    t->items[t->cur].required = set;
  else
    t->items[t->cur].any = set;
}

void mcp_items_end(gw_mcp_items_t *t, const char *file, gw_errors_t *errs) {
  if (t->cur < 0) return;
  gw_mcp_item_t *it = &t->items[t->cur];
  if (!t->has_scopes && !t->has_any && !t->has_rate)
    gw_errors_add(errs, file, it->line, "%s has no scopes (and no rate)", it->section);
  if (!t->has_rate && (t->has_burst || t->has_rkey))
    gw_errors_add(errs, file, t->has_burst ? t->has_burst : t->has_rkey, "%s needs rate in %s",
                  t->has_burst ? "burst" : "rate_key", it->section);
  if (it->rate.count && !t->has_burst) it->rate.burst = it->rate.count;
  if (it->rate.count) t->any_rate = 1;
  t->has_rate = t->has_burst = t->has_rkey = 0;
  t->cur = -1;
}

void mcp_items_unlisted(gw_mcp_items_t *t, const char *value, int line, const char *file,
                        gw_errors_t *errs) {
  if (t->unlisted_line) {
    gw_errors_add(errs, file, line, "duplicate key 'mcp_unlisted' (first at line %d)", t->unlisted_line);
    return;
  }
  t->unlisted_line = line;
  if (strcmp(value, "allow") == 0)
    t->unlisted = GW_MCP_UNLISTED_ALLOW;
  else if (strcmp(value, "deny") == 0)
    t->unlisted = GW_MCP_UNLISTED_DENY;
  else
    gw_errors_add(errs, file, line, "mcp_unlisted must be 'allow' or 'deny'");
}

static int item_cmp(const void *va, const void *vb) {
  const gw_mcp_item_t *a = va, *b = vb;
  if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
  if (a->prefix != b->prefix) return a->prefix < b->prefix ? -1 : 1;
  size_t n = a->len < b->len ? a->len : b->len;
  int c = memcmp(a->name, b->name, n);
  if (c) return c;
  return a->len < b->len ? -1 : a->len > b->len;
}

void mcp_items_done(gw_mcp_items_t *t) {
  t->all = 0;
  for (size_t i = 0; i < t->n; i++) t->all |= t->items[i].required | t->items[i].any;
  if (t->n > 1) qsort(t->items, t->n, sizeof *t->items, item_cmp);
}

const gw_mcp_item_t *mcp_items_find(const gw_mcp_items_t *t, gw_mcp_kind_t k, const char *name,
                                    size_t len) {
  /* Exact sections sort before prefixes of the same kind. */
  gw_mcp_item_t key = {k, (char *)name, len, 0, 0, 0, 0, 0, NULL, {0, 0, 0, GW_RATE_KEY_SUB}};
  const gw_mcp_item_t *hit = t->n ? bsearch(&key, t->items, t->n, sizeof *t->items, item_cmp) : NULL;
  if (hit || k != GW_MCP_RESOURCE) return hit;
  const gw_mcp_item_t *best = NULL;
  for (size_t i = 0; i < t->n; i++) {
    const gw_mcp_item_t *it = &t->items[i];
    if (it->kind != k || !it->prefix || it->len > len || memcmp(it->name, name, it->len) != 0) continue;
    if (!best || it->len > best->len) best = it;
  }
  return best;
}
