// weft::gather / weft::collect (weft/gather.hpp): the latch the gathering fiber waits on.
//
// The children arrive from whichever carrier runs them, so the count is under an rt::Lock and
// the gatherer parks on an rt::Waiter following park.hpp's protocol. The last child to arrive
// claims the waiter under the lock and notifies it after unlocking; it never touches the latch
// again, since the gatherer's frame (latch, outcomes) may be gone as soon as it is woken.
#include <weft/gather.hpp>
#include <weft/outcome.hpp>

#include <new>
#include <stdexcept>

#include "sched/interrupt.hpp"
#include "base/lock.hpp"
#include "sched/park.hpp"

namespace weft {
namespace detail {
namespace {

struct LatchState {
  rt::Lock lock;
  std::size_t remaining;
  rt::Waiter* waiter;
};
static_assert(sizeof(LatchState) <= sizeof(GatherLatch::raw_));
static_assert(alignof(LatchState) <= alignof(void*));
static_assert(std::is_trivially_destructible_v<LatchState>);

LatchState& state(GatherLatch& latch) noexcept {
  return *std::launder(reinterpret_cast<LatchState*>(latch.raw_));
}

// wait() waits for the count to reach zero; when interruptible, it gives up on cancellation or
// scope expiry and says which, else it returns kNotified.
rt::Wake wait(GatherLatch& latch, bool interruptible) noexcept {
  // An already cancelled (or timed out) gatherer fails even if the children were quick.
  if (interruptible) {
    rt::Wake now = rt::interrupted();
    if (now != rt::Wake::kNotified) return now;
  }
  LatchState& s = state(latch);
  rt::Waiter w("gather", &latch);
  w.in_run_only = true;
  s.lock.lock();
  if (s.remaining == 0) {
    s.lock.unlock();
    return rt::Wake::kNotified;
  }
  s.waiter = &w;
  s.lock.unlock();
  if (!interruptible) {
    rt::park_notified(w);
    return rt::Wake::kNotified;
  }
  rt::Wake r = rt::park(w, Deadline());
  if (r == rt::Wake::kNotified) return r;
  s.lock.lock();
  bool linked = s.waiter == &w;
  if (linked) s.waiter = nullptr;
  s.lock.unlock();
  if (linked) return r;
  rt::park_notified(w);  // the last child already claimed us: its notify is on the way
  return rt::Wake::kNotified;
}

}  // namespace

GatherLatch::GatherLatch(std::size_t n) noexcept {
  new (raw_) LatchState{{}, n, nullptr};
}

void GatherLatch::arrive() noexcept {
  LatchState& s = state(*this);
  s.lock.lock();
  rt::Waiter* w = nullptr;
  if (--s.remaining == 0) w = std::exchange(s.waiter, nullptr);
  s.lock.unlock();
  if (w != nullptr) rt::notify(*w);
}

void gather_wait(GatherLatch& latch, Fiber<void>* kids, std::size_t n, std::size_t spawned,
                 std::exception_ptr error) {
  for (std::size_t i = spawned; i < n; ++i) latch.arrive();
  if (!error && rt::running_fiber() == nullptr) {
    error = std::make_exception_ptr(std::logic_error("weft::gather called off a fiber"));
  }
  rt::Wake r = error ? rt::Wake::kNotified : wait(latch, true);
  if (!error && r == rt::Wake::kNotified) return;
  // The children use this frame until they arrive, so they must all be done before we throw.
  for (std::size_t i = 0; i < spawned; ++i) kids[i].cancel();
  wait(latch, false);
  if (error) std::rethrow_exception(error);
  rt::throw_wake(r);
}

[[noreturn]] void throw_empty_outcome() {
  throw std::logic_error("weft::Outcome::value: the outcome is empty");
}

}  // namespace detail
}  // namespace weft
