// cond: the program's pthread condition variables, waited on by fibers without blocking their
// carrier.
//
// A condition variable lives in the program's pthread_cond_t (48 bytes, zero for
// PTHREAD_COND_INITIALIZER), laid out as CondWords: a guard lock, the clock its timed waits
// measure (pthread_condattr_setclock; CLOCK_REALTIME by default), and a FIFO of waiters. A wait
// queues its node before it releases the mutex, so a signal sent after the release always finds
// it; signal wakes the longest waiter, broadcast all of them; each woken waiter then takes the
// mutex again (by hand-off, in turn) before it returns, also after a timeout, as POSIX requires.
// A timed wait converts its absolute time once: a later jump of the realtime clock is not
// followed. No wait ends spuriously except by its deadline.
//
// A process-shared condition variable keeps glibc's layout and implementation (glibc's bit 0 of
// __wrefs marks it; the shim's layout leaves that word alone).
#include <pthread.h>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "mutex.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"
#include "wait_node.hpp"

namespace weft::shim {
namespace {

// CondWords is how the shim lays out a pthread_cond_t; see the top of this file.
struct CondWords {
  std::uint32_t guard;
  clockid_t clock;
  WaitNodeList waiters;
  std::uint32_t unused[3];
  std::uint32_t wrefs;  // glibc's __wrefs: bit 0 marks a process-shared condition variable
  std::uint32_t unused2[2];
};
static_assert(sizeof(CondWords) == sizeof(pthread_cond_t));
static_assert(offsetof(CondWords, wrefs) == offsetof(pthread_cond_t, __data.__wrefs));

CondWords& words(pthread_cond_t* c) noexcept {
  return *reinterpret_cast<CondWords*>(c);
}

bool is_libc(pthread_cond_t* c) noexcept {
  return (words(c).wrefs & 1) != 0;
}

int wait(pthread_cond_t* c, pthread_mutex_t* m, const WaitLimit& limit) noexcept {
  CondWords& w = words(c);
  rt::Waiter fiber_waiter("condition", &w);
  WaitNode node(on_fiber() ? &fiber_waiter : nullptr, 0);
  weft::rt::Lock& g = guard(&w.guard);
  g.lock();
  w.waiters.push_back(&node);
  g.unlock();
  int err = 0;
  unsigned count = mutex_release_all(m, &err);
  if (err != 0) {
    g.lock();
    if (w.waiters.contains(&node)) {
      w.waiters.remove(&node);
      g.unlock();
    } else {
      g.unlock();
      wait_claimed(node);  // a signal took us meanwhile: pass it on, as if we had woken
      pthread_cond_signal(c);
    }
    return err;
  }
  int result = 0;
  weft::Deadline deadline = limit.kind == WaitLimit::kUntil ? limit.deadline : weft::Deadline();
  if (!wait_woken(node, deadline)) {
    g.lock();
    if (w.waiters.contains(&node)) {
      w.waiters.remove(&node);
      result = ETIMEDOUT;
      g.unlock();
    } else {
      g.unlock();
      wait_claimed(node);
    }
  }
  mutex_reacquire(m, count);
  return result;
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int pthread_cond_init(pthread_cond_t* c, const pthread_condattr_t* attr) noexcept {
  clockid_t clock = CLOCK_REALTIME;
  if (attr != nullptr) {
    int pshared = PTHREAD_PROCESS_PRIVATE;
    pthread_condattr_getpshared(attr, &pshared);
    if (pshared != PTHREAD_PROCESS_PRIVATE) {
      count(Sym::pthread_cond_init, Route::kLibcObject);
      auto real = WEFT_REAL(pthread_cond_init);
      return real != nullptr ? real(c, attr) : ENOTSUP;
    }
    pthread_condattr_getclock(attr, &clock);
  }
  std::memset(static_cast<void*>(c), 0, sizeof *c);
  words(c).clock = clock;
  return 0;
}

WEFT_EXPORT int pthread_cond_destroy(pthread_cond_t* c) noexcept {
  if (is_libc(c)) return WEFT_REAL(pthread_cond_destroy)(c);
  CondWords& w = words(c);
  std::lock_guard<weft::rt::Lock> hold(guard(&w.guard));
  return !w.waiters.empty() ? EBUSY : 0;
}

WEFT_EXPORT int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  if (is_libc(c)) {
    count(Sym::pthread_cond_wait, Route::kLibcObject);
    return WEFT_REAL(pthread_cond_wait)(c, m);
  }
  count(Sym::pthread_cond_wait, fiber_route());
  return wait(c, m, WaitLimit::forever());
}

WEFT_EXPORT int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m,
                                       const timespec* abstime) {
  if (is_libc(c)) {
    count(Sym::pthread_cond_timedwait, Route::kLibcObject);
    return WEFT_REAL(pthread_cond_timedwait)(c, m, abstime);
  }
  count(Sym::pthread_cond_timedwait, fiber_route());
  WaitLimit limit;
  if (int r = WaitLimit::until(words(c).clock, *abstime, limit); r != 0) return r;
  return wait(c, m, limit);
}

WEFT_EXPORT int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                       const timespec* abstime) {
  if (is_libc(c)) {
    count(Sym::pthread_cond_clockwait, Route::kLibcObject);
    return WEFT_REAL(pthread_cond_clockwait)(c, m, clock, abstime);
  }
  count(Sym::pthread_cond_clockwait, fiber_route());
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  WaitLimit limit;
  if (int r = WaitLimit::until(clock, *abstime, limit); r != 0) return r;
  return wait(c, m, limit);
}

WEFT_EXPORT int pthread_cond_signal(pthread_cond_t* c) noexcept {
  if (is_libc(c)) return WEFT_REAL(pthread_cond_signal)(c);
  CondWords& w = words(c);
  weft::rt::Lock& g = guard(&w.guard);
  g.lock();
  WaitNode* n = w.waiters.pop_live();
  g.unlock();
  if (n != nullptr) wake(n);
  return 0;
}

WEFT_EXPORT int pthread_cond_broadcast(pthread_cond_t* c) noexcept {
  if (is_libc(c)) return WEFT_REAL(pthread_cond_broadcast)(c);
  CondWords& w = words(c);
  weft::rt::Lock& g = guard(&w.guard);
  g.lock();
  WakeList woken;
  w.waiters.take_live(woken);
  g.unlock();
  woken.wake_all();
  return 0;
}

}  // extern "C"
