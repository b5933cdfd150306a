// io: running one IoOp from a fiber, with deadline, cancellation and close semantics.
#pragma once

#include <weft/deadline.hpp>

#include "reactor/reactor.hpp"

namespace weft::rt {

// await_op() runs op on the calling fiber's carrier and returns its result (-errno on error),
// or, off a fiber, performs it with plain blocking system calls (reactor/plain_op.hpp).
long await_op(IoOp& op, const Deadline& deadline) noexcept;

}  // namespace weft::rt
