#include "sched/watchdog.hpp"

#include <execinfo.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <string>

#include "base/own_fd.hpp"
#include "base/report.hpp"
#include "base/sys.hpp"
#include "diag/symbolizer.hpp"
#include "sched/carrier.hpp"
#include "sched/run.hpp"
#include "sched/syscall_probe.hpp"

namespace weft::rt {
namespace {

constexpr int kDumpSlots = 64;
// The eventfds of the live watchdogs that print a dump on the dump signal.
std::atomic<OwnFd*> g_dump_fds[kDumpSlots];
// g_dump_requests counts dump signals: each watchdog prints one dump per change it sees.
std::atomic<std::uint64_t> g_dump_requests{0};
// g_dump_handlers counts the dump-signal handlers running: a watchdog's eventfd outlives them.
std::atomic<int> g_dump_handlers{0};

// The backtrace handshake: the watchdog sets g_bt_wanted and signals the stalled thread, whose
// handler stores its own return addresses in g_bt_frames and sets g_bt_done; the watchdog then
// names them (diag::Symbolizer) on its own thread, where allocating and loading libdw are safe.
std::atomic<int> g_bt_wanted{0};
std::atomic<int> g_bt_done{0};
// g_bt_frames is the handler's backtrace(): its own frame and the signal trampoline, then the
// interrupted instruction and its callers.
void* g_bt_frames[diag::kMaxFrames + 2];
int g_bt_count = 0;
// g_bt_busy is held by the watchdog taking a backtrace: the handshake is one per process.
std::atomic<bool> g_bt_busy{false};

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void on_dump_signal(int) {
  g_dump_handlers.fetch_add(1, std::memory_order_seq_cst);
  g_dump_requests.fetch_add(1, std::memory_order_release);
  std::uint64_t one = 1;
  for (auto& slot : g_dump_fds) {
    OwnFd* fd = slot.load(std::memory_order_seq_cst);
    if (fd == nullptr) continue;
    OwnFd::Use use(*fd);
    sys::call(SYS_write, use.fd(), &one, sizeof one);
  }
  g_dump_handlers.fetch_sub(1, std::memory_order_release);
}

// unhook_dump() takes a watchdog's eventfd off the dump signal and waits out the handlers that
// may still write it.
void unhook_dump(int slot) noexcept {
  if (slot < 0) return;
  g_dump_fds[slot].store(nullptr, std::memory_order_seq_cst);
  while (g_dump_handlers.load(std::memory_order_seq_cst) != 0) sys::yield_thread();
}

void on_backtrace_signal(int) {
  if (g_bt_wanted.exchange(0) == 0) return;  // a SIGURG of the program's own: ignore it
  int saved = errno;
  // Only the addresses: names need allocation and libdw, neither safe in a handler.
  g_bt_count = backtrace(g_bt_frames, diag::kMaxFrames + 2);
  g_bt_done.store(1, std::memory_order_release);
  errno = saved;
}

// take_backtrace() copies the frames the handler stored (after its own two) into stack.
void take_backtrace(diag::RawStack& stack) {
  stack.exact_first = true;  // the instruction the signal interrupted
  for (int i = 2; i < g_bt_count && stack.n < diag::kMaxFrames; ++i) {
    stack.pc[stack.n++] = reinterpret_cast<std::uintptr_t>(g_bt_frames[i]);
  }
}

bool is_backtrace_handler(const struct sigaction& sa) noexcept {
  return (sa.sa_flags & SA_SIGINFO) == 0 && sa.sa_handler == &on_backtrace_signal;
}

// Borrow is what borrow_sigurg() found.
enum class Borrow { kOk, kHandled, kIgnored, kFailed };

// borrow_sigurg() points SIGURG at on_backtrace_signal for one sample, when its disposition is
// the default; a handler or SIG_IGN of the program's is left alone. The handler is not left
// installed between samples: SIGURG's default is to do nothing, and a handler, even one that
// ignores the signal, would let a SIGURG from outside (out-of-band data on a socket with
// F_SETOWN, a kill) end the program's waits with EINTR; sigaction would show it to the program.
Borrow borrow_sigurg() noexcept {
  struct sigaction now {};
  if (sys::sigaction(SIGURG, nullptr, &now) != 0) return Borrow::kFailed;
  if (is_backtrace_handler(now)) return Borrow::kOk;  // a fork in mid-sample left it
  if ((now.sa_flags & SA_SIGINFO) == 0 && now.sa_handler == SIG_IGN) return Borrow::kIgnored;
  if ((now.sa_flags & SA_SIGINFO) != 0 || now.sa_handler != SIG_DFL) return Borrow::kHandled;
  // SA_RESTART: if the carrier enters a system call after the last look at it and before the
  // signal lands (the window report_stall() narrows but cannot close), the calls the kernel
  // restarts after a handler are restarted; the others fail with EINTR (signal(7)).
  struct sigaction sa {};
  sa.sa_handler = &on_backtrace_signal;
  sa.sa_flags = SA_RESTART | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  if (sys::sigaction(SIGURG, &sa, &old) != 0) return Borrow::kFailed;
  if ((old.sa_flags & SA_SIGINFO) == 0 && old.sa_handler == SIG_DFL) return Borrow::kOk;
  // The program installed its own between the two calls: it stays.
  sys::sigaction(SIGURG, &old, nullptr);
  return Borrow::kHandled;
}

// return_sigurg() puts SIGURG back to its default after a sample. A signal still pending (the
// carrier did not take it) is discarded with the handler, so it can no longer end a call. A
// disposition the program set meanwhile is put back.
void return_sigurg() noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  struct sigaction cur {};
  if (sys::sigaction(SIGURG, &dfl, &cur) != 0) return;
  if (!is_backtrace_handler(cur)) sys::sigaction(SIGURG, &cur, nullptr);
}

// in_syscall() says which system call nr is, for a stall report.
std::string in_syscall(long nr) {
  const char* name = syscall_name(nr);
  std::string call = name != nullptr ? std::string(name) + " (number " + std::to_string(nr) + ")"
                                     : "number " + std::to_string(nr);
  return "system call " + call;
}

}  // namespace

