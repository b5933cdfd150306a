// weft::gather / weft::collect and weft::Outcome: every result and every exception, in order;
// concurrency; cancellation and Timeout scopes around the wait; leaks.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <memory>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <weft/weft.hpp>

#include "carrier_param.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;

// Immovable is a callable that can be neither copied nor moved: gather must call it in place.
struct Immovable {
  int n;
  explicit Immovable(int v) : n(v) {}
  Immovable(const Immovable&) = delete;
  Immovable& operator=(const Immovable&) = delete;
  int operator()() const { return n; }
};

class Gather : public weft_test::CarrierTest {};

TEST_P(Gather, MixesValuesAndExceptionsInOrder) {
  int side = 0;
  weft::run(config(), [&] {
    auto [a, b, c, d, e] =
        weft::gather([] { return 1; }, []() -> int { throw std::runtime_error("two"); },
                     [] { return std::string("three"); }, [&side] { side = 4; },
                     [] { throw std::out_of_range("five"); });
    EXPECT_TRUE(a.has_value());
    EXPECT_EQ(a.value(), 1);
    EXPECT_FALSE(a.error());

    EXPECT_FALSE(b.has_value());
    ASSERT_TRUE(b.error());
    EXPECT_THROW(b.value(), std::runtime_error);

    EXPECT_EQ(c.value(), "three");

    EXPECT_TRUE(d.has_value());
    EXPECT_NO_THROW(d.value());

    EXPECT_FALSE(e.has_value());
    EXPECT_THROW(e.value(), std::out_of_range);
  });
  EXPECT_EQ(side, 4);
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

TEST_P(Gather, ResultsKeepArgumentOrderWhateverTheFinishingOrder) {
  weft::run(config(), [] {
    auto nap = [](int ms) {
      return [ms] {
        weft::this_fiber::sleep_for(std::chrono::milliseconds(ms));
        return ms;
      };
    };
    auto [a, b, c] = weft::gather(nap(30), nap(20), nap(1));
    EXPECT_EQ(a.value(), 30);
    EXPECT_EQ(b.value(), 20);
    EXPECT_EQ(c.value(), 1);
  });
}

TEST_P(Gather, ChildrenRunConcurrently) {
  // Each child waits until all three have started: sequential calls would never see 3.
  weft::run(config(), [] {
    std::atomic<int> started{0};
    auto child = [&started] {
      ++started;
      for (int i = 0; i < 20000 && started.load() < 3; ++i) weft::this_fiber::sleep_for(1ms);
      return started.load();
    };
    auto [a, b, c] = weft::gather(child, child, child);
    EXPECT_EQ(a.value(), 3);
    EXPECT_EQ(b.value(), 3);
    EXPECT_EQ(c.value(), 3);
  });
}

TEST_P(Gather, CallsInPlaceWithoutCopying) {
  weft::run(config(), [] {
    Immovable one(1);
    auto [a, b] = weft::gather(one, Immovable(2));
    EXPECT_EQ(a.value(), 1);
    EXPECT_EQ(b.value(), 2);
  });
}

TEST_P(Gather, EmptyCallsReturnAtOnce) {
  weft::run(config(), [] {
    std::tuple<> none = weft::gather();
    (void)none;
    std::vector<std::function<int()>> empty;
    EXPECT_TRUE(weft::collect(empty).empty());
  });
}

TEST_P(Gather, CollectVectorInOrder) {
  weft::run(config(), [] {
    std::vector<std::function<int()>> calls;
    for (int i = 0; i < 50; ++i) {
      calls.push_back([i]() -> int {
        weft::this_fiber::sleep_for(std::chrono::milliseconds((50 - i) % 7));
        if (i % 5 == 0) throw std::runtime_error(std::to_string(i));
        return i * i;
      });
    }
    std::vector<weft::Outcome<int>> out = weft::collect(calls);
    ASSERT_EQ(out.size(), 50u);
    for (int i = 0; i < 50; ++i) {
      if (i % 5 == 0) {
        ASSERT_FALSE(out[i].has_value()) << i;
        try {
          out[i].value();
          ADD_FAILURE() << "no exception at " << i;
        } catch (const std::runtime_error& e) {
          EXPECT_EQ(std::string(e.what()), std::to_string(i));
        }
      } else {
        EXPECT_EQ(out[i].value(), i * i);
      }
    }
  });
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

TEST_P(Gather, CollectRangeOfTemporaries) {
  weft::run(config(), [] {
    auto calls = std::views::iota(0, 10) |
                 std::views::transform([](int i) { return [i] { return i + 100; }; });
    auto out = weft::collect(calls);
    ASSERT_EQ(out.size(), 10u);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(out[i].value(), i + 100);
  });
}

TEST_P(Gather, ThousandChildren) {
  weft::run(config(), [] {
    std::vector<std::function<std::uint64_t()>> calls;
    for (int i = 0; i < 1000; ++i) {
      calls.push_back([] {
        weft::this_fiber::yield();
        return weft::this_fiber::id();
      });
    }
    auto out = weft::collect(calls);
    std::uint64_t self = weft::this_fiber::id();
    for (auto& o : out) {
      EXPECT_NE(o.value(), 0u);
      EXPECT_NE(o.value(), self);
    }
  });
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

TEST_P(Gather, Nested) {
  weft::run(config(), [] {
    auto [a, b] = weft::gather(
        [] {
          auto [x, y] = weft::gather([] { return 1; }, [] { return 2; });
          return x.value() + y.value();
        },
        [] { return 10; });
    EXPECT_EQ(a.value(), 3);
    EXPECT_EQ(b.value(), 10);
  });
}

TEST_P(Gather, CancelledWaiterCancelsAndAwaitsChildren) {
  weft::run(config(), [] {
    std::atomic<int> finished{0};
    std::atomic<int> started{0};
    int seen_at_throw = -1;
    int child_rc = 0;
    auto f = weft::spawn([&] {
      try {
        weft::gather(
            [&] {
              ++started;
              child_rc = weft::this_fiber::sleep_for(1h);
              weft::this_fiber::yield();  // finishes a little later than its sibling
              ++finished;
            },
            [&] {
              ++started;
              weft::this_fiber::sleep_for(1h);
              ++finished;
            });
        ADD_FAILURE() << "gather returned";
      } catch (const weft::Cancelled&) {
        seen_at_throw = finished.load();
        throw;
      }
    });
    while (started.load() < 2) weft::this_fiber::sleep_for(1ms);
    auto t0 = Clock::now();
    f.cancel();
    EXPECT_THROW(f.join(), weft::Cancelled);
    EXPECT_LT(Clock::now() - t0, 10s);
    EXPECT_EQ(seen_at_throw, 2) << "gather threw before its children were done";
    EXPECT_EQ(child_rc, -ECANCELED);
  });
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

TEST_P(Gather, TimeoutScopeAroundTheWait) {
  weft::run(config(), [] {
    int rc = 0;
    weft::Timeout t(30ms);
    try {
      weft::gather([&] { rc = weft::this_fiber::sleep_for(1h); }, [] { return 5; });
      ADD_FAILURE() << "gather returned";
    } catch (const weft::TimedOut& e) {
      EXPECT_EQ(e.scope(), &t);
    }
    EXPECT_EQ(rc, -ECANCELED);
  });
}

TEST_P(Gather, AlreadyCancelledStillWaitsForChildren) {
  weft::run(config(), [] {
    std::atomic<int> ran{0};
    auto f = weft::spawn([&] {
      weft::this_fiber::sleep_for(1h);  // returns -ECANCELED once cancelled
      weft::gather([&] { ++ran; }, [&] { ++ran; });
    });
    weft::this_fiber::yield();
    f.cancel();
    EXPECT_THROW(f.join(), weft::Cancelled);
    // The children may or may not have run; none may be left running.
    EXPECT_LE(ran.load(), 2);
  });
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

TEST_P(Gather, OffAFiberThrows) {
  EXPECT_THROW(weft::gather([] { return 1; }), std::logic_error);
  std::vector<std::function<void()>> calls{[] {}};
  EXPECT_THROW(weft::collect(calls), std::logic_error);
}

TEST_P(Gather, WithBlockingCalls) {
  weft::Config cfg = config();
  cfg.blocking_threads = 2;
  weft::run(cfg, [] {
    auto [a, b, c] = weft::gather([] { return weft::blocking([] { return 1; }); },
                                  [] { return weft::blocking([] { return 2; }); },
                                  [] { return weft::blocking([]() -> int { throw 3; }); });
    EXPECT_EQ(a.value() + b.value(), 3);
    try {
      c.value();
      ADD_FAILURE();
    } catch (int v) {
      EXPECT_EQ(v, 3);
    }
  });
}

TEST(Outcome, States) {
  weft::Outcome<int> empty;
  EXPECT_FALSE(empty.has_value());
  EXPECT_FALSE(empty.error());
  EXPECT_THROW(empty.value(), std::logic_error);

  weft::Outcome<std::unique_ptr<int>> v(std::in_place, std::make_unique<int>(3));
  EXPECT_TRUE(v.has_value());
  std::unique_ptr<int> p = std::move(v).value();
  EXPECT_EQ(*p, 3);

  weft::Outcome<int> err(std::make_exception_ptr(std::runtime_error("e")));
  EXPECT_FALSE(err.has_value());
  EXPECT_THROW(err.value(), std::runtime_error);

  weft::Outcome<void> done(std::in_place);
  EXPECT_TRUE(done.has_value());
  EXPECT_NO_THROW(done.value());
  weft::Outcome<void> nothing;
  EXPECT_THROW(nothing.value(), std::logic_error);
}

INSTANTIATE_CARRIERS(Gather);

}  // namespace
