/* fileio: reading a small file whole (a signing key, a JWKS document).
 *
 * gw_read_file() reads path into a fresh buffer of at most max bytes, NUL-
 * terminated (*out, *len without the NUL; free() it). It returns
 *   0                    read;
 *   GW_READ_FILE_OPEN    fopen failed: why = strerror(errno);
 *   GW_READ_FILE_ERROR   anything else: why = "read error", "out of memory"
 *                        or "larger than MAX bytes".
 * A buffer dropped on the way (too large) is cleansed first: the file may
 * hold a private key. The file is opened close-on-exec. */
#ifndef GW_FILEIO_H
#define GW_FILEIO_H

#include <stddef.h>

#define GW_READ_FILE_OPEN (-1)
#define GW_READ_FILE_ERROR (-2)

int gw_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                 size_t whylen);

#endif
