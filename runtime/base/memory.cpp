#include "base/memory.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "base/lock.hpp"
#include "base/sanitizer.hpp"
#include "base/sys.hpp"

namespace weft::rt {

#if defined(WEFT_ASAN) || defined(WEFT_TSAN)

void* mem_alloc(std::size_t n) noexcept {
  return std::malloc(n);
}
void mem_free(void* p) noexcept {
  std::free(p);
}
void* mem_realloc(void* p, std::size_t n) noexcept {
  return std::realloc(p, n);
}
std::size_t mem_usable(const void* p) noexcept {
  return malloc_usable_size(const_cast<void*>(p));
}
void mem_after_fork_child() noexcept {}

#else

namespace {

// kHeader is the room before each block's payload: its class, or its mapping's length.
constexpr std::size_t kHeader = 16;
// kMinShift..kMaxShift are the size classes (header included): 32 bytes to 64 KiB.
constexpr unsigned kMinShift = 5;
constexpr unsigned kMaxShift = 16;
constexpr unsigned kClasses = kMaxShift - kMinShift + 1;
// kChunk is how much a class maps at once (at least four blocks of it).
constexpr std::size_t kChunk = std::size_t{64} << 10;
// kLarge marks a header whose block is a mapping of its own; the rest of the word is its length.
constexpr std::uint64_t kLarge = std::uint64_t{1} << 63;

// Free is a free block's payload: the next free block of its class.
struct Free {
  Free* next;
};

// SizeClass is one free list; padded so two classes never share a cache line.
struct alignas(64) SizeClass {
  Lock lock;
  Free* free = nullptr;
};

SizeClass g_classes[kClasses];

std::uint64_t& header(void* block) noexcept {
  return *reinterpret_cast<std::uint64_t*>(block);
}

void* map(std::size_t len) noexcept {
  long r =
      sys::call(SYS_mmap, nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return r < 0 && r > -4096 ? nullptr : reinterpret_cast<void*>(r);
}

unsigned class_of(std::size_t total) noexcept {
  unsigned shift = kMinShift;
  while ((std::size_t{1} << shift) < total) ++shift;
  return shift - kMinShift;
}

// refill() maps a chunk for class c and threads its blocks onto the free list (c's lock held).
bool refill(SizeClass& sc, std::size_t block) noexcept {
  std::size_t len = block * 4 > kChunk ? block * 4 : kChunk;
  auto* base = static_cast<char*>(map(len));
  if (base == nullptr) return false;
  for (std::size_t off = len; off >= block; off -= block) {
    auto* f = reinterpret_cast<Free*>(base + off - block + kHeader);
    f->next = sc.free;
    sc.free = f;
  }
  return true;
}

}  // namespace

void* mem_alloc(std::size_t n) noexcept {
  if (n > (std::size_t{1} << kMaxShift) - kHeader) {
    if (n > (std::size_t{1} << 62)) return nullptr;
    std::size_t len = (n + kHeader + 4095) & ~std::size_t{4095};
    void* block = map(len);
    if (block == nullptr) return nullptr;
    header(block) = kLarge | len;
    return static_cast<char*>(block) + kHeader;
  }
  unsigned c = class_of(n + kHeader);
  SizeClass& sc = g_classes[c];
  sc.lock.lock();
  if (sc.free == nullptr && !refill(sc, std::size_t{1} << (c + kMinShift))) {
    sc.lock.unlock();
    return nullptr;
  }
  Free* f = sc.free;
  sc.free = f->next;
  sc.lock.unlock();
  header(reinterpret_cast<char*>(f) - kHeader) = c;
  return f;
}

void mem_free(void* p) noexcept {
  if (p == nullptr) return;
  char* block = static_cast<char*>(p) - kHeader;
  std::uint64_t h = header(block);
  if ((h & kLarge) != 0) {
    sys::call(SYS_munmap, block, static_cast<std::size_t>(h & ~kLarge));
    return;
  }
  SizeClass& sc = g_classes[h];
  auto* f = static_cast<Free*>(p);
  sc.lock.lock();
  f->next = sc.free;
  sc.free = f;
  sc.lock.unlock();
}

std::size_t mem_usable(const void* p) noexcept {
  if (p == nullptr) return 0;
  std::uint64_t h = *reinterpret_cast<const std::uint64_t*>(static_cast<const char*>(p) - kHeader);
  std::size_t total =
      (h & kLarge) != 0 ? static_cast<std::size_t>(h & ~kLarge) : std::size_t{1} << (h + kMinShift);
  return total - kHeader;
}

void* mem_realloc(void* p, std::size_t n) noexcept {
  if (p == nullptr) return mem_alloc(n);
  std::size_t have = mem_usable(p);
  if (n <= have) return p;
  void* fresh = mem_alloc(n);
  if (fresh == nullptr) return nullptr;
  std::memcpy(fresh, p, have);
  mem_free(p);
  return fresh;
}

void mem_after_fork_child() noexcept {
  for (SizeClass& sc : g_classes) new (&sc.lock) Lock();
}

#endif

}  // namespace weft::rt
