// channel core: the type-erased state of a weft::Channel and the steps channel.cpp and
// select.cpp share.
//
// A channel is a lock, a counter of buffered values (the values themselves live in the
// template's RingBuffer, reached through ChannelOps), and two FIFO lists of waiting operations:
// senders (only while the buffer is full or, for a rendezvous, while no receiver waits) and
// receivers (only while the buffer is empty and the channel open). Each waiting operation is a
// ChanLink in the waiting fiber's frame, pointing at that fiber's rt::Waiter and at its value
// slot: a sender's T, or a receiver's std::optional<T>.
//
// Claiming. Whoever completes a waiting operation first claims its link, under the channel's
// lock; then it moves the value (still under the lock), unlocks, and notifies the waiter (the
// park protocol of park.hpp). A plain send or recv link is claimed by unlinking it. A select
// puts one link per case into several channels, all pointing at one SelectRecord; its claim is
// the record's atomic flag, so exactly one case fires: a notifier that loses the race unlinks
// the stale link and tries the next waiter, and the selecting fiber withdraws its other links
// when it wakes. The selecting fiber itself takes the flag when its deadline passes or it is
// cancelled, so no case can fire after it gave up.
//
// Invariants, under the lock: count <= capacity; receivers holds live links only when count
// == 0 and the channel is open; senders holds live links only when count == capacity and the
// channel is open. (A select may hold a send and a receive link on the same channel; neither
// can match the other, since a select matches only while its own links are not yet queued.)
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <weft/channel.hpp>

#include "base/list.hpp"
#include "base/lock.hpp"
#include "sched/interrupt.hpp"
#include "sched/park.hpp"

namespace weft::rt {

struct SelectRecord;
struct ChanLink;

// ChanLink is one waiting send or receive, in the waiting fiber's frame.
struct ChanLink {
  // prev and next link the node into its channel's list.
  ChanLink* prev = nullptr;
  // next is the following waiter (after claiming: the notifier's wake list).
  ChanLink* next = nullptr;
  // list is the channel list the link was put in (for withdrawal).
  List<ChanLink, &ChanLink::next, &ChanLink::prev>* list = nullptr;
  // core is the channel the link waits on.
  detail::ChannelCore* core = nullptr;
  // waiter is the waiting fiber's wait node.
  Waiter* waiter = nullptr;
  // sel is the select the link belongs to, or nullptr for a plain send or recv.
  SelectRecord* sel = nullptr;
  // slot is the sender's T or the receiver's std::optional<T>.
  void* slot = nullptr;
  // index is the select case the link stands for.
  std::size_t index = 0;
  // status is the outcome the claimer reports: kOk (value moved) or kClosed.
  ChannelStatus status = ChannelStatus::kOk;
};

// SelectRecord is shared by all links of one select; claimed makes exactly one case fire.
struct SelectRecord {
  // claimed is taken by the first notifier, or by the selecting fiber when it gives up.
  std::atomic<bool> claimed{false};
  // fired is the link that was claimed, written by its claimer before notifying.
  ChanLink* fired = nullptr;
};

// LinkList is a FIFO of ChanLinks, linked both ways: a waiter that gives up, or a select
// withdrawing its other cases, unlinks from wherever it is. Guarded by the channel's lock.
using LinkList = List<ChanLink, &ChanLink::next, &ChanLink::prev>;

// queue_link() appends l to list, remembering the list for withdrawal.
inline void queue_link(LinkList& list, ChanLink* l) noexcept {
  l->list = &list;
  list.push_back(l);
}

// still_queued() tells whether l is in the list it was queued in: no notifier claimed it yet.
inline bool still_queued(const ChanLink& l) noexcept {
  return l.list != nullptr && l.list->contains(&l);
}

}  // namespace weft::rt

namespace weft::detail {

// ChannelCore is the runtime's part of a Channel, built in the Channel's own storage.
struct ChannelCore {
  // lock guards everything below and the template's buffer.
  rt::Lock lock;
  // closed is set once by close().
  bool closed = false;
  // capacity is the most values the buffer may hold (max() for unbounded).
  std::size_t capacity = 0;
  // count is how many values the buffer holds.
  std::size_t count = 0;
  // ops moves values between slots and the buffer.
  const ChannelOps* ops = nullptr;
  // buffer is the template's RingBuffer<T>.
  void* buffer = nullptr;
  // senders are the waiting send operations, oldest first.
  rt::LinkList senders;
  // receivers are the waiting receive operations, oldest first.
  rt::LinkList receivers;
};

}  // namespace weft::detail

namespace weft::rt {

// Step is the outcome of trying one operation under the channel's lock.
struct Step {
  // done tells whether the operation completed (with status) instead of needing to wait.
  bool done = false;
  // status is the outcome when done.
  ChannelStatus status = ChannelStatus::kOk;
  // wake is a claimed waiter to notify once the lock is released, or nullptr.
  ChanLink* wake = nullptr;
};

// claim_first() unlinks and returns the oldest waiter of list that it could claim, dropping
// stale links of selects that already fired or gave up; nullptr if none is left.
ChanLink* claim_first(LinkList& list) noexcept;
// send_locked() sends *value if no waiting is needed; may throw std::bad_alloc only while the
// buffer grows toward its capacity, before anything changed.
Step send_locked(detail::ChannelCore& c, void* value);
// recv_locked() receives into *out if no waiting is needed.
Step recv_locked(detail::ChannelCore& c, void* out) noexcept;
// wake_claimed() notifies a claimed waiter (nothing if l is nullptr); call after unlocking.
void wake_claimed(ChanLink* l) noexcept;
// check_interrupted() throws Cancelled or TimedOut if a wait by the calling fiber would fail
// at once; a cancelled fiber yields first, so a loop that swallows the error cannot starve the
// others.
void check_interrupted();

}  // namespace weft::rt
