// Runtime settings, with defaults that suit a network server.
#pragma once

#include <cstddef>
#include <cstdint>

namespace weft {

// Tls says which thread-local storage a fiber's code sees.
enum class Tls : std::uint8_t {
  // kDefault, in SpawnOptions, takes the run's Config::tls.
  kDefault,
  // kShared is the carrier's: the fibers of one carrier share errno aside (weft keeps it per
  // fiber), every __thread and thread_local variable, as the fibers of most runtimes do.
  kShared,
  // kPerFiber gives the fiber a thread control block and static TLS block of its own, built as
  // glibc builds a new thread's, installed on every switch: __thread, thread_local (destructors
  // run when the fiber ends), pthread_self() and libraries' per-thread state become per fiber.
  // Where this glibc cannot be checked to allow it, the run warns once and falls back to
  // kShared (docs/design.md, "Per-fiber thread-local storage").
  kPerFiber,
};

// Backend names the kernel interface a carrier does its I/O through.
enum class Backend : std::uint8_t {
  // kAuto picks io_uring when it can be set up with the features weft needs, else epoll (always
  // epoll under valgrind); the WEFT_BACKEND environment variable, when set, decides instead
  // (see Config::backend).
  kAuto,
  // kIoUring is io_uring; refusing it (seccomp, kernel.io_uring_disabled, an old kernel) makes
  // weft::run throw std::runtime_error saying why.
  kIoUring,
  // kEpoll is readiness polling with epoll, with regular files done on the blocking pool.
  kEpoll,
};

// backend_name() is "auto", "io_uring" or "epoll", the spelling WEFT_BACKEND takes.
const char* backend_name(Backend b) noexcept;

// Config holds the settings of one weft::run(); every field has a usable default.
struct Config {
  // stack_size is the stack of each fiber in bytes (16 KiB..1 GiB, else std::invalid_argument),
  // rounded up to whole pages; the fiber's control block and callable sit at its top.
  std::size_t stack_size = 64 * 1024;
  // guard_pages puts a 64 KiB inaccessible guard under every stack so an overflow faults at
  // once; when vm.max_map_count leaves no room for more mprotect guards, later stacks get a
  // canary checked at each switch instead (RuntimeStats::guard_mode).
  bool guard_pages = true;
  // stack_cache is how many freed stacks of each size the run's shared stack pool keeps with
  // their memory for fast reuse; further freed stacks return their memory but keep their
  // address space.
  std::size_t stack_cache = 1024;
  // ring_entries is the io_uring submission queue size (the completion queue is 4x larger).
  unsigned ring_entries = 1024;
  // carriers is how many OS threads run fibers (at most 128); 0 means one per CPU the process
  // may use, capped at 128. The watchdog may add spare carriers on top (stall_ms).
  unsigned carriers = 0;
  // blocking_threads caps the helper threads weft::blocking() runs work on (1..4096); the epoll
  // backend runs file I/O on them too.
  unsigned blocking_threads = 64;
  // stall_ms is how long a carrier may go without scheduling before the watchdog reports the
  // fiber that holds it and moves its unstarted fibers to a spare carrier; 0 turns it off.
  unsigned stall_ms = 100;
  // dump_signal, when non-zero, is a signal whose arrival prints every fiber to stderr
  // (weft::fiber_dump()); 0 installs no dump handler. weft::run refuses (std::invalid_argument)
  // a signal it cannot use, as parse_signal() does: SIGKILL, SIGSTOP, SIGURG, SIGSEGV, SIGBUS,
  // 32, 33 and numbers outside 1..SIGRTMAX.
  int dump_signal = 0;
  // fault_rate, for testing, is the probability (0..1) that an I/O call on a fiber gets an
  // injected fault -- a short read or write, EINTR, spurious poll readiness or a connection
  // reset -- instead of or before its real outcome; 0 (the default) injects none.
  double fault_rate = 0;
  // fault_seed seeds the random choices of the injected faults (each carrier has its own stream).
  std::uint64_t fault_seed = 0;
  // backend is the I/O backend; kAuto (the default) honours WEFT_BACKEND when each carrier is
  // created, even in an explicit Config, so one variable can move a whole test suite to epoll.
  Backend backend = Backend::kAuto;
  // tls is the thread-local storage of fibers whose SpawnOptions::tls is kDefault (the main
  // fiber's included): kShared (the default) or kPerFiber; kDefault means kShared.
  Tls tls = Tls::kShared;
};

// config_from_env() is the default Config with the WEFT_* environment variables applied:
// WEFT_CARRIERS (0..128), WEFT_STALL_MS (0..3600000), WEFT_DUMP_SIGNAL (see parse_signal()),
// WEFT_BLOCKING_THREADS (1..4096), WEFT_STACK_SIZE (16k..1g, see parse_size()), WEFT_BACKEND
// (auto, io_uring or epoll), WEFT_TLS (shared or fiber) and WEFT_FAULTS (SEED:RATE, a whole number
// and a probability in 0..1, e.g. 42:0.01). It also checks the settings only the LD_PRELOAD shim
// reads -- WEFT_STATS and WEFT_STRICT (1 or 0), WEFT_STATS_FORMAT (text or json),
// WEFT_STATS_SIGNAL (a signal, not WEFT_DUMP_SIGNAL's) -- so a bad one is an error wherever it is
// read. Unset or empty variables keep the default, and a bad value throws std::invalid_argument
// naming it as label_of(VARIABLE) says, or as the variable when label_of is null: weftrun passes
// a function that names the option the user typed (-s/--stack-size) instead. WEFT_LOG
// (<weft/report.hpp>) is read when the process starts, not here.
Config config_from_env(const char* (*label_of)(const char* variable));
// config_from_env() without a label function names the variables in errors (an overload rather
// than a default argument, so programs built against the first libweft.so.0 still link).
Config config_from_env();

// parse_number() reads value, a whole decimal number in lo..hi, for the setting label; it throws
// std::invalid_argument naming it: `LABEL="VALUE": expected ...`, or `LABEL "VALUE": expected
// ...` when label is a command-line option (starts with '-').
std::uint64_t parse_number(const char* label, const char* value, std::uint64_t lo,
                           std::uint64_t hi);

// parse_size() reads value, a size in bytes with an optional k, m or g suffix (KiB, MiB, GiB, in
// either case: 256k, 1M), in lo..hi bytes, throwing std::invalid_argument as parse_number() does.
std::uint64_t parse_size(const char* label, const char* value, std::uint64_t lo, std::uint64_t hi);

// parse_signal() reads a signal setting: a name with or without SIG in any case (SIGQUIT, usr1),
// SIGRTMIN+N or SIGRTMAX-N, or a number; 0 means none. It refuses, throwing
// std::invalid_argument as parse_number() does and saying why, signals weft cannot use: SIGKILL
// and SIGSTOP (cannot be caught), SIGURG (the stall watchdog's backtrace signal), SIGSEGV and
// SIGBUS (stack overflow reports), the other fault signals and SIGABRT, SIGTERM, SIGINT and
// SIGHUP (they end the program), the signals the kernel sends by itself (SIGCHLD, SIGPIPE,
// SIGALRM, SIGPROF, SIGVTALRM, SIGWINCH, SIGIO, SIGXCPU, SIGXFSZ, SIGTSTP, SIGTTIN, SIGTTOU,
// SIGCONT), 32 and 33 (glibc's own) and numbers above SIGRTMAX: SIGQUIT, SIGUSR1, SIGUSR2,
// SIGSTKFLT, SIGPWR and the real-time signals remain.
int parse_signal(const char* label, const char* value);

}  // namespace weft
