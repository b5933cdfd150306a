// fd_table: what one carrier knows about the fds its fibers operate on.
//
// It exists for close(): an fd may only be closed once no operation of ours still refers to
// it, or a completion could land after the number was reused by a new file. So each entry
// counts the operations in flight on its fd; weft::close() marks the entry closing, cancels
// those operations, waits for the count to reach zero, and only then closes the fd. Operations
// that complete with -ECANCELED on a closing fd report -EBADF, as a call on a closed fd would.
#pragma once

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
  // at() returns fd's entry; references stay valid only until the next at() of a larger fd.
  FdEntry& at(int fd) {
    auto i = static_cast<std::size_t>(fd);
    if (i >= entries_.size()) entries_.resize(i < 512 ? 1024 : i * 2);
    return entries_[i];
  }

 private:
  std::vector<FdEntry> entries_;
};

}  // namespace weft::rt
