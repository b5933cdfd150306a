#include "stack/stack_pool.hpp"

#include <mutex>

#include <sys/mman.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <new>

#include "base/sanitizer.hpp"
#include "base/sys.hpp"

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace weft::rt {
namespace {

// Whether MADV_GUARD_INSTALL works is a property of the kernel, so it is probed once per process.
enum class GuardSupport : int { kUnknown, kMadvise, kMprotect };
std::atomic<int> g_guard_support{static_cast<int>(GuardSupport::kUnknown)};

// Mappings that mprotect guards may still use, shared by every carrier of the process.
std::atomic<long> g_mprotect_budget{-1};
std::atomic<bool> g_budget_warned{false};

long initial_mprotect_budget() {
  long max_maps = 65530;
  std::ifstream in("/proc/sys/vm/max_map_count");
  if (in) in >> max_maps;
  // Leave the program's own mappings plenty of room; each guard costs up to two.
  long spare = max_maps - 8192;
  return spare > 0 ? spare / 2 : 0;
}

void refund_mprotect_budget(long n) {
  g_mprotect_budget.fetch_add(n);
}

bool take_mprotect_budget() {
  long expected = g_mprotect_budget.load(std::memory_order_relaxed);
  if (expected < 0) {
    long fresh = initial_mprotect_budget();
    g_mprotect_budget.compare_exchange_strong(expected, fresh);
    expected = g_mprotect_budget.load(std::memory_order_relaxed);
  }
  while (expected > 0) {
    if (g_mprotect_budget.compare_exchange_weak(expected, expected - 1)) return true;
  }
  return false;
}

constexpr std::size_t kSlabTarget = 8u << 20;  // address space per slab: few mappings, cheap mmap

}  // namespace

StackPool::StackPool(std::size_t default_size, bool guard, std::size_t cache_limit)
    : page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))),
      default_size_(0),
      guard_(guard),
      guard_size_(guard ? kGuardPages * page_ : 0),
      cache_limit_(cache_limit),
      mode_(GuardMode::kNone) {
  default_size_ = round_size(default_size);
  if (guard_) {
    auto support = static_cast<GuardSupport>(g_guard_support.load());
    mode_ = support == GuardSupport::kMprotect ? GuardMode::kMprotect : GuardMode::kMadvise;
  }
}

StackPool::~StackPool() {
  for (unsigned id : valgrind_stacks_) san::deregister_stack(id);
  for (const Slab& s : slabs_) ::munmap(s.addr, s.len);
  refund_mprotect_budget(static_cast<long>(mprotect_guards_));
}

std::size_t StackPool::round_size(std::size_t size) const noexcept {
  return (size + page_ - 1) / page_ * page_;
}

std::size_t StackPool::cached() const noexcept {
  std::lock_guard<Lock> hold(lock_);
  std::size_t n = 0;
  for (const auto& [size, sc] : classes_) n += sc.warm.size();
  return n;
}

std::size_t StackPool::cold() const noexcept {
  std::lock_guard<Lock> hold(lock_);
  std::size_t n = 0;
  for (const auto& [size, sc] : classes_) n += sc.cold.size();
  return n;
}

bool StackPool::install_guard(char* guard_low) {
  auto support = static_cast<GuardSupport>(g_guard_support.load(std::memory_order_relaxed));
  if (support != GuardSupport::kMprotect) {
    if (::madvise(guard_low, guard_size_, MADV_GUARD_INSTALL) == 0) {
      g_guard_support.store(static_cast<int>(GuardSupport::kMadvise), std::memory_order_relaxed);
      return true;
    }
    // EINVAL: the kernel predates 6.13. Anything else is as fatal for mprotect, so fall back.
    if (errno == EINTR || errno == EAGAIN) {
      if (::madvise(guard_low, guard_size_, MADV_GUARD_INSTALL) == 0) return true;
    }
    g_guard_support.store(static_cast<int>(GuardSupport::kMprotect), std::memory_order_relaxed);
    mode_ = GuardMode::kMprotect;
  }
  if (take_mprotect_budget()) {
    if (::mprotect(guard_low, guard_size_, PROT_NONE) == 0) {
      ++mprotect_guards_;
      return true;
    }
    refund_mprotect_budget(1);
  }
  if (!g_budget_warned.exchange(true)) {
    sys::write_stderr(
        "weft: vm.max_map_count leaves no room for more mprotect guard pages; new fiber "
        "stacks are unguarded (the canary check remains). Raise vm.max_map_count or use "
        "Linux 6.13+ for MADV_GUARD_INSTALL.\n");
  }
  return false;
}

