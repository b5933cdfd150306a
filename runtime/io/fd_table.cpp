#include "io/fd_table.hpp"

#include <sys/resource.h>
#include <algorithm>
#include <memory>
#include <new>

#include "base/memory.hpp"

namespace weft::rt {
namespace {

std::size_t fd_limit() noexcept {
  // 2^20 is the kernel's default fs.nr_open, the ceiling of RLIMIT_NOFILE; a larger hard limit
  // (raised nr_open) is honoured as it stood when the run began.
  constexpr std::size_t kDefault = std::size_t{1} << 20;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_max == RLIM_INFINITY) return kDefault;
  return std::max<std::size_t>(kDefault, static_cast<std::size_t>(lim.rlim_max));
}

}  // namespace

FdTable::FdTable() : limit_(fd_limit()), chunks_(nullptr) {
  std::size_t n = (limit_ + kChunk - 1) / kChunk;
  chunks_ = MemAllocator<std::atomic<FdEntry*>>().allocate(n);
  std::uninitialized_value_construct_n(chunks_, n);
}

FdTable::~FdTable() {
  for (std::size_t i = 0; i < (limit_ + kChunk - 1) / kChunk; ++i) {
    FdEntry* chunk = chunks_[i].load(std::memory_order_relaxed);
    if (chunk == nullptr) continue;
    std::destroy_n(chunk, kChunk);
    mem_free(chunk);
  }
  mem_free(chunks_);
}

FdEntry* FdTable::find(int fd) {
  if (fd < 0 || static_cast<std::size_t>(fd) >= limit_) return nullptr;
  auto i = static_cast<std::size_t>(fd);
  std::atomic<FdEntry*>& slot = chunks_[i / kChunk];
  FdEntry* chunk = slot.load(std::memory_order_acquire);
  if (chunk == nullptr) {
    FdEntry* fresh = MemAllocator<FdEntry>().allocate(kChunk);
    std::uninitialized_value_construct_n(fresh, kChunk);
    if (slot.compare_exchange_strong(chunk, fresh, std::memory_order_acq_rel)) {
      chunk = fresh;
    } else {
      std::destroy_n(fresh, kChunk);  // another carrier installed the chunk first
      mem_free(fresh);
    }
  }
  return &chunk[i % kChunk];
}

void FdTable::after_fork_child() noexcept {
  for (PaddedLock& l : locks_) new (&l.lock) Lock();
  for (std::size_t i = 0; i < (limit_ + kChunk - 1) / kChunk; ++i) {
    FdEntry* chunk = chunks_[i].load(std::memory_order_relaxed);
    if (chunk == nullptr) continue;
    // A closing entry belonged to a close() of the parent's: the child's fd is still open.
    for (std::size_t k = 0; k < kChunk; ++k) {
      chunk[k].~FdEntry();
      new (&chunk[k]) FdEntry();
    }
  }
}

namespace {

std::atomic<FdTable*> g_table{nullptr};

}  // namespace

FdTable& fd_table() {
  FdTable* t = g_table.load(std::memory_order_acquire);
  if (t != nullptr) [[likely]]
    return *t;
  FdTable* made = mem_new<FdTable>();
  if (made == nullptr) throw std::bad_alloc();
  if (g_table.compare_exchange_strong(t, made, std::memory_order_acq_rel)) return *made;
  mem_delete(made);  // another thread made the table first; t now holds it
  return *t;
}

void fd_table_after_fork_child() noexcept {
  if (FdTable* t = g_table.load(std::memory_order_relaxed)) t->after_fork_child();
}

}  // namespace weft::rt
