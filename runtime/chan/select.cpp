// select: wait on several channel operations at once; exactly one fires (weft/select.hpp).
//
// The algorithm is Go's (runtime/select.go), on the claim protocol of channel_core.hpp:
//  1. Lock every distinct channel of the select, in address order (so two selects over the same
//     channels cannot deadlock; plain operations only ever hold one channel lock).
//  2. Poll the cases, starting at a random one so that no case starves the others: the first
//     that can complete does, exactly as a plain send or recv would.
//  3. If none can: a try_select returns kSelectDefault, an expired deadline kSelectTimeout;
//     otherwise queue one link per case, all pointing at one SelectRecord, unlock and park.
//  4. The first notifier to take the record's claimed flag fires its case: it moves the value
//     and records which link fired. A deadline, a cancel or a scope expiry makes the select try
//     to take the flag itself; if a notifier won, the case fired after all and the wake-up is
//     waited for (park_notified).
//  5. Relock each channel in turn and withdraw the links still queued; a notifier that met one
//     in the meantime saw the flag taken, dropped it and served the next waiter, so no value is
//     lost or delivered twice.
// Holding every lock while polling and queueing is what keeps it simple: no case of this select
// can fire before all are queued, so the select never has to claim itself while registering.
//
// Rejected: registering channel by channel without holding the locks together. A case found
// ready halfway would have to take the select's own flag first, and if it then found its
// counterpart stale it would have to give the flag back, after a notifier on an earlier channel
// may already have dropped that channel's link as stale: a lost wake-up.
#include <algorithm>
#include <memory>

#include <weft/select.hpp>

#include "chan/channel_core.hpp"

namespace weft::detail {
namespace {

// kInline is how many cases a select handles without allocating.
constexpr std::size_t kInline = 8;

// MultiLock holds the locks of a select's distinct channels, taken in address order.
class MultiLock {
 public:
  MultiLock(const SelectCase* cases, std::size_t n) {
    cores_ = n <= kInline ? inline_ : (heap_ = std::make_unique<ChannelCore*[]>(n)).get();
    for (std::size_t i = 0; i < n; ++i) cores_[i] = cases[i].core;
    std::sort(cores_, cores_ + n);
    n_ = static_cast<std::size_t>(std::unique(cores_, cores_ + n) - cores_);
    for (std::size_t i = 0; i < n_; ++i) cores_[i]->lock.lock();
    held_ = true;
  }
  ~MultiLock() { unlock(); }
  MultiLock(const MultiLock&) = delete;
  MultiLock& operator=(const MultiLock&) = delete;

  // unlock() releases every lock, in reverse order; idempotent.
  void unlock() noexcept {
    if (!held_) return;
    held_ = false;
    for (std::size_t i = n_; i-- > 0;) cores_[i]->lock.unlock();
  }

 private:
  ChannelCore* inline_[kInline];
  std::unique_ptr<ChannelCore*[]> heap_;
  ChannelCore** cores_ = nullptr;
  std::size_t n_ = 0;
  bool held_ = false;
};

// random_below() returns a pseudo-random number in [0, n), per carrier thread.
std::size_t random_below(std::size_t n) noexcept {
  static thread_local std::uint64_t state = 0;
  if (state == 0) state = static_cast<std::uint64_t>(Clock::now().time_since_epoch().count()) | 1;
  // xorshift64: fairness needs no more than a cheap, decent spread.
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return static_cast<std::size_t>(state % n);
}

// withdraw() takes back every link still queued, one channel lock at a time.
void withdraw(rt::ChanLink* links, std::size_t n) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    rt::ChanLink& l = links[i];
    l.core->lock.lock();
    if (rt::still_queued(l)) l.list->remove(&l);
    l.core->lock.unlock();
  }
}

}  // namespace

int select_wait(SelectCase* cases, std::size_t n, const Deadline& deadline, bool nonblocking) {
  if (n == 0) throw std::logic_error("weft::select needs at least one case");
  if (!nonblocking) rt::check_interrupted();
  MultiLock locks(cases, n);

  std::size_t start = random_below(n);
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (start + k) % n;
    SelectCase& sc = cases[i];
    rt::Step step =
        sc.send ? rt::send_locked(*sc.core, sc.slot) : rt::recv_locked(*sc.core, sc.slot);
    if (step.done) {
      sc.status = step.status;
      locks.unlock();
      rt::wake_claimed(step.wake);
      return static_cast<int>(i);
    }
  }
  if (nonblocking) return kSelectDefault;
  if (rt::deadline_passed(deadline)) return kSelectTimeout;
  rt::require_fiber("weft::select");

  rt::Waiter w("select", cases);
  rt::SelectRecord record;
  rt::ChanLink inline_links[kInline];
  std::unique_ptr<rt::ChanLink[]> heap_links;
  rt::ChanLink* links = inline_links;
  if (n > kInline) links = (heap_links = std::make_unique<rt::ChanLink[]>(n)).get();
  for (std::size_t i = 0; i < n; ++i) {
    rt::ChanLink& l = links[i];
    l.core = cases[i].core;
    l.waiter = &w;
    l.sel = &record;
    l.slot = cases[i].slot;
    l.index = i;
    rt::queue_link(cases[i].send ? l.core->senders : l.core->receivers, &l);
  }
  locks.unlock();

  rt::Wake why = rt::park(w, deadline);
  if (why != rt::Wake::kNotified) {
    if (!record.claimed.exchange(true, std::memory_order_acq_rel)) {
      // Nobody fired: the select gives up, and no notifier can claim it any more.
      withdraw(links, n);
      if (why == rt::Wake::kDeadline) return kSelectTimeout;
      rt::throw_wake(why);
    }
    rt::park_notified(w);
  }
  withdraw(links, n);
  rt::ChanLink* fired = record.fired;
  cases[fired->index].status = fired->status;
  return static_cast<int>(fired->index);
}

}  // namespace weft::detail
