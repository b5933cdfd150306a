// channel: the type-erased core of weft::Channel (weft/channel.hpp); the model, the claim
// protocol and the invariants are in channel_core.hpp.
//
// A send first looks for a waiting receiver and moves its value straight into that receiver's
// result (one move, no trip through the buffer), else buffers it if there is room, else waits.
// A receive takes the oldest buffered value and, if a sender was waiting for room, moves that
// sender's value into the freed place; with nothing buffered it takes a waiting sender's value
// directly (the only way a rendezvous channel moves data), else it waits. Because the buffer is
// drained before a receiver ever waits, and senders wait only while it is full, values come out
// in the order they went in and waiters are served FIFO.
//
// Values move under the channel's lock: a buffered value must, and for a hand-off it keeps the
// claimed waiter's slot and the buffer consistent with one critical section. T's move is
// required to be noexcept, so nothing can fail once a waiter has been claimed.
//
// Rejected: a value handed to a waiter after unlocking (shorter critical section) would need a
// second protocol for the refill-from-sender case, which must touch the buffer; a condition
// variable per channel (wake all, re-check) would wake every waiter for one value and lose
// FIFO order.
#include <cstdio>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

#include "base/sys.hpp"
#include "chan/channel_core.hpp"
#include "sched/carrier.hpp"
#include "sched/interrupt.hpp"

namespace weft::detail {

static_assert(sizeof(ChannelCore) <= kChannelCoreSize, "grow kChannelCoreSize in channel.hpp");
static_assert(alignof(ChannelCore) <= alignof(void*), "ChannelCore needs more alignment");

namespace {

// wait() parks on l (already queued under c's lock, now released) and reports the outcome;
// on a deadline, a cancel or a scope expiry it takes l back unless a notifier claimed it first.
ChannelStatus wait(ChannelCore& c, rt::Waiter& w, rt::ChanLink& l, const Deadline& deadline) {
  rt::Wake why = rt::park(w, deadline);
  if (why != rt::Wake::kNotified) {
    c.lock.lock();
    bool mine = rt::still_queued(l);
    if (mine) l.list->remove(&l);
    c.lock.unlock();
    if (mine) {
      if (why == rt::Wake::kDeadline) return ChannelStatus::kTimeout;
      rt::throw_wake(why);
    }
    // A notifier claimed l before we could take it back: its value moved, so the operation
    // succeeded (or saw the close) after all.
    rt::park_notified(w);
  }
  return l.status;
}

}  // namespace

ChannelCore* channel_init(void* storage, std::size_t capacity, const ChannelOps* ops,
                          void* buffer) noexcept {
  auto* c = new (storage) ChannelCore();
  c->capacity = capacity;
  c->ops = ops;
  c->buffer = buffer;
  return c;
}

void channel_destroy(ChannelCore* c) noexcept {
  // Locked although nobody may use the channel any more: a fiber of another carrier that
  // still does must be reported, not raced with.
  c->lock.lock();
  bool waited_on = !c->senders.empty() || !c->receivers.empty();
  c->lock.unlock();
  if (waited_on) {
    sys::write_stderr(
        "weft: a Channel was destroyed while a fiber still waits on it; a channel must outlive "
        "its users\n");
    std::abort();
  }
  c->~ChannelCore();
}

ChannelStatus channel_send(ChannelCore* core, void* value, const Deadline& deadline,
                           bool nonblocking) {
  ChannelCore& c = *core;
  if (!nonblocking) rt::check_interrupted();
  rt::Step step;
  {
    std::unique_lock<rt::Lock> guard(c.lock);
    step = rt::send_locked(c, value);
    if (!step.done) {
      if (nonblocking) return ChannelStatus::kWouldBlock;
      if (rt::deadline_passed(deadline)) return ChannelStatus::kTimeout;
      rt::require_fiber("weft::Channel::send");
      // Queued under the lock, parked after it: the protocol of park.hpp.
      rt::Waiter w("channel send", core);
      rt::ChanLink l;
      l.core = core;
      l.waiter = &w;
      l.slot = value;
      rt::queue_link(c.senders, &l);
      guard.unlock();
      return wait(c, w, l, deadline);
    }
  }
  rt::wake_claimed(step.wake);
  return step.status;
}

ChannelStatus channel_recv(ChannelCore* core, void* out, const Deadline& deadline,
                           bool nonblocking) {
  ChannelCore& c = *core;
  if (!nonblocking) rt::check_interrupted();
  rt::Step step;
  {
    std::unique_lock<rt::Lock> guard(c.lock);
    step = rt::recv_locked(c, out);
    if (!step.done) {
      if (nonblocking) return ChannelStatus::kWouldBlock;
      if (rt::deadline_passed(deadline)) return ChannelStatus::kTimeout;
      rt::require_fiber("weft::Channel::recv");
      rt::Waiter w("channel recv", core);
      rt::ChanLink l;
      l.core = core;
      l.waiter = &w;
      l.slot = out;
      rt::queue_link(c.receivers, &l);
      guard.unlock();
      return wait(c, w, l, deadline);
    }
  }
  rt::wake_claimed(step.wake);
  return step.status;
}

void channel_close(ChannelCore* core) noexcept {
  ChannelCore& c = *core;
  // Claimed links, linked through next, which their channel list no longer uses.
  rt::List<rt::ChanLink, &rt::ChanLink::next> wake;
  c.lock.lock();
  if (!c.closed) {
    c.closed = true;
    // Every waiter fails: receivers wait only on an empty buffer, so they are drained already;
    // senders' values never entered the buffer and stay with them.
    for (rt::LinkList* list : {&c.receivers, &c.senders}) {
      while (rt::ChanLink* l = rt::claim_first(*list)) {
        l->status = ChannelStatus::kClosed;
        wake.push_back(l);
      }
    }
  }
  c.lock.unlock();
  // Unlinked before each wake-up: once notified, the link's frame may go.
  while (rt::ChanLink* l = wake.pop_front()) rt::wake_claimed(l);
}

std::size_t channel_size(ChannelCore* c) noexcept {
  std::lock_guard<rt::Lock> guard(c->lock);
  return c->count;
}

bool channel_closed(ChannelCore* c) noexcept {
  std::lock_guard<rt::Lock> guard(c->lock);
  return c->closed;
}

}  // namespace weft::detail