int install_dump_signal(int sig) noexcept {
  struct sigaction sa {};
  sa.sa_handler = &on_dump_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  return sys::sigaction(sig, &sa, nullptr);
}

void watchdogs_after_fork() noexcept {
  for (auto& fd : g_dump_fds) fd.store(nullptr, std::memory_order_relaxed);
  g_dump_handlers.store(0, std::memory_order_relaxed);
  g_bt_wanted.store(0);
  g_bt_done.store(0);
  g_bt_busy.store(false);
  // A fork during a sample leaves the child the borrowed handler: give it its default back.
  struct sigaction now {};
  if (sys::sigaction(SIGURG, nullptr, &now) == 0 && is_backtrace_handler(now)) {
    sys::default_action(SIGURG);
  }
}

Watchdog::Watchdog(Run& sched) : run_(sched) {
  int r = event_fd_.make(
      []() noexcept { return sys::call(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK); }, &nudge,
      this);
  if (r < 0) throw std::runtime_error("weft: watchdog: eventfd failed");
  if (sched.config().dump_signal != 0) {
    if (install_dump_signal(sched.config().dump_signal) != 0) {
      throw std::invalid_argument("weft::Config::dump_signal: cannot handle signal " +
                                  std::to_string(sched.config().dump_signal));
    }
    for (int i = 0; i < kDumpSlots; ++i) {
      OwnFd* expected = nullptr;
      if (g_dump_fds[i].compare_exchange_strong(expected, &event_fd_)) {
        dump_slot_ = i;
        break;
      }
    }
  }
  // backtrace() loads libgcc's unwinder on first use, which is not safe in a signal handler.
  void* warm[2];
  backtrace(warm, 2);
  seen_.resize(Run::kMaxCarriers);
  probes_ = std::make_unique<SyscallProbe[]>(Run::kMaxCarriers);
  r = sys::start_thread(&thread_, &thread_main, this);
  if (r != 0) {
    unhook_dump(dump_slot_);
    throw std::runtime_error("weft: cannot start the watchdog thread");
  }
}

Watchdog::~Watchdog() {
  stop_.store(1, std::memory_order_release);
  sys::futex_wake(&stop_, 1);
  nudge(this);
  sys::join_thread(thread_);
  unhook_dump(dump_slot_);
}

void Watchdog::forget() noexcept {
  dump_slot_ = -1;
}

void Watchdog::nudge(void* self) noexcept {
  std::uint64_t one = 1;
  OwnFd::Use use(static_cast<Watchdog*>(self)->event_fd_);
  sys::call(SYS_write, use.fd(), &one, sizeof one);
}

void* Watchdog::thread_main(void* arg) {
  sys::mark_weft_thread();
  static_cast<Watchdog*>(arg)->watch();
  return nullptr;
}

