// signals: sigaction and friends, the handler wrapper, and EINTR for the interposed calls.
//
// What the program installs with sigaction is kept in a table, one entry per signal: its handler
// and flags. The kernel gets the shim's wrapper in its place, with the program's flags and mask
// and SA_SIGINFO added; SIG_DFL and SIG_IGN go to the kernel as given. The kernel stays the
// truth about which signals are wrapped (glibc's own internal sigaction calls, SA_RESETHAND and
// a forked child's inheritance all act on it alone): a signal whose kernel handler is the
// wrapper has the table's handler, any other has the kernel's.
//
// The wrapper runs in a signal handler, on whichever thread the kernel picked (a carrier, in the
// middle of a fiber or of the scheduler, or a runtime helper), so it may not lock, allocate or
// touch the scheduler. It reads the table through a seqlock (the writers block every signal on
// their thread while they write, so a wrapper never spins on its own thread's writer), calls
// the program's handler with the siginfo and ucontext it got, and for a process-directed signal
// sets two atomic masks and calls rt::interrupt_fiber() for the main fiber, which only pushes
// onto a lock-free list and writes the carrier's eventfd.
//
// A signal sent to one fiber thread (pthread_kill, pthread_sigqueue) is no kernel signal at all:
// its bit is set on the thread's record and the fiber is interrupted; the fiber runs the handler
// itself, with a siginfo made here (SI_TKILL or SI_QUEUE, the sender's pid and uid) and a
// ucontext from getcontext(), under the handler's mask (applied to its carrier, like every
// fiber's mask), when it is woken or at its next interruptible call.
#include "signals.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>
#include <cerrno>

#include "base/lock.hpp"
#include "real.hpp"
#include "shim.hpp"
#include "stats.hpp"
#include "thread_record.hpp"

