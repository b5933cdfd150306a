// plain_op: an IoOp done with plain system calls, blocking the calling thread.
//
// Off a fiber, weft's I/O calls are the plain system calls (io/io_wait.cpp sends them here),
// and the epoll reactor's helper threads do here what epoll cannot wait for (regular files).
// A deadline is honoured by polling for readiness first, as a thread would with poll(2) and a
// timeout; a connect is bounded by making the socket non-blocking for the call.
#pragma once

#include <weft/deadline.hpp>

#include "reactor/reactor.hpp"

namespace weft::rt {

// plain_op() performs op on the calling thread with plain system calls and returns its result
// (-errno on error, -ETIMEDOUT past the deadline).
long plain_op(IoOp& op, const Deadline& deadline) noexcept;

}  // namespace weft::rt
