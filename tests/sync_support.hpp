// Helpers for the sync and pool tests: the carriers parameter, runtimes spread over OS threads,
// a ticker that keeps a waiting runtime from taking itself for deadlocked, leak checks, and
// tiny timeouts for races.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <weft/weft.hpp>

#include "support.hpp"

namespace weft_test {

// tiny() is a pseudo-random timeout of 0..63 microseconds, different per (seed, i).
inline std::chrono::microseconds tiny(unsigned seed, unsigned i) {
  unsigned x = (seed * 2654435761u) ^ (i * 40503u);
  x ^= x >> 13;
  return std::chrono::microseconds((x * 2246822519u) >> 26);
}

// hold() spends a while in a critical section: nothing, a yield, or a tiny sleep, so that
// waiters of other carriers time out while queued and race with the hand-off.
inline void hold(unsigned k, unsigned i) {
  switch ((k + i) % 3) {
    case 0:
      break;
    case 1:
      weft::this_fiber::yield();
      break;
    default:
      weft::this_fiber::sleep_for(tiny(k, i));
  }
}

// expect_no_leaks() checks that the calling thread's last weft::run() left nothing behind.
inline void expect_no_leaks() {
  weft::RuntimeStats s = weft::last_run_stats();
  EXPECT_EQ(s.fibers_live, 0u) << "fibers leaked";
  EXPECT_EQ(s.stacks_in_use, 0u) << "stacks leaked";
  EXPECT_EQ(s.timers_pending, 0u) << "timers left armed";
  EXPECT_EQ(s.io_inflight, 0u) << "I/O left in flight";
}

// start_ticker() spawns a detached fiber that sleeps in 1 ms steps until shutdown cancels it.
// A runtime whose fibers all wait for another thread (another runtime, a plain thread) has no
// timer, I/O or ready fiber, and would report a deadlock and abort; the ticker's timer keeps it
// polling, and a notification from the other thread wakes it through its mailbox as usual.
inline void start_ticker() {
  weft::spawn_with(weft::SpawnOptions{"ticker"}, [] {
    while (weft::this_fiber::sleep_for(std::chrono::milliseconds(1)) == 0) {
    }
  }).detach();
}

// CarriersTest is a test parameterised over the number of carriers (1, 2, 4) that checks for
// leaked fds at the end.
class CarriersTest : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override { fds_ = count_fds(); }
  void TearDown() override { EXPECT_EQ(count_fds(), fds_) << "file descriptors leaked"; }

  // carriers() is the parameter.
  unsigned carriers() const { return GetParam(); }
  // config() is a Config with carriers() carriers.
  weft::Config config() const {
    weft::Config c;
    c.carriers = GetParam();
    return c;
  }
  // run() runs f as the main fiber of one weft::run with carriers() carriers, then checks for
  // leaks.
  template <class F>
  void run(F&& f) {
    weft::run(config(), std::forward<F>(f));
    expect_no_leaks();
  }
  // run_spread() runs body(i) for every i below carriers() at once, each as the main fiber of its
  // own weft::run on its own OS thread (the calling thread runs i = 0), with a ticker, then
  // checks each for leaks. Fibers of different carriers thus share the primitives under test,
  // whether or not weft::run spreads fibers over carriers itself.
  template <class F>
  void run_spread(F body) {
    unsigned n = carriers();
    std::vector<std::exception_ptr> errors(n);
    auto one = [&](unsigned i) {
      try {
        weft::Config c;
        c.carriers = 1;
        weft::run(c, [&] {
          start_ticker();
          body(i);
        });
        expect_no_leaks();
      } catch (...) {
        errors[i] = std::current_exception();
      }
    };
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < n; ++i) threads.emplace_back(one, i);
    one(0);
    for (auto& t : threads) t.join();
    for (auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
  }

 private:
  int fds_ = 0;
};

// carriers_name() names a parameterised test's instance after its carriers ("c1", "c2", "c4").
inline std::string carriers_name(const ::testing::TestParamInfo<unsigned>& info) {
  return "c" + std::to_string(info.param);
}

}  // namespace weft_test

// WEFT_CARRIERS_TESTS instantiates a CarriersTest fixture for 1, 2 and 4 carriers.
#define WEFT_CARRIERS_TESTS(Fixture)                                         \
  INSTANTIATE_TEST_SUITE_P(Carriers, Fixture, ::testing::Values(1u, 2u, 4u), \
                           weft_test::carriers_name)
