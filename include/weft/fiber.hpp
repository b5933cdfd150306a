// Fibers: spawn, join, detach, cancel, and what a fiber can ask about itself.
//
// A fiber is a function running on its own small stack, scheduled cooperatively on a carrier
// (one OS thread). It runs until it blocks in a weft call, yields, or returns. A spawned fiber
// is not run at once: with one carrier it is queued behind the ready fibers; with several it
// joins the least loaded carrier's queue of unstarted fibers. Ready fibers run in FIFO order. A
// fiber spawned after weft::run()'s main fiber returned starts out cancelled. An exception that a
// fiber throws and nobody joins is reported on stderr when the fiber is destroyed.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include <weft/config.hpp>
#include <weft/deadline.hpp>

namespace weft {

namespace detail {

class FiberControl;

// FiberBody is the type-erased callable a new fiber runs; it is built on that fiber's stack.
struct FiberBody {
  // run() calls the user's function; an exception it throws is kept for join().
  virtual void run() = 0;
  // ~FiberBody() destroys any result join() did not take.
  virtual ~FiberBody() = default;
};

// ResultBody is a FiberBody that keeps the function's result until join() takes it.
template <class T>
struct ResultBody : FiberBody {
  // value holds the result once run() returned normally.
  std::optional<T> value;
  // take() moves the result out.
  T take() { return std::move(*value); }
};

// ResultBody<void> keeps nothing.
template <>
struct ResultBody<void> : FiberBody {
  // take() returns nothing.
  void take() {}
};

// Body binds one callable to its ResultBody; the callable is destroyed as soon as it returns.
template <class T, class Fn>
struct Body final : ResultBody<T> {
  // fn is the callable, empty once it has run.
  std::optional<Fn> fn;
  // Body(f) takes ownership of the callable.
  explicit Body(Fn&& f) : fn(std::move(f)) {}
  // run() calls fn once, stores its result, and destroys fn even if it throws.
  void run() override {
    struct Reset {
      std::optional<Fn>& f;
      ~Reset() { f.reset(); }
    } reset{fn};
    if constexpr (std::is_void_v<T>) {
      (*fn)();
    } else {
      this->value.emplace((*fn)());
    }
  }
};

// PlaceFn constructs a FiberBody in mem (size and alignment as requested) from arg.
using PlaceFn = FiberBody* (*)(void* mem, void* arg);

// SpawnRequest describes a fiber to create; see spawn_fiber().
struct SpawnRequest {
  // body_size is sizeof the body to place on the new stack.
  std::size_t body_size;
  // body_align is alignof the body.
  std::size_t body_align;
  // place builds the body.
  PlaceFn place;
  // arg is passed to place.
  void* arg;
  // name is the fiber's initial name (may be empty).
  std::string_view name;
  // stack_size overrides Config::stack_size when non-zero.
  std::size_t stack_size;
  // tls overrides Config::tls unless kDefault.
  Tls tls = Tls::kDefault;
};

// spawn_fiber creates a fiber in the current run (on its least loaded carrier) and returns it
// with one reference held for the caller's handle; it throws std::logic_error outside
// weft::run(), std::invalid_argument for a stack size outside 16 KiB..1 GiB and
// std::length_error when the callable takes more than half of the stack.
FiberControl* spawn_fiber(const SpawnRequest& req);
// join_fiber waits until f has finished and returns its body (the caller keeps its reference),
// or drops the caller's reference, clears f and rethrows the fiber's exception; it throws
// std::logic_error, leaving f untouched, when the caller may not join f.
FiberBody* join_fiber(FiberControl*& f);
// release_fiber drops the handle's reference; the fiber keeps running if it has not finished.
void release_fiber(FiberControl* f) noexcept;
// fiber_id returns f's id.
std::uint64_t fiber_id(const FiberControl* f) noexcept;
// fiber_done tells whether f has finished.
bool fiber_done(const FiberControl* f) noexcept;
// cancel_fiber makes f's current and later blocking weft calls fail with -ECANCELED (I/O,
// sleeps) or throw weft::Cancelled (sync, channel calls).
void cancel_fiber(FiberControl* f) noexcept;

// Result is the type a fiber running F(Args...) hands back from join().
template <class F, class... Args>
using Result = std::decay_t<std::invoke_result_t<std::decay_t<F>, std::decay_t<Args>...>>;

// make_request packs a callable and its arguments into a SpawnRequest whose arg points at them.
template <class T, class Fn>
SpawnRequest make_request(Fn& fn, std::string_view name, std::size_t stack_size,
                          Tls tls = Tls::kDefault) {
  using B = Body<T, Fn>;
  PlaceFn place = [](void* mem, void* arg) -> FiberBody* {
    return new (mem) B(std::move(*static_cast<Fn*>(arg)));
  };
  return SpawnRequest{sizeof(B), alignof(B), place, &fn, name, stack_size, tls};
}

// bind turns f and args into one nullary callable that owns copies of them.
template <class F, class... Args>
auto bind(F&& f, Args&&... args) {
  return [fn = std::forward<F>(f),
          tup = std::make_tuple(std::forward<Args>(args)...)]() mutable -> decltype(auto) {
    return std::apply(fn, std::move(tup));
  };
}

}  // namespace detail

// SpawnOptions are per-fiber settings for spawn_with().
struct SpawnOptions {
  // name is the fiber's name, shown in diagnostics (truncated to 31 bytes).
  std::string_view name;
  // stack_size overrides Config::stack_size for this fiber when non-zero.
  std::size_t stack_size = 0;
  // tls overrides Config::tls for this fiber unless kDefault (see weft::Tls).
  Tls tls = Tls::kDefault;
};

template <class T>
class Fiber;

// spawn_with() starts f(args...) on a new fiber with the given options and returns its handle.
template <class F, class... Args>
Fiber<detail::Result<F, Args...>> spawn_with(const SpawnOptions& opts, F&& f, Args&&... args);

// Fiber is a handle to a spawned fiber; dropping it detaches the fiber, which keeps running.
// A handle must not outlive the weft::run() that spawned its fiber.
template <class T>
class Fiber {
 public:
  // Fiber() makes an empty handle.
  Fiber() noexcept = default;
  // Fiber(Fiber&&) takes over other's fiber.
  Fiber(Fiber&& other) noexcept : f_(std::exchange(other.f_, nullptr)) {}
  // operator=(Fiber&&) detaches the current fiber, then takes over other's.
  Fiber& operator=(Fiber&& other) noexcept {
    if (this != &other) {
      detach();
      f_ = std::exchange(other.f_, nullptr);
    }
    return *this;
  }
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  // ~Fiber() detaches the fiber if the handle still holds one.
  ~Fiber() { detach(); }

