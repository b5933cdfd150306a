// passthrough_bench: what a 1-byte read(2) costs, on a thread that is no fiber under the shim and
// on main, which is one. A plain C program with no weft header: bench/shim_bench.sh runs it
// natively and under weftrun and compares the two runs.
//
//   passthrough_bench [READS_PER_ROUND] [ROUNDS]      (defaults 200000, 11)
//
// The plain thread is made by a constructor: code before main runs before the shim starts its
// run, so pthread_create there makes a real thread, and every read it makes goes through the
// shim's hook to libc (the pass-through path: the only cost the shim adds to a program's plain
// threads). It waits for main before it measures, so the run's start-up does not overlap.
// main then measures the same reads itself: natively a plain thread, under weftrun a fiber
// whose reads go to io_uring.
//
// Two sources: /dev/zero (the cheapest read the kernel has, so the hook's share is largest) and
// a pipe the program made (an fd whose blocking mode the shim saw made, as a program's sockets
// and pipes are; /dev/zero comes from open(), which the shim does not see, so on a fiber it is
// asked with F_GETFL on every call).
//
// A read's cost is the CPU time the thread spends on it (CLOCK_THREAD_CPUTIME_ID), not the
// elapsed time: on a shared machine the elapsed time mostly measures who else runs, and no
// read here ever waits (the pipe always holds data). For main under the shim that clock is its
// carrier's, which runs only this fiber and completes these reads inline. The elapsed time is
// printed too. Each figure is the median over ROUNDS rounds of ns per read. The last line is
//   RESULT plain_zero_ns=A plain_pipe_ns=B main_zero_ns=C main_pipe_ns=D (CPU ns per read)
//          plain_zero_wall_ns=.. plain_pipe_wall_ns=.. main_zero_wall_ns=.. main_pipe_wall_ns=..
//          reads=N rounds=R
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "c_cli.h"
#include "c_timing.h"

static long reads_per_round = 200000;
static int rounds = 11;
static pthread_t plain_thread;
static int go_pipe[2];

// Cost is one source's median cost per read, in CPU and elapsed ns.
typedef struct {
  double cpu_ns;
  double wall_ns;
} Cost;

static Cost plain_zero;
static Cost plain_pipe;

static void die(const char* what) {
  perror(what);
  exit(1);
}

// read_ones() makes n 1-byte reads from fd and adds the CPU and elapsed ns they took to *cpu
// and *wall.
static void read_ones(int fd, long n, double* cpu, double* wall) {
  char c;
  double c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  double w0 = clock_ns(CLOCK_MONOTONIC);
  for (long i = 0; i < n; ++i) {
    if (read(fd, &c, 1) != 1) die("passthrough_bench: read");
  }
  *wall += clock_ns(CLOCK_MONOTONIC) - w0;
  *cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
}

// summarize() is the median cost per read over the rounds' totals.
static Cost summarize(double* cpu, double* wall) {
  for (int r = 0; r < rounds; ++r) {
    cpu[r] /= (double)reads_per_round;
    wall[r] /= (double)reads_per_round;
  }
  Cost c = {median(cpu, rounds), median(wall, rounds)};
  return c;
}

// zero_cost() is the cost of a 1-byte read from /dev/zero.
static Cost zero_cost(void) {
  int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("passthrough_bench: /dev/zero");
  double cpu[kMaxRounds] = {0};
  double wall[kMaxRounds] = {0};
  for (int r = 0; r < rounds; ++r) read_ones(fd, reads_per_round, &cpu[r], &wall[r]);
  close(fd);
  return summarize(cpu, wall);
}

