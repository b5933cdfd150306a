// Timing helpers the plain C benchmarks share (the C++ ones have micro_timing.hpp): a clock in
// ns and the median of rounds.
//
// The C programs are unmodified-program stand-ins that shim_bench.sh and syscall_bench.sh run
// natively and under weftrun; each repeats its measurement in rounds and reports the median, which
// ignores a round that lost its CPU on a shared machine where a mean would not.
#ifndef WEFT_BENCH_C_TIMING_H
#define WEFT_BENCH_C_TIMING_H

#include <stdlib.h>
#include <time.h>

// kMaxRounds is the most rounds a program keeps figures for.
enum { kMaxRounds = 101 };

// clock_ns() reads a clock (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID...) in nanoseconds.
static inline double clock_ns(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

// cmp_double() orders doubles for qsort.
static inline int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a;
  double y = *(const double*)b;
  return (x > y) - (x < y);
}

// median() sorts v[0..n) and returns its median (the mean of the middle two for an even n).
static inline double median(double* v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
