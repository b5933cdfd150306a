// fd_table: what one carrier knows about the fds its fibers operate on.
//
// It exists for close(): an fd may only be closed once no operation of ours still refers to
// it, or a completion could land after the number was reused by a new file. So each entry
// lists the operations in flight on its fd; weft::close() marks the entry closing, cancels
// each of those operations, waits for the list to empty, and only then closes the fd.
// Operations that complete with -ECANCELED on a closing fd report -EBADF, as a call on a
// closed fd would.
#pragma once

#include <sys/resource.h>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "fiber_control.hpp"
#include "reactor.hpp"

namespace weft::rt {

// FdEntry is the state of one fd.
struct FdEntry {
  // ops lists the operations in flight on the fd, linked through IoOp::fd_next.
  IoOp* ops = nullptr;
  // closing is set while weft::close() waits for those operations.
  bool closing = false;
  // closer is the fiber inside weft::close() for this fd.
  FiberControl* closer = nullptr;
};

// link_op() adds op to e's list of operations in flight.
inline void link_op(FdEntry& e, IoOp* op) noexcept {
  op->fd_prev = nullptr;
  op->fd_next = e.ops;
  if (e.ops != nullptr) e.ops->fd_prev = op;
  e.ops = op;
}

// unlink_op() removes op from e's list.
inline void unlink_op(FdEntry& e, IoOp* op) noexcept {
  if (op->fd_prev != nullptr) {
    op->fd_prev->fd_next = op->fd_next;
  } else {
    e.ops = op->fd_next;
  }
  if (op->fd_next != nullptr) op->fd_next->fd_prev = op->fd_prev;
  op->fd_prev = op->fd_next = nullptr;
}

// FdTable maps fd numbers to entries, growing as larger fds appear.
class FdTable {
 public:
  // find() returns fd's entry, or nullptr for a number no open fd can have (negative, or at or
  // above RLIMIT_NOFILE's hard limit); references stay valid until the next find() of a larger fd.
  FdEntry* find(int fd) {
    auto i = static_cast<std::size_t>(fd);
    if (fd < 0) return nullptr;
    if (i >= entries_.size()) {
      if (i >= fd_limit()) return nullptr;
      entries_.resize(std::max<std::size_t>({i + 1, 1024, entries_.size() * 2}));
    }
    return &entries_[i];
  }

 private:
  static std::size_t fd_limit() noexcept {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_max == RLIM_INFINITY) return 1u << 20;
    return static_cast<std::size_t>(lim.rlim_max);
  }

  std::vector<FdEntry> entries_;
};

}  // namespace weft::rt
