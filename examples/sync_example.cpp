// Sync primitives: producers and consumers share a bounded queue under a Mutex and two
// ConditionVariables, and a Pool of 4 runs the consumers' work, at most 4 at once.
#include <chrono>
#include <cstdio>
#include <deque>
#include <mutex>
#include <vector>
#include <weft/weft.hpp>

int main() {
  weft::run([] {
    weft::Mutex m;
    weft::ConditionVariable not_empty, not_full;
    std::deque<int> queue;  // at most 8 items, guarded by m
    std::vector<weft::Fiber<void>> producers;
    for (int p = 0; p < 3; ++p) {
      producers.push_back(weft::spawn([&, p] {
        for (int i = 0; i < 10; ++i) {
          std::unique_lock<weft::Mutex> lk(m);
          not_full.wait(lk, [&] { return queue.size() < 8; });
          queue.push_back(p * 100 + i);
          not_empty.notify_one();
        }
      }));
    }
    weft::Pool pool(4);  // each item's work runs in the pool: at most 4 at once
    long total = 0;
    for (int taken = 0; taken < 30; ++taken) {
      std::unique_lock<weft::Mutex> lk(m);
      not_empty.wait(lk, [&] { return !queue.empty(); });
      int item = queue.front();
      queue.pop_front();
      not_full.notify_one();
      lk.unlock();
      pool.spawn([&, item] {
        weft::this_fiber::sleep_for(std::chrono::milliseconds(1));  // the "work"
        std::lock_guard<weft::Mutex> g(m);
        total += item;
      });
    }
    pool.join();
    for (auto& f : producers) f.join();
    std::printf("consumed 30 items, total %ld (expected 3135)\n", total);
  });
}