namespace weft::shim {

std::atomic<long> g_thread_signals{0};

namespace {

// Entry is the program's handler for one signal, read by wrappers through the seqlock seq.
struct Entry {
  std::atomic<unsigned> seq{0};
  std::atomic<void*> handler{nullptr};
  std::atomic<int> flags{0};
};
Entry g_entries[NSIG];
// Serialises the writers (each also blocks every signal on its thread meanwhile).
rt::Lock g_table_lock;
// Signals siginterrupt() made interrupting: signal() installs them without SA_RESTART.
std::atomic<std::uint64_t> g_sigintr{0};

// The main fiber, which process-directed signals interrupt, and the signals delivered to the
// process since its current wait began (all, and those whose handler had SA_RESTART).
std::atomic<detail::FiberControl*> g_main_fiber{nullptr};
std::atomic<std::uint64_t> g_delivered{0};
std::atomic<std::uint64_t> g_delivered_restart{0};

constexpr std::uint64_t bit(int sig) noexcept {
  return std::uint64_t{1} << (sig - 1);
}

// Action is a signal's disposition as the program sees it.
struct Action {
  void* handler = nullptr;  // SIG_DFL, SIG_IGN or a function
  int flags = 0;
  sigset_t mask{};
  bool wrapped = false;  // the kernel runs the wrapper, which runs handler
};

void wrapper(int sig, siginfo_t* info, void* uc);

int real_sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  auto real = WEFT_REAL(sigaction);
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(sig, act, old);
}

bool is_wrapper(const struct sigaction& k) noexcept {
  return (k.sa_flags & SA_SIGINFO) != 0 && k.sa_sigaction == &wrapper;
}

// Entry snapshot: handler and flags, consistent with each other (any context).
void read_entry(int sig, void** handler, int* flags) noexcept {
  Entry& e = g_entries[sig];
  for (;;) {
    unsigned s = e.seq.load(std::memory_order_acquire);
    if ((s & 1) != 0) continue;  // a writer on another thread is half-way
    *handler = e.handler.load(std::memory_order_relaxed);
    *flags = e.flags.load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (e.seq.load(std::memory_order_relaxed) == s) return;
  }
}

void write_entry(int sig, void* handler, int flags) noexcept {
  Entry& e = g_entries[sig];
  e.seq.fetch_add(1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  e.handler.store(handler, std::memory_order_relaxed);
  e.flags.store(flags, std::memory_order_relaxed);
  e.seq.fetch_add(1, std::memory_order_release);
}

// TableScope holds the writers' lock with every signal blocked on the calling thread, so no
// handler on this thread (which may call sigaction itself) can wait for it.
class TableScope {
 public:
  TableScope() noexcept {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old_);
    g_table_lock.lock();
  }
  ~TableScope() {
    g_table_lock.unlock();
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  TableScope(const TableScope&) = delete;
  TableScope& operator=(const TableScope&) = delete;

 private:
  sigset_t old_;
};

// user_view() is the kernel's action k as the program set it (k must be current for sig).
Action user_view(int sig, const struct sigaction& k) noexcept {
  Action a;
  a.mask = k.sa_mask;
  if (!is_wrapper(k)) {
    a.handler = reinterpret_cast<void*>(k.sa_handler);
    a.flags = k.sa_flags;
    return a;
  }
  int flags;
  read_entry(sig, &a.handler, &flags);
  a.flags = (k.sa_flags & ~SA_SIGINFO) | (flags & SA_SIGINFO);
  a.wrapped = true;
  return a;
}

// current_action() is sig's disposition now, as the program sees it.
Action current_action(int sig) noexcept {
  TableScope hold;
  struct sigaction k {};
  if (real_sigaction(sig, nullptr, &k) != 0) return Action{};
  return user_view(sig, k);
}

// install() is sigaction(2) for the program; returns 0 or -1 with errno.
int install(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  void* handler = act != nullptr ? reinterpret_cast<void*>(act->sa_handler) : nullptr;
  bool wrap = act != nullptr && act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN;
  TableScope hold;
  struct sigaction k_old {};
  if (real_sigaction(sig, nullptr, &k_old) != 0) return -1;
  Action before = user_view(sig, k_old);
  int r;
  if (wrap) {
    write_entry(sig, handler, act->sa_flags);
    struct sigaction k = *act;
    k.sa_sigaction = &wrapper;
    k.sa_flags |= SA_SIGINFO;
    r = real_sigaction(sig, &k, nullptr);
    if (r != 0 && before.wrapped) write_entry(sig, before.handler, before.flags);
  } else {
    r = real_sigaction(sig, act, nullptr);
  }
  if (r == 0 && old != nullptr) {
    *old = k_old;
    old->sa_handler = reinterpret_cast<__sighandler_t>(before.handler);
    old->sa_flags = before.flags;
  }
  return r;
}

// process_directed() tells whether a delivered signal was meant for the whole process (kill,
// the terminal, timers, children), not for the thread it ran on (tgkill, raise, a fault, the
// SIGPIPE of a write on a broken pipe).
bool process_directed(int sig, const siginfo_t* info) noexcept {
  if (info == nullptr) return true;
  if (info->si_code == SI_TKILL) return false;
  bool fault = sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE || sig == SIGTRAP;
  if (fault && info->si_code > 0) return false;
  // The kernel sends a write's SIGPIPE as SI_USER from the writer's own process.
  if (sig == SIGPIPE && info->si_code == SI_USER && info->si_pid == ::getpid()) return false;
  return true;
}

void wrapper(int sig, siginfo_t* info, void* uc) {
  void* handler;
  int flags;
  read_entry(sig, &handler, &flags);
  // SIG_DFL or SIG_IGN: the disposition changed while this delivery was on its way.
  if (handler == reinterpret_cast<void*>(SIG_DFL) || handler == reinterpret_cast<void*>(SIG_IGN)) {
    return;
  }
  if ((flags & SA_SIGINFO) != 0) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler)(sig, info, uc);
  } else {
    reinterpret_cast<void (*)(int)>(handler)(sig);
  }
  int saved = errno;
  detail::FiberControl* main = g_main_fiber.load(std::memory_order_acquire);
  if (main != nullptr && !g_disabled.load(std::memory_order_relaxed) &&
      process_directed(sig, info)) {
    // The restart bit first: whoever sees the delivery also sees how it restarts.
    if ((flags & SA_RESTART) != 0) g_delivered_restart.fetch_or(bit(sig));
    g_delivered.fetch_or(bit(sig));
    rt::interrupt_fiber(main);
  }
  errno = saved;
}