void Watchdog::watch() {
  unsigned stall_ms = run_.config().stall_ms;
  int tick_ms = stall_ms == 0 ? -1 : static_cast<int>(std::max(5u, stall_ms / 4));
  std::uint64_t dumps = g_dump_requests.load(std::memory_order_acquire);
  bool broken = false;
  while (stop_.load(std::memory_order_acquire) == 0) {
    wait_tick(tick_ms, broken);
    if (stop_.load(std::memory_order_acquire) != 0) break;
    // Only the signal's count asks for a dump: the eventfd merely wakes this thread.
    std::uint64_t asked = g_dump_requests.load(std::memory_order_acquire);
    if (asked != dumps) {
      dumps = asked;
      std::string dump = run_.describe_fibers();
      sys::write_stderr(dump.c_str());
    }
    if (stall_ms == 0) continue;
    std::int64_t now = now_ns();
    unsigned n = run_.carriers();
    for (unsigned i = 0; i < n; ++i) check(i, seen_[i], now);
  }
}

void Watchdog::wait_tick(int tick_ms, bool& broken) {
  if (broken) {
    // Without its eventfd: a timed sleep, a second at most so that a dump asked for is printed.
    int ms = tick_ms > 0 ? tick_ms : 1000;
    timespec ts{ms / 1000, static_cast<long>(ms % 1000) * 1000000};
    sys::futex_wait(&stop_, 0, &ts);
    return;
  }
  OwnFd::Use fd(event_fd_);
  pollfd p{fd.fd(), POLLIN, 0};
  long r = sys::poll(&p, 1, tick_ms);
  bool fault = (r < 0 && r != -EINTR) || (r > 0 && (p.revents & (POLLNVAL | POLLERR)) != 0);
  if (!fault && r > 0) {
    std::uint64_t v;
    long n = sys::read(fd.fd(), &v, sizeof v);
    fault = n < 0 && n != -EAGAIN && n != -EINTR;
  }
  if (!fault) return;
  // Its fd was closed (or replaced by another file) behind the runtime's back, by a raw system
  // call. Polling it again would return at once, forever: report it once, never read it again.
  broken = true;
  std::string msg = "weft: watchdog: its eventfd (fd " + std::to_string(fd.fd()) +
                    ") was closed or replaced behind the runtime's back; it goes on without it, "
                    "checking for stalls on a timer\n";
  sys::write_stderr(msg.c_str());
}

void Watchdog::check(unsigned i, Seen& seen, std::int64_t now) {
  Carrier* c = run_.carrier(i);
  if (c == nullptr) return;
  std::uint64_t p = c->progress();
  bool busy = !c->sleeping() && c->in_fiber_;
  if (p != seen.progress || !busy || seen.since_ns == 0) {
    if (seen.reported) {
      c->stalled_.store(false, std::memory_order_relaxed);
      std::string msg = "weft: stall over: carrier " + std::to_string(i) +
                        " schedules again after " +
                        std::to_string((now - seen.since_ns) / 1000000) + " ms\n";
      sys::write_stderr(msg.c_str());
    }
    seen = Seen{p, now, false};
    return;
  }
  std::int64_t stalled = now - seen.since_ns;
  if (seen.reported || stalled < std::int64_t{run_.config().stall_ms} * 1000000) return;
  seen.reported = true;
  // The report is one write, and its frames are named last: naming loads libdw on first use
  // and reads debug info, which must delay neither the spare carrier (relieve) nor the return
  // of SIGURG to its default (sample).
  std::string msg;
  auto frames = std::make_unique<diag::RawStack>();
  report_stall(i, stalled, msg, *frames);
  std::string spare = relieve(i);
  if (frames->n > 0) diag::Symbolizer().append(*frames, "  ", msg);
  msg += spare;
  sys::write_stderr(msg.c_str());
}

