// stats: what WEFT_STATS=1 prints at exit -- per interposed symbol, how many calls went
// through weft and how many passed through to libc, and why.
//
// Counting costs one relaxed load of a global flag per call when stats are off. When on, each
// count is a relaxed atomic add on a counter shared by every carrier: fine for a diagnostic
// run, and not meant for benchmarks.
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

// stats_enable_from_env() reads WEFT_STATS and arms the report for this process.
void stats_enable_from_env() noexcept;
// stats_print() writes the report to stderr (the exit hook calls it).
void stats_print() noexcept;

}  // namespace weft::shim
