#include "stats.hpp"

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <weft/runtime.hpp>

#include "base/sys.hpp"

namespace weft::shim {

std::atomic<bool> g_stats_on{false};

namespace {

std::atomic<std::uint64_t> g_counts[kSymCount][kRouteCount];
pid_t g_stats_pid = 0;

// A line per symbol plus the header: the report is formatted piecewise into this buffer and
// written in one go so concurrent stderr output does not split a line.
void append(char* buf, std::size_t cap, std::size_t& len, const char* fmt, auto... args) {
  if (len >= cap) return;
  int n = std::snprintf(buf + len, cap - len, fmt, args...);
  if (n > 0) len += static_cast<std::size_t>(n);
}

}  // namespace

void count_slow(Sym s, Route r) noexcept {
  g_counts[index(s)][static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed);
}

void stats_enable_from_env() noexcept {
  const char* v = std::getenv("WEFT_STATS");
  if (v == nullptr || std::strcmp(v, "1") != 0) return;
  g_stats_pid = ::getpid();
  g_stats_on.store(true, std::memory_order_relaxed);
}

void stats_print() noexcept {
  // A forked child inherits the counters and the exit hook; the report belongs to the parent.
  if (!g_stats_on.load(std::memory_order_relaxed) || ::getpid() != g_stats_pid) return;
  static char buf[32768];
  std::size_t len = 0;
  const std::size_t cap = sizeof buf;
  // Exact figures exist only on a carrier (exit() from a fiber); off one, the last finished run.
  RuntimeStats rs{};
  bool live = true;
  try {
    rs = weft::stats();
  } catch (...) {
    rs = weft::last_run_stats();
    live = false;
  }
  append(buf, cap, len, "weft: stats%s: %u carriers, %llu fibers created, %llu switches, %s I/O\n",
         live ? "" : " (last finished run)", rs.carriers,
         static_cast<unsigned long long>(rs.fibers_created),
         static_cast<unsigned long long>(rs.switches), weft::backend_name(rs.backend));
  if (rs.faults_short + rs.faults_eintr + rs.faults_spurious + rs.faults_reset != 0) {
    append(buf, cap, len,
           "weft: faults injected: %llu short, %llu EINTR, %llu spurious readiness, %llu reset\n",
           static_cast<unsigned long long>(rs.faults_short),
           static_cast<unsigned long long>(rs.faults_eintr),
           static_cast<unsigned long long>(rs.faults_spurious),
           static_cast<unsigned long long>(rs.faults_reset));
  }
  for (std::size_t i = 0; i < kSymCount; ++i) {
    std::uint64_t c[kRouteCount];
    std::uint64_t total = 0;
    for (int r = 0; r < kRouteCount; ++r) {
      c[r] = g_counts[i][r].load(std::memory_order_relaxed);
      total += c[r];
    }
    if (total == 0) continue;
    append(buf, cap, len,
           "weft:   %-22s %10llu via weft, %10llu passed through (%llu off a fiber, %llu "
           "O_NONBLOCK, %llu no wait, %llu real thread, %llu libc object, %llu kernel "
           "only, %llu malloc's own)\n",
           kSymNames[i], static_cast<unsigned long long>(c[0]),
           static_cast<unsigned long long>(total - c[0]), static_cast<unsigned long long>(c[1]),
           static_cast<unsigned long long>(c[2]), static_cast<unsigned long long>(c[3]),
           static_cast<unsigned long long>(c[4]), static_cast<unsigned long long>(c[5]),
           static_cast<unsigned long long>(c[6]), static_cast<unsigned long long>(c[7]));
  }
  buf[len < cap ? len : cap - 1] = '\0';
  sys::write_stderr(buf);
}

}  // namespace weft::shim
