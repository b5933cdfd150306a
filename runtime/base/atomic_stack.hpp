// atomic_stack: the one lock-free mailbox of the runtime, an intrusive stack that any thread
// pushes to and one owner empties.
//
// Carriers take notifications (Waiters) and interrupt requests (fibers) from other threads and
// from signal handlers, and the epoll reactor takes finished offloads from helper threads, all
// through this: push() is a compare-and-swap loop on the head (no lock, no allocation, so it is
// async-signal-safe), take() empties the stack with one exchange. Only one thread calls take(),
// so there is no ABA: a pushed element cannot be popped and pushed again by another consumer
// while a push is in progress. take_fifo() reverses what it took, so that the owner handles
// elements in the order they were pushed.
#pragma once

#include <atomic>

#include "base/list.hpp"

namespace weft::rt {

// AtomicStack is a lock-free intrusive stack of T linked through Next.
template <class T, T* T::*Next>
class AtomicStack {
 public:
  // push() adds t from any thread (or signal handler), with the given order on success.
  void push(T* t, std::memory_order order = std::memory_order_seq_cst) noexcept {
    T* head = head_.load(std::memory_order_relaxed);
    do {
      t->*Next = head;
    } while (!head_.compare_exchange_weak(head, t, order, std::memory_order_relaxed));
  }
  // empty() tells whether nothing was pushed since the last take(), with the given order.
  bool empty(std::memory_order order = std::memory_order_relaxed) const noexcept {
    return head_.load(order) == nullptr;
  }
  // take() empties the stack and returns its elements, newest first, as a one-way list.
  List<T, Next> take() noexcept {
    List<T, Next> out;
    T* t = head_.exchange(nullptr, std::memory_order_acquire);
    while (t != nullptr) {
      T* next = t->*Next;  // read before push_back() relinks t
      out.push_back(t);
      t = next;
    }
    return out;
  }
  // take_fifo() empties the stack and returns its elements oldest first.
  List<T, Next> take_fifo() noexcept {
    List<T, Next> out;
    T* t = head_.exchange(nullptr, std::memory_order_acquire);
    while (t != nullptr) {
      T* next = t->*Next;
      out.push_front(t);
      t = next;
    }
    return out;
  }
  // reset() forgets every element (in a forked child, whose pushers are gone).
  void reset() noexcept { head_.store(nullptr, std::memory_order_relaxed); }

 private:
  std::atomic<T*> head_{nullptr};
};

}  // namespace weft::rt
