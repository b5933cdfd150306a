// Cancellation: a worker holding a mutex and waiting for work is cancelled; its blocking calls
// fail (-ECANCELED from I/O and sleeps, weft::Cancelled from sync calls), so it unwinds,
// releases what it holds through its destructors and reports why it stopped.
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <optional>
#include <weft/weft.hpp>

using namespace std::chrono_literals;

int main() {
  weft::run([] {
    weft::Mutex state;
    weft::Channel<int> jobs(4);
    auto worker = weft::spawn([&] {
      try {
        for (;;) {
          std::optional<int> job = jobs.recv();  // throws weft::Cancelled once cancelled
          if (!job) return 0;
          std::lock_guard<weft::Mutex> hold(state);  // released as the exception unwinds
          if (weft::this_fiber::sleep_for(10ms) == -ECANCELED) return -ECANCELED;
          std::printf("worker: did job %d\n", *job);
        }
      } catch (const weft::Cancelled&) {
        std::printf("worker: cancelled while waiting for work\n");
        return -ECANCELED;
      }
    });
    jobs.send(1);
    jobs.send(2);
    weft::this_fiber::sleep_for(50ms);  // both jobs done; the worker waits for a third
    worker.cancel();
    std::printf("worker returned %d\n", worker.join());
    std::lock_guard<weft::Mutex> hold(state);  // free again: the worker released it
    std::printf("main: the mutex is free\n");
  });
}
