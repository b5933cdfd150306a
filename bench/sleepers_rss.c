// sleepers_rss: N threads with default attributes, all asleep at once. A plain C program with
// no weft header: bench/shim_bench.sh runs it natively and under weftrun and reads its peak RSS
// from outside (GNU time), so both are measured the same way.
//
//   sleepers_rss N
//
// Each thread counts itself and calls sleep() for an hour. main waits until all N have counted
// themselves, gives the last ones a moment to be inside sleep(), then exits, which ends the
// sleepers (natively and under the shim alike). A fixed sleep would race the creation of the
// threads on a busy machine: the first would be gone before the last exist. The last line is
//   RESULT threads=N create_s=C
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static atomic_int asleep;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void* sleeper(void* arg) {
  (void)arg;
  atomic_fetch_add(&asleep, 1);
  sleep(3600);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2 || atoi(argv[1]) <= 0) {
    fprintf(stderr, "usage: sleepers_rss THREADS\n");
    return 2;
  }
  int n = atoi(argv[1]);
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
  printf("sleepers_rss: %d threads created in %.2f s, all asleep after %.2f s\n", n, created,
         now_s() - t0);
  printf("RESULT threads=%d create_s=%.2f\n", n, created);
  return 0;
}
