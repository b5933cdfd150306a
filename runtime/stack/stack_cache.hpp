// stack_cache: a carrier's own few warm stacks of the run's default size, taken and given back
// without a lock.
//
// Every carrier of a run shares one StackPool, so each of its calls takes the pool's lock and
// looks the size class up; a spawn and a free cost two lock round trips (four locked
// instructions) and two hash lookups. Most fibers have the default stack size and are freed on
// the carrier that made them (or on another that makes fibers too), so each carrier keeps a small
// LIFO of freed default-size stacks that only its own thread touches. A miss (an empty cache, a
// custom size, a full cache) goes to the pool as before.
//
// The cache counts against Config::stack_cache: its capacity is reserved from the pool the first
// time it keeps a stack (StackPool::reserve_cache), and the pool keeps that many fewer warm
// stacks of the default size itself, so the run never holds more warm stacks than the limit. A
// stack in a cache is warm (its memory kept); cold stacks stay the pool's business. The pool
// counts a cached stack as in use; RuntimeStats subtracts what the caches hold (count()).
#pragma once

#include <atomic>
#include <cstddef>

#include "stack/stack_pool.hpp"

namespace weft::rt {

// StackCache is one carrier's warm default-size stacks; only the carrier's thread calls it,
// except count(), which stats read from anywhere.
class StackCache {
 public:
  // kCapacity is the most stacks a cache holds: a batch of a hundred spawns then joins stays in
  // it (bench/spawn_bench), and the cache costs a page of bookkeeping per carrier.
  static constexpr std::size_t kCapacity = 128;

  // allocate() returns a stack of the pool's default size, from the cache if it holds one.
  StackSpan allocate(StackPool& pool) {
    if (n_ == 0) return pool.allocate(0);
    StackSpan s = slots_[--n_];
    count_.store(n_, std::memory_order_relaxed);
    pool.reuse(s);
    return s;
  }
  // release() takes back a stack of the pool's; it keeps it if it has the default size and there
  // is room, else hands it to the pool.
  void release(StackPool& pool, StackSpan s) noexcept {
    if (s.size == pool.default_size() && n_ < capacity(pool)) {
      slots_[n_++] = s;
      count_.store(n_, std::memory_order_relaxed);
      return;
    }
    pool.release(s);
  }
  // count() is how many stacks the cache holds now.
  std::size_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  // after_fork_child() forgets the cached stacks in a forked child, whose pool starts afresh and
  // leaks the parent's stacks (StackPool::after_fork_child).
  void after_fork_child() noexcept {
    n_ = 0;
    cap_ = 0;
    reserved_ = false;
    count_.store(0, std::memory_order_relaxed);
  }

 private:
  std::size_t capacity(StackPool& pool) noexcept {
    if (!reserved_) [[unlikely]] {
      reserved_ = true;
      cap_ = pool.reserve_cache(kCapacity);
    }
    return cap_;
  }

  std::size_t n_ = 0;
  std::size_t cap_ = 0;  // reserved from the pool's cache limit, at most kCapacity
  bool reserved_ = false;
  std::atomic<std::size_t> count_{0};  // n_, for stats on other threads
  StackSpan slots_[kCapacity];
};

}  // namespace weft::rt
