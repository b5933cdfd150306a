// allocator: where the program's malloc keeps its code, so that the hooks it calls can tell.
//
// jemalloc, tcmalloc and mimalloc keep their per-thread caches in __thread variables, which under
// the shim are per carrier (docs/shim.md, Limits): every fiber of a carrier shares one cache. An
// allocator updates that cache around its own locks, assuming nothing else runs on the thread
// meanwhile. If the shim parked a fiber in a lock wait the allocator makes (jemalloc's mutexes are
// pthread mutexes), another fiber of the carrier could enter the allocator and find its cache
// half-updated: diff_alloc on two carriers under jemalloc crashed in one run out of six that way.
// And a fiber parked while it holds an allocator lock may keep a carrier's scheduler, or another
// fiber's hook, waiting on that lock with nobody left to release it.
//
// So the allocator gets what a thread gets natively: a hook it calls itself waits on the carrier
// (a mutex wait sleeps the OS thread, sched_yield yields it) and its thread-specific data is the
// carrier's, like its __thread data, so the destructor it registers runs when the carrier thread
// exits, not when some fiber does. "Called by the allocator" means the hook's return address lies
// in the code of the object that defines malloc as the program sees it (preloaded or linked in);
// glibc's own malloc calls no hook, and an allocator linked into the program itself is not told
// apart (its code is the program's), so its waits park as the program's do.
#pragma once

#include <cstdint>

namespace weft::shim {

// g_alloc_lo and g_alloc_len are the allocator's code, [lo, lo + len); len 0 when there is none.
extern std::uintptr_t g_alloc_lo;
// g_alloc_len is the length of the allocator's code.
extern std::uintptr_t g_alloc_len;

// allocator_init() finds the code of the object that defines malloc (called from the library's
// constructor).
void allocator_init() noexcept;

// from_allocator() tells whether ret, a hook's return address (__builtin_return_address(0)), is
// in the program's malloc.
inline bool from_allocator(const void* ret) noexcept {
  return reinterpret_cast<std::uintptr_t>(ret) - g_alloc_lo < g_alloc_len;
}

}  // namespace weft::shim
