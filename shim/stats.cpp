// stats: counting, timing and the report (the model is in stats.hpp).
#include "stats.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <string>

#include <weft/config.hpp>
#include <weft/runtime.hpp>

#include "base/lock.hpp"
#include "base/report.hpp"
#include "base/sys.hpp"
#include "sched/carrier_tasks.hpp"
#include "sched/park.hpp"

namespace weft::shim {

std::atomic<bool> g_stats_on{false};

namespace {

// kBuckets: bucket 0 holds waits of 0 ns, bucket b >= 1 those in [2^(b-1), 2^b) ns; the last
// one everything from 2^38 ns (about 4.6 minutes) up.
constexpr int kBuckets = 40;

// Shard is one carrier's counters (or the shared ones of threads that are no carrier).
struct Shard {
  std::atomic<std::uint64_t> counts[kSymCount][kRouteCount];
  std::atomic<std::uint64_t> wait_total[kSymCount];
  std::atomic<std::uint64_t> wait_max[kSymCount];
  std::atomic<std::uint64_t> hist[kSymCount][kBuckets];
  Shard* next;
};

Shard g_shared;
// g_shards lists the carriers' shards (pushed once each, never removed).
std::atomic<Shard*> g_shards{nullptr};

// The settings.
bool g_json = false;
char g_file[4096];  // WEFT_STATS_FILE (empty: the report sink)
int g_signal = 0;   // WEFT_STATS_SIGNAL
// kFatal are the signals whose default action ends the process that the report waits for.
constexpr int kFatal[] = {SIGTERM, SIGINT, SIGHUP};
std::atomic<std::uint64_t> g_owned{0};  // signals whose kernel handler is weft's

std::int64_t g_start_ns = 0;  // when the process (or the forked child) began

// The stats thread's requests: g_requests counts them; g_fatal is the signal a dying process
// waits on the report for, g_fatal_done is set once that report is written.
std::atomic<std::uint32_t> g_requests{0};
std::atomic<int> g_fatal{0};
std::atomic<std::uint32_t> g_fatal_done{0};

// One report at a time: they share the buffer.
constinit rt::Lock g_report_lock;
char g_buf[1 << 17];

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

__attribute__((constructor)) void note_start() {
  g_start_ns = now_ns();
}

Shard* new_shard() noexcept {
  long p = sys::call(SYS_mmap, nullptr, sizeof(Shard), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p < 0) return nullptr;
  auto* s = reinterpret_cast<Shard*>(p);
  s->next = g_shards.load(std::memory_order_relaxed);
  while (!g_shards.compare_exchange_weak(s->next, s, std::memory_order_release,
                                         std::memory_order_relaxed)) {
  }
  return s;
}

// shard() is the calling carrier's shard, or the shared one.
Shard& shard() noexcept {
  void** slot = rt::carrier_stats_slot();
  if (slot == nullptr) return g_shared;
  if (*slot == nullptr) *slot = new_shard();
  return *slot != nullptr ? *static_cast<Shard*>(*slot) : g_shared;
}

int bucket(std::int64_t ns) noexcept {
  if (ns <= 0) return 0;
  int b = 64 - __builtin_clzll(static_cast<unsigned long long>(ns));
  return b < kBuckets ? b : kBuckets - 1;
}

void record(Shard& s, int sym, std::int64_t ns) noexcept {
  if (ns < 0) ns = 0;
  auto v = static_cast<std::uint64_t>(ns);
  s.wait_total[sym].fetch_add(v, std::memory_order_relaxed);
  s.hist[sym][bucket(ns)].fetch_add(1, std::memory_order_relaxed);
  std::uint64_t m = s.wait_max[sym].load(std::memory_order_relaxed);
  while (v > m && !s.wait_max[sym].compare_exchange_weak(m, v, std::memory_order_relaxed)) {
  }
}

// end_call() ends the running fiber's current call and begins tag's (-1: none).
void end_call(int tag) noexcept {
  rt::CallWait ended = rt::swap_call(tag);
  if (ended.tag >= 0) record(shard(), ended.tag, ended.waited_ns);
}

// Sum is one symbol's figures over every shard.
struct Sum {
  std::uint64_t counts[kRouteCount];
  std::uint64_t total = 0;
  std::uint64_t wait_total = 0;
  std::uint64_t wait_max = 0;
  std::uint64_t samples = 0;
  std::uint64_t hist[kBuckets];
};

void add(Sum& sum, const Shard& s, std::size_t i) noexcept {
  for (int r = 0; r < kRouteCount; ++r) {
    std::uint64_t c = s.counts[i][r].load(std::memory_order_relaxed);
    sum.counts[r] += c;
    sum.total += c;
  }
  sum.wait_total += s.wait_total[i].load(std::memory_order_relaxed);
  std::uint64_t m = s.wait_max[i].load(std::memory_order_relaxed);
  if (m > sum.wait_max) sum.wait_max = m;
  for (int b = 0; b < kBuckets; ++b) {
    std::uint64_t h = s.hist[i][b].load(std::memory_order_relaxed);
    sum.hist[b] += h;
    sum.samples += h;
  }
}

Sum sum_of(std::size_t i) noexcept {
  Sum sum{};
  add(sum, g_shared, i);
  for (Shard* s = g_shards.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    add(sum, *s, i);
  }
  return sum;
}

// percentile() is the upper bound of the bucket where the q-th fraction of the samples falls
// (the longest wait itself when that is lower).
std::uint64_t percentile(const Sum& s, double q) noexcept {
  if (s.samples == 0) return 0;
  auto want = static_cast<std::uint64_t>(q * static_cast<double>(s.samples));
  if (want < 1) want = 1;
  std::uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += s.hist[b];
    if (seen >= want) {
      // The last bucket is open-ended: its bound is the largest wait seen.
      if (b == kBuckets - 1) return s.wait_max;
      std::uint64_t upper = b == 0 ? 0 : std::uint64_t{1} << b;
      return upper < s.wait_max ? upper : s.wait_max;
    }
  }
  return s.wait_max;
}

// kReasonText and kReasonKey name the routes but kWeft, in the table and in JSON.
constexpr const char* kReasonText[kRouteCount] = {"via weft",    "off a fiber", "O_NONBLOCK",
                                                  "no wait",     "real thread", "libc object",
                                                  "kernel only", "malloc's own"};
constexpr const char* kReasonKey[kRouteCount] = {"weft",        "off_fiber",      "nonblocking",
                                                 "no_wait",     "foreign_thread", "libc_object",
                                                 "kernel_only", "allocator"};

void append(std::size_t& len, const char* fmt, auto... args) {
  if (len >= sizeof g_buf) return;
  int n = std::snprintf(g_buf + len, sizeof g_buf - len, fmt, args...);
  if (n > 0) len += static_cast<std::size_t>(n);
  if (len > sizeof g_buf) len = sizeof g_buf;
}

// append_duration() writes ns for people: "0", "850ns", "12.3us", "4.51ms", "1.20s".
void append_duration(std::size_t& len, std::uint64_t ns) {
  auto d = static_cast<double>(ns);
  if (ns == 0) {
    append(len, "0");
  } else if (ns < 1000) {
    append(len, "%lluns", static_cast<unsigned long long>(ns));
  } else if (ns < 1000000) {
    append(len, "%.3gus", d / 1e3);
  } else if (ns < 1000000000) {
    append(len, "%.3gms", d / 1e6);
  } else {
    append(len, "%.3gs", d / 1e9);
  }
}

using ull = unsigned long long;

// format() writes the report into g_buf; returns its length.
std::size_t format(const char* why) noexcept {
  std::size_t len = 0;
  RuntimeStats rs{};
  try {
    // Exact figures (faults included) on a carrier; elsewhere the counters any thread may read
    // (zero before the run has started).
    rs = weft::stats();
  } catch (...) {
    rs = weft::detail::process_run_counters();
  }
  int pid = static_cast<int>(sys::call(SYS_getpid));
  std::uint64_t wall = static_cast<std::uint64_t>(now_ns() - g_start_ns);
  if (g_json) {
    append(len,
           "{\"type\":\"header\",\"pid\":%d,\"why\":\"%s\",\"carriers\":%u,\"backend\":\"%s\","
           "\"fibers_created\":%llu,\"switches\":%llu,\"wall_ns\":%llu}\n",
           pid, why, rs.carriers, weft::backend_name(rs.backend),
           static_cast<ull>(rs.fibers_created), static_cast<ull>(rs.switches),
           static_cast<ull>(wall));
  } else {
    append(len, "weft: stats: %u carrier%s, %llu fiber%s created, %llu switch%s, %s I/O; pid %d, ",
           rs.carriers, rs.carriers == 1 ? "" : "s", static_cast<ull>(rs.fibers_created),
           rs.fibers_created == 1 ? "" : "s", static_cast<ull>(rs.switches),
           rs.switches == 1 ? "" : "es", weft::backend_name(rs.backend), pid);
    append_duration(len, wall);
    append(len, " wall time, at %s\n", why);
    if (rs.faults_short + rs.faults_eintr + rs.faults_spurious + rs.faults_reset != 0) {
      append(len,
             "weft: faults injected: %llu short, %llu EINTR, %llu spurious readiness, %llu reset\n",
             static_cast<ull>(rs.faults_short), static_cast<ull>(rs.faults_eintr),
             static_cast<ull>(rs.faults_spurious), static_cast<ull>(rs.faults_reset));
    }
  }
  for (std::size_t i = 0; i < kSymCount; ++i) {
    Sum s = sum_of(i);
    if (s.total == 0) continue;
    std::uint64_t via = s.counts[0];
    std::uint64_t p50 = percentile(s, 0.5), p99 = percentile(s, 0.99);
    if (g_json) {
      append(len, "{\"type\":\"call\",\"name\":\"%s\",\"via_weft\":%llu,\"passed_through\":{",
             kSymNames[i], static_cast<ull>(via));
      bool first = true;
      for (int r = 1; r < kRouteCount; ++r) {
        if (s.counts[r] == 0) continue;
        append(len, "%s\"%s\":%llu", first ? "" : ",", kReasonKey[r],
               static_cast<ull>(s.counts[r]));
        first = false;
      }
      append(len,
             "},\"timed_calls\":%llu,\"wait_ns_total\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,"
             "\"max_ns\":%llu,\"histogram\":[",
             static_cast<ull>(s.samples), static_cast<ull>(s.wait_total), static_cast<ull>(p50),
             static_cast<ull>(p99), static_cast<ull>(s.wait_max));
      first = true;
      for (int b = 0; b < kBuckets; ++b) {
        if (s.hist[b] == 0) continue;
        // [below_ns, calls]: calls that waited less than below_ns (and at least half of it).
        std::uint64_t below = b == kBuckets - 1 ? 0 : std::uint64_t{1} << b;
        append(len, "%s[%llu,%llu]", first ? "" : ",", static_cast<ull>(below),
               static_cast<ull>(s.hist[b]));
        first = false;
      }
      append(len, "]}\n");
      continue;
    }
    append(len, "weft:   %-22s %10llu via weft, %10llu passed through", kSymNames[i],
           static_cast<ull>(via), static_cast<ull>(s.total - via));
    bool first = true;
    for (int r = 1; r < kRouteCount; ++r) {
      if (s.counts[r] == 0) continue;
      append(len, "%s%llu %s", first ? " (" : ", ", static_cast<ull>(s.counts[r]), kReasonText[r]);
      first = false;
    }
    if (!first) append(len, ")");
    if (s.samples != 0) {
      append(len, "; waited ");
      append_duration(len, s.wait_total);
      append(len, " in all, p50 ");
      append_duration(len, p50);
      append(len, ", p99 ");
      append_duration(len, p99);
      append(len, ", max ");
      append_duration(len, s.wait_max);
    }
    append(len, "\n");
  }
  if (len >= sizeof g_buf) {
    len = sizeof g_buf - 1;
    g_buf[len - 1] = '\n';
  }
  g_buf[len] = '\0';
  return len;
}

// open_file() opens WEFT_STATS_FILE for pid; returns the fd or -errno.
long open_file(int pid) noexcept {
  return sys::open_report_file(g_file, pid);
}

// write_report() formats the report and writes it where it goes.
void write_report(const char* why) noexcept {
  std::lock_guard<rt::Lock> hold(g_report_lock);
  // The reporting fiber's own call (exit's caller) is over.
  end_call(-1);
  std::size_t len = format(why);
  if (g_file[0] != '\0') {
    long fd = open_file(static_cast<int>(sys::call(SYS_getpid)));
    if (fd >= 0) {
      sys::write_report_to(static_cast<int>(fd), g_buf, len);
      sys::close(static_cast<int>(fd));
      return;
    }
  }
  sys::write_stderr(g_buf);
}

// The stats thread: writes the reports the signals ask for.
void* stats_thread(void*) {
  sys::mark_weft_thread();
  std::uint32_t seen = g_requests.load(std::memory_order_acquire);
  for (;;) {
    sys::futex_wait(&g_requests, seen, nullptr);
    std::uint32_t now = g_requests.load(std::memory_order_acquire);
    if (now == seen) continue;
    seen = now;
    int fatal = g_fatal.load(std::memory_order_acquire);
    if (fatal != 0) {
      char why[32];
      std::snprintf(why, sizeof why, "%s",
                    sigabbrev_np(fatal) != nullptr ? sigabbrev_np(fatal) : "?");
      char text[40];
      std::snprintf(text, sizeof text, "SIG%s", why);
      write_report(text);
      g_fatal_done.store(1, std::memory_order_release);
      sys::futex_wake(&g_fatal_done, INT32_MAX);
      continue;
    }
    write_report("WEFT_STATS_SIGNAL");
  }
  return nullptr;
}

void start_thread() noexcept {
  pthread_t tid;
  if (sys::start_thread(&tid, &stats_thread, nullptr, 128 * 1024) != 0) {
    sys::write_stderr("weft: cannot start the stats thread: no report on signals\n");
  }
}

void on_stats_signal(int) {
  int saved = errno;
  g_requests.fetch_add(1, std::memory_order_release);
  sys::futex_wake(&g_requests, 1);
  errno = saved;
}

void on_fatal_signal(int sig) {
  // Only the first fatal signal reports; a second one waits for the same report.
  int none = 0;
  if (g_fatal.compare_exchange_strong(none, sig)) {
    g_requests.fetch_add(1, std::memory_order_release);
    sys::futex_wake(&g_requests, 1);
  }
  // Bounded: without a stats thread (it could not start) the process still dies.
  timespec limit{10, 0};
  sys::futex_wait(&g_fatal_done, 0, &limit);
  sys::default_action(sig);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sys::call(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, nullptr, _NSIG / 8);
  sys::call(SYS_tgkill, sys::call(SYS_getpid), sys::call(SYS_gettid), sig);
}

// own() gives sig weft's handler in the kernel; false if it cannot.
bool own(int sig, void (*handler)(int)) noexcept {
  struct sigaction sa {};
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  if (sys::sigaction(sig, &sa, nullptr) != 0) return false;
  g_owned.fetch_or(std::uint64_t{1} << (sig - 1), std::memory_order_relaxed);
  return true;
}

void reset_counters() noexcept {
  std::memset(static_cast<void*>(&g_shared), 0, sizeof g_shared);
  for (Shard* s = g_shards.load(std::memory_order_acquire); s != nullptr; s = s->next) {
    Shard* next = s->next;
    std::memset(static_cast<void*>(s), 0, sizeof *s);
    s->next = next;
  }
}

void print_at_exit() {
  stats_print();
}

}  // namespace

