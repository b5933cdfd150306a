// barrier: pthread barriers, waited at by fibers without blocking their carrier.
//
// A barrier lives in the program's pthread_barrier_t (32 bytes), laid out as BarrierWords with
// glibc's __shared word in place (non-zero: process-shared, glibc's): a guard lock, how many
// threads have arrived in this round, how many the barrier waits for, and the FIFO of those
// waiting. The thread that completes a round takes every waiter off the list, starts the next
// round and wakes them; it returns PTHREAD_BARRIER_SERIAL_THREAD, the others 0. A wait cannot be
// cut short, as with glibc.
#include <pthread.h>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"
#include "wait_node.hpp"

namespace weft::shim {
namespace {

// BarrierWords is how the shim lays out a pthread_barrier_t; see the top of this file.
struct BarrierWords {
  std::uint32_t guard;
  unsigned arrived;
  unsigned count;
  int shared;  // glibc's: non-zero for a process-shared barrier (glibc's)
  WaitNodeList waiters;
};
static_assert(sizeof(BarrierWords) == sizeof(pthread_barrier_t));

BarrierWords& words(pthread_barrier_t* b) noexcept {
  return *reinterpret_cast<BarrierWords*>(b);
}

// kSharedOffset is where glibc keeps its process-shared flag (struct pthread_barrier: in,
// current_round, count, shared, out).
constexpr std::size_t kSharedOffset = 12;
static_assert(offsetof(BarrierWords, shared) == kSharedOffset);

bool is_libc(pthread_barrier_t* b) noexcept {
  return words(b).shared != 0;
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int pthread_barrier_init(pthread_barrier_t* b, const pthread_barrierattr_t* attr,
                                     unsigned n) noexcept {
  if (attr != nullptr) {
    int pshared = PTHREAD_PROCESS_PRIVATE;
    pthread_barrierattr_getpshared(attr, &pshared);
    if (pshared != PTHREAD_PROCESS_PRIVATE) {
      count(Sym::pthread_barrier_init, Route::kLibcObject);
      return WEFT_REAL(pthread_barrier_init)(b, attr, n);
    }
  }
  if (n == 0 || n > INT_MAX) return EINVAL;
  std::memset(static_cast<void*>(b), 0, sizeof *b);
  words(b).count = n;
  return 0;
}

WEFT_EXPORT int pthread_barrier_destroy(pthread_barrier_t* b) noexcept {
  if (is_libc(b)) return WEFT_REAL(pthread_barrier_destroy)(b);
  BarrierWords& w = words(b);
  std::lock_guard<weft::rt::Lock> hold(guard(&w.guard));
  return w.arrived != 0 ? EBUSY : 0;
}

WEFT_EXPORT int pthread_barrier_wait(pthread_barrier_t* b) noexcept {
  if (is_libc(b)) {
    count(Sym::pthread_barrier_wait, Route::kLibcObject);
    return WEFT_REAL(pthread_barrier_wait)(b);
  }
  count(Sym::pthread_barrier_wait, fiber_route());
  BarrierWords& w = words(b);
  weft::rt::Lock& g = guard(&w.guard);
  weft::rt::Waiter fiber_waiter("barrier", &w);
  WaitNode node(on_fiber() ? &fiber_waiter : nullptr, 0);
  g.lock();
  if (++w.arrived < w.count) {
    w.waiters.push_back(&node);
    g.unlock();
    wait_claimed(node);  // only the round's last arrival wakes it
    return 0;
  }
  // The last one in: the next round starts now, and everyone waiting goes.
  w.arrived = 0;
  WakeList woken;
  w.waiters.take_live(woken);
  g.unlock();
  woken.wake_all();
  return PTHREAD_BARRIER_SERIAL_THREAD;
}

}  // extern "C"