void Watchdog::report_stall(unsigned i, std::int64_t stalled_ns, std::string& msg,
                            diag::RawStack& frames) {
  Carrier* c = run_.carrier(i);
  FiberControl* f = c->running_.load_acquire();
  msg = "weft: stall: carrier " + std::to_string(i) + " has run ";
  if (f != nullptr) {
    msg += "fiber " + std::to_string(f->id_) + " \"" + f->name_ + "\"";
  } else {
    msg += "its scheduler";
  }
  msg += " for " + std::to_string(stalled_ns / 1000000) +
         " ms without switching; every other fiber of that carrier waits. ";
  // A carrier asleep in a system call is not sampled: a caught signal ends a blocking call
  // (EINTR, or a restart where SA_RESTART allows one), so signalling a carrier that sits in a
  // wait the program chose (a ppoll with a signal mask, a read inside stdio) would change what
  // the program sees. The kernel names the call instead, which is what the report needs.
  SyscallProbe& probe = probes_[i];
  long nr = probe.read(c->tid());
  if (nr >= 0) {
    msg += "It sits in " + in_syscall(nr) +
           ", a call weft does not see (no backtrace: the signal that takes one would end it)\n";
    return;
  }
  msg += "It computes, or blocks in a call weft does not see. Where it is:\n";
  if (nr == SyscallProbe::kUnknown) {
    msg +=
        "  (no backtrace: /proc/self/task/TID/syscall cannot be read, so the carrier may sit in a "
        "system call, which the signal that takes one would end)\n";
  } else {
    sample(*c, probe, msg, frames);
  }
}

void Watchdog::sample(Carrier& c, SyscallProbe& probe, std::string& out, diag::RawStack& frames) {
  if (g_bt_busy.exchange(true)) {
    out += "  (no backtrace: another run's watchdog is taking one)\n";
    return;
  }
  switch (borrow_sigurg()) {
    case Borrow::kOk:
      break;
    case Borrow::kHandled:
      out += "  (no backtrace: the program handles SIGURG itself)\n";
      g_bt_busy.store(false);
      return;
    case Borrow::kIgnored:
      out += "  (no backtrace: the program ignores SIGURG)\n";
      g_bt_busy.store(false);
      return;
    case Borrow::kFailed:
      out += "  (no backtrace: SIGURG's disposition cannot be read or set)\n";
      g_bt_busy.store(false);
      return;
  }
  // The last look before the signal, as close to it as possible: what is left is the window
  // between this read and the signal's arrival, in which the carrier may enter a system call
  // (docs/design.md, the stall watchdog).
  long nr = probe.read(c.tid());
  if (nr >= 0) {
    out += "  (no backtrace: it has just entered " + in_syscall(nr) + ")\n";
  } else {
    g_bt_done.store(0);
    g_bt_wanted.store(1);
    if (sys::call(SYS_tgkill, ::getpid(), c.tid(), SIGURG) != 0) {
      g_bt_wanted.store(0);
    } else {
      // A spinning carrier answers within a scheduling slice; allow a loaded machine a second
      // before giving up (a thread stuck in an uninterruptible call never answers, and the spare
      // carrier that relieves its fibers waits for this).
      for (int k = 0; k < 1000 && g_bt_done.load(std::memory_order_acquire) == 0; ++k) {
        timespec ts{0, 1000000};
        sys::call(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, nullptr);
      }
      if (g_bt_done.load() == 0 && g_bt_wanted.exchange(0) == 0) {
        // The handler has taken the request and is storing its frames: a few microseconds more.
        for (int k = 0; k < 1000 && g_bt_done.load(std::memory_order_acquire) == 0; ++k) {
          timespec ts{0, 1000000};
          sys::call(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, nullptr);
        }
      }
      if (g_bt_done.load(std::memory_order_acquire) != 0) {
        take_backtrace(frames);
      } else {
        out += "  (no backtrace: the carrier thread did not answer the signal)\n";
      }
    }
  }
  return_sigurg();
  g_bt_busy.store(false);
}

std::string Watchdog::relieve(unsigned i) {
  std::string note;
  Carrier* stuck = run_.carrier(i);
  stuck->stalled_.store(true, std::memory_order_relaxed);
  unsigned n = run_.carriers();
  unsigned free = 0;
  for (unsigned k = 0; k < n; ++k) {
    Carrier* c = run_.carrier(k);
    if (c != nullptr && !c->stalled_.load(std::memory_order_relaxed)) ++free;
  }
  Carrier* target = nullptr;
  if (free < run_.config().carriers && n < Run::kMaxCarriers) {
    target = run_.add_spare();
    if (target != nullptr) {
      note = "weft: started spare carrier " + std::to_string(target->index()) + "\n";
    }
  }
  if (target == nullptr) {
    for (unsigned k = 0; k < n && target == nullptr; ++k) {
      Carrier* c = run_.carrier(k);
      if (c != nullptr && !c->stalled_.load(std::memory_order_relaxed)) target = c;
    }
  }
  if (target != nullptr) stuck->hand_off_fresh(*target);
  return note;
}

}  // namespace weft::rt
