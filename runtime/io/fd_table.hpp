// fd_table: what the process's runtime knows about the fds its fibers operate on.
//
// It exists for close(): an fd may only be closed once no operation of ours still refers to
// it, or a completion could land after the number was reused by a new file. So each entry
// lists the operations in flight on its fd, from every carrier; weft::close() marks the entry
// closing, cancels each of those operations (its own directly, other carriers' by asking them,
// since only a ring's owner may submit to it), waits for the list to empty, and only then
// closes the fd. Operations that complete with -ECANCELED on a closing fd report -EBADF, as a
// call on a closed fd would.
//
// There is one table per process, as there is one fd number space: a close on any carrier of
// any run must stop the operations of every fiber on that fd. Entries live in 1024-entry chunks
// that are allocated on first use and never move, so a pointer to an entry stays valid for the
// life of the process; each entry is guarded by one of kStripes locks (fd modulo kStripes),
// taken twice per I/O operation (link, unlink) and never across a wait. An entry also keeps what
// the adaptive try-first of io/try_first.hpp learned about its fd; those fields, and closing, are
// Relaxed so that a try may read them without the lock (it never waits, so close() need not know
// of it). The scheduler knows
// nothing of it: weft::close() asks another carrier to cancel its operations on the fd with a
// task (Carrier::post_task) that this layer supplies.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/list.hpp"
#include "base/lock.hpp"
#include "reactor/reactor.hpp"

namespace weft::rt {

struct Waiter;

// TryState is what the adaptive try-first (io/try_first.hpp) knows of one direction of an fd.
struct TryState {
  // misses counts the tries in a row that found the fd not ready.
  Relaxed<std::uint8_t> misses = 0;
  // backoff is how many times in a row a try turned off; each doubles the next pause.
  Relaxed<std::uint8_t> backoff = 0;
  // skip is how many more calls go straight to the reactor before the next try.
  Relaxed<std::uint16_t> skip = 0;
};

// FdOps is the operations in flight on one fd, linked both ways (an op leaves from anywhere).
using FdOps = List<IoOp, &IoOp::fd_next, &IoOp::fd_prev>;

// FdEntry is the state of one fd; every field is guarded by FdTable::lock_for(fd).
struct FdEntry {
  // ops lists the operations in flight on the fd.
  FdOps ops;
  // closing is set while weft::close() waits for those operations.
  Relaxed<bool> closing = false;
  // closer is the wait of the fiber inside weft::close() for this fd.
  Waiter* closer = nullptr;
  // run is the serial of the run whose calls taught try-first the fields below (Run::serial()).
  Relaxed<std::uint32_t> run = 0;
  // file is what try-first knows of the open file (io/try_first.hpp's FileKind).
  Relaxed<std::uint8_t> file = 0;
  // file_age counts the calls since file was found not worth a try, to look again (try_first).
  Relaxed<std::uint16_t> file_age = 0;
  // tries is try-first's state for receiving ([0]) and sending ([1]).
  TryState tries[2];
};

// FdTable maps fd numbers to entries.
class FdTable {
 public:
  // kStripes is how many locks the entries share.
  static constexpr std::size_t kStripes = 64;

  FdTable();
  ~FdTable();
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  // find() returns fd's entry, or nullptr for a number no open fd can have (negative, or at or
  // above the largest RLIMIT_NOFILE the kernel allows); the entry stays valid for good.
  FdEntry* find(int fd);
  // lock_for() is the lock guarding fd's entry.
  Lock& lock_for(int fd) noexcept { return locks_[static_cast<unsigned>(fd) % kStripes].lock; }
  // after_fork_child() empties every entry in a forked child: the operations listed were the
  // parent's, in frames of fibers the child does not have (runtime/process/fork.hpp).
  void after_fork_child() noexcept;

 private:
  static constexpr std::size_t kChunk = 1024;
  struct alignas(64) PaddedLock {
    Lock lock;
  };

  std::size_t limit_;
  std::atomic<FdEntry*>* chunks_;  // weft memory, as the chunks: hooks make them
  PaddedLock locks_[kStripes];
};

// fd_table() is the process's table, made on first use and never destroyed (a fiber of a run
// that is ending may still unlink an op from it).
FdTable& fd_table();
// fd_table_after_fork_child() empties the table, if there is one, in a forked child.
void fd_table_after_fork_child() noexcept;

}  // namespace weft::rt
