// tls/thread_block without the scheduler: contexts of our own (rt::make_context and rt::jump on
// mmap'd memory), each given a block by tls::create() and switched to with tls::set_tp() right
// before the jump, as a carrier will. What a thread's TLS promises must then hold per block:
// errno, __thread and thread_local (destructors run by call_tls_dtors), pthread_self(), the
// stack protector's canary and setjmp's pointer guard, owners of recursive mutexes and FILE
// locks, the resolver state, TLS of dlopen'ed libraries (dynamic, and initial-exec after
// after_dlopen()), fork from a block, pthread key destructors, and no leak over 10,000 block
// lives. The file is built with -fstack-protector-all.
//
// Fibers record what they saw in plain variables and the tests check them on the main context:
// a gtest assertion inside a block would run gtest's own per-thread machinery on the block.
// Every test SKIPs, with the probe's reason, where tls::available() is false (ASan and TSan
// builds, and any glibc the probe refuses).
#include <dlfcn.h>
#include <errno.h>
#include <gnu/libc-version.h>
#include <gtest/gtest.h>
#include <malloc.h>
#include <pthread.h>
#include <resolv.h>
#include <sched.h>
#include <setjmp.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <set>
#include <vector>

#include "base/sanitizer.hpp"
#include "context/context.hpp"
#include "tls/thread_block.hpp"

