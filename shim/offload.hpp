// offload: running a libc call that blocks where no hook reaches on a blocking-pool helper
// thread, while only the calling fiber waits (name lookups, waiting for a child).
#pragma once

#include <netdb.h>
#include <cerrno>

#include <weft/blocking.hpp>

#include "shim.hpp"
#include "stats.hpp"

namespace weft::shim {

// Errnos carries the helper thread's errno and h_errno back to the fiber.
struct Errnos {
  int err = 0;
  int herr = 0;
};

// offload() runs call() on a helper thread and restores the errno and h_errno it left there;
// off a fiber, or when no helper thread can be started, call() runs on the calling thread.
template <class Call>
auto offload(Sym s, Call call) {
  if (!on_fiber()) {
    count(s, Route::kOffFiber);
    return call();
  }
  count(s, Route::kWeft);
  Errnos left;
  auto run = [&] {
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

}  // namespace weft::shim
