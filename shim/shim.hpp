// shim: what every hook needs -- whether this call may use weft, and libc's error convention.
//
// A hook takes the weft path only on a fiber of a running runtime (the process's own, or the fresh
// one a forked child gets); everything else (a thread that is no fiber, code before main, a vfork
// child, a child forked by a thread that was no fiber, a process whose runtime could not start)
// passes straight through to libc, untouched.
//
// errno: weft returns -errno and may itself clobber errno on its way (a failed internal syscall),
// so a hook saves errno before calling weft and sets it afterwards, to the error or back to the
// saved value. Several fibers share one carrier thread's errno; saving it across a call that
// may yield is also what keeps each fiber's errno its own, as each thread's is natively: a fiber
// only ever switches inside such a call.
#pragma once

#include <atomic>
#include <cerrno>

#include <weft/runtime.hpp>

#include "base/sys.hpp"

namespace weft::shim {

// g_disabled is set when the runtime could not start, and in a forked child that has none (see
// start.cpp): every hook then passes through.
extern std::atomic<bool> g_disabled;

// on_fiber() tells whether the calling thread runs a weft fiber this hook may use.
inline bool on_fiber() noexcept {
  return !g_disabled.load(std::memory_order_relaxed) && weft::in_fiber();
}

// ErrnoScope keeps the caller's errno across a weft call and turns weft's result into libc's.
class ErrnoScope {
 public:
  // ErrnoScope() saves errno.
  ErrnoScope() noexcept : saved_(errno) {}
  // result() returns r, or -1 with errno = -r for a negative r; errno is the saved value after
  // a success.
  template <class T = long>
  T result(long r) noexcept {
    if (r < 0) {
      errno = static_cast<int>(-r);
      return static_cast<T>(-1);
    }
    errno = saved_;
    return static_cast<T>(r);
  }
  // restore() puts the saved errno back (for calls that report through their return value).
  void restore() noexcept { errno = saved_; }

 private:
  int saved_;
};

// raw() makes system call n the way libc's wrapper would (the result, or -1 with errno set),
// entering the kernel directly: never through syscall(3), which the shim interposes. Hooks use
// it where libc's own function cannot be had.
template <class... A>
long raw(long n, A... args) noexcept {
  long r = sys::call(n, args...);
  if (r < 0) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

// WEFT_EXPORT marks a hook's definition: visible, C linkage decided by the declaration.
#define WEFT_EXPORT __attribute__((visibility("default")))

}  // namespace weft::shim
