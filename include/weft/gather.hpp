// Gather: run callables concurrently, each on its own fiber, and collect every outcome in order.
//
// gather(f, g, h) and collect(range) spawn one fiber per callable, wait for all of them, and
// return each one's Outcome (its value or the exception it threw) in the order given, like
// Python's asyncio.gather(..., return_exceptions=True): one failure neither hides the other
// results nor cancels the siblings. The callables are called in place (not copied): they must
// stay alive until gather()/collect() returns, which a temporary argument does. If the waiting
// fiber is cancelled, or a Timeout scope around the call expires, every child is cancelled (its
// blocking calls fail with -ECANCELED), gather waits for all of them to return, then throws
// Cancelled or TimedOut. Both must be called on a fiber (std::logic_error otherwise).
#pragma once

#include <array>
#include <cstddef>
#include <exception>
#include <iterator>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <weft/fiber.hpp>
#include <weft/outcome.hpp>

namespace weft {

namespace detail {

// GatherLatch counts the children of one gather that have not finished yet; it lives in the
// gathering fiber's frame and holds the runtime's state (a lock, the count and the waiter).
class GatherLatch {
 public:
  // GatherLatch() starts the count at n.
  explicit GatherLatch(std::size_t n) noexcept;
  GatherLatch(const GatherLatch&) = delete;
  GatherLatch& operator=(const GatherLatch&) = delete;
  // arrive() counts one child as finished; the child must not touch the latch afterwards.
  void arrive() noexcept;
  // raw_ is storage for the runtime's state.
  alignas(void*) unsigned char raw_[4 * sizeof(void*)];
};

// gather_wait waits until every child has arrived. kids[0..spawned) were spawned; error, if set,
// is why spawning stopped (the children never spawned count as arrived). When spawning failed or
// the wait is interrupted, it cancels the children, waits for all of them, then rethrows error,
// or throws Cancelled or TimedOut.
void gather_wait(GatherLatch& latch, Fiber<void>* kids, std::size_t n, std::size_t spawned,
                 std::exception_ptr error);

// GatherResult is what gather keeps of a callable's result.
template <class F>
using GatherResult = std::decay_t<std::invoke_result_t<F>>;

// spawn_child starts a fiber that calls fn into slot and then arrives at latch, unless an
// earlier spawn failed; a spawn failure is kept in error.
template <class T, class Fn>
void spawn_child(GatherLatch& latch, Outcome<T>& slot, Fn&& fn, Fiber<void>& kid,
                 std::size_t& spawned, std::exception_ptr& error) noexcept {
  if (error) return;
  try {
    kid = spawn_with(SpawnOptions{"gather"}, [&latch, &slot, &fn]() noexcept {
      capture(slot, std::forward<Fn>(fn));
      latch.arrive();  // last touch of the gatherer's frame
    });
    ++spawned;
  } catch (...) {
    error = std::current_exception();
  }
}

// spawn_all spawns one child per callable, in order.
template <class Out, std::size_t N, std::size_t... I, class... Fs>
void spawn_all(GatherLatch& latch, Out& out, std::array<Fiber<void>, N>& kids, std::size_t& spawned,
               std::exception_ptr& error, std::index_sequence<I...>, Fs&&... fns) noexcept {
  (spawn_child(latch, std::get<I>(out), std::forward<Fs>(fns), kids[I], spawned, error), ...);
}

// collect_calls runs *calls[i] for every i on its own fiber and gathers the outcomes in order.
template <class F>
std::vector<Outcome<GatherResult<F&>>> collect_calls(const std::vector<F*>& calls) {
  std::size_t n = calls.size();
  std::vector<Outcome<GatherResult<F&>>> out(n);
  if (n == 0) return out;
  std::vector<Fiber<void>> kids(n);
  GatherLatch latch(n);
  std::size_t spawned = 0;
  std::exception_ptr error;
  for (std::size_t i = 0; i < n; ++i)
    spawn_child(latch, out[i], *calls[i], kids[i], spawned, error);
  gather_wait(latch, kids.data(), n, spawned, error);
  return out;
}

}  // namespace detail

// gather() calls each of fns on its own fiber, waits for all of them, and returns a tuple of
// their Outcomes in argument order.
template <class... Fs>
std::tuple<Outcome<detail::GatherResult<Fs>>...> gather(Fs&&... fns) {
  std::tuple<Outcome<detail::GatherResult<Fs>>...> out;
  if constexpr (sizeof...(Fs) > 0) {
    std::array<Fiber<void>, sizeof...(Fs)> kids;
    detail::GatherLatch latch(sizeof...(Fs));
    std::size_t spawned = 0;
    std::exception_ptr error;
    detail::spawn_all(latch, out, kids, spawned, error, std::index_sequence_for<Fs...>{},
                      std::forward<Fs>(fns)...);
    detail::gather_wait(latch, kids.data(), kids.size(), spawned, error);
  }
  return out;
}

// collect() calls every callable of a range on its own fiber, waits for all of them, and returns
// a vector of their Outcomes in range order. Elements the range yields by value are moved into
// the call's frame first; elements it yields by reference are called in place.
template <class Range>
auto collect(Range&& fns) {
  using Ref = decltype(*std::begin(fns));
  if constexpr (std::is_lvalue_reference_v<Ref>) {
    std::vector<std::remove_reference_t<Ref>*> calls;
    for (auto& f : fns) calls.push_back(&f);
    return detail::collect_calls(calls);
  } else {
    std::vector<std::decay_t<Ref>> owned;
    for (auto&& f : fns) owned.push_back(std::forward<decltype(f)>(f));
    std::vector<std::decay_t<Ref>*> calls;
    for (auto& f : owned) calls.push_back(&f);
    return detail::collect_calls(calls);
  }
}

}  // namespace weft
