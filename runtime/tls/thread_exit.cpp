// thread_exit: what glibc's start_thread runs when a thread's function returns, redone for a
// fiber's block.
//
// After the start routine, start_thread calls, in order, __call_tls_dtors (the C++ thread_local
// destructors: call_tls_dtors() here, exported), __nptl_deallocate_tsd (pthread key destructors)
// and __libc_thread_freeres. Since glibc 2.34 the last two are hidden, so on_exit() does their
// work itself, from the layout the probe found:
// - the key destructors: rounds over specific[] as __nptl_deallocate_tsd does (a destructor may
//   set a key again; at most PTHREAD_DESTRUCTOR_ITERATIONS rounds), running a destructor only
//   if the key's sequence number still matches __pthread_keys (a deleted key's data is dropped),
//   then the level-2 blocks other than the first freed;
// - __libc_thread_freeres piece by piece: dlerror() until it returns null (the second call frees
//   __libc_dlerror_result), the strsignal and strerror buffers of tls_state, the resolver's
//   sockets and name server addresses when the fiber used res_ninit (__res_thread_freeres);
// - last, as glibc does (the steps above may call free), malloc's tcache_thread_shutdown: mark
//   the tcache shutting down, detach it, give every cached chunk and the tcache itself back to
//   glibc's free, and forget the borrowed arena. Without this step every fiber that called
//   malloc leaked about 3 KB (the tcache struct and the chunks cached in it).
// Not redone: __rpc_thread_destroy (Sun RPC's per-thread state, compat symbols only) and the
// resolver's context list, which is empty between calls.
//
// Nothing may malloc on the fiber after on_exit(): a new malloc would attach an arena (glibc's
// thread exit has the same rule).
#include <dlfcn.h>
#include <pthread.h>
#include <resolv.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "tls/glibc_layout.hpp"
#include "tls/thread_block.hpp"

namespace weft::rt::tls {

namespace {

void run_key_destructors(const GlibcLayout& g, char* tp) noexcept {
  for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; ++round) {
    bool called = false;
    for (std::size_t i = 0; i < g.key_l1; ++i) {
      char* level2 = at<char*>(tp, g.specific + static_cast<std::ptrdiff_t>(8 * i));
      if (level2 == nullptr) continue;
      for (std::size_t j = 0; j < g.key_l2; ++j) {
        char* data = level2 + j * g.keydata_size;
        void* value = at<void*>(data, static_cast<std::ptrdiff_t>(g.keydata_data));
        if (value == nullptr) continue;
        at<void*>(data, static_cast<std::ptrdiff_t>(g.keydata_data)) = nullptr;
        const char* key = g.pthread_keys + (i * g.key_l2 + j) * g.key_struct_size;
        auto destr = load<void (*)(void*)>(key, static_cast<std::ptrdiff_t>(g.key_destr));
        if (destr != nullptr &&
            load<std::uintptr_t>(data, static_cast<std::ptrdiff_t>(g.keydata_seq)) ==
                load<std::uintptr_t>(key, static_cast<std::ptrdiff_t>(g.key_seq))) {
          destr(value);
          called = true;
        }
      }
    }
    if (!called) break;
  }
  std::memset(tp + g.specific_1st, 0, g.key_l2 * g.keydata_size);
  for (std::size_t i = 1; i < g.key_l1; ++i) {
    char*& level2 = at<char*>(tp, g.specific + static_cast<std::ptrdiff_t>(8 * i));
    std::free(level2);  // pthread_setspecific calloc'ed it
    level2 = nullptr;
  }
}

void free_libc_thread_state(const GlibcLayout& g, char* tp) noexcept {
  while (dlerror() != nullptr) {
  }
  std::free(at<void*>(tp, g.strsignal_buf));
  at<void*>(tp, g.strsignal_buf) = nullptr;
  std::free(at<void*>(tp, g.strerror_buf));
  at<void*>(tp, g.strerror_buf) = nullptr;
  auto res = reinterpret_cast<struct __res_state*>(tp + g.res);
  if (res->nscount != 0) {
    res_nclose(res);
    res->options = 0;
  }
}

// shut_down_tcache() is malloc's tcache_thread_shutdown and the arena half of
// __malloc_arena_thread_freeres, for a thread whose arena was borrowed.
void shut_down_tcache(const GlibcLayout& g, char* tp) noexcept {
  auto tcache = at<char*>(tp, g.tcache);
  at<bool>(tp, g.tcache_shutting_down) = true;  // never make a tcache for this block again
  if (tcache != nullptr) {
    at<char*>(tp, g.tcache) = nullptr;  // from here on free() goes straight to the arena
    auto entries = reinterpret_cast<std::uintptr_t*>(tcache + 2 * kTcacheMaxBins);
    for (std::size_t i = 0; i < kTcacheMaxBins; ++i) {
      std::uintptr_t e = entries[i];
      while (e != 0) {
        // tcache_entry.next is safe-linked: REVEAL_PTR(&next) = (&next >> 12) ^ next.
        auto next_at = reinterpret_cast<std::uintptr_t*>(e);
        std::uintptr_t next = (reinterpret_cast<std::uintptr_t>(next_at) >> 12) ^ *next_at;
        g.libc_free(reinterpret_cast<void*>(e));
        e = next;
      }
      entries[i] = 0;
    }
    g.libc_free(tcache);
  }
  at<void*>(tp, g.thread_arena) = nullptr;
}

}  // namespace

void on_exit() noexcept {
  const GlibcLayout& g = glibc();
  char* tp = current_tp();
  run_key_destructors(g, tp);
  free_libc_thread_state(g, tp);
  if (g.glibc_malloc) shut_down_tcache(g, tp);
}

}  // namespace weft::rt::tls
