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
// asked with F_GETFL on every call). Each figure is the median over ROUNDS rounds of ns per
// read. The last line is
//   RESULT plain_zero_ns=A plain_pipe_ns=B main_zero_ns=C main_pipe_ns=D reads=N rounds=R
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { kMaxRounds = 101 };

static long reads_per_round = 200000;
static int rounds = 11;
static pthread_t plain_thread;
static int go_pipe[2];
static double plain_zero_ns;
static double plain_pipe_ns;

static void die(const char* what) {
  perror(what);
  exit(1);
}

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a;
  double y = *(const double*)b;
  return (x > y) - (x < y);
}

static double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// read_ones() makes n 1-byte reads from fd and returns ns per read.
static double read_ones(int fd, long n) {
  char c;
  double t0 = now_ns();
  for (long i = 0; i < n; ++i) {
    if (read(fd, &c, 1) != 1) die("passthrough_bench: read");
  }
  return (now_ns() - t0) / (double)n;
}

// zero_ns() is the median ns per 1-byte read from /dev/zero.
static double zero_ns(void) {
  int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("passthrough_bench: /dev/zero");
  double per[kMaxRounds];
  for (int r = 0; r < rounds; ++r) per[r] = read_ones(fd, reads_per_round);
  close(fd);
  return median(per, rounds);
}

// pipe_ns() is the median ns per 1-byte read from a pipe. The pipe is filled before each batch
// (untimed) and each batch reads only what is in it, so no read ever waits for a writer.
static double pipe_ns(void) {
  int p[2];
  if (pipe(p) != 0) die("passthrough_bench: pipe");
  // A bigger pipe means longer timed batches; 1 MiB is the unprivileged limit's default.
  fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  long cap = fcntl(p[1], F_GETPIPE_SZ);
  if (cap <= 0) die("passthrough_bench: F_GETPIPE_SZ");
  static char fill[1 << 16];
  double per[kMaxRounds];
  for (int r = 0; r < rounds; ++r) {
    double total = 0;
    for (long done = 0; done < reads_per_round;) {
      long batch = reads_per_round - done < cap ? reads_per_round - done : cap;
      for (long put = 0; put < batch;) {
        long chunk = batch - put < (long)sizeof fill ? batch - put : (long)sizeof fill;
        ssize_t w = write(p[1], fill, (size_t)chunk);
        if (w <= 0) die("passthrough_bench: write");
        put += w;
      }
      total += read_ones(p[0], batch) * (double)batch;
      done += batch;
    }
    per[r] = total / (double)reads_per_round;
  }
  close(p[0]);
  close(p[1]);
  return median(per, rounds);
}

static void* plain_main(void* arg) {
  (void)arg;
  char c;
  if (read(go_pipe[0], &c, 1) != 1) die("passthrough_bench: waiting for main");
  plain_zero_ns = zero_ns();
  plain_pipe_ns = pipe_ns();
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
  if (argc > 1) reads_per_round = atol(argv[1]);
  if (argc > 2) rounds = atoi(argv[2]);
  if (argc > 3 || reads_per_round <= 0 || rounds <= 0 || rounds > kMaxRounds) {
    fprintf(stderr, "usage: passthrough_bench [READS_PER_ROUND] [ROUNDS (1..%d)]\n", kMaxRounds);
    return 2;
  }
  if (write(go_pipe[1], "g", 1) != 1) die("passthrough_bench: write");
  if (pthread_join(plain_thread, NULL) != 0) {
    fprintf(stderr, "passthrough_bench: cannot join the plain thread\n");
    return 1;
  }
  double main_zero_ns = zero_ns();
  double main_pipe_ns = pipe_ns();
  printf("passthrough_bench: ns per 1-byte read, median of %d rounds of %ld reads\n", rounds,
         reads_per_round);
  printf("  plain thread (made by a constructor): /dev/zero %.1f  pipe %.1f\n", plain_zero_ns,
         plain_pipe_ns);
  printf("  main thread:                          /dev/zero %.1f  pipe %.1f\n", main_zero_ns,
         main_pipe_ns);
  printf(
      "RESULT plain_zero_ns=%.1f plain_pipe_ns=%.1f main_zero_ns=%.1f main_pipe_ns=%.1f "
      "reads=%ld rounds=%d\n",
      plain_zero_ns, plain_pipe_ns, main_zero_ns, main_pipe_ns, reads_per_round, rounds);
  return 0;
}
