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

#include "carrier_param.hpp"
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

// ChanTest runs each test with Config::carriers = 1, 2, 4 and checks at teardown that no
// fiber, payload or fd was left behind.
class ChanTest : public CarrierTest {
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

 private:
  int fds_ = 0;
  long live_ = 0;
};

}  // namespace weft_test
