// list: the one intrusive list of the runtime and the shim.
//
// Every queue and set of waiting things in weft lives in the frames or control blocks of what it
// links (fibers, waiters, I/O ops, jobs), so linking allocates nothing and cannot fail. One
// template serves them all: the element type names its own link fields, and the list keeps only
// a head and a tail.
//
//   List<T, &T::next>            a FIFO linked one way: push, pop, splice. Removing an element
//                                from the middle walks the list (remove()), so use it where that
//                                is rare (a run queue, a job queue).
//   List<T, &T::next, &T::prev>  linked both ways: remove() and contains() are O(1) (a wait
//                                list that waiters leave on a timeout, the fibers of a carrier).
//
// An element is in at most one list per link field at a time; the list does not check that.
// remove() and pop_front() clear the element's links, so a two-way list can tell from the
// element alone whether it is linked (contains()). Lists are plain data (two pointers, nothing
// to destroy), so one may live in memory that is zero-filled rather than constructed, as the
// shim's lists inside the program's pthread objects do.
//
// Locking is the owner's: a list is guarded by whatever guards the object it sits in. Lists
// that other threads push to without a lock are AtomicStacks (base/atomic_stack.hpp).
#pragma once

#include <cstddef>
#include <type_traits>

namespace weft::rt {

// List is an intrusive list of T linked through Next (and Prev, for a two-way list).
template <class T, T* T::*Next, T* T::*Prev = nullptr>
class List {
 public:
  // kTwoWay tells whether elements link back (remove() and contains() in O(1)).
  static constexpr bool kTwoWay = Prev != nullptr;

  // empty() tells whether no element is linked.
  bool empty() const noexcept { return head_ == nullptr; }
  // front() is the first element, or nullptr.
  T* front() const noexcept { return head_; }
  // back() is the last element, or nullptr.
  T* back() const noexcept { return tail_; }
  // next() is the element after t in its list, or nullptr.
  static T* next(const T* t) noexcept { return t->*Next; }

  // push_back() appends t, which must not be linked through these fields.
  void push_back(T* t) noexcept {
    t->*Next = nullptr;
    if constexpr (kTwoWay) t->*Prev = tail_;
    if (tail_ != nullptr) {
      tail_->*Next = t;
    } else {
      head_ = t;
    }
    tail_ = t;
  }
  // push_front() prepends t, which must not be linked through these fields.
  void push_front(T* t) noexcept {
    t->*Next = head_;
    if constexpr (kTwoWay) {
      t->*Prev = nullptr;
      if (head_ != nullptr) head_->*Prev = t;
    }
    head_ = t;
    if (tail_ == nullptr) tail_ = t;
  }
  // pop_front() unlinks and returns the first element, or nullptr.
  T* pop_front() noexcept {
    T* t = head_;
    if (t == nullptr) return nullptr;
    head_ = t->*Next;
    if (head_ == nullptr) {
      tail_ = nullptr;
    } else if constexpr (kTwoWay) {
      head_->*Prev = nullptr;
    }
    t->*Next = nullptr;
    return t;
  }
  // remove() unlinks t, which must be in this list: O(1) for a two-way list; a one-way list
  // walks to t's predecessor. Returns t's successor.
  T* remove(T* t) noexcept {
    T* after = t->*Next;
    T* before;
    if constexpr (kTwoWay) {
      before = t->*Prev;
      t->*Prev = nullptr;
    } else {
      before = nullptr;
      for (T* p = head_; p != t; p = p->*Next) before = p;
    }
    if (before != nullptr) {
      before->*Next = after;
    } else {
      head_ = after;
    }
    if (after != nullptr) {
      if constexpr (kTwoWay) after->*Prev = before;
    } else {
      tail_ = before;
    }
    t->*Next = nullptr;
    return after;
  }
  // contains() tells whether t is linked in this list (two-way lists only; t may be in no other
  // list through the same fields).
  bool contains(const T* t) const noexcept requires kTwoWay {
    return t->*Prev != nullptr || head_ == t;
  }
  // splice_back() appends every element of other, in order, and leaves other empty.
  void splice_back(List& other) noexcept {
    if (other.head_ == nullptr) return;
    if (tail_ != nullptr) {
      tail_->*Next = other.head_;
      if constexpr (kTwoWay) other.head_->*Prev = tail_;
    } else {
      head_ = other.head_;
    }
    tail_ = other.tail_;
    other.head_ = other.tail_ = nullptr;
  }
  // take() moves every element into a list that is returned, leaving this one empty.
  List take() noexcept {
    List all;
    all.splice_back(*this);
    return all;
  }
  // drop_front_while() unlinks elements from the front as long as pred(element) holds.
  template <class Pred>
  void drop_front_while(Pred pred) noexcept {
    while (head_ != nullptr && pred(head_)) pop_front();
  }
  // clear() forgets every element without touching one (for memory whose elements are gone,
  // as in a forked child).
  void clear() noexcept { head_ = tail_ = nullptr; }
  // head_offset() is where the first element's pointer sits inside a list, for readers of the
  // process's memory from outside (sched/debug_info.hpp: the gdb extension).
  static constexpr std::size_t head_offset() noexcept { return offsetof(List, head_); }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace weft::rt