namespace {

namespace tls = weft::rt::tls;
using weft::rt::ContextHandle;
using weft::rt::Transfer;

#define SKIP_UNLESS_AVAILABLE()                                       \
  do {                                                                \
    if (!tls::available()) {                                          \
      GTEST_SKIP() << "per-fiber TLS unavailable: " << tls::reason(); \
    }                                                                 \
  } while (0)

// kFiberMemory is each test fiber's mapping: its stack with its block at the top.
constexpr std::size_t kFiberMemory = 256 << 10;

// Fiber is a context of the test's own with a thread block.
struct Fiber {
  char* mem = nullptr;
  std::size_t size = 0;
  tls::ThreadBlock* block = nullptr;
  ContextHandle ctx = nullptr;
  std::function<void()> body;
  bool done = false;
};

// The main context's state is in globals, never in TLS: TLS changes with every switch.
char* g_main_tp = nullptr;
ContextHandle g_main_ctx = nullptr;

[[noreturn]] void fiber_entry(Transfer t) {
  g_main_ctx = t.from;
  auto f = static_cast<Fiber*>(t.data);
  tls::on_start();
  f->body();
  tls::call_tls_dtors();
  tls::on_exit();
  f->done = true;
  tls::set_tp(g_main_tp);
  weft::rt::jump(g_main_ctx, nullptr);
  std::abort();
}

// make_fiber() maps memory, builds a block at its top and a context below it.
Fiber* make_fiber(std::function<void()> body, std::size_t memory = kFiberMemory) {
  auto f = new Fiber;
  f->body = std::move(body);
  f->size = memory;
  void* m = mmap(nullptr, memory, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) std::abort();
  f->mem = static_cast<char*>(m);
  char* top = nullptr;
  f->block = tls::create(f->mem, f->mem + memory, &top);
  if (f->block == nullptr) std::abort();
  f->ctx = weft::rt::make_context(top, static_cast<std::size_t>(top - f->mem), fiber_entry);
  return f;
}

// resume() runs f until it yields or ends: its thread pointer goes in right before the jump,
// and f puts the main one back before it jumps back.
__attribute__((noinline)) void resume(Fiber* f) {
  g_main_tp = tls::current_tp();
  tls::set_tp(f->block->tp);
  Transfer t = weft::rt::jump(f->ctx, f);
  f->ctx = t.from;
}

// yield() goes back to the main context from inside a fiber.
__attribute__((noinline)) void yield() {
  tls::set_tp(g_main_tp);
  Transfer t = weft::rt::jump(g_main_ctx, nullptr);
  g_main_ctx = t.from;
}

void free_fiber(Fiber* f) {
  tls::destroy(f->block);
  munmap(f->mem, f->size);
  delete f;
}

// run_all() resumes the fibers in turn until every one ended, then frees them.
void run_all(std::vector<Fiber*> fibers) {
  for (bool any = true; any;) {
    any = false;
    for (Fiber* f : fibers) {
      if (!f->done) {
        resume(f);
        any = true;
      }
    }
  }
  for (Fiber* f : fibers) free_fiber(f);
}

void run_one(std::function<void()> body, std::size_t memory = kFiberMemory) {
  run_all({make_fiber(std::move(body), memory)});
}

__thread int t_counter = 5;

// Tracked is a thread_local object that notes where it was made and where it died.
struct Tracked {
  static inline int constructed = 0;
  static inline int destroyed = 0;
  static inline int destroyed_on_own_tls = 0;
  char* owner = tls::current_tp();
  int value = 1000;
  Tracked() { ++constructed; }
  ~Tracked() {
    ++destroyed;
    if (tls::current_tp() == owner) ++destroyed_on_own_tls;
  }
};
thread_local Tracked t_tracked;

long rss_kb() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f == nullptr || std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  if (f != nullptr) std::fclose(f);
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

// DynamicModule is tls_dynamic_module, dlopen'ed once for the whole process.
struct DynamicModule {
  int* (*counter)() = nullptr;
  int (*touch)() = nullptr;
  int (*dtors)() = nullptr;
};

const DynamicModule& dynamic_module() {
  static DynamicModule m = [] {
    DynamicModule d;
    void* h = dlopen(WEFT_TEST_TLS_DYNAMIC_MODULE, RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) {
      std::fprintf(stderr, "dlopen: %s\n", dlerror());
      std::abort();
    }
    d.counter = reinterpret_cast<int* (*)()>(dlsym(h, "weft_test_dynamic_counter"));
    d.touch = reinterpret_cast<int (*)()>(dlsym(h, "weft_test_dynamic_touch"));
    d.dtors = reinterpret_cast<int (*)()>(dlsym(h, "weft_test_dynamic_dtors"));
    return d;
  }();
  return m;
}

TEST(TlsProbe, AvailableAndReasonAgree) {
  bool a = tls::available();
  EXPECT_EQ(a, tls::available());
  EXPECT_EQ(a, tls::reason()[0] == '\0') << tls::reason();
  EXPECT_EQ(std::strchr(tls::reason(), '\n'), nullptr) << "one line";
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
  EXPECT_FALSE(a);
  EXPECT_NE(std::strstr(tls::reason(), "Sanitizer"), nullptr) << tls::reason();
#endif
#if defined(__x86_64__) && !defined(WEFT_ASAN) && !defined(WEFT_TSAN)
  // Where the layer was tested, a refusal is a bug, not a skip.
  int minor = 0;
  bool tested = std::sscanf(gnu_get_libc_version(), "2.%d", &minor) == 1 && minor >= 35 &&
                minor <= 36 && std::getenv("WEFT_TEST_TLS_REFUSAL") == nullptr;
  if (tested) {
    EXPECT_TRUE(a) << tls::reason();
  }
#endif
  if (!a) {
    EXPECT_STREQ(tls::switch_name(), "");
    GTEST_SKIP() << "per-fiber TLS unavailable: " << tls::reason();
  }
  std::size_t align = tls::block_align();
  EXPECT_GE(align, 64u);
  EXPECT_EQ(align & (align - 1), 0u);
  EXPECT_EQ(tls::block_size() % align, 0u);
  EXPECT_GT(tls::static_tls_size(), 0u);
  EXPECT_LT(tls::static_tls_size(), tls::block_size());
  const char* forced = std::getenv("WEFT_TLS_SWITCH");
  bool fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0;
  if ((forced != nullptr && std::strcmp(forced, "syscall") == 0) || !fsgsbase ||
      weft::rt::san::on_valgrind()) {
    EXPECT_STREQ(tls::switch_name(), "arch_prctl");
  } else {
    EXPECT_STREQ(tls::switch_name(), "wrfsbase");
  }
}

// WEFT_TEST_TLS_REFUSAL, set by a run under a preloaded fake glibc version, names the refusal
// the probe must give.
TEST(TlsProbe, RefusesWhatItWasNotTestedOn) {
  const char* expected = std::getenv("WEFT_TEST_TLS_REFUSAL");
  if (expected == nullptr) GTEST_SKIP() << "only under a fake glibc version";
  EXPECT_FALSE(tls::available());
  EXPECT_NE(std::strstr(tls::reason(), expected), nullptr) << tls::reason();
  EXPECT_STREQ(tls::switch_name(), "");
  EXPECT_EQ(tls::block_size(), 0u);
}

TEST(TlsBlock, LayoutAndThreadControlBlock) {
  SKIP_UNLESS_AVAILABLE();
  void* m = mmap(nullptr, kFiberMemory, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  auto lo = static_cast<char*>(m);
  char* hi = lo + kFiberMemory;
  char* top = nullptr;
  EXPECT_EQ(tls::create(lo, lo + 1024, &top), nullptr) << "a range too small is refused";
  tls::ThreadBlock* b = tls::create(lo, hi, &top);
  ASSERT_NE(b, nullptr);
  char* tp = b->tp;
  char* me = tls::current_tp();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(tp) % tls::block_align(), 0u);
  EXPECT_LE(tp + 64, hi);
  EXPECT_GE(reinterpret_cast<char*>(b), top) << "the record is above the frames";
  EXPECT_LE(top + tls::block_size() - 4096, tp) << "the static TLS is between top and tp";
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(top) % 16, 0u);
  auto word = [](char* base, int off) { return *reinterpret_cast<std::uintptr_t*>(base + off); };
  EXPECT_EQ(word(tp, 0x00), reinterpret_cast<std::uintptr_t>(tp)) << "tcbhead_t.tcb";
  EXPECT_EQ(word(tp, 0x10), reinterpret_cast<std::uintptr_t>(tp)) << "tcbhead_t.self";
  EXPECT_NE(word(tp, 0x08), 0u) << "a DTV";
  EXPECT_EQ(*reinterpret_cast<int*>(tp + 0x18), 1) << "multiple_threads";
  EXPECT_EQ(word(tp, 0x28), word(me, 0x28)) << "the stack guard";
  EXPECT_EQ(word(tp, 0x30), word(me, 0x30)) << "the pointer guard";
  tls::destroy(b);
  munmap(m, kFiberMemory);
}