StackSpan StackPool::new_slot(SizeClass& sc, std::size_t size) {
  std::size_t slot = size + guard_size_;
  if (sc.slots_left == 0) {
    std::size_t count = kSlabTarget / slot;
    if (count == 0) count = 1;
    std::size_t len = count * slot;
    void* addr = ::mmap(nullptr, len, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (addr == MAP_FAILED) throw std::bad_alloc();
    ::madvise(addr, len, MADV_NOHUGEPAGE);
    slabs_.push_back(Slab{addr, len});
    bytes_mapped_ += len;
    sc.next_slot = static_cast<char*>(addr);
    sc.slots_left = count;
  }
  char* low = sc.next_slot;
  sc.next_slot += slot;
  --sc.slots_left;
  bool guarded = guard_ && install_guard(low);
  // Under valgrind, a switch to an unregistered stack reads as "client switching stacks?".
  if (san::on_valgrind()) valgrind_stacks_.push_back(san::register_stack(low + guard_size_, size));
  return StackSpan{low + guard_size_, size, guarded};
}

StackSpan StackPool::allocate(std::size_t size) {
  std::lock_guard<Lock> hold(lock_);
  size = size == 0 ? default_size_ : round_size(size);
  SizeClass& sc = classes_[size];
  StackSpan stack;
  if (!sc.warm.empty()) {
    stack = sc.warm.back();
    sc.warm.pop_back();
  } else if (!sc.cold.empty()) {
    stack = sc.cold.back();
    sc.cold.pop_back();
  } else {
    stack = new_slot(sc, size);
  }
  san::stack_reused(stack.base, stack.size);
  if (!stack.guarded) *reinterpret_cast<std::uint64_t*>(stack.base) = kStackCanary;
  ++in_use_;
  return stack;
}

void StackPool::after_fork_child(std::size_t kept) noexcept {
  // Nothing of the old state is read: a thread the child does not have may have been changing
  // it. The parent's slabs stay mapped, the forking fiber's stack among them (released here
  // when that fiber ends); the other fibers' stacks are simply leaked, copy-on-write pages the
  // child never touches.
  new (&lock_) Lock();
  new (&classes_) decltype(classes_)();
  new (&slabs_) decltype(slabs_)();
  new (&valgrind_stacks_) decltype(valgrind_stacks_)();
  mprotect_guards_ = 0;
  reserved_ = 0;
  in_use_ = kept;
  bytes_mapped_ = 0;
}

std::size_t StackPool::reserve_cache(std::size_t want) noexcept {
  std::lock_guard<Lock> hold(lock_);
  std::size_t got = std::min(want, cache_limit_ - reserved_);
  reserved_ += got;
  // What the pool kept warm beyond its new share goes cold, so the run keeps the limit.
  auto it = classes_.find(default_size_);
  if (it != classes_.end()) {
    SizeClass& sc = it->second;
    while (sc.warm.size() > cache_limit_ - reserved_) {
      StackSpan stack = sc.warm.back();
      sc.warm.pop_back();
      ::madvise(stack.base, stack.size, MADV_DONTNEED);
      try {
        sc.cold.push_back(stack);
      } catch (...) {
        // No memory for the list: the slot stays mapped but unused until teardown.
      }
    }
  }
  return got;
}

void StackPool::release(StackSpan stack) noexcept {
  std::lock_guard<Lock> hold(lock_);
  SizeClass& sc = classes_[stack.size];
  --in_use_;
  try {
    std::size_t limit = cache_limit_ - (stack.size == default_size_ ? reserved_ : 0);
    if (sc.warm.size() < limit) {
      sc.warm.push_back(stack);
      return;
    }
    // Keep the address space (and guard) for reuse, give the memory back.
    ::madvise(stack.base, stack.size, MADV_DONTNEED);
    sc.cold.push_back(stack);
  } catch (...) {
    // No memory for the list: the slot stays mapped but unused until teardown.
  }
}

}  // namespace weft::rt
