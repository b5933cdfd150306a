// syscall_bench: what syscall(3) costs a program under the shim, which interposes it. A plain C
// program with no weft header: bench/shim_bench.sh runs it natively and under weftrun and
// compares the two runs.
//
//   syscall_bench [CALLS_PER_ROUND] [ROUNDS]      (defaults 200000, 11)
//
// On main (under the shim a fiber, natively a plain thread), median over ROUNDS rounds:
//   libc_getppid   getppid() through libc, which the shim does not touch: the kernel's cost
//   syscall_getppid   syscall(SYS_getppid): a number the shim passes straight to the kernel,
//                  so the difference to libc_getppid is the hook's pass-through cost
//   futex_wake     syscall(SYS_futex, FUTEX_WAKE_PRIVATE) with nobody waiting: under the shim
//                  the emulation's bucket, then the kernel's wake for plain threads
// as CPU ns per call (CLOCK_THREAD_CPUTIME_ID; under the shim main's carrier runs nothing else
// meanwhile), and
//   pingpong       two threads handing a turn back and forth through a futex word (wait and
//                  wake, Rust's and libstdc++'s way), elapsed ns per round trip: natively two OS
//                  threads, under weftrun --carriers 1 two fibers of one carrier.
// The last line is
//   RESULT libc_getppid_ns=A syscall_getppid_ns=B futex_wake_ns=C pingpong_ns=D calls=N rounds=R
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "c_cli.h"
#include "c_timing.h"

static long calls = 200000;
static int rounds = 11;

static atomic_uint idle_word;

// per_call() is the median CPU ns of one call of kind (0 getppid, 1 syscall(SYS_getppid),
// 2 a futex wake nobody waits for).
static double per_call(int kind) {
  double ns[kMaxRounds];
  for (int r = 0; r < rounds; r++) {
    double t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < calls; i++) {
      long v;
      if (kind == 0) {
        v = getppid();
      } else if (kind == 1) {
        v = syscall(SYS_getppid);
      } else {
        v = syscall(SYS_futex, &idle_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
      }
      if (v < 0) {
        perror("syscall_bench");
        exit(1);
      }
    }
    ns[r] = (clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0) / (double)calls;
    // Under the shim, a switch between rounds (a sleep: a yield with nothing else to run does
    // not switch): the stall watchdog would otherwise take main for a stuck fiber and start a
    // spare carrier, where the ping-pong's second thread could land.
    usleep(1);
  }
  return median(ns, rounds);
}

static atomic_uint turn;
static long trips;

// pass_turn() waits until the turn is odd-or-even (me), then hands it over, trips times.
static void pass_turn(unsigned me) {
  for (long i = 0; i < trips; i++) {
    unsigned t;
    while ((t = atomic_load(&turn)) % 2 != me) {
      syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, t, NULL, NULL, 0);
    }
    atomic_fetch_add(&turn, 1);
    syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  }
}

static void* other_player(void* arg) {
  (void)arg;
  pass_turn(1);
  return NULL;
}

// pingpong() is the median elapsed ns per round trip (two hand-overs).
static double pingpong(void) {
  double ns[kMaxRounds];
  trips = calls / 10 > 0 ? calls / 10 : 1;
  for (int r = 0; r < rounds; r++) {
    atomic_store(&turn, 0);
    pthread_t t;
    double t0 = clock_ns(CLOCK_MONOTONIC);
    if (pthread_create(&t, NULL, other_player, NULL) != 0) {
      fprintf(stderr, "syscall_bench: cannot start a thread\n");
      exit(1);
    }
    pass_turn(0);
    pthread_join(t, NULL);
    ns[r] = (clock_ns(CLOCK_MONOTONIC) - t0) / (double)trips;
  }
  return median(ns, rounds);
}

int main(int argc, char** argv) {
  cli_start(argc, argv, "syscall_bench",
            "usage: syscall_bench [CALLS_PER_ROUND] [ROUNDS]\n"
            "  calls per round, and rounds (1..101), the median of which is reported\n",
            2);
  calls = cli_count(argc, argv, 1, "syscall_bench", "CALLS_PER_ROUND", calls, 1, LONG_MAX);
  rounds = (int)cli_count(argc, argv, 2, "syscall_bench", "ROUNDS", rounds, 1, kMaxRounds);
  double libc_ns = per_call(0);
  double sys_ns = per_call(1);
  double wake_ns = per_call(2);
  double pp_ns = pingpong();
  printf("syscall_bench: median of %d rounds of %ld calls\n", rounds, calls);
  printf("  getppid() through libc:            %.1f CPU ns\n", libc_ns);
  printf("  syscall(SYS_getppid):              %.1f CPU ns\n", sys_ns);
  printf("  futex wake, nobody waiting:        %.1f CPU ns\n", wake_ns);
  printf("  futex ping-pong between 2 threads: %.1f ns per round trip\n", pp_ns);
  printf(
      "RESULT libc_getppid_ns=%.1f syscall_getppid_ns=%.1f futex_wake_ns=%.1f pingpong_ns=%.1f "
      "calls=%ld rounds=%d\n",
      libc_ns, sys_ns, wake_ns, pp_ns, calls, rounds);
  return 0;
}
