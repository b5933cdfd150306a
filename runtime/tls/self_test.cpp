// self_test: one thread block's whole life, tried in a child process before any fiber gets one.
//
// The probe's checks show that glibc looks the way this layer expects; they cannot show that
// glibc accepts a block built from them. So the last check builds one and lives in it (create,
// set_tp, on_start, errno, glibc's malloc making the block a tcache, the program's malloc, stdio
// formatting, ctype, sched_getcpu through the rseq fallback, a strerror buffer in tls_state,
// call_tls_dtors and on_exit, which must leave the tcache shut down and the buffer freed, set_tp
// back, destroy) in a child, so that a glibc that passes the checks and still dislikes the block
// kills a child instead of the program, and the program is told why instead.
//
// The child is made with a raw clone system call, not fork(): fork() would run the program's
// and the shim's atfork handlers for a child the program never asked for. The clone has no exit
// signal, so the program's SIGCHLD handler is not run and its waitpid(-1) does not see the
// child (only __WALL waits for such a child). The child blocks every signal, touches no stdio
// lock and leaves with exit_group, so nothing of the parent's runs in it. A raw clone also
// copies the locks other threads held at that moment; if the child blocks on one (the program's
// malloc, ld.so's TLS lock during another thread's dlopen), the time limit ends the wait: the
// child is killed and the answer is no, with that reason.
#include <errno.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/sys.hpp"
#include "tls/glibc_layout.hpp"
#include "tls/thread_block.hpp"

namespace weft::rt::tls {

namespace {

// kChildStack is the room for frames the child's block leaves (the child runs on its own
// stack; the block only needs some).
constexpr std::size_t kChildStack = std::size_t{64} << 10;
// kTimeLimitNs is how long the parent waits for the child: its work takes about a millisecond.
constexpr long kTimeLimitNs = 2'000'000'000L;

// Failure is a child's exit code and what it means.
enum Failure : int {
  kPassed = 0,
  kNoMemory = 2,
  kNoBlock,
  kWrongTp,
  kWrongErrno,
  kErrnoLost,
  kNoTcache,
  kFormat,
  kCtype,
  kGetcpu,
  kStrerror,
  kExitLeftState,
};

const char* describe(int code) noexcept {
  switch (code) {
    case kNoMemory:
      return "mmap failed";
    case kNoBlock:
      return "create() failed";
    case kWrongTp:
      return "the thread pointer is not the block's after set_tp()";
    case kWrongErrno:
      return "errno is not where the probe found it";
    case kErrnoLost:
      return "errno set by libc was not seen";
    case kNoTcache:
      return "glibc's malloc did not make the block a tcache where calibrated";
    case kFormat:
      return "snprintf failed";
    case kCtype:
      return "ctype failed";
    case kGetcpu:
      return "sched_getcpu() failed";
    case kStrerror:
      return "strerror's buffer is not where calibrated";
    case kExitLeftState:
      return "on_exit() left the tcache or the strerror buffer behind";
    default:
      return "unknown failure";
  }
}

// live() runs on the block, with its thread pointer installed, as a fiber's whole life would.
__attribute__((noinline)) int live(char* tp) noexcept {
  const GlibcLayout& g = glibc();
  on_start();
  if (current_tp() != tp) return kWrongTp;
  if (reinterpret_cast<char*>(__errno_location()) != tp + g.errno_off) return kWrongErrno;
  errno = 0;
  long big = std::strtol("99999999999999999999999999", nullptr, 10);
  if (errno != ERANGE || big != LONG_MAX) return kErrnoLost;
  void* p = g.libc_malloc(100);
  g.libc_free(p);
  if (p == nullptr || (g.glibc_malloc && at<void*>(tp, g.tcache) == nullptr)) return kNoTcache;
  std::free(std::malloc(200));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d-%s", 42, "x");
  if (std::strcmp(buf, "42-x") != 0) return kFormat;
  if (!std::isalpha('a') || std::toupper('q') != 'Q' || std::isdigit('q')) return kCtype;
  if (sched_getcpu() < 0) return kGetcpu;
  if (std::strerror(7654321) == nullptr || at<void*>(tp, g.strerror_buf) == nullptr) {
    return kStrerror;
  }
  call_tls_dtors();
  on_exit();
  bool tcache_left = g.glibc_malloc &&
                     (at<void*>(tp, g.tcache) != nullptr || !at<bool>(tp, g.tcache_shutting_down));
  if (tcache_left || at<void*>(tp, g.strerror_buf) != nullptr) {
    return kExitLeftState;
  }
  return kPassed;
}

int run_child() noexcept {
  sys::block_all_signals(nullptr);
  const GlibcLayout& g = glibc();
  const std::size_t len = kChildStack + g.block_size + g.static_align + 4096;
  long m =
      sys::call(SYS_mmap, nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m < 0 && m > -4096) return kNoMemory;
  auto lo = reinterpret_cast<char*>(m);
  char* top = nullptr;
  ThreadBlock* b = create(lo, lo + len, &top);
  if (b == nullptr) return kNoBlock;
  char* mine = current_tp();
  set_tp(b->tp);
  int r = live(b->tp);
  set_tp(mine);
  destroy(b);
  return r;
}

long now_ns() noexcept {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1'000'000'000L + t.tv_nsec;
}

}  // namespace

bool self_test(Why& why) noexcept {
  long pid = sys::call(SYS_clone, 0L, nullptr, nullptr, nullptr, 0L);
  if (pid < 0) return refuse(why, "self-test: clone failed (%ld)", pid);
  if (pid == 0) {
    sys::call(SYS_exit_group, run_child());
    __builtin_unreachable();
  }
  const long deadline = now_ns() + kTimeLimitNs;
  long pause_ns = 50'000;
  int status = 0;
  for (;;) {
    long r = sys::call(SYS_wait4, pid, &status, WNOHANG | __WALL, nullptr);
    if (r == pid) break;
    if (r < 0 && r != -EINTR) return refuse(why, "self-test: wait4 failed (%ld)", r);
    if (now_ns() >= deadline) {
      sys::call(SYS_kill, pid, SIGKILL);
      while (sys::call(SYS_wait4, pid, &status, __WALL, nullptr) == -EINTR) {
      }
      return refuse(why, "self-test: the child did not finish within %ld s (killed)",
                    kTimeLimitNs / 1'000'000'000L);
    }
    timespec pause{0, pause_ns};
    sys::call(SYS_nanosleep, &pause, nullptr);
    if (pause_ns < 10'000'000) pause_ns *= 2;
  }
  if (WIFSIGNALED(status)) {
    return refuse(why, "self-test: the child was killed by signal %d", WTERMSIG(status));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != kPassed) {
    return refuse(why, "self-test: %s", describe(WEXITSTATUS(status)));
  }
  return true;
}

}  // namespace weft::rt::tls
