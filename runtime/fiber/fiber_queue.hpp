// An intrusive FIFO of fibers linked through FiberControl::next_.
#pragma once

#include "fiber/fiber_control.hpp"

namespace weft::rt {

// FiberQueue is a FIFO of fibers that allocates nothing.
class FiberQueue {
 public:
  // empty() tells whether the queue holds no fiber.
  bool empty() const noexcept { return head_ == nullptr; }
  // size() is the number of queued fibers.
  std::size_t size() const noexcept { return size_; }
  // push() appends f, which must not be in any queue.
  void push(FiberControl* f) noexcept {
    f->next_ = nullptr;
    if (tail_ != nullptr) {
      tail_->next_ = f;
    } else {
      head_ = f;
    }
    tail_ = f;
    ++size_;
  }
  // pop() removes and returns the first fiber, or nullptr.
  FiberControl* pop() noexcept {
    FiberControl* f = head_;
    if (f != nullptr) {
      head_ = f->next_;
      if (head_ == nullptr) tail_ = nullptr;
      f->next_ = nullptr;
      --size_;
    }
    return f;
  }
  // splice() appends every fiber of other and leaves other empty.
  void splice(FiberQueue& other) noexcept {
    if (other.head_ == nullptr) return;
    if (tail_ != nullptr) {
      tail_->next_ = other.head_;
    } else {
      head_ = other.head_;
    }
    tail_ = other.tail_;
    size_ += other.size_;
    other.head_ = other.tail_ = nullptr;
    other.size_ = 0;
  }

 private:
  FiberControl* head_ = nullptr;
  FiberControl* tail_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace weft::rt
