// Fiber stacks: overflow detection (death tests), stack size settings, guard modes, and reuse
// of freed stacks through the per-carrier cache.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;

std::atomic<int> g_sink{0};

// recurse uses about frame_bytes of stack per level, depth levels deep (a non-tail call).
template <std::size_t kFrameBytes>
[[gnu::noinline]] int recurse(int depth) {
  volatile char frame[kFrameBytes];
  frame[0] = static_cast<char>(depth);
  frame[kFrameBytes - 1] = 1;
  if (depth <= 0) return frame[0];
  return recurse<kFrameBytes>(depth - 1) + frame[kFrameBytes - 1];
}

// overflow recurses without bound (well, 100 million levels: far beyond any stack).
[[gnu::noinline]] int overflow(int depth) {
  volatile char frame[512];
  frame[0] = static_cast<char>(depth);
  frame[511] = 2;
  if (depth > 100'000'000) return frame[0];
  return overflow(depth + 1) + frame[511];
}

// ---------------------------------------------------------------------------------------------
// Overflow is fatal and reported with the fiber's name and stack size.

TEST(StackDeathTest, OverflowIsReportedWithNameAndSize) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        weft_test::run(
            [] { weft::spawn_with({.name = "deep"}, [] { g_sink += overflow(0); }).join(); });
      },
      AllOf(ContainsRegex("[Oo]verflow"), HasSubstr("deep"), ContainsRegex("65536|64 ?KiB")));
}

// The report then shows where the fiber was as FILE+OFFSET frames, the form addr2line takes
// (names are not looked up in a process dying on its signal stack), innermost first: the
// recursing function's frames in this executable, its repeated frame folded into one line.
TEST(StackDeathTest, OverflowReportShowsFileAndOffsetFrames) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        weft_test::run(
            [] { weft::spawn_with({.name = "deep"}, [] { g_sink += overflow(0); }).join(); });
      },
      AllOf(HasSubstr("\n  where it was (FILE+OFFSET: `addr2line -Cfie FILE OFFSET`"),
            ContainsRegex("\n  #0 0x[0-9a-f]+ in /[^ ]*test_stack\\+0x[0-9a-f]+\n"
                          "  #1 0x[0-9a-f]+ in /[^ ]*test_stack\\+0x[0-9a-f]+\n"),
            HasSubstr("\n  #2-#63: the same as #1\n")));
}

// A SIGSEGV that is no fault, sent with kill(2) while a fiber runs, takes its default action
// as natively: the overflow handler has no instruction to re-execute for it (it was swallowed).
TEST(StackDeathTest, SegvSentByKillTakesTheDefaultAction) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "the sanitizer's own SIGSEGV handler reports any SIGSEGV and aborts";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        weft_test::run([] {
          weft::spawn([] {
            ::kill(::getpid(), SIGSEGV);
            weft::this_fiber::sleep_for(std::chrono::seconds(30));
            std::_Exit(0);
          }).join();
        });
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(StackDeathTest, OverflowWithCustomStackSize) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        weft_test::run([] {
          weft::spawn_with({.name = "custom-size", .stack_size = 128 * 1024}, [] {
            g_sink += overflow(0);
          }).join();
        });
      },
      AllOf(ContainsRegex("[Oo]verflow"), HasSubstr("custom-size"),
            ContainsRegex("131072|128 ?KiB")));
}

TEST(StackDeathTest, DefaultStackCannotHold200KiB) {
  // The counterpart of CustomStackSizeHonoured: the same recursion on a 64 KiB stack dies.
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        weft_test::run([] {
          weft::spawn_with({.name = "small"}, [] { g_sink += recurse<1024>(200); }).join();
        });
      },
      ContainsRegex("[Oo]verflow"));
}

// ---------------------------------------------------------------------------------------------
// Stack sizes.

TEST(Stack, CustomStackSizeHonoured) {
  int r = weft_test::run([] {
    return weft::spawn_with({.name = "big", .stack_size = 256 * 1024},
                            [] { return recurse<1024>(200); })
        .join();
  });
  EXPECT_EQ(r, 200);
}

TEST(Stack, ConfigStackSizeAppliesToMainAndSpawned) {
  weft::Config cfg;
  cfg.stack_size = 256 * 1024;
  int r = weft_test::run(cfg, [] {
    int in_main = recurse<1024>(200);
    int in_child = weft::spawn([] { return recurse<1024>(200); }).join();
    return in_main + in_child;
  });
  EXPECT_EQ(r, 400);
}

TEST(Stack, OddStackSizeGivesAtLeastTheRequest) {
  // 100,000 bytes (rounded up to whole pages): about 90 KiB of frames must fit. ASan's redzones
  // grow each 1 KiB frame to 1.25 KiB, so there the same bytes are fewer levels deep.
#if defined(__SANITIZE_ADDRESS__)
  constexpr int kDepth = 70;
#else
  constexpr int kDepth = 85;
#endif
  int r = weft_test::run([] {
    return weft::spawn_with({.name = "", .stack_size = 100000},
                            [] { return recurse<1024>(kDepth); })
        .join();
  });
  EXPECT_EQ(r, kDepth);
}

// ---------------------------------------------------------------------------------------------
// Guard modes.

TEST(Stack, GuardModeWithGuardPages) {
  weft::GuardMode mode = weft_test::run([] { return weft::stats().guard_mode; });
  EXPECT_NE(mode, weft::GuardMode::kNone);
  RecordProperty("guard_mode", mode == weft::GuardMode::kMadvise ? "madvise" : "mprotect");
}

