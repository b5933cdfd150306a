// calibration: the offsets no descriptor names, measured on a real pthread of our own.
//
// glibc describes struct pthread for libthread_db only as far as gdb needs it; the fields a
// thread block must also fill or clean (stackblock, res, tls_state) are not described, and
// malloc's per-thread state (tcache, tcache_shutting_down, thread_arena) is hidden TLS in libc
// with no symbol at all. A libc6-dbg would name them, but no program can count on one.
//
// So the probe starts one pthread (libc's real pthread_create, through sys::thread_hooks()) on a
// stack we mapped, with pthread_attr_setstack: glibc then builds that thread's struct pthread and
// static TLS inside our memory (allocate_stack's user-stack path), where they stay readable after
// pthread_join. The thread makes its state recognisable (a glibc malloc and free of 24 bytes
// leaves the chunk in its tcache's first bin; strerror and strsignal of unknown numbers malloc
// their buffers into tls_state; its stack is a size nobody else uses), snapshots its libc TLS and
// struct pthread, and returns; glibc's start_thread then runs __libc_thread_freeres on it, and
// comparing before with after finds what thread exit clears. Every search must match exactly
// once: zero or two matches refuse, with the field named.
//
// The thread runs with every signal blocked (a program's handler must not run on it), and its
// malloc is glibc's own even where the program brings its own allocator: the tcache being looked
// for is glibc's. Under valgrind, whose malloc replaces glibc's even when called by address, no
// tcache appears; blocks then have no malloc state to set up or shut down.
#include <pthread.h>
#include <resolv.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstdint>
#include <cstring>

#include "base/sys.hpp"
#include "tls/glibc_layout.hpp"
#include "tls/thread_block.hpp"

