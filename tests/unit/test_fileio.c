/* test_fileio: gw_read_file (gateway/fileio.c), which reads the m2m signing
 * key and [issuer:*] jwks_file documents: whole, NUL-terminated, capped,
 * and with the two kinds of error its callers word differently. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "tap.h"

static char dir[64] = "/tmp/test_fileio.XXXXXX";

static void put(const char *path, const char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
    printf("Bail out! cannot write %s\n", path);
    exit(2);
  }
}

int main(void) {
  if (!mkdtemp(dir)) {
    printf("Bail out! mkdtemp\n");
    return 2;
  }
  char path[128], why[160];
  char *buf = NULL;
  size_t len = 99;

  snprintf(path, sizeof path, "%s/ten", dir);
  put(path, "0123456\0" "89", 10);
  CHECK_INT(gw_read_file(path, 10, &buf, &len, why, sizeof why), 0, "exactly max bytes: read");
  CHECK_INT(len, 10, "length, NUL bytes included");
  CHECK(buf && memcmp(buf, "0123456\0" "89", 10) == 0 && buf[10] == '\0',
        "the bytes, then a NUL");
  free(buf);
  buf = NULL;

  CHECK_INT(gw_read_file(path, 9, &buf, &len, why, sizeof why), GW_READ_FILE_ERROR,
            "one byte over max: an error");
  CHECK_STR(why, "larger than 9 bytes", "... larger than MAX bytes");
  CHECK(buf == NULL, "... and nothing returned");

  snprintf(path, sizeof path, "%s/empty", dir);
  put(path, "", 0);
  CHECK_INT(gw_read_file(path, 10, &buf, &len, why, sizeof why), 0, "empty file: read");
  CHECK(buf && len == 0 && buf[0] == '\0', "... as \"\"");
  free(buf);
  unlink(path);
  buf = NULL;

  snprintf(path, sizeof path, "%s/missing", dir);
  CHECK_INT(gw_read_file(path, 10, &buf, &len, why, sizeof why), GW_READ_FILE_OPEN,
            "missing file: GW_READ_FILE_OPEN");
  CHECK_STR(why, "No such file or directory", "... with strerror");

  CHECK_INT(gw_read_file(dir, 10, &buf, &len, why, sizeof why), GW_READ_FILE_ERROR,
            "a directory: GW_READ_FILE_ERROR");
  CHECK_STR(why, "read error", "... read error");
  CHECK(buf == NULL, "... and nothing returned");

  snprintf(path, sizeof path, "%s/ten", dir);
  unlink(path);
  rmdir(dir);
  return TAP_DONE();
}
