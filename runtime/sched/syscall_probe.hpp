// syscall_probe: which system call, if any, another thread of the process sits in.
//
// The stall watchdog must tell a carrier that computes from one that sleeps in a system call the
// runtime does not see (a ppoll with a signal mask, a read inside glibc's stdio), because only
// the first may be signalled for a backtrace: a caught signal ends the second's call with EINTR
// or restarts it, and either is a change the program did not ask for. The kernel says it in
// /proc/self/task/TID/syscall: "running" while the thread is runnable (on a CPU or waiting for
// one: user code, or a system call that has not gone to sleep), "-1 ..." while it sleeps outside
// any system call (a page fault waiting for the disk), and "NR args... sp pc" while it sleeps in
// system call NR. A thread of the same process may always read it (no ptrace permission needed).
//
// The file is opened once per thread and read again at offset 0 (seq_file regenerates it on a
// read from 0), through an OwnFd: the runtime's fds stay out of the program's numbers, and a
// watchdog that opened a fresh fd at each stall would take the lowest free number from under a
// program's open() on another carrier.
#pragma once

#include "base/own_fd.hpp"

namespace weft::rt {

// SyscallProbe reads what one thread is doing in the kernel (see the top of this file).
class SyscallProbe {
 public:
  // kRunnable is read()'s answer for a thread that is runnable: user code, or a system call that
  // has not gone to sleep (the kernel cannot tell them apart from outside).
  static constexpr long kRunnable = -2;
  // kNoSyscall is read()'s answer for a thread asleep outside any system call (a page fault).
  static constexpr long kNoSyscall = -1;
  // kUnknown is read()'s answer when the file cannot be read (no /proc, an old kernel).
  static constexpr long kUnknown = -3;

  // read() is the number of the system call thread tid sleeps in, or one of the k* answers.
  long read(int tid) noexcept;

 private:
  OwnFd fd_;
  int tid_ = 0;
};

// syscall_name() is the name of system call nr for the common blocking ones, else nullptr.
const char* syscall_name(long nr) noexcept;

}  // namespace weft::rt