namespace weft::rt::tls {

namespace {

// kCalibStack is the calibration thread's stack size: 256 KiB and three pages, a size that no
// other word in a fresh struct pthread holds next to the stack's address.
constexpr std::size_t kCalibStack = (std::size_t{256} << 10) + 3 * 4096;
// kScratch is the room after the stack for the snapshots (libc TLS and struct pthread).
constexpr std::size_t kScratch = std::size_t{64} << 10;

// Calib is what the calibration thread reports; it lives in the mapping after the stack.
struct Calib {
  char* tp;
  std::uintptr_t freed;
  std::ptrdiff_t tcache;
  int tcache_matches;
  char* strerror_buf;
  char* strsignal_buf;
  char* libc_before;  // libc_tls_size bytes, just before the thread returned
  char* pd_before;    // tcb_size bytes, just before the thread returned
};

// near() tells whether w may point at the tcache that p was cached in: a 16-byte aligned
// address within 1 MiB of p (in the same heap, tcache_init ran right before p's malloc), so
// that only memory of the thread's heap is read.
bool near(std::uintptr_t w, std::uintptr_t p) noexcept {
  constexpr std::uintptr_t kRange = std::uintptr_t{1} << 20;
  return w != 0 && (w & 15) == 0 && w != p && (w < p ? p - w : w - p) < kRange;
}

// find_tcache() looks in libc's TLS for the pointer to the thread's tcache_perthread_struct,
// which holds p in its first bin.
void find_tcache(Calib& c, const GlibcLayout& g, char* tp) noexcept {
  const std::uintptr_t p = c.freed;
  for (std::size_t o = 0; o + 8 <= g.libc_tls_size; o += 8) {
    auto w = at<std::uintptr_t>(tp, g.libc_tls + static_cast<std::ptrdiff_t>(o));
    if (!near(w, p)) continue;
    auto counts = reinterpret_cast<const std::uint16_t*>(w);
    auto entries = reinterpret_cast<const std::uintptr_t*>(w + 2 * kTcacheMaxBins);
    if (counts[0] >= 1 && entries[0] == p) {
      c.tcache = g.libc_tls + static_cast<std::ptrdiff_t>(o);
      ++c.tcache_matches;
    }
  }
  if (c.tcache_matches != 0) return;
  // A tcache that caches nothing (GLIBC_TUNABLES glibc.malloc.tcache_count=0) is still made:
  // recognise its chunk by the size field before it.
  for (std::size_t o = 0; o + 8 <= g.libc_tls_size; o += 8) {
    auto w = at<std::uintptr_t>(tp, g.libc_tls + static_cast<std::ptrdiff_t>(o));
    if (!near(w, p)) continue;
    if ((*reinterpret_cast<const std::size_t*>(w - 8) & ~std::size_t{7}) == kTcacheStructChunk) {
      c.tcache = g.libc_tls + static_cast<std::ptrdiff_t>(o);
      ++c.tcache_matches;
    }
  }
}

void* calibration_thread(void* arg) {
  auto& c = *static_cast<Calib*>(arg);
  const GlibcLayout& g = glibc();
  char* tp = current_tp();
  c.tp = tp;
  void* p = g.libc_malloc(24);  // makes this thread's tcache, then takes p from the arena
  c.freed = reinterpret_cast<std::uintptr_t>(p);
  g.libc_free(p);  // p is now tcache->entries[0]
  find_tcache(c, g, tp);
  std::memcpy(c.libc_before, tp + g.libc_tls, g.libc_tls_size);
  c.strerror_buf = strerror(1234567);  // an unknown errno: tls_state.strerror_l_buf
  c.strsignal_buf = strsignal(4321);   // an unknown signal: tls_state.strsignal_buf
  std::memcpy(c.pd_before, tp, g.tcb_size);
  return nullptr;
}

bool run_thread(Calib& c, char* stack, Why& why) noexcept {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return refuse(why, "calibration: pthread_attr_init failed");
  pthread_attr_setstack(&attr, stack, kCalibStack);
  sigset_t old;
  sys::block_all_signals(&old);
  pthread_t thread;
  int r = sys::thread_hooks().create(&thread, &attr, calibration_thread, &c);
  sys::set_signal_mask(old);
  pthread_attr_destroy(&attr);
  if (r != 0) return refuse(why, "calibration: pthread_create failed (%d)", r);
  sys::thread_hooks().join(thread, nullptr);
  if (reinterpret_cast<char*>(thread) != c.tp) {
    return refuse(why, "calibration: a pthread_t is not its thread pointer");
  }
  return true;
}

// find_in_pd() finds the fields of struct pthread the calibration thread left recognisable.
bool find_in_pd(GlibcLayout& g, const Calib& c, char* stack, Why& why) noexcept {
  const std::size_t words = g.tcb_size / 8;
  auto word = [&](std::size_t i) { return load<std::uintptr_t>(c.pd_before, i * 8); };
  int stackblocks = 0, strerrors = 0, strsignals = 0;
  for (std::size_t i = kTcbHeadSize / 8; i < words; ++i) {
    if (i + 1 < words && word(i) == reinterpret_cast<std::uintptr_t>(stack) &&
        word(i + 1) == kCalibStack) {
      g.stackblock = static_cast<std::ptrdiff_t>(i * 8);
      ++stackblocks;
    }
    if (word(i) == reinterpret_cast<std::uintptr_t>(c.strerror_buf)) {
      g.strerror_buf = static_cast<std::ptrdiff_t>(i * 8);
      ++strerrors;
    }
    if (word(i) == reinterpret_cast<std::uintptr_t>(c.strsignal_buf)) {
      g.strsignal_buf = static_cast<std::ptrdiff_t>(i * 8);
      ++strsignals;
    }
  }
  if (stackblocks != 1) {
    return refuse(why, "calibration: stackblock matched %d places in struct pthread, not 1",
                  stackblocks);
  }
  if (strerrors != 1 || strsignals != 1 || g.strerror_buf - g.strsignal_buf != 8) {
    return refuse(why, "calibration: cannot find tls_state's strsignal and strerror buffers");
  }
  // start_thread set the thread's __resp to its own pd->res.
  auto resp = load<std::uintptr_t>(c.libc_before, g.resp - g.libc_tls);
  auto tp = reinterpret_cast<std::uintptr_t>(c.tp);
  if (resp <= tp || resp + sizeof(struct __res_state) > tp + g.tcb_size) {
    return refuse(why, "calibration: a pthread's __resp does not point into its struct pthread");
  }
  g.res = static_cast<std::ptrdiff_t>(resp - tp);
  return true;
}

// find_exit_cleared() compares libc's TLS before and after thread exit: tcache went to 0,
// tcache_shutting_down is the one byte that went from 0 to 1, thread_arena the one other word
// that went to 0.
bool find_exit_cleared(GlibcLayout& g, const Calib& c, Why& why) noexcept {
  if (c.tcache_matches != 1) {
    return refuse(why, "calibration: malloc's tcache matched %d words of libc's TLS, not 1",
                  c.tcache_matches);
  }
  g.tcache = c.tcache;
  const char* after = c.tp + g.libc_tls;
  const auto tcache_at = static_cast<std::size_t>(g.tcache - g.libc_tls);
  if (load<std::uintptr_t>(after, static_cast<std::ptrdiff_t>(tcache_at)) != 0) {
    return refuse(why, "calibration: thread exit did not clear malloc's tcache");
  }
  int flags = 0, arenas = 0;
  for (std::size_t o = 0; o < g.libc_tls_size; ++o) {
    if (c.libc_before[o] == 0 && after[o] == 1) {
      g.tcache_shutting_down = g.libc_tls + static_cast<std::ptrdiff_t>(o);
      ++flags;
    }
  }
  for (std::size_t o = 0; o + 8 <= g.libc_tls_size; o += 8) {
    auto off = static_cast<std::ptrdiff_t>(o);
    if (o != tcache_at && load<std::uintptr_t>(c.libc_before, off) != 0 &&
        load<std::uintptr_t>(after, off) == 0) {
      g.thread_arena = g.libc_tls + off;
      ++arenas;
    }
  }
  if (flags != 1) {
    return refuse(why, "calibration: tcache_shutting_down matched %d bytes, not 1", flags);
  }
  if (arenas != 1) return refuse(why, "calibration: thread_arena matched %d words, not 1", arenas);
  return true;
}

}  // namespace

bool calibrate(Why& why) noexcept {
  GlibcLayout& g = glibc();
  if (g.libc_tls_size + g.tcb_size > kScratch) {
    return refuse(why, "calibration: libc's TLS and struct pthread do not fit the scratch area");
  }
  const std::size_t len = kCalibStack + kScratch;
  long m =
      sys::call(SYS_mmap, nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m < 0 && m > -4096) return refuse(why, "calibration: mmap failed (%ld)", m);
  auto stack = reinterpret_cast<char*>(m);
  auto& c = *reinterpret_cast<Calib*>(stack + kCalibStack);
  c = Calib{};
  c.libc_before = stack + kCalibStack + sizeof(Calib);
  c.pd_before = c.libc_before + ((g.libc_tls_size + 15) & ~std::size_t{15});
  bool ok = run_thread(c, stack, why);
  if (ok && (c.tp <= stack || c.tp + g.tcb_size > stack + kCalibStack)) {
    ok = refuse(why, "calibration: a user-stack thread's TCB is not inside its stack");
  }
  if (ok && at<int>(current_tp(), kTcbMultipleThreads) != 1) {
    ok = refuse(why, "header.multiple_threads (%%fs:0x18) is not 1 after pthread_create");
  }
  // valgrind's malloc replaces glibc's wholesale: no thread has a glibc tcache to find.
  g.glibc_malloc = !(ok && c.tcache_matches == 0 && under_valgrind());
  ok = ok && (!g.glibc_malloc || find_exit_cleared(g, c, why)) && find_in_pd(g, c, stack, why);
  sys::call(SYS_munmap, stack, len);
  return ok;
}

}  // namespace weft::rt::tls
