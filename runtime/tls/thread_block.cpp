// thread_block: building a fiber's glibc thread, switching to it, and freeing it.
//
// create() does for a fiber what nptl's allocate_stack and pthread_create do for a thread whose
// stack the program supplied (pthread_attr_setstack), in the same arithmetic: struct pthread at
// the top of the memory, aligned down to the static TLS alignment; the static TLS of every module
// right below it (copied from the modules' images, with a DTV, by ld.so's _dl_allocate_tls);
// our ThreadBlock record below that; the fiber's frames below the record. Then the fields of
// struct pthread that glibc's own code reads on a thread, each of which was seen to break
// something when left zero (the prototype's report in docs/design.md lists what):
// - tcbhead_t: the self pointers, multiple_threads = 1 (libc's catomic_* drop their lock prefix
//   at 0), the stack guard and pointer guard of the process (a protected function that changes
//   %fs and returns checks the new TCB's canary; exit() on a fiber demangles atexit handlers
//   mangled on the main thread), feature_1;
// - a unique fake tid, 0x40000000 | n, above the kernel's PID_MAX_LIMIT: recursive and
//   errorcheck mutexes (ld.so's dl_load_lock among them) and stdio's FILE locks tell owners
//   apart by it, so two fibers of one carrier must not share one; anything that hands it to the
//   kernel (pthread_getattr_np, affinity, pthread_kill of another thread) gets ESRCH instead,
//   and the shim interposes those for fiber threads;
// - list self-linked (fork's reclaim_stacks unlinks the calling thread's), the robust list as
//   allocate_stack sets it, specific[0] at specific_1stblock, the scheduling policy copied;
// - stackblock = the fiber's stack (pthread_getattr_np, __libc_alloca_cutoff);
// - rseq_area.cpu_id = RSEQ_CPU_ID_REGISTRATION_FAILED: the kernel updates only the carrier's
//   area, so sched_getcpu() must ask the vDSO;
// - in libc's TLS, __resp = &pd->res (start_thread does it) and malloc's thread_arena = the
//   creator's (the fiber borrows it: no attach, so nothing to detach at exit).
// Blocks are linked in a registry under a Lock, for after_dlopen().
//
// set_tp() is the switch itself: wrfsbase (a few cycles) where the kernel enabled FSGSBASE and
// valgrind is not running us, else arch_prctl(ARCH_SET_FS) (a system call, ~90 ns).
#include <link.h>
#include <sys/syscall.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "base/list.hpp"
#include "base/lock.hpp"
#include "base/sys.hpp"
#include "tls/glibc_layout.hpp"
#include "tls/thread_block.hpp"

#if defined(__x86_64__)
#include <asm/prctl.h>
#endif

