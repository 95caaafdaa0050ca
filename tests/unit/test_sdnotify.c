/* sdnotify: the datagrams sent to $NOTIFY_SOCKET (path and abstract), and
 * socket activation with real sockets on fds 3 and 4 in a child process. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sdnotify.h"
#include "tap.h"

static char dir[64];
static int rx = -1; /* the receiving end of the current notify socket */

/* One datagram from rx into buf (NUL-terminated); "" on timeout. */
static const char *receive(char *buf, size_t cap) {
  struct pollfd p = {rx, POLLIN, 0};
  buf[0] = '\0';
  if (poll(&p, 1, 2000) != 1) return buf;
  ssize_t n = recv(rx, buf, cap - 1, MSG_DONTWAIT);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

static int pending(void) {
  struct pollfd p = {rx, POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

static uint64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void test_unset(void) {
  unsetenv("NOTIFY_SOCKET");
  CHECK_INT(sd_notify_send("READY=1"), 0, "no NOTIFY_SOCKET: send is a no-op returning 0");
  CHECK_INT(sd_notify_ready(NULL), 0, "no NOTIFY_SOCKET: ready returns 0");
  CHECK_INT(sd_notify_reloading("x"), 0, "no NOTIFY_SOCKET: reloading returns 0");
  CHECK_INT(sd_notify_stopping(NULL), 0, "no NOTIFY_SOCKET: stopping returns 0");
  setenv("NOTIFY_SOCKET", "", 1);
  CHECK_INT(sd_notify_send("READY=1"), 0, "empty NOTIFY_SOCKET: no-op");
  unsetenv("NOTIFY_SOCKET");
}

static void test_path_socket(void) {
  char path[128], buf[8192];
  snprintf(path, sizeof path, "%s/notify", dir);
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  strcpy(sa.sun_path, path);
  rx = socket(AF_UNIX, SOCK_DGRAM, 0);
  CHECK(rx >= 0 && bind(rx, (struct sockaddr *)&sa, sizeof sa) == 0, "bind a datagram socket in a temp dir");
  setenv("NOTIFY_SOCKET", path, 1);

  CHECK_INT(sd_notify_send("READY=1"), 1, "send returns 1");
  CHECK_STR(receive(buf, sizeof buf), "READY=1", "exact payload READY=1");
  CHECK_INT(sd_notify_ready(NULL), 1, "sd_notify_ready(NULL)");
  CHECK_STR(receive(buf, sizeof buf), "READY=1", "ready without status");
  sd_notify_ready("listening on 127.0.0.1:8080, admin on 127.0.0.1:9901");
  CHECK_STR(receive(buf, sizeof buf), "READY=1\nSTATUS=listening on 127.0.0.1:8080, admin on 127.0.0.1:9901",
            "ready with a status line");
  sd_notify_stopping(NULL);
  CHECK_STR(receive(buf, sizeof buf), "STOPPING=1", "exact payload STOPPING=1");
  sd_notify_stopping("draining 3 requests");
  CHECK_STR(receive(buf, sizeof buf), "STOPPING=1\nSTATUS=draining 3 requests", "stopping with status");
  sd_notify_status("waiting for\nJWKS\r");
  CHECK_STR(receive(buf, sizeof buf), "STATUS=waiting for JWKS ", "a status cannot add lines");

  uint64_t before = mono_us();
  CHECK_INT(sd_notify_reloading(NULL), 1, "sd_notify_reloading");
  uint64_t after = mono_us();
  receive(buf, sizeof buf);
  const char *prefix = "RELOADING=1\nMONOTONIC_USEC=";
  CHECK(strncmp(buf, prefix, strlen(prefix)) == 0, "RELOADING=1 then MONOTONIC_USEC=");
  char *end;
  unsigned long long us = strtoull(buf + strlen(prefix), &end, 10);
  CHECK(*end == '\0' && us >= before && us <= after, "MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds");
  sd_notify_reloading("reloading gateway.ini");
  receive(buf, sizeof buf);
  CHECK(strncmp(buf, prefix, strlen(prefix)) == 0 && strstr(buf, "\nSTATUS=reloading gateway.ini") &&
            strlen(strstr(buf, "\nSTATUS=")) == strlen("\nSTATUS=reloading gateway.ini"),
        "reloading with a status last");

  CHECK_INT(sd_notify_sendf("STATUS=%d workers, %s", 4, "ready"), 1, "sendf");
  CHECK_STR(receive(buf, sizeof buf), "STATUS=4 workers, ready", "sendf payload");
  char big[5000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  CHECK_INT(sd_notify_sendf("STATUS=%s", big), -EMSGSIZE, "sendf over 4095 bytes: -EMSGSIZE");
  CHECK_INT(sd_notify_ready(big), -EMSGSIZE, "status over 4095 bytes: -EMSGSIZE");
  CHECK(!pending(), "nothing sent for refused messages");

  close(rx);
  rx = -1;
  CHECK(sd_notify_send("READY=1") == -ECONNREFUSED, "nobody reading the path: -ECONNREFUSED");
  unlink(path);
  CHECK_INT(sd_notify_send("READY=1"), -ENOENT, "path gone: -ENOENT");
  unsetenv("NOTIFY_SOCKET");
}

static void test_abstract_socket(void) {
  char name[64], buf[256];
  snprintf(name, sizeof name, "gw-sdnotify-test-%ld-%ld", (long)getpid(), (long)time(NULL));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path + 1, name, strlen(name)); /* sun_path[0] = 0: abstract */
  socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
  rx = socket(AF_UNIX, SOCK_DGRAM, 0);
  CHECK(rx >= 0 && bind(rx, (struct sockaddr *)&sa, len) == 0, "bind an abstract datagram socket");
  char env[80];
  snprintf(env, sizeof env, "@%s", name);
  setenv("NOTIFY_SOCKET", env, 1);
  CHECK_INT(sd_notify_send("READY=1\nSTATUS=abstract"), 1, "send to @name");
  CHECK_STR(receive(buf, sizeof buf), "READY=1\nSTATUS=abstract", "abstract socket payload");
  close(rx);
  rx = -1;
  CHECK_INT(sd_notify_send("READY=1"), -ECONNREFUSED, "abstract name nobody binds: -ECONNREFUSED");
  unsetenv("NOTIFY_SOCKET");
}

static void test_invalid(void) {
  setenv("NOTIFY_SOCKET", "relative/notify", 1);
  CHECK_INT(sd_notify_send("READY=1"), -EINVAL, "relative path: -EINVAL");
  setenv("NOTIFY_SOCKET", "@", 1);
  CHECK_INT(sd_notify_send("READY=1"), -EINVAL, "'@' alone: -EINVAL");
  char longp[200] = "/";
  memset(longp + 1, 'a', 150);
  longp[151] = '\0';
  setenv("NOTIFY_SOCKET", longp, 1);
  CHECK_INT(sd_notify_send("READY=1"), -EINVAL, "path longer than sun_path: -EINVAL");
  setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
  CHECK_INT(sd_notify_send("READY=1"), -EINVAL, "vsock addresses are not supported: -EINVAL");
  unsetenv("NOTIFY_SOCKET");
}

/* ---- socket activation, in a child: fds 3 and 4 are replaced ----------- */

static int report_fd = -1;

static void creport(int ok, const char *what) {
  char line[256];
  int n = snprintf(line, sizeof line, "%d %s\n", ok ? 1 : 0, what);
  if (write(report_fd, line, (size_t)n) != n) _exit(3);
}
#define CCHECK(cond, what) creport(!!(cond), (what))

static int move_high(int fd, int at) {
  int h = fcntl(fd, F_DUPFD, at);
  close(fd);
  return h;
}

static void setpid_env(long pid, const char *n) {
  char s[32];
  snprintf(s, sizeof s, "%ld", pid);
  setenv("LISTEN_PID", s, 1);
  setenv("LISTEN_FDS", n, 1);
  setenv("LISTEN_FDNAMES", "http:admin", 1);
}

static void activation_child(void) {
  /* a TCP listener on 127.0.0.1:<any> and a unix stream listener */
  int t = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  CCHECK(t >= 0 && bind(t, (struct sockaddr *)&in, sizeof in) == 0 && listen(t, 8) == 0,
         "child: TCP listener on 127.0.0.1");
  socklen_t l = sizeof in;
  getsockname(t, (struct sockaddr *)&in, &l);
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  snprintf(un.sun_path, sizeof un.sun_path, "%s/listen.sock", dir);
  int u = socket(AF_UNIX, SOCK_STREAM, 0);
  CCHECK(u >= 0 && bind(u, (struct sockaddr *)&un, sizeof un) == 0 && listen(u, 8) == 0,
         "child: unix stream listener");
  t = move_high(t, 50);
  u = move_high(u, 60);
  CCHECK(dup2(t, 3) == 3 && dup2(u, 4) == 4, "child: listeners on fds 3 and 4");
  close(t);
  close(u);
  close(5);
  CCHECK(!(fcntl(3, F_GETFD) & FD_CLOEXEC) && !(fcntl(4, F_GETFD) & FD_CLOEXEC),
         "child: passed fds start without FD_CLOEXEC");

  int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1};
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDS");
  CCHECK(sd_listen_fds_get(fds, 8) == 0, "nothing passed: 0");

  setpid_env((long)getpid(), "2");
  int n = sd_listen_fds_get(fds, 8);
  CCHECK(n == 2, "LISTEN_FDS=2 for this pid: 2 fds");
  CCHECK(fds[0] == 3 && fds[1] == 4 && fds[2] == -1, "fds are 3 and 4");
  CCHECK((fcntl(3, F_GETFD) & FD_CLOEXEC) && (fcntl(4, F_GETFD) & FD_CLOEXEC), "FD_CLOEXEC set on both");
  CCHECK(!getenv("LISTEN_PID") && !getenv("LISTEN_FDS") && !getenv("LISTEN_FDNAMES"),
         "LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES unset");
  CCHECK(sd_listen_fds_get(fds, 8) == 0, "a second call finds nothing");

  CCHECK(sd_listen_fd_matches(3, (struct sockaddr *)&in, sizeof in) == 1, "fd 3 matches its 127.0.0.1 address");
  CCHECK(sd_listen_fd_matches(4, (struct sockaddr *)&in, sizeof in) == 0, "fd 4 does not match it");
  CCHECK(sd_listen_fd_find(fds, n, (struct sockaddr *)&un, sizeof un) == 1, "the unix path is found at index 1");
  CCHECK(sd_listen_fd_find(fds, n, (struct sockaddr *)&un,
                           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(un.sun_path))) == 1,
         "unix path matched whether or not the length counts the NUL");
  struct sockaddr_in other = in;
  other.sin_port = htons((uint16_t)(ntohs(in.sin_port) ^ 1));
  CCHECK(sd_listen_fd_find(fds, n, (struct sockaddr *)&other, sizeof other) == -1, "another port: not found");
  struct sockaddr_in any = in;
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  CCHECK(sd_listen_fd_find(fds, n, (struct sockaddr *)&any, sizeof any) == -1,
         "0.0.0.0 with the same port is another address");
  struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = in.sin_port, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  CCHECK(sd_listen_fd_find(fds, n, (struct sockaddr *)&v6, sizeof v6) == -1, "another family: not found");

  /* fewer slots than fds */
  setpid_env((long)getpid(), "2");
  int one[1] = {-1};
  CCHECK(sd_listen_fds_get(one, 1) == 2 && one[0] == 3, "max 1: returns 2, stores fd 3 only");
  /* another process's fds */
  setpid_env((long)getpid() + 1, "2");
  CCHECK(sd_listen_fds_get(fds, 8) == 0 && !getenv("LISTEN_FDS"), "LISTEN_PID of another process: 0, env unset");
  setpid_env((long)getpid(), "two");
  CCHECK(sd_listen_fds_get(fds, 8) == -EINVAL, "LISTEN_FDS not a number: -EINVAL");
  setpid_env((long)getpid(), "-1");
  CCHECK(sd_listen_fds_get(fds, 8) == -EINVAL, "negative LISTEN_FDS: -EINVAL");
  setenv("LISTEN_PID", " 1", 1);
  setenv("LISTEN_FDS", "1", 1);
  CCHECK(sd_listen_fds_get(fds, 8) == -EINVAL, "LISTEN_PID with a space: -EINVAL");
  setpid_env((long)getpid(), "0");
  CCHECK(sd_listen_fds_get(fds, 8) == 0, "LISTEN_FDS=0: 0");
  setpid_env((long)getpid(), "3");
  CCHECK(sd_listen_fds_get(fds, 8) == -EBADF, "LISTEN_FDS=3 with fd 5 closed: -EBADF");

  /* not a socket, not listening */
  int p[2];
  if (pipe(p) == 0) {
    CCHECK(sd_listen_fd_matches(p[0], (struct sockaddr *)&in, sizeof in) == -ENOTSOCK, "a pipe: -ENOTSOCK");
    close(p[0]);
    close(p[1]);
  }
  int b = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in bound = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  bind(b, (struct sockaddr *)&bound, sizeof bound);
  l = sizeof bound;
  getsockname(b, (struct sockaddr *)&bound, &l);
  CCHECK(sd_listen_fd_matches(b, (struct sockaddr *)&bound, sizeof bound) == 0,
         "bound but not listening: no match");
  close(b);
  int d = socket(AF_INET, SOCK_DGRAM, 0);
  bind(d, (struct sockaddr *)&bound, sizeof bound);
  CCHECK(sd_listen_fd_matches(d, (struct sockaddr *)&bound, sizeof bound) == 0, "a datagram socket: no match");
  close(d);

  /* IPv6 (scope and address compared) when the host has ::1 */
  int s6 = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  if (s6 >= 0 && bind(s6, (struct sockaddr *)&a6, sizeof a6) == 0 && listen(s6, 8) == 0) {
    l = sizeof a6;
    getsockname(s6, (struct sockaddr *)&a6, &l);
    CCHECK(sd_listen_fd_matches(s6, (struct sockaddr *)&a6, sizeof a6) == 1, "[::1] listener matches");
    struct sockaddr_in6 w6 = a6;
    w6.sin6_addr = in6addr_any;
    CCHECK(sd_listen_fd_matches(s6, (struct sockaddr *)&w6, sizeof w6) == 0, "[::] is another address");
  } else {
    CCHECK(1, "[::1] listener matches # SKIP no IPv6 loopback here");
    CCHECK(1, "[::] is another address # SKIP no IPv6 loopback here");
  }
  if (s6 >= 0) close(s6);
  close(3);
  close(4);
  unlink(un.sun_path);
}

static void test_activation(void) {
  int p[2];
  if (pipe(p) != 0) {
    CHECK(0, "pipe");
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    report_fd = move_high(p[1], 100);
    activation_child();
    if (write(report_fd, "END\n", 4) != 4) _exit(3);
    _exit(0);
  }
  close(p[1]);
  FILE *f = fdopen(p[0], "r");
  char line[256];
  int ended = 0;
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    if (strcmp(line, "END") == 0) {
      ended = 1;
      continue;
    }
    tap_report(line[0] == '1', __FILE__, __LINE__, line + 2);
  }
  if (f) fclose(f);
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(ended, "the child ran to the end of its checks");
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child exited 0");
}

int main(void) {
  snprintf(dir, sizeof dir, "%s/gw-sdnotify-XXXXXX", "/tmp");
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_unset();
  test_path_socket();
  test_abstract_socket();
  test_invalid();
  test_activation();
  rmdir(dir);
  return TAP_DONE();
}
