#include "sched/fls.hpp"

#include <pthread.h>
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
#include "base/memory.hpp"
#include "base/sys.hpp"
#include "sched/park.hpp"
#include "tls/thread_block.hpp"

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

// The calling thread's slots, for callers that are no fiber. run_destructors() runs at the
// thread's exit through a libc key (arm_thread_exit()), not a thread_local with a destructor: that
// would be registered with __cxa_thread_atexit, which allocates with the program's malloc, and a
// thread's first block may be made from inside that malloc (jemalloc and mimalloc set a key of
// their own while they set a thread up).
constinit thread_local Block* tls_block __attribute__((tls_model("initial-exec"))) = nullptr;
// tls_armed: libc holds tls_block under g_exit_key, so it calls thread_exit() at the exit.
constinit thread_local bool tls_armed __attribute__((tls_model("initial-exec"))) = false;
// tls_arming: this thread is inside arm_thread_exit().
constinit thread_local bool tls_arming __attribute__((tls_model("initial-exec"))) = false;
std::atomic<int> g_exit_key{-1};

void run_destructors(Block** home) noexcept;
void run_destructor_rounds(Block** home) noexcept;

void thread_exit(void*) noexcept {
  tls_armed = false;  // libc has dropped its value
  run_destructors(&tls_block);
}

// arm_thread_exit() has libc call thread_exit() when the calling thread exits with tls_block set.
// Under the shim, pthread_key_create and pthread_setspecific are the shim's own hooks until its
// constructor points sys::thread_hooks() at libc's (other libraries' constructors run first, and
// an allocator may set a key in them); a call that comes back here through a hook is refused
// (fls_create() sees tls_arming), and the block is armed by a later fls_set() instead.
void arm_thread_exit() noexcept {
  tls_arming = true;
  int key = g_exit_key.load(std::memory_order_acquire);
  pthread_key_t made;
  if (key < 0 && sys::thread_hooks().key_create(&made, &thread_exit) == 0) {
    int none = -1;
    // A thread that lost the race leaks its libc key: one of PTHREAD_KEYS_MAX, once.
    key = g_exit_key.compare_exchange_strong(none, static_cast<int>(made)) ? static_cast<int>(made)
                                                                           : none;
  }
  if (key >= 0) {
    tls_armed = sys::thread_hooks().set_specific(static_cast<pthread_key_t>(key), tls_block) == 0;
  }
  tls_arming = false;
}

Block** home() noexcept {
  FiberControl* f = running_fiber();
  return f != nullptr ? reinterpret_cast<Block**>(&f->fls_) : &tls_block;
}

// run_destructor_rounds() runs pthread's exit rounds on the slots at *home: each non-null value
// whose key has a destructor is set to null and passed to it. Values of keys without one stay
// (pthread leaves them alone), so a destructor may still read them.
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
  mem_free(std::exchange(*home, nullptr));
}

}  // namespace

int fls_create(void (*dtor)(void*)) noexcept {
  if (tls_arming) return -EAGAIN;  // the runtime's own libc key reached the shim's hook
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

namespace {

// get_in() is the value for key in the slots at h.
void* get_in(Block** h, int key) noexcept {
  if (key < 0 || key >= kFlsKeys) return nullptr;
  Block* b = *h;
  if (b == nullptr || static_cast<std::size_t>(key) >= b->size) return nullptr;
  Slot& s = b->slots()[key];
  if (s.gen != g_keys[key].gen.load(std::memory_order_acquire)) return nullptr;
  return s.value;
}

// set_in() sets the value for key in the slots at h, growing them.
int set_in(Block** h, int key, const void* value) noexcept {
  if (key < 0 || key >= kFlsKeys) return -EINVAL;
  std::uint64_t gen = g_keys[key].gen.load(std::memory_order_acquire);
  if ((gen & 1) == 0) return -EINVAL;
  Block* b = *h;
  if (b == nullptr || static_cast<std::size_t>(key) >= b->size) {
    if (value == nullptr) return 0;  // unset already reads as null
    Block* old = b;
    std::size_t old_size = b != nullptr ? b->size : 0;
    std::size_t size = 8;
    while (size <= static_cast<std::size_t>(key)) size *= 2;
    void* mem = mem_realloc(b, sizeof(Block) + size * sizeof(Slot));
    if (mem == nullptr) return -ENOMEM;
    b = static_cast<Block*>(mem);
    std::memset(static_cast<void*>(b->slots() + old_size), 0, (size - old_size) * sizeof(Slot));
    b->size = size;
    *h = b;
    if (h == &tls_block) tls_armed = tls_armed && b == old;  // libc holds the old address
  }
  b->slots()[key] = Slot{const_cast<void*>(value), gen};
  // Also for a block made while the thread exits (from another key's destructor): libc then
  // calls thread_exit() in its next round.
  if (h == &tls_block && !tls_armed && !tls_arming) arm_thread_exit();
  return 0;
}

}  // namespace

void* fls_get(int key) noexcept {
  return get_in(home(), key);
}

int fls_set(int key, const void* value) noexcept {
  return set_in(home(), key, value);
}

// thread_home() is the slots of the caller's thread: a fiber with its own glibc thread is one,
// like its __thread data; any other caller's are the OS thread's.
Block** thread_home() noexcept {
  FiberControl* f = running_fiber();
  return f != nullptr && f->tls_ != nullptr ? reinterpret_cast<Block**>(&f->fls_) : &tls_block;
}

void* fls_get_thread(int key) noexcept {
  return get_in(thread_home(), key);
}

int fls_set_thread(int key, const void* value) noexcept {
  return set_in(thread_home(), key, value);
}

void* fls_owner() noexcept {
  FiberControl* f = running_fiber();
  return f != nullptr ? f->owner_ : nullptr;
}

void fls_set_owner(void* owner) noexcept {
  running_fiber()->owner_ = owner;
}

void fls_run_destructors(FiberControl* f) noexcept {
  run_destructors(reinterpret_cast<Block**>(&f->fls_));
}

void fiber_exit_storage(FiberControl* f) noexcept {
  if (f->tls_ != nullptr && !f->tls_ended_) tls::call_tls_dtors();
  if (f->fls_ != nullptr) run_destructors(reinterpret_cast<Block**>(&f->fls_));
  if (f->tls_ != nullptr && !f->tls_ended_) {
    f->tls_ended_ = true;
    tls::on_exit();
  }
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

}  // namespace weft::detail