TEST(TlsBlock, ErrnoPerBlock) {
  SKIP_UNLESS_AVAILABLE();
  int seen[2] = {-1, -1};
  bool stable = false;
  errno = 3;
  int* main_errno = &errno;
  Fiber* a = make_fiber([&] {
    errno = 0;
    long v = std::strtol("99999999999999999999999", nullptr, 10);  // ERANGE
    int* where = &errno;
    yield();
    yield();
    seen[0] = errno;
    stable = where == &errno && where != main_errno && v == LONG_MAX;
  });
  Fiber* b = make_fiber([&] {
    errno = EDOM;
    yield();
    errno = 77;
    yield();
    seen[1] = errno;
  });
  run_all({a, b});
  EXPECT_EQ(seen[0], ERANGE);
  EXPECT_EQ(seen[1], 77);
  EXPECT_TRUE(stable);
  EXPECT_EQ(errno, 3) << "the main context's errno is its own";
}

TEST(TlsBlock, ThreadLocalsPerBlockWithDestructors) {
  SKIP_UNLESS_AVAILABLE();
  t_tracked.value = 1;  // the main context's own, constructed before the fibers
  int constructed = Tracked::constructed;
  Tracked::destroyed = Tracked::destroyed_on_own_tls = 0;
  int result[2] = {};
  bool fresh[2] = {};
  std::vector<Fiber*> fibers;
  for (int i = 0; i < 2; ++i) {
    fibers.push_back(make_fiber([&, i] {
      fresh[i] = t_counter == 5 && t_tracked.value == 1000 && t_tracked.owner == tls::current_tp();
      for (int k = 0; k < 10 * (i + 1); ++k) {
        ++t_counter;
        t_tracked.value += 2;
        yield();
      }
      result[i] = t_counter * 100000 + t_tracked.value;
    }));
  }
  run_all(fibers);
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(fresh[i]) << i;
    EXPECT_EQ(result[i], (5 + 10 * (i + 1)) * 100000 + 1000 + 20 * (i + 1)) << i;
  }
  EXPECT_EQ(Tracked::constructed - constructed, 2);
  EXPECT_EQ(Tracked::destroyed, 2) << "call_tls_dtors ran the thread_local destructors";
  EXPECT_EQ(Tracked::destroyed_on_own_tls, 2);
  EXPECT_EQ(t_counter, 5);
  EXPECT_EQ(t_tracked.value, 1);
}

