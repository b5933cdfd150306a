// epoll_ops: one non-blocking try of an IoOp, for the epoll backend.
//
// The runtime does not own an fd's O_NONBLOCK: the program set it (or not) and may read it back
// with F_GETFL, and the shim relays it to libc. So each try uses a per-call non-blocking form
// and leaves the open file description alone:
//   - socket calls (recv, send, recvmsg, sendmsg) add MSG_DONTWAIT;
//   - read, write, readv, writev use preadv2/pwritev2 with RWF_NOWAIT, which works on sockets,
//     pipes, and most pollable files; a file without FMODE_NOWAIT refuses it with EOPNOTSUPP,
//     and the reactor then waits for readiness and does the call on the blocking pool;
//   - accept and connect have no such form. They run with O_NONBLOCK set on the description for
//     the one call, under a process-wide lock, and only when the program had not set it itself
//     (see docs/design.md: the flag is visible to whoever shares the description meanwhile).
//     A connect that says EINPROGRESS is not repeated: the reactor waits for EPOLLOUT and reads
//     SO_ERROR, since the handshake goes on whatever the flag is afterwards.
#pragma once

#include <cstdint>

#include "reactor/reactor.hpp"

namespace weft::rt::epoll {

// State is where an op is in the epoll reactor (the low bits of IoOp::backend_state).
enum State : std::uint8_t {
  // kIdle: not started, or handed back by poll().
  kIdle = 0,
  // kPending: started, not tried yet (tries happen in poll(), in a batch).
  kPending = 1,
  // kWaiting: tried, would block, linked into its fd's list of waiting ops.
  kWaiting = 2,
  // kOffloaded: running on a blocking-pool thread; it cannot be cancelled any more.
  kOffloaded = 3,
  // kDone: res is final, queued for poll() to hand back.
  kDone = 4,
};

// Flag is a note kept with the state (the high bits of IoOp::backend_state).
enum Flag : std::uint8_t {
  // kConnecting: connect said EINPROGRESS; readiness means "read SO_ERROR", not "call again".
  kConnecting = 0x10,
  // kNoNowait: the file refused RWF_NOWAIT; once ready, the call goes to the blocking pool.
  kNoNowait = 0x20,
  // kCancelRequested: cancel() came while the op was pending; it completes with -ECANCELED.
  kCancelRequested = 0x40,
  // kStateMask selects the State bits.
  kStateMask = 0x0f,
};

// Outcome is what a try came to.
enum class Outcome : std::uint8_t {
  // kDone: the op finished; the result is in Attempt::res.
  kDone,
  // kWait: it would block; wait for Attempt::events on the fd and try again.
  kWait,
  // kOffload: it must run on a blocking-pool thread (no non-blocking form for this file).
  kOffload,
};

// Attempt is the result of one try.
struct Attempt {
  // outcome says what happened.
  Outcome outcome;
  // res is the op's result (count or -errno) when outcome is kDone.
  long res = 0;
};

// interest() is the epoll events op waits for (EPOLLERR and EPOLLHUP are always reported).
std::uint32_t interest(const IoOp& op) noexcept;
// try_op() makes one non-blocking attempt at op; it may set kConnecting or kNoNowait in
// op.backend_state.
Attempt try_op(IoOp& op) noexcept;
// cache_backed() is 1 when fd is a regular file or block device (RWF_NOWAIT stops short where
// its page cache ends, and io_uring reads it whole), 0 for another file, -errno when fstat fails.
int cache_backed(int fd) noexcept;
// poll_result() is what a kPoll op reports for the ready events, or 0 if none it asked for.
int poll_result(const IoOp& op, std::uint32_t ready) noexcept;

}  // namespace weft::rt::epoll
