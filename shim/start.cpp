// start: how a program under the shim starts, forks and ends.
//
// The shim interposes __libc_start_main, the function every dynamically linked program's _start
// calls, and gives it a main of its own: that main starts a weft run on the main thread and runs
// the program's main as the run's main fiber, on a stack as large as a main thread's
// (RLIMIT_STACK). So every thread of the program, main included, is a fiber, as gevent's main
// greenlet is, and a blocking call in main yields like one in any other thread. The program's
// constructors have run by then, on the plain main thread (a thread they create is a real one).
//
// Ending: when main returns, the main fiber calls exit() with its status right there, as
// __libc_start_main would: atexit handlers and static destructors run on the main fiber while
// the other threads keep running, and the process ends with them, as natively. weft::run's own
// ending (cancel the other fibers, wait for them) never happens: it would change what the
// program does after main.
//
// If the runtime cannot start (io_uring refused), the shim says so once on stderr and the
// program runs natively with every call passing through; under WEFT_STRICT=1 (weftrun --strict)
// that is an error instead: the shim prints the reason and exits with status 127 without running
// the program. A bad WEFT_* setting is an error too, with the same status.
//
// fork: the child of a fork (the program's, or one glibc makes itself, as daemon() does) has
// only the forking thread. The runtime's atfork handler, which the shim installs before any
// other (so it runs first in the child, before the program's own child handlers), rebuilds the
// forking fiber's run around it (runtime/process/fork.hpp): the fiber goes on as the child's only
// thread, keeping its pthread_t, on a fresh runtime with the same settings, and its blocking calls
// yield again. If the forking thread was no fiber, or the child cannot have a runtime (no ring),
// the shim is off in the child: every call passes through, as before main.
//
// vfork is served by fork, and its child is such a pass-through child: a real vfork child would
// share the parent's memory and run on the parent's fiber, where no hook could tell it from the
// parent; and a vfork child is for exec, which a fresh runtime would only delay.
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>

#include <weft/config.hpp>
#include <weft/runtime.hpp>

#include "allocator.hpp"
#include "base/report.hpp"
#include "base/sys.hpp"
#include "futex.hpp"
#include "process/fork.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "sigmask.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "thread_record.hpp"

extern "C" int __libc_start_main(int (*main)(int, char**, char**), int argc, char** argv,
                                 void (*init)(), void (*fini)(), void (*rtld_fini)(),
                                 void* stack_end);

