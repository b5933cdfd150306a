// Pool: a group of at most size() fibers running at once (gevent.pool.Pool).
//
// spawn() waits while the pool is full, then starts the function on a new fiber and returns its
// handle, as weft::spawn() does: join it for the result, or drop it to let the fiber run
// detached. Either way the fiber is a member until its function returns,
// when its place is handed to the longest-waiting spawn(). join() waits until every member has
// finished; cancel() cancels every member, those spawned but not yet started included;
// kill() cancels them and then joins.
//
// Destroying a pool waits until its members have finished, ignoring cancellation and Timeout
// scopes: the members refer to the pool until they end, and making it an error instead would
// turn every exception unwinding past a pool (a Cancelled thrown by join(), say) into an
// abort. Call cancel() first to make that quick. Destroying a pool that still has members off
// a fiber, or from one of its own members, aborts with a message (it could never finish).
//
// Errors: spawn(), join(), join_for(), join_until() and kill() throw weft::Cancelled if the
// fiber is cancelled and weft::TimedOut if an enclosing weft::Timeout scope expires, but only
// when they would have to wait; join_for and join_until report their own deadline by returning
// false. Called off a fiber they throw std::logic_error, and so do join() and kill() called by
// a member of the same pool (it would wait for itself); kill() from a member first cancels
// every member, itself included. cancel(), size(), running() and
// free_count() never block.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <utility>

#include <weft/deadline.hpp>
#include <weft/fiber.hpp>
#include <weft/semaphore.hpp>
#include <weft/wait_group.hpp>

namespace weft {

namespace detail {

// PoolMember is a running member's entry in its pool, kept in the member fiber's own frame.
struct PoolMember {
  // fiber is the member.
  FiberControl* fiber = nullptr;
  // prev links the entry into the pool's list of members.
  PoolMember* prev = nullptr;
  // next is the following member.
  PoolMember* next = nullptr;
};

}  // namespace detail

// Pool runs functions on fibers, at most size() at once.
class Pool {
 public:
  // Pool() makes an empty pool of the given size; throws std::invalid_argument for 0.
  explicit Pool(std::size_t size);
  // ~Pool() waits until every member has finished (see above).
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // spawn() waits for a free place, then starts f(args...) on a new member fiber.
  template <class F, class... Args>
  Fiber<detail::Result<F, Args...>> spawn(F&& f, Args&&... args) {
    return spawn_with(SpawnOptions{}, std::forward<F>(f), std::forward<Args>(args)...);
  }
  // spawn_with() is spawn() with per-fiber options (name, stack size).
  template <class F, class... Args>
  Fiber<detail::Result<F, Args...>> spawn_with(const SpawnOptions& opts, F&& f, Args&&... args);

  // join() waits until every member has finished.
  void join() { join_until_deadline(Deadline::never()); }
  // join_for() waits at most the duration for every member to finish; returns whether they did.
  template <class Rep, class Period>
  bool join_for(const std::chrono::duration<Rep, Period>& timeout) {
    return join_until_deadline(Deadline(timeout));
  }
  // join_until() waits until the time point for every member to finish; returns whether they
  // did.
  template <class C, class D>
  bool join_until(const std::chrono::time_point<C, D>& at) {
    return join_until_deadline(detail::to_deadline(at));
  }
  // cancel() cancels every member: their blocking weft calls fail with -ECANCELED or throw
  // weft::Cancelled.
  void cancel() noexcept;
  // kill() cancels every member and waits until they have finished.
  void kill() {
    cancel();
    join();
  }

  // size() is the most members the pool runs at once.
  std::size_t size() const noexcept { return size_; }
  // running() is how many members have been spawned and not yet finished.
  std::size_t running() const noexcept;
  // free_count() is how many more members spawn() could start without waiting.
  std::size_t free_count() const noexcept;

 private:
  std::uint64_t reserve();
  void unreserve() noexcept;
  void enter(detail::PoolMember& m, std::uint64_t epoch) noexcept;
  void leave(detail::PoolMember& m) noexcept;
  bool join_until_deadline(Deadline deadline);

  std::size_t size_;
  // slots_ holds a permit per free place; spawn() takes one, a finishing member returns it.
  Semaphore slots_;
  // members_ counts the members not yet finished, for join().
  WaitGroup members_;
  // impl_ is the runtime's state: a lock, the list of started members and the cancel epoch.
  alignas(void*) unsigned char impl_[32];
};

template <class F, class... Args>
Fiber<detail::Result<F, Args...>> Pool::spawn_with(const SpawnOptions& opts, F&& f,
                                                   Args&&... args) {
  using T = detail::Result<F, Args...>;
  auto fn = detail::bind(std::forward<F>(f), std::forward<Args>(args)...);
  std::uint64_t epoch = reserve();
  try {
    return weft::spawn_with(opts, [this, epoch, fn = std::move(fn)]() mutable -> T {
      detail::PoolMember member;
      enter(member, epoch);
      struct Leave {
        Pool* pool;
        detail::PoolMember& member;
        ~Leave() { pool->leave(member); }
      } leave{this, member};
      // The callable is moved into a local so it is destroyed before the member leaves: once
      // join() returns, nothing of the member's function is left running.
      auto call = std::move(fn);
      return call();
    });
  } catch (...) {
    unreserve();
    throw;
  }
}

}  // namespace weft
