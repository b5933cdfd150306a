// hello.cpp is the program the install test builds against an installed weft, using only what
// `pkg-config --cflags --libs weft` gives it. It spawns two fibers that sleep for different
// times, joins them, and prints what happened; install_test.sh compares that output.
#include <weft/weft.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main() {
  using namespace std::chrono_literals;
  std::string order;
  const int result = weft::run([&order] {
    const auto start = weft::Clock::now();
    // slow sleeps longer than fast, then waits for fast to have finished: the two must run side
    // by side (a runtime that ran slow to its end first would hang here). The event, not the
    // sleeps' lengths, orders the two appends: on several carriers a carrier descheduled for more
    // than 40 ms could otherwise let slow append first, or both at once.
    weft::Event fast_done;
    auto slow = weft::spawn(
        [&order, &fast_done](int x) {
          weft::this_fiber::sleep_for(60ms);
          fast_done.wait();
          order += "slow";
          return x * 2;
        },
        21);
    auto fast = weft::spawn([&order, &fast_done] {
      weft::this_fiber::sleep_for(20ms);
      order += "fast,";
      fast_done.set();
    });
    fast.join();
    const int doubled = slow.join();
    const auto elapsed = weft::Clock::now() - start;
    // The sleeps overlap, so this takes about 60 ms. The upper bound only catches a sleep that
    // never ends on time; it is wide because the box is shared and the process may be
    // descheduled for seconds (install_test.sh's `timeout 60` bounds a hang).
    std::printf("slept 60 ms: %s\n", elapsed >= 60ms && elapsed < 30s ? "yes" : "no");
    return doubled;
  });
  std::printf("order: %s\n", order.c_str());
  std::printf("result: %d\n", result);
  return 0;
}
