// once: pthread_once (and so std::call_once), whose waiters park fibers instead of blocking the
// carrier while another thread runs the init routine (which may itself block, and yield).
//
// The program's pthread_once_t (an int, PTHREAD_ONCE_INIT = 0) holds the state: 0 not run yet,
// kRunning while one thread runs the routine, kDone after. Waiters queue in one of kBuckets
// shared lists chosen by the control's address, under that bucket's lock; a waiter checks the
// state again under the lock before it queues, and the runner wakes the address's waiters under
// the same lock after publishing the new state, so no wake-up is lost. A routine that throws (a
// C++ callable under std::call_once) leaves the control not run, wakes the waiters so one of
// them runs it, and the exception goes on to the caller, as with glibc.
#include <pthread.h>
#include <atomic>
#include <cstdint>
#include <mutex>

#include "shim.hpp"
#include "stats.hpp"
#include "wait_node.hpp"

namespace weft::shim {
namespace {

constexpr int kRunning = 1;
constexpr int kDone = 2;
constexpr std::size_t kBuckets = 64;

struct alignas(64) Bucket {
  rt::Lock lock;
  WaitNodeList waiters{};
};
Bucket g_buckets[kBuckets];

Bucket& bucket_of(const void* once) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(once);
  return g_buckets[(a >> 2) % kBuckets];
}

std::atomic<int>& state_of(pthread_once_t* once) noexcept {
  static_assert(sizeof(std::atomic<int>) == sizeof(pthread_once_t));
  return *reinterpret_cast<std::atomic<int>*>(once);
}

// wait_not_running() waits until once's routine is no longer running.
void wait_not_running(pthread_once_t* once) noexcept {
  Bucket& b = bucket_of(once);
  rt::Waiter fiber_waiter("once", once);
  // The node's token names the control it waits on; the bucket is shared by several.
  WaitNode node(on_fiber() ? &fiber_waiter : nullptr, reinterpret_cast<std::uintptr_t>(once));
  {
    std::lock_guard<rt::Lock> hold(b.lock);
    if (state_of(once).load(std::memory_order_acquire) != kRunning) return;
    b.waiters.push_back(&node);
  }
  wait_claimed(node);  // only the runner's wake-up ends it
}

// wake_waiters() wakes everyone waiting on once (its new state is already published).
void wake_waiters(pthread_once_t* once) noexcept {
  Bucket& b = bucket_of(once);
  WakeList woken;
  {
    std::lock_guard<rt::Lock> hold(b.lock);
    for (WaitNode* n = b.waiters.front(); n != nullptr;) {
      if (n->token != reinterpret_cast<std::uintptr_t>(once)) {
        n = WaitNodeList::next(n);
        continue;
      }
      WaitNode* next = b.waiters.remove(n);
      woken.push_back(n);  // a private list now: nobody else can reach the node
      n = next;
    }
  }
  woken.wake_all();
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hook below is this file's whole content

extern "C" {

WEFT_EXPORT int pthread_once(pthread_once_t* once, void (*init)()) {
  std::atomic<int>& state = state_of(once);
  if (state.load(std::memory_order_acquire) == kDone) return 0;
  count(Sym::pthread_once, fiber_route());
  for (;;) {
    int s = 0;
    if (state.compare_exchange_strong(s, kRunning, std::memory_order_acquire)) {
      try {
        init();
      } catch (...) {
        state.store(0, std::memory_order_release);
        wake_waiters(once);
        throw;
      }
      state.store(kDone, std::memory_order_release);
      wake_waiters(once);
      return 0;
    }
    if (s == kDone) return 0;
    wait_not_running(once);
  }
}

}  // extern "C"
