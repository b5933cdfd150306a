// mutex: the program's pthread mutexes, waited on by fibers without blocking their carrier.
//
// A mutex lives in the program's own pthread_mutex_t (40 bytes, zero for
// PTHREAD_MUTEX_INITIALIZER), laid out as MutexWords: a three-state word (0 free, 1 locked,
// 2 locked and maybe waited on), the recursion count, the owner's pthread_t, glibc's kind field
// at glibc's offset (so the static initializers of recursive and error-checking mutexes work),
// a guard lock and a FIFO of waiters. Uncontended, lock and unlock are one compare-and-swap each.
// unlock hands the mutex straight to the longest waiter instead of freeing it: with cooperative
// scheduling a woken fiber runs only after the unlocker's next switch, so an unlocker that locks
// again at once would always win and starve the waiters (docs/design.md, "Why FIFO hand-off").
// Owners are threads, not carriers: a fiber's pthread_t, or a real thread's.
//
// Process-shared, robust and priority-protocol mutexes keep glibc's layout and implementation
// (pthread_mutex_init sees the attribute; their kind bits route every later call): they may be
// shared with other processes or need the kernel's help, which a fiber-local queue cannot give.
// Waiting on one blocks the carrier.
#pragma once

#include <pthread.h>

#include "thread_wait.hpp"

namespace weft::shim {

// mutex_lock() locks m for the calling thread, waiting at most until limit; returns 0 or an
// error number as pthread_mutex_lock/trylock/timedlock do. A pinned wait sleeps the OS thread
// even on a fiber (the program's malloc waits so: allocator.hpp).
int mutex_lock(pthread_mutex_t* m, const WaitLimit& limit, bool pinned = false) noexcept;
// mutex_unlock() unlocks m; returns 0 or an error number as pthread_mutex_unlock does.
int mutex_unlock(pthread_mutex_t* m) noexcept;
// mutex_release_all() unlocks m entirely for a condition wait and returns the recursion count
// to restore (0 and an error in *err if the caller does not hold it); glibc's mutexes too.
unsigned mutex_release_all(pthread_mutex_t* m, int* err) noexcept;
// mutex_reacquire() relocks m after a condition wait, uninterruptibly, with count restored;
// glibc's mutexes too.
void mutex_reacquire(pthread_mutex_t* m, unsigned count) noexcept;
// mutex_is_libc() tells whether m is one glibc implements (process-shared, robust, PI/PP).
bool mutex_is_libc(const pthread_mutex_t* m) noexcept;

}  // namespace weft::shim
