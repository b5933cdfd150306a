// Scale: 100,000 fibers alive at once, yielding, sleeping and joining, in bounded time.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;

// ThreadSanitizer tracks each fiber as a thread: it dies past 8128 live ones ("Thread limit
// exceeded") and keeps about 850 KiB for each. So under TSan these run at a scale it can follow;
// the other builds run them in full.
#if defined(__SANITIZE_THREAD__)
constexpr int kFibers = 1000;
constexpr int kChainDepth = 1000;
#else
constexpr int kFibers = 100000;
constexpr int kChainDepth = 10000;
#endif

// mprotect_guards tells whether 100k stacks would exceed vm.max_map_count.
bool mprotect_guards() {
  return weft_test::run([] { return weft::stats().guard_mode; }) == weft::GuardMode::kMprotect;
}

TEST(Many, HundredThousandFibersYieldSleepAndJoin) {
  if (mprotect_guards()) {
    GTEST_SKIP() << "guard pages use mprotect on this kernel; 100k stacks exceed max_map_count";
  }
  auto t0 = Clock::now();
  std::size_t live_peak = 0;
  std::uint64_t sum = 0;
  int order_errors = 0;
  weft_test::run([&] {
    std::vector<weft::Fiber<std::uint64_t>> fs;
    fs.reserve(kFibers);
    int phase_count[3] = {0, 0, 0};
    for (int i = 0; i < kFibers; ++i) {
      fs.push_back(weft::spawn([&, i]() -> std::uint64_t {
        for (int k = 0; k < 3; ++k) {
          ++phase_count[k];
          weft::this_fiber::yield();
        }
        if (weft::this_fiber::sleep_for(std::chrono::milliseconds(i % 3)) != 0) return 0;
        weft::this_fiber::yield();
        return static_cast<std::uint64_t>(i) + 1;
      }));
    }
    live_peak = weft::stats().fibers_live;
    // After one yield every fiber has run its first step, and none its second (FIFO).
    weft::this_fiber::yield();
    if (phase_count[0] != kFibers || phase_count[1] != 0) ++order_errors;
    for (auto& f : fs) sum += f.join();
  });
  auto elapsed = Clock::now() - t0;
  EXPECT_EQ(live_peak, static_cast<std::size_t>(kFibers) + 1);
  EXPECT_EQ(order_errors, 0);
  EXPECT_EQ(sum, static_cast<std::uint64_t>(kFibers) * (kFibers + 1) / 2);
  EXPECT_LT(elapsed, 60s);
  RecordProperty(
      "elapsed_ms",
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count()));
  auto s = weft::last_run_stats();
  EXPECT_EQ(s.fibers_live, 0u);
  EXPECT_EQ(s.stacks_in_use, 0u);
  EXPECT_GE(s.fibers_created, static_cast<std::uint64_t>(kFibers));
  // Three yields, a sleep and a yield each: at least 5 switches into every fiber.
  EXPECT_GE(s.switches, 5u * kFibers);
}

TEST(Many, HundredThousandBlockedFibersCancelledAtShutdown) {
  if (mprotect_guards()) {
    GTEST_SKIP() << "guard pages use mprotect on this kernel; 100k stacks exceed max_map_count";
  }
  int cancelled = 0;
  auto t0 = Clock::now();
  weft_test::run([&] {
    for (int i = 0; i < kFibers; ++i) {
      weft::spawn([&] {
        if (weft::this_fiber::sleep_for(1h) == -ECANCELED) ++cancelled;
      });
    }
    weft::this_fiber::yield();
    EXPECT_EQ(weft::stats().timers_pending, static_cast<std::size_t>(kFibers));
  });
  EXPECT_EQ(cancelled, kFibers);
  EXPECT_LT(Clock::now() - t0, 60s);
  auto s = weft::last_run_stats();
  EXPECT_EQ(s.fibers_live, 0u);
  EXPECT_EQ(s.timers_pending, 0u);
}

TEST(Many, DeepSpawnChain) {
  // Each fiber spawns the next and joins it: 10,000 fibers blocked in join at the deepest point.
  struct Chain {
    static int link(int left) {
      if (left == 0) return 0;
      return weft::spawn(link, left - 1).join() + 1;
    }
  };
  EXPECT_EQ(weft_test::run([] { return Chain::link(kChainDepth); }), kChainDepth);
}

}  // namespace
