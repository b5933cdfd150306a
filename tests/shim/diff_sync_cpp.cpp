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
  std::thread t([&] { std::printf("try_lock_for held: %d\n", tm.try_lock_for(std::chrono::milliseconds(10))); });
  t.join();
  tm.unlock();
  return 0;
}
