// wait_child: wait, waitpid, wait3, wait4 and waitid wait on a blocking-pool helper thread.
//
// Waiting for a child blocks in the kernel where no readiness can be asked for in general (a pid
// of -1 or a process group has no pidfd), so a blocking wait on a fiber runs libc's call on a
// helper thread (offload.hpp) and parks only the fiber; any thread of a process may reap its
// children, so the result is the same. A call with WNOHANG never blocks and passes through
// (counted as "no wait": the call asked not to wait). Limits: a signal does not interrupt the wait
// with EINTR (the helper thread is not the one the program waits on), and glibc's own waits (inside
// system()) are not seen.
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "offload.hpp"
#include "real.hpp"
#include "stats.hpp"

namespace weft::shim {
namespace {

// waiting() runs a blocking wait through offload(), or a WNOHANG one on the spot.
template <class Call>
auto waiting(Sym s, int options, Call call) {
  if ((options & WNOHANG) != 0) {
    count(s, on_fiber() ? Route::kNoWait : Route::kOffFiber);
    return call();
  }
  return offload(s, call);
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT pid_t wait(int* status) {
  auto real = WEFT_REAL(wait4);
  return waiting(Sym::wait, 0, [&] { return real(-1, status, 0, nullptr); });
}

WEFT_EXPORT pid_t waitpid(pid_t pid, int* status, int options) {
  auto real = WEFT_REAL(wait4);
  return waiting(Sym::waitpid, options, [&] { return real(pid, status, options, nullptr); });
}

WEFT_EXPORT pid_t wait3(int* status, int options, rusage* usage) {
  auto real = WEFT_REAL(wait4);
  return waiting(Sym::wait3, options, [&] { return real(-1, status, options, usage); });
}

WEFT_EXPORT pid_t wait4(pid_t pid, int* status, int options, rusage* usage) {
  auto real = WEFT_REAL(wait4);
  return waiting(Sym::wait4, options, [&] { return real(pid, status, options, usage); });
}

WEFT_EXPORT int waitid(idtype_t type, id_t id, siginfo_t* info, int options) {
  auto real = WEFT_REAL(waitid);
  return waiting(Sym::waitid, options, [&] { return real(type, id, info, options); });
}

}  // extern "C"
