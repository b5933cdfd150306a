#include "mutex.hpp"

#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>

#include "allocator.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"
#include "wait_node.hpp"

namespace weft::shim {
namespace {

// MutexWords is how the shim lays out a pthread_mutex_t; see mutex.hpp.
struct MutexWords {
  std::atomic<std::uint32_t> state;
  std::uint32_t count;
  std::atomic<std::uintptr_t> owner;
  int kind;  // glibc's __kind, at glibc's offset
  std::uint32_t guard;
  WaitNodeList waiters;
};
static_assert(sizeof(MutexWords) == sizeof(pthread_mutex_t));
static_assert(offsetof(MutexWords, kind) == offsetof(pthread_mutex_t, __data.__kind));

// glibc's kind bits for mutexes it must implement itself.
constexpr int kRobust = 16, kPrioInherit = 32, kPrioProtect = 64, kPshared = 128;
constexpr int kLibcKinds = kRobust | kPrioInherit | kPrioProtect | kPshared;
constexpr int kTypeMask = 3;

MutexWords& words(pthread_mutex_t* m) noexcept {
  return *reinterpret_cast<MutexWords*>(m);
}

std::uintptr_t self_token() noexcept {
  return static_cast<std::uintptr_t>(pthread_self());
}

void take(MutexWords& w, std::uintptr_t self, unsigned count) noexcept {
  w.owner.store(self, std::memory_order_relaxed);
  w.count = count;
}

int lock_slow(MutexWords& w, std::uintptr_t self, const WaitLimit& limit, bool pinned) noexcept {
  rt::Waiter fiber_waiter("mutex", &w);
  WaitNode node(on_fiber() && !pinned ? &fiber_waiter : nullptr, self);
  rt::Lock& g = guard(&w.guard);
  g.lock();
  for (;;) {
    std::uint32_t s = w.state.load(std::memory_order_relaxed);
    if (s == 0) {
      if (w.state.compare_exchange_weak(s, 1, std::memory_order_acquire)) {
        g.unlock();
        take(w, self, 1);
        return 0;
      }
      continue;
    }
    // Mark the mutex waited on before queueing: an unlocker that still sees 1 finds no waiter.
    if (s == 2 || w.state.compare_exchange_weak(s, 2, std::memory_order_relaxed)) break;
  }
  w.waiters.push_back(&node);
  g.unlock();
  weft::Deadline deadline = limit.kind == WaitLimit::kUntil ? limit.deadline : weft::Deadline();
  if (!wait_woken(node, deadline)) {
    g.lock();
    if (w.waiters.contains(&node)) {
      w.waiters.remove(&node);
      std::uint32_t two = 2;
      if (w.waiters.empty()) w.state.compare_exchange_strong(two, 1);
      g.unlock();
      return ETIMEDOUT;
    }
    g.unlock();
    wait_claimed(node);  // the mutex was handed over just as the deadline passed
  }
  // The unlocker made us the owner before waking us.
  return 0;
}

}  // namespace

bool mutex_is_libc(const pthread_mutex_t* m) noexcept {
  return (m->__data.__kind & kLibcKinds) != 0;
}

int mutex_lock(pthread_mutex_t* m, const WaitLimit& limit, bool pinned) noexcept {
  MutexWords& w = words(m);
  std::uintptr_t self = self_token();
  int type = w.kind & kTypeMask;
  if (type != PTHREAD_MUTEX_NORMAL && w.owner.load(std::memory_order_relaxed) == self) {
    if (type == PTHREAD_MUTEX_ERRORCHECK) return EDEADLK;
    if (type == PTHREAD_MUTEX_RECURSIVE) {
      if (w.count == UINT_MAX) return EAGAIN;
      ++w.count;
      return 0;
    }
  }
  std::uint32_t free = 0;
  if (w.state.compare_exchange_strong(free, 1, std::memory_order_acquire)) {
    take(w, self, 1);
    return 0;
  }
  if (limit.kind == WaitLimit::kNow) return EBUSY;
  return lock_slow(w, self, limit, pinned);
}

int mutex_unlock(pthread_mutex_t* m) noexcept {
  MutexWords& w = words(m);
  int type = w.kind & kTypeMask;
  if (type == PTHREAD_MUTEX_ERRORCHECK || type == PTHREAD_MUTEX_RECURSIVE) {
    if (w.owner.load(std::memory_order_relaxed) != self_token()) return EPERM;
    if (type == PTHREAD_MUTEX_RECURSIVE && --w.count > 0) return 0;
  }
  w.owner.store(0, std::memory_order_relaxed);
  std::uint32_t one = 1;
  if (w.state.compare_exchange_strong(one, 0, std::memory_order_release)) return 0;
  rt::Lock& g = guard(&w.guard);
  g.lock();
  WaitNode* next = w.waiters.pop_live();
  if (next == nullptr) {
    // Every waiter gave up meanwhile.
    w.state.store(0, std::memory_order_release);
    g.unlock();
    return 0;
  }
  // Hand over: the mutex stays locked, now by the longest waiter.
  take(w, next->token, 1);
  if (w.waiters.empty()) w.state.store(1, std::memory_order_relaxed);
  g.unlock();
  wake(next);
  return 0;
}

unsigned mutex_release_all(pthread_mutex_t* m, int* err) noexcept {
  if (mutex_is_libc(m)) {
    // A process-shared or robust mutex under a shim condition variable: glibc's unlock.
    *err = WEFT_REAL(pthread_mutex_unlock)(m);
    return *err == 0 ? 1 : 0;
  }
  MutexWords& w = words(m);
  int type = w.kind & kTypeMask;
  unsigned count = 1;
  if (type == PTHREAD_MUTEX_RECURSIVE || type == PTHREAD_MUTEX_ERRORCHECK) {
    if (w.owner.load(std::memory_order_relaxed) != self_token()) {
      *err = EPERM;
      return 0;
    }
    count = w.count;
    w.count = 1;
  }
  *err = mutex_unlock(m);
  return *err == 0 ? count : 0;
}

void mutex_reacquire(pthread_mutex_t* m, unsigned count) noexcept {
  if (mutex_is_libc(m)) {
    WEFT_REAL(pthread_mutex_lock)(m);  // blocks the carrier while it waits: glibc's mutex
    return;
  }
  // Without a deadline only the hand-off ends the wait, so it cannot fail.
  mutex_lock(m, WaitLimit::forever());
  words(m).count = count;
}

}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int pthread_mutex_init(pthread_mutex_t* m, const pthread_mutexattr_t* attr) noexcept {
  int type = PTHREAD_MUTEX_DEFAULT;
  if (attr != nullptr) {
    int pshared = PTHREAD_PROCESS_PRIVATE, robust = PTHREAD_MUTEX_STALLED,
        protocol = PTHREAD_PRIO_NONE;
    pthread_mutexattr_getpshared(attr, &pshared);
    pthread_mutexattr_getrobust(attr, &robust);
    pthread_mutexattr_getprotocol(attr, &protocol);
    if (pshared != PTHREAD_PROCESS_PRIVATE || robust != PTHREAD_MUTEX_STALLED ||
        protocol != PTHREAD_PRIO_NONE) {
      count(Sym::pthread_mutex_init, Route::kLibcObject);
      auto real = WEFT_REAL(pthread_mutex_init);
      return real != nullptr ? real(m, attr) : ENOTSUP;
    }
    if (pthread_mutexattr_gettype(attr, &type) != 0) return EINVAL;
  }
  std::memset(static_cast<void*>(m), 0, sizeof *m);
  m->__data.__kind = type;
  return 0;
}

