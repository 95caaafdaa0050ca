/* reqmeta.c: see reqmeta.h. */
#include "reqmeta.h"

#include <arpa/inet.h>
#include <string.h>

/* Parses an address into 16 bytes; *v6 0 for IPv4 (and IPv4-mapped IPv6,
 * so that a dual-stack listener's peers compare with IPv4 ranges). */
static int ip_parse(const char *s, size_t len, uint8_t *v6, uint8_t addr[16]) {
  char b[GW_IP_TEXT];
  if (len == 0 || len >= sizeof b) return -1;
  memcpy(b, s, len);
  b[len] = '\0';
  memset(addr, 0, 16);
  if (inet_pton(AF_INET, b, addr) == 1) {
    *v6 = 0;
    return 0;
  }
  if (inet_pton(AF_INET6, b, addr) != 1) return -1;
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (memcmp(addr, mapped, 12) == 0) {
    memmove(addr, addr + 12, 4);
    memset(addr + 4, 0, 12);
    *v6 = 0;
    return 0;
  }
  *v6 = 1;
  return 0;
}

static int prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits) {
  unsigned whole = bits / 8, rest = bits % 8;
  if (memcmp(a, b, whole) != 0) return 0;
  if (!rest) return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

int gw_cidr_parse(const char *s, gw_cidr_t *out) {
  const char *slash = strchr(s, '/');
  size_t alen = slash ? (size_t)(slash - s) : strlen(s);
  if (ip_parse(s, alen, &out->v6, out->addr) != 0) return -1;
  unsigned max = out->v6 ? 128 : 32, bits = max;
  if (slash) {
    const char *p = slash + 1;
    if (!*p || strlen(p) > 3) return -1;
    bits = 0;
    for (; *p; p++) {
      if (*p < '0' || *p > '9') return -1;
      bits = bits * 10 + (unsigned)(*p - '0');
    }
    if (bits > max) return -1;
  }
  out->bits = (uint8_t)bits;
  uint8_t host[16];
  memcpy(host, out->addr, 16);
  /* host bits must be zero */
  for (unsigned i = bits; i < max; i++) host[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
  return memcmp(host, out->addr, 16) == 0 ? 0 : -1;
}

int gw_cidr_match(const gw_cidr_t *list, size_t n, const char *ip, size_t len) {
  uint8_t v6, a[16];
  if (ip_parse(ip, len, &v6, a) != 0) return 0;
  for (size_t i = 0; i < n; i++)
    if (list[i].v6 == v6 && prefix_eq(a, list[i].addr, list[i].bits)) return 1;
  return 0;
}

static void put(char *out, size_t cap, const char *s, size_t len) {
  if (len >= cap) len = cap - 1;
  memcpy(out, s, len);
  out[len] = '\0';
}

static int is_ows(char c) { return c == ' ' || c == '\t'; }

void gw_client_addr(const char *peer, const gw_cidr_t *trusted, size_t ntrusted,
                    const char *const *xff, const size_t *xff_len, size_t nxff, char *out,
                    size_t cap) {
  const char *cur = peer;
  size_t cur_len = strlen(peer);
  if (cap == 0) return;
  if (!gw_cidr_match(trusted, ntrusted, peer, cur_len)) {
    put(out, cap, cur, cur_len);
    return;
  }
  for (size_t h = nxff; h-- > 0;) {
    const char *v = xff[h];
    size_t end = xff_len[h];
    while (end > 0) {
      size_t st = end;
      while (st > 0 && v[st - 1] != ',') st--;
      size_t a = st, b = end;
      end = st ? st - 1 : 0;
      while (a < b && is_ows(v[a])) a++;
      while (b > a && is_ows(v[b - 1])) b--;
      if (a == b) {
        if (st == 0) break;
        continue;
      }
      uint8_t v6, ad[16];
      if (ip_parse(v + a, b - a, &v6, ad) != 0) goto done;
      cur = v + a;
      cur_len = b - a;
      if (!gw_cidr_match(trusted, ntrusted, cur, cur_len)) goto done;
      if (st == 0) break;
    }
  }
done:
  put(out, cap, cur, cur_len);
}

static int lower_hex(const char *s, size_t n, int nonzero) {
  int any = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    any |= c != '0';
  }
  return !nonzero || any;
}

int gw_traceparent(const char *v, size_t len, char trace_id[33], char span_id[17]) {
  /* version "-" trace-id "-" parent-id "-" flags: 2+1+32+1+16+1+2 */
  if (len < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return -1;
  if (!lower_hex(v, 2, 0) || (v[0] == 'f' && v[1] == 'f')) return -1;
  /* version 00 has exactly these fields; a later version may append more */
  if (v[0] == '0' && v[1] == '0' ? len != 55 : (len > 55 && v[55] != '-')) return -1;
  if (!lower_hex(v + 3, 32, 1) || !lower_hex(v + 36, 16, 1) || !lower_hex(v + 53, 2, 0)) return -1;
  memcpy(trace_id, v + 3, 32);
  trace_id[32] = '\0';
  memcpy(span_id, v + 36, 16);
  span_id[16] = '\0';
  return 0;
}
