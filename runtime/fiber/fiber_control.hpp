// fiber: the control block of one fiber, and its states.
//
// The control block lives at the top of the fiber's own stack, followed (downwards) by the
// user's callable, then the frames. A parked fiber whose frames fit in one page therefore costs
// one resident page and no heap allocation.
//
// States: kReady (in a run queue) -> kRunning -> kBlocked (parked, waiting on wait_kind_) ->
// kReady ... -> kDone. Only the carrier that owns a fiber changes its state; fiber dumps read it
// from other threads, hence the Relaxed fields (plain loads and stores on x86 and arm64).
//
// Threads other than the owner touch only the atomics: refs_, done_, join_ (a joiner on another
// carrier), cancel_requested_, interrupt_requested_ and started_.
//
// Lifetime: two references at spawn, the fiber's own and its handle's. The fiber drops its own
// when its function returns; whoever drops the last one destroys the body and frees the stack.
// A finishing fiber cannot free the stack it is running on, so it hands itself to the next
// context, which frees it right after the switch (Carrier::after_switch).
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>

#include <weft/deadline.hpp>
#include <weft/fiber.hpp>
#include <weft/timeout.hpp>

#include "base/list.hpp"
#include "base/sanitizer.hpp"
#include "context/context.hpp"
#include "fiber/fork_epoch.hpp"
#include "stack/stack_pool.hpp"

namespace weft::rt {

namespace tls {
struct ThreadBlock;
}  // namespace tls
class Carrier;
struct IoOp;
struct TimerNode;
struct Waiter;

// FiberState is where a fiber is in its life.
enum class FiberState : std::uint8_t { kReady, kRunning, kBlocked, kDone };

// WaitKind is what a blocked fiber waits for, so cancellation knows how to wake it.
enum class WaitKind : std::uint8_t { kNone, kIo, kTimer, kJoin, kClose, kPark };

// Relaxed is a value other threads may read while its owner writes it, with no ordering.
template <class T>
class Relaxed {
 public:
  // Relaxed() starts with v.
  constexpr Relaxed(T v = T{}) noexcept : v_(v) {}  // NOLINT: implicit on purpose
  // operator->() loads a pointer value and dereferences it.
  T operator->() const noexcept { return v_.load(std::memory_order_relaxed); }
  // operator T() loads the value.
  operator T() const noexcept { return v_.load(std::memory_order_relaxed); }
  // operator=() stores v.
  Relaxed& operator=(T v) noexcept {
    v_.store(v, std::memory_order_relaxed);
    return *this;
  }
  // store_release() stores v so that a load_acquire() that sees it also sees what the storing
  // thread wrote before (for a pointer another thread dereferences).
  void store_release(T v) noexcept { v_.store(v, std::memory_order_release); }
  // load_acquire() loads the value, pairing with store_release().
  T load_acquire() const noexcept { return v_.load(std::memory_order_acquire); }

 private:
  std::atomic<T> v_;
};

// ContextSlot holds the saved context of a suspended fiber or of the scheduler.
struct ContextSlot {
  // ctx is the suspended context, valid while its owner is not running.
  ContextHandle ctx = nullptr;
  // tp is the thread pointer the context runs with: its own glibc thread's (tls/), or nullptr
  // for the carrier's, which a switch then installs (Carrier::switch_to).
  char* tp = nullptr;
  // san is what ASan and TSan know of the context; empty (no bytes) in other builds.
  [[no_unique_address]] san::SanitizerContext san;
};
#if !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
static_assert(sizeof(ContextSlot) == 2 * sizeof(ContextHandle));
#endif

}  // namespace weft::rt

namespace weft::detail {

// FiberControl is everything the runtime knows about one fiber; cache-line aligned, so that its
// hot fields (kHotBytes) take exactly two lines.
class alignas(64) FiberControl {
 public:
  // kNameSize is the size of the name buffer, terminating zero included.
  static constexpr std::size_t kNameSize = 32;
  // kHotBytes is how much of the block, from its start, holds the fields every wait, wake and
  // switch touches.
  static constexpr std::size_t kHotBytes = 128;

  // The first kHotBytes hold what every wait, wake and switch touches; the rest is read at
  // spawn, finish, join, cancel and in dumps. With thousands of fibers in rotation a fiber's
  // lines are cold when it is next resumed, and the scheduler prefetches these two lines ahead of
  // the switch (Carrier::prefetch_ahead(), docs/design.md "Performance choices").

