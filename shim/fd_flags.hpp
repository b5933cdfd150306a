// fd_flags: the O_NONBLOCK each fd has because the program asked for it.
//
// On a fiber, weft's I/O waits even on an O_NONBLOCK fd, so the shim must know when the program
// made an fd non-blocking itself and pass those calls through to libc, where they fail with
// EAGAIN as they would natively. The runtime never sets O_NONBLOCK (io_uring needs no
// non-blocking fds), so F_GETFL always shows the program's own flags and nothing else.
//
// Model: one byte per fd, in 4096-fd chunks allocated on first use and never freed (fds above
// kMaxTracked are never cached). States:
//   kUnknown      the shim did not see the fd made: ask the kernel (F_GETFL) on every call.
//   kBlocking     made by an interposed call without O_NONBLOCK, or cleared by F_SETFL/FIONBIO.
//   kNonblocking  made with SOCK_NONBLOCK/O_NONBLOCK, or set by F_SETFL/FIONBIO.
// O_NONBLOCK belongs to the open file description, which dup()s share: changing it through one
// fd changes it for the others. So an fd that was duplicated, and the fd it came from, go back
// to kUnknown and are asked every time. close(), close_range() and closefrom() (interposed)
// forget the fds they close. What stays blind: an fd closed behind the shim's back (glibc's
// internal closes: fclose of an fdopen'ed socket) whose number is then reused by a descriptor
// the shim did not see made, and a description shared with another process (fork, SCM_RIGHTS)
// whose flag that process changes.
#pragma once

#include <atomic>
#include <cstdint>

namespace weft::shim {

// FdState is what the shim knows of one fd's O_NONBLOCK.
enum class FdState : std::uint8_t { kUnknown = 0, kBlocking = 1, kNonblocking = 2 };

// kMaxTracked is one past the highest fd whose state is cached (2^20: Linux's default nr_open).
inline constexpr int kMaxTracked = 1 << 20;

// fd_set_state() records fd's state (ignored for fds outside 0..kMaxTracked-1).
void fd_set_state(int fd, FdState s) noexcept;
// fd_forget() marks fd unknown (closed, or sharing its description with another fd).
void fd_forget(int fd) noexcept;
// fd_forget_range() marks every fd from first to last unknown (close_range, closefrom).
void fd_forget_range(unsigned first, unsigned last) noexcept;
// fd_nonblocking() tells whether fd has the program's O_NONBLOCK: from the cache, or from
// F_GETFL for an unknown fd (false if that fails: the call itself then reports the error).
bool fd_nonblocking(int fd) noexcept;
// fd_record() records whether fd was made (or set) non-blocking by the program.
inline void fd_record(int fd, bool nonblocking) noexcept {
  fd_set_state(fd, nonblocking ? FdState::kNonblocking : FdState::kBlocking);
}

}  // namespace weft::shim
