// diff_sync_cpp: the C++ standard library's threads and locks (std::thread, std::mutex,
// std::condition_variable with wait_for, std::shared_ptr across threads) over pthreads.
// No weft header.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

int main() {
  std::mutex m;
  std::condition_variable cv;
  std::deque<int> jobs;
  bool done = false;
  long total = 0;
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&] {
      std::unique_lock<std::mutex> lock(m);
      for (;;) {
        // wait_for: a steady-clock timed wait (pthread_cond_clockwait in libstdc++).
        cv.wait_for(lock, std::chrono::milliseconds(5), [&] { return done || !jobs.empty(); });
        if (jobs.empty()) {
          if (done) return;
          continue;
        }
        int j = jobs.front();
        jobs.pop_front();
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        lock.lock();
        total += j;
      }
    });
  }
  for (int i = 1; i <= 1000; ++i) {
    std::lock_guard<std::mutex> lock(m);
    jobs.push_back(i);
    cv.notify_one();
  }
  {
    std::lock_guard<std::mutex> lock(m);
    done = true;
  }
  cv.notify_all();
  for (auto& t : workers) t.join();
  std::printf("total %ld\n", total);
  std::timed_mutex tm;
  tm.lock();
  std::thread t([&] {
    std::printf("try_lock_for held: %d\n", tm.try_lock_for(std::chrono::milliseconds(10)));
  });
  t.join();
  tm.unlock();

  // std::call_once: a throwing call leaves it to the next caller; later callers wait for it.
  std::once_flag flag;
  int calls = 0;
  try {
    std::call_once(flag, [&] {
      ++calls;
      throw 42;
    });
  } catch (int) {
    std::printf("call_once threw\n");
  }
  std::vector<std::thread> callers;
  for (int i = 0; i < 10; ++i) {
    callers.emplace_back([&] {
      std::call_once(flag, [&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ++calls;
      });
    });
  }
  for (auto& c : callers) c.join();
  std::printf("call_once ran %d times\n", calls);
  return 0;
}
