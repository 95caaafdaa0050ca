#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_STATE 4096

int sd_notify_send(const char *state) {
  const char *e = getenv("NOTIFY_SOCKET");
  if (!e || !*e) return 0;
  if (!state) return -EINVAL;
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t n = strlen(e);
  if ((e[0] != '/' && e[0] != '@') || n < 2 || n > sizeof sa.sun_path) return -EINVAL;
  /* a path needs its NUL inside sun_path; an abstract name does not */
  if (e[0] == '/' && n == sizeof sa.sun_path) return -EINVAL;
  memcpy(sa.sun_path, e, n);
  if (e[0] == '@') sa.sun_path[0] = '\0';
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (e[0] == '/'));

  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  size_t sl = strlen(state);
  ssize_t r;
  do r = sendto(fd, state, sl, MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
  while (r < 0 && errno == EINTR);
  int err = r < 0 ? -errno : (size_t)r != sl ? -EMSGSIZE : 1;
  close(fd);
  return err;
}

int sd_notify_sendf(const char *fmt, ...) {
  char buf[MAX_STATE];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return -EINVAL;
  if ((size_t)n >= sizeof buf) return -EMSGSIZE;
  return sd_notify_send(buf);
}

/* head, then "\nSTATUS=status" with newlines as spaces. */
static int send_with_status(const char *head, const char *status) {
  if (!status) return sd_notify_send(head);
  char buf[MAX_STATE];
  size_t hl = strlen(head), sl = strlen(status);
  static const char key[] = "STATUS=";
  size_t off = 0;
  if (hl + 1 + sizeof key - 1 + sl >= sizeof buf) return -EMSGSIZE;
  if (hl) {
    memcpy(buf, head, hl);
    buf[hl] = '\n';
    off = hl + 1;
  }
  memcpy(buf + off, key, sizeof key - 1);
  off += sizeof key - 1;
  for (size_t i = 0; i < sl; i++) buf[off + i] = status[i] == '\n' || status[i] == '\r' ? ' ' : status[i];
  buf[off + sl] = '\0';
  return sd_notify_send(buf);
}

int sd_notify_ready(const char *status) { return send_with_status("READY=1", status); }
int sd_notify_stopping(const char *status) { return send_with_status("STOPPING=1", status); }
int sd_notify_status(const char *status) { return send_with_status("", status ? status : ""); }

int sd_notify_reloading(const char *status) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) return -errno;
  char head[64];
  snprintf(head, sizeof head, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64,
           (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
  return send_with_status(head, status);
}

/* A decimal number without sign, spaces or trailing bytes. */
static int parse_num(const char *s, long long *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || *end) return -1;
  *out = v;
  return 0;
}

int sd_listen_fds_get(int *fds, int max) {
  const char *pid_s = getenv("LISTEN_PID"), *n_s = getenv("LISTEN_FDS");
  int r = 0;
  long long pid, n;
  if (!pid_s || !n_s) goto out;
  if (parse_num(pid_s, &pid) || parse_num(n_s, &n) || n > INT_MAX - SD_LISTEN_FDS_START) {
    r = -EINVAL;
    goto out;
  }
  if (pid != (long long)getpid() || n == 0) goto out;
  for (int fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + (int)n; fd++) {
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || (!(fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)) {
      r = -errno;
      goto out;
    }
  }
  for (int i = 0; i < (int)n && i < max; i++) fds[i] = SD_LISTEN_FDS_START + i;
  r = (int)n;
out:
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_FDNAMES");
  return r;
}

int sd_listen_fd_matches(int fd, const struct sockaddr *addr, socklen_t addrlen) {
  int type = 0, acc = 0;
  socklen_t l = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0) return -errno;
  l = sizeof acc;
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) < 0) return -errno;
  if (type != SOCK_STREAM || !acc) return 0;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  memset(&ss, 0, sizeof ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -errno;
  if (ss.ss_family != addr->sa_family) return 0;
  switch (addr->sa_family) {
  case AF_INET: {
    if (addrlen < sizeof(struct sockaddr_in)) return 0;
    const struct sockaddr_in *a = (const struct sockaddr_in *)addr, *b = (const struct sockaddr_in *)&ss;
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  case AF_INET6: {
    if (addrlen < sizeof(struct sockaddr_in6)) return 0;
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr,
                              *b = (const struct sockaddr_in6 *)&ss;
    return a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id &&
           memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
  }
  case AF_UNIX: {
    size_t base = offsetof(struct sockaddr_un, sun_path);
    if (addrlen <= base || sl <= base) return 0;
    const struct sockaddr_un *a = (const struct sockaddr_un *)addr,
                             *b = (const struct sockaddr_un *)&ss;
    size_t al = addrlen - base, bl = sl - base;
    /* a path: up to its NUL (addrlen may or may not count it); abstract: every byte */
    if (a->sun_path[0] && b->sun_path[0]) {
      al = strnlen(a->sun_path, al);
      bl = strnlen(b->sun_path, bl);
    } else if (a->sun_path[0] || b->sun_path[0]) {
      return 0;
    }
    return al == bl && memcmp(a->sun_path, b->sun_path, al) == 0;
  }
  default:
    return 0;
  }
}

int sd_listen_fd_find(const int *fds, int n, const struct sockaddr *addr, socklen_t addrlen) {
  for (int i = 0; i < n; i++)
    if (sd_listen_fd_matches(fds[i], addr, addrlen) == 1) return i;
  return -1;
}