namespace weft::rt {

ChanLink* claim_first(LinkList& list) noexcept {
  while (ChanLink* l = list.pop_front()) {
    // A fiber of the parent process that forked (runtime/process/fork.hpp): a value handed to it
    // would be lost, and a receive from it would take a value the child never sent.
    if (l->waiter->fiber->fork_epoch_ != fork_epoch()) continue;
    if (l->sel == nullptr) return l;
    if (!l->sel->claimed.exchange(true, std::memory_order_acq_rel)) {
      l->sel->fired = l;
      return l;
    }
    // Stale: its select fired elsewhere or gave up, and withdraws its links when it runs.
  }
  return nullptr;
}

Step send_locked(detail::ChannelCore& c, void* value) {
  if (c.closed) return Step{true, ChannelStatus::kClosed, nullptr};
  if (ChanLink* r = claim_first(c.receivers)) {
    c.ops->give(value, r->slot);
    r->status = ChannelStatus::kOk;
    return Step{true, ChannelStatus::kOk, r};
  }
  if (c.count < c.capacity) {
    c.ops->push(c.buffer, value);  // the only step that may throw: nothing changed yet
    ++c.count;
    return Step{true, ChannelStatus::kOk, nullptr};
  }
  return Step{};
}

Step recv_locked(detail::ChannelCore& c, void* out) noexcept {
  if (c.count > 0) {
    c.ops->pop(c.buffer, out);
    --c.count;
    // A waiting sender means the buffer was full, so its storage is at capacity and this
    // push cannot allocate, hence cannot fail.
    ChanLink* s = claim_first(c.senders);
    if (s != nullptr) {
      c.ops->push(c.buffer, s->slot);
      ++c.count;
      s->status = ChannelStatus::kOk;
    }
    return Step{true, ChannelStatus::kOk, s};
  }
  if (ChanLink* s = claim_first(c.senders)) {
    c.ops->give(s->slot, out);
    s->status = ChannelStatus::kOk;
    return Step{true, ChannelStatus::kOk, s};
  }
  if (c.closed) return Step{true, ChannelStatus::kClosed, nullptr};
  return Step{};
}

void wake_claimed(ChanLink* l) noexcept {
  if (l != nullptr) notify(*l->waiter);
}

void check_interrupted() {
  Wake why = interrupted();
  if (why == Wake::kNotified) return;
  if (why == Wake::kCancelled) Carrier::current()->yield();
  throw_wake(why);
}

}  // namespace weft::rt
