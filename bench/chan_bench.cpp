// chan_bench: a round trip through two channels, between two fibers on one carrier and on two
// carriers, against the same ping-pong between two OS threads over std::mutex and
// std::condition_variable.
//
//   chan_bench [ROUND_TRIPS]     (default 200,000 per repetition; a tenth across threads)
//
// A round trip is: A sends an int on ping, B receives it and sends it back on pong, A receives
// it. Channels have capacity 1, the usual hand-off size. The three measurements:
// - weft, one carrier: both fibers on one OS thread; a hand-off is a switch, no syscall.
// - weft, two carriers: A on one carrier, B on the other (checked by thread id); each hand-off
//   wakes the other carrier through its mailbox, which costs an eventfd write when it sleeps.
// - threads: two std::threads and two one-slot mailboxes, each a std::mutex, a
//   std::condition_variable and a flag; each hand-off is a futex wake when the other sleeps.
// Ratios are threads/weft: how many times faster weft's round trip is.

#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "cli.hpp"
#include "micro_timing.hpp"

namespace {

long tid() {
  return ::syscall(SYS_gettid);
}

// weft_ns_per_trip() times `trips` round trips with `carriers` carriers; *crossed tells whether
// the two ends ran on different OS threads.
double weft_ns_per_trip(unsigned carriers, std::uint64_t trips, bool* crossed) {
  weft::Config config;
  config.carriers = carriers;
  config.stall_ms = 0;  // a busy bench is not a stall
  return weft::run(config, [&] {
    weft::Channel<int> ping(1);
    weft::Channel<int> pong(1);
    // B is spawned while A (this main fiber) keeps its carrier busy, so with two carriers the
    // least-loaded placement puts B on the other one.
    auto b = weft::spawn([&] {
      for (std::uint64_t i = 0; i < trips; ++i) pong.send(*ping.recv());
      return tid();
    });
    long a_tid = tid();
    std::int64_t t0 = bench::now_ns();
    for (std::uint64_t i = 0; i < trips; ++i) {
      ping.send(static_cast<int>(i));
      if (pong.recv() != std::optional<int>(static_cast<int>(i))) std::abort();
    }
    std::int64_t t1 = bench::now_ns();
    *crossed = b.join() != a_tid;
    return double(t1 - t0) / double(trips);
  });
}

// Mailbox is a one-slot hand-off between two threads.
struct Mailbox {
  std::mutex m;
  std::condition_variable cv;
  bool full = false;
  int value = 0;

  void put(int v) {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return !full; });
    value = v;
    full = true;
    cv.notify_one();
  }
  int take() {
    std::unique_lock<std::mutex> lk(m);
    cv.wait(lk, [&] { return full; });
    full = false;
    cv.notify_one();
    return value;
  }
};

// threads_ns_per_trip() times `trips` round trips between two OS threads.
double threads_ns_per_trip(std::uint64_t trips) {
  Mailbox ping;
  Mailbox pong;
  std::thread b([&] {
    for (std::uint64_t i = 0; i < trips; ++i) pong.put(ping.take());
  });
  std::int64_t t0 = bench::now_ns();
  for (std::uint64_t i = 0; i < trips; ++i) {
    ping.put(static_cast<int>(i));
    if (pong.take() != static_cast<int>(i)) std::abort();
  }
  std::int64_t t1 = bench::now_ns();
  b.join();
  return double(t1 - t0) / double(trips);
}

}  // namespace

// kUsage is what --help prints.
constexpr const char* kUsage =
    "usage: chan_bench [ROUND_TRIPS]\n  ROUND_TRIPS: channel round trips per repetition (default "
    "200,000; a tenth of them\n  across threads)\n";

int main(int argc, char** argv) {
  std::uint64_t trips = bench::cli::positional(argc, argv, kUsage, "ROUND_TRIPS", 200'000);
  std::uint64_t slow_trips = trips / 10 > 0 ? trips / 10 : 1;  // the two cross-thread cases

  bool crossed = false;
  std::vector<double> one, two, threads;
  weft_ns_per_trip(1, trips / 10 + 1, &crossed);  // warm-up: stacks, caches, CPU frequency
  for (int r = 0; r < bench::kReps; ++r) {
    one.push_back(weft_ns_per_trip(1, trips, &crossed));
    if (crossed) {
      std::fprintf(stderr, "chan_bench: one carrier ran on two threads\n");
      return 1;
    }
  }
  // Placement is by load, not pinned: a run whose two ends shared a thread measured the wrong
  // thing and is repeated.
  int same_thread_runs = 0;
  while (two.size() < static_cast<std::size_t>(bench::kReps)) {
    double ns = weft_ns_per_trip(2, slow_trips, &crossed);
    if (crossed) {
      two.push_back(ns);
    } else if (++same_thread_runs > 3 * bench::kReps) {
      std::fprintf(stderr, "chan_bench: two carriers kept placing both fibers on one thread\n");
      return 1;
    }
  }
  for (int r = 0; r < bench::kReps; ++r) threads.push_back(threads_ns_per_trip(slow_trips));

  double one_med = bench::median(one);
  double two_med = bench::median(two);
  double thr_med = bench::median(threads);
  std::printf("| channel round trip (median of %d) | ns/round trip | threads/weft |\n",
              bench::kReps);
  std::printf("|---|---|---|\n");
  std::printf("| weft, 2 fibers on 1 carrier (%llu trips) | %.0f | %.2fx |\n",
              static_cast<unsigned long long>(trips), one_med, thr_med / one_med);
  std::printf("| weft, 2 fibers on 2 carriers (%llu trips) | %.0f | %.2fx |\n",
              static_cast<unsigned long long>(slow_trips), two_med, thr_med / two_med);
  std::printf("| 2 threads, std::mutex + std::condition_variable (%llu trips) | %.0f | 1.00x |\n",
              static_cast<unsigned long long>(slow_trips), thr_med);
  if (same_thread_runs > 0) {
    std::printf("(%d two-carrier runs placed both fibers on one thread and were repeated)\n",
                same_thread_runs);
  }
  std::printf(
      "RESULT name=chan one_ns=%.0f two_ns=%.0f threads_ns=%.0f ratio_one=%.2f ratio_two=%.2f "
      "same_thread_runs=%d\n",
      one_med, two_med, thr_med, thr_med / one_med, thr_med / two_med, same_thread_runs);
  return 0;
}
