#include "reactor/reactor.hpp"

#include <poll.h>
#include <mutex>
#include <new>

#include "base/lock.hpp"

namespace weft::rt {
namespace {

Lock g_all_lock;
Reactor* g_all_head = nullptr;

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

void Reactor::hand_over(IoOp* op, FiberQueue& ready) noexcept {
  op->completed = true;
  FiberControl* w = op->waiter;
  if (w != nullptr && w->state_ == FiberState::kBlocked) {
    w->state_ = FiberState::kReady;
    ready.push(w);
  }
}

void Reactor::enlist() noexcept {
  std::lock_guard<Lock> hold(g_all_lock);
  all_next_ = g_all_head;
  if (g_all_head != nullptr) g_all_head->all_prev_ = this;
  g_all_head = this;
  enlisted_ = true;
}

void Reactor::delist() noexcept {
  if (!enlisted_) return;
  std::lock_guard<Lock> hold(g_all_lock);
  if (all_prev_ != nullptr) {
    all_prev_->all_next_ = all_next_;
  } else {
    g_all_head = all_next_;
  }
  if (all_next_ != nullptr) all_next_->all_prev_ = all_prev_;
  enlisted_ = false;
}

void Reactor::forget_all() noexcept {
  // A thread that held the lock at the fork is gone: only this thread runs in the child now.
  new (&g_all_lock) Lock();
  for (Reactor* r = g_all_head; r != nullptr; r = r->all_next_) r->forget();
}

}  // namespace weft::rt
