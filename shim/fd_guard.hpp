// fd_guard: the calls that close or replace fds, with the runtime's own fds in the program's
// number space.
//
// The runtime's descriptors (its rings, eventfds, epoll sets: base/own_fd.hpp) live at high
// numbers, under the soft fd limit, with FD_CLOEXEC, so the program's own numbers start at 3 and
// an exec'd program inherits none of them. They still show in /proc/self/fd, and programs close
// everything above 2 before they exec or when they daemonize. So every call that closes or
// replaces fds leaves them alone, and answers as if the close had happened:
//   - close() of one of them returns 0 and closes nothing (a program closing what it listed in
//     /proc/self/fd expects success);
//   - close_range() and closefrom() close the pieces of the range between them;
//     CLOSE_RANGE_CLOEXEC goes to the kernel whole (it only sets FD_CLOEXEC, which they have);
//     CLOSE_RANGE_UNSHARE on a fiber is dropped: it would give the calling carrier an fd table
//     of its own, apart from the other carriers and the runtime's threads, which run the same
//     program's threads;
//   - dup2() and dup3() onto one move the runtime's file to another number first, then make
//     exactly the copy asked for.
// They are functions, not only hooks, so that every way into the kernel that closes fds gives the
// same answers: the close, close_range, closefrom, dup2 and dup3 hooks, and a syscall(3) hook for
// SYS_close, SYS_close_range, SYS_dup2 and SYS_dup3. Each returns what libc's function does (-1
// and errno on failure, errno untouched on success); none counts calls for --stats (the hooks do).
#pragma once

namespace weft::shim {

// close_fd() is close(2) as the program sees it: 0 for one of the runtime's fds, which stays
// open; on a fiber, weft::close (the fibers blocked on fd wake with EBADF); else libc's close.
int close_fd(int fd) noexcept;
// close_range_fds() is close_range(2), leaving the runtime's fds open (see the top of the file).
int close_range_fds(unsigned first, unsigned last, int flags) noexcept;
// closefrom_fds() is closefrom(3): every fd from lowfd up is closed but the runtime's; without
// close_range (a seccomp filter), it walks /proc/self/fd, as glibc does.
void closefrom_fds(int lowfd) noexcept;
// dup_fd() is dup2(2) (when dup2 is set; flags is then ignored) or dup3(2): onto one of the
// runtime's fds, that fd moves away first; on a fiber onto any other fd, the fibers blocked on
// `to` wake with EBADF, as with close.
int dup_fd(int from, int to, int flags, bool dup2) noexcept;
// fds_shared() notes that to, a new fd (when it is not negative), shares from's open file
// description: both forget their recorded O_NONBLOCK and socket timeouts. Returns to.
int fds_shared(int from, int to) noexcept;

}  // namespace weft::shim
