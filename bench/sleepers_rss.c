// sleepers_rss: N threads with default attributes that each sleep S seconds, all at once. A
// plain C program with no weft header: bench/shim_bench.sh runs it natively and under weftrun
// and reads its peak RSS from outside (GNU time), so both are measured the same way.
//
//   sleepers_rss N SECONDS
//
// The sleep must outlast creating all N threads, or the first would be gone before the last
// exist and the peak would undercount; the program fails if creation took longer than the sleep.
// The last line is
//   RESULT threads=N sleep_s=S create_s=C total_s=T
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static unsigned sleep_s;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void* sleeper(void* arg) {
  (void)arg;
  sleep(sleep_s);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 3 || atoi(argv[1]) <= 0 || atoi(argv[2]) <= 0) {
    fprintf(stderr, "usage: sleepers_rss THREADS SECONDS\n");
    return 2;
  }
  int n = atoi(argv[1]);
  sleep_s = (unsigned)atoi(argv[2]);
  pthread_t* t = calloc((size_t)n, sizeof *t);
  if (t == NULL) return 1;
  double t0 = now_s();
  for (int i = 0; i < n; ++i) {
    if (pthread_create(&t[i], NULL, sleeper, NULL) != 0) {
      fprintf(stderr, "sleepers_rss: thread %d could not be created\n", i);
      return 1;
    }
  }
  double created = now_s() - t0;
  for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
  double total = now_s() - t0;
  printf("sleepers_rss: %d threads created in %.2f s, all done in %.2f s\n", n, created, total);
  printf("RESULT threads=%d sleep_s=%u create_s=%.2f total_s=%.2f\n", n, sleep_s, created, total);
  if (created >= (double)sleep_s) {
    fprintf(stderr, "sleepers_rss: creating the threads took longer than their sleep\n");
    return 1;
  }
  return 0;
}
