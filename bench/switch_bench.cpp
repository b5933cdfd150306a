// switch_bench: the cost of one fiber switch in weft against a bare Boost.Context switch.
//
//   switch_bench [SWITCHES]     (default 2,000,000 per repetition)
//
// A "switch" is one transfer of control from one fiber to another, counted the same way on
// both sides:
// - weft: two fibers each call this_fiber::yield() in a loop inside weft::run(); with only the
//   two of them ready, every yield hands control to the other one, so yields == switches. This
//   is the whole scheduler path (run queue, reactor check, canary check), which is the point.
// - raw: main and one boost::context::fiber resume each other; every resume is one switch.
// The ratio weft/raw says what the scheduler adds on top of the bare register swap; the target
// is at most 3x.

#include <boost/context/fiber.hpp>

#include <cstdint>
#include <cstdio>
#include <vector>

#include <weft/weft.hpp>

#include "micro_timing.hpp"

namespace {

namespace ctx = boost::context;

constexpr double kTargetRatio = 3.0;

// raw_ns_per_switch() times `switches` switches between main and one Boost.Context fiber.
double raw_ns_per_switch(std::uint64_t switches) {
  std::uint64_t round_trips = switches / 2;
  ctx::fiber f{[round_trips](ctx::fiber&& main) {
    for (std::uint64_t i = 0; i < round_trips; ++i) main = std::move(main).resume();
    return std::move(main);
  }};
  std::int64_t t0 = bench::now_ns();
  // round_trips + 1 resumes: the first enters the fiber, the last lets it return.
  for (std::uint64_t i = 0; i <= round_trips; ++i) f = std::move(f).resume();
  std::int64_t t1 = bench::now_ns();
  return double(t1 - t0) / double(2 * (round_trips + 1));
}

struct WeftSample {
  double ns_per_switch;
  double runtime_switches_per_yield;
};

// weft_ns_per_switch() times `switches` yields shared by two fibers; runs on a weft fiber.
WeftSample weft_ns_per_switch(std::uint64_t switches) {
  std::uint64_t per_fiber = switches / 2;
  auto body = [per_fiber] {
    for (std::uint64_t i = 0; i < per_fiber; ++i) weft::this_fiber::yield();
  };
  std::uint64_t s0 = weft::stats().switches;
  std::int64_t t0 = bench::now_ns();
  auto a = weft::spawn(body);
  auto b = weft::spawn(body);
  a.join();
  b.join();
  std::int64_t t1 = bench::now_ns();
  std::uint64_t s1 = weft::stats().switches;
  return {double(t1 - t0) / double(2 * per_fiber), double(s1 - s0) / double(2 * per_fiber)};
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t switches = bench::arg_or(argc, argv, 1, 2'000'000);

  std::vector<double> raw;
  raw_ns_per_switch(switches / 10);  // Warm-up: stack pages, caches, CPU frequency.
  for (int r = 0; r < bench::kReps; ++r) raw.push_back(raw_ns_per_switch(switches));

  std::vector<double> weft_ns;
  std::vector<double> per_yield;
  // One carrier: both references are single-threaded.
  weft::Config one;
  one.carriers = 1;
  weft::run(one, [&] {
    weft_ns_per_switch(switches / 10);
    for (int r = 0; r < bench::kReps; ++r) {
      WeftSample s = weft_ns_per_switch(switches);
      weft_ns.push_back(s.ns_per_switch);
      per_yield.push_back(s.runtime_switches_per_yield);
    }
  });

  double raw_med = bench::median(raw);
  double weft_med = bench::median(weft_ns);
  double ratio = weft_med / raw_med;
  bool met = ratio <= kTargetRatio;
  std::printf("| switch (median of %d x %llu switches) | ns/switch |\n", bench::kReps,
              static_cast<unsigned long long>(switches));
  std::printf("|---|---|\n");
  std::printf("| weft yield ping-pong (2 fibers) | %.1f |\n", weft_med);
  std::printf("| raw boost::context::fiber resume ping-pong | %.1f |\n", raw_med);
  std::printf("| ratio weft/raw (target <= %.0fx) | %.2fx %s |\n", kTargetRatio, ratio,
              met ? "met" : "NOT met");
  std::printf("(weft made %.2f context switches per yield, per weft::stats())\n",
              bench::median(per_yield));
  std::printf("RESULT name=switch weft_ns=%.1f raw_ns=%.1f ratio=%.2f target=%.1f met=%d\n",
              weft_med, raw_med, ratio, kTargetRatio, met ? 1 : 0);
  return 0;
}
