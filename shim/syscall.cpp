// syscall: libc's syscall(3), for programs that make system calls by number.
//
// Rust's std, libstdc++ (atomic waits, static-local guards), Abseil and others call
// syscall(SYS_futex, ...) for their locks; some programs call syscall(SYS_read, ...) and the like
// where they want the kernel's interface. Passed to the kernel, either would block a fiber's whole
// carrier. So the hook reads six longs, as glibc's own syscall() does (the kernel takes at most
// six, and reading ones the caller did not pass reads its registers or stack, harmlessly), and
// routes by number (handler() below is the whole table):
//   - SYS_futex goes to the futex emulation (futex.cpp);
//   - a number whose libc function has a hook with the kernel's semantics goes to that hook, so it
//     yields on a fiber and keeps the shim's records (an fd's O_NONBLOCK, socket timeouts) true;
//   - every other number enters the kernel directly, as glibc's syscall() would, returning -1
//     with errno for a result in [-4095, -1] and any other value as it is. That is the common
//     path, and it costs the argument spill and one switch more than a native call.
// A number routes only where the system call and the libc function behave alike. Where they do
// not, it passes through, and docs/shim.md lists why: rt_sigaction takes the kernel's sigaction
// layout; ppoll and pselect6 take the signal mask as the kernel passes it, and ppoll writes the
// time left back; epoll_pwait, epoll_pwait2 and waitid route only without a signal mask or
// rusage; clone, fork, vfork and exit act on the OS thread, which on a fiber is the carrier's;
// gettid is the carrier's too (the shim has no gettid hook yet).
//
// The hook is not noexcept, though <unistd.h> declares syscall so: off a fiber a routed number
// reaches libc's function, which may be a cancellation point, and pthread_cancel's forced unwind
// must pass through this frame.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "allocator.hpp"
#include "base/sys.hpp"
#include "futex.hpp"
#include "shim.hpp"
#include "sigwait.hpp"
#include "stats.hpp"

