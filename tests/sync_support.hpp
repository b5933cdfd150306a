// Helpers for the sync and pool tests: a fixture over 1, 2 and 4 carriers that checks for leaks,
// and tiny timeouts and holds for races.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <weft/weft.hpp>

#include "carrier_param.hpp"
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

// CarriersTest is a CarrierTest (1, 2 and 4 carriers; instantiate with INSTANTIATE_CARRIERS)
// that checks for leaked fds at the end.
class CarriersTest : public CarrierTest {
 protected:
  void SetUp() override { fds_ = count_fds(); }
  void TearDown() override { EXPECT_EQ(count_fds(), fds_) << "file descriptors leaked"; }

  // carriers() is the parameter.
  unsigned carriers() const { return GetParam(); }
  // run() runs f as the main fiber of one weft::run with carriers() carriers, then checks for
  // leaks.
  template <class F>
  void run(F&& f) {
    weft::run(config(), std::forward<F>(f));
    expect_no_leaks();
  }
  // run_spread() is run_on_threads(carriers(), body): fibers of separate runtimes share the
  // primitives under test, whether or not weft::run spreads fibers over carriers itself.
  template <class F>
  void run_spread(F body) {
    run_on_threads(carriers(), [&](unsigned i) { body(i); });
  }

 private:
  int fds_ = 0;
};

}  // namespace weft_test

