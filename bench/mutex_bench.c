// mutex_bench: what an uncontended pthread_mutex_lock/unlock pair costs, on a thread that is no
// fiber under the shim and on main, which is one. A plain C program with no weft header, run
// natively and under weftrun (bench/README.md): real programs take such locks on every
// allocation (jemalloc) or container access, so the hooks' fast path matters as much as
// read's pass-through.
//
//   mutex_bench [PAIRS_PER_ROUND] [ROUNDS]      (defaults 2000000, 11)
//
// As in passthrough_bench.c, the plain thread is made by a constructor, so under the shim it is
// a real thread, and the cost is the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), the median
// over ROUNDS rounds of ns per pair. The last line is
//   RESULT plain_pair_ns=A main_pair_ns=B pairs=N rounds=R
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

static long pairs_per_round = 2000000;
static int rounds = 11;
static pthread_t plain_thread;
static int go_pipe[2];
static double plain_ns;
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;

static void die(const char* what) {
  perror(what);
  exit(1);
}

// pair_cost() is the median CPU ns of one lock/unlock pair over the rounds.
static double pair_cost(void) {
  double ns[kMaxRounds];
  for (int r = 0; r < rounds; ++r) {
    double t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < pairs_per_round; ++i) {
      if (pthread_mutex_lock(&g_mutex) != 0) die("mutex_bench: lock");
      __asm__ volatile("" ::: "memory");
      if (pthread_mutex_unlock(&g_mutex) != 0) die("mutex_bench: unlock");
    }
    ns[r] = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)pairs_per_round;
  }
  return median(ns, rounds);
}

static void* plain_main(void* arg) {
  (void)arg;
  char c;
  if (read(go_pipe[0], &c, 1) != 1) die("mutex_bench: go");
  plain_ns = pair_cost();
  return NULL;
}

__attribute__((constructor)) static void start_plain_thread(void) {
  if (pipe(go_pipe) != 0) die("mutex_bench: pipe");
  if (pthread_create(&plain_thread, NULL, plain_main, NULL) != 0) die("mutex_bench: thread");
}

int main(int argc, char** argv) {
  cli_start(argc, argv, "mutex_bench",
            "usage: mutex_bench [PAIRS_PER_ROUND] [ROUNDS]\n"
            "  lock/unlock pairs per round, and rounds (1..101), the median of which is reported\n",
            2);
  pairs_per_round =
      cli_count(argc, argv, 1, "mutex_bench", "PAIRS_PER_ROUND", pairs_per_round, 1, LONG_MAX);
  rounds = (int)cli_count(argc, argv, 2, "mutex_bench", "ROUNDS", rounds, 1, kMaxRounds);
  // The plain thread measures first, alone, then main.
  if (write(go_pipe[1], "g", 1) != 1) die("mutex_bench: go");
  if (pthread_join(plain_thread, NULL) != 0) die("mutex_bench: join");
  double main_ns = pair_cost();
  printf("plain thread: %.2f ns per lock/unlock pair\n", plain_ns);
  printf("main:         %.2f ns per lock/unlock pair\n", main_ns);
  printf("RESULT plain_pair_ns=%.2f main_pair_ns=%.2f pairs=%ld rounds=%d\n", plain_ns, main_ns,
         pairs_per_round, rounds);
  return 0;
}
