// offload: running a libc call that blocks where no hook reaches on a blocking-pool helper
// thread, while only the calling fiber waits (name lookups, waiting for a child, file locks,
// SysV IPC, fd transfers, opens of FIFOs).
//
// The helper thread shares everything the call touches with the fiber's OS thread: the process
// (children, POSIX record locks, SysV objects) and the fd table (fds, open file descriptions,
// their flock and OFD locks). What is per thread travels by hand: the helper starts with the
// caller's errno (so a call that succeeds leaves it as it found it) and its errno and h_errno
// come back. The wait is not interruptible: the helper uses the fiber's frame until the call
// returns, and nothing can end a system call on another thread except a signal sent to that
// thread, which would run the program's handler there. So a handled signal does not end an
// offloaded call with EINTR (natively it would), and a deadline cannot cut it short.
//
// The pool has Config::blocking_threads helpers (WEFT_BLOCKING_THREADS, 64 by default): more
// offloaded calls than that wait in FIFO order for a free helper, so a program with more
// threads blocked in such calls at once than helpers, where one queued call is what would let
// the others go, waits for good (natively each thread blocks on its own).
#pragma once

#include <netdb.h>
#include <cerrno>

#include <weft/blocking.hpp>

#include "shim.hpp"
#include "stats.hpp"

namespace weft::shim {

// Errnos carries errno and h_errno between the fiber and the helper thread.
struct Errnos {
  int err = 0;
  int herr = 0;
};

// run_offloaded() runs call() on a helper thread, the calling fiber waiting (on a fiber only);
// errno and h_errno are the helper's afterwards. When no helper thread can be started, call()
// runs on the fiber itself and holds its carrier rather than fail.
template <class Call>
auto run_offloaded(Call call) {
  Errnos left{errno, h_errno};
  auto run = [&] {
    errno = left.err;
    h_errno = left.herr;
    auto r = call();
    left.err = errno;
    left.herr = h_errno;
    return r;
  };
  try {
    auto r = weft::blocking(run);
    errno = left.err;
    h_errno = left.herr;
    return r;
  } catch (...) {
    return call();  // no helper thread: hold the carrier rather than fail the call
  }
}

// offload() counts a call of s and runs call() through run_offloaded() on a fiber, or on the
// calling thread off one.
template <class Call>
auto offload(Sym s, Call call) {
  if (!on_fiber()) {
    count(s, Route::kOffFiber);
    return call();
  }
  count(s, Route::kWeft);
  return run_offloaded(call);
}

// try_then_offload() is a waiting call that has a non-waiting form, on a fiber: try_now() (that
// form, as a raw system call returning the result or -errno) runs on the fiber first, so a call
// that need not wait costs no helper thread; if it fails with `busy` or `busy2` (how the form
// says "I would have to wait"), wait() (the program's own call) runs on a helper thread. A
// failed try changes nothing the waiting call depends on: the kernel checks before it acts.
template <class Try, class Wait>
auto try_then_offload(Try try_now, int busy, int busy2, Wait wait) {
  using R = decltype(wait());
  long r = try_now();
  if (r >= 0) return static_cast<R>(r);
  if (r != -busy && r != -busy2) {
    errno = static_cast<int>(-r);
    return static_cast<R>(-1);
  }
  return run_offloaded(wait);
}

}  // namespace weft::shim
