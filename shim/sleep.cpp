// sleep: nanosleep, clock_nanosleep, sleep, usleep and sched_yield, yielding on fibers.
//
// The sleeps are weft timers on the fiber. A handled signal ends them with EINTR whatever
// SA_RESTART says (signal(7): they are never restarted); nanosleep and a relative
// clock_nanosleep then write the time left, sleep returns the whole seconds left. sched_yield
// lets the carrier's other fibers run.
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <climits>

#include <weft/fiber.hpp>

#include "allocator.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"

namespace weft::shim {
namespace {

using std::chrono::nanoseconds;

// sleep_until() sleeps the fiber; returns 0 or -EINTR (a handled signal).
int sleep_until(const weft::Deadline& d) noexcept {
  return static_cast<int>(
      interruptible(Restart::kNever, [&] { return weft::this_fiber::sleep_until(d); }));
}

// left() is the time from now until d, never negative.
timespec left(const weft::Deadline& d) noexcept {
  auto ns = std::chrono::duration_cast<nanoseconds>(d.at() - weft::Clock::now()).count();
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
}

bool valid(const timespec* t) noexcept {
  return t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < 1000000000;
}

nanoseconds to_ns(const timespec& t) noexcept {
  return std::chrono::seconds(t.tv_sec) + nanoseconds(t.tv_nsec);
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int nanosleep(const timespec* req, timespec* rem) {
  if (!count_fiber_call(Sym::nanosleep)) {
    auto real = WEFT_REAL(nanosleep);
    if (real != nullptr) return real(req, rem);
    return static_cast<int>(weft::shim::raw(SYS_nanosleep, req, rem));
  }
  ErrnoScope e;
  if (req == nullptr) return e.result<int>(-EFAULT);
  if (!valid(req)) return e.result<int>(-EINVAL);
  weft::Deadline d(to_ns(*req));
  int r = sleep_until(d);
  if (r == -EINTR && rem != nullptr) *rem = left(d);
  return e.result<int>(r);
}

WEFT_EXPORT int clock_nanosleep(clockid_t clock, int flags, const timespec* req, timespec* rem) {
  // A CPU-time clock advances only while something computes: not a wait a timer can stand for.
  bool timer_clock = clock == CLOCK_REALTIME || clock == CLOCK_MONOTONIC ||
                     clock == CLOCK_BOOTTIME || clock == CLOCK_TAI;
  if (!timer_clock || !count_fiber_call(Sym::clock_nanosleep)) {
    if (timer_clock == false) count(Sym::clock_nanosleep, Route::kOffFiber);
    auto real = WEFT_REAL(clock_nanosleep);
    return real != nullptr ? real(clock, flags, req, rem) : ENOSYS;
  }
  // clock_nanosleep returns the error number and leaves errno alone.
  ErrnoScope keep;
  if (req == nullptr) return EFAULT;
  if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000) return EINVAL;
  nanoseconds wait = to_ns(*req);
  if ((flags & TIMER_ABSTIME) != 0) {
    timespec now{};
    ::clock_gettime(clock, &now);
    wait -= to_ns(now);
  } else if (req->tv_sec < 0) {
    return EINVAL;
  }
  if (wait > nanoseconds::zero()) {
    weft::Deadline d(wait);
    if (sleep_until(d) == -EINTR) {
      if ((flags & TIMER_ABSTIME) == 0 && rem != nullptr) *rem = left(d);
      keep.restore();
      return EINTR;
    }
  }
  keep.restore();
  return 0;
}

WEFT_EXPORT unsigned int sleep(unsigned int seconds) {
  if (!count_fiber_call(Sym::sleep)) {
    auto real = WEFT_REAL(sleep);
    return real != nullptr ? real(seconds) : seconds;
  }
  ErrnoScope keep;
  weft::Deadline d{std::chrono::seconds(seconds)};
  if (sleep_until(d) == -EINTR) {
    // glibc's sleep returns nanosleep's whole seconds left and leaves errno at EINTR.
    errno = EINTR;
    return static_cast<unsigned int>(left(d).tv_sec);
  }
  keep.restore();
  return 0;
}

WEFT_EXPORT int usleep(useconds_t usec) {
  if (!count_fiber_call(Sym::usleep)) {
    auto real = WEFT_REAL(usleep);
    return real != nullptr ? real(usec) : 0;
  }
  ErrnoScope e;
  return e.result<int>(sleep_until(weft::Deadline(std::chrono::microseconds(usec))));
}

WEFT_EXPORT int sched_yield() noexcept {
  // The program's malloc yields the thread it spins on (allocator.hpp).
  bool allocator = weft::shim::from_allocator(__builtin_return_address(0));
  if (allocator) weft::shim::count(Sym::sched_yield, weft::shim::Route::kAllocator);
  if (allocator || !count_fiber_call(Sym::sched_yield)) {
    auto real = WEFT_REAL(sched_yield);
    return real != nullptr ? real() : static_cast<int>(weft::shim::raw(SYS_sched_yield));
  }
  weft::shim::ErrnoScope keep;  // the carrier's other fibers run meanwhile
  weft::this_fiber::yield();
  keep.restore();
  return 0;
}

}  // extern "C"
