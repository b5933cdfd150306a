#include "sock_timeouts.hpp"

#include "base/sys.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>

#include "fd_flags.hpp"

namespace weft::shim {
namespace {

// Entry values: 0 no timeout, kAsk ask the kernel, else the timeout in nanoseconds.
constexpr std::int64_t kAsk = -1;

struct Entry {
  std::atomic<std::int64_t> ns[2];
};

constexpr int kChunk = 4096;
constexpr int kChunks = kMaxTracked / kChunk;
std::atomic<Entry*> g_chunks[kChunks];
std::atomic<bool> g_in_use{false};

Entry* entry(int fd, bool create) noexcept {
  if (fd < 0 || fd >= kMaxTracked) return nullptr;
  std::atomic<Entry*>& top = g_chunks[fd / kChunk];
  Entry* c = top.load(std::memory_order_acquire);
  if (c == nullptr) {
    if (!create) return nullptr;
    auto* fresh = static_cast<Entry*>(std::calloc(kChunk, sizeof(Entry)));
    if (fresh == nullptr) return nullptr;
    if (top.compare_exchange_strong(c, fresh, std::memory_order_acq_rel)) {
      c = fresh;
    } else {
      std::free(fresh);
    }
  }
  return &c[fd % kChunk];
}

std::int64_t ask_kernel(int fd, Direction d) noexcept {
  timeval tv{};
  socklen_t len = sizeof tv;
  long r = sys::call(SYS_getsockopt, fd, SOL_SOCKET,
                     d == Direction::kRecv ? SO_RCVTIMEO : SO_SNDTIMEO, &tv, &len);
  if (r != 0) return 0;  // not a socket: no timeout
  return std::int64_t{tv.tv_sec} * 1000000000 + std::int64_t{tv.tv_usec} * 1000;
}

}  // namespace

void timeout_set(int fd, Direction d, const timeval& tv) noexcept {
  std::int64_t ns = std::int64_t{tv.tv_sec} * 1000000000 + std::int64_t{tv.tv_usec} * 1000;
  if (ns != 0) g_in_use.store(true, std::memory_order_relaxed);
  Entry* e = entry(fd, ns != 0);
  if (e == nullptr) return;
  // An fd that shares its socket keeps asking the kernel, which now has the new value.
  std::int64_t old = e->ns[static_cast<int>(d)].load(std::memory_order_relaxed);
  if (old != kAsk) e->ns[static_cast<int>(d)].store(ns, std::memory_order_relaxed);
}

void timeout_forget(int fd) noexcept {
  if (Entry* e = entry(fd, false)) {
    e->ns[0].store(0, std::memory_order_relaxed);
    e->ns[1].store(0, std::memory_order_relaxed);
  }
}

void timeout_forget_range(unsigned first, unsigned last) noexcept {
  if (!g_in_use.load(std::memory_order_relaxed) || first >= static_cast<unsigned>(kMaxTracked)) {
    return;
  }
  if (last >= static_cast<unsigned>(kMaxTracked)) last = kMaxTracked - 1;
  for (unsigned c = first / kChunk; c <= last / kChunk; ++c) {
    Entry* chunk = g_chunks[c].load(std::memory_order_acquire);
    if (chunk == nullptr) continue;
    unsigned lo = c == first / kChunk ? first % kChunk : 0;
    unsigned hi = c == last / kChunk ? last % kChunk : kChunk - 1;
    for (unsigned i = lo; i <= hi; ++i) {
      chunk[i].ns[0].store(0, std::memory_order_relaxed);
      chunk[i].ns[1].store(0, std::memory_order_relaxed);
    }
  }
}

void timeout_shared(int a, int b) noexcept {
  for (int fd : {a, b}) {
    if (Entry* e = entry(fd, true)) {
      e->ns[0].store(kAsk, std::memory_order_relaxed);
      e->ns[1].store(kAsk, std::memory_order_relaxed);
    }
  }
}

void timeout_inherit(int listener, int accepted) noexcept {
  Entry* from = entry(listener, false);
  if (from == nullptr) {
    timeout_forget(accepted);
    return;
  }
  for (int i = 0; i < 2; ++i) {
    std::int64_t ns = from->ns[i].load(std::memory_order_relaxed);
    // The accepted socket is a socket of its own: a shared listener's value is copied as is.
    if (ns == kAsk) ns = ask_kernel(listener, static_cast<Direction>(i));
    Entry* to = entry(accepted, ns != 0);
    if (to != nullptr) to->ns[i].store(ns, std::memory_order_relaxed);
  }
}

weft::Deadline timeout_deadline(int fd, Direction d) noexcept {
  if (!g_in_use.load(std::memory_order_relaxed)) return {};
  Entry* e = entry(fd, false);
  if (e == nullptr) return {};
  std::int64_t ns = e->ns[static_cast<int>(d)].load(std::memory_order_relaxed);
  if (ns == kAsk) ns = ask_kernel(fd, d);
  if (ns <= 0) return {};
  return weft::Deadline(std::chrono::nanoseconds(ns));
}

bool timed_out(long r, const weft::Deadline& d) noexcept {
  // A kernel ETIMEDOUT (a connect whose SYNs went unanswered) comes before the deadline.
  return r == -ETIMEDOUT && d.is_set() && weft::Clock::now() >= d.at();
}

}  // namespace weft::shim
