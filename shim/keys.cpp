// keys: pthread_key_* as fiber-local storage, so a program's thread-specific data is per thread
// (per fiber) under the shim, not per carrier.
//
// The keys are the runtime's fiber-local slots (runtime/sched/fls.hpp): process-wide numbers below
// PTHREAD_KEYS_MAX with a generation, so a deleted key's old values read as null; each fiber
// has its own values, destroyed when the fiber thread ends, in pthread's rounds
// (PTHREAD_DESTRUCTOR_ITERATIONS). Off a fiber (a plain thread, code before main) a value is the
// OS thread's, destroyed when that thread exits. The main thread's values from before main
// (constructors) belong to the OS thread, not to the main fiber that runs main.
#include <pthread.h>
#include <cerrno>

#include <weft/fiber_local.hpp>

#include "allocator.hpp"
#include "sched/fls.hpp"
#include "shim.hpp"
#include "stats.hpp"

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int pthread_key_create(pthread_key_t* key, void (*destructor)(void*)) noexcept {
  int k = weft::detail::fls_create(destructor);
  if (k < 0) return -k;
  *key = static_cast<pthread_key_t>(k);
  return 0;
}

WEFT_EXPORT int pthread_key_delete(pthread_key_t key) noexcept {
  return -weft::detail::fls_delete(static_cast<int>(key));
}

// The program's malloc keeps its per-thread state in __thread variables, which are the
// carrier's, and registers its clean-up with a key: that key's value is the carrier's too, so the
// clean-up runs when the carrier thread exits, not when the first fiber that allocated does
// (allocator.hpp).
WEFT_EXPORT void* pthread_getspecific(pthread_key_t key) noexcept {
  if (from_allocator(__builtin_return_address(0))) {
    return weft::rt::fls_get_thread(static_cast<int>(key));
  }
  return weft::detail::fls_get(static_cast<int>(key));
}

// glibc declares the value access(none): it is stored, never read through. GCC 12 then takes
// passing the pointer on for a read of uninitialised memory.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
WEFT_EXPORT int pthread_setspecific(pthread_key_t key, const void* value) noexcept {
  if (from_allocator(__builtin_return_address(0))) {
    return -weft::rt::fls_set_thread(static_cast<int>(key), value);
  }
  return -weft::detail::fls_set(static_cast<int>(key), value);
}
#pragma GCC diagnostic pop

}  // extern "C"