namespace weft::rt::tls {

namespace {

// kMinStack is the least room create() leaves for the fiber's frames.
constexpr std::size_t kMinStack = 4096;
// kFakeTidBase marks the tids create() makes up: above the kernel's PID_MAX_LIMIT (2^22).
constexpr std::uint32_t kFakeTidBase = 0x40000000u;

bool g_wrfsbase = false;
std::atomic<std::uint32_t> g_created{0};

// BlockList is a list of blocks, linked both ways.
using BlockList = List<ThreadBlock, &ThreadBlock::next, &ThreadBlock::prev>;

// Registry is the list of live blocks, for after_dlopen().
struct Registry {
  Lock lock;
  BlockList blocks;
  std::uint64_t newest = 0;  // the highest generation a block was made at
};

Registry& registry() noexcept {
  static Registry r;
  return r;
}

[[noreturn]] void die(const char* msg) noexcept {
  sys::write_stderr(msg);
  std::abort();
}

void init_tcb(const GlibcLayout& g, char* tp, char* stack_lo, char* stack_hi) noexcept {
  char* me = current_tp();
  at<char*>(tp, kTcbSelfPtr) = tp;
  at<char*>(tp, kTcbSelf) = tp;
  at<int>(tp, kTcbMultipleThreads) = 1;
  at<std::uintptr_t>(tp, kTcbStackGuard) = at<std::uintptr_t>(me, kTcbStackGuard);
  at<std::uintptr_t>(tp, kTcbPointerGuard) = at<std::uintptr_t>(me, kTcbPointerGuard);
  at<std::uint32_t>(tp, kTcbFeature1) = at<std::uint32_t>(me, kTcbFeature1);

  char* list = tp + g.list;
  at<char*>(list, g.list_next) = list;
  at<char*>(list, g.list_prev) = list;
  std::uint32_t n = g_created.fetch_add(1, std::memory_order_relaxed);
  at<pid_t>(tp, g.tid) = static_cast<pid_t>(kFakeTidBase | (n & (kFakeTidBase - 1)));
  at<char*>(tp, g.specific) = tp + g.specific_1st;
  char* robust = tp + g.robust_head;
  at<char*>(tp, g.robust_head - 8) = robust;                          // robust_prev
  at<char*>(tp, g.robust_head) = robust;                              // robust_head.list
  at<long>(tp, g.robust_head + 8) = at<long>(me, g.robust_head + 8);  // futex_offset
  at<void*>(tp, g.robust_head + 16) = nullptr;                        // list_op_pending
  at<int>(tp, g.schedpolicy) = at<int>(me, g.schedpolicy);
  at<int>(tp, g.schedprio) = at<int>(me, g.schedprio);
  at<char*>(tp, g.stackblock) = stack_lo;
  at<std::size_t>(tp, g.stackblock + 8) = static_cast<std::size_t>(stack_hi - stack_lo);
  at<std::uint32_t>(tp, g.rseq) = 0;  // cpu_id_start
  at<std::uint32_t>(tp, g.rseq + 4) = kRseqCpuIdRegistrationFailed;

  at<char*>(tp, g.resp) = tp + g.res;
  if (g.glibc_malloc) at<void*>(tp, g.thread_arena) = at<void*>(me, g.thread_arena);
}

// PtTls is dl_iterate_phdr's question and answer: the TLS image of the module with an id.
struct PtTls {
  std::size_t modid;
  const void* image;
  std::size_t filesz;
  std::size_t memsz;
};

int find_module_tls(dl_phdr_info* info, std::size_t, void* arg) noexcept {
  auto q = static_cast<PtTls*>(arg);
  if (info->dlpi_tls_modid != q->modid) return 0;
  for (int k = 0; k < info->dlpi_phnum; ++k) {
    const auto& ph = info->dlpi_phdr[k];
    if (ph.p_type == PT_TLS) {
      q->image = reinterpret_cast<const void*>(info->dlpi_addr + ph.p_vaddr);
      q->filesz = ph.p_filesz;
      q->memsz = ph.p_memsz;
    }
  }
  return 1;
}

template <class T>
T read_word(const char* base, std::ptrdiff_t off) noexcept {
  return *reinterpret_cast<const T*>(base + off);
}

}  // namespace

void use_wrfsbase(bool on) noexcept {
  g_wrfsbase = on;
}

namespace {
int catch_up() noexcept;
}  // namespace

ThreadBlock* create(char* lo, char* hi, char** new_top) noexcept {
  const GlibcLayout& g = glibc();
  auto top = reinterpret_cast<std::uintptr_t>(hi);
  auto bottom = reinterpret_cast<std::uintptr_t>(lo);
  if (top <= bottom ||
      top - bottom < g.block_size + g.static_align + sizeof(ThreadBlock) + kMinStack) {
    return nullptr;
  }
  // allocate_stack: pd = (mem + size - TLS_TCB_SIZE) & ~(static_align - 1).
  auto tp = reinterpret_cast<char*>((top - g.tcb_size) & ~(g.static_align - 1));
  char* tls_lo = tp + g.tcb_size - g.block_size;
  auto record =
      (reinterpret_cast<std::uintptr_t>(tls_lo) - sizeof(ThreadBlock)) & ~std::uintptr_t{15};
  if (record < bottom + kMinStack) return nullptr;
  // All of it, not only the TCB: the surplus holds the initial-exec TLS of modules dlopen()ed
  // later, which glibc zeroes in its threads' blocks (and after_dlopen() fills in here), and a
  // pooled stack brings the last fiber's bytes.
  std::memset(tls_lo, 0, g.block_size);
  if (g.dl_allocate_tls(tp) == nullptr) return nullptr;
  auto stack_top = reinterpret_cast<char*>(record);
  init_tcb(g, tp, lo, stack_top);
  auto b = new (stack_top) ThreadBlock;
  b->tp = tp;
  b->generation = at<std::uint64_t*>(tp, kTcbDtv)[0];  // dtv[0]: the generation it was made at
  bool loaded_since = false;
  {
    std::lock_guard<Lock> hold(registry().lock);
    registry().blocks.push_back(b);
    loaded_since = b->generation > registry().newest;
    if (loaded_since) registry().newest = b->generation;
  }
  // A module loaded since the last block was made: the threads that exist take its
  // initial-exec TLS images now, when the program next makes a thread (docs/design.md).
  if (loaded_since) catch_up();
  *new_top = stack_top;
  return b;
}

void on_start() noexcept {
  glibc().ctype_init();
}

void call_tls_dtors() noexcept {
  glibc().call_tls_dtors();
}

void release(ThreadBlock* b) noexcept {
  if (b->released) return;
  b->released = true;
  {
    std::lock_guard<Lock> hold(registry().lock);
    registry().blocks.remove(b);
  }
  glibc().dl_deallocate_tls(b->tp, false);
}

void destroy(ThreadBlock* b) noexcept {
  release(b);
}

// after_dlopen() walks ld.so's slotinfo list as libthread_db does, without ld.so's lock (the
// caller runs right after dlopen returned); glibc does the same for its own threads in
// _dl_init_static_tls, for the threads on its stack lists, which fake blocks are not on (setxid
// would signal their fake tids).
namespace detail {
const volatile std::size_t* g_generation = nullptr;
volatile std::size_t g_caught_up = 0;
}  // namespace detail

namespace {
int catch_up() noexcept {
  const GlibcLayout& g = glibc();
  int updated = 0;
  // Read first: a dlopen that bumps it during the walk leaves the blocks stale() again.
  if (g.dl_tls_generation != nullptr) {
    detail::g_caught_up = *static_cast<const volatile std::size_t*>(g.dl_tls_generation);
  }
  std::uint64_t newest = 0;
  std::lock_guard<Lock> hold(registry().lock);
  auto& blocks = registry().blocks;
  std::size_t base = 0;
  for (auto list = read_word<const char*>(g.rtld_global, g.rg_slotinfo_list); list != nullptr;
       list = read_word<const char*>(list, g.sil_next)) {
    auto len = read_word<std::size_t>(list, g.sil_len);
    for (std::size_t i = 0; i < len; ++i) {
      const char* slot = list + g.sil_slotinfo + static_cast<std::ptrdiff_t>(i * g.si_size);
      auto map = read_word<const char*>(slot, g.si_map);
      if (map == nullptr) continue;
      auto gen = read_word<std::uint64_t>(slot, g.si_gen);
      newest = std::max(newest, gen);
      auto off = read_word<std::ptrdiff_t>(map, g.lm_tls_offset);
      // NO_TLS_OFFSET (0) and FORCED_DYNAMIC_TLS_OFFSET (-1): not in static TLS.
      if (off == 0 || off == -1) continue;
      bool stale = false;
      for (ThreadBlock* b = blocks.front(); b != nullptr; b = BlockList::next(b)) {
        stale = stale || gen > b->generation;
      }
      if (!stale) continue;
      PtTls q{read_word<std::size_t>(map, g.lm_tls_modid), nullptr, 0, 0};
      if (q.modid != base + i) continue;
      dl_iterate_phdr(find_module_tls, &q);
      if (q.image == nullptr) continue;
      for (ThreadBlock* b = blocks.front(); b != nullptr; b = BlockList::next(b)) {
        if (gen <= b->generation) continue;
        char* dest = b->tp - off;
        std::memcpy(dest, q.image, q.filesz);
        std::memset(dest + q.filesz, 0, q.memsz - q.filesz);
        ++updated;
      }
    }
    base += len;
  }
  for (ThreadBlock* b = blocks.front(); b != nullptr; b = BlockList::next(b)) {
    b->generation = std::max(b->generation, newest);
  }
  return updated;
}

}  // namespace

int after_dlopen() noexcept {
  return available() ? catch_up() : 0;
}

__attribute__((no_stack_protector)) void set_tp(char* tp) noexcept {
#if defined(__x86_64__)
  if (__builtin_expect(g_wrfsbase, 1)) {
    asm volatile("wrfsbase %0" : : "r"(tp) : "memory");
    return;
  }
  if (sys::call(SYS_arch_prctl, ARCH_SET_FS, tp) != 0) {
    die("weft: tls::set_tp: arch_prctl(ARCH_SET_FS) failed\n");
  }
#else
  (void)tp;
  die("weft: tls::set_tp: per-fiber TLS is implemented for x86-64 only\n");
#endif
}

std::ptrdiff_t tp_offset(const void* v) noexcept {
  char* tp = current_tp();
  if (!available()) die("weft: tls::tp_offset: per-fiber TLS is unavailable\n");
  const GlibcLayout& g = glibc();
  std::ptrdiff_t off = static_cast<const char*>(v) - tp;
  auto lowest = -static_cast<std::ptrdiff_t>(g.block_size - g.tcb_size);
  if (off < lowest || off >= 0) {
    char msg[160];
    std::snprintf(msg, sizeof msg,
                  "weft: tls::tp_offset: %p is not in the calling thread's static TLS "
                  "[%p, %p)\n",
                  v, static_cast<void*>(tp + lowest), static_cast<void*>(tp));
    die(msg);
  }
  return off;
}

}  // namespace weft::rt::tls
