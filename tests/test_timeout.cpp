// weft::Timeout scopes and cancellation, as seen by sleeps, weft::read on a pipe, blocking() and
// gather(): nesting (inner shorter, outer shorter, equal), which scope TimedOut names, scopes
// destroyed out of order, Timeout off a fiber; a cancelled fiber's sleep, read and blocking().
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <thread>

#include <weft/weft.hpp>

#include "carrier_param.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;
using weft_test::Pipe;

// scope_of runs a blocking() call and returns the scope its TimedOut names (nullptr if none).
const weft::Timeout* scope_of_blocking() {
  try {
    weft::blocking([] {});
  } catch (const weft::TimedOut& e) {
    return e.scope();
  }
  return nullptr;
}

class TimeoutScope : public weft_test::CarrierTest {};

TEST_P(TimeoutScope, InnerShorterFiresFirst) {
  weft::run(config(), [] {
    weft::Timeout outer(10s);
    {
      auto t0 = Clock::now();  // before the scope: its deadline counts from its creation
      weft::Timeout inner(30ms);
      EXPECT_EQ(weft::this_fiber::sleep_for(1h), -ETIMEDOUT);
      EXPECT_GE(Clock::now() - t0, 30ms);
      EXPECT_TRUE(inner.expired());
      EXPECT_FALSE(outer.expired());
      EXPECT_EQ(scope_of_blocking(), &inner);
      EXPECT_EQ(inner.outer(), &outer);
    }
    // The inner scope is gone: only the outer one (far away) bounds calls now.
    EXPECT_EQ(weft::this_fiber::sleep_for(2ms), 0);
    EXPECT_EQ(scope_of_blocking(), nullptr);
  });
}

TEST_P(TimeoutScope, OuterShorterCannotBeExtended) {
  weft::run(config(), [] {
    weft::Timeout outer(30ms);
    {
      weft::Timeout inner(10s);
      EXPECT_EQ(weft::this_fiber::sleep_for(1h), -ETIMEDOUT);
      EXPECT_TRUE(outer.expired());
      EXPECT_FALSE(inner.expired());
      EXPECT_EQ(scope_of_blocking(), &outer);
    }
    // Still inside the expired outer scope: every call fails at once.
    auto t0 = Clock::now();
    EXPECT_EQ(weft::this_fiber::sleep_for(1h), -ETIMEDOUT);
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
    EXPECT_EQ(scope_of_blocking(), &outer);
  });
}

TEST_P(TimeoutScope, EqualDeadlinesNameTheInnermost) {
  weft::run(config(), [] {
    weft::Deadline at = Clock::now() + 30ms;
    weft::Timeout outer(at);
    weft::Timeout inner(at);
    EXPECT_EQ(weft::this_fiber::sleep_for(1h), -ETIMEDOUT);
    EXPECT_TRUE(outer.expired());
    EXPECT_TRUE(inner.expired());
    EXPECT_EQ(scope_of_blocking(), &inner);
  });
}

TEST_P(TimeoutScope, BoundsReadOnAPipe) {
  Pipe p;
  weft::run(config(), [&] {
    char c = 0;
    {
      auto t0 = Clock::now();
      weft::Timeout t(30ms);
      EXPECT_EQ(weft::read(p.r, &c, 1), -ETIMEDOUT);
      EXPECT_GE(Clock::now() - t0, 30ms);
      EXPECT_TRUE(t.expired());
      EXPECT_EQ(scope_of_blocking(), &t);
    }
    {
      // The call's own deadline, shorter than the scope's, is reported but expires no scope.
      weft::Timeout t(10s);
      EXPECT_EQ(weft::read(p.r, &c, 1, 10ms), -ETIMEDOUT);
      EXPECT_FALSE(t.expired());
      EXPECT_EQ(scope_of_blocking(), nullptr);
    }
    {
      // Data that arrives in time is read; nothing is lost to the scope.
      weft::Timeout t(10s);
      auto writer = weft::spawn([&] {
        weft::this_fiber::sleep_for(5ms);
        return weft::write(p.w, "x", 1);
      });
      EXPECT_EQ(weft::read(p.r, &c, 1), 1);
      EXPECT_EQ(c, 'x');
      EXPECT_EQ(writer.join(), 1);
    }
  });
}

TEST_P(TimeoutScope, BlockingIsNotCutShortButTheNextCallFails) {
  weft::run(config(), [] {
    weft::Timeout t(20ms);
    int r = weft::blocking([] {
      std::this_thread::sleep_for(80ms);
      return 5;
    });
    EXPECT_EQ(r, 5);
    EXPECT_TRUE(t.expired());
    std::atomic<bool> ran{false};
    try {
      weft::blocking([&] { ran = true; });
      ADD_FAILURE() << "no TimedOut";
    } catch (const weft::TimedOut& e) {
      EXPECT_EQ(e.scope(), &t);
    }
    EXPECT_FALSE(ran.load()) << "an expired scope still ran the call";
    EXPECT_EQ(weft::this_fiber::sleep_for(1ms), -ETIMEDOUT);
  });
}

