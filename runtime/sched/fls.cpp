#include "sched/fls.hpp"

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <utility>

#include <weft/fiber_local.hpp>

#include "base/lock.hpp"
#include "sched/park.hpp"

namespace weft::rt {
namespace {

// Key is one entry of the process-wide key table.
struct Key {
  // gen is odd while the key exists; each create and delete adds one.
  std::atomic<std::uint64_t> gen{0};
  std::atomic<void (*)(void*)> dtor{nullptr};
};

// Slot is one fiber's value for one key, with the key generation it was set under.
struct Slot {
  void* value;
  std::uint64_t gen;
};

// Block is a fiber's (or thread's) slots: a size, then that many Slots, in one allocation.
struct Block {
  std::size_t size;
  Slot* slots() noexcept { return reinterpret_cast<Slot*>(this + 1); }
};

Key g_keys[kFlsKeys];
Lock g_keys_lock;

// The calling thread's slots, for callers that are no fiber. ThreadExit runs their destructors
// when the thread exits; it is armed (constructed, so registered) with the first block only.
constinit thread_local Block* tls_block = nullptr;

void run_destructors(Block** home) noexcept;
void run_destructor_rounds(Block** home) noexcept;

struct ThreadExit {
  bool armed = false;
  ~ThreadExit() { run_destructors(&tls_block); }
};
thread_local ThreadExit tls_exit;

Block** home() noexcept {
  FiberControl* f = running_fiber();
  return f != nullptr ? reinterpret_cast<Block**>(&f->fls_) : &tls_block;
}

// run_destructor_rounds() runs pthread's exit rounds on the slots at *home: each non-null value
// whose key has a destructor is set to null and passed to it. Values of keys without one stay
// (pthread leaves them alone), so a destructor may still read them (the shim keeps a thread's
// own record in one).
void run_destructor_rounds(Block** home) noexcept {
  for (int round = 0; round < kFlsDestructorIterations; ++round) {
    bool called = false;
    // Re-read the block every step: a destructor may set a value and so grow (move) it.
    for (std::size_t i = 0; *home != nullptr && i < (*home)->size; ++i) {
      Slot& s = (*home)->slots()[i];
      if (s.value == nullptr) continue;
      if (s.gen != g_keys[i].gen.load(std::memory_order_acquire)) continue;  // key deleted
      void (*dtor)(void*) = g_keys[i].dtor.load(std::memory_order_acquire);
      if (dtor == nullptr) continue;
      called = true;
      dtor(std::exchange(s.value, nullptr));
    }
    if (!called) break;
  }
}

void run_destructors(Block** home) noexcept {
  run_destructor_rounds(home);
  // Values set again during the last round are dropped, as pthread does.
  std::free(std::exchange(*home, nullptr));
}

}  // namespace

int fls_create(void (*dtor)(void*)) noexcept {
  std::lock_guard<Lock> hold(g_keys_lock);
  for (int i = 0; i < kFlsKeys; ++i) {
    std::uint64_t gen = g_keys[i].gen.load(std::memory_order_relaxed);
    if ((gen & 1) != 0) continue;
    g_keys[i].dtor.store(dtor, std::memory_order_relaxed);
    g_keys[i].gen.store(gen + 1, std::memory_order_release);
    return i;
  }
  return -EAGAIN;
}

int fls_delete(int key) noexcept {
  if (key < 0 || key >= kFlsKeys) return -EINVAL;
  std::lock_guard<Lock> hold(g_keys_lock);
  std::uint64_t gen = g_keys[key].gen.load(std::memory_order_relaxed);
  if ((gen & 1) == 0) return -EINVAL;
  g_keys[key].dtor.store(nullptr, std::memory_order_relaxed);
  g_keys[key].gen.store(gen + 1, std::memory_order_release);
  return 0;
}

void* fls_get(int key) noexcept {
  if (key < 0 || key >= kFlsKeys) return nullptr;
  Block* b = *home();
  if (b == nullptr || static_cast<std::size_t>(key) >= b->size) return nullptr;
  Slot& s = b->slots()[key];
  if (s.gen != g_keys[key].gen.load(std::memory_order_acquire)) return nullptr;
  return s.value;
}

int fls_set(int key, const void* value) noexcept {
  if (key < 0 || key >= kFlsKeys) return -EINVAL;
  std::uint64_t gen = g_keys[key].gen.load(std::memory_order_acquire);
  if ((gen & 1) == 0) return -EINVAL;
  Block** h = home();
  Block* b = *h;
  if (b == nullptr || static_cast<std::size_t>(key) >= b->size) {
    if (value == nullptr) return 0;  // unset already reads as null
    std::size_t old_size = b != nullptr ? b->size : 0;
    std::size_t size = 8;
    while (size <= static_cast<std::size_t>(key)) size *= 2;
    void* mem = std::realloc(b, sizeof(Block) + size * sizeof(Slot));
    if (mem == nullptr) return -ENOMEM;
    b = static_cast<Block*>(mem);
    std::memset(static_cast<void*>(b->slots() + old_size), 0, (size - old_size) * sizeof(Slot));
    b->size = size;
    // A thread block made after the thread's ThreadExit ran (from a later thread_local's
    // destructor) is leaked: nothing is left to free it.
    if (h == &tls_block && old_size == 0) tls_exit.armed = true;
    *h = b;
  }
  b->slots()[key] = Slot{const_cast<void*>(value), gen};
  return 0;
}

void fls_run_destructors(FiberControl* f) noexcept {
  run_destructors(reinterpret_cast<Block**>(&f->fls_));
}

void fls_after_fork_child() noexcept {
  new (&g_keys_lock) Lock();
}

}  // namespace weft::rt

namespace weft::detail {

int fls_create(void (*dtor)(void*)) noexcept {
  return rt::fls_create(dtor);
}

int fls_delete(int key) noexcept {
  return rt::fls_delete(key);
}

void* fls_get(int key) noexcept {
  return rt::fls_get(key);
}

int fls_set(int key, const void* value) noexcept {
  return rt::fls_set(key, value);
}

void fls_run_exit_destructors() noexcept {
  rt::run_destructor_rounds(rt::home());
}

}  // namespace weft::detail
