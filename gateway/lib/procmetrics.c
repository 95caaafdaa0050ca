/* procmetrics: the standard Prometheus process_* families of this process,
 * read from /proc/self at render time. */
#include "metrics.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* A fixed buffer; what does not fit is cut (2 KiB is plenty). */
typedef struct {
  char *p;
  size_t len, cap;
} buf_t;

static void puts_(buf_t *b, const char *s) {
  size_t n = strlen(s);
  if (b->len + n + 1 > b->cap) return;
  memcpy(b->p + b->len, s, n + 1);
  b->len += n;
}

static void putf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(buf_t *b, const char *fmt, ...) {
  char tmp[128];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n > 0 && (size_t)n < sizeof tmp) puts_(b, tmp);
}

/* The standard process_* families, from /proc/self at render time; a value
 * that cannot be read is left out (its HELP and TYPE stay). */
size_t metrics_process_text(char *out, size_t cap) {
  buf_t bb = {out, 0, cap}, *b = &bb;
  out[0] = '\0';
  static const struct {
    const char *name, *type, *help;
  } fams[] = {
      {"process_cpu_seconds_total", "counter", "User and system CPU time spent, seconds."},
      {"process_open_fds", "gauge", "Open file descriptors."},
      {"process_max_fds", "gauge", "The limit on open file descriptors (RLIMIT_NOFILE soft)."},
      {"process_resident_memory_bytes", "gauge", "Resident memory size, bytes."},
      {"process_start_time_seconds", "gauge", "Start time of the process since the epoch, seconds."},
  };
  double val[5];
  int have[5] = {0};
  long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  FILE *f = fopen("/proc/self/stat", "r");
  char line[1024];
  if (f && tick > 0 && fgets(line, sizeof line, f)) {
    /* fields after the command, which ends at the last ')' */
    char *p = strrchr(line, ')');
    unsigned long long ut, st, start;
    long rss;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %*u %ld",
                    &ut, &st, &start, &rss) == 4) {
      val[0] = (double)(ut + st) / (double)tick;
      have[0] = 1;
      val[3] = (double)rss * (double)page;
      have[3] = page > 0;
      FILE *sf = fopen("/proc/stat", "r");
      char sl[256];
      while (sf && fgets(sl, sizeof sl, sf)) {
        unsigned long long btime;
        if (sscanf(sl, "btime %llu", &btime) == 1) {
          val[4] = (double)btime + (double)start / (double)tick;
          have[4] = 1;
          break;
        }
      }
      if (sf) fclose(sf);
    }
  }
  if (f) fclose(f);
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
      if (e->d_name[0] != '.') n++;
    closedir(d);
    val[1] = (double)(n - 1); /* the directory's own descriptor */
    have[1] = 1;
  }
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    val[2] = rl.rlim_cur == RLIM_INFINITY ? 1e18 : (double)rl.rlim_cur;
    have[2] = 1;
  }
  for (size_t i = 0; i < sizeof fams / sizeof *fams; i++) {
    puts_(b, "# HELP ");
    puts_(b, fams[i].name);
    puts_(b, " ");
    puts_(b, fams[i].help);
    puts_(b, "\n# TYPE ");
    puts_(b, fams[i].name);
    puts_(b, " ");
    puts_(b, fams[i].type);
    puts_(b, "\n");
    if (!have[i]) continue;
    puts_(b, fams[i].name);
    putf(b, " %.3f\n", val[i]);
  }
  return bb.len;
}
