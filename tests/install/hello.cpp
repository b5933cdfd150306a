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
    // slow sleeps longer than fast; fast finishes first only if the two sleep at the same time.
    auto slow = weft::spawn(
        [&order](int x) {
          weft::this_fiber::sleep_for(60ms);
          order += "slow";
          return x * 2;
        },
        21);
    auto fast = weft::spawn([&order] {
      weft::this_fiber::sleep_for(20ms);
      order += "fast,";
    });
    fast.join();
    const int doubled = slow.join();
    const auto elapsed = weft::Clock::now() - start;
    // The sleeps overlap, so this takes about 60 ms; allow a loaded machine plenty of room.
    std::printf("slept 60 ms: %s\n", elapsed >= 60ms && elapsed < 2000ms ? "yes" : "no");
    return doubled;
  });
  std::printf("order: %s\n", order.c_str());
  std::printf("result: %d\n", result);
  return 0;
}
