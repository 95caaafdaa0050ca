/* Unit tests of the log rings: a write to a pipe nobody reads returns at
 * once, whole lines only are kept, the rest are counted as dropped; the
 * writer delivers everything kept once the pipe is read; and a rate limiter
 * lets a burst through and sums the rest up in one line. */
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "logring.h"
#include "tap.h"

static long elapsed_ms(const struct timespec *t0) {
  struct timespec t1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

int main(void) {
  int p[2];
  CHECK(pipe(p) == 0, "pipe");
  fcntl(p[0], F_SETFL, O_NONBLOCK);
  CHECK_INT(logring_start(p[1]), 0, "writers start");

  /* 100-byte lines: the pipe (64 KB) and the ring (256 KB) hold ~3,200. */
  char line[100];
  memset(line, 'a', sizeof line - 1);
  line[sizeof line - 1] = '\n';
  struct timespec t0;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t lost = 0;
  for (int i = 0; i < 10000; i++) lost += logring_write(GW_LOGRING_ACCESS, p[1], line, sizeof line);
  CHECK(elapsed_ms(&t0) < 5000, "10,000 writes to an unread pipe return at once");
  CHECK(lost > 5000, "what does not fit is dropped");
  CHECK_INT((long)logring_dropped(GW_LOGRING_ACCESS), (long)lost, "and counted");

  /* A buffer of several lines that half fits keeps its first whole lines. */
  char two[150];
  memset(two, 'b', sizeof two);
  two[74] = '\n';
  two[149] = '\n';
  CHECK_INT((long)logring_write(GW_LOGRING_ACCESS, p[1], two, sizeof two), 2, "no room: both lines dropped");

  /* Read everything: only whole lines arrive, and all the kept ones. */
  size_t got = 0, nl = 0;
  int whole = 1;
  char buf[65536];
  clock_gettime(CLOCK_MONOTONIC, &t0);
  size_t want = (10000 - lost) * sizeof line;
  while (got < want && elapsed_ms(&t0) < 10000) {
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n <= 0) {
      usleep(1000);
      continue;
    }
    for (ssize_t i = 0; i < n; i++) {
      if (buf[i] == '\n') nl++;
      else if (buf[i] != 'a') whole = 0;
    }
    got += (size_t)n;
  }
  CHECK_INT((long)got, (long)want, "every kept byte is written once the pipe is read");
  CHECK_INT((long)nl, (long)(10000 - lost), "as whole lines");
  CHECK(whole, "nothing but the lines");

  /* Rate limiter: a burst passes, the rest is counted. */
  static gw_logrl_t rl = GW_LOGRL("test repeats");
  int passed = 0;
  for (int i = 0; i < 1000; i++) passed += logrl_allow(&rl);
  CHECK_INT(passed, GW_LOGRL_BURST, "a burst per window");
  CHECK_INT((long)rl.suppressed, 1000 - GW_LOGRL_BURST, "the rest counted for the summary");
  logrl_tick();
  CHECK_INT((long)rl.suppressed, 1000 - GW_LOGRL_BURST, "no summary before the window ends");
  rl.window_end_ms = 0; /* the window is over */
  logrl_tick();
  CHECK_INT((long)rl.suppressed, 0, "the summary took the count");

  logring_stop(2000);
  /* After stop, writes are synchronous again. */
  CHECK_INT((long)logring_write(GW_LOGRING_ACCESS, p[1], line, sizeof line), 0, "synchronous after stop");
  ssize_t n = read(p[0], buf, sizeof buf);
  CHECK_INT((long)n, (long)sizeof line, "and written at once");
  close(p[0]);
  close(p[1]);
  return TAP_DONE();
}
