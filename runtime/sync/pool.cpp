// Pool: a Semaphore of free places, a WaitGroup of unfinished members, and the list of started
// members that cancel() walks.
//
// A member is counted from the moment spawn() takes its place, but it can only be listed once
// it runs, since its list entry lives in its own frame (so a pool allocates nothing). cancel()
// must also reach members spawned but not started yet: it bumps an epoch, and a member whose
// spawn saw an older epoch cancels itself as it starts. A finishing member unlists itself,
// gives back its place and, last, counts itself done: after that it no longer touches the pool,
// which join() (or the destructor) may then let its owner destroy.
#include <weft/pool.hpp>

#include <new>
#include <stdexcept>
#include <string>

#include "sync/wait_list.hpp"

namespace weft {
namespace {

// Members is a pool's started members, linked both ways (a member leaves from anywhere).
using Members = rt::List<detail::PoolMember, &detail::PoolMember::next, &detail::PoolMember::prev>;

struct PoolImpl {
  mutable rt::Lock lock;
  Members members;
  std::uint64_t epoch = 0;

  // is_member() tells whether f is a started member; call it under the lock.
  bool is_member(const rt::FiberControl* f) const noexcept {
    for (const detail::PoolMember* m = members.front(); m != nullptr; m = Members::next(m)) {
      if (m->fiber == f) return true;
    }
    return false;
  }
};

std::ptrdiff_t checked_size(std::size_t size) {
  if (size == 0 || size > static_cast<std::size_t>(PTRDIFF_MAX)) {
    throw std::invalid_argument("weft::Pool: the size must be at least 1, got " +
                                std::to_string(size));
  }
  return static_cast<std::ptrdiff_t>(size);
}

// member_of() tells whether f is a started member of the pool whose state is p.
bool member_of(const PoolImpl& p, const rt::FiberControl* f) noexcept {
  p.lock.lock();
  bool member = p.is_member(f);
  p.lock.unlock();
  return member;
}

}  // namespace

Pool::Pool(std::size_t size) : size_(size), slots_(checked_size(size)) {
  new (impl_) PoolImpl();
}

Pool::~Pool() {
  auto& p = rt::impl_of<PoolImpl>(impl_);
  if (members_.count() != 0) {
    rt::FiberControl* self = rt::running_fiber();
    if (self == nullptr) rt::misuse("weft::Pool destroyed off a fiber while members still run");
    if (member_of(p, self)) rt::misuse("weft::Pool destroyed by one of its own members");
    members_.wait_uninterruptible();
  }
  p.~PoolImpl();
}

std::uint64_t Pool::reserve() {
  rt::require_fiber("weft::Pool::spawn");
  slots_.acquire();
  members_.add(1);
  auto& p = rt::impl_of<PoolImpl>(impl_);
  p.lock.lock();
  std::uint64_t epoch = p.epoch;
  p.lock.unlock();
  return epoch;
}

void Pool::unreserve() noexcept {
  slots_.release();
  members_.done();
}

void Pool::enter(detail::PoolMember& m, std::uint64_t epoch) noexcept {
  auto& p = rt::impl_of<PoolImpl>(impl_);
  m.fiber = rt::running_fiber();
  p.lock.lock();
  p.members.push_front(&m);
  if (p.epoch != epoch) detail::cancel_fiber(m.fiber);
  p.lock.unlock();
}

void Pool::leave(detail::PoolMember& m) noexcept {
  auto& p = rt::impl_of<PoolImpl>(impl_);
  p.lock.lock();
  p.members.remove(&m);
  p.lock.unlock();
  unreserve();
}

void Pool::cancel() noexcept {
  auto& p = rt::impl_of<PoolImpl>(impl_);
  p.lock.lock();
  ++p.epoch;
  for (detail::PoolMember* m = p.members.front(); m != nullptr; m = Members::next(m)) {
    detail::cancel_fiber(m->fiber);
  }
  p.lock.unlock();
}

bool Pool::join_until_deadline(Deadline deadline) {
  rt::FiberControl* self = rt::require_fiber("weft::Pool::join");
  if (member_of(rt::impl_of<PoolImpl>(impl_), self)) {
    throw std::logic_error(
        "weft::Pool::join called by a member of the pool (it would wait for "
        "itself)");
  }
  return members_.wait_until_deadline(deadline);
}

std::size_t Pool::running() const noexcept {
  // Places taken, not members_.count(): a finishing member gives its place back before it counts
  // itself done, so with several carriers the next member may already hold that place.
  return size_ - static_cast<std::size_t>(slots_.value());
}

std::size_t Pool::free_count() const noexcept {
  return static_cast<std::size_t>(slots_.value());
}

}  // namespace weft
