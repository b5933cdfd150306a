// timer: the deadlines of one carrier, kept in a binary min-heap.
//
// A sleeping fiber or a call with a deadline owns a TimerNode in its own frame; the heap holds
// pointers to the nodes and each node remembers its index, so removal is O(log n) and the heap
// allocates only its pointer vector. No kernel object exists per timer: the reactor sleeps until
// next_deadline(), so 100,000 sleepers cost 100,000 heap entries and nothing in the kernel.
// Equal deadlines expire in arming order (a sequence number breaks ties).
//
// A timing wheel would make arming O(1), but deadlines here are mostly cancelled long before
// they expire (an I/O deadline of seconds on an op that completes in microseconds) and the heap
// removal of those is cheap; a wheel's constant tick would cost the idle carrier wake-ups.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include <weft/deadline.hpp>

#include "base/memory.hpp"
#include "fiber/fiber_control.hpp"

namespace weft::rt {

// TimerNode is one armed deadline.
struct TimerNode {
  // deadline is when the timer expires.
  Clock::time_point deadline{};
  // fiber is woken on expiry (for a sleep), or the waiter of op.
  FiberControl* fiber = nullptr;
  // op, when set, is the I/O operation to cancel on expiry instead of waking the fiber.
  IoOp* op = nullptr;
  // fired is set when the timer expired.
  bool fired = false;
  // index is the node's position in the heap, or kNotArmed.
  std::size_t index = kNotArmed;
  // seq orders equal deadlines by arming time.
  std::uint64_t seq = 0;
  // kNotArmed marks a node outside the heap.
  static constexpr std::size_t kNotArmed = ~std::size_t{0};
};

// TimerHeap holds the armed timers of one carrier.
class TimerHeap {
 public:
  // add() arms node; it must not be armed already.
  void add(TimerNode* node);
  // remove() disarms node if it is armed.
  void remove(TimerNode* node) noexcept;
  // empty() tells whether no timer is armed.
  bool empty() const noexcept { return heap_.empty(); }
  // size() is the number of armed timers.
  std::size_t size() const noexcept { return count_; }
  // next_deadline() is the earliest deadline; only valid when not empty().
  Clock::time_point next_deadline() const noexcept { return heap_.front()->deadline; }
  // pop_expired() disarms and returns the earliest timer if it expired by now, else nullptr.
  TimerNode* pop_expired(Clock::time_point now) noexcept;
  // after_fork_child() drops every timer without touching a node: in a forked child the nodes
  // belong to fibers that do not exist there (runtime/process/fork.hpp).
  void after_fork_child() noexcept {
    new (&heap_) decltype(heap_)();
    count_ = 0;
  }

 private:
  static bool before(const TimerNode* a, const TimerNode* b) noexcept {
    return a->deadline < b->deadline || (a->deadline == b->deadline && a->seq < b->seq);
  }
  void place(std::size_t i, TimerNode* n) noexcept {
    heap_[i] = n;
    n->index = i;
  }
  void sift_up(std::size_t i) noexcept;
  void sift_down(std::size_t i) noexcept;

  MemVector<TimerNode*> heap_;      // weft memory: sleeps and timed waits in hooks grow it
  Relaxed<std::size_t> count_ = 0;  // heap_.size(), readable by other threads for stats
  std::uint64_t seq_ = 0;
};

}  // namespace weft::rt
