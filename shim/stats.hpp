// stats: what WEFT_STATS=1 reports -- per interposed symbol, how many calls went through weft,
// how many passed through to libc and why, and how long the calls that went through weft
// waited (in all, and a histogram of powers of two, with p50, p99 and the longest).
//
// Counting costs one relaxed load of a global flag per call when stats are off. When on, each
// count is a relaxed add on the calling carrier's own counters (a shard per carrier, summed when
// the report is written, so carriers do not bounce each other's cache lines; threads that are no
// carrier share one shard), and every fiber wait reads the monotonic clock twice.
//
// Waiting time: each call counted on a fiber begins a "call" of that fiber (rt::swap_call());
// the runtime adds up how long the fiber is blocked, and the next call the fiber begins, or its
// end, or the report, ends the previous one and records what it waited. A fiber blocks only
// inside weft calls, so that is the call's own wait. A call still waiting when a report is
// written has no time in it yet.
//
// Not counted: weft's own calls. Off a fiber, a thread weft started (carriers' schedulers, the
// watchdog, blocking-pool helpers running offloaded calls, the stats thread) or the main thread
// once it is carrier 0 (sys::mark_weft_thread()); and everything before the program's main
// (the program's constructors included), when counting has not begun.
//
// When: at exit (an atexit handler registered before main, so after the program's own), on
// WEFT_STATS_SIGNAL, and before the process dies of SIGTERM, SIGINT or SIGHUP's default action;
// the last two are written by the stats thread, a weft thread, never in a signal handler.
// Where: WEFT_STATS_FILE (%p the pid, %% a %; appended to), else the report sink. How: the
// table, or JSON lines with WEFT_STATS_FORMAT=json.
#pragma once

#include <atomic>
#include <cstdint>

#include "shim.hpp"
#include "table.hpp"

namespace weft::shim {

// Route says where one call went.
enum class Route : std::uint8_t {
  // kWeft: handled by the runtime on a fiber (it may have yielded).
  kWeft,
  // kOffFiber: passed through because the caller is no fiber (a plain thread, before main, a
  // pass-through child, or no runtime could start).
  kOffFiber,
  // kNonblocking: passed through because the program made the fd O_NONBLOCK itself.
  kNonblocking,
  // kNoWait: passed through because the call's own arguments make it one that does not wait:
  // it asked not to (WNOHANG, MSG_DONTWAIT, IPC_NOWAIT, LOCK_NB, F_SETLK, SPLICE_F_NONBLOCK), or
  // it cannot (an unlock, a lockf test, an open of something that is no FIFO).
  kNoWait,
  // kForeign: passed through because the pthread_t is a real thread's, not a fiber's.
  kForeign,
  // kLibcObject: passed through because the mutex or condition variable is process-shared,
  // robust or priority-protocol, which glibc implements.
  kLibcObject,
  // kKernel: passed through because only the kernel can do it: a futex operation the shim does
  // not emulate (the priority-inheritance ones follow the owner's thread id), a signal to another
  // process, or one this process sends itself that no handler takes or every thread blocks.
  kKernel,
  // kAllocator: kept on the OS thread because the program's malloc made the call itself
  // (allocator.hpp): a wait blocks the carrier, a key is the carrier's.
  kAllocator,
};

// kRouteCount is how many routes there are.
inline constexpr int kRouteCount = 8;

// g_stats_on tells whether counting is enabled (WEFT_STATS=1).
extern std::atomic<bool> g_stats_on;

// count_slow() adds one call of s along r (stats on).
void count_slow(Sym s, Route r) noexcept;

// count() records one call of s along r when stats are on.
inline void count(Sym s, Route r) noexcept {
  if (g_stats_on.load(std::memory_order_relaxed)) count_slow(s, r);
}

// fiber_route() is the route of a call that takes the weft path exactly when it runs on a
// fiber: kWeft there, kOffFiber elsewhere.
inline Route fiber_route() noexcept {
  return on_fiber() ? Route::kWeft : Route::kOffFiber;
}

// count_fiber_call() counts a call of s along fiber_route() and tells whether it takes the weft
// path.
inline bool count_fiber_call(Sym s) noexcept {
  bool weft = on_fiber();
  count(s, weft ? Route::kWeft : Route::kOffFiber);
  return weft;
}

// count_wait_call() counts a call of s that waits unless its arguments say otherwise (nowait):
// kOffFiber off a fiber, kNoWait for a call that does not wait, kWeft for the others; tells
// whether the call takes the weft path.
inline bool count_wait_call(Sym s, bool nowait) noexcept {
  Route r = !on_fiber() ? Route::kOffFiber : nowait ? Route::kNoWait : Route::kWeft;
  count(s, r);
  return r == Route::kWeft;
}

// stats_enable_from_env() reads WEFT_STATS, WEFT_STATS_FILE, WEFT_STATS_FORMAT and
// WEFT_STATS_SIGNAL, which config_from_env() has validated; throws std::invalid_argument naming
// the variable for a stats file that cannot be opened. Counting begins at stats_start().
void stats_enable_from_env();
// stats_start() begins counting and timing, and arms the reports: the exit hook, the stats
// thread, the signals.
void stats_start() noexcept;
// stats_print() writes the exit report, once per process (exit()'s atexit hook and the _exit and
// _Exit hooks call it).
void stats_print() noexcept;
// stats_fiber_end() ends the calling fiber's last call (its thread is ending).
void stats_fiber_end() noexcept;
// stats_after_fork_child() gives a forked child counters of its own (zero), a stats thread and
// its own wall time.
void stats_after_fork_child() noexcept;
// stats_owns_signal() tells whether the kernel disposition of sig is weft's stats handler, which
// the program sees as SIG_DFL (signals.cpp); for the stats signal, a program's sigaction
// changes nothing.
bool stats_owns_signal(int sig) noexcept;
// stats_signal() is WEFT_STATS_SIGNAL's signal, or 0.
int stats_signal() noexcept;
// stats_keep_default() is called after the program set sig to SIG_DFL: a signal whose default
// action ends the process gets weft's handler back (the report, then that default action).
void stats_keep_default(int sig) noexcept;

}  // namespace weft::shim
