// weft::FiberLocal and the fls_* core under it: per-fiber isolation, lazy creation, destruction
// on the finishing fiber, pthread's destructor rounds, stale keys, and the per-thread fallback.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "carrier_param.hpp"

namespace {

using namespace std::chrono_literals;

// Tracked counts live instances and records the fiber each was destroyed on.
struct Tracked {
  static inline std::atomic<int> live{0};
  static inline std::atomic<int> destroyed_on_owner{0};
  static inline std::atomic<unsigned> destroyed_values{0};  // bit v set once value v died
  int value = 0;
  std::uint64_t owner = weft::this_fiber::id();
  Tracked() { ++live; }
  explicit Tracked(int v) : value(v) { ++live; }
  Tracked(const Tracked&) = delete;
  ~Tracked() {
    if (owner != 0 && weft::this_fiber::id() == owner) ++destroyed_on_owner;
    if (value >= 0 && value < 32) destroyed_values |= 1u << value;
    --live;
  }
};

class FiberLocal : public weft_test::CarrierTest {
 protected:
  void SetUp() override {
    Tracked::live = 0;
    Tracked::destroyed_on_owner = 0;
    Tracked::destroyed_values = 0;
  }
};

TEST_P(FiberLocal, IsolatedBetweenHundredFibers) {
  weft::FiberLocal<int> slot;
  int mismatches = 0;
  weft::run(config(), [&] {
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 100; ++i) {
      fs.push_back(weft::spawn([&, i] {
        EXPECT_FALSE(slot.has_value());
        EXPECT_EQ(slot.get(), 0);  // default-constructed on first use
        slot.get() = i;
        for (int round = 0; round < 5; ++round) {
          weft::this_fiber::sleep_for(std::chrono::microseconds(100 * (i % 7)));
          if (*slot != i) ++mismatches;
          ++*slot;
          --*slot;
        }
      }));
    }
    for (auto& f : fs) f.join();
    EXPECT_FALSE(slot.has_value()) << "main saw a child's value";
  });
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

TEST_P(FiberLocal, InitializerRunsOncePerFiber) {
  std::atomic<int> calls{0};
  weft::FiberLocal<std::string> name([&calls] {
    ++calls;
    return std::string("fiber-") + std::to_string(weft::this_fiber::id());
  });
  weft::run(config(), [&] {
    auto body = [&] {
      std::string want = "fiber-" + std::to_string(weft::this_fiber::id());
      EXPECT_EQ(name.get(), want);
      EXPECT_EQ(name->size(), want.size());
      EXPECT_EQ(*name, want);
    };
    auto a = weft::spawn(body);
    auto b = weft::spawn(body);
    weft::spawn([] {}).join();  // never touches it: no call
    a.join();
    b.join();
  });
  EXPECT_EQ(calls.load(), 2);
}

TEST_P(FiberLocal, DestroyedOnTheFiberWhenItFinishes) {
  weft::FiberLocal<Tracked> t;
  weft::run(config(), [&] {
    auto joined = weft::spawn([&] { t->value = 1; });
    weft::spawn([&] {
      t->value = 2;
      weft::this_fiber::sleep_for(1ms);
    }).detach();
    joined.join();
    EXPECT_TRUE(Tracked::destroyed_values & (1u << 1)) << "outlived its joined fiber";
    t->value = 3;  // main's own
    EXPECT_EQ(weft::this_fiber::sleep_for(5ms), 0);
  });
  EXPECT_EQ(Tracked::live.load(), 0);
  EXPECT_EQ(Tracked::destroyed_on_owner.load(), 3);
}

TEST_P(FiberLocal, CancelledFibersDestroyTheirValuesAtShutdown) {
  weft::FiberLocal<Tracked> t;
  weft::run(config(), [&] {
    for (int i = 0; i < 20; ++i) {
      weft::spawn([&] {
        t.get();
        weft::this_fiber::sleep_for(1h);
      }).detach();
    }
    weft::this_fiber::yield();
  });
  EXPECT_EQ(Tracked::live.load(), 0);
  EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
}

// SleepyDtor makes weft calls from its destructor, which runs on the finishing fiber.
struct SleepyDtor {
  static inline std::atomic<int> ok{0};
  ~SleepyDtor() {
    if (weft::in_fiber() && weft::this_fiber::sleep_for(1ms) == 0) ++ok;
  }
};

TEST_P(FiberLocal, DestructorsMayMakeWeftCalls) {
  SleepyDtor::ok = 0;
  weft::FiberLocal<SleepyDtor> s;
  weft::run(config(), [&] {
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 10; ++i) fs.push_back(weft::spawn([&] { s.get(); }));
    for (auto& f : fs) f.join();
  });
  EXPECT_EQ(SleepyDtor::ok.load(), 10);
}

