// rwlock: the program's pthread rwlocks, waited on by fibers without blocking their carrier.
//
// State lives in the program's pthread_rwlock_t (56 bytes, zero for PTHREAD_RWLOCK_INITIALIZER),
// laid out as RwWords, which keeps glibc's __shared and __flags words in place: __flags is the
// kind (so PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP works) and a non-zero __shared marks
// a process-shared rwlock, which glibc keeps. The state word counts readers and has a writer bit
// and a "someone waits" bit; while nobody waits, lock and unlock are one compare-and-swap. With
// waiters every change goes through the guard lock and a FIFO of reader and writer nodes.
//
// Policy, as glibc's kinds: by default (PREFER_READER, and PREFER_WRITER, which glibc treats the
// same) a reader gets in whenever no writer holds the lock, waiting writers or not, so a thread
// may take its read lock again while a writer waits; PREFER_WRITER_NONRECURSIVE makes new
// readers queue behind waiting writers. When the lock comes free it is handed over: to the
// writer at the head of the queue, or to the readers (all queued readers by default; those at
// the head under PREFER_WRITER_NONRECURSIVE). A writer taking a lock it holds gets EDEADLK, as
// does a reader taking a read lock on a lock it holds for writing.
#include <pthread.h>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"
#include "thread_wait.hpp"
#include "wait_node.hpp"