TEST(Stack, GuardModeWithoutGuardPages) {
  weft::Config cfg;
  cfg.guard_pages = false;
  auto [mode, sum] = weft_test::run(cfg, [] {
    // Stacks still work without guard pages.
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < 100; ++i) fs.push_back(weft::spawn([i] { return recurse<256>(i % 50); }));
    int s = 0;
    for (auto& f : fs) s += f.join();
    return std::make_pair(weft::stats().guard_mode, s);
  });
  EXPECT_EQ(mode, weft::GuardMode::kNone);
  EXPECT_EQ(sum, 2 * (49 * 50 / 2));
}

// ---------------------------------------------------------------------------------------------
// Reuse.

// wave spawns n fibers that each yield once, joins them all, and lets the carrier settle.
void wave(int n) {
  std::vector<weft::Fiber<void>> fs;
  fs.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) fs.push_back(weft::spawn([] { weft::this_fiber::yield(); }));
  for (auto& f : fs) f.join();
  weft::this_fiber::yield();
}

constexpr int kWave = 1000;
constexpr int kWaves = 10;

TEST(Stack, StacksAreCachedAndReused) {
  weft_test::run([] {
    auto s0 = weft::stats();
    EXPECT_EQ(s0.stacks_in_use, 1u);  // main's
    wave(kWave);
    auto s1 = weft::stats();
    EXPECT_EQ(s1.stacks_in_use, 1u);
    EXPECT_GE(s1.stacks_cached, static_cast<std::size_t>(kWave));  // cache holds 1024
    EXPECT_GT(s1.stack_bytes_mapped, s0.stack_bytes_mapped);
    for (int w = 1; w < kWaves; ++w) wave(kWave);
    auto s2 = weft::stats();
    EXPECT_EQ(s2.stacks_in_use, 1u);
    EXPECT_GE(s2.fibers_created, s0.fibers_created + kWave * kWaves);
    // The later waves ran on the cached stacks: no more address space than after the first.
    EXPECT_LE(s2.stack_bytes_mapped, s1.stack_bytes_mapped + s1.stack_bytes_mapped / 10)
        << "after 1 wave: " << s1.stack_bytes_mapped << ", after " << kWaves
        << " waves: " << s2.stack_bytes_mapped;
  });
}

TEST(Stack, SequentialSpawnJoinReusesOneStack) {
  weft_test::run([] {
    weft::spawn([] {}).join();
    weft::this_fiber::yield();
    auto s1 = weft::stats();
    EXPECT_GE(s1.stacks_cached, 1u);
    for (int i = 0; i < 10000; ++i) weft::spawn([] {}).join();
    weft::this_fiber::yield();
    auto s2 = weft::stats();
    EXPECT_EQ(s2.stacks_in_use, 1u);
    EXPECT_LE(s2.stack_bytes_mapped, s1.stack_bytes_mapped);
    EXPECT_LE(s2.stacks_cached, s1.stacks_cached + 1);
  });
}

TEST(Stack, CacheSizeIsBounded) {
  weft::Config cfg;
  cfg.stack_cache = 8;
  auto cached = weft_test::run(cfg, [] {
    wave(100);
    return weft::stats().stacks_cached;
  });
  EXPECT_LE(cached, 8u);
  EXPECT_GE(cached, 1u);
  cfg.stack_cache = 0;
  EXPECT_EQ(weft_test::run(cfg,
                           [] {
                             wave(10);
                             return weft::stats().stacks_cached;
                           }),
            0u);
}

using weft_test::rss_kib;

// touch_and_park uses about 200 KiB of stack and yields at the deepest point.
[[gnu::noinline]] int touch_and_park(int depth) {
  volatile char frame[1024];
  frame[0] = static_cast<char>(depth);
  frame[1023] = 1;
  if (depth <= 0) {
    weft::this_fiber::yield();
    return frame[0];
  }
  return touch_and_park(depth - 1) + frame[1023];
}

TEST(Stack, FreedStacksBeyondCacheGiveMemoryBack) {
  // 200 fibers each dirty ~200 KiB of a 256 KiB stack (~40 MiB in all). With stack_cache = 8,
  // all but 8 freed stacks must return their memory: resident size drops by most of that.
  constexpr int kFibers = 200;
  weft::Config cfg;
  cfg.stack_cache = 8;
  cfg.stack_size = 256 * 1024;
  long before = 0, peak = 0, after = 0;
  weft_test::run(cfg, [&] {
    before = rss_kib();
    std::vector<weft::Fiber<int>> fs;
    for (int i = 0; i < kFibers; ++i) fs.push_back(weft::spawn([] { return touch_and_park(190); }));
    weft::this_fiber::yield();  // every fiber is now parked at its deepest point
    peak = rss_kib();
    for (auto& f : fs) EXPECT_EQ(f.join(), 190);
    weft::this_fiber::yield();
    after = rss_kib();
  });
  long grown = peak - before;
  ASSERT_GT(grown, kFibers * 150L) << "the fibers did not dirty their stacks as planned";
  EXPECT_LT(after - before, grown / 4)
      << "before " << before << " KiB, peak " << peak << " KiB, after " << after << " KiB";
}

TEST(Stack, CustomSizedStacksDoNotBreakTheCache) {
  // Fibers of several sizes, interleaved: each still gets at least the stack it asked for.
  int r = weft_test::run([] {
    int total = 0;
    for (int round = 0; round < 20; ++round) {
      auto a = weft::spawn_with({.name = "", .stack_size = 256 * 1024},
                                [] { return recurse<1024>(200); });
      auto b = weft::spawn([] { return recurse<1024>(40); });
      auto c = weft::spawn_with({.name = "", .stack_size = 128 * 1024},
                                [] { return recurse<1024>(100); });
      total += a.join() + b.join() + c.join();
    }
    return total;
  });
  EXPECT_EQ(r, 20 * 340);
}

}  // namespace