TEST_P(TimeoutScope, AlreadyExpiredAndNever) {
  Pipe p;
  weft::run(config(), [&] {
    {
      weft::Timeout t(0ms);
      char c;
      EXPECT_EQ(weft::this_fiber::sleep_for(1h), -ETIMEDOUT);
      EXPECT_EQ(weft::read(p.r, &c, 1), -ETIMEDOUT);
    }
    {
      weft::Timeout t(weft::Deadline::never());
      EXPECT_FALSE(t.expired());
      EXPECT_EQ(weft::this_fiber::sleep_for(2ms), 0);
      EXPECT_EQ(scope_of_blocking(), nullptr);
    }
  });
}

TEST_P(TimeoutScope, ScopesBelongToOneFiber) {
  weft::run(config(), [] {
    weft::Timeout t(20ms);
    auto other = weft::spawn([] { return weft::this_fiber::sleep_for(60ms); });
    EXPECT_EQ(weft::this_fiber::sleep_for(1h), -ETIMEDOUT);
    EXPECT_EQ(other.join(), 0) << "another fiber's scope bounded this sleep";
  });
}

TEST_P(TimeoutScope, OffAFiberThrows) {
  EXPECT_THROW(weft::Timeout t(1s), std::logic_error);
  weft::run(config(), [] {
    int r = weft::blocking([] {
      try {
        weft::Timeout t(1s);  // a helper thread is no fiber either
        return 0;
      } catch (const std::logic_error&) {
        return 1;
      }
    });
    EXPECT_EQ(r, 1);
  });
}

using TimeoutScopeDeathTest = TimeoutScope;

TEST_P(TimeoutScopeDeathTest, DestroyedOutOfOrderAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  weft::Config cfg = config();
  EXPECT_DEATH(weft::run(cfg,
                         [] {
                           std::optional<weft::Timeout> a;
                           std::optional<weft::Timeout> b;
                           a.emplace(10s);
                           b.emplace(10s);
                           a.reset();  // b is still open inside it
                         }),
               "Timeout scopes destroyed out of order");
}

// ---------------------------------------------------------------------------------------------
// Cancellation: I/O calls and sleeps return -ECANCELED; blocking() is documented to finish the
// call it started and to throw Cancelled when it is called by a cancelled fiber.

class Cancellation : public weft_test::CarrierTest {};

TEST_P(Cancellation, SleepReturnsECanceled) {
  weft::run(config(), [] {
    auto f = weft::spawn([] {
      int first = weft::this_fiber::sleep_for(1h);
      int second = weft::this_fiber::sleep_for(1h);  // later calls fail at once
      return first * 1000 + second;
    });
    weft::this_fiber::sleep_for(2ms);
    auto t0 = Clock::now();
    f.cancel();
    EXPECT_EQ(f.join(), -ECANCELED * 1000 + -ECANCELED);
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
  });
}

TEST_P(Cancellation, ReadReturnsECanceledAndThePipeStaysUsable) {
  Pipe p;
  weft::run(config(), [&] {
    auto f = weft::spawn([&] {
      char c;
      return weft::read(p.r, &c, 1);
    });
    weft::this_fiber::sleep_for(2ms);
    f.cancel();
    EXPECT_EQ(f.join(), -ECANCELED);
    // No byte was consumed by the cancelled read.
    EXPECT_EQ(weft::write(p.w, "y", 1), 1);
    char c = 0;
    EXPECT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(c, 'y');
  });
}

TEST_P(Cancellation, BeatsAnExpiredScope) {
  Pipe p;
  weft::run(config(), [&] {
    auto f = weft::spawn([&] {
      weft::Timeout t(0ms);
      weft::this_fiber::sleep_for(1h);  // expired scope: returns at once
      // The cancel may come from another carrier: wait until it has arrived.
      while (!weft::this_fiber::cancelled()) weft::this_fiber::yield();
      char c;
      int rd = weft::read(p.r, &c, 1);
      int sl = weft::this_fiber::sleep_for(1h);
      bool threw_cancelled = false;
      try {
        weft::blocking([] {});
      } catch (const weft::Cancelled&) {
        threw_cancelled = true;
      }
      return rd == -ECANCELED && sl == -ECANCELED && threw_cancelled;
    });
    f.cancel();
    EXPECT_TRUE(f.join());
  });
}

TEST_P(Cancellation, BlockingFinishesTheCallThenReports) {
  weft::run(config(), [] {
    std::atomic<bool> started{false};
    std::atomic<bool> release{false};
    auto f = weft::spawn([&] {
      int r = weft::blocking([&] {
        started = true;
        for (int i = 0; i < 20000 && !release; ++i) std::this_thread::sleep_for(1ms);
        return 11;
      });
      bool threw = false;
      try {
        weft::blocking([] {});
      } catch (const weft::Cancelled&) {
        threw = true;
      }
      return threw ? r : -1;
    });
    while (!started) weft::this_fiber::sleep_for(1ms);
    f.cancel();
    weft::this_fiber::sleep_for(10ms);
    EXPECT_FALSE(f.done());
    release = true;
    EXPECT_EQ(f.join(), 11);
  });
}

INSTANTIATE_CARRIERS(TimeoutScope);
INSTANTIATE_CARRIERS(TimeoutScopeDeathTest);
INSTANTIATE_CARRIERS(Cancellation);

}  // namespace
