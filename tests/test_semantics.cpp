// Runtime semantics found wanting in review, one test each: what a switch must carry, what
// must not starve, and inputs that must be refused rather than crash.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>

#include <weft/weft.hpp>

#include "support.hpp"

using namespace std::chrono_literals;

namespace {

using weft_test::Pipe;

}  // namespace

// A fiber blocked inside a catch block keeps its own "current exception"; another fiber's
// catch-and-leave must neither pop nor free it (libstdc++ keeps that state per thread).
TEST(Semantics, CaughtExceptionsArePerFiber) {
  std::string a_saw, b_saw;
  bool b_current_null = true;
  weft_test::run([&] {
    auto a = weft::spawn([&] {
      try {
        throw std::runtime_error("A");
      } catch (...) {
        weft::this_fiber::sleep_for(5ms);  // B catches its own meanwhile
        try {
          throw;
        } catch (const std::exception& e) {
          a_saw = e.what();
        }
      }
    });
    auto b = weft::spawn([&] {
      try {
        throw std::runtime_error("B");
      } catch (const std::exception& e) {
        weft::this_fiber::sleep_for(20ms);  // A leaves its catch meanwhile
        b_saw = e.what();
        b_current_null = std::current_exception() == nullptr;
      }
    });
    a.join();
    b.join();
  });
  EXPECT_EQ(a_saw, "A");
  EXPECT_EQ(b_saw, "B");
  EXPECT_FALSE(b_current_null);
}

// std::uncaught_exceptions() belongs to the fiber that is unwinding, not to its neighbours.
TEST(Semantics, UncaughtExceptionCountIsPerFiber) {
  int seen = -1;
  weft_test::run([&] {
    auto unwinding = weft::spawn([] {
      struct BlockWhileUnwinding {
        ~BlockWhileUnwinding() { weft::this_fiber::sleep_for(10ms); }
      };
      try {
        BlockWhileUnwinding g;
        throw 1;
      } catch (int) {
      }
    });
    auto bystander = weft::spawn([&] {
      weft::this_fiber::sleep_for(2ms);
      seen = std::uncaught_exceptions();
    });
    unwinding.join();
    bystander.join();
  });
  EXPECT_EQ(seen, 0);
}

// A run started inside a catch block: its fibers have caught nothing (neither a fresh one nor
// one resumed after a switch from another fiber that had), yet the thread's own exception is
// still there to rethrow once the run returns. A switch empties the thread's exception state
// only for a context that has one, and each context finds it empty when it resumes.
TEST(Semantics, RunInsideCatchBlockKeepsItsExceptionApart) {
  int fibers_saw_one = 0, fibers_ran = 0;
  std::string rethrown;
  auto check = [&] {
    ++fibers_ran;
    if (std::current_exception() != nullptr || std::uncaught_exceptions() != 0) ++fibers_saw_one;
  };
  try {
    throw std::runtime_error("outer");
  } catch (...) {
    weft_test::run([&] {
      check();
      auto a = weft::spawn([&] {
        try {
          throw std::runtime_error("A");
        } catch (...) {
          weft::this_fiber::yield();  // b runs while a holds an exception
          weft::this_fiber::yield();
        }
        check();
      });
      auto b = weft::spawn([&] {
        check();
        weft::this_fiber::yield();
        check();
        auto c = weft::spawn(check);  // made while a holds its exception
        weft::this_fiber::yield();
        check();
        c.join();
      });
      a.join();
      b.join();
      check();
    });
    try {
      throw;
    } catch (const std::exception& e) {
      rethrown = e.what();
    }
  }
  EXPECT_EQ(fibers_ran, 7);
  EXPECT_EQ(fibers_saw_one, 0);
  EXPECT_EQ(rethrown, "outer");
}

// A fiber that spins on yield() alone must still let timers fire and I/O complete.
TEST(Semantics, LoneYieldingFiberDoesNotStarveTimersOrIo) {
  Pipe p;
  bool slept = false;
  long got = 0;
  weft_test::run([&] {
    auto sleeper = weft::spawn([&] {
      weft::this_fiber::sleep_for(10ms);
      slept = true;
    });
    auto reader = weft::spawn([&] {
      char c;
      got = weft::read(p.r, &c, 1);
    });
    weft::this_fiber::yield();  // let the reader queue its read
    ASSERT_EQ(::write(p.w, "x", 1), 1);
    auto until = weft::Clock::now() + 10s;
    while ((!slept || got == 0) && weft::Clock::now() < until) weft::this_fiber::yield();
    sleeper.join();
    reader.join();
  });
  EXPECT_TRUE(slept);
  EXPECT_EQ(got, 1);
}

// Closing an fd cancels the operations on that fd only, not those on a dup() of the same file.
TEST(Semantics, CloseDoesNotDisturbOperationsOnADup) {
  Pipe p;
  int dup_fd = ::fcntl(p.r, F_DUPFD_CLOEXEC, 0);
  ASSERT_GE(dup_fd, 0);
  long on_closed = 0, on_dup = 0;
  weft_test::run([&] {
    auto r1 = weft::spawn([&] {
      char c;
      on_closed = weft::read(p.r, &c, 1);
    });
    auto r2 = weft::spawn([&] {
      char c;
      on_dup = weft::read(dup_fd, &c, 1);
    });
    weft::this_fiber::sleep_for(5ms);
    EXPECT_EQ(weft::close(p.r), 0);
    p.r = -1;
    weft::this_fiber::sleep_for(5ms);
    ASSERT_EQ(::write(p.w, "d", 1), 1);
    r1.join();
    r2.join();
  });
  ::close(dup_fd);
  EXPECT_EQ(on_closed, -EBADF);
  EXPECT_EQ(on_dup, 1);
}

