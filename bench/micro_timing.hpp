// Timing helpers the micro benchmarks share: a monotonic clock and the calling thread's CPU clock
// in ns, and the median of runs.
//
// Each micro benchmark repeats its measurement and reports the median: on a shared 2-core
// machine one repetition can lose its CPU for milliseconds, and the median ignores that run
// where a mean would not. Where a figure is a difference of a few ns between two ways of doing
// the same work on one thread, the thread's CPU time is the steadier clock: a loaded machine
// takes the CPU away for whole time slices, which elapsed time counts and CPU time does not.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <vector>

namespace bench {

// now_ns() reads the steady clock in nanoseconds.
inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// cpu_ns() reads the calling thread's CPU time in nanoseconds (on a fiber: its carrier's).
inline std::int64_t cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// median() returns the median of the values (the mean of the middle two for an even count).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Sample is one repetition's cost per operation, elapsed and in the calling thread's CPU time.
struct Sample {
  double wall_ns = 0;
  double cpu_ns = 0;
};

// Stopwatch reads both clocks when it is made; per() is the cost of each of n operations since.
struct Stopwatch {
  std::int64_t wall0 = now_ns();
  std::int64_t cpu0 = cpu_ns();
  // per() is the elapsed and CPU ns since the start, divided by n.
  Sample per(double n) const { return {double(now_ns() - wall0) / n, double(cpu_ns() - cpu0) / n}; }
};

// Samples collects repetitions and gives their medians.
struct Samples {
  std::vector<double> wall;
  std::vector<double> cpu;
  // add() records one repetition.
  void add(Sample s) {
    wall.push_back(s.wall_ns);
    cpu.push_back(s.cpu_ns);
  }
  // wall_median() is the median elapsed ns.
  double wall_median() const { return median(wall); }
  // cpu_median() is the median CPU ns.
  double cpu_median() const { return median(cpu); }
};

// kReps is how many times each measurement is repeated.
inline constexpr int kReps = 7;

}  // namespace bench
