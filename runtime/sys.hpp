// sys: the raw system calls the runtime itself needs.
//
// The shim interposes libc's read, write, close, poll and friends; if the runtime called those
// symbols it would re-enter itself. Everything here goes through syscall(2) instead and returns
// -errno, like a CQE's res, so callers never touch errno.
#pragma once

#include <sys/types.h>
#include <cstddef>

struct pollfd;

namespace weft::sys {

// read() is read(2) returning -errno.
ssize_t read(int fd, void* buf, std::size_t n) noexcept;
// write() is write(2) returning -errno.
ssize_t write(int fd, const void* buf, std::size_t n) noexcept;
// close() is close(2) returning -errno.
int close(int fd) noexcept;
// poll() is poll(2) returning -errno.
int poll(pollfd* fds, unsigned nfds, int timeout_ms) noexcept;
// check_seekable() returns 0 if fd can be read at an offset, else -ESPIPE (pipes, sockets)
// or -EBADF. io_uring silently ignores the offset of a stream, where pread(2) refuses.
int check_seekable(int fd) noexcept;
// write_stderr() writes a whole message to fd 2, async-signal-safe, ignoring errors.
void write_stderr(const char* msg) noexcept;

}  // namespace weft::sys