// A detached fiber's result is destroyed on that fiber, so its destructor may use weft calls.
TEST(Semantics, DetachedResultIsDestroyedOnItsFiber) {
  bool in_fiber = false;
  int slept = 1;
  struct Conn {
    bool* in_fiber;
    int* slept;
    Conn(bool* f, int* s) : in_fiber(f), slept(s) {}
    Conn(Conn&& o) noexcept : in_fiber(std::exchange(o.in_fiber, nullptr)), slept(o.slept) {}
    ~Conn() {
      if (in_fiber == nullptr) return;
      *in_fiber = weft::in_fiber();
      *slept = weft::this_fiber::sleep_for(1ms);
    }
  };
  weft_test::run([&] {
    weft::spawn([&] { return Conn(&in_fiber, &slept); }).detach();
    // Main returns once the destructor's sleep is over (shutdown would cancel it): a fixed
    // 20 ms sleep here could end first if the carrier was descheduled just as the fiber began.
    // A result destroyed anywhere but on its fiber leaves `slept` at 1 until shutdown.
    auto give_up = weft::Clock::now() + 30s;
    while (slept == 1 && weft::Clock::now() < give_up) weft::this_fiber::sleep_for(1ms);
  });
  EXPECT_TRUE(in_fiber);
  EXPECT_EQ(slept, 0);
}

// Joining oneself is refused without consuming the handle or leaking the fiber.
TEST(Semantics, JoiningOneselfKeepsTheHandle) {
  weft_test::run([] {
    weft::Fiber<void>* self_handle = nullptr;
    bool threw = false, still_joinable = false;
    auto f = weft::spawn([&] {
      weft::this_fiber::yield();
      try {
        self_handle->join();
      } catch (const std::logic_error&) {
        threw = true;
      }
      still_joinable = self_handle->joinable();
    });
    self_handle = &f;
    while (!f.done()) weft::this_fiber::yield();
    f.join();
    EXPECT_TRUE(threw);
    EXPECT_TRUE(still_joinable);
  });
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
  EXPECT_EQ(weft::last_run_stats().stacks_in_use, 0u);
}

TEST(Semantics, BadSettingsAreRefusedWithAClearError) {
  weft::Config huge_ring;
  huge_ring.ring_entries = 16385;
  EXPECT_THROW(weft_test::run(huge_ring, [] {}), std::invalid_argument);
  weft::Config huge_stack;
  huge_stack.stack_size = SIZE_MAX;
  EXPECT_THROW(weft_test::run(huge_stack, [] {}), std::invalid_argument);
  weft::Config tiny_stack;
  tiny_stack.stack_size = 4096;
  EXPECT_THROW(weft_test::run(tiny_stack, [] {}), std::invalid_argument);
  weft_test::run([] {
    weft::SpawnOptions opts;
    opts.stack_size = SIZE_MAX;
    EXPECT_THROW(weft::spawn_with(opts, [] {}), std::invalid_argument);
    opts.stack_size = 1024;
    EXPECT_THROW(weft::spawn_with(opts, [] {}), std::invalid_argument);
  });
  EXPECT_EQ(weft::last_run_stats().stacks_in_use, 0u);
}

// A deadline already in the past never blocks, on a fiber or off one.
TEST(Semantics, DeadlineAtTheStartOfTimeFailsAtOnce) {
  Pipe p;
  char c;
  auto t0 = weft::Clock::now();
  EXPECT_EQ(weft::read(p.r, &c, 1, weft::Deadline(weft::Clock::time_point::min())), -ETIMEDOUT);
  EXPECT_EQ(weft_test::run([&] {
              return weft::read(p.r, &c, 1, weft::Deadline(weft::Clock::time_point::min()));
            }),
            -ETIMEDOUT);
  EXPECT_LT(weft::Clock::now() - t0, weft_test::kPrompt);
}

__attribute__((noinline)) void touch_far_below() {
  // Writes 70 KiB below the frame's top: past the end of a 64 KiB stack, beyond a 4 KiB guard.
  volatile char big[70 * 1024];
  for (int i = 0; i < 2048; ++i) big[i] = 0x41;
  asm volatile("" : : "r"(big) : "memory");  // keeps the array (and its writes) alive
}

// A frame that skips more than a page past the stack's end is still reported as an overflow,
// not a silent write into the neighbouring fiber's stack.
TEST(SemanticsDeathTest, LargeFrameOverflowIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(weft_test::run([] {
                 auto victim = weft::spawn([] { weft::this_fiber::yield(); });
                 weft::spawn_with({.name = "bigframe"}, touch_far_below).join();
                 victim.join();
               }),
               "stack overflow in fiber [0-9]+ \"bigframe\"");
}

// With SIGSEGV ignored beforehand, a real fault still kills the process instead of spinning.
TEST(SemanticsDeathTest, IgnoredSegvStillKills) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        std::signal(SIGSEGV, SIG_IGN);
        weft_test::run([] {
          // Not null but in the never-mapped first page: UBSan would catch a store through
          // nullptr itself and exit before the fault this test is about.
          volatile std::uintptr_t first_page = alignof(int);
          *reinterpret_cast<volatile int*>(first_page) = 1;
        });
      },
      testing::KilledBySignal(SIGSEGV), "");
}