TEST(TlsBlock, PthreadSelfIsTheBlock) {
  SKIP_UNLESS_AVAILABLE();
  pthread_t main_self = pthread_self();
  std::set<std::uintptr_t> selves;
  int matches = 0;
  std::vector<Fiber*> fibers;
  for (int i = 0; i < 3; ++i) {
    fibers.push_back(make_fiber([&] {
      pthread_t s = pthread_self();
      yield();
      if (pthread_equal(s, pthread_self()) && reinterpret_cast<char*>(s) == tls::current_tp()) {
        ++matches;
      }
      selves.insert(static_cast<std::uintptr_t>(s));
    }));
  }
  run_all(fibers);
  EXPECT_EQ(matches, 3);
  EXPECT_EQ(selves.size(), 3u);
  EXPECT_EQ(selves.count(static_cast<std::uintptr_t>(main_self)), 0u);
  EXPECT_TRUE(pthread_equal(main_self, pthread_self()));
}

TEST(TlsBlock, CtypeAndStringsOnABlock) {
  SKIP_UNLESS_AVAILABLE();
  bool ctype = false, strings = false;
  run_one([&] {
    ctype = std::isalpha('q') && !std::isdigit('q') && std::toupper('q') == 'Q';
    char buf[32];
    std::snprintf(buf, sizeof buf, "%d %s", 42, std::strerror(EBADF));
    strings = std::strcmp(buf, "42 Bad file descriptor") == 0;
  });
  EXPECT_TRUE(ctype) << "on_start() ran __ctype_init";
  EXPECT_TRUE(strings);
}

// hop() is a protected function that changes the thread pointer and returns: its epilogue checks
// the canary it loaded from the old TCB against the new TCB's.
__attribute__((noinline)) void hop(char* tp) {
  volatile char buf[16];
  buf[0] = 1;
  tls::set_tp(tp);
  buf[1] = buf[0];
}

__attribute__((noinline)) int protected_frame(int n) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%d", n);
  yield();  // the frame spans a switch to another block and back
  return static_cast<int>(std::strlen(buf));
}