namespace weft::shim {
namespace {

// RwWords is how the shim lays out a pthread_rwlock_t; see the top of this file.
struct RwWords {
  std::atomic<std::uint32_t> state;
  std::uint32_t guard;
  WaitNodeList waiters;
  std::uint32_t unused;
  int shared;  // glibc's __shared: non-zero for a process-shared rwlock (glibc's)
  std::atomic<std::uintptr_t> writer;  // the writing thread's pthread_t
  std::uint64_t unused2;
  unsigned flags;  // glibc's __flags: the kind
  std::uint32_t unused3;
};
static_assert(sizeof(RwWords) == sizeof(pthread_rwlock_t));
static_assert(offsetof(RwWords, shared) == offsetof(pthread_rwlock_t, __data.__shared));
static_assert(offsetof(RwWords, flags) == offsetof(pthread_rwlock_t, __data.__flags));

constexpr std::uint32_t kWriter = 1u << 31;
constexpr std::uint32_t kWaiting = 1u << 30;
constexpr std::uint32_t kReaders = kWaiting - 1;

// Node tokens say what a queued node wants: its own pthread_t is kept for writers.
constexpr std::uintptr_t kReaderToken = 0;

RwWords& words(pthread_rwlock_t* l) noexcept {
  return *reinterpret_cast<RwWords*>(l);
}

bool is_libc(pthread_rwlock_t* l) noexcept {
  return words(l).shared != 0;
}

bool writers_first(const RwWords& w) noexcept {
  return w.flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

bool has_queued_writer(RwWords& w) noexcept {
  w.waiters.prune();
  for (WaitNode* n = w.waiters.front(); n != nullptr; n = WaitNodeList::next(n)) {
    if (n->token != kReaderToken) return true;
  }
  return false;
}

// grant() hands a free lock to the waiters whose turn it is; called under the guard while the
// waiting bit is set (so the state is stable). Adds the nodes to wake to woken.
void grant(RwWords& w, WakeList& woken) noexcept {
  w.waiters.prune();
  std::uint32_t s = w.state.load(std::memory_order_relaxed);
  if ((s & (kWriter | kReaders)) == 0 && !w.waiters.empty()) {
    if (w.waiters.front()->token != kReaderToken) {
      WaitNode* n = w.waiters.pop_front();
      w.writer.store(n->token, std::memory_order_relaxed);
      s |= kWriter;
      woken.push_back(n);
    } else {
      for (WaitNode* n = w.waiters.front(); n != nullptr;) {
        if (n->token == kReaderToken) {
          WaitNode* next = w.waiters.remove(n);
          ++s;
          woken.push_back(n);
          n = next;
        } else if (writers_first(w)) {
          break;  // readers behind a writer wait for it
        } else {
          n = WaitNodeList::next(n);
        }
      }
    }
  }
  if (w.waiters.empty()) s &= ~kWaiting;
  w.state.store(s, std::memory_order_release);
}

// wait_queued() waits for node's grant; on a deadline it withdraws the node. Returns 0 or
// ETIMEDOUT.
int wait_queued(RwWords& w, WaitNode& node, const WaitLimit& limit) noexcept {
  rt::Lock& g = guard(&w.guard);
  weft::Deadline deadline = limit.kind == WaitLimit::kUntil ? limit.deadline : weft::Deadline();
  if (wait_woken(node, deadline)) return 0;
  g.lock();
  if (!w.waiters.contains(&node)) {
    g.unlock();
    wait_claimed(node);  // granted just as the deadline passed
    return 0;
  }
  w.waiters.remove(&node);
  // A writer that leaves may let readers queued behind it in.
  WakeList woken;
  grant(w, woken);
  g.unlock();
  woken.wake_all();
  return ETIMEDOUT;
}

// What an attempt to take the lock under the guard came to, besides 0 (taken) or an error.
constexpr int kMustWait = -1;  // not to be had now: queue
constexpr int kLost = -2;      // a compare-and-swap lost a race: look again

// take_or_wait() is the slow path of rdlock() and wrlock(): under the guard, attempt(s) tries
// to take the lock in state s; while it must wait the caller queues node, unless limit says
// not to wait at all. While nobody waits the lock-free paths may still change the state: every
// change here is a compare-and-swap until the waiting bit (which stops them) is set.
template <class Attempt>
int take_or_wait(RwWords& w, WaitNode& node, const WaitLimit& limit, Attempt attempt) noexcept {
  rt::Lock& g = guard(&w.guard);
  g.lock();
  for (;;) {
    std::uint32_t s = w.state.load(std::memory_order_relaxed);
    int r = attempt(s);
    if (r == kLost) continue;
    if (r != kMustWait) {
      g.unlock();
      return r;
    }
    if (limit.kind == WaitLimit::kNow) {
      g.unlock();
      return EBUSY;
    }
    if (w.state.compare_exchange_weak(s, s | kWaiting, std::memory_order_relaxed)) break;
  }
  w.waiters.push_back(&node);
  g.unlock();
  return wait_queued(w, node, limit);
}

int rdlock(pthread_rwlock_t* l, const WaitLimit& limit) noexcept {
  RwWords& w = words(l);
  std::uint32_t s = w.state.load(std::memory_order_relaxed);
  while ((s & (kWriter | kWaiting)) == 0 && (s & kReaders) != kReaders) {
    if (w.state.compare_exchange_weak(s, s + 1, std::memory_order_acquire)) return 0;
  }
  std::uintptr_t self = static_cast<std::uintptr_t>(pthread_self());
  if ((s & kWriter) != 0 && w.writer.load(std::memory_order_relaxed) == self) return EDEADLK;
  rt::Waiter fiber_waiter("rwlock read", &w);
  WaitNode node(on_fiber() ? &fiber_waiter : nullptr, kReaderToken);
  return take_or_wait(w, node, limit, [&](std::uint32_t& now) {
    if ((now & kWriter) != 0 || (writers_first(w) && has_queued_writer(w))) return kMustWait;
    if ((now & kReaders) == kReaders) return EAGAIN;
    return w.state.compare_exchange_weak(now, now + 1, std::memory_order_acquire) ? 0 : kLost;
  });
}

int wrlock(pthread_rwlock_t* l, const WaitLimit& limit) noexcept {
  RwWords& w = words(l);
  std::uintptr_t self = static_cast<std::uintptr_t>(pthread_self());
  std::uint32_t free = 0;
  if (w.state.compare_exchange_strong(free, kWriter, std::memory_order_acquire)) {
    w.writer.store(self, std::memory_order_relaxed);
    return 0;
  }
  if ((free & kWriter) != 0 && w.writer.load(std::memory_order_relaxed) == self) return EDEADLK;
  rt::Waiter fiber_waiter("rwlock write", &w);
  WaitNode node(on_fiber() ? &fiber_waiter : nullptr, self);
  return take_or_wait(w, node, limit, [&](std::uint32_t& now) {
    if ((now & (kWriter | kReaders)) != 0 || !w.waiters.empty()) return kMustWait;
    if (!w.state.compare_exchange_weak(now, now | kWriter, std::memory_order_acquire)) {
      return kLost;
    }
    w.writer.store(self, std::memory_order_relaxed);
    return 0;
  });
}

int unlock(pthread_rwlock_t* l) noexcept {
  RwWords& w = words(l);
  std::uint32_t s = w.state.load(std::memory_order_relaxed);
  bool writing = (s & kWriter) != 0;
  if (writing) {
    w.writer.store(0, std::memory_order_relaxed);
    std::uint32_t alone = kWriter;  // nobody waits: the lock-free way out
    if (w.state.compare_exchange_strong(alone, 0, std::memory_order_release)) return 0;
  } else {
    if ((s & kReaders) == 0) return EPERM;
    while ((s & kWaiting) == 0) {
      if (w.state.compare_exchange_weak(s, s - 1, std::memory_order_release)) return 0;
    }
  }
  // The waiting bit is set, so nothing changes the state but under the guard.
  rt::Lock& g = guard(&w.guard);
  g.lock();
  s = w.state.load(std::memory_order_relaxed);
  w.state.store(writing ? s & ~kWriter : s - 1, std::memory_order_relaxed);
  WakeList woken;
  grant(w, woken);
  g.unlock();
  woken.wake_all();
  return 0;
}

// timed() runs lock with a deadline on clock, after a try that needs none (glibc checks the
// time only when it has to wait).
int timed(int (*lock)(pthread_rwlock_t*, const WaitLimit&), pthread_rwlock_t* l, clockid_t clock,
          const timespec* abstime) noexcept {
  if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) return EINVAL;
  int r = lock(l, WaitLimit::now());
  if (r != EBUSY) return r;
  WaitLimit limit;
  if (int e = WaitLimit::until(clock, *abstime, limit); e != 0) return e;
  return lock(l, limit);
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

// WEFT_RW_LIBC passes a process-shared rwlock to glibc.
#define WEFT_RW_LIBC(name, l, ...)              \
  do {                                          \
    if (is_libc(l)) {                           \
      count(Sym::name, Route::kLibcObject);     \
      return WEFT_REAL(name)(l, ##__VA_ARGS__); \
    }                                           \
    count(Sym::name, fiber_route());            \
  } while (0)

extern "C" {

WEFT_EXPORT int pthread_rwlock_init(pthread_rwlock_t* l,
                                    const pthread_rwlockattr_t* attr) noexcept {
  int kind = PTHREAD_RWLOCK_PREFER_READER_NP;
  if (attr != nullptr) {
    int pshared = PTHREAD_PROCESS_PRIVATE;
    pthread_rwlockattr_getpshared(attr, &pshared);
    if (pshared != PTHREAD_PROCESS_PRIVATE) {
      count(Sym::pthread_rwlock_init, Route::kLibcObject);
      return WEFT_REAL(pthread_rwlock_init)(l, attr);
    }
    pthread_rwlockattr_getkind_np(attr, &kind);
  }
  std::memset(static_cast<void*>(l), 0, sizeof *l);
  words(l).flags = static_cast<unsigned>(kind);
  return 0;
}

WEFT_EXPORT int pthread_rwlock_destroy(pthread_rwlock_t* l) noexcept {
  if (is_libc(l)) return WEFT_REAL(pthread_rwlock_destroy)(l);
  return 0;
}

// WEFT_RW_FAMILY defines the four ways to take the lock for reading (rd) or writing (wr):
// wait, try, wait until a CLOCK_REALTIME time, and wait until a time on a given clock.
#define WEFT_RW_FAMILY(rw)                                                             \
  WEFT_EXPORT int pthread_rwlock_##rw##lock(pthread_rwlock_t* l) noexcept {            \
    WEFT_RW_LIBC(pthread_rwlock_##rw##lock, l);                                        \
    return rw##lock(l, WaitLimit::forever());                                          \
  }                                                                                    \
  WEFT_EXPORT int pthread_rwlock_try##rw##lock(pthread_rwlock_t* l) noexcept {         \
    WEFT_RW_LIBC(pthread_rwlock_try##rw##lock, l);                                     \
    return rw##lock(l, WaitLimit::now());                                              \
  }                                                                                    \
  WEFT_EXPORT int pthread_rwlock_timed##rw##lock(pthread_rwlock_t* l,                  \
                                                 const timespec* abstime) noexcept {   \
    WEFT_RW_LIBC(pthread_rwlock_timed##rw##lock, l, abstime);                          \
    return timed(rw##lock, l, CLOCK_REALTIME, abstime);                                \
  }                                                                                    \
  WEFT_EXPORT int pthread_rwlock_clock##rw##lock(pthread_rwlock_t* l, clockid_t clock, \
                                                 const timespec* abstime) noexcept {   \
    WEFT_RW_LIBC(pthread_rwlock_clock##rw##lock, l, clock, abstime);                   \
    return timed(rw##lock, l, clock, abstime);                                         \
  }

WEFT_RW_FAMILY(rd)
WEFT_RW_FAMILY(wr)

WEFT_EXPORT int pthread_rwlock_unlock(pthread_rwlock_t* l) noexcept {
  WEFT_RW_LIBC(pthread_rwlock_unlock, l);
  return unlock(l);
}

}  // extern "C"