TEST_P(FiberLocal, ResetAndScopedVariable) {
  weft::run(config(), [] {
    weft::FiberLocal<Tracked> t;
    t->value = 5;
    EXPECT_EQ(Tracked::live.load(), 1);
    t.reset();
    EXPECT_EQ(Tracked::live.load(), 0);
    EXPECT_FALSE(t.has_value());
    EXPECT_EQ(t->value, 0);
    {
      weft::FiberLocal<Tracked> inner;
      inner.get();
      EXPECT_EQ(Tracked::live.load(), 2);
    }  // its destructor destroys the caller's value
    EXPECT_EQ(Tracked::live.load(), 1);
  });
  EXPECT_EQ(Tracked::live.load(), 0);
}

TEST_P(FiberLocal, OffAFiberEachThreadHasItsOwn) {
  weft::FiberLocal<Tracked> t;
  t->value = 7;  // this thread's value
  std::thread other([&] {
    EXPECT_FALSE(t.has_value());
    t->value = 8;
    EXPECT_EQ(Tracked::live.load(), 2);
  });
  other.join();
  EXPECT_EQ(Tracked::live.load(), 1) << "the thread's value outlived the thread";
  EXPECT_EQ(t->value, 7);
  weft::run(config(), [&] {
    EXPECT_FALSE(t.has_value()) << "a fiber saw its carrier thread's value";
    t->value = 9;
    // A blocking() helper thread is no fiber: it has a per-thread value of its own.
    int helper = weft::blocking([&] { return t->value; });
    EXPECT_EQ(helper, 0);
    EXPECT_EQ(t->value, 9);
  });
  EXPECT_EQ(t->value, 7);
  t.reset();
  EXPECT_EQ(Tracked::live.load(), 0);
}

// The C-level core the shim's pthread_key_* use.

std::atomic<int> g_rounds{0};
int g_key_for_rounds = -1;
int g_dummy = 0;

void resetting_dtor(void* v) {
  ++g_rounds;
  // Set a value again: pthread runs another round, at most PTHREAD_DESTRUCTOR_ITERATIONS (4).
  weft::detail::fls_set(g_key_for_rounds, v);
}

TEST_P(FiberLocal, DestructorRoundsFollowPthread) {
  g_rounds = 0;
  g_key_for_rounds = weft::detail::fls_create(&resetting_dtor);
  ASSERT_GE(g_key_for_rounds, 0);
  weft::run(config(), [] {
    weft::spawn([] { EXPECT_EQ(weft::detail::fls_set(g_key_for_rounds, &g_dummy), 0); }).join();
  });
  EXPECT_EQ(g_rounds.load(), 4);
  EXPECT_EQ(weft::detail::fls_delete(g_key_for_rounds), 0);
}

std::atomic<int> g_plain_calls{0};
void plain_dtor(void*) {
  ++g_plain_calls;
}

TEST_P(FiberLocal, CoreKeysAndStaleValues) {
  g_plain_calls = 0;
  int k = weft::detail::fls_create(&plain_dtor);
  ASSERT_GE(k, 0);
  EXPECT_EQ(weft::detail::fls_set(-1, &g_dummy), -EINVAL);
  EXPECT_EQ(weft::detail::fls_set(1 << 20, &g_dummy), -EINVAL);
  EXPECT_EQ(weft::detail::fls_get(1 << 20), nullptr);
  weft::run(config(), [k] {
    EXPECT_EQ(weft::detail::fls_get(k), nullptr);
    EXPECT_EQ(weft::detail::fls_set(k, &g_dummy), 0);
    EXPECT_EQ(weft::detail::fls_get(k), &g_dummy);
    // Deleting the key calls no destructor; a new key on the same number reads null.
    EXPECT_EQ(weft::detail::fls_delete(k), 0);
    EXPECT_EQ(weft::detail::fls_delete(k), -EINVAL);
    EXPECT_EQ(weft::detail::fls_get(k), nullptr);
    EXPECT_EQ(weft::detail::fls_set(k, &g_dummy), -EINVAL);
    int k2 = weft::detail::fls_create(&plain_dtor);
    ASSERT_GE(k2, 0);
    EXPECT_EQ(weft::detail::fls_get(k2), nullptr);
    EXPECT_EQ(weft::detail::fls_delete(k2), 0);
  });
  EXPECT_EQ(g_plain_calls.load(), 0) << "a deleted key's destructor ran";
}

TEST_P(FiberLocal, KeysRunOut) {
  std::vector<int> keys;
  for (;;) {
    int k = weft::detail::fls_create(nullptr);
    if (k < 0) {
      EXPECT_EQ(k, -EAGAIN);
      break;
    }
    keys.push_back(k);
    ASSERT_LE(keys.size(), 1024u);
  }
  EXPECT_GE(keys.size(), 1000u);
  // A key far into the table still works on a fiber.
  weft::run(config(), [&] {
    int high = keys.back();
    EXPECT_EQ(weft::detail::fls_set(high, &g_dummy), 0);
    EXPECT_EQ(weft::detail::fls_get(high), &g_dummy);
  });
  for (int k : keys) EXPECT_EQ(weft::detail::fls_delete(k), 0);
  int again = weft::detail::fls_create(nullptr);
  EXPECT_GE(again, 0);
  weft::detail::fls_delete(again);
}

INSTANTIATE_CARRIERS(FiberLocal);

}  // namespace
