// thread_spawn_bench: what pthread_create + pthread_join of a thread that does nothing costs. A
// plain C program with no weft header: bench/shim_bench.sh runs it natively, under weftrun (each
// thread a fiber with a glibc thread of its own, issue #13) and under weftrun --shared-tls (each
// thread a fiber on its carrier's TLS), and compares the runs.
//
//   thread_spawn_bench [THREADS_PER_ROUND] [ROUNDS]      (defaults 5000, 7)
//
// main creates a thread with default attributes, joins it, and repeats: one thread at a time,
// so a thread's whole life is the critical path. Each figure is the median over ROUNDS rounds:
//   spawn_join_ns      elapsed ns per create+join (CLOCK_MONOTONIC)
//   spawn_join_cpu_ns  the process's CPU ns per create+join (CLOCK_PROCESS_CPUTIME_ID): natively
//                      the creating and the new thread both work, on two CPUs; under weftrun
//                      --carriers 1 one carrier does it all. Steadier than elapsed time on a
//                      loaded machine.
// and own_tls says whether every thread had thread-local storage of its own: 1 when the
// address of a __thread variable differed from main's in each of them (natively, and under
// weftrun with per-thread TLS), 0 when it was main's in some (weftrun --shared-tls on one
// carrier, or a runtime that fell back to shared TLS). The last line is
//   RESULT spawn_join_ns=A spawn_join_cpu_ns=B own_tls=T threads=N rounds=R
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "c_cli.h"
#include "c_timing.h"

static __thread int tls_probe;

static void* where_is_my_tls(void* arg) {
  (void)arg;
  return &tls_probe;
}

int main(int argc, char** argv) {
  cli_start(argc, argv, "thread_spawn_bench",
            "usage: thread_spawn_bench [THREADS_PER_ROUND] [ROUNDS]\n"
            "  threads per round (default 5000), and rounds (1..101, default 7)\n",
            2);
  long threads =
      cli_count(argc, argv, 1, "thread_spawn_bench", "THREADS_PER_ROUND", 5000, 1, LONG_MAX);
  int rounds = (int)cli_count(argc, argv, 2, "thread_spawn_bench", "ROUNDS", 7, 1, kMaxRounds);
  double wall[kMaxRounds];
  double cpu[kMaxRounds];
  int own_tls = 1;
  // One untimed round first: stacks cached, pages touched, as in every later round.
  for (int r = -1; r < rounds; ++r) {
    double w0 = clock_ns(CLOCK_MONOTONIC);
    double c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (long i = 0; i < threads; ++i) {
      pthread_t t;
      void* its;
      if (pthread_create(&t, NULL, where_is_my_tls, NULL) != 0 || pthread_join(t, &its) != 0) {
        fprintf(stderr, "thread_spawn_bench: thread %ld of round %d failed\n", i, r);
        return 1;
      }
      if (its == &tls_probe) own_tls = 0;
    }
    if (r < 0) continue;
    cpu[r] = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)threads;
    wall[r] = (clock_ns(CLOCK_MONOTONIC) - w0) / (double)threads;
  }
  double w = median(wall, rounds);
  double c = median(cpu, rounds);
  printf(
      "thread_spawn_bench: median of %d rounds of %ld threads: %.1f ns per create+join, "
      "%.1f CPU ns; own TLS: %s\n",
      rounds, threads, w, c, own_tls ? "yes" : "no");
  printf("RESULT spawn_join_ns=%.1f spawn_join_cpu_ns=%.1f own_tls=%d threads=%ld rounds=%d\n", w,
         c, own_tls, threads, rounds);
  return 0;
}
