// Helpers for the sync and pool tests: a fixture over 1, 2 and 4 carriers that checks for leaks,
// waiting until fibers have parked, and tiny timeouts and holds for races.
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

// timed_takers() spawns 8 fibers that each try 300 times to take a resource with a tiny
// timeout, alternately through try_for(timeout) and through take() inside a tiny weft::Timeout
// scope, and call held(k, i) after each success (fiber k, try i, holding the resource); then
// joins them. index (the runtime's, under run_spread) and salt vary the timeouts.
template <class TryFor, class Take, class Held>
void timed_takers(unsigned index, unsigned salt, TryFor try_for, Take take, Held held) {
  std::vector<weft::Fiber<void>> fs;
  for (unsigned k = 0; k < 8; ++k) {
    fs.push_back(weft::spawn([&, k] {
      for (unsigned i = 0; i < 300; ++i) {
        bool got = false;
        if (i % 2 == 0) {
          got = try_for(tiny(index * 8 + k, i));
        } else {
          try {
            weft::Timeout t(tiny(k, index * salt + i));
            take();
            got = true;
          } catch (const weft::TimedOut&) {
          }
        }
        if (got) held(k, i);
      }
    }));
  }
  for (auto& f : fs) f.join();
}

// waiting_in() counts the fibers of the caller's run that fiber_dump() shows blocked in what
// ("mutex", "event", "semaphore", ...).
inline int waiting_in(const std::string& what) {
  std::string dump = weft::fiber_dump();
  std::string needle = "blocked in " + what;
  int n = 0;
  for (std::size_t at = dump.find(needle); at != std::string::npos;
       at = dump.find(needle, at + 1)) {
    char after = at + needle.size() < dump.size() ? dump[at + needle.size()] : '\n';
    if (after == ' ' || after == '\n') ++n;
  }
  return n;
}

// blocked_named() says whether fiber_dump() shows the caller's run's fiber called name blocked
// in what; a fiber shows as blocked only once it is on the primitive's wait list.
inline bool blocked_named(const std::string& name, const std::string& what) {
  std::string dump = weft::fiber_dump();
  std::size_t at = dump.find("\"" + name + "\" carrier ");
  if (at == std::string::npos) return false;
  std::size_t eol = dump.find('\n', at);
  std::string line = dump.substr(at, eol == std::string::npos ? std::string::npos : eol - at);
  std::string needle = ": blocked in " + what;
  std::size_t hit = line.find(needle);
  if (hit == std::string::npos) return false;
  std::size_t after = hit + needle.size();
  return after == line.size() || line[after] == ' ';
}

// await_waiting() sleeps in 1 ms steps until at least n fibers of the run are blocked in what,
// or 10 s have passed: a settle that holds however slow a (sanitized) carrier is to park.
inline void await_waiting(const std::string& what, int n) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (waiting_in(what) < n && std::chrono::steady_clock::now() < give_up) {
    weft::this_fiber::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GE(waiting_in(what), n) << "fibers blocked in " << what;
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

