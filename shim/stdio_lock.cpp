// stdio_lock: a thread that holds a stdio stream's lock keeps its carrier until it lets go.
//
// glibc locks a FILE by thread: the lock records its owner's thread control block, and a thread
// that finds another owner waits on a futex inside glibc, where no hook reaches. Once each
// program thread has its own control block (docs/design.md, "Per-fiber thread-local storage"),
// a thread that took a stream's lock with flockfile and then waited (nanosleep, a pipe) would let
// the carrier run another thread, and that thread's printf on the same stream would sleep the
// whole carrier in glibc's futex: the owner, parked on that very carrier, could never come back
// to unlock. Natively the owner's wait holds only the owner. So a thread keeps its carrier while
// it holds a lock taken here: its waits wait in place (rt::hold_carrier(), the carrier reaps I/O
// and timers for it alone) and its yields return at once. A thread of another carrier that wants
// the stream sleeps its own carrier in glibc's futex until the owner, which keeps running, lets
// go; the owner's carrier cannot have such a thread, since it runs no other until then. The
// locks glibc takes inside one stdio call need nothing: no stdio call waits on a fiber (its I/O
// is glibc's own, docs/shim.md's Limits). With shared TLS the same rule keeps a line whole.
#include <stdio.h>

#include "real.hpp"
#include "sched/park.hpp"
#include "shim.hpp"
#include "stats.hpp"

using weft::shim::Sym;

extern "C" {

WEFT_EXPORT void flockfile(FILE* f) noexcept {
  WEFT_REAL(flockfile)(f);
  if (count_fiber_call(Sym::flockfile)) weft::rt::hold_carrier(+1);
}

WEFT_EXPORT int ftrylockfile(FILE* f) noexcept {
  int r = WEFT_REAL(ftrylockfile)(f);
  if (count_fiber_call(Sym::ftrylockfile) && r == 0) weft::rt::hold_carrier(+1);
  return r;
}

WEFT_EXPORT void funlockfile(FILE* f) noexcept {
  WEFT_REAL(funlockfile)(f);
  if (count_fiber_call(Sym::funlockfile)) weft::rt::hold_carrier(-1);
}

}  // extern "C"
