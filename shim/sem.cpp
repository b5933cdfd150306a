// sem: the program's unnamed POSIX semaphores, waited on by fibers without blocking their
// carrier (CPython's locks, for one, are semaphores).
//
// A semaphore the shim made (sem_init without pshared) is laid out in the program's sem_t
// (32 bytes) as SemWords: the count, a guard lock, a marker word where glibc keeps its futex
// "private" flag, and a FIFO of waiters. sem_post hands its unit straight to the longest waiter,
// if any, instead of raising the count (FIFO, as for mutexes, so a poster that waits again at
// once cannot starve the waiters); so a positive count means nobody waits, and a wait that finds
// one takes a unit with a compare-and-swap, without the guard.
//
// Process-shared semaphores (sem_init with pshared, and every sem_open) stay glibc's: their
// marker word is glibc's flag (0 for shared), never the shim's marker.
#include <semaphore.h>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "real.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "thread_wait.hpp"
#include "wait_node.hpp"

namespace weft::shim {
namespace {

// SemWords is how the shim lays out a sem_t; see the top of this file.
struct SemWords {
  std::atomic<std::uint32_t> value;
  std::uint32_t guard;
  std::uint32_t marker;  // kMarker for the shim's; glibc's private flag (0 or 128) otherwise
  std::uint32_t unused;
  WaitNodeList waiters;
};
static_assert(sizeof(SemWords) == sizeof(sem_t));
constexpr std::uint32_t kMarker = 0x77656674;  // "weft"

SemWords& words(sem_t* s) noexcept {
  return *reinterpret_cast<SemWords*>(s);
}

bool is_libc(sem_t* s) noexcept {
  return words(s).marker != kMarker;
}

bool try_take(SemWords& w) noexcept {
  std::uint32_t v = w.value.load(std::memory_order_relaxed);
  while (v > 0) {
    if (w.value.compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
  }
  return false;
}

// wait() takes a unit, waiting at most until limit; returns 0 or an error number.
int wait_once(sem_t* s, const WaitLimit& limit) noexcept {
  SemWords& w = words(s);
  if (try_take(w)) return 0;
  if (limit.kind == WaitLimit::kNow) return EAGAIN;
  rt::Waiter fiber_waiter("semaphore", &w);
  WaitNode node(on_fiber() ? &fiber_waiter : nullptr, 0);
  rt::Lock& g = guard(&w.guard);
  g.lock();
  if (try_take(w)) {
    g.unlock();
    return 0;
  }
  w.waiters.push_back(&node);
  g.unlock();
  weft::Deadline deadline = limit.kind == WaitLimit::kUntil ? limit.deadline : weft::Deadline();
  // A fiber parks (interruptible by a signal, in sem_wait's interruptible scope); a thread
  // sleeps on the futex word.
  rt::Wake why = node.fiber != nullptr        ? rt::park(fiber_waiter, deadline)
                 : wait_woken(node, deadline) ? rt::Wake::kNotified
                                              : rt::Wake::kDeadline;
  if (why != rt::Wake::kNotified) {
    g.lock();
    if (w.waiters.contains(&node)) {
      w.waiters.remove(&node);
      g.unlock();
      return why == rt::Wake::kDeadline ? ETIMEDOUT : EINTR;
    }
    g.unlock();
    wait_claimed(node);  // a post handed us its unit as the wait ended
  }
  return 0;
}

// wait() is wait_once() as an interruptible call on a fiber: a handled signal ends it with
// EINTR, or (SA_RESTART) makes it wait again, as glibc's futex wait does natively. The deadline
// is absolute, so a restart waits for the time left.
int wait(sem_t* s, const WaitLimit& limit) noexcept {
  if (limit.kind == WaitLimit::kNow || !on_fiber()) return wait_once(s, limit);
  return static_cast<int>(-interruptible(Restart::kWithSaRestart,
                                         [&] { return -static_cast<long>(wait_once(s, limit)); }));
}

// result() turns an error number into sem_*'s -1 + errno.
int result(int err) noexcept {
  if (err == 0) return 0;
  errno = err;
  return -1;
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int sem_init(sem_t* s, int pshared, unsigned value) noexcept {
  if (pshared != 0) {
    count(Sym::sem_init, Route::kLibcObject);
    return WEFT_REAL(sem_init)(s, pshared, value);
  }
  if (value > SEM_VALUE_MAX) return result(EINVAL);
  std::memset(static_cast<void*>(s), 0, sizeof *s);
  words(s).value.store(value, std::memory_order_relaxed);
  words(s).marker = kMarker;
  return 0;
}

WEFT_EXPORT int sem_destroy(sem_t* s) noexcept {
  if (is_libc(s)) return WEFT_REAL(sem_destroy)(s);
  words(s).marker = 0;
  return 0;
}

WEFT_EXPORT int sem_wait(sem_t* s) {
  if (is_libc(s)) {
    count(Sym::sem_wait, Route::kLibcObject);
    return WEFT_REAL(sem_wait)(s);
  }
  count(Sym::sem_wait, fiber_route());
  return result(wait(s, WaitLimit::forever()));
}

WEFT_EXPORT int sem_trywait(sem_t* s) noexcept {
  if (is_libc(s)) {
    count(Sym::sem_trywait, Route::kLibcObject);
    return WEFT_REAL(sem_trywait)(s);
  }
  count(Sym::sem_trywait, fiber_route());
  return result(wait(s, WaitLimit::now()));
}

WEFT_EXPORT int sem_timedwait(sem_t* s, const timespec* abstime) {
  if (is_libc(s)) {
    count(Sym::sem_timedwait, Route::kLibcObject);
    return WEFT_REAL(sem_timedwait)(s, abstime);
  }
  count(Sym::sem_timedwait, fiber_route());
  // glibc checks the time before it looks at the count.
  if (abstime->tv_nsec < 0 || abstime->tv_nsec >= 1000000000) return result(EINVAL);
  if (try_take(words(s))) return 0;
  WaitLimit limit;
  if (int r = WaitLimit::until(CLOCK_REALTIME, *abstime, limit); r != 0) return result(r);
  return result(wait(s, limit));
}

WEFT_EXPORT int sem_clockwait(sem_t* s, clockid_t clock, const timespec* abstime) {
  if (is_libc(s)) {
    count(Sym::sem_clockwait, Route::kLibcObject);
    return WEFT_REAL(sem_clockwait)(s, clock, abstime);
  }
  count(Sym::sem_clockwait, fiber_route());
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return result(EINVAL);
  if (abstime->tv_nsec < 0 || abstime->tv_nsec >= 1000000000) return result(EINVAL);
  if (try_take(words(s))) return 0;
  WaitLimit limit;
  if (int r = WaitLimit::until(clock, *abstime, limit); r != 0) return result(r);
  return result(wait(s, limit));
}

WEFT_EXPORT int sem_post(sem_t* s) noexcept {
  if (is_libc(s)) {
    count(Sym::sem_post, Route::kLibcObject);
    return WEFT_REAL(sem_post)(s);
  }
  count(Sym::sem_post, fiber_route());
  SemWords& w = words(s);
  weft::rt::Lock& g = guard(&w.guard);
  g.lock();
  if (WaitNode* n = w.waiters.pop_live()) {
    g.unlock();
    wake(n);  // the unit goes to the longest waiter
    return 0;
  }
  std::uint32_t v = w.value.load(std::memory_order_relaxed);
  if (v >= SEM_VALUE_MAX) {
    g.unlock();
    return result(EOVERFLOW);
  }
  w.value.fetch_add(1, std::memory_order_release);
  g.unlock();
  return 0;
}

WEFT_EXPORT int sem_getvalue(sem_t* s, int* value) noexcept {
  if (is_libc(s)) return WEFT_REAL(sem_getvalue)(s, value);
  *value = static_cast<int>(words(s).value.load(std::memory_order_relaxed));
  return 0;
}

}  // extern "C"
