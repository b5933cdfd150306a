#include "fd_flags.hpp"

#include "base/sys.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstdlib>

namespace weft::shim {
namespace {

constexpr int kChunk = 4096;
constexpr int kChunks = kMaxTracked / kChunk;

using Chunk = std::atomic<FdState>[kChunk];
std::atomic<Chunk*> g_chunks[kChunks];

std::atomic<FdState>* slot(int fd, bool create) noexcept {
  if (fd < 0 || fd >= kMaxTracked) return nullptr;
  std::atomic<Chunk*>& top = g_chunks[fd / kChunk];
  Chunk* c = top.load(std::memory_order_acquire);
  if (c == nullptr) {
    if (!create) return nullptr;
    // calloc, not new: zero bytes are kUnknown, and no C++ allocation runs inside libc hooks.
    auto* fresh = static_cast<Chunk*>(std::calloc(1, sizeof(Chunk)));
    if (fresh == nullptr) return nullptr;
    if (top.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
      c = fresh;
    } else {
      std::free(fresh);  // another thread installed it; c holds theirs
    }
  }
  return &(*c)[fd % kChunk];
}

}  // namespace

void fd_set_state(int fd, FdState s) noexcept {
  if (std::atomic<FdState>* p = slot(fd, s != FdState::kUnknown)) {
    p->store(s, std::memory_order_relaxed);
  }
}

void fd_forget(int fd) noexcept {
  fd_set_state(fd, FdState::kUnknown);
}

void fd_forget_range(unsigned first, unsigned last) noexcept {
  if (first >= static_cast<unsigned>(kMaxTracked)) return;
  if (last >= static_cast<unsigned>(kMaxTracked)) last = kMaxTracked - 1;
  // Only the chunks that exist hold anything to forget.
  for (unsigned c = first / kChunk; c <= last / kChunk; ++c) {
    Chunk* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    unsigned lo = c == first / kChunk ? first % kChunk : 0;
    unsigned hi = c == last / kChunk ? last % kChunk : kChunk - 1;
    for (unsigned i = lo; i <= hi; ++i)
      (*chunk)[i].store(FdState::kUnknown, std::memory_order_relaxed);
  }
}

bool fd_nonblocking(int fd) noexcept {
  if (std::atomic<FdState>* p = slot(fd, false)) {
    FdState s = p->load(std::memory_order_relaxed);
    if (s != FdState::kUnknown) return s == FdState::kNonblocking;
  }
  // A raw syscall: this is the shim asking, not the program, and errno must stay untouched.
  long flags = sys::call(SYS_fcntl, fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) != 0;
}

}  // namespace weft::shim
