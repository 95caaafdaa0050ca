/* fileio.c: see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

int gw_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                 size_t whylen) {
  FILE *f = fopen(path, "re");
  if (!f) {
    snprintf(why, whylen, "%s", strerror(errno));
    return GW_READ_FILE_OPEN;
  }
  /* One byte more than allowed, so that a file over the limit is seen. */
  char *buf = malloc(max + 1);
  size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
  int err = ferror(f);
  fclose(f);
  if (!buf || err) {
    snprintf(why, whylen, "%s", buf ? "read error" : "out of memory");
    if (buf) OPENSSL_cleanse(buf, max + 1);
    free(buf);
    return GW_READ_FILE_ERROR;
  }
  if (n > max) {
    snprintf(why, whylen, "larger than %zu bytes", max);
    OPENSSL_cleanse(buf, max + 1);
    free(buf);
    return GW_READ_FILE_ERROR;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}