// default_ignored() tells whether sig's default action is to do nothing.
bool default_ignored(int sig) noexcept {
  return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

// raise_for_real() sends sig to the calling OS thread through the kernel (a default action,
// which ends or stops the whole process, or a handler that is not the program's).
void raise_for_real(int sig, int code, sigval value) noexcept {
  int saved = errno;
  if (code == SI_QUEUE) {
    siginfo_t info{};
    info.si_signo = sig;
    info.si_code = SI_QUEUE;
    info.si_pid = ::getpid();
    info.si_uid = ::getuid();
    info.si_value = value;
    weft::shim::raw(SYS_rt_tgsigqueueinfo, ::getpid(), weft::shim::raw(SYS_gettid), sig, &info);
  } else {
    weft::shim::raw(SYS_tgkill, ::getpid(), weft::shim::raw(SYS_gettid), sig);
  }
  errno = saved;
}

// run_handler() runs sig's handler on the calling fiber as a thread-directed delivery would;
// returns whether a handler of the program ran, and in *restart its SA_RESTART.
bool run_handler(int sig, int code, sigval value, bool* restart) noexcept {
  Action a = current_action(sig);
  if (!a.wrapped) {
    // Changed since it was sent: ignored now, or a default action that happens for real.
    bool ignored = a.handler == reinterpret_cast<void*>(SIG_IGN) ||
                   (a.handler == reinterpret_cast<void*>(SIG_DFL) && default_ignored(sig));
    if (!ignored) raise_for_real(sig, code, value);
    return false;
  }
  siginfo_t info{};
  info.si_signo = sig;
  info.si_code = code;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  if (code == SI_QUEUE) info.si_value = value;
  ucontext_t uc;
  getcontext(&uc);
  sigset_t during = a.mask;
  if ((a.flags & SA_NODEFER) == 0) sigaddset(&during, sig);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &during, &old);
  if ((a.flags & SA_RESETHAND) != 0) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    install(sig, &dfl, nullptr);
  }
  if ((a.flags & SA_SIGINFO) != 0) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(a.handler)(sig, &info, &uc);
  } else {
    reinterpret_cast<void (*)(int)>(a.handler)(sig);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  *restart = (a.flags & SA_RESTART) != 0;
  return true;
}

bool is_main_fiber() noexcept {
  return rt::running_fiber() == g_main_fiber.load(std::memory_order_relaxed);
}

// handler_of() and friends build the sigaction that signal() and sysv_signal() install.
__sighandler_t install_simple(int sig, __sighandler_t handler, int flags, bool mask_self) {
  if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
    errno = EINVAL;
    return SIG_ERR;
  }
  struct sigaction act {};
  act.sa_handler = handler;
  sigemptyset(&act.sa_mask);
  if (mask_self) sigaddset(&act.sa_mask, sig);
  act.sa_flags = flags;
  struct sigaction old {};
  if (sigaction(sig, &act, &old) < 0) return SIG_ERR;
  return old.sa_handler;
}

}  // namespace

void signals_set_main(ThreadRecord* main) noexcept {
  g_main_fiber.store(main->fiber.load(std::memory_order_acquire), std::memory_order_release);
}

int run_queued_signals(bool* all_restart) noexcept {
  if (!on_fiber()) return 0;
  ThreadRecord* t = current_thread();
  std::uint64_t pending = t->sig_pending.load(std::memory_order_acquire);
  if (pending == 0) return 0;
  sigset_t blocked;
  pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
  int ran = 0;
  for (int sig = 1; sig < NSIG; ++sig) {
    // A blocked signal stays queued until a wait after the mask lets it through.
    if ((pending & bit(sig)) == 0 || sigismember(&blocked, sig) == 1) continue;
    int code;
    sigval value{};
    {
      std::lock_guard<rt::Lock> hold(t->sig_lock);
      if ((t->sig_pending.fetch_and(~bit(sig)) & bit(sig)) == 0) continue;
      code = (t->sig_queued & bit(sig)) != 0 ? SI_QUEUE : SI_TKILL;
      t->sig_queued &= ~bit(sig);
      value = t->sig_value[sig - 1];
    }
    g_thread_signals.fetch_sub(1, std::memory_order_relaxed);
    bool restart = false;
    if (run_handler(sig, code, value, &restart)) {
      ++ran;
      if (!restart) *all_restart = false;
    }
  }
  return ran;
}

void signals_begin_wait() noexcept {
  if (is_main_fiber()) {
    g_delivered.store(0, std::memory_order_relaxed);
    g_delivered_restart.store(0, std::memory_order_relaxed);
  }
  if (g_thread_signals.load(std::memory_order_relaxed) != 0) {
    bool restart;
    run_queued_signals(&restart);
  }
}

bool signals_after_wake(Restart mode) noexcept {
  bool all_restart = true;
  int counted = run_queued_signals(&all_restart);
  if (is_main_fiber()) {
    std::uint64_t got = g_delivered.exchange(0, std::memory_order_acquire);
    std::uint64_t restarting = g_delivered_restart.exchange(0, std::memory_order_acquire);
    if (got != 0) {
      // A signal the main thread blocks went to another thread natively: it interrupts nothing.
      sigset_t blocked;
      pthread_sigmask(SIG_BLOCK, nullptr, &blocked);
      for (int sig = 1; sig < NSIG; ++sig) {
        if ((got & bit(sig)) == 0 || sigismember(&blocked, sig) == 1) continue;
        ++counted;
        if ((restarting & bit(sig)) == 0) all_restart = false;
      }
    }
  }
  // Woken with nothing for this thread (a request that came before this wait began): go on.
  if (counted == 0) return true;
  return mode == Restart::kWithSaRestart && all_restart;
}