namespace weft::shim {

std::atomic<bool> g_disabled{false};

namespace {

// kThreadStack is a fiber thread's stack when neither WEFT_STACK_SIZE nor the thread's
// attributes ask for another: weft's 64 KiB default suits code written for fibers, not a
// program written for 8 MiB threads; the memory is only reserved until touched.
constexpr std::size_t kThreadStack = 256 * 1024;

int (*g_program_main)(int, char**, char**) = nullptr;

// tls_vforking is set while this thread's vfork() runs fork().
constinit thread_local bool tls_vforking = false;

void after_fork_child() {
  futex_after_fork_child();
  bool wanted = !tls_vforking && !g_disabled.load(std::memory_order_relaxed);
  if (rt::after_fork_child(wanted) == rt::ForkChild::kFresh) {
    threads_after_fork_child(true);
    stats_after_fork_child();
    return;
  }
  threads_after_fork_child(false);
  g_disabled.store(true, std::memory_order_relaxed);
  stats_after_fork_child();
}

__attribute__((constructor)) void shim_init() {
  // Before anything can be reported, and before the program can close or redirect its stderr.
  sys::report_sink_take_stderr();
  resolve_all();
  allocator_init();
  // The runtime's own threads (carriers, helpers, watchdog) must be real threads, and its key
  // for a plain thread's exit libc's.
  sys::ThreadHooks& hooks = sys::thread_hooks();
  if (auto create = WEFT_REAL(pthread_create)) hooks.create = create;
  if (auto join = WEFT_REAL(pthread_join)) hooks.join = join;
  if (auto key_create = WEFT_REAL(pthread_key_create)) hooks.key_create = key_create;
  if (auto set_specific = WEFT_REAL(pthread_setspecific)) hooks.set_specific = set_specific;
  // The runtime's own handlers are not the program's: they must not be wrapped (signals.hpp).
  if (auto action = WEFT_REAL(sigaction)) sys::signal_hooks().action = action;
  // The program's signals are for the program's threads: weft's own threads block them all, and
  // a carrier blocks what every thread of the program blocks (sigmask.hpp).
  hooks.block_signals = true;
  sigmask_capture_start();
  sys::signal_hooks().carrier_start = &carrier_mask_start;
  rt::install_fork_handlers(&after_fork_child);
  threads_init();
}

// main_stack_size() is what a main thread would get: RLIMIT_STACK, 8 MiB if unlimited.
std::size_t main_stack_size() noexcept {
  constexpr std::size_t kDefault = 8 << 20;
  rlimit lim{};
  if (getrlimit(RLIMIT_STACK, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return kDefault;
  std::size_t size = lim.rlim_cur;
  if (size < (64 << 10)) return 64 << 10;
  return size > (std::size_t{1} << 30) ? std::size_t{1} << 30 : size;
}

weft::Config shim_config() {
  weft::Config cfg = weft::config_from_env();
  const char* stack = std::getenv("WEFT_STACK_SIZE");
  if (stack == nullptr || *stack == '\0') cfg.stack_size = kThreadStack;
  // Each program thread is a thread of its own, TLS included, unless WEFT_TLS=shared says
  // otherwise (weftrun --shared-tls).
  const char* tls = std::getenv("WEFT_TLS");
  if (tls == nullptr || *tls == '\0') cfg.tls = weft::Tls::kPerFiber;
  return cfg;
}

// strict() is WEFT_STRICT=1: a runtime that cannot start is an error, not a native run
// (config_from_env has refused any other value by then).
bool strict() noexcept {
  const char* v = std::getenv("WEFT_STRICT");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

int shim_main(int argc, char** argv, char** envp) {
  weft::Config cfg;
  try {
    cfg = shim_config();
    if (int err = sys::report_sink_error(); err != 0) {
      const char* log = std::getenv("WEFT_LOG");
      throw std::invalid_argument(std::string("WEFT_LOG=\"") + (log != nullptr ? log : "") +
                                  "\": expected a file weft can append to (" + std::strerror(-err) +
                                  "; %p is the pid, %% a %)");
    }
    stats_enable_from_env();
  } catch (const std::exception& e) {
    std::string msg = std::string("weft: ") + e.what() + "\n";
    sys::write_stderr(msg.c_str());
    std::_Exit(127);
  }
  stats_start();
  struct Args {
    int argc;
    char** argv;
    char** envp;
  } args{argc, argv, envp};
  auto body = [&args]() noexcept {
    run_main_fiber(g_program_main, args.argc, args.argv, args.envp);
  };
  try {
    // main keeps the main thread's glibc thread (TLS, pthread_self()), as it would natively;
    // the carrier's scheduler shares it, but runs no code of the program's.
    auto req =
        weft::detail::make_request<void>(body, "main", main_stack_size(), weft::Tls::kShared);
    weft::detail::run_main(cfg, req);
  } catch (const std::exception& e) {
    // Only the start can fail: the main fiber never returns (it calls exit()). Under
    // WEFT_STRICT=1 (weftrun --strict) a native run is not what was asked for: status 127.
    if (strict()) {
      std::string msg = std::string("weft: the runtime could not start: ") + e.what() +
                        "; not running the program natively (WEFT_STRICT=1)\n";
      sys::write_stderr(msg.c_str());
      std::_Exit(127);
    }
    std::string msg =
        std::string("weft: running natively, the runtime could not start: ") + e.what() + "\n";
    sys::write_stderr(msg.c_str());
    g_disabled.store(true, std::memory_order_relaxed);
    return g_program_main(argc, argv, envp);
  }
  std::abort();
}

}  // namespace
}  // namespace weft::shim

extern "C" {

WEFT_EXPORT int __libc_start_main(int (*main)(int, char**, char**), int argc, char** argv,
                                  void (*init)(), void (*fini)(), void (*rtld_fini)(),
                                  void* stack_end) {
  auto real = WEFT_REAL(__libc_start_main);
  if (real == nullptr) {
    weft::sys::write_stderr("weft: libc has no __libc_start_main\n");
    std::_Exit(127);
  }
  weft::shim::g_program_main = main;
  return real(&weft::shim::shim_main, argc, argv, init, fini, rtld_fini, stack_end);
}

// _exit and _Exit end the process without atexit handlers (dash's `exit` does, and a forked
// child that cannot exec): the stats report, which exit() writes from its atexit handler, is
// written here first (once: exit()'s own _exit inside libc does not come through this hook).
WEFT_EXPORT void _exit(int status) {
  weft::shim::stats_print();
  WEFT_REAL(_exit)(status);
  __builtin_unreachable();
}

WEFT_EXPORT void _Exit(int status) {
  weft::shim::stats_print();
  WEFT_REAL(_Exit)(status);
  __builtin_unreachable();
}

WEFT_EXPORT pid_t vfork() noexcept {
  weft::shim::tls_vforking = true;
  pid_t pid = fork();
  weft::shim::tls_vforking = false;
  return pid;
}

}  // extern "C"