  // join() waits, ignoring cancellation and Timeout scopes, for the fiber to finish and returns
  // its result or rethrows its exception, leaving the handle empty; it throws std::logic_error,
  // handle unchanged, for an empty handle, off a fiber, or on the fiber itself.
  T join() {
    if (f_ == nullptr) throw_not_joinable();
    // join_fiber() leaves f_ alone when it refuses (joining oneself) and clears it when it
    // rethrows the fiber's exception.
    auto* body = static_cast<detail::ResultBody<T>*>(detail::join_fiber(f_));
    struct Release {
      detail::FiberControl* f;
      ~Release() { detail::release_fiber(f); }
    } release{std::exchange(f_, nullptr)};
    return body->take();
  }
  // detach() lets the fiber run on its own; the handle is empty afterwards.
  void detach() noexcept {
    if (f_ != nullptr) detail::release_fiber(std::exchange(f_, nullptr));
  }
  // joinable() tells whether the handle holds a fiber.
  bool joinable() const noexcept { return f_ != nullptr; }
  // done() tells whether the fiber has finished (false for an empty handle).
  bool done() const noexcept { return f_ != nullptr && detail::fiber_done(f_); }
  // id() returns the fiber's id, or 0 for an empty handle.
  std::uint64_t id() const noexcept { return f_ != nullptr ? detail::fiber_id(f_) : 0; }
  // cancel() makes the fiber's current and later blocking weft calls fail with -ECANCELED (I/O,
  // sleeps) or throw weft::Cancelled (sync, channel calls); Fiber::join(), weft::close(),
  // dup2(), dup3() and a started weft::blocking() are not interrupted: they finish, as what
  // they wait for does.
  void cancel() noexcept {
    if (f_ != nullptr) detail::cancel_fiber(f_);
  }

 private:
  template <class F, class... Args>
  friend Fiber<detail::Result<F, Args...>> spawn_with(const SpawnOptions&, F&&, Args&&...);
  explicit Fiber(detail::FiberControl* f) noexcept : f_(f) {}
  [[noreturn]] static void throw_not_joinable();

  detail::FiberControl* f_ = nullptr;
};

// throw_not_joinable_error throws std::logic_error for join() on an empty handle.
[[noreturn]] void throw_not_joinable_error();

template <class T>
void Fiber<T>::throw_not_joinable() {
  throw_not_joinable_error();
}

template <class F, class... Args>
Fiber<detail::Result<F, Args...>> spawn_with(const SpawnOptions& opts, F&& f, Args&&... args) {
  using T = detail::Result<F, Args...>;
  auto fn = detail::bind(std::forward<F>(f), std::forward<Args>(args)...);
  auto req = detail::make_request<T>(fn, opts.name, opts.stack_size, opts.tls);
  return Fiber<T>(detail::spawn_fiber(req));
}

// spawn() starts f(args...) on a new fiber of the current run and returns its handle.
template <class F, class... Args>
Fiber<detail::Result<F, Args...>> spawn(F&& f, Args&&... args) {
  return spawn_with(SpawnOptions{}, std::forward<F>(f), std::forward<Args>(args)...);
}

namespace this_fiber {

// yield() lets the fibers already queued as ready on the calling carrier run first; it does
// nothing off a fiber.
void yield();
// sleep_until() suspends the caller until the deadline (fibers of one carrier with equal
// deadlines wake in the order they slept); returns 0, -ECANCELED if cancelled, or -ETIMEDOUT if
// a weft::Timeout scope expired first; throws std::logic_error off a fiber.
int sleep_until(Deadline deadline);
// sleep_for() suspends the caller for the duration; returns as sleep_until() does.
template <class Rep, class Period>
int sleep_for(std::chrono::duration<Rep, Period> d) {
  return sleep_until(Deadline(d));
}
// id() returns the calling fiber's id (unique per process, never 0), or 0 off a fiber.
std::uint64_t id() noexcept;
// name() returns the calling fiber's name (empty if unset or off a fiber).
std::string_view name() noexcept;
// set_name() names the calling fiber (truncated to 31 bytes); ignored off a fiber.
void set_name(std::string_view name) noexcept;
// cancelled() tells whether the calling fiber has been cancelled.
bool cancelled() noexcept;

}  // namespace this_fiber

}  // namespace weft