int send_to_thread(ThreadRecord* t, int sig, int code, sigval value) noexcept {
  Action a = current_action(sig);
  if (!a.wrapped) {
    if (a.handler == reinterpret_cast<void*>(SIG_IGN)) return 0;
    if (a.handler == reinterpret_cast<void*>(SIG_DFL) && default_ignored(sig)) return 0;
    // A default action ends or stops the whole process, whichever thread takes it.
    raise_for_real(sig, code, value);
    return 0;
  }
  bool self = on_fiber() && current_thread() == t;
  {
    std::lock_guard<rt::Lock> hold(t->sig_lock);
    // An ended thread: glibc does not send (pthread_kill returns 0).
    if (t->sig_ended) return 0;
    if (code == SI_QUEUE) {
      t->sig_queued |= bit(sig);
      t->sig_value[sig - 1] = value;
    } else {
      t->sig_queued &= ~bit(sig);
    }
    // A signal already queued is not queued twice (as the kernel does for standard signals).
    if ((t->sig_pending.fetch_or(bit(sig)) & bit(sig)) == 0) {
      g_thread_signals.fetch_add(1, std::memory_order_relaxed);
    }
    detail::FiberControl* f = t->fiber.load(std::memory_order_acquire);
    // Not started yet: it runs the handler at its first interruptible call.
    if (f != nullptr && !self) rt::interrupt_fiber(f);
  }
  // To itself: the handler runs before pthread_kill returns, as natively.
  if (self) {
    bool restart;
    run_queued_signals(&restart);
  }
  return 0;
}

void forget_queued_signals(ThreadRecord* t) noexcept {
  std::lock_guard<rt::Lock> hold(t->sig_lock);
  t->fiber.store(nullptr, std::memory_order_release);
  t->sig_ended = true;
  std::uint64_t left = t->sig_pending.exchange(0);
  if (left != 0) g_thread_signals.fetch_sub(__builtin_popcountll(left), std::memory_order_relaxed);
}

}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below are this file's whole content

extern "C" {

WEFT_EXPORT int sigaction(int sig, const struct sigaction* act, struct sigaction* old) noexcept {
  // SIGKILL and SIGSTOP cannot be caught; glibc refuses its own signals (32, 33) itself.
  if (sig < 1 || sig >= NSIG || sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33) {
    count(Sym::sigaction, Route::kOffFiber);
    return real_sigaction(sig, act, old);
  }
  count(Sym::sigaction, Route::kWeft);
  return install(sig, act, old);
}

WEFT_EXPORT __sighandler_t signal(int sig, __sighandler_t handler) noexcept {
  count(Sym::signal, Route::kWeft);
  // BSD semantics, as glibc's signal(): restart, and the signal blocked in its own handler.
  bool interrupts = sig >= 1 && sig < NSIG && (g_sigintr.load() & bit(sig)) != 0;
  return install_simple(sig, handler, interrupts ? 0 : SA_RESTART, true);
}

WEFT_EXPORT __sighandler_t sysv_signal(int sig, __sighandler_t handler) noexcept {
  count(Sym::sysv_signal, Route::kWeft);
  return install_simple(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}

// Strict ISO C and XOPEN programs call this for signal() (glibc's <signal.h> redirects them).
WEFT_EXPORT __sighandler_t __sysv_signal(int sig, __sighandler_t handler) noexcept {
  count(Sym::__sysv_signal, Route::kWeft);
  return install_simple(sig, handler, SA_RESETHAND | SA_NODEFER, false);
}

WEFT_EXPORT int siginterrupt(int sig, int interrupt) noexcept {
  count(Sym::siginterrupt, Route::kWeft);
  struct sigaction act {};
  if (sigaction(sig, nullptr, &act) < 0) return -1;
  if (interrupt != 0) {
    g_sigintr.fetch_or(bit(sig));
    act.sa_flags &= ~SA_RESTART;
  } else {
    g_sigintr.fetch_and(~bit(sig));
    act.sa_flags |= SA_RESTART;
  }
  return sigaction(sig, &act, nullptr) < 0 ? -1 : 0;
}

}  // extern "C"
