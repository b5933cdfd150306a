// Timing helpers the micro benchmarks share: a monotonic clock in ns and the median of runs.
//
// Each micro benchmark repeats its measurement and reports the median: on a shared 2-core
// machine one repetition can lose its CPU for milliseconds, and the median ignores that run
// where a mean would not.
#pragma once

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

// median() returns the median of the values (the mean of the middle two for an even count).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// arg_or() parses argv[i] as a positive integer, or returns fallback when it is absent.
inline std::uint64_t arg_or(int argc, char** argv, int i, std::uint64_t fallback) {
  if (argc <= i) return fallback;
  char* end = nullptr;
  unsigned long long v = std::strtoull(argv[i], &end, 10);
  return (*argv[i] != '\0' && *end == '\0' && v > 0) ? v : fallback;
}

// kReps is how many times each measurement is repeated.
inline constexpr int kReps = 7;

}  // namespace bench
