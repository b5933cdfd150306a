// locks: flock, lockf and fcntl's record locks, waiting on a blocking-pool helper thread.
//
// A file lock that is taken blocks in the kernel until its holder lets go, and the holder may be
// another thread of the program, a fiber of the same carrier: holding the carrier in the wait
// would keep that fiber from ever releasing it. Nothing can be polled for a lock, so the wait
// runs on a helper thread (offload.hpp), and that thread's lock is the program's own: flock and
// OFD locks belong to the open file description (the fd table is shared), classic POSIX locks
// (F_SETLKW, lockf) to the process, whatever thread asks. So a waiting lock call on a fiber first
// tries the call's non-waiting form on the fiber itself (LOCK_NB, F_SETLK, F_OFD_SETLK), and
// only a lock that is taken costs a helper thread. A failed try leaves the kernel as it was,
// except that flock converting a lock (shared to exclusive or back) drops the old one before it
// looks for conflicts; the waiting call does the same first, so it finds the state it would
// natively.
//
// The non-waiting forms the program asks for itself (LOCK_NB, LOCK_UN, F_SETLK, F_OFD_SETLK,
// lockf's F_TLOCK, F_ULOCK and F_TEST) pass straight through, counted as "no wait". A handled
// signal does not end a wait with EINTR (offload.hpp says why).
#include "locks.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>

#include "offload.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"

namespace weft::shim {

bool fcntl_lock_cmd(int cmd) noexcept {
  return cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
}

int fcntl_lock(Sym s, int (*real)(int, int, ...), int fd, int cmd, void* arg) {
  auto call = [&] {
    return real != nullptr ? real(fd, cmd, arg)
                           : static_cast<int>(weft::shim::raw(SYS_fcntl, fd, cmd, arg));
  };
  if (!count_wait_call(s, cmd == F_SETLK || cmd == F_OFD_SETLK)) return call();
  int now = cmd == F_SETLKW ? F_SETLK : F_OFD_SETLK;
  // A taken lock is EAGAIN, or EACCES (POSIX allows both; Linux says EAGAIN).
  return try_then_offload([&] { return sys::call(SYS_fcntl, fd, now, arg); }, EAGAIN, EACCES, call);
}

// lockf_as() is lockf counted as s. lockf is glibc's own: F_LOCK is fcntl(F_SETLKW) on a write
// lock from the current position over len bytes, F_TLOCK the same with F_SETLK, so its try is
// that F_SETLK, made here.
template <class Real>
int lockf_as(Sym s, Real real, int fd, int cmd, off64_t len) {
  auto call = [&] { return real != nullptr ? real(fd, cmd, len) : (errno = ENOSYS, -1); };
  if (!count_wait_call(s, cmd != F_LOCK)) return call();
  struct flock64 fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_CUR;
  fl.l_start = 0;
  fl.l_len = len;
  return try_then_offload([&] { return sys::call(SYS_fcntl, fd, F_SETLK64, &fl); }, EAGAIN, EACCES,
                          call);
}

}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int flock(int fd, int op) {
  auto real = WEFT_REAL(flock);
  auto call = [&] { return pass(real, SYS_flock, fd, op); };
  if (!count_wait_call(Sym::flock, (op & LOCK_NB) != 0 || op == LOCK_UN)) return call();
  return try_then_offload([&] { return weft::sys::call(SYS_flock, fd, op | LOCK_NB); }, EWOULDBLOCK,
                          EWOULDBLOCK, call);
}

WEFT_EXPORT int lockf(int fd, int cmd, off_t len) {
  return lockf_as(Sym::lockf, WEFT_REAL(lockf), fd, cmd, len);
}

WEFT_EXPORT int lockf64(int fd, int cmd, off64_t len) {
  return lockf_as(Sym::lockf64, WEFT_REAL(lockf64), fd, cmd, len);
}

}  // extern "C"
