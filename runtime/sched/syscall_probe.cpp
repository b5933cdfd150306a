#include "sched/syscall_probe.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <cstdio>
#include <cstdlib>

#include "base/sys.hpp"

namespace weft::rt {

long SyscallProbe::read(int tid) noexcept {
  if (tid != tid_ || !fd_.valid()) {
    fd_.close();
    tid_ = tid;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
    int r = fd_.make(
        [&]() noexcept { return sys::call(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC); });
    if (r < 0) return kUnknown;
  }
  char buf[256];
  long n;
  {
    OwnFd::Use use(fd_);
    n = sys::call(SYS_pread64, use.fd(), buf, sizeof buf - 1, 0);
  }
  if (n <= 0) {
    fd_.close();  // the thread is gone, or the fd was taken: open it again next time
    return kUnknown;
  }
  buf[n] = '\0';
  if (buf[0] == 'r') return kRunnable;  // "running"
  char* end = nullptr;
  long nr = std::strtol(buf, &end, 10);
  if (end == buf) return kUnknown;
  return nr < 0 ? kNoSyscall : nr;
}

const char* syscall_name(long nr) noexcept {
  struct Name {
    long nr;
    const char* name;
  };
  static const Name kNames[] = {
      {SYS_read, "read"},
      {SYS_write, "write"},
      {SYS_readv, "readv"},
      {SYS_writev, "writev"},
      {SYS_pread64, "pread64"},
      {SYS_pwrite64, "pwrite64"},
      {SYS_openat, "openat"},
      {SYS_ppoll, "ppoll"},
      {SYS_pselect6, "pselect6"},
      {SYS_epoll_pwait, "epoll_pwait"},
      {SYS_epoll_pwait2, "epoll_pwait2"},
      {SYS_nanosleep, "nanosleep"},
      {SYS_clock_nanosleep, "clock_nanosleep"},
      {SYS_futex, "futex"},
      {SYS_wait4, "wait4"},
      {SYS_waitid, "waitid"},
      {SYS_rt_sigsuspend, "rt_sigsuspend"},
      {SYS_rt_sigtimedwait, "rt_sigtimedwait"},
      {SYS_accept4, "accept4"},
      {SYS_connect, "connect"},
      {SYS_recvfrom, "recvfrom"},
      {SYS_recvmsg, "recvmsg"},
      {SYS_recvmmsg, "recvmmsg"},
      {SYS_sendto, "sendto"},
      {SYS_sendmsg, "sendmsg"},
      {SYS_ioctl, "ioctl"},
      {SYS_flock, "flock"},
      {SYS_fcntl, "fcntl"},
      {SYS_msgrcv, "msgrcv"},
      {SYS_msgsnd, "msgsnd"},
      {SYS_semtimedop, "semtimedop"},
      {SYS_io_getevents, "io_getevents"},
      {SYS_io_uring_enter, "io_uring_enter"},
      {SYS_getrandom, "getrandom"},
#ifdef SYS_poll  // x86_64 has the old calls; arm64 only the p* forms
      {SYS_poll, "poll"},
      {SYS_select, "select"},
      {SYS_epoll_wait, "epoll_wait"},
      {SYS_pause, "pause"},
      {SYS_accept, "accept"},
      {SYS_semop, "semop"},
#endif
  };
  for (const Name& n : kNames) {
    if (n.nr == nr) return n.name;
  }
  return nullptr;
}

}  // namespace weft::rt