namespace weft::shim {
namespace {

// Args are the six argument words of one call.
using Args = long[6];

// as() is an argument word as the type a libc function takes.
template <class T>
T as(long word) noexcept {
  if constexpr (std::is_pointer_v<T>) {
    return reinterpret_cast<T>(word);
  } else {
    return static_cast<T>(word);
  }
}

// pass() makes system call n straight into the kernel, with glibc's syscall() convention.
inline __attribute__((always_inline)) long pass(long n, const Args& a) noexcept {
  long r = sys::call(n, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (static_cast<unsigned long>(r) > -4096UL) {
    errno = static_cast<int>(-r);
    return -1;
  }
  return r;
}

// futex_call() is syscall(SYS_futex, ...): the emulation's -errno as -1 and errno, the caller's
// errno kept on success (a fiber that parked may find it changed by another).
__attribute__((noinline)) long futex_call(const Args& a) noexcept {
  ErrnoScope e;
  return e.result(futex(as<std::uint32_t*>(a[0]), as<int>(a[1]), as<std::uint32_t>(a[2]),
                        as<const timespec*>(a[3]), as<std::uint32_t*>(a[4]),
                        as<std::uint32_t>(a[5])));
}

// errno_result() turns a function that returns its error number (clock_nanosleep) into the
// system call's convention.
long errno_result(int err) noexcept {
  if (err == 0) return 0;
  errno = err;
  return -1;
}

// raw_result() turns a weft result (-errno on failure) into the system call's -1 and errno.
long raw_result(long r) noexcept {
  if (r >= 0) return r;
  errno = static_cast<int>(-r);
  return -1;
}

// Handler is where one routed system call goes: the hook of its libc function, or the futex
// emulation.
using Handler = long (*)(long n, const Args& a);

// kernel_set() is the kernel's 8-byte signal set at p (size bytes, as the call was given) as a
// sigset_t in *out: false when size is not the kernel's (the kernel then refuses the call).
bool kernel_set(const void* p, long size, sigset_t* out) noexcept {
  if (size != 8) return false;
  sigemptyset(out);
  if (p != nullptr) std::memcpy(out, p, 8);
  return true;
}

// sigmask_call() is rt_sigprocmask(2) for the calling thread's emulated mask (sigmask.cpp).
long sigmask_call(long n, const Args& a) noexcept {
  sigset_t set, old;
  if (!kernel_set(as<const void*>(a[1]), as<long>(a[3]), &set)) return pass(n, a);
  int r = ::pthread_sigmask(as<int>(a[0]), a[1] != 0 ? &set : nullptr, a[2] != 0 ? &old : nullptr);
  if (r != 0) return errno_result(r);
  if (a[2] != 0) std::memcpy(as<void*>(a[2]), &old, 8);
  return 0;
}

// sigpending_call() is rt_sigpending(2): the calling thread's pending signals, as sigpending().
long sigpending_call(long n, const Args& a) noexcept {
  sigset_t set;
  if (as<long>(a[1]) != 8) return pass(n, a);
  if (::sigpending(&set) != 0) return -1;
  std::memcpy(as<void*>(a[0]), &set, 8);
  return 0;
}

// WEFT_ROUTE(expr) is a Handler that returns expr, computed from the arguments a (and n).
#define WEFT_ROUTE(expr)              \
  [](long n, const Args& a) -> long { \
    (void)n;                          \
    (void)a;                          \
    return expr;                      \
  }

// handler() is the routing table: where system call n goes, or nullptr for straight into the
// kernel (see the top of this file).
Handler handler(long n) noexcept {
  switch (n) {
    case SYS_futex:
      return WEFT_ROUTE(futex_call(a));

    // I/O (io.cpp): yields on a fiber for a blocking fd.
    case SYS_read:
      return WEFT_ROUTE(::read(as<int>(a[0]), as<void*>(a[1]), as<size_t>(a[2])));
    case SYS_write:
      return WEFT_ROUTE(::write(as<int>(a[0]), as<const void*>(a[1]), as<size_t>(a[2])));
    case SYS_pread64:
      return WEFT_ROUTE(
          ::pread64(as<int>(a[0]), as<void*>(a[1]), as<size_t>(a[2]), as<off64_t>(a[3])));
    case SYS_pwrite64:
      return WEFT_ROUTE(
          ::pwrite64(as<int>(a[0]), as<const void*>(a[1]), as<size_t>(a[2]), as<off64_t>(a[3])));
    case SYS_readv:
      return WEFT_ROUTE(::readv(as<int>(a[0]), as<const iovec*>(a[1]), as<int>(a[2])));
    case SYS_writev:
      return WEFT_ROUTE(::writev(as<int>(a[0]), as<const iovec*>(a[1]), as<int>(a[2])));
    case SYS_recvfrom:
      return WEFT_ROUTE(::recvfrom(as<int>(a[0]), as<void*>(a[1]), as<size_t>(a[2]), as<int>(a[3]),
                                   as<sockaddr*>(a[4]), as<socklen_t*>(a[5])));
    case SYS_sendto:
      return WEFT_ROUTE(::sendto(as<int>(a[0]), as<const void*>(a[1]), as<size_t>(a[2]),
                                 as<int>(a[3]), as<const sockaddr*>(a[4]), as<socklen_t>(a[5])));
    case SYS_recvmsg:
      return WEFT_ROUTE(::recvmsg(as<int>(a[0]), as<msghdr*>(a[1]), as<int>(a[2])));
    case SYS_sendmsg:
      return WEFT_ROUTE(::sendmsg(as<int>(a[0]), as<const msghdr*>(a[1]), as<int>(a[2])));
    case SYS_accept:
      return WEFT_ROUTE(::accept(as<int>(a[0]), as<sockaddr*>(a[1]), as<socklen_t*>(a[2])));
    case SYS_accept4:
      return WEFT_ROUTE(
          ::accept4(as<int>(a[0]), as<sockaddr*>(a[1]), as<socklen_t*>(a[2]), as<int>(a[3])));
    case SYS_connect:
      return WEFT_ROUTE(::connect(as<int>(a[0]), as<const sockaddr*>(a[1]), as<socklen_t>(a[2])));

    // fd state and closing (fd.cpp): the shim's records follow the program's fds.
    case SYS_close:
      return WEFT_ROUTE(::close(as<int>(a[0])));
#ifdef SYS_close_range
    case SYS_close_range:
      return WEFT_ROUTE(::close_range(as<unsigned>(a[0]), as<unsigned>(a[1]), as<int>(a[2])));
#endif
    case SYS_dup:
      return WEFT_ROUTE(::dup(as<int>(a[0])));
#ifdef SYS_dup2
    case SYS_dup2:
      return WEFT_ROUTE(::dup2(as<int>(a[0]), as<int>(a[1])));
#endif
    case SYS_dup3:
      return WEFT_ROUTE(::dup3(as<int>(a[0]), as<int>(a[1]), as<int>(a[2])));
    case SYS_fcntl:
      return WEFT_ROUTE(::fcntl(as<int>(a[0]), as<int>(a[1]), as<void*>(a[2])));
    case SYS_ioctl:
      return WEFT_ROUTE(::ioctl(as<int>(a[0]), as<unsigned long>(a[1]), as<void*>(a[2])));
    case SYS_socket:
      return WEFT_ROUTE(::socket(as<int>(a[0]), as<int>(a[1]), as<int>(a[2])));
    case SYS_socketpair:
      return WEFT_ROUTE(::socketpair(as<int>(a[0]), as<int>(a[1]), as<int>(a[2]), as<int*>(a[3])));
#ifdef SYS_pipe
    case SYS_pipe:
      return WEFT_ROUTE(::pipe(as<int*>(a[0])));
#endif
    case SYS_pipe2:
      return WEFT_ROUTE(::pipe2(as<int*>(a[0]), as<int>(a[1])));
    // The fd limit (fd.cpp): the runtime keeps its own fds under it.
    case SYS_setrlimit:
      return WEFT_ROUTE(::setrlimit(as<__rlimit_resource_t>(a[0]), as<const rlimit*>(a[1])));
    case SYS_prlimit64:
      return WEFT_ROUTE(::prlimit(as<pid_t>(a[0]), as<__rlimit_resource>(a[1]),
                                  as<const rlimit*>(a[2]), as<rlimit*>(a[3])));
    case SYS_setsockopt:
      return WEFT_ROUTE(::setsockopt(as<int>(a[0]), as<int>(a[1]), as<int>(a[2]),
                                     as<const void*>(a[3]), as<socklen_t>(a[4])));

      // Waits (multiplex.cpp, sleep.cpp, wait_child.cpp): yield on a fiber.
#ifdef SYS_poll
    case SYS_poll:
      return WEFT_ROUTE(::poll(as<pollfd*>(a[0]), as<nfds_t>(a[1]), as<int>(a[2])));
#endif
#ifdef SYS_select
    case SYS_select:
      return WEFT_ROUTE(::select(as<int>(a[0]), as<fd_set*>(a[1]), as<fd_set*>(a[2]),
                                 as<fd_set*>(a[3]), as<timeval*>(a[4])));
#endif
#ifdef SYS_epoll_wait
    case SYS_epoll_wait:
      return WEFT_ROUTE(
          ::epoll_wait(as<int>(a[0]), as<epoll_event*>(a[1]), as<int>(a[2]), as<int>(a[3])));
#endif
    case SYS_epoll_pwait:
      // A signal mask of a size other than the kernel's is the kernel's to refuse.
      return [](long n, const Args& a) -> long {
        sigset_t set;
        if (a[4] != 0 && !kernel_set(as<const void*>(a[4]), as<long>(a[5]), &set))
          return pass(n, a);
        return ::epoll_pwait(as<int>(a[0]), as<epoll_event*>(a[1]), as<int>(a[2]), as<int>(a[3]),
                             a[4] != 0 ? &set : nullptr);
      };
#ifdef SYS_epoll_pwait2
    case SYS_epoll_pwait2:
      return [](long n, const Args& a) -> long {
        sigset_t set;
        if (a[4] != 0 && !kernel_set(as<const void*>(a[4]), as<long>(a[5]), &set))
          return pass(n, a);
        return ::epoll_pwait2(as<int>(a[0]), as<epoll_event*>(a[1]), as<int>(a[2]),
                              as<const timespec*>(a[3]), a[4] != 0 ? &set : nullptr);
      };
#endif
    case SYS_nanosleep:
      return WEFT_ROUTE(::nanosleep(as<const timespec*>(a[0]), as<timespec*>(a[1])));
    case SYS_clock_nanosleep:
      // clock_nanosleep(3) returns its error number; the system call, -1 and errno.
      return WEFT_ROUTE(errno_result(::clock_nanosleep(
          as<clockid_t>(a[0]), as<int>(a[1]), as<const timespec*>(a[2]), as<timespec*>(a[3]))));
    case SYS_sched_yield:
      return WEFT_ROUTE(::sched_yield());
    case SYS_wait4:
      return WEFT_ROUTE(::wait4(as<pid_t>(a[0]), as<int*>(a[1]), as<int>(a[2]), as<rusage*>(a[3])));
    case SYS_waitid:
      // With the system call's fifth argument, a rusage libc's waitid has not: the kernel's.
      return WEFT_ROUTE(a[4] != 0 ? pass(n, a)
                                  : ::waitid(as<idtype_t>(a[0]), as<id_t>(a[1]),
                                             as<siginfo_t*>(a[2]), as<int>(a[3])));

    // Signal masks and waits (sigmask.cpp, sigwait.cpp): per thread, emulated.
    case SYS_rt_sigprocmask:
      return WEFT_ROUTE(sigmask_call(n, a));
    case SYS_rt_sigpending:
      return WEFT_ROUTE(sigpending_call(n, a));
    case SYS_rt_sigsuspend:
      return [](long n, const Args& a) -> long {
        sigset_t set;
        if (!kernel_set(as<const void*>(a[0]), as<long>(a[1]), &set)) return pass(n, a);
        return ::sigsuspend(&set);
      };
    case SYS_rt_sigtimedwait:
      // Not through sigtimedwait(3): glibc's wrapper reports a tgkill'd signal as SI_USER, the
      // system call as SI_TKILL.
      return [](long n, const Args& a) -> long {
        sigset_t set;
        if (!on_fiber() || !kernel_set(as<const void*>(a[0]), as<long>(a[3]), &set)) {
          return pass(n, a);
        }
        return raw_result(sigtimedwait_fiber(set, as<siginfo_t*>(a[1]), as<const timespec*>(a[2])));
      };
#ifdef SYS_pause
    case SYS_pause:
      return WEFT_ROUTE(::pause());
#endif

    default:
      return nullptr;
  }
}

#undef WEFT_ROUTE

}  // namespace
}  // namespace weft::shim

extern "C" {

WEFT_EXPORT long syscall(long n, ...) {
  va_list ap;
  va_start(ap, n);
  weft::shim::Args a;
  for (long& word : a) word = va_arg(ap, long);
  va_end(ap);
  // The program's malloc gets what a thread gets (allocator.hpp): its own system calls, the
  // futex waits of tcmalloc's spin locks among them, go to the kernel and wait on the carrier.
  if (weft::shim::from_allocator(__builtin_return_address(0))) [[unlikely]] {
    if (n == SYS_futex) weft::shim::count(weft::shim::Sym::syscall, weft::shim::Route::kAllocator);
    return weft::shim::pass(n, a);
  }
  if (weft::shim::Handler h = weft::shim::handler(n)) return h(n, a);
  return weft::shim::pass(n, a);
}

}  // extern "C"
