// Timers: sleep_for / sleep_until ordering, edge cases, scale, and cancellation of sleepers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;

using weft_test::rss_kib;

TEST(Sleep, WakesInDeadlineOrder) {
  std::vector<int> order;
  weft_test::run([&] {
    // Deadlines from one base: with sleep_for, each fiber's deadline counts from when it runs,
    // and a carrier descheduled for over 10 ms between two of them reorders the deadlines.
    auto base = Clock::now();
    std::vector<weft::Fiber<void>> fs;
    for (int ms : {30, 10, 20}) {
      fs.push_back(weft::spawn([&order, ms, base] {
        EXPECT_EQ(weft::this_fiber::sleep_until(base + std::chrono::milliseconds(ms)), 0);
        order.push_back(ms);
      }));
    }
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30}));
}

TEST(Sleep, SleepsAtLeastTheDuration) {
  weft_test::run([] {
    for (auto d : {1ms, 5ms, 20ms}) {
      auto t0 = Clock::now();
      EXPECT_EQ(weft::this_fiber::sleep_for(d), 0);
      EXPECT_GE(Clock::now() - t0, d);
    }
    auto at = Clock::now() + 15ms;
    EXPECT_EQ(weft::this_fiber::sleep_until(at), 0);
    EXPECT_GE(Clock::now(), at);
  });
}

TEST(Sleep, SleepingFibersRunConcurrently) {
  // 10 fibers each sleeping 50 ms overlap: every one has started its sleep before any has
  // finished. (Checked by order, not by total time, which a descheduled thread can stretch; a
  // sleep that held the carrier would finish the first before the second started.)
  auto t0 = Clock::now();
  std::vector<Clock::time_point> began(10), ended(10);
  weft_test::run([&] {
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < 10; ++i) {
      fs.push_back(weft::spawn([&, i] {
        began[i] = Clock::now();
        int r = weft::this_fiber::sleep_for(50ms);
        ended[i] = Clock::now();
        return r;
      }));
    }
    for (auto& f : fs) EXPECT_EQ(f.join(), 0);
  });
  auto elapsed = Clock::now() - t0;
  EXPECT_GE(elapsed, 50ms);
  auto last_began = *std::max_element(began.begin(), began.end());
  auto first_ended = *std::min_element(ended.begin(), ended.end());
  EXPECT_LT(last_began, first_ended) << "a sleep ended before every sleeper had started";
}

TEST(Sleep, SleepUntilPastReturnsImmediately) {
  weft_test::run([] {
    auto t0 = Clock::now();
    EXPECT_EQ(weft::this_fiber::sleep_until(Clock::now() - 1h), 0);
    EXPECT_EQ(weft::this_fiber::sleep_until(Clock::time_point{}), 0);
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
    EXPECT_EQ(weft::stats().timers_pending, 0u);
  });
}

TEST(Sleep, SleepForZeroAndNegative) {
  weft_test::run([] {
    auto t0 = Clock::now();
    for (int i = 0; i < 1000; ++i) {
      EXPECT_EQ(weft::this_fiber::sleep_for(0ms), 0);
      EXPECT_EQ(weft::this_fiber::sleep_for(-5ms), 0);
    }
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
    EXPECT_EQ(weft::stats().timers_pending, 0u);
  });
}

TEST(Sleep, TimersPendingCountsSleepers) {
  weft_test::run([] {
    EXPECT_EQ(weft::stats().timers_pending, 0u);
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < 5; ++i)
      fs.push_back(weft::spawn([] { return weft::this_fiber::sleep_for(1h); }));
    weft::this_fiber::yield();
    EXPECT_EQ(weft::stats().timers_pending, 5u);
    for (auto& f : fs) f.cancel();
    for (auto& f : fs) EXPECT_EQ(f.join(), -ECANCELED);
    EXPECT_EQ(weft::stats().timers_pending, 0u);
  });
}

TEST(Sleep, ManyEqualDeadlinesAllWake) {
  // Equal deadlines: every sleeper wakes, none early. (FIFO order among them is not part of the
  // contract; it is reported, not asserted.)
  std::vector<int> order;
  Clock::time_point at;
  std::vector<Clock::time_point> woke(1000);
  weft_test::run([&] {
    at = Clock::now() + 30ms;
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < 1000; ++i) {
      fs.push_back(weft::spawn([&, i] {
        int r = weft::this_fiber::sleep_until(at);
        woke[i] = Clock::now();
        order.push_back(i);
        return r;
      }));
    }
    for (auto& f : fs) EXPECT_EQ(f.join(), 0);
  });
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_GE(woke[i], at) << "fiber " << i << " woke early";
  bool fifo = true;
  for (int i = 0; i < 1000; ++i) fifo = fifo && order[i] == i;
  RecordProperty("equal_deadlines_fifo", fifo ? "yes" : "no");
}

TEST(Sleep, NeverDeadlineSleepsUntilCancelled) {
  weft_test::run([] {
    auto f = weft::spawn([] { return weft::this_fiber::sleep_until(weft::Deadline::never()); });
    weft::this_fiber::sleep_for(10ms);
    EXPECT_FALSE(f.done());
    f.cancel();
    EXPECT_EQ(f.join(), -ECANCELED);
  });
}

