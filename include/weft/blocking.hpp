// Blocking offload: run a call that cannot yield on a helper thread while the fiber waits.
//
// CPU-bound work, and calls no weft hook reaches (getaddrinfo, a library's own blocking system
// calls), would stall every fiber of the carrier they run on. blocking() runs such a call on a
// pool of helper OS threads (gevent's threadpool) and suspends only the calling fiber. The pool
// belongs to the weft::run(): threads start on demand, at most Config::blocking_threads of them
// (further calls queue in FIFO order), idle ones exit after a few seconds, and run() joins them
// all before it returns. A helper thread has an 8 MiB stack and is no fiber, so weft calls made
// there are the plain system calls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace weft {

// BlockingStats are counters of the current weft::run()'s blocking pool, which all its carriers
// share.
struct BlockingStats {
  // threads is how many helper threads exist now.
  std::size_t threads = 0;
  // threads_peak is the most helper threads that existed at once during this run.
  std::size_t threads_peak = 0;
  // jobs is how many jobs the helper threads have completed: blocking() calls and, on the epoll
  // backend, file I/O that epoll cannot wait for.
  std::uint64_t jobs = 0;
  // queued is how many such jobs wait for a free helper thread.
  std::size_t queued = 0;
};

// blocking_stats() returns the counters of the current weft::run()'s blocking pool (all zero off
// a carrier thread).
BlockingStats blocking_stats() noexcept;

namespace detail {
// run_blocking calls fn(arg) on a helper thread and waits for it on the calling fiber, or calls
// it inline off a fiber; it throws Cancelled or TimedOut before starting when the fiber is
// already interrupted, and std::system_error when no helper thread runs and none can be started.
void run_blocking(void (*fn)(void*), void* arg);
}  // namespace detail

// blocking() calls f(args...) on a helper thread, suspending only the calling fiber, and returns
// f's result (by value) or rethrows its exception on the fiber. The arguments are passed by
// reference: they live in the waiting fiber's frame. Once started, f cannot be interrupted:
// cancellation and Timeout scopes do not cut the wait short, the fiber waits for f and returns
// its result, and its next blocking call reports the interruption. A fiber that is already
// cancelled, or whose Timeout scope has expired, gets Cancelled or TimedOut without f being run.
// Off a fiber, blocking() simply calls f(args...) on the calling thread.
template <class F, class... Args>
std::decay_t<std::invoke_result_t<F, Args...>> blocking(F&& f, Args&&... args) {
  using T = std::decay_t<std::invoke_result_t<F, Args...>>;
  struct Call {
    F& fn;
    std::tuple<Args&&...> args;
    std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> result{};
    std::exception_ptr error;
  } call{f, std::forward_as_tuple(std::forward<Args>(args)...), {}, nullptr};
  auto thunk = [](void* p) noexcept {
    auto* c = static_cast<Call*>(p);
    try {
      if constexpr (std::is_void_v<T>) {
        std::apply(std::forward<F>(c->fn), std::move(c->args));
      } else {
        c->result.emplace(std::apply(std::forward<F>(c->fn), std::move(c->args)));
      }
    } catch (...) {
      c->error = std::current_exception();
    }
  };
  detail::run_blocking(thunk, &call);
  if (call.error) std::rethrow_exception(call.error);
  if constexpr (!std::is_void_v<T>) return std::move(*call.result);
}

}  // namespace weft
