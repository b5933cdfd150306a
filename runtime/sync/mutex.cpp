// Mutex: ownership passes from unlock() straight to the longest waiter (FIFO hand-off).
//
// The owner is a token: the running fiber's control block, or, for try_lock()/unlock() off a
// fiber, the address of a thread-local, so a plain thread can hold the mutex too (the shim
// needs that) and unlock() can tell a caller that does not hold it. Invariant: the mutex is
// free only when nobody waits, because unlock() never frees a mutex that has waiters; so
// try_lock() and the fast path of lock() need only look at the owner.
#include <weft/mutex.hpp>

#include <new>

#include "sync/wait_list.hpp"

namespace weft {
namespace {

struct MutexImpl {
  rt::Lock lock;
  const void* owner = nullptr;
  rt::WaiterList waiters;
};

thread_local const char tls_owner_token = 0;

// owner_token() names the caller as a mutex owner.
const void* owner_token() noexcept {
  rt::FiberControl* self = rt::running_fiber();
  return self != nullptr ? static_cast<const void*>(self) : &tls_owner_token;
}

}  // namespace

Mutex::Mutex() noexcept {
  new (impl_) MutexImpl();
}

Mutex::~Mutex() {
  auto& m = rt::impl_of<MutexImpl>(impl_);
  m.lock.lock();
  bool busy = m.owner != nullptr || !m.waiters.empty();
  m.lock.unlock();
  if (busy) {
    rt::misuse("weft::Mutex destroyed while it is held or waited for");
  }
  m.~MutexImpl();
}

bool Mutex::try_lock() noexcept {
  auto& m = rt::impl_of<MutexImpl>(impl_);
  const void* me = owner_token();
  m.lock.lock();
  bool got = m.owner == nullptr;
  if (got) m.owner = me;
  m.lock.unlock();
  return got;
}

bool Mutex::lock_until(Deadline deadline) {
  rt::FiberControl* self = rt::require_fiber("weft::Mutex::lock");
  auto& m = rt::impl_of<MutexImpl>(impl_);
  m.lock.lock();
  if (m.owner == nullptr) {
    m.owner = self;
    m.lock.unlock();
    return true;
  }
  if (m.owner == self) {
    m.lock.unlock();
    rt::misuse("weft::Mutex::lock: the calling fiber already holds the mutex (not recursive)");
  }
  // Claimed means handed over: unlock() made this fiber the owner before notifying it.
  rt::Waiter w("mutex", this);
  return rt::wait_in(m.lock, m.waiters, w, deadline);
}

void Mutex::lock_uninterruptible() noexcept {
  rt::FiberControl* self = rt::running_fiber();
  auto& m = rt::impl_of<MutexImpl>(impl_);
  m.lock.lock();
  if (m.owner == nullptr) {
    m.owner = self;
    m.lock.unlock();
    return;
  }
  rt::Waiter w("mutex", this);
  rt::wait_uninterruptible_in(m.lock, m.waiters, w);
}

void Mutex::unlock() noexcept {
  auto& m = rt::impl_of<MutexImpl>(impl_);
  const void* me = owner_token();
  m.lock.lock();
  if (m.owner != me) {
    m.lock.unlock();
    rt::misuse("weft::Mutex::unlock: the caller does not hold the mutex");
  }
  rt::Waiter* next = m.waiters.pop_live();
  m.owner = next != nullptr ? static_cast<const void*>(next->fiber) : nullptr;
  m.lock.unlock();
  if (next != nullptr) rt::notify(*next);
}

}  // namespace weft