TEST(Sleep, CancelSleepingFiberIsPrompt) {
  weft_test::run([] {
    auto f = weft::spawn([] {
      auto t0 = Clock::now();
      int r = weft::this_fiber::sleep_for(60s);  // longer than kPrompt
      return std::make_pair(r, Clock::now() - t0);
    });
    weft::this_fiber::sleep_for(10ms);
    f.cancel();
    auto [r, slept] = f.join();
    EXPECT_EQ(r, -ECANCELED);
    EXPECT_LT(slept, weft_test::kPrompt);
    EXPECT_EQ(weft::stats().timers_pending, 0u);
  });
}

TEST(Sleep, CancelOneOfManyLeavesOthers) {
  weft_test::run([] {
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < 20; ++i)
      fs.push_back(weft::spawn([] { return weft::this_fiber::sleep_for(20ms); }));
    weft::this_fiber::yield();
    fs[7].cancel();
    for (int i = 0; i < 20; ++i) EXPECT_EQ(fs[i].join(), i == 7 ? -ECANCELED : 0) << i;
  });
}

TEST(Sleep, HugeDurationsDoNotWrapAround) {
  // A duration too large for the clock's nanoseconds means "practically never", not "already".
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  weft_test::run([&] {
    auto a = weft::spawn([] { return weft::this_fiber::sleep_for(std::chrono::seconds::max()); });
    auto b = weft::spawn([] {
      return weft::this_fiber::sleep_for(std::chrono::hours(24 * 365 * 1000));  // 1000 years
    });
    auto c = weft::spawn([&] {
      char ch;
      return static_cast<int>(weft::read(fds[0], &ch, 1, std::chrono::seconds::max()));
    });
    weft::this_fiber::sleep_for(20ms);
    EXPECT_FALSE(a.done());
    EXPECT_FALSE(b.done());
    EXPECT_FALSE(c.done());
    a.cancel();
    b.cancel();
    c.cancel();
    EXPECT_EQ(a.join(), -ECANCELED);
    EXPECT_EQ(b.join(), -ECANCELED);
    EXPECT_EQ(c.join(), -ECANCELED);
  });
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(Sleep, HundredThousandSleepers) {
  // ThreadSanitizer tracks each fiber as a thread: it dies past 8128 live ones and keeps about
  // 850 KiB for each (so the RSS check below is off under TSan).
#if defined(__SANITIZE_THREAD__)
  constexpr int kFibers = 1000;
#else
  constexpr int kFibers = 100000;
#endif
  // With mprotect'd guard pages every stack costs two mappings: 100k stacks exceed the default
  // vm.max_map_count, so this scale needs MADV_GUARD_INSTALL (or no guards).
  weft::GuardMode mode = weft_test::run([] { return weft::stats().guard_mode; });
  if (mode == weft::GuardMode::kMprotect) {
    GTEST_SKIP() << "guard pages use mprotect on this kernel; 100k stacks exceed max_map_count";
  }
  // The timers can only be counted while every fiber sleeps, i.e. before the wake-up time; a
  // run whose fibers took longer than the margin to go to sleep (a descheduled thread, a slow
  // sanitized build) proves nothing either way, so it is repeated with a wider margin.
  for (auto margin : {1500ms, 6000ms, 24000ms}) {
    long rss_before = rss_kib();
    long rss_asleep = 0;
    std::size_t pending_asleep = 0;
    bool checked_while_asleep = false;
    int woke = 0;
    int early = 0;
    auto t0 = Clock::now();
    weft_test::run([&] {
      Clock::time_point at{};
      std::vector<weft::Fiber<int>> fs;
      fs.reserve(kFibers);
      for (int i = 0; i < kFibers; ++i) {
        fs.push_back(weft::spawn([&] {
          int r = weft::this_fiber::sleep_until(at);
          if (Clock::now() < at) ++early;
          ++woke;
          return r;
        }));
      }
      // The fibers are queued, not started: fix the wake-up time now, then let them all run once.
      at = Clock::now() + margin;
      weft::this_fiber::yield();
      auto s = weft::stats();
      pending_asleep = s.timers_pending;
      rss_asleep = rss_kib();
      checked_while_asleep = Clock::now() < at - 100ms && woke == 0;
      EXPECT_EQ(s.fibers_live, static_cast<std::size_t>(kFibers) + 1);
      int bad = 0;
      for (auto& f : fs) bad += f.join() != 0;
      EXPECT_EQ(bad, 0);
    });
    auto elapsed = Clock::now() - t0;
    EXPECT_EQ(woke, kFibers);
    EXPECT_EQ(early, 0);
    EXPECT_LT(elapsed, margin + 60s);
    if (!checked_while_asleep) {
      if (margin < 24000ms) continue;
      ADD_FAILURE() << "the fibers took over 24 s to go to sleep; could not check the timers";
      break;
    }
    EXPECT_EQ(pending_asleep, static_cast<std::size_t>(kFibers));
    long grew_kib = rss_asleep - rss_before;
    RecordProperty("rss_growth_kib", std::to_string(grew_kib));
    // Each sleeper touches a few pages of its stack, not all 64 KiB: allow 24 KiB per fiber.
#if !defined(__SANITIZE_THREAD__)
    EXPECT_LT(grew_kib, 24L * kFibers) << "RSS grew by " << grew_kib << " KiB for 100k sleepers";
#endif
    break;
  }
  auto s = weft::last_run_stats();
  EXPECT_EQ(s.timers_pending, 0u);
  EXPECT_EQ(s.fibers_live, 0u);
}

}  // namespace
