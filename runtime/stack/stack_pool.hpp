// stack: fiber stacks carved from large slabs, guarded, pooled and reused.
//
// Each slab is one mmap holding many stack slots; a slot is a 64 KiB guard followed by the usable
// stack (stacks grow down, so the guard sits at the low end). Guards are installed lazily, when
// a slot is first handed out, so a fresh slab costs one mmap and no per-slot syscalls.
//
// Guard pages vs vm.max_map_count: an mprotect'd page inside a mapping splits it into separate
// kernel VMAs, two per stack, so at the default limit of 65530 mappings a process stops near
// 32K guarded fibers. Linux 6.13's MADV_GUARD_INSTALL marks guard pages inside one VMA instead;
// we use it when the kernel has it (GuardMode::kMadvise). On older kernels we fall back to
// mprotect while a process-wide budget of mappings lasts (half of what vm.max_map_count leaves
// after the program's own; a pool gives its share back at teardown), then hand out unguarded
// stacks and say so once on stderr. Every
// unguarded stack carries a canary word at its low end instead, checked whenever its fiber
// switches out. Guarded stacks carry none: writing it would dirty the stack's lowest page, and a
// parked fiber would cost two resident pages instead of one.
//
// Slabs are MADV_NOHUGEPAGE: a transparent huge page would turn a 4 KiB touched stack top into
// 2 MiB of resident memory. Up to the cache limit, freed stacks stay warm (memory kept); past it
// a freed stack gives its pages back with MADV_DONTNEED (guard markers survive that) and goes
// cold, keeping its address space for reuse. Reuse takes warm stacks first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include <weft/runtime.hpp>

#include "base/lock.hpp"
#include "base/memory.hpp"
#include "base/sanitizer.hpp"

namespace weft::rt {

// StackSpan is a usable stack region [base, base + size); the guard, if any, is just below base.
struct StackSpan {
  // base is the lowest usable address.
  char* base = nullptr;
  // size is the usable size in bytes.
  std::size_t size = 0;
  // guarded tells whether a guard region sits below base; unguarded stacks carry a canary.
  bool guarded = false;
  // top() returns one past the highest usable address.
  char* top() const noexcept { return base + size; }
};

// kStackCanary is written at the low end of every unguarded stack and checked at each switch-out.
inline constexpr std::uint64_t kStackCanary = 0x5745465443414e59ull;  // "WEFTCANY"

// StackPool hands out and takes back the stacks of one run (shared by its carriers).
class StackPool {
 public:
  // StackPool() prepares a pool of stacks of default_size usable bytes (rounded up to pages).
  StackPool(std::size_t default_size, bool guard, std::size_t cache_limit);
  // ~StackPool() unmaps every slab; stacks still in use become invalid.
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // allocate() returns a stack of at least size bytes (0: the default) or throws std::bad_alloc.
  StackSpan allocate(std::size_t size);
  // release() takes back a stack that allocate() returned.
  void release(StackSpan stack) noexcept;
  // default_size() is the usable size of a stack allocated with size 0.
  std::size_t default_size() const noexcept { return default_size_; }
  // reuse() readies a stack taken from a carrier's StackCache for a new fiber, as allocate()
  // readies one of its own: the sanitizers forget its old contents, an unguarded one gets its
  // canary back.
  static void reuse(StackSpan stack) noexcept {
    san::stack_reused(stack.base, stack.size);
    if (!stack.guarded) *reinterpret_cast<std::uint64_t*>(stack.base) = kStackCanary;
  }
  // reserve_cache() sets aside up to want of the cache limit for a carrier's StackCache, which
  // this pool then no longer keeps warm itself; returns how many it got.
  std::size_t reserve_cache(std::size_t want) noexcept;
  // after_fork_child() starts the pool afresh in a forked child, with kept stacks (the forking
  // fiber's) counted in use; the parent's slabs stay mapped but are never reused
  // (runtime/process/fork.hpp).
  void after_fork_child(std::size_t kept) noexcept;

  // canary_intact() tells whether an unguarded stack's canary word is still in place.
  static bool canary_intact(const StackSpan& stack) noexcept {
    return stack.guarded || *reinterpret_cast<const std::uint64_t*>(stack.base) == kStackCanary;
  }

  // guard_mode() is how this pool's stacks are guarded.
  GuardMode guard_mode() const noexcept { return mode_; }
  // kGuardPages is the guard's size in pages: 64 KiB, so a frame that skips one page of it
  // still faults instead of landing on the neighbouring fiber's stack (Debian's GCC does not
  // enable -fstack-clash-protection, which would probe every page). Guards cost address space
  // only.
  static constexpr std::size_t kGuardPages = 16;
  // in_use() is how many stacks are handed out.
  std::size_t in_use() const noexcept {
    std::lock_guard<Lock> hold(lock_);
    return in_use_;
  }
  // cached() is how many freed stacks keep their memory for reuse (at most the cache limit per
  // stack size).
  std::size_t cached() const noexcept;
  // cold() is how many freed stacks keep only their address space for reuse.
  std::size_t cold() const noexcept;
  // bytes_mapped() is the address space all slabs take.
  std::size_t bytes_mapped() const noexcept {
    std::lock_guard<Lock> hold(lock_);
    return bytes_mapped_;
  }

 private:
  struct SizeClass {
    MemVector<StackSpan> warm;   // freed stacks that keep their memory, reused LIFO
    MemVector<StackSpan> cold;   // freed stacks whose memory went back to the kernel
    char* next_slot = nullptr;   // next never-used slot in the newest slab
    std::size_t slots_left = 0;  // never-used slots left in the newest slab
  };
  struct Slab {
    void* addr;
    std::size_t len;
  };

  std::size_t round_size(std::size_t size) const noexcept;
  StackSpan new_slot(SizeClass& sc, std::size_t size);
  bool install_guard(char* guard_low);

  // Every carrier of a run allocates from and frees to this one pool (a fiber may be freed by
  // another carrier than the one that spawned it), so each call takes lock_.
  mutable Lock lock_;
  std::size_t page_;
  std::size_t default_size_;
  bool guard_;
  std::size_t guard_size_;
  std::size_t cache_limit_;
  std::size_t reserved_ = 0;  // default-size warm stacks the carriers' caches may keep instead
  std::size_t mprotect_guards_ = 0;  // budget units to refund at teardown
  GuardMode mode_;
  std::size_t in_use_ = 0;
  std::size_t bytes_mapped_ = 0;
  // Weft memory (base/memory.hpp): a scheduler frees a finished fiber's stack here.
  std::unordered_map<std::size_t, SizeClass, std::hash<std::size_t>, std::equal_to<std::size_t>,
                     MemAllocator<std::pair<const std::size_t, SizeClass>>>
      classes_;
  MemVector<Slab> slabs_;
  MemVector<unsigned> valgrind_stacks_;  // ids of the stacks registered with valgrind
};

}  // namespace weft::rt
