// Fiber-aware I/O: blocking calls that suspend only the calling fiber.
//
// Each call behaves like the system call of the same name (short reads and writes included)
// but returns -errno instead of setting errno, like liburing. Each takes an optional deadline;
// when it passes first, the call fails with -ETIMEDOUT and nothing was transferred. A call made
// by a cancelled fiber, or interrupted by cancellation, fails with -ECANCELED; a call blocked on
// an fd that weft::close() closes fails with -EBADF. On a fiber, a call waits for the fd even
// if it is O_NONBLOCK (ask for -EAGAIN with MSG_DONTWAIT, or use weft::poll with a deadline):
// checking the flag would cost a system call per operation. Off a fiber, each call is the plain
// system call (deadlines are then honoured with poll()), O_NONBLOCK included. With fault
// injection on (Config::fault_rate), calls on a fiber also return short, fail with -EINTR or
// -ECONNRESET, and poll reports readiness that is not there, as the kernel may; read_exact and
// write_all retry -EINTR themselves.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <cstdint>

#include <weft/deadline.hpp>

struct iovec;
struct msghdr;
struct sockaddr;

namespace weft {

// read() reads up to n bytes from fd into buf.
ssize_t read(int fd, void* buf, std::size_t n, Deadline deadline = {});
// write() writes up to n bytes of buf to fd.
ssize_t write(int fd, const void* buf, std::size_t n, Deadline deadline = {});
// readv() reads into iovcnt buffers.
ssize_t readv(int fd, const iovec* iov, int iovcnt, Deadline deadline = {});
// writev() writes from iovcnt buffers.
ssize_t writev(int fd, const iovec* iov, int iovcnt, Deadline deadline = {});
// pread() reads up to n bytes at offset without moving the file position.
ssize_t pread(int fd, void* buf, std::size_t n, off_t offset, Deadline deadline = {});
// pwrite() writes up to n bytes at offset without moving the file position.
ssize_t pwrite(int fd, const void* buf, std::size_t n, off_t offset, Deadline deadline = {});
// recv() receives up to n bytes from a socket, with recv(2) flags.
ssize_t recv(int fd, void* buf, std::size_t n, int flags = 0, Deadline deadline = {});
// send() sends up to n bytes on a socket, with send(2) flags (MSG_NOSIGNAL is always added).
ssize_t send(int fd, const void* buf, std::size_t n, int flags = 0, Deadline deadline = {});
// recvmsg() receives a message, with recvmsg(2) flags.
ssize_t recvmsg(int fd, msghdr* msg, int flags = 0, Deadline deadline = {});
// sendmsg() sends a message, with sendmsg(2) flags (MSG_NOSIGNAL is always added).
ssize_t sendmsg(int fd, const msghdr* msg, int flags = 0, Deadline deadline = {});
// accept() waits for a connection and returns its fd, with accept4(2) flags (SOCK_CLOEXEC...).
int accept(int fd, sockaddr* addr = nullptr, unsigned* addrlen = nullptr, int flags = 0,
           Deadline deadline = {});
// connect() connects a socket; on -ETIMEDOUT the socket is in an unspecified state.
int connect(int fd, const sockaddr* addr, unsigned addrlen, Deadline deadline = {});
// poll() waits until fd has one of the poll(2) events and returns the events that are set
// (POLLNVAL for an fd that is not open; -EBADF for a negative fd, which poll(2) would ignore).
int poll(int fd, short events, Deadline deadline = {});
// close() closes fd; on a fiber it first wakes every fiber blocked on fd with -EBADF (off a
// fiber it is plain close(2)); returns 0 or -errno (-EBADF if another fiber is closing fd).
int close(int fd);
// dup2() makes fd `to` a copy of `from` (dup2(2)), on a fiber first waking every fiber blocked
// on `to` with -EBADF as close() does; returns `to` or -errno.
int dup2(int from, int to);
// dup3() is dup2() with dup3(2)'s flags (O_CLOEXEC); `from == to` is -EINVAL.
int dup3(int from, int to, int flags);

// read_exact() reads exactly n bytes; returns n, or -errno, or the short count at end of file
// (a non-negative value below n).
ssize_t read_exact(int fd, void* buf, std::size_t n, Deadline deadline = {});
// write_all() writes all n bytes; returns n or -errno (bytes already written are then lost to
// the caller's view, as with any failed stream write).
ssize_t write_all(int fd, const void* buf, std::size_t n, Deadline deadline = {});

}  // namespace weft