TEST(TlsBlock, StackProtectorAcrossSwitches) {
  SKIP_UNLESS_AVAILABLE();
  EXPECT_EXIT(
      {
        Fiber* f = make_fiber([] {});
        char* me = tls::current_tp();
        hop(f->block->tp);
        hop(me);
        int sum = 0;
        std::vector<Fiber*> fibers;
        for (int i = 0; i < 3; ++i) {
          fibers.push_back(make_fiber([&] {
            for (int k = 0; k < 20; ++k) sum += protected_frame(k);
          }));
        }
        run_all(fibers);
        run_all({f});
        std::_Exit(sum == 3 * (10 + 10 * 2) ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

TEST(TlsBlock, SetjmpLongjmpAcrossSwitches) {
  SKIP_UNLESS_AVAILABLE();
  int landed[3] = {};
  std::vector<Fiber*> fibers;
  for (int i = 0; i < 3; ++i) {
    fibers.push_back(make_fiber([&, i] {
      jmp_buf jb;
      volatile int count = 0;
      int r = setjmp(jb);
      if (r < 5) {
        count = count + 1;
        yield();
        longjmp(jb, r + 1);
      }
      landed[i] = r * 100 + count;
    }));
  }
  run_all(fibers);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(landed[i], 505) << i;
}

void say_atexit() {
  const char msg[] = "atexit handler ran\n";
  (void)!write(2, msg, sizeof msg - 1);
}

// exit() on a block runs the atexit handlers the main thread registered: glibc demangles them
// with the block's pointer guard, which must be the process's.
TEST(TlsBlock, ExitOnBlockRunsAtexitHandlers) {
  SKIP_UNLESS_AVAILABLE();
  EXPECT_EXIT(
      {
        std::atexit(say_atexit);
        run_one([] { std::exit(7); });
        std::_Exit(1);
      },
      testing::ExitedWithCode(7), "atexit handler ran");
}

TEST(TlsBlock, RecursiveMutexOwnerPerBlock) {
  SKIP_UNLESS_AVAILABLE();
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  pthread_mutex_t mu;
  pthread_mutex_init(&mu, &attr);
  bool held = false, released = false;
  int while_held = -1, after = -1;
  Fiber* a = make_fiber([&] {
    pthread_mutex_lock(&mu);
    pthread_mutex_lock(&mu);
    held = true;
    yield();
    pthread_mutex_unlock(&mu);
    pthread_mutex_unlock(&mu);
    released = true;
  });
  Fiber* b = make_fiber([&] {
    while (!held) yield();
    while_held = pthread_mutex_trylock(&mu);
    if (while_held == 0) pthread_mutex_unlock(&mu);
    while (!released) yield();
    after = pthread_mutex_trylock(&mu);
    if (after == 0) pthread_mutex_unlock(&mu);
  });
  run_all({a, b});
  EXPECT_EQ(while_held, EBUSY) << "another block of the same thread must not own it";
  EXPECT_EQ(after, 0);
  pthread_mutex_destroy(&mu);
  pthread_mutexattr_destroy(&attr);
}

TEST(TlsBlock, FileLockOwnerPerBlock) {
  SKIP_UNLESS_AVAILABLE();
  FILE* file = std::tmpfile();
  ASSERT_NE(file, nullptr);
  bool held = false, released = false;
  int while_held = -1, after = -1;
  Fiber* a = make_fiber([&] {
    flockfile(file);
    held = true;
    yield();
    funlockfile(file);
    released = true;
  });
  Fiber* b = make_fiber([&] {
    while (!held) yield();
    while_held = ftrylockfile(file);
    if (while_held == 0) funlockfile(file);
    while (!released) yield();
    after = ftrylockfile(file);
    if (after == 0) funlockfile(file);
  });
  run_all({a, b});
  EXPECT_NE(while_held, 0);
  EXPECT_EQ(after, 0);
  std::fclose(file);
}

TEST(TlsBlock, ResolverStatePerBlock) {
  SKIP_UNLESS_AVAILABLE();
  res_state main_res = __res_state();
  bool inside = false;
  res_state seen = nullptr;
  run_one([&] {
    seen = __res_state();
    char* tp = tls::current_tp();
    inside = reinterpret_cast<char*>(seen) > tp && reinterpret_cast<char*>(seen) < tp + 4096;
  });
  EXPECT_NE(seen, main_res);
  EXPECT_TRUE(inside) << "__resp points at the block's own struct pthread.res";
}

// glibc's functions alloca up to __libc_alloca_cutoff(), a quarter of the thread's stack as
// struct pthread's stackblock_size says: a block must say the fiber's, or glibc takes 64 KiB
// of a small fiber stack.
TEST(TlsBlock, AllocaCutoffFollowsTheFiberStack) {
  SKIP_UNLESS_AVAILABLE();
  auto cutoff = reinterpret_cast<int (*)(std::size_t)>(
      dlvsym(RTLD_DEFAULT, "__libc_alloca_cutoff", "GLIBC_PRIVATE"));
  if (cutoff == nullptr) GTEST_SKIP() << "no __libc_alloca_cutoff@GLIBC_PRIVATE";
  int small = -1, large = -1;
  run_one(
      [&] {
        small = cutoff(4 << 10);
        large = cutoff(16 << 10);
      },
      64 << 10);
  EXPECT_NE(small, 0);
  EXPECT_EQ(large, 0) << "16 KiB is more than a quarter of a 64 KiB fiber's stack";
}

TEST(TlsBlock, SchedGetcpuFallsBackFromRseq) {
  SKIP_UNLESS_AVAILABLE();
  cpu_set_t old;
  ASSERT_EQ(sched_getaffinity(0, sizeof old, &old), 0);
  int cpu = -1;
  for (int c = CPU_SETSIZE - 1; c >= 0 && cpu < 0; --c) {
    if (CPU_ISSET(c, &old)) cpu = c;  // the highest allowed: not 0 where there are two
  }
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
  int seen = -2;
  run_one([&] { seen = sched_getcpu(); });
  sched_setaffinity(0, sizeof old, &old);
  EXPECT_EQ(seen, cpu);
}

TEST(TlsBlock, ForkFromBlock) {
  SKIP_UNLESS_AVAILABLE();
  int status = -1;
  run_one([&] {
    t_counter = 4242;
    pid_t pid = fork();
    if (pid == 0) {
      bool ok = reinterpret_cast<char*>(pthread_self()) == tls::current_tp() && t_counter == 4242;
      std::free(std::malloc(100));
      _exit(ok ? 0 : 1);
    }
    if (pid > 0) waitpid(pid, &status, 0);
  });
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

TEST(TlsBlock, DynamicTlsOfDlopenedLibraryPerBlock) {
  SKIP_UNLESS_AVAILABLE();
  bool started[2] = {};
  bool good[2] = {};
  const DynamicModule* mod = nullptr;
  std::vector<Fiber*> fibers;
  for (int i = 0; i < 2; ++i) {
    fibers.push_back(make_fiber([&, i] {
      started[i] = true;
      yield();  // the library is opened meanwhile, after this block was built
      int* c = mod->counter();
      bool ok = *c == 100 && mod->touch() == 7;
      *c += (i + 1) * 1000;
      yield();
      good[i] = ok && *mod->counter() == 100 + (i + 1) * 1000;
    }));
  }
  for (Fiber* f : fibers) resume(f);
  ASSERT_TRUE(started[0] && started[1]);
  mod = &dynamic_module();
  int dtors = mod->dtors();
  run_all(fibers);
  EXPECT_TRUE(good[0]);
  EXPECT_TRUE(good[1]);
  EXPECT_EQ(mod->dtors() - dtors, 2) << "the library's thread_local destructors ran per block";
  EXPECT_EQ(*mod->counter(), 100) << "the main context's copy is its own";
}

TEST(TlsBlock, AfterDlopenCopiesInitialExecTls) {
  SKIP_UNLESS_AVAILABLE();
  int* (*ie_addr)() = nullptr;
  int before[2] = {-1, -1}, after[2] = {-1, -1};
  bool opened = false, fixed = false;
  std::vector<Fiber*> fibers;
  for (int i = 0; i < 2; ++i) {
    fibers.push_back(make_fiber([&, i] {
      while (!opened) yield();
      before[i] = *ie_addr();
      while (!fixed) yield();
      after[i] = *ie_addr();
    }));
  }
  for (Fiber* f : fibers) resume(f);
  void* h = dlopen(WEFT_TEST_TLS_IE_MODULE, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(h, nullptr) << dlerror();
  ie_addr = reinterpret_cast<int* (*)()>(dlsym(h, "weft_test_ie_addr"));
  ASSERT_NE(ie_addr, nullptr);
  EXPECT_EQ(*ie_addr(), 0x1234);
  opened = true;
  for (Fiber* f : fibers) resume(f);
  EXPECT_EQ(tls::after_dlopen(), 2) << "both live blocks were older than the library";
  EXPECT_EQ(tls::after_dlopen(), 0) << "and are now up to date";
  fixed = true;
  run_all(fibers);
  EXPECT_NE(before[0], 0x1234) << "without after_dlopen() the image is not in an older block";
  EXPECT_EQ(after[0], 0x1234);
  EXPECT_EQ(after[1], 0x1234);
  int fresh = -1;
  run_one([&] { fresh = *ie_addr(); });
  EXPECT_EQ(fresh, 0x1234) << "a block made after the dlopen gets the image from ld.so";
}

__thread long t_seeded = 1;
long g_not_tls = 0;

TEST(TlsBlock, TpOffsetSeedsABlock) {
  SKIP_UNLESS_AVAILABLE();
  std::ptrdiff_t off = tls::tp_offset(&t_seeded);
  EXPECT_LT(off, 0);
  Fiber* f = make_fiber([] {});
  long seen = 0;
  f->body = [&] { seen = t_seeded; };
  *reinterpret_cast<long*>(f->block->tp + off) = 42;
  run_all({f});
  EXPECT_EQ(seen, 42);
  EXPECT_EQ(t_seeded, 1);
  EXPECT_DEATH(tls::tp_offset(&g_not_tls), "not in the calling thread's static TLS");
}

pthread_key_t g_keys[40];
int g_key_dtor_calls = 0;
void count_key_dtor(void* p) {
  ++g_key_dtor_calls;
  std::free(p);
}

// Keys 0..31 live in the block's own first level-2 array, later ones in calloc'ed blocks: both
// kinds of destructor run, and the main context's values are untouched.
TEST(TlsBlock, KeyDestructorsRunAtExit) {
  SKIP_UNLESS_AVAILABLE();
  for (auto& k : g_keys) ASSERT_EQ(pthread_key_create(&k, count_key_dtor), 0);
  pthread_setspecific(g_keys[0], reinterpret_cast<void*>(0x5a));
  g_key_dtor_calls = 0;
  bool own = false;
  run_one([&] {
    own = pthread_getspecific(g_keys[0]) == nullptr;
    for (auto k : g_keys) pthread_setspecific(k, std::malloc(16));
  });
  EXPECT_TRUE(own);
  EXPECT_EQ(g_key_dtor_calls, 40);
  EXPECT_EQ(pthread_getspecific(g_keys[0]), reinterpret_cast<void*>(0x5a));
  pthread_setspecific(g_keys[0], nullptr);
  for (auto k : g_keys) pthread_key_delete(k);
}

// arenas() is how many malloc arenas glibc has (malloc_info's <heap> elements).
int arenas() {
  char* text = nullptr;
  std::size_t len = 0;
  FILE* f = open_memstream(&text, &len);
  malloc_info(0, f);
  std::fclose(f);
  int n = 0;
  for (const char* p = text; (p = std::strstr(p, "<heap nr=")) != nullptr; ++p) ++n;
  std::free(text);
  return n;
}

// churn() is one block's life of everything that leaves per-thread state behind in glibc.
void churn(int i, pthread_key_t key, const DynamicModule& mod) {
  t_counter += i;
  t_tracked.value++;
  errno = i;
  void* p[8];
  for (int k = 0; k < 8; ++k) p[k] = std::malloc(std::size_t{16} << (k % 7));
  for (void* q : p) std::free(q);
  pthread_setspecific(key, std::malloc(32));
  (void)std::strerror(100000 + i);  // an unknown errno: a malloc'ed tls_state buffer
  *mod.counter() += 1;              // the library's dynamic TLS block, malloc'ed on first use
  (void)mod.touch();
}

TEST(TlsBlock, TenThousandLivesLeaveNothingBehind) {
  SKIP_UNLESS_AVAILABLE();
  const DynamicModule& mod = dynamic_module();
  pthread_key_t key;
  ASSERT_EQ(pthread_key_create(&key, count_key_dtor), 0);
  g_key_dtor_calls = 0;
  Tracked::destroyed = 0;
  int module_dtors = mod.dtors();
  int arenas_before = arenas();
  constexpr int kLives = 10000, kWarm = 1000;
  long rss_warm = 0;
  std::size_t heap_warm = 0;
  for (int i = 0; i < kLives; ++i) {
    run_one([&, i] { churn(i, key, mod); });
    if (i + 1 == kWarm) {
      rss_warm = rss_kb();
      heap_warm = mallinfo2().uordblks;
    }
  }
  long rss_growth = rss_kb() - rss_warm;
  auto heap_growth = static_cast<long>(mallinfo2().uordblks) - static_cast<long>(heap_warm);
  EXPECT_EQ(g_key_dtor_calls, kLives);
  EXPECT_EQ(Tracked::destroyed, kLives);
  EXPECT_EQ(mod.dtors() - module_dtors, kLives);
  EXPECT_LT(heap_growth, 64 << 10) << "malloc in use grew over " << kLives - kWarm << " lives";
  EXPECT_EQ(arenas(), arenas_before) << "blocks borrow their creator's arena";
  // valgrind keeps freed blocks in a quarantine of its own (20 MB) and its shadow grows too.
  if (!weft::rt::san::on_valgrind()) {
    EXPECT_LT(rss_growth, 2048) << "RSS (kB) grew over " << kLives - kWarm << " lives";
  }
  std::printf("%d lives: malloc in use %+ld B, RSS %+ld kB after the first %d\n", kLives,
              heap_growth, rss_growth, kWarm);
  pthread_key_delete(key);
}

}  // namespace
