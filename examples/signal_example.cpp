// Event, Semaphore and WaitGroup: workers wait for a start signal (Event), at most two of them
// use a scarce resource at once (Semaphore), and main waits for all of them (WaitGroup). The
// start signal comes from a plain thread: set() works off a fiber too.
#include <chrono>
#include <cstdio>
#include <thread>
#include <weft/weft.hpp>

using namespace std::chrono_literals;

int main() {
  weft::Event start;
  weft::Semaphore slots(2);
  weft::WaitGroup done;
  std::thread starter([&] {
    std::this_thread::sleep_for(20ms);
    start.set();
  });
  weft::run([&] {
    for (int w = 0; w < 5; ++w) {
      done.add();
      weft::spawn([&, w] {
        start.wait();
        slots.acquire();
        std::printf("worker %d uses the resource (%td of 2 places left)\n", w, slots.value());
        weft::this_fiber::sleep_for(10ms);
        slots.release();
        done.done();
      }).detach();
    }
    if (!done.wait_for(5s)) std::printf("workers did not finish in time\n");
    std::printf("all %d workers done\n", 5);
  });
  starter.join();
}
