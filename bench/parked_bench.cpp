// parked_bench: the resident memory one parked fiber costs.
//
//   parked_bench [FIBERS]     (default 1,000,000)
//
// Spawns FIBERS fibers with the default Config (64 KiB stacks, guard pages on), lets each run
// until it blocks in this_fiber::sleep_for(one hour), and compares VmRSS before and after. The
// floor is one 4 KiB page per fiber: the top of its stack, where its frame and control block
// live; the target is at most 4.5 KiB. Page tables (VmPTE) are not in VmRSS and are printed
// beside it. The sleepers are then cancelled, which must wake each with -ECANCELED, and joined.
//
// A million guarded stacks need guards that do not cost a kernel mapping each: with mprotect
// the process would stop near vm.max_map_count / 2 fibers. stats().guard_mode says which kind
// the runtime used; a failure to spawn is reported, not hidden.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "cli.hpp"
#include "micro_timing.hpp"

namespace {

constexpr double kTargetKiB = 4.5;
constexpr double kPageKiB = 4.0;
// kWatchdogSeconds bounds the whole run: a cancel that wakes nobody must fail, not hang.
constexpr int kWatchdogSeconds = 300;

// status_kib() reads one "Name:   N kB" field of /proc/self/status.
long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  std::size_t len = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, len, field) == 0 && line.size() > len && line[len] == ':') {
      return std::atol(line.c_str() + len + 1);
    }
  }
  return -1;
}

long map_count() {
  std::ifstream in("/proc/self/maps");
  std::string line;
  long n = 0;
  while (std::getline(in, line)) ++n;
  return n;
}

const char* guard_name(weft::GuardMode m) {
  switch (m) {
    case weft::GuardMode::kNone:
      return "none";
    case weft::GuardMode::kMadvise:
      return "madvise";
    case weft::GuardMode::kMprotect:
      return "mprotect";
  }
  return "?";
}

}  // namespace

// kUsage is what --help prints.
constexpr const char* kUsage =
    "usage: parked_bench [FIBERS]\n  FIBERS: fibers parked at once (default 1,000,000)\n";

int main(int argc, char** argv) {
  std::uint64_t n = bench::cli::positional(argc, argv, kUsage, "FIBERS", 1'000'000);

  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(kWatchdogSeconds));
    std::fprintf(stderr, "parked_bench: still running after %d s, giving up\n", kWatchdogSeconds);
    std::fflush(stderr);
    _exit(1);
  }).detach();

  weft::Config config;  // The defaults are what is measured: 64 KiB stacks, guard pages on.
  config.stall_ms = 0;  // a loop spawning a million fibers is a stall on purpose
  bool ok = true;
  weft::run(config, [&] {
    // The handles exist and are touched before the first reading, so they are not counted.
    std::vector<weft::Fiber<int>> fibers(n);
    std::atomic<std::uint64_t> parked{0};  // fibers run on every carrier
    long rss0 = status_kib("VmRSS");
    long pte0 = status_kib("VmPTE");
    std::int64_t t0 = bench::now_ns();
    std::uint64_t spawned = 0;
    try {
      for (; spawned < n; ++spawned) {
        fibers[spawned] = weft::spawn([&parked] {
          ++parked;
          return weft::this_fiber::sleep_for(std::chrono::hours(1));
        });
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "parked_bench: spawn failed after %llu fibers: %s\n",
                   static_cast<unsigned long long>(spawned), e.what());
      ok = false;
    }
    // yield() lets every ready fiber run; each runs until it parks in its sleep.
    while (parked.load() < spawned) weft::this_fiber::yield();
    std::int64_t t1 = bench::now_ns();
    long rss1 = status_kib("VmRSS");
    long pte1 = status_kib("VmPTE");
    weft::RuntimeStats st = weft::stats();
    long maps = map_count();

    double kib = spawned ? double(rss1 - rss0) / double(spawned) : 0;
    double pte_kib = spawned ? double(pte1 - pte0) / double(spawned) : 0;
    bool met = ok && kib <= kTargetKiB;
    std::printf("| parked fibers | %llu |\n|---|---|\n", static_cast<unsigned long long>(spawned));
    std::printf("| spawn + park time | %.0f ms (%.0f ns per fiber) |\n", (t1 - t0) / 1e6,
                spawned ? double(t1 - t0) / double(spawned) : 0.0);
    std::printf("| VmRSS before / after | %ld / %ld KiB |\n", rss0, rss1);
    std::printf("| RSS per parked fiber (target <= %.1f KiB, floor %.0f KiB) | %.2f KiB %s |\n",
                kTargetKiB, kPageKiB, kib, met ? "met" : "NOT met");
    std::printf("| page tables per fiber (VmPTE, not in RSS) | %.2f KiB |\n", pte_kib);
    std::printf("| guard_mode | %s |\n", guard_name(st.guard_mode));
    std::printf("| stack_bytes_mapped | %.1f GiB (%zu stacks in use) |\n",
                double(st.stack_bytes_mapped) / (1024.0 * 1024 * 1024), st.stacks_in_use);
    std::printf("| kernel mappings (/proc/self/maps lines) | %ld |\n", maps);
    std::fflush(stdout);

    std::int64_t t2 = bench::now_ns();
    for (std::uint64_t i = 0; i < spawned; ++i) fibers[i].cancel();
    std::uint64_t wrong = 0;
    for (std::uint64_t i = 0; i < spawned; ++i) {
      if (fibers[i].join() != -ECANCELED) ++wrong;
    }
    std::int64_t t3 = bench::now_ns();
    std::printf("| cancel + join all | %.0f ms |\n", (t3 - t2) / 1e6);
    if (wrong != 0) {
      std::fprintf(stderr, "parked_bench: %llu sleepers did not return -ECANCELED\n",
                   static_cast<unsigned long long>(wrong));
      ok = false;
    }
    std::printf(
        "RESULT name=parked fibers=%llu kib_per_fiber=%.2f target=%.1f floor=%.1f met=%d "
        "guard_mode=%s stack_bytes_mapped=%zu pte_kib_per_fiber=%.2f ok=%d\n",
        static_cast<unsigned long long>(spawned), kib, kTargetKiB, kPageKiB, met ? 1 : 0,
        guard_name(st.guard_mode), st.stack_bytes_mapped, pte_kib, ok ? 1 : 0);
  });
  return ok ? 0 : 1;
}
