// Semaphore: a count and a FIFO of waiters; release() hands permits to waiters before it adds
// any to the count. Invariant: the count is zero whenever somebody waits, so try_acquire() and
// the fast path of acquire() can never take a permit a waiter is owed.
#include <weft/semaphore.hpp>

#include <new>
#include <stdexcept>
#include <string>

#include "sync/wait_list.hpp"

namespace weft {
namespace {

struct SemaphoreImpl {
  mutable rt::Lock lock;
  std::ptrdiff_t count = 0;
  std::ptrdiff_t max = 0;
  rt::WaiterList waiters;
};

}  // namespace

Semaphore::Semaphore(std::ptrdiff_t initial, std::ptrdiff_t max_value) {
  if (max_value < 0 || initial < 0 || initial > max_value) {
    throw std::invalid_argument("weft::Semaphore: the initial count " + std::to_string(initial) +
                                " is not within 0.." + std::to_string(max_value));
  }
  auto* s = new (impl_) SemaphoreImpl();
  s->count = initial;
  s->max = max_value;
}

Semaphore::~Semaphore() {
  auto& s = rt::impl_of<SemaphoreImpl>(impl_);
  if (rt::has_waiters(s.lock, s.waiters)) {
    rt::misuse("weft::Semaphore destroyed while fibers wait on it");
  }
  s.~SemaphoreImpl();
}

bool Semaphore::try_acquire() noexcept {
  auto& s = rt::impl_of<SemaphoreImpl>(impl_);
  s.lock.lock();
  bool got = s.count > 0;
  if (got) --s.count;
  s.lock.unlock();
  return got;
}

bool Semaphore::acquire_until(Deadline deadline) {
  rt::require_fiber("weft::Semaphore::acquire");
  auto& s = rt::impl_of<SemaphoreImpl>(impl_);
  s.lock.lock();
  if (s.count > 0) {
    --s.count;
    s.lock.unlock();
    return true;
  }
  // Claimed means granted: release() gave this waiter its permit instead of counting it.
  rt::Waiter w("semaphore", this);
  return rt::wait_in(s.lock, s.waiters, w, deadline);
}

void Semaphore::release(std::ptrdiff_t n) noexcept {
  if (n < 0) rt::misuse("weft::Semaphore::release: a negative count");
  auto& s = rt::impl_of<SemaphoreImpl>(impl_);
  rt::WakeChain woken;
  s.lock.lock();
  if (n > s.max - s.count) {
    s.lock.unlock();
    rt::misuse("weft::Semaphore::release: the count would exceed the semaphore's maximum");
  }
  for (; n > 0; --n) {
    rt::Waiter* w = s.waiters.pop_live();
    if (w == nullptr) break;
    woken.push_back(w);
  }
  s.count += n;
  s.lock.unlock();
  woken.notify_all();
}

std::ptrdiff_t Semaphore::value() const noexcept {
  const auto& s = rt::impl_of<SemaphoreImpl>(impl_);
  s.lock.lock();
  std::ptrdiff_t count = s.count;
  s.lock.unlock();
  return count;
}

std::ptrdiff_t Semaphore::max() const noexcept {
  return rt::impl_of<SemaphoreImpl>(impl_).max;
}

}  // namespace weft
