// ipc: System V message queues and semaphores (msgsnd, msgrcv, semop, semtimedop), waiting on a
// blocking-pool helper thread.
//
// A SysV queue or semaphore set is no fd: nothing can be polled for it, and the wait happens in
// the kernel until another thread or process sends, receives or changes a count. So a waiting
// call on a fiber first runs its IPC_NOWAIT form on the fiber (for semop, a copy of the
// operations with IPC_NOWAIT on each), which changes nothing when it fails; only a call that
// would wait goes to a helper thread (offload.hpp) with the program's own arguments. The objects
// are the process's, so the helper's call is the program's. A call whose arguments already say
// IPC_NOWAIT (for semop, on every operation) passes through, counted as "no wait".
//
// Natively a handled signal ends these waits with EINTR whatever SA_RESTART says; an offloaded
// wait is not interrupted (offload.hpp). A semop with more operations than kMaxTried goes to the
// helper without a try.
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/syscall.h>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "offload.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"

namespace weft::shim {
namespace {

// kMaxTried is the most semaphore operations copied for a try (SEMOPM, the kernel's default
// limit per call, is 500; programs pass a handful).
constexpr std::size_t kMaxTried = 64;

// all_nowait() tells whether each of the n operations has IPC_NOWAIT: then the call never waits.
// Only arrays a try would copy are read: a longer one is the kernel's to refuse (E2BIG).
bool all_nowait(const sembuf* ops, std::size_t n) noexcept {
  if (ops == nullptr || n > kMaxTried) return false;
  for (std::size_t i = 0; i < n; ++i) {
    if ((ops[i].sem_flg & IPC_NOWAIT) == 0) return false;
  }
  return true;
}

// semtimedop_as() is semtimedop counted as s; semop is semtimedop without a time limit. The
// try passes the program's timeout, which the kernel checks (EINVAL) before the operations.
template <class Call>
int semtimedop_as(Sym s, int id, sembuf* ops, std::size_t n, const timespec* timeout, Call call) {
  if (!count_wait_call(s, all_nowait(ops, n))) return call();
  if (ops == nullptr || n > kMaxTried) return run_offloaded(call);
  sembuf tried[kMaxTried];
  std::memcpy(tried, ops, n * sizeof(sembuf));
  for (std::size_t i = 0; i < n; ++i) tried[i].sem_flg |= IPC_NOWAIT;
  return try_then_offload([&] { return sys::call(SYS_semtimedop, id, tried, n, timeout); }, EAGAIN,
                          EAGAIN, call);
}

}  // namespace
}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int msgsnd(int id, const void* msg, size_t size, int flags) {
  auto real = WEFT_REAL(msgsnd);
  auto call = [&] { return pass(real, SYS_msgsnd, id, msg, size, flags); };
  if (!count_wait_call(Sym::msgsnd, (flags & IPC_NOWAIT) != 0)) return call();
  return try_then_offload(
      [&] { return weft::sys::call(SYS_msgsnd, id, msg, size, flags | IPC_NOWAIT); }, EAGAIN,
      EAGAIN, call);
}

WEFT_EXPORT ssize_t msgrcv(int id, void* msg, size_t size, long type, int flags) {
  auto real = WEFT_REAL(msgrcv);
  auto call = [&] { return pass(real, SYS_msgrcv, id, msg, size, type, flags); };
  if (!count_wait_call(Sym::msgrcv, (flags & IPC_NOWAIT) != 0)) return call();
  // With IPC_NOWAIT, "no message of that type" is ENOMSG.
  return try_then_offload(
      [&] { return weft::sys::call(SYS_msgrcv, id, msg, size, type, flags | IPC_NOWAIT); }, ENOMSG,
      ENOMSG, call);
}

WEFT_EXPORT int semop(int id, sembuf* ops, size_t n) {
  auto real = WEFT_REAL(semop);
  return semtimedop_as(Sym::semop, id, ops, n, nullptr, [&] {
    return real != nullptr ? real(id, ops, n)
                           : static_cast<int>(weft::shim::raw(SYS_semtimedop, id, ops, n, nullptr));
  });
}

WEFT_EXPORT int semtimedop(int id, sembuf* ops, size_t n, const timespec* timeout) {
  auto real = WEFT_REAL(semtimedop);
  return semtimedop_as(Sym::semtimedop, id, ops, n, timeout,
                       [&] { return pass(real, SYS_semtimedop, id, ops, n, timeout); });
}

}  // extern "C"
