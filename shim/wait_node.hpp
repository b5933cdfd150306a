// wait_node: one fiber or plain thread waiting on a shim lock or condition variable.
//
// The program's pthread mutexes and condition variables are used from fibers and from plain
// threads (a thread a constructor made, code before main, a pass-through child) alike, so a waiter
// is either kind: a fiber parks (rt::park, only that fiber waits), a thread sleeps on a futex word
// in its node. Nodes live in the waiter's frame and are linked into the object's FIFO list under
// the object's guard lock (a WaitNodeList). The protocol is the runtime's (runtime/sched/park.hpp):
// a waker unlinks
// ("claims") a node under the guard, grants what it waited for, releases the guard and wakes it,
// never touching the node again; a waiter that gives up (deadline) retakes the guard, and if its
// node is still linked unlinks it and fails, else waits for the wake-up that is on its way.
//
// fork: nodes queued before a fork belong, in the child, to threads the child does not have
// (runtime/process/fork.hpp). They are recognised by their fork epoch; pop() and prune() drop them,
// so a grant never goes to one (a mutex handed to a vanished thread would stay locked for good),
// and wake() ignores them. Queued before the fork, they always form the head of a list.
#pragma once

#include <atomic>
#include <cstdint>

#include <weft/deadline.hpp>

#include "base/list.hpp"
#include "base/lock.hpp"
#include "sched/park.hpp"

namespace weft::shim {

// WaitNode is one waiter, in its own frame.
struct WaitNode {
  // WaitNode() makes a node for the calling fiber (waiting through fiber) or thread.
  WaitNode(rt::Waiter* fiber_, std::uintptr_t token_) noexcept
      : fiber(fiber_), token(token_), epoch(rt::fork_epoch()) {}
  WaitNode(const WaitNode&) = delete;
  WaitNode& operator=(const WaitNode&) = delete;

  // fiber is the fiber's Waiter, or nullptr for a plain thread.
  rt::Waiter* fiber;
  // token identifies the waiter (its pthread_t), to hand a mutex over to it.
  std::uintptr_t token;
  // woken is a plain thread's futex word: 1 once it has been woken.
  std::atomic<std::uint32_t> woken{0};
  // prev and next link the node into its object's WaitNodeList, then into a WakeList.
  WaitNode* prev = nullptr;
  // next is the following waiter.
  WaitNode* next = nullptr;
  // epoch is the fork epoch the node was made in.
  std::uint32_t epoch;
  // ghost() tells whether the node is a vanished thread's, left from before a fork.
  bool ghost() const noexcept { return epoch != rt::fork_epoch(); }
};

// wake() wakes n's waiter; the caller must have claimed n and must not touch it afterwards.
void wake(WaitNode* n) noexcept;

// WakeList holds claimed nodes, in order, to be woken once the guard lock is released.
class WakeList : public rt::List<WaitNode, &WaitNode::next> {
 public:
  // wake_all() wakes every node, oldest first; call it without the guard lock.
  void wake_all() noexcept {
    while (WaitNode* n = pop_front()) wake(n);  // unlinked before the wake: the frame may go
  }
};

// WaitNodeList is the FIFO of nodes waiting on one pthread object, linked both ways (a waiter
// that gives up unlinks from anywhere); the object's guard lock guards it. It lives inside the
// program's pthread object, where all-zero bytes (PTHREAD_*_INITIALIZER) are an empty list.
class WaitNodeList : public rt::List<WaitNode, &WaitNode::next, &WaitNode::prev> {
 public:
  // prune() drops ghosts from the head, for callers that look at the head themselves.
  void prune() noexcept {
    drop_front_while([](const WaitNode* n) { return n->ghost(); });
  }
  // pop_live() unlinks and returns the longest waiter, or nullptr, dropping ghosts on the way.
  WaitNode* pop_live() noexcept {
    prune();
    return pop_front();
  }
  // take_live() moves every waiter but the ghosts into out, longest first.
  void take_live(WakeList& out) noexcept {
    while (WaitNode* n = pop_live()) out.push_back(n);
  }
};
static_assert(sizeof(WaitNodeList) == 2 * sizeof(void*));

// wait_woken() waits until n is woken or the deadline passes; returns whether it was woken.
// A fiber parks; a thread sleeps in futex(2).
bool wait_woken(WaitNode& n, const weft::Deadline& deadline) noexcept;
// wait_claimed() waits for a wake-up already on its way (n was claimed), uninterruptibly.
void wait_claimed(WaitNode& n) noexcept;

// guard() treats 4 bytes of a pthread object as the runtime's futex lock (zero: unlocked).
inline rt::Lock& guard(void* at) noexcept {
  static_assert(sizeof(rt::Lock) == 4 && alignof(rt::Lock) == 4);
  return *static_cast<rt::Lock*>(at);
}

}  // namespace weft::shim
