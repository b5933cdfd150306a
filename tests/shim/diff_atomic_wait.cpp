// diff_atomic_wait: C++20's waiting primitives across threads. libstdc++ builds
// std::atomic<T>::wait/notify_one/notify_all, std::latch, std::barrier and
// std::counting_semaphore on syscall(SYS_futex) (FUTEX_WAIT_PRIVATE, or FUTEX_WAIT_BITSET_PRIVATE
// with an absolute CLOCK_MONOTONIC time for the timed ones; FUTEX_WAKE_PRIVATE), after a short
// spin. On one carrier, a wait that slept the carrier in the kernel would never be woken: the
// thread that notifies runs on that carrier. No weft header.
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <latch>
#include <semaphore>
#include <thread>
#include <vector>

namespace {

using namespace std::chrono_literals;

// ping_pong(): two threads hand a turn back and forth through one atomic, 2,000 times.
void ping_pong() {
  std::atomic<int> turn{0};
  constexpr int kRounds = 1000;
  auto player = [&](int me) {
    for (int i = 0; i < kRounds; i++) {
      for (int t = turn.load(); t % 2 != me; t = turn.load()) turn.wait(t);
      turn.fetch_add(1);
      turn.notify_one();
    }
  };
  std::thread a(player, 0), b(player, 1);
  a.join();
  b.join();
  std::printf("atomic<int> ping-pong: %d turns\n", turn.load());
}

// broadcast(): eight threads wait on one atomic until notify_all releases them.
void broadcast() {
  std::atomic<int> gate{0};
  std::atomic<int> waiting{0}, through{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; i++) {
    ts.emplace_back([&] {
      waiting.fetch_add(1);
      gate.wait(0);
      through.fetch_add(1);
    });
  }
  while (waiting.load() < 8) std::this_thread::yield();
  gate.store(1);
  gate.notify_all();
  for (auto& t : ts) t.join();
  std::printf("atomic<int> notify_all: %d of 8 threads through\n", through.load());
}

// flags(): std::atomic<bool> and std::atomic_flag waits (libstdc++ waits on a proxy futex for
// types that are not int-sized).
void flags() {
  std::atomic<bool> ready{false};
  std::atomic_flag done;
  std::thread t([&] {
    ready.wait(false);
    done.test_and_set();
    done.notify_one();
  });
  ready.store(true);
  ready.notify_one();
  done.wait(false);
  t.join();
  std::printf("atomic<bool> and atomic_flag: handed over\n");
}

// latches(): workers count a latch down; main and the workers wait for it.
void latches() {
  constexpr int kWorkers = 6;
  std::latch started(kWorkers + 1);
  std::latch finished(kWorkers);
  std::atomic<int> sum{0};
  std::vector<std::thread> ts;
  for (int i = 1; i <= kWorkers; i++) {
    ts.emplace_back([&, i] {
      started.arrive_and_wait();  // nobody works before everyone has started
      sum.fetch_add(i);
      finished.count_down();
    });
  }
  started.arrive_and_wait();
  finished.wait();
  std::printf("latch: %d workers, sum %d, try_wait after: %d\n", kWorkers, sum.load(),
              finished.try_wait());
  for (auto& t : ts) t.join();
}

// barriers(): five threads meet 50 times; the completion step runs once per phase.
void barriers() {
  constexpr int kThreads = 5, kPhases = 50;
  int completions = 0;
  std::atomic<int> ahead{0};  // a thread that ran into the next phase before the others arrived
  std::atomic<int> arrived{0};
  std::barrier sync(kThreads, [&]() noexcept { completions++; });
  std::vector<std::thread> ts;
  for (int i = 0; i < kThreads; i++) {
    ts.emplace_back([&, i] {
      for (int p = 0; p < kPhases; p++) {
        arrived.fetch_add(1);
        if (i == p % kThreads) std::this_thread::sleep_for(1ms);  // one arrives late
        sync.arrive_and_wait();
        if (arrived.load() < (p + 1) * kThreads) ahead.fetch_add(1);
      }
    });
  }
  for (auto& t : ts) t.join();
  std::printf("barrier: %d phases, %d completions, nobody ran ahead: %d\n", kPhases, completions,
              ahead.load() == 0);
}

// semaphores(): producers and consumers through two counting semaphores, and timed acquires.
void semaphores() {
  constexpr int kSlots = 3, kItems = 300, kPairs = 3;
  std::counting_semaphore<kSlots> free_slots(kSlots);
  std::counting_semaphore<kSlots> full_slots(0);
  std::binary_semaphore guard(1);
  int ring[kSlots] = {};
  int head = 0, tail = 0;
  long sum = 0;
  std::vector<std::thread> ts;
  for (int p = 0; p < kPairs; p++) {
    ts.emplace_back([&, p] {
      for (int i = 1; i <= kItems; i++) {
        free_slots.acquire();
        guard.acquire();
        ring[tail] = p * kItems + i;
        tail = (tail + 1) % kSlots;
        guard.release();
        full_slots.release();
      }
    });
    ts.emplace_back([&] {
      for (int i = 0; i < kItems; i++) {
        // Timed acquires (an absolute steady-clock futex wait) that are released in time.
        while (!full_slots.try_acquire_for(30s)) {
        }
        guard.acquire();
        sum += ring[head];
        head = (head + 1) % kSlots;
        guard.release();
        free_slots.release();
      }
    });
  }
  for (auto& t : ts) t.join();
  long n = kPairs * kItems;
  std::printf("counting_semaphore: %ld items through %d slots, sum %s\n", n, kSlots,
              sum == n * (n + 1) / 2 ? "right" : "WRONG");

  std::counting_semaphore<1> empty(0);
  auto t0 = std::chrono::steady_clock::now();
  bool got = empty.try_acquire_for(50ms);
  bool late_enough = std::chrono::steady_clock::now() - t0 >= 50ms;
  std::printf("try_acquire_for(50ms) on an empty semaphore: %d, not early: %d\n", got, late_enough);
  // A timed acquire that another thread satisfies long before its time: on one carrier, an
  // acquire that held the carrier would keep that thread from running until the time ran out.
  std::thread releaser([&] { empty.release(); });
  got = empty.try_acquire_for(20s);
  releaser.join();
  std::printf("try_acquire_for(20s), released by a thread: %d\n", got);
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  ping_pong();
  broadcast();
  flags();
  latches();
  barriers();
  semaphores();
  return 0;
}
