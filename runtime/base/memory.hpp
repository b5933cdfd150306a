// memory: the runtime's own heap, for the bookkeeping it keeps on paths the program's allocator
// must never see.
//
// Under the shim, malloc is the program's: glibc's, or jemalloc, tcmalloc, mimalloc, preloaded or
// linked in. Such an allocator calls pthread_mutex_lock, pthread_getspecific, sched_yield and
// friends, which the shim interposes. If a hook (or the runtime code it runs) called malloc, the
// allocator could re-enter the very hook it is inside (jemalloc's malloc -> the trylock hook ->
// the main thread's record -> malloc ... until the stack overflows), and a carrier's scheduler
// that called malloc could block its whole thread on an allocator lock that only a fiber of that
// same carrier can release. So everything the runtime allocates on a carrier (timer heaps, task
// queues, the stack pool's lists, fiber-local slots, the epoll reactor's records, the shim's
// thread records) comes from here: memory weft maps itself with mmap(2), entering the kernel
// directly, and never returns to the program's allocator.
//
// Model: power-of-two size classes from 32 bytes to 64 KiB, each a free list under its own
// rt::Lock (a few instructions are held under it; nothing ever waits for a fiber there), carved
// from 64 KiB (or four-block) chunks mapped on demand; a block starts with a 16-byte header naming
// its class, so blocks stay 16-byte aligned and mem_free() needs no size. Larger requests are
// mappings of their own, unmapped on free. Freed small blocks stay on their list for reuse and are
// never returned to the kernel: what the runtime keeps here is bounded by its peak (a timer heap
// as large as the most timers ever armed at once, and so on), which is small.
//
// Rejected: making the shim library's operator new its own (every std container inside it would
// use weft memory without a change): libstdc++'s out-of-line members (std::string's growth,
// exceptions) would still use the global operator new, and a block allocated on one side and
// freed on the other would corrupt both heaps.
//
// Under AddressSanitizer and ThreadSanitizer (which never build the shim) this is malloc, so the
// sanitizers keep seeing every block the runtime allocates.
#pragma once

#include <cstddef>
#include <new>
#include <utility>
#include <vector>

namespace weft::rt {

// mem_alloc() returns n bytes of weft's own memory, 16-byte aligned, or nullptr when the kernel
// refuses more.
void* mem_alloc(std::size_t n) noexcept;
// mem_free() gives back a block from mem_alloc() or mem_realloc() (nullptr is ignored).
void mem_free(void* p) noexcept;
// mem_realloc() grows or shrinks p (nullptr: a new block) to n bytes, keeping its contents; on
// failure returns nullptr and leaves p as it was.
void* mem_realloc(void* p, std::size_t n) noexcept;
// mem_usable() is how many bytes the block p can hold.
std::size_t mem_usable(const void* p) noexcept;
// mem_after_fork_child() frees the size classes' locks in a forked child, where a thread that
// held one does not exist.
void mem_after_fork_child() noexcept;

// mem_new() constructs a T in weft memory; returns nullptr when none can be had (a constructor
// that throws frees the block and rethrows).
template <class T, class... A>
T* mem_new(A&&... args) {
  void* p = mem_alloc(sizeof(T));
  if (p == nullptr) return nullptr;
  try {
    return new (p) T(std::forward<A>(args)...);
  } catch (...) {
    mem_free(p);
    throw;
  }
}

// mem_delete() destroys and frees a T made by mem_new() (nullptr is ignored).
template <class T>
void mem_delete(T* t) noexcept {
  if (t == nullptr) return;
  t->~T();
  mem_free(t);
}

// MemAllocator is a standard allocator over weft memory, for the runtime's std containers.
template <class T>
struct MemAllocator {
  // value_type is what the allocator makes room for.
  using value_type = T;
  // MemAllocator() makes the (stateless) allocator.
  MemAllocator() noexcept = default;
  // MemAllocator(other) converts from an allocator of another type; all of them are equal.
  template <class U>
  MemAllocator(const MemAllocator<U>&) noexcept {}  // NOLINT: implicit, as allocators are
  // allocate() returns room for n values; throws std::bad_alloc when none can be had.
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_alloc();
    void* p = mem_alloc(n * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  // deallocate() gives back what allocate() returned.
  void deallocate(T* p, std::size_t) noexcept { mem_free(p); }
  // operator== holds for any two: a block from one may be freed by another.
  template <class U>
  bool operator==(const MemAllocator<U>&) const noexcept {
    return true;
  }
};

// MemVector is a std::vector in weft memory.
template <class T>
using MemVector = std::vector<T, MemAllocator<T>>;

}  // namespace weft::rt
