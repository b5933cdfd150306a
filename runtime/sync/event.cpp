// Event: a flag and a FIFO of waiters; set() claims them all.
#include <weft/event.hpp>

#include <new>

#include "sync/wait_list.hpp"

namespace weft {
namespace {

struct EventImpl {
  mutable rt::Lock lock;
  bool flag = false;
  rt::WaiterList waiters;
};

}  // namespace

Event::Event() noexcept {
  new (impl_) EventImpl();
}

Event::~Event() {
  auto& e = rt::impl_of<EventImpl>(impl_);
  if (rt::has_waiters(e.lock, e.waiters)) {
    rt::misuse("weft::Event destroyed while fibers wait on it");
  }
  e.~EventImpl();
}

void Event::set() noexcept {
  auto& e = rt::impl_of<EventImpl>(impl_);
  rt::WakeChain woken;
  e.lock.lock();
  e.flag = true;
  e.waiters.take_all(woken);
  e.lock.unlock();
  woken.notify_all();
}

void Event::clear() noexcept {
  auto& e = rt::impl_of<EventImpl>(impl_);
  e.lock.lock();
  e.flag = false;
  e.lock.unlock();
}

bool Event::is_set() const noexcept {
  const auto& e = rt::impl_of<EventImpl>(impl_);
  e.lock.lock();
  bool flag = e.flag;
  e.lock.unlock();
  return flag;
}

bool Event::wait_until_deadline(Deadline deadline) {
  rt::require_fiber("weft::Event::wait");
  auto& e = rt::impl_of<EventImpl>(impl_);
  e.lock.lock();
  if (e.flag) {
    e.lock.unlock();
    return true;
  }
  rt::Waiter w("event", this);
  return rt::wait_in(e.lock, e.waiters, w, deadline);
}

}  // namespace weft