// pipe_cost() is the cost of a 1-byte read from a pipe. The pipe is filled before each batch
// (untimed) and each batch reads only what is in it, so no read ever waits for a writer.
static Cost pipe_cost(void) {
  int p[2];
  if (pipe(p) != 0) die("passthrough_bench: pipe");
  // A bigger pipe means longer timed batches; 1 MiB is the unprivileged limit's default.
  fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  long cap = fcntl(p[1], F_GETPIPE_SZ);
  if (cap <= 0) die("passthrough_bench: F_GETPIPE_SZ");
  static char fill[1 << 16];
  double cpu[kMaxRounds] = {0};
  double wall[kMaxRounds] = {0};
  for (int r = 0; r < rounds; ++r) {
    for (long done = 0; done < reads_per_round;) {
      long batch = reads_per_round - done < cap ? reads_per_round - done : cap;
      for (long put = 0; put < batch;) {
        long chunk = batch - put < (long)sizeof fill ? batch - put : (long)sizeof fill;
        ssize_t w = write(p[1], fill, (size_t)chunk);
        if (w <= 0) die("passthrough_bench: write");
        put += w;
      }
      read_ones(p[0], batch, &cpu[r], &wall[r]);
      done += batch;
    }
  }
  close(p[0]);
  close(p[1]);
  return summarize(cpu, wall);
}

static void* plain_main(void* arg) {
  (void)arg;
  char c;
  if (read(go_pipe[0], &c, 1) != 1) die("passthrough_bench: waiting for main");
  plain_zero = zero_cost();
  plain_pipe = pipe_cost();
  return NULL;
}

__attribute__((constructor)) static void start_plain_thread(void) {
  if (pipe(go_pipe) != 0) die("passthrough_bench: pipe");
  if (pthread_create(&plain_thread, NULL, plain_main, NULL) != 0) {
    fprintf(stderr, "passthrough_bench: cannot start the plain thread\n");
    exit(1);
  }
}

int main(int argc, char** argv) {
  cli_start(argc, argv, "passthrough_bench",
            "usage: passthrough_bench [READS_PER_ROUND] [ROUNDS]\n"
            "  reads per round, and rounds (1..101), the median of which is reported\n",
            2);
  reads_per_round = cli_count(argc, argv, 1, "passthrough_bench", "READS_PER_ROUND",
                              reads_per_round, 1, LONG_MAX);
  rounds = (int)cli_count(argc, argv, 2, "passthrough_bench", "ROUNDS", rounds, 1, kMaxRounds);
  if (write(go_pipe[1], "g", 1) != 1) die("passthrough_bench: write");
  if (pthread_join(plain_thread, NULL) != 0) {
    fprintf(stderr, "passthrough_bench: cannot join the plain thread\n");
    return 1;
  }
  Cost main_zero = zero_cost();
  Cost main_pipe = pipe_cost();
  printf("passthrough_bench: ns per 1-byte read (CPU / elapsed), median of %d rounds of %ld\n",
         rounds, reads_per_round);
  printf("  plain thread (made by a constructor): /dev/zero %.1f / %.1f  pipe %.1f / %.1f\n",
         plain_zero.cpu_ns, plain_zero.wall_ns, plain_pipe.cpu_ns, plain_pipe.wall_ns);
  printf("  main thread:                          /dev/zero %.1f / %.1f  pipe %.1f / %.1f\n",
         main_zero.cpu_ns, main_zero.wall_ns, main_pipe.cpu_ns, main_pipe.wall_ns);
  printf(
      "RESULT plain_zero_ns=%.1f plain_pipe_ns=%.1f main_zero_ns=%.1f main_pipe_ns=%.1f "
      "plain_zero_wall_ns=%.1f plain_pipe_wall_ns=%.1f main_zero_wall_ns=%.1f "
      "main_pipe_wall_ns=%.1f reads=%ld rounds=%d\n",
      plain_zero.cpu_ns, plain_pipe.cpu_ns, main_zero.cpu_ns, main_pipe.cpu_ns, plain_zero.wall_ns,
      plain_pipe.wall_ns, main_zero.wall_ns, main_pipe.wall_ns, reads_per_round, rounds);
  return 0;
}