void count_slow(Sym s, Route r) noexcept {
  bool fiber = on_fiber();
  // Off a fiber, a thread of weft's own calls for weft (stats.hpp).
  if (!fiber && sys::weft_thread()) return;
  auto i = index(s);
  shard().counts[i][static_cast<int>(r)].fetch_add(1, std::memory_order_relaxed);
  if (fiber) end_call(r == Route::kWeft ? static_cast<int>(i) : -1);
}

void stats_enable_from_env() {
  const char* on = std::getenv("WEFT_STATS");
  const char* file = std::getenv("WEFT_STATS_FILE");
  const char* format = std::getenv("WEFT_STATS_FORMAT");
  const char* sig = std::getenv("WEFT_STATS_SIGNAL");
  // config_from_env() has refused bad values of these (and a stats signal equal to the dump
  // signal) by the time the shim gets here: one parser checks them all.
  bool enabled = on != nullptr && std::strcmp(on, "1") == 0;
  g_json = format != nullptr && std::strcmp(format, "json") == 0;
  if (sig != nullptr && *sig != '\0') {
    g_signal = weft::parse_signal("WEFT_STATS_SIGNAL", sig);
    if (g_signal != 0) enabled = true;
  }
  if (file != nullptr && *file != '\0') {
    if (std::strlen(file) >= sizeof g_file) {
      throw std::invalid_argument("WEFT_STATS_FILE: the name is too long");
    }
    std::strcpy(g_file, file);
    long fd = open_file(static_cast<int>(sys::call(SYS_getpid)));
    if (fd < 0) {
      g_file[0] = '\0';
      throw std::invalid_argument(
          std::string("WEFT_STATS_FILE=\"") + file + "\": expected a file weft can append to (" +
          std::strerror(static_cast<int>(-fd)) + "; %p is the pid, %% a %)");
    }
    sys::close(static_cast<int>(fd));
    enabled = true;
  }
  if (enabled) g_stats_on.store(true, std::memory_order_relaxed);
}

