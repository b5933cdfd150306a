// sleepers: N threads that each sleep one second. Under weftrun (threads as fibers on one
// carrier) they must all finish in about a second, with little memory: prints the elapsed time
// and the peak RSS, and exits 1 if the run took longer than the bound given, or more memory.
// Usage: sleepers N MAX_SECONDS MAX_RSS_MIB
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void* sleeper(void* arg) {
  (void)arg;
  sleep(1);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  int n = atoi(argv[1]);
  double max_seconds = atof(argv[2]);
  long max_rss_mib = atol(argv[3]);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pthread_t* t = calloc((size_t)n, sizeof *t);
  for (int i = 0; i < n; ++i) {
    if (pthread_create(&t[i], NULL, sleeper, NULL) != 0) {
      fprintf(stderr, "sleepers: thread %d could not be created\n", i);
      return 1;
    }
  }
  for (int i = 0; i < n; ++i) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long rss_mib = ru.ru_maxrss / 1024;
  printf("sleepers: %d threads slept 1 s each in %.2f s, peak RSS %ld MiB\n", n, elapsed, rss_mib);
  return elapsed <= max_seconds && rss_mib <= max_rss_mib ? 0 : 1;
}
