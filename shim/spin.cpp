// spin: pthread_spin_lock on a fiber yields between attempts.
//
// A spin lock's holder may be a fiber of the same carrier that made a blocking call (and so
// yielded) while holding it; spinning without yielding would then never let it run again, and
// the carrier would hang. So on a fiber the lock is tried a few times, as glibc spins, and then
// the fiber yields before each further try. Off a fiber it is glibc's. The lock word stays
// glibc's, so pthread_spin_trylock, pthread_spin_unlock and the rest need no hook.
#include <pthread.h>

#include <weft/fiber.hpp>

#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"

namespace {

// relax() tells the CPU this is a spin-wait loop (saves power, frees the sibling hyperthread).
inline void relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace

using namespace weft::shim;  // NOLINT: the hook below is this file's whole content

extern "C" {

WEFT_EXPORT int pthread_spin_lock(pthread_spinlock_t* lock) noexcept {
  if (!on_fiber()) {
    count(Sym::pthread_spin_lock, Route::kOffFiber);
    return WEFT_REAL(pthread_spin_lock)(lock);
  }
  count(Sym::pthread_spin_lock, Route::kWeft);
  // A holder on another carrier usually lets go within a few hundred cycles: spin that long
  // before handing the carrier to other fibers.
  constexpr int kSpins = 100;
  for (int i = 0;; ++i) {
    if (pthread_spin_trylock(lock) == 0) return 0;
    if (i < kSpins) {
      relax();
    } else {
      weft::this_fiber::yield();
    }
  }
}

}  // extern "C"
