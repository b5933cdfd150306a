// try_first: an I/O call tries the system call itself, without blocking, when its fd has lately
// been ready, and goes to the reactor only when that finds nothing.
//
// Through the reactor, a call whose data is already there still costs a round trip: an SQE, a
// switch away, the scheduler's io_uring_enter (where the kernel does the read inline), the CQE,
// and a switch back; about three times a plain read(2). A non-blocking try done right in the call
// costs one system call and no switch. But a try that finds nothing (EAGAIN) is a system call
// wasted, and that is the common case for a request/response server's receive, which is why a
// blind try before every op was rejected (docs/design.md, "Rejected"). So the try adapts, per
// fd and per direction (receiving, sending), on what the last tries found:
// - On (the start): each call tries first. A try that moved data, or failed for good, is the
//   call's result; the fiber does not switch, but the call counts toward the carrier's tick
//   (Carrier::note_direct), so a fiber whose calls always succeed at once still lets the others
//   run and the scheduler reap every kTick calls.
// - kTryMisses tries in a row that found the fd not ready turn it off for kTrySkip calls, which
//   go straight to the reactor as before; then one call tries again (a probe). A probe that
//   finds nothing turns it off again for twice as long, up to kTrySkip << kTryMaxBackoff calls;
//   one that finds the fd ready turns it fully on again. So a receive that always waits wastes
//   one system call in up to 1,025 calls, while sends (usually possible at once) and pipelined
//   receives skip the reactor.
// A try that would block leaves the call to the reactor, marked IoOp::tried, so the epoll
// backend (which tries every op itself) waits for readiness first instead of trying twice; the
// io_uring backend submits it as before.
//
// What is tried, with the same non-blocking forms the epoll backend uses (reactor/epoll_ops.hpp),
// so the result is what the reactor would have produced:
// - recv, send, recvmsg and sendmsg with MSG_DONTWAIT; not with MSG_WAITALL, which the reactor
//   completes in steps. A caller's own MSG_DONTWAIT is always tried, whatever the state: its
//   answer, EAGAIN included, is the call's (the reactor would give the same).
// - read, write, readv and writev at the file position, as preadv2/pwritev2 with RWF_NOWAIT, on
//   fds whose file is no regular file or block device (io_uring does those, with full counts;
//   one fstat per fd learns which it is, FdEntry::file) and honours RWF_NOWAIT (a tty does not:
//   its EOPNOTSUPP marks the fd not worth a try). A short count is checked against the file
//   type as the epoll backend does (an fd closed behind weft's back and reused by a regular file
//   is put back and left to the reactor). pread and pwrite (an explicit offset) are not tried.
// - accept, connect and poll are not tried.
// The state is a few Relaxed bytes in the fd's FdEntry, read and written without its lock: two
// carriers racing on one fd may lose an update, which only moves the next probe. A try is never
// in flight across a switch, so close() has nothing of it to cancel; a try on an fd being closed
// is not made (the reactor path reports -EBADF as before). weft::close, dup2 and dup3 forget what
// was learned of the fd, as does the start of another run; a file found not worth a try is looked
// at again every kFileRecheck calls.
#pragma once

#include <cstdint>

#include "io/fd_table.hpp"
#include "reactor/reactor.hpp"

namespace weft::rt {

// kTryMisses is how many tries in a row that find the fd not ready turn the try off.
inline constexpr std::uint8_t kTryMisses = 4;
// kTrySkip is how many calls the first pause skips the try for.
inline constexpr std::uint16_t kTrySkip = 8;
// kTryMaxBackoff is how many times a pause may double.
inline constexpr std::uint8_t kTryMaxBackoff = 7;
// kFileRecheck is how many calls on an fd found not worth a try pass before fstat looks again.
inline constexpr std::uint16_t kFileRecheck = 4096;

// FileKind is what try-first knows of an fd's open file (FdEntry::file).
enum FileKind : std::uint8_t {
  // kFileUnknown: not looked at since the fd was last closed by weft.
  kFileUnknown = 0,
  // kFileStream: a pipe, socket or other stream a read/write try may work on.
  kFileStream = 1,
  // kFileSkip: a regular file or block device, or one that refused RWF_NOWAIT.
  kFileSkip = 2,
};

// try_first() makes op's non-blocking try if the fd's state asks for one (see above); true with
// *res set when that completed op, false when op must go to the reactor (with IoOp::tried set
// if the try found the fd not ready).
// run is the calling run's serial: what an earlier run learned of the fd is forgotten first,
// so a run (a seeded fault-injection run included) does not depend on what came before it.
bool try_first(FdEntry& entry, IoOp& op, std::uint32_t run, long* res) noexcept;

// try_forget() drops what try-first learned of the fd of entry (it was closed or replaced).
void try_forget(FdEntry& entry) noexcept;

}  // namespace weft::rt
