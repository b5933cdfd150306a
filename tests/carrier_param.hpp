// Helpers for tests parameterised over the number of carriers, and for runtimes spread over
// several OS threads that share what is under test (leak counters: support.hpp).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "support.hpp"

namespace weft_test {

// CarrierTest runs each test with Config::carriers = 1, 2 and 4 (see INSTANTIATE_CARRIERS).
class CarrierTest : public ::testing::TestWithParam<unsigned> {
 protected:
  // config() is the default Config with this instance's carrier count and no stall watchdog
  // (test_watchdog tests it): a slow, sanitized spawn loop must not add spare carriers.
  weft::Config config() const {
    weft::Config c;
    c.carriers = GetParam();
    c.stall_ms = 0;
    return c;
  }
};

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

// run_on_threads() runs fn(i) for every i below n at once, each as the main fiber of its own
// one-carrier weft::run on its own OS thread (the calling thread runs i = 0), with a ticker, and
// checks each run for leaks. Fibers of different runs thus share what is under test and wake
// each other through the carriers' mailboxes. No run returns before every fn has, so a notify
// from one run always finds the other alive. An exception from any fn is rethrown after all
// threads are joined.
inline void run_on_threads(unsigned n, const std::function<void(unsigned)>& fn) {
  std::atomic<unsigned> finished{0};
  std::vector<std::exception_ptr> errors(n);
  auto one = [&](unsigned i) {
    try {
      weft::Config c;
      c.carriers = 1;
      weft::run(c, [&] {
        start_ticker();
        try {
          fn(i);
        } catch (...) {
          errors[i] = std::current_exception();
        }
        finished.fetch_add(1);
        while (finished.load() < n) weft::this_fiber::sleep_for(std::chrono::milliseconds(1));
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

}  // namespace weft_test

// INSTANTIATE_CARRIERS instantiates a CarrierTest suite for 1, 2 and 4 carriers.
#define INSTANTIATE_CARRIERS(Suite)                                             \
  INSTANTIATE_TEST_SUITE_P(Carriers, Suite, ::testing::Values(1u, 2u, 4u),      \
                           [](const ::testing::TestParamInfo<unsigned>& info) { \
                             return "c" + std::to_string(info.param);           \
                           })
