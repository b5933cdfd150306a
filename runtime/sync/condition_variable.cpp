// ConditionVariable: a FIFO of waiters; notify claims them, then the woken fibers retake the
// mutex themselves.
//
// No lost wakeup: a waiter is linked under the condition variable's lock before it releases the
// mutex, so a notifier that changed the condition under the mutex and then notifies finds it
// linked. The mutex is retaken through Mutex::lock_uninterruptible(), whatever ended the wait,
// so every exit (a throw included) holds it, as std::condition_variable promises.
#include <weft/condition_variable.hpp>

#include <new>
#include <stdexcept>

#include "sync/wait_list.hpp"

namespace weft {
namespace {

struct CondImpl {
  rt::Lock lock;
  rt::WaiterList waiters;
};

}  // namespace

ConditionVariable::ConditionVariable() noexcept {
  new (impl_) CondImpl();
}

ConditionVariable::~ConditionVariable() {
  auto& c = rt::impl_of<CondImpl>(impl_);
  if (rt::has_waiters(c.lock, c.waiters)) {
    rt::misuse("weft::ConditionVariable destroyed while fibers wait on it");
  }
  c.~CondImpl();
}

void ConditionVariable::notify_one() noexcept {
  auto& c = rt::impl_of<CondImpl>(impl_);
  c.lock.lock();
  rt::Waiter* w = c.waiters.pop_live();
  c.lock.unlock();
  if (w != nullptr) rt::notify(*w);
}

void ConditionVariable::notify_all() noexcept {
  auto& c = rt::impl_of<CondImpl>(impl_);
  rt::WakeChain woken;
  c.lock.lock();
  c.waiters.take_all(woken);
  c.lock.unlock();
  woken.notify_all();
}

bool ConditionVariable::wait_until_deadline(std::unique_lock<Mutex>& lock, Deadline deadline) {
  rt::require_fiber("weft::ConditionVariable::wait");
  if (!lock.owns_lock()) {
    throw std::logic_error("weft::ConditionVariable::wait: the lock does not hold its mutex");
  }
  // Failing before releasing the mutex leaves it held, as on every other exit.
  if (rt::Wake early = rt::early_wake(deadline); early != rt::Wake::kNotified) {
    return rt::finish_wait(early);
  }
  auto& c = rt::impl_of<CondImpl>(impl_);
  rt::Waiter w("condition variable", this);
  c.lock.lock();
  c.waiters.push_back(&w);
  c.lock.unlock();
  Mutex* m = lock.release();
  m->unlock();
  rt::Wake why = rt::wait_linked(c.lock, c.waiters, w, deadline);
  m->lock_uninterruptible();
  lock = std::unique_lock<Mutex>(*m, std::adopt_lock);
  return rt::finish_wait(why);
}

}  // namespace weft
