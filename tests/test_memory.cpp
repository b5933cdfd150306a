// test_memory: the runtime's own heap (runtime/base/memory.hpp), which every structure the runtime
// keeps on a carrier comes from, so that the program's malloc never runs inside a hook or a
// carrier's scheduler.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/memory.hpp"

namespace {

using weft::rt::mem_alloc;
using weft::rt::mem_free;
using weft::rt::mem_realloc;
using weft::rt::mem_usable;

// fill() writes a pattern that names the block, so an overlap with another block shows.
void fill(void* p, std::size_t n, unsigned tag) {
  auto* b = static_cast<unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<unsigned char>(tag + i * 7);
}

bool intact(const void* p, std::size_t n, unsigned tag) {
  auto* b = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < n; ++i) {
    if (b[i] != static_cast<unsigned char>(tag + i * 7)) return false;
  }
  return true;
}

TEST(Memory, BlocksAreAlignedLargeEnoughAndApart) {
  const std::size_t sizes[] = {0,    1,     15,    16,    17,     100,    1000,
                               4096, 65000, 65520, 65536, 200000, 1 << 20};
  std::vector<std::pair<void*, std::size_t>> blocks;
  unsigned tag = 0;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t n : sizes) {
      void* p = mem_alloc(n);
      ASSERT_NE(p, nullptr) << n;
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 16, 0u) << n;
      EXPECT_GE(mem_usable(p), n);
      fill(p, n, tag++);
      blocks.emplace_back(p, n);
    }
  }
  tag = 0;
  for (auto [p, n] : blocks) EXPECT_TRUE(intact(p, n, tag++)) << n;
  for (auto [p, n] : blocks) mem_free(p);
  mem_free(nullptr);
}

TEST(Memory, ReallocKeepsTheContents) {
  void* p = mem_realloc(nullptr, 10);
  ASSERT_NE(p, nullptr);
  fill(p, 10, 3);
  for (std::size_t n : {20u, 100u, 5000u, 70000u, 300000u}) {
    p = mem_realloc(p, n);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(intact(p, 10, 3)) << n;
  }
  void* same = mem_realloc(p, 5);
  ASSERT_NE(same, nullptr);
  EXPECT_TRUE(intact(same, 5, 3));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // Weft memory keeps the block when it shrinks (the sanitizers' realloc moves it).
  EXPECT_EQ(same, p);
#endif
  mem_free(same);
}

TEST(Memory, FreedBlocksAreReused) {
  // Many rounds of the same sizes must not keep taking new memory: the free lists serve them.
  std::vector<void*> first;
  for (int i = 0; i < 100; ++i) first.push_back(mem_alloc(48));
  for (void* p : first) mem_free(p);
  std::vector<void*> second;
  for (int i = 0; i < 100; ++i) second.push_back(mem_alloc(48));
  std::size_t reused = 0;
  for (void* p : second) {
    for (void* q : first) reused += p == q;
  }
  for (void* p : second) mem_free(p);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  EXPECT_EQ(reused, 100u);
#endif
}

TEST(Memory, ThreadsAllocateAndFreeAtOnce) {
  constexpr int kThreads = 4;
  std::atomic<int> broken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &broken] {
      std::vector<std::pair<void*, std::size_t>> held;
      std::uint32_t seed = 12345u + static_cast<std::uint32_t>(t);
      for (int i = 0; i < 20000; ++i) {
        seed = seed * 1103515245u + 12345u;
        std::size_t n = (seed >> 8) % (i % 50 == 0 ? 100000 : 600);
        void* p = mem_alloc(n);
        if (p == nullptr) {
          ++broken;
          return;
        }
        fill(p, n, static_cast<unsigned>(t * 31 + n));
        held.emplace_back(p, n);
        if (held.size() > 64 || (seed & 1) != 0) {
          auto [q, m] = held[(seed >> 4) % held.size()];
          if (!intact(q, m, static_cast<unsigned>(t * 31 + m))) ++broken;
          mem_free(q);
          held[(seed >> 4) % held.size()] = held.back();
          held.pop_back();
        }
      }
      for (auto [q, m] : held) {
        if (!intact(q, m, static_cast<unsigned>(t * 31 + m))) ++broken;
        mem_free(q);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(broken.load(), 0);
}

TEST(Memory, StandardContainersUseIt) {
  std::vector<int, weft::rt::MemAllocator<int>> v;
  for (int i = 0; i < 100000; ++i) v.push_back(i);
  EXPECT_EQ(v[99999], 99999);
  std::unordered_map<int, int, std::hash<int>, std::equal_to<int>,
                     weft::rt::MemAllocator<std::pair<const int, int>>>
      m;
  for (int i = 0; i < 1000; ++i) m[i] = i * 2;
  EXPECT_EQ(m[500], 1000);
  struct Thing {
    explicit Thing(int v) : value(v) {}
    int value;
  };
  Thing* t = weft::rt::mem_new<Thing>(42);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->value, 42);
  weft::rt::mem_delete(t);
}

}  // namespace
