// WaitGroup: a counter and a FIFO of waiters; the add() that brings the counter to zero claims
// them all.
#include <weft/wait_group.hpp>

#include <new>

#include "sync/wait_list.hpp"

namespace weft {
namespace {

struct WaitGroupImpl {
  mutable rt::Lock lock;
  std::ptrdiff_t counter = 0;
  rt::WaiterList waiters;
};

}  // namespace

WaitGroup::WaitGroup() noexcept {
  new (impl_) WaitGroupImpl();
}

WaitGroup::~WaitGroup() {
  auto& g = rt::impl_of<WaitGroupImpl>(impl_);
  if (rt::has_waiters(g.lock, g.waiters)) {
    rt::misuse("weft::WaitGroup destroyed while fibers wait on it");
  }
  g.~WaitGroupImpl();
}

void WaitGroup::add(std::ptrdiff_t n) noexcept {
  auto& g = rt::impl_of<WaitGroupImpl>(impl_);
  rt::WakeChain woken;
  g.lock.lock();
  g.counter += n;
  if (g.counter < 0) {
    g.lock.unlock();
    rt::misuse("weft::WaitGroup: the counter went negative (more done() than add())");
  }
  if (g.counter == 0) g.waiters.take_all(woken);
  g.lock.unlock();
  woken.notify_all();
}

std::ptrdiff_t WaitGroup::count() const noexcept {
  const auto& g = rt::impl_of<WaitGroupImpl>(impl_);
  g.lock.lock();
  std::ptrdiff_t counter = g.counter;
  g.lock.unlock();
  return counter;
}

bool WaitGroup::wait_until_deadline(Deadline deadline) {
  rt::require_fiber("weft::WaitGroup::wait");
  auto& g = rt::impl_of<WaitGroupImpl>(impl_);
  g.lock.lock();
  if (g.counter == 0) {
    g.lock.unlock();
    return true;
  }
  rt::Waiter w("wait group", this);
  return rt::wait_in(g.lock, g.waiters, w, deadline);
}

void WaitGroup::wait_uninterruptible() noexcept {
  auto& g = rt::impl_of<WaitGroupImpl>(impl_);
  g.lock.lock();
  if (g.counter == 0) {
    g.lock.unlock();
    return;
  }
  rt::Waiter w("wait group", this);
  rt::wait_uninterruptible_in(g.lock, g.waiters, w);
}

}  // namespace weft
