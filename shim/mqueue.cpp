// mqueue: POSIX message queues (mq_send, mq_receive and their timed forms), yielding on fibers.
//
// On Linux an mqd_t is an fd that poll(2) understands (readable while the queue holds a message,
// writable while it has room), and the timed calls are a per-call non-waiting form: given an
// absolute time that has already passed, they do not wait and fail with ETIMEDOUT. So a call on
// a fiber tries with the epoch as its time limit; while that says ETIMEDOUT, the fiber waits
// with weft::poll for the queue to become readable (writable, for a send), until the program's
// own time limit, then tries again. Another receiver may take the message first: the try then
// fails again and the fiber waits again, as the kernel's own wait would.
//
// What the program asked for is kept: a queue it made non-blocking (O_NONBLOCK at mq_open, or
// mq_setattr) passes through and fails with EAGAIN as natively. mq_setattr changes the flag
// without an interposed call, so the flag is asked of the kernel (F_GETFL) on every call rather
// than cached in fd_flags. A time limit the kernel would refuse (EINVAL) is refused before
// anything else, as the kernel checks it first; it is realtime (CLOCK_REALTIME), converted to
// weft's clock once, so a later jump of the realtime clock is not followed. A handled signal
// ends the wait with EINTR, or, with SA_RESTART, waits again, as signal(7) says for these calls.
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sys/syscall.h>
#include <time.h>
#include <cerrno>

#include <weft/io.hpp>

#include "real.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "thread_wait.hpp"

namespace weft::shim {
namespace {

// nonblocking() tells whether the program made queue q non-blocking (false if q is no fd: the
// call itself then reports EBADF).
bool nonblocking(mqd_t q) noexcept {
  long flags = sys::call(SYS_fcntl, q, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

// mq_wait() runs attempt (a call with an already expired time limit, returning the result or
// -errno) until it stops saying ETIMEDOUT, waiting between tries until q has `events` or the
// program's time limit (null: none) passes; returns the result or -errno.
template <class Attempt>
long mq_wait(mqd_t q, short events, const timespec* limit, Attempt attempt) noexcept {
  weft::Deadline d;
  if (limit != nullptr) {
    // Checked as the kernel checks it: a negative second is invalid too.
    WaitLimit l;
    if (limit->tv_sec < 0 || WaitLimit::until(CLOCK_REALTIME, *limit, l) != 0) return -EINVAL;
    d = l.deadline;
  }
  return interruptible(Restart::kWithSaRestart, [&]() -> long {
    for (;;) {
      long r = attempt();
      if (r != -ETIMEDOUT) return r;
      long ready = weft::poll(q, events, d);
      if (ready < 0) return ready;  // -ETIMEDOUT when the program's limit passed, -EINTR
    }
  });
}

// receive_as() is mq_timedreceive counted as s; mq_receive is it without a time limit.
template <class Call>
ssize_t receive_as(Sym s, mqd_t q, char* buf, size_t len, unsigned* prio, const timespec* limit,
                   Call call) {
  if (!on_fiber()) {
    count(s, Route::kOffFiber);
    return call();
  }
  if (nonblocking(q)) {
    count(s, Route::kNonblocking);
    return call();
  }
  count(s, Route::kWeft);
  static constexpr timespec kPast{0, 0};
  ErrnoScope e;
  return e.result<ssize_t>(mq_wait(
      q, POLLIN, limit, [&] { return sys::call(SYS_mq_timedreceive, q, buf, len, prio, &kPast); }));
}

// send_as() is mq_timedsend counted as s; mq_send is it without a time limit.
template <class Call>
int send_as(Sym s, mqd_t q, const char* msg, size_t len, unsigned prio, const timespec* limit,
            Call call) {
  if (!on_fiber()) {
    count(s, Route::kOffFiber);
    return call();
  }
  if (nonblocking(q)) {
    count(s, Route::kNonblocking);
    return call();
  }
  count(s, Route::kWeft);
  static constexpr timespec kPast{0, 0};
  ErrnoScope e;
  return e.result<int>(mq_wait(
      q, POLLOUT, limit, [&] { return sys::call(SYS_mq_timedsend, q, msg, len, prio, &kPast); }));
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT ssize_t mq_receive(mqd_t q, char* buf, size_t len, unsigned* prio) {
  auto real = WEFT_REAL(mq_receive);
  return receive_as(Sym::mq_receive, q, buf, len, prio, nullptr, [&] {
    return real != nullptr ? real(q, buf, len, prio)
                           : static_cast<ssize_t>(
                                 weft::shim::raw(SYS_mq_timedreceive, q, buf, len, prio, nullptr));
  });
}

WEFT_EXPORT ssize_t mq_timedreceive(mqd_t q, char* buf, size_t len, unsigned* prio,
                                    const timespec* limit) {
  auto real = WEFT_REAL(mq_timedreceive);
  return receive_as(Sym::mq_timedreceive, q, buf, len, prio, limit,
                    [&] { return pass(real, SYS_mq_timedreceive, q, buf, len, prio, limit); });
}

WEFT_EXPORT int mq_send(mqd_t q, const char* msg, size_t len, unsigned prio) {
  auto real = WEFT_REAL(mq_send);
  return send_as(Sym::mq_send, q, msg, len, prio, nullptr, [&] {
    return real != nullptr
               ? real(q, msg, len, prio)
               : static_cast<int>(weft::shim::raw(SYS_mq_timedsend, q, msg, len, prio, nullptr));
  });
}

WEFT_EXPORT int mq_timedsend(mqd_t q, const char* msg, size_t len, unsigned prio,
                             const timespec* limit) {
  auto real = WEFT_REAL(mq_timedsend);
  return send_as(Sym::mq_timedsend, q, msg, len, prio, limit,
                 [&] { return pass(real, SYS_mq_timedsend, q, msg, len, prio, limit); });
}

}  // extern "C"
