// sleepers_rss: N threads with default attributes, all asleep at once. A plain C program with
// no weft header: bench/shim_bench.sh runs it natively and under weftrun and reads its peak RSS
// from outside (GNU time), so both are measured the same way.
//
//   sleepers_rss N
//
// Each thread counts itself and calls sleep() for an hour. main waits until all N have counted
// themselves, gives the last ones a moment to be inside sleep(), then exits, which ends the
// sleepers (natively and under the shim alike). A fixed sleep would race the creation of the
// threads on a busy machine: the first would be gone before the last exist.
//
// It also measures itself: VmRSS (/proc/self/status) before the first thread and once all are
// asleep, the difference per thread being what one parked thread costs (its stack's touched
// pages, its TLS block and thread control block, the runtime's records), and glibc's static TLS
// size, what every thread's TLS block holds (_dl_get_tls_static_info, found with dlvsym: every
// module's static TLS, the surplus kept for dlopen()ed modules, and struct pthread; under weftrun
// the shim's own libraries are among the modules). The last line is
//   RESULT threads=N create_s=C rss_before_kib=A rss_asleep_kib=B kib_per_thread=K
//          static_tls_bytes=S static_tls_align=L     (S and L "-" where glibc has no such symbol)
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "c_cli.h"

static atomic_int asleep;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

// rss_kib() is VmRSS from /proc/self/status, or -1.
static long rss_kib(void) {
  FILE* f = fopen("/proc/self/status", "r");
  if (f == NULL) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "VmRSS:", 6) == 0) {
      kib = atol(line + 6);
      break;
    }
  }
  fclose(f);
  return kib;
}

// static_tls() prints glibc's static TLS size and alignment into buf, or "-" for each.
static void static_tls(char* buf, size_t len) {
  void (*info)(size_t*, size_t*) = NULL;
  void* sym = dlvsym(RTLD_DEFAULT, "_dl_get_tls_static_info", "GLIBC_PRIVATE");
  memcpy(&info, &sym, sizeof info);
  if (info == NULL) {
    snprintf(buf, len, "static_tls_bytes=- static_tls_align=-");
    return;
  }
  size_t size = 0;
  size_t align = 0;
  info(&size, &align);
  snprintf(buf, len, "static_tls_bytes=%zu static_tls_align=%zu", size, align);
}

static void* sleeper(void* arg) {
  (void)arg;
  atomic_fetch_add(&asleep, 1);
  sleep(3600);
  return NULL;
}

int main(int argc, char** argv) {
  const char* usage = "usage: sleepers_rss THREADS\n  threads that each sleep, then the RSS\n";
  cli_start(argc, argv, "sleepers_rss", usage, 1);
  if (argc != 2) {
    fprintf(stderr, "sleepers_rss: THREADS is required\n%s", usage);
    return 2;
  }
  int n = (int)cli_count(argc, argv, 1, "sleepers_rss", "THREADS", 0, 1, 1 << 20);
  long before = rss_kib();
  double t0 = now_s();
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, NULL) != 0) {
      fprintf(stderr, "sleepers_rss: thread %d could not be created\n", i);
      return 1;
    }
  }
  double created = now_s() - t0;
  // usleep, not a spin: under the shim main is a fiber and must yield for the sleepers to run.
  while (atomic_load(&asleep) < n) usleep(10 * 1000);
  usleep(200 * 1000);
  long asleep_kib = rss_kib();
  char tls[96];
  static_tls(tls, sizeof tls);
  printf(
      "sleepers_rss: %d threads created in %.2f s, all asleep after %.2f s; VmRSS %ld KiB "
      "before, %ld KiB asleep, %.2f KiB per thread; %s\n",
      n, created, now_s() - t0, before, asleep_kib, (double)(asleep_kib - before) / n, tls);
  printf(
      "RESULT threads=%d create_s=%.2f rss_before_kib=%ld rss_asleep_kib=%ld "
      "kib_per_thread=%.2f %s\n",
      n, created, before, asleep_kib, (double)(asleep_kib - before) / n, tls);
  return 0;
}
