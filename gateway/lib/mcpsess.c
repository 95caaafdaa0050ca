/* mcpsess: MAC-bound MCP session ids. */
#include "mcpsess.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "fileio.h"

static unsigned char process_key[MCPSESS_KEY_LEN];
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void make_process_key(void) {
  if (RAND_bytes(process_key, sizeof process_key) != 1) {
    /* Without randomness no binding could be trusted: stop rather than
     * hand out ids anyone can forge. */
    fprintf(stderr, "mcpsess: no random bytes for the session key\n");
    abort();
  }
}

const unsigned char *mcpsess_process_key(void) {
  pthread_once(&process_once, make_process_key);
  return process_key;
}

int mcpsess_key_from_file(const char *path, unsigned char key[MCPSESS_KEY_LEN], char *why, size_t cap) {
  char *data = NULL;
  size_t len = 0;
  char err[160] = "";
  if (gw_read_file(path, 64 * 1024, &data, &len, err, sizeof err) != 0) {
    snprintf(why, cap, "session_key_file %s: %s", path, err[0] ? err : "cannot read");
    return -1;
  }
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ')) len--;
  if (len < 32) {
    OPENSSL_cleanse(data, len);
    free(data);
    snprintf(why, cap, "session_key_file %s: at least 32 bytes of secret needed (e.g. openssl rand -hex 32)",
             path);
    return -1;
  }
  SHA256((const unsigned char *)data, len, key);
  OPENSSL_cleanse(data, len);
  free(data);
  return 0;
}

static size_t put_field(char *out, size_t cap, size_t at, const char *s, size_t n) {
  if (at == 0 && cap == 0) return 0;
  if (at + 2 + n > cap || n > 0xFFFF) return 0;
  out[at] = (char)(n >> 8);
  out[at + 1] = (char)(n & 0xFF);
  if (n) memcpy(out + at + 2, s, n);
  return at + 2 + n;
}

size_t mcpsess_principal(char *out, size_t cap, const char *iss, size_t isslen, const char *sub,
                         size_t sublen, const char *cid, size_t cidlen) {
  size_t at = put_field(out, cap, 0, iss, isslen);
  if (at) at = put_field(out, cap, at, sub, sublen);
  if (at) at = put_field(out, cap, at, cid, cidlen);
  return at;
}

static void mac(const unsigned char key[MCPSESS_KEY_LEN], const char *princ, size_t plen,
                const char *sid, size_t sidlen, char out[MCPSESS_MAC_CHARS]) {
  unsigned char msg[2 + MCPSESS_SID_MAX + MCPSESS_PRINCIPAL_MAX];
  msg[0] = (unsigned char)(sidlen >> 8);
  msg[1] = (unsigned char)(sidlen & 0xFF);
  memcpy(msg + 2, sid, sidlen);
  memcpy(msg + 2 + sidlen, princ, plen);
  unsigned char h[32];
  unsigned int hl = sizeof h;
  HMAC(EVP_sha256(), key, MCPSESS_KEY_LEN, msg, 2 + sidlen + plen, h, &hl);
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  /* 16 bytes -> 22 characters (the last holds 2 bits). */
  size_t o = 0;
  for (size_t i = 0; i < 15; i += 3) {
    uint32_t v = (uint32_t)h[i] << 16 | (uint32_t)h[i + 1] << 8 | h[i + 2];
    out[o++] = b64[v >> 18 & 63];
    out[o++] = b64[v >> 12 & 63];
    out[o++] = b64[v >> 6 & 63];
    out[o++] = b64[v & 63];
  }
  out[o++] = b64[h[15] >> 2];
  out[o++] = b64[(h[15] & 3) << 4];
}

size_t mcpsess_bind(const unsigned char key[MCPSESS_KEY_LEN], const char *princ, size_t plen,
                    const char *sid, size_t sidlen, char *out, size_t cap) {
  if (sidlen == 0 || sidlen > MCPSESS_SID_MAX || plen > MCPSESS_PRINCIPAL_MAX ||
      cap < sidlen + 1 + MCPSESS_MAC_CHARS)
    return 0;
  memcpy(out, sid, sidlen);
  out[sidlen] = '.';
  mac(key, princ, plen, sid, sidlen, out + sidlen + 1);
  return sidlen + 1 + MCPSESS_MAC_CHARS;
}

int mcpsess_check(const unsigned char key[MCPSESS_KEY_LEN], const char *princ, size_t plen,
                  const char *presented, size_t n, size_t *sidlen) {
  if (n < 2 + MCPSESS_MAC_CHARS || presented[n - MCPSESS_MAC_CHARS - 1] != '.') return 0;
  size_t sl = n - MCPSESS_MAC_CHARS - 1;
  if (sl > MCPSESS_SID_MAX || plen > MCPSESS_PRINCIPAL_MAX) return 0;
  char want[MCPSESS_MAC_CHARS];
  mac(key, princ, plen, presented, sl, want);
  if (CRYPTO_memcmp(want, presented + sl + 1, MCPSESS_MAC_CHARS) != 0) return 0;
  *sidlen = sl;
  return 1;
}