  // slot_ is the saved context while the fiber is not running.
  rt::ContextSlot slot_;
  // next_ links the fiber into a run queue (FiberQueue).
  FiberControl* next_ = nullptr;
  // wait_obj_ is the IoOp, TimerNode, Waiter or FiberControl waited for, by wait_kind_.
  rt::Relaxed<void*> wait_obj_ = nullptr;
  // wait_since_ is when the fiber last blocked (CLOCK_MONOTONIC_COARSE, ns), for fiber dumps.
  rt::Relaxed<std::int64_t> wait_since_ = 0;
  // stack_ is the stack the fiber runs on.
  rt::StackSpan stack_;
  // state_ is the fiber's state.
  rt::Relaxed<rt::FiberState> state_ = rt::FiberState::kReady;
  // wait_kind_ is what a blocked fiber waits for.
  rt::Relaxed<rt::WaitKind> wait_kind_ = rt::WaitKind::kNone;
  // cancelled_ makes blocking calls fail with -ECANCELED.
  bool cancelled_ = false;
  // interruptible_ is set while the fiber is inside an rt::Interruptible scope: an interrupt may
  // then end its I/O, sleep or park early (interrupt.hpp).
  bool interruptible_ = false;
  // interrupted_ is set by the owning carrier when an interrupt ended the fiber's current wait;
  // the wait consumes it.
  bool interrupted_ = false;
  // wait_outside_ tells whether a parked fiber's wait may be ended from outside its run
  // (Waiter::in_run_only unset), for the deadlock check.
  rt::Relaxed<bool> wait_outside_ = false;
  // cancel_requested_ is set by a cancel from another thread before the owner acts on it.
  std::atomic<bool> cancel_requested_{false};
  // holds_carrier_ counts the reasons the fiber's waits must keep its carrier (hold_carrier()).
  std::uint32_t holds_carrier_ = 0;
  // wait_fd_ is the fd a blocked fiber's I/O waits on, or -1.
  rt::Relaxed<int> wait_fd_ = -1;
  // wait_what_ names what a blocked fiber waits in ("read", "sleep", "mutex", ...), for dumps.
  rt::Relaxed<const char*> wait_what_ = nullptr;
  // scope_ is the fiber's innermost weft::Timeout scope, or nullptr.
  Timeout* scope_ = nullptr;
  // scope_deadline_ is the earliest deadline of the fiber's Timeout scopes (max() when none).
  Clock::time_point scope_deadline_ = Clock::time_point::max();
  // carrier_ is the carrier the fiber runs on, for good.
  rt::Carrier* carrier_ = nullptr;
  // tls_ is the fiber's own glibc thread (Tls::kPerFiber), inside its stack memory, or nullptr.
  rt::tls::ThreadBlock* tls_ = nullptr;
  // cancel_seen() is cancelled_, first taking in a cancel that another carrier requested but
  // this fiber's own has not handled yet, so a cancel is visible as soon as cancel() returns.
  // Only the owning carrier calls it, for its running fiber.
  bool cancel_seen() noexcept {
    if (!cancelled_ && cancel_requested_.load(std::memory_order_acquire)) cancelled_ = true;
    return cancelled_;
  }
  // all_prev_ and all_next_ link the fiber into its carrier's list of unfinished fibers.
  FiberControl* all_prev_ = nullptr;
  // all_next_ is the next unfinished fiber of the carrier.
  FiberControl* all_next_ = nullptr;
  // body_ is the user's callable and result, placed below this block on the same stack.
  FiberBody* body_ = nullptr;
  // id_ is the process-unique id.
  std::uint64_t id_ = 0;
  // refs_ counts the fiber itself (until done) and its handle (until released).
  std::atomic<int> refs_{2};
  // started_ is set when the fiber first runs; from then on it never changes carrier.
  std::atomic<bool> started_{false};
  // done_ is set (release) once the fiber has finished; join() and done() read it.
  std::atomic<bool> done_{false};
  // interrupt_requested_ is set while the fiber sits in its carrier's interrupt mailbox, so a
  // second request before the first is handled does not queue it twice.
  std::atomic<bool> interrupt_requested_{false};
  // interrupt_next_ links the fiber into its carrier's interrupt mailbox.
  FiberControl* interrupt_next_ = nullptr;
  // error_observed_ is set once join() has taken the exception (or none was thrown).
  bool error_observed_ = false;
  // fork_epoch_ is the fork epoch the fiber lives in (runtime/process/fork.hpp): a fiber of an
  // older epoch is a ghost of a parent process, which nothing may wake, run or cancel.
  std::uint32_t fork_epoch_ = 0;
  // join_ is the Waiter of the fiber blocked in join() on this one, or kJoinDone once finished.
  std::atomic<rt::Waiter*> join_{nullptr};
  // tls_ended_ is set once the thread exit work of tls_ has run (rt::fiber_exit_storage()).
  bool tls_ended_ = false;
  // fls_ is the fiber's local storage (weft/fiber_local.hpp), created on first use.
  void* fls_ = nullptr;
  // owner_ is the fiber's owner word (sched/fls.hpp, fls_owner()).
  void* owner_ = nullptr;
  // waited_ns_ is how long the fiber has been blocked in all, while rt::measure_waits() is on.
  std::int64_t waited_ns_ = 0;
  // call_waited_ is waited_ns_ when the fiber's current call began (rt::swap_call()).
  std::int64_t call_waited_ = 0;
  // call_tag_ is the tag of the fiber's current call, or -1 (rt::swap_call()).
  int call_tag_ = -1;
  // error_ is the exception the body threw, if any.
  std::exception_ptr error_;
  // name_ is the fiber's name, zero-terminated.
  char name_[kNameSize] = {};
};

}  // namespace weft::detail

#if !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
static_assert(offsetof(weft::detail::FiberControl, tls_) + sizeof(void*) <=
                  weft::detail::FiberControl::kHotBytes,
              "the hot fields of FiberControl must stay within its first two cache lines");
#pragma GCC diagnostic pop
#endif

namespace weft::rt {
using FiberControl = weft::detail::FiberControl;
// FiberQueue is a FIFO of fibers linked through FiberControl::next_ (a run queue).
using FiberQueue = List<FiberControl, &FiberControl::next_>;
}  // namespace weft::rt