void stats_start() noexcept {
  if (!g_stats_on.load(std::memory_order_relaxed)) return;
  rt::measure_waits(true);
  std::atexit(print_at_exit);
  start_thread();
  if (g_signal != 0) own(g_signal, &on_stats_signal);
  for (int sig : kFatal) {
    struct sigaction now {};
    if (sys::sigaction(sig, nullptr, &now) == 0 && now.sa_handler == SIG_DFL && sig != g_signal) {
      own(sig, &on_fatal_signal);
    }
  }
}

void stats_print() noexcept {
  if (!g_stats_on.load(std::memory_order_relaxed)) return;
  // Once per process: exit() writes it from its atexit handler, _exit() and _Exit() from their
  // hooks, and a program may go through both (an atexit handler that calls _exit).
  static std::atomic<int> written_by{0};
  int me = static_cast<int>(sys::call(SYS_getpid));
  if (written_by.exchange(me) == me) return;
  write_report("exit");
}

void stats_fiber_end() noexcept {
  if (g_stats_on.load(std::memory_order_relaxed)) end_call(-1);
}

void stats_after_fork_child() noexcept {
  if (!g_stats_on.load(std::memory_order_relaxed)) return;
  // The parent's figures are the parent's report; whatever held the lock is gone.
  new (&g_report_lock) rt::Lock();
  reset_counters();
  g_start_ns = now_ns();
  g_fatal.store(0, std::memory_order_relaxed);
  g_fatal_done.store(0, std::memory_order_relaxed);
  start_thread();
}

bool stats_owns_signal(int sig) noexcept {
  if (sig < 1 || sig > 64) return false;
  if ((g_owned.load(std::memory_order_relaxed) >> (sig - 1) & 1) == 0) return false;
  struct sigaction k {};
  if (sys::sigaction(sig, nullptr, &k) != 0) return false;
  return k.sa_handler == &on_stats_signal || k.sa_handler == &on_fatal_signal;
}

int stats_signal() noexcept {
  return g_signal;
}

void stats_keep_default(int sig) noexcept {
  if (sig < 1 || sig > 64) return;
  if ((g_owned.load(std::memory_order_relaxed) >> (sig - 1) & 1) == 0) return;
  for (int f : kFatal) {
    if (f == sig) own(sig, &on_fatal_signal);
  }
}

}  // namespace weft::shim
