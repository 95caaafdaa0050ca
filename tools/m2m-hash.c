/* m2m-hash: prints the `secret = ...` value for a client of the built-in M2M
 * issuer ([m2m] clients file, see gateway/m2m.h):
 *
 *     pbkdf2-sha256$ITERATIONS$SALT$HASH
 *
 * PBKDF2-HMAC-SHA256, a fresh 16-byte salt, a 32-byte hash, SALT and HASH in
 * unpadded base64url. Standalone (OpenSSL's libcrypto only), built by hand:
 *
 *     cc -std=c11 -O2 -o build/m2m-hash tools/m2m-hash.c \
 *        $(pkg-config --cflags --libs libcrypto)
 *
 * Usage:
 *     printf '%s' "$SECRET" | build/m2m-hash [-i ITERATIONS]
 *     build/m2m-hash            # on a terminal: asks for the secret, no echo
 *     build/m2m-hash -g         # makes a random secret: prints it, then the hash
 *
 * The secret is read from stdin (one trailing newline is dropped), never
 * from the command line, where other users could see it in ps. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define MIN_ITER 100000UL
#define MAX_ITER 10000000UL
#define DEFAULT_ITER 600000UL
#define MAX_SECRET 4096

static void b64url(const unsigned char *in, size_t n, char *out) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
    out[o++] = a[v >> 18], out[o++] = a[(v >> 12) & 63], out[o++] = a[(v >> 6) & 63],
    out[o++] = a[v & 63];
  }
  if (n - i == 1) {
    unsigned v = (unsigned)in[i] << 16;
    out[o++] = a[v >> 18], out[o++] = a[(v >> 12) & 63];
  } else if (n - i == 2) {
    unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
    out[o++] = a[v >> 18], out[o++] = a[(v >> 12) & 63], out[o++] = a[(v >> 6) & 63];
  }
  out[o] = '\0';
}

static int usage(void) {
  fprintf(stderr, "usage: m2m-hash [-i ITERATIONS] [-g] < secret\n"
                  "  -i N  PBKDF2 iterations, %lu to %lu (default %lu)\n"
                  "  -g    generate a random secret; print it, then its hash\n",
          MIN_ITER, MAX_ITER, DEFAULT_ITER);
  return 2;
}

static size_t read_secret(char *buf, size_t cap) {
  struct termios old, quiet;
  int tty = isatty(0) && tcgetattr(0, &old) == 0;
  if (tty) {
    fprintf(stderr, "client secret: ");
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(0, TCSAFLUSH, &quiet);
  }
  size_t n = 0;
  int c;
  while (n < cap && (c = getchar()) != EOF) {
    if (tty && c == '\n') break;
    buf[n++] = (char)c;
  }
  if (tty) {
    tcsetattr(0, TCSAFLUSH, &old);
    fputc('\n', stderr);
  } else if (n == cap && getchar() != EOF) {
    return cap + 1;
  }
  if (n > 0 && buf[n - 1] == '\n') n--;
  if (n > 0 && buf[n - 1] == '\r') n--;
  return n;
}

int main(int argc, char **argv) {
  unsigned long iter = DEFAULT_ITER;
  int gen = 0, opt;
  while ((opt = getopt(argc, argv, "i:gh")) != -1) {
    if (opt == 'i') {
      char *end;
      errno = 0;
      iter = strtoul(optarg, &end, 10);
      if (errno || *end || optarg[0] == '-' || iter < MIN_ITER || iter > MAX_ITER) {
        fprintf(stderr, "m2m-hash: -i must be a number from %lu to %lu\n", MIN_ITER, MAX_ITER);
        return 2;
      }
    } else if (opt == 'g') {
      gen = 1;
    } else {
      return usage();
    }
  }
  if (optind != argc) return usage();

  char secret[MAX_SECRET + 1];
  size_t n;
  if (gen) {
    unsigned char r[32];
    if (RAND_bytes(r, sizeof r) != 1) {
      fprintf(stderr, "m2m-hash: the random generator failed\n");
      return 1;
    }
    b64url(r, sizeof r, secret);
    OPENSSL_cleanse(r, sizeof r);
    n = strlen(secret);
  } else {
    n = read_secret(secret, MAX_SECRET);
    if (n > MAX_SECRET) {
      fprintf(stderr, "m2m-hash: secret longer than %d bytes\n", MAX_SECRET);
      return 1;
    }
    if (n == 0) {
      fprintf(stderr, "m2m-hash: empty secret\n");
      return 1;
    }
    if (memchr(secret, '\0', n)) {
      fprintf(stderr, "m2m-hash: the secret contains a NUL byte\n");
      return 1;
    }
    int odd = 0;
    for (size_t i = 0; i < n; i++) {
      char ch = secret[i];
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~'))
        odd = 1;
    }
    if (odd)
      fprintf(stderr, "m2m-hash: note: with HTTP Basic the secret must be form-urlencoded "
                      "(RFC 6749 2.3.1); secrets of A-Z a-z 0-9 - . _ ~ avoid that\n");
    if (n < 16)
      fprintf(stderr, "m2m-hash: warning: a secret of %zu characters is easy to guess; "
                      "consider -g\n", n);
  }

  unsigned char salt[16], hash[32];
  char s64[32], h64[48];
  if (RAND_bytes(salt, sizeof salt) != 1 ||
      PKCS5_PBKDF2_HMAC(secret, (int)n, salt, sizeof salt, (int)iter, EVP_sha256(),
                        (int)sizeof hash, hash) != 1) {
    OPENSSL_cleanse(secret, sizeof secret);
    fprintf(stderr, "m2m-hash: OpenSSL failed\n");
    return 1;
  }
  b64url(salt, sizeof salt, s64);
  b64url(hash, sizeof hash, h64);
  if (gen) printf("%s\n", secret);
  OPENSSL_cleanse(secret, sizeof secret);
  OPENSSL_cleanse(hash, sizeof hash);
  printf("pbkdf2-sha256$%lu$%s$%s\n", iter, s64, h64);
  return fflush(stdout) == 0 ? 0 : 1;
}
