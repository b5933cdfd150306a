#include "reactor/reactor.hpp"

#include <poll.h>
#include <mutex>
#include <new>

#include "base/lock.hpp"

namespace weft::rt {
namespace {

Lock g_all_lock;  // guards Reactor::registry()

}  // namespace

short poll_events(const IoOp& op) noexcept {
  switch (op.kind) {
    case OpKind::kWrite:
    case OpKind::kWritev:
    case OpKind::kSend:
    case OpKind::kSendmsg:
    case OpKind::kConnect:
      return POLLOUT;
    case OpKind::kPoll:
      return op.events;
    default:
      return POLLIN;
  }
}

Reactor::Registry& Reactor::registry() noexcept {
  static constinit Registry all;
  return all;
}

void Reactor::enlist() noexcept {
  std::lock_guard<Lock> hold(g_all_lock);
  registry().push_front(this);
  enlisted_ = true;
}

void Reactor::delist() noexcept {
  if (!enlisted_) return;
  std::lock_guard<Lock> hold(g_all_lock);
  registry().remove(this);
  enlisted_ = false;
}

void Reactor::forget_all() noexcept {
  // A thread that held the lock at the fork is gone: only this thread runs in the child now.
  new (&g_all_lock) Lock();
  for (Reactor* r = registry().front(); r != nullptr; r = Registry::next(r)) r->forget();
}

}  // namespace weft::rt
