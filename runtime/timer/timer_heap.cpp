#include "timer/timer_heap.hpp"

namespace weft::rt {

void TimerHeap::add(TimerNode* node) {
  node->seq = seq_++;
  node->fired = false;
  heap_.push_back(node);
  count_ = heap_.size();
  node->index = heap_.size() - 1;
  sift_up(node->index);
}

void TimerHeap::remove(TimerNode* node) noexcept {
  std::size_t i = node->index;
  if (i == TimerNode::kNotArmed) return;
  node->index = TimerNode::kNotArmed;
  TimerNode* last = heap_.back();
  heap_.pop_back();
  count_ = heap_.size();
  if (last == node) return;
  place(i, last);
  sift_up(i);
  sift_down(last->index);
}

TimerNode* TimerHeap::pop_expired(Clock::time_point now) noexcept {
  if (heap_.empty() || heap_.front()->deadline > now) return nullptr;
  TimerNode* node = heap_.front();
  remove(node);
  node->fired = true;
  return node;
}

void TimerHeap::sift_up(std::size_t i) noexcept {
  TimerNode* n = heap_[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 2;
    if (!before(n, heap_[parent])) break;
    place(i, heap_[parent]);
    i = parent;
  }
  place(i, n);
}

void TimerHeap::sift_down(std::size_t i) noexcept {
  TimerNode* n = heap_[i];
  std::size_t size = heap_.size();
  for (;;) {
    std::size_t child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && before(heap_[child + 1], heap_[child])) ++child;
    if (!before(heap_[child], n)) break;
    place(i, heap_[child]);
    i = child;
  }
  place(i, n);
}

}  // namespace weft::rt
