// sigsend: the signals a thread sends its own process: kill and sigqueue of the process itself,
// which choose the taking thread in the sender (signals.cpp's send_to_self_process()), and raise,
// which is the calling thread's pthread_kill of itself.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>

#include "real.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "thread_record.hpp"

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

// kill() and sigqueue() to the calling process itself choose the thread that takes the signal
// as the kernel does, at once, in the sender: natively a sender that is the chosen thread runs
// the handler before the call returns, and CPython's os.kill counts on it.
WEFT_EXPORT int kill(pid_t pid, int sig) noexcept {
  if (pid == ::getpid() && send_to_self_process(sig, SI_USER, sigval{})) {
    count(Sym::kill, Route::kWeft);
    return 0;
  }
  count(Sym::kill, on_fiber() ? Route::kKernel : Route::kOffFiber);
  auto real = WEFT_REAL(kill);
  return real != nullptr ? real(pid, sig) : static_cast<int>(weft::shim::raw(SYS_kill, pid, sig));
}

WEFT_EXPORT int sigqueue(pid_t pid, int sig, const sigval value) noexcept {
  if (pid == ::getpid() && send_to_self_process(sig, SI_QUEUE, value)) {
    count(Sym::sigqueue, Route::kWeft);
    return 0;
  }
  count(Sym::sigqueue, on_fiber() ? Route::kKernel : Route::kOffFiber);
  auto real = WEFT_REAL(sigqueue);
  return real != nullptr ? real(pid, sig, value) : (errno = ENOSYS, -1);
}

// raise() is the calling thread's pthread_kill of itself: glibc's sends to the carrier's
// kernel thread, which is no thread of the program's and whose mask is not the caller's.
WEFT_EXPORT int raise(int sig) noexcept {
  if (!on_fiber() || sig == 0 || sig == 32 || sig == 33) {
    count(Sym::raise, Route::kOffFiber);
    auto real = WEFT_REAL(raise);
    return real != nullptr ? real(sig) : (errno = ENOSYS, -1);
  }
  count(Sym::raise, Route::kWeft);
  if (sig < 1 || sig >= NSIG) {
    errno = EINVAL;
    return -1;
  }
  if (sig == SIGKILL || sig == SIGSTOP) {
    auto real = WEFT_REAL(raise);
    return real != nullptr ? real(sig) : (errno = ENOSYS, -1);
  }
  int r = send_to_thread(current_thread(), sig, SI_TKILL, sigval{});
  if (r == 0) return 0;
  errno = r;
  return -1;
}

}  // extern "C"