WEFT_EXPORT int pthread_mutex_destroy(pthread_mutex_t* m) noexcept {
  if (mutex_is_libc(m)) {
    auto real = WEFT_REAL(pthread_mutex_destroy);
    return real != nullptr ? real(m) : 0;
  }
  return reinterpret_cast<std::atomic<std::uint32_t>*>(m)->load(std::memory_order_relaxed) != 0
             ? EBUSY
             : 0;
}

WEFT_EXPORT int pthread_mutex_lock(pthread_mutex_t* m) noexcept {
  if (mutex_is_libc(m)) {
    count(Sym::pthread_mutex_lock, Route::kLibcObject);
    return WEFT_REAL(pthread_mutex_lock)(m);
  }
  if (from_allocator(__builtin_return_address(0))) {
    count(Sym::pthread_mutex_lock, Route::kAllocator);
    return mutex_lock(m, WaitLimit::forever(), true);
  }
  count(Sym::pthread_mutex_lock, fiber_route());
  return mutex_lock(m, WaitLimit::forever());
}

WEFT_EXPORT int pthread_mutex_trylock(pthread_mutex_t* m) noexcept {
  if (mutex_is_libc(m)) {
    count(Sym::pthread_mutex_trylock, Route::kLibcObject);
    return WEFT_REAL(pthread_mutex_trylock)(m);
  }
  count(Sym::pthread_mutex_trylock,
        from_allocator(__builtin_return_address(0)) ? Route::kAllocator : fiber_route());
  return mutex_lock(m, WaitLimit::now());
}

WEFT_EXPORT int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abstime) noexcept {
  if (mutex_is_libc(m)) {
    count(Sym::pthread_mutex_timedlock, Route::kLibcObject);
    return WEFT_REAL(pthread_mutex_timedlock)(m, abstime);
  }
  bool pinned = from_allocator(__builtin_return_address(0));
  count(Sym::pthread_mutex_timedlock, pinned ? Route::kAllocator : fiber_route());
  // A lock that need not wait succeeds whatever the time says, as glibc's does.
  if (int r = mutex_lock(m, WaitLimit::now()); r != EBUSY) return r;
  WaitLimit limit;
  if (int r = WaitLimit::until(CLOCK_REALTIME, *abstime, limit); r != 0) return r;
  return mutex_lock(m, limit, pinned);
}

WEFT_EXPORT int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock,
                                        const timespec* abstime) noexcept {
  if (mutex_is_libc(m)) {
    count(Sym::pthread_mutex_clocklock, Route::kLibcObject);
    return WEFT_REAL(pthread_mutex_clocklock)(m, clock, abstime);
  }
  bool pinned = from_allocator(__builtin_return_address(0));
  count(Sym::pthread_mutex_clocklock, pinned ? Route::kAllocator : fiber_route());
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  if (int r = mutex_lock(m, WaitLimit::now()); r != EBUSY) return r;
  WaitLimit limit;
  if (int r = WaitLimit::until(clock, *abstime, limit); r != 0) return r;
  return mutex_lock(m, limit, pinned);
}

WEFT_EXPORT int pthread_mutex_unlock(pthread_mutex_t* m) noexcept {
  if (mutex_is_libc(m)) {
    count(Sym::pthread_mutex_unlock, Route::kLibcObject);
    return WEFT_REAL(pthread_mutex_unlock)(m);
  }
  count(Sym::pthread_mutex_unlock, fiber_route());
  return mutex_unlock(m);
}

}  // extern "C"
