// Helpers shared by the channel and select tests: a fixture parameterised over carrier counts
// that checks for leaks at teardown, and a payload that counts its instances and moves.
#pragma once

#include <gtest/gtest.h>


#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "support.hpp"

namespace weft_test {

// Payload counts live instances, moves and copies, to check hand-offs and destruction.
struct Payload {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> moves{0};
  static inline std::atomic<long> copies{0};
  int v = 0;
  explicit Payload(int x) noexcept : v(x) { ++live; }
  Payload(const Payload& o) noexcept : v(o.v) {
    ++live;
    ++copies;
  }
  Payload(Payload&& o) noexcept : v(o.v) {
    ++live;
    ++moves;
  }
  Payload& operator=(const Payload&) = delete;
  ~Payload() { --live; }
  static void reset_counts() {
    moves = 0;
    copies = 0;
  }
};


// CarriersTest runs each test with Config::carriers = 1, 2, 4 and checks at teardown that no
// fiber, payload or fd was left behind.
class CarriersTest : public ::testing::TestWithParam<unsigned> {
 protected:
  void SetUp() override {
    fds_ = count_fds();
    live_ = Payload::live.load();
  }
  void TearDown() override {
    EXPECT_EQ(weft::last_run_stats().fibers_live, 0u);
    EXPECT_EQ(weft::last_run_stats().timers_pending, 0u);
    EXPECT_EQ(Payload::live.load(), live_) << "payloads leaked or destroyed twice";
    EXPECT_EQ(count_fds(), fds_) << "fds leaked";
  }
  // cfg() is the Config for this run.
  weft::Config cfg() const {
    weft::Config c;
    c.carriers = GetParam();
    return c;
  }

 private:
  int fds_ = 0;
  long live_ = 0;
};

// run_on_threads runs fn(i) as the main fiber of weft::run() on each of n OS threads, so
// fibers of different carriers share channels and wake each other through the carriers'
// mailboxes, whatever Config::carriers does today. A ticker fiber keeps each carrier from
// mistaking a wait for another thread's fibers for a deadlock. No run() returns before every
// fn has: a carrier must not be torn down while a fiber of another one may still be inside
// rt::notify() for it (Carrier::post touches the target carrier after queueing the waiter).
inline void run_on_threads(int n, const std::function<void(int)>& fn) {
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&fn, &finished, n, i] {
      weft::run([&fn, &finished, n, i] {
        auto ticker = weft::spawn([] {
          while (weft::this_fiber::sleep_for(std::chrono::milliseconds(1)) == 0) {
          }
        });
        fn(i);
        finished.fetch_add(1);
        while (finished.load() < n) weft::this_fiber::sleep_for(std::chrono::milliseconds(1));
      });
    });
  }
  for (auto& t : threads) t.join();
}

// carriers_name names a parameter "carriers1", "carriers2", ...
inline std::string carriers_name(const ::testing::TestParamInfo<unsigned>& info) {
  return "carriers" + std::to_string(info.param);
}

}  // namespace weft_test
