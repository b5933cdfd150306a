// fd_table: what one carrier knows about the fds its fibers operate on.
//
// It exists for close(): an fd may only be closed once no operation of ours still refers to
// it, or a completion could land after the number was reused by a new file. So each entry
// counts the operations in flight on its fd; weft::close() marks the entry closing, cancels
// those operations, waits for the count to reach zero, and only then closes the fd. Operations
// that complete with -ECANCELED on a closing fd report -EBADF, as a call on a closed fd would.
#pragma once

#include <sys/resource.h>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "fiber_control.hpp"

namespace weft::rt {

// FdEntry is the state of one fd.
struct FdEntry {
  // inflight is how many operations on the fd await completion.
  std::uint32_t inflight = 0;
  // closing is set while weft::close() waits for those operations.
  bool closing = false;
  // closer is the fiber inside weft::close() for this fd.
  FiberControl* closer = nullptr;
};

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
