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
#include <cstdlib>
#include <cstring>

#include "base/lock.hpp"
#include "real.hpp"
#include "sched/carrier_tasks.hpp"
#include "sched/fls.hpp"
#include "shim.hpp"
#include "sigmask.hpp"
#include "stats.hpp"
#include "thread_record.hpp"

namespace weft::shim {

std::atomic<long> g_thread_signals{0};

ThreadRecord* program_thread() noexcept {
  if (!on_fiber()) return nullptr;
  return static_cast<ThreadRecord*>(rt::fls_owner());
}

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

// The main thread, which the kernel prefers for a process-directed signal.
std::atomic<ThreadRecord*> g_main{nullptr};

// Signals pending for the process that the kernel no longer holds: one reached a carrier that
// had not yet applied a newer everyone-blocks set (sigmask.hpp), and no thread took it.
rt::Lock g_proc_lock;
std::atomic<std::uint64_t> g_proc_pending{0};
SigSlot g_proc_slot[64];

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
  TableScope() noexcept { g_table_lock.lock(); }
  ~TableScope() { g_table_lock.unlock(); }
  TableScope(const TableScope&) = delete;
  TableScope& operator=(const TableScope&) = delete;

 private:
  KernelBlock block_;
};

// user_view() is the kernel's action k as the program set it (k must be current for sig).
Action user_view(int sig, const struct sigaction& k) noexcept {
  Action a;
  a.mask = k.sa_mask;
  if (!is_wrapper(k)) {
    a.handler = reinterpret_cast<void*>(k.sa_handler);
    a.flags = k.sa_flags;
    // weft's stats handler stands in for SIG_DFL (stats.hpp).
    if (stats_owns_signal(sig)) {
      a.handler = reinterpret_cast<void*>(SIG_DFL);
      a.flags = 0;
    }
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
  if (act != nullptr && sig > 0 && sig == stats_signal()) {
    // WEFT_STATS_SIGNAL is weft's: the program's disposition of it changes nothing, and reads
    // back as SIG_DFL (docs/shim.md).
    if (old != nullptr) {
      *old = {};
      old->sa_handler = SIG_DFL;
    }
    return 0;
  }
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
    if (r == 0 && act != nullptr && act->sa_handler == SIG_DFL) stats_keep_default(sig);
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

// default_ignored() tells whether sig's default action is to do nothing.
bool default_ignored(int sig) noexcept {
  return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG || sig == SIGWINCH;
}

SigSlot slot_of(const siginfo_t* info) noexcept {
  SigSlot s{};
  if (info == nullptr) {
    s.code = SI_USER;
    return s;
  }
  s.code = info->si_code;
  s.errno_ = info->si_errno;
  static_assert(sizeof info->_sifields >= sizeof s.fields);
  std::memcpy(s.fields, &info->_sifields, sizeof s.fields);
  return s;
}

SigSlot slot_from_sender(int code, sigval value) noexcept {
  siginfo_t info{};
  info.si_code = code;
  info.si_pid = ::getpid();
  info.si_uid = ::getuid();
  if (code == SI_QUEUE) info.si_value = value;
  return slot_of(&info);
}

// raise_for_real() sends sig to the calling OS thread through the kernel (a default action,
// which ends or stops the whole process), unblocking it there for the moment it takes.
void raise_for_real(int sig, const SigSlot& slot) noexcept {
  int saved = errno;
  sigset_t one, old;
  sigemptyset(&one);
  sigaddset(&one, sig);
  sys::call(SYS_rt_sigprocmask, SIG_UNBLOCK, &one, &old, _NSIG / 8);
  long tid = weft::shim::raw(SYS_gettid);
  if (slot.code == SI_QUEUE) {
    siginfo_t info{};
    info_of(sig, slot, &info);
    weft::shim::raw(SYS_rt_tgsigqueueinfo, ::getpid(), tid, sig, &info);
  } else {
    weft::shim::raw(SYS_tgkill, ::getpid(), tid, sig);
  }
  sys::set_signal_mask(old);
  errno = saved;
}

// call_handler() calls the program's handler for sig on the calling fiber, t's, with t's mask
// widened by the handler's mask (and sig, without SA_NODEFER) while it runs, as the kernel
// widens a thread's.
void call_handler(ThreadRecord* t, int sig, void* handler, int flags, const sigset_t& sa_mask,
                  siginfo_t* info, void* uc) noexcept {
  std::uint64_t before = 0, during = 0;
  if (t != nullptr) {
    before = t->sig_mask.load(std::memory_order_acquire);
    during = before | bits_of(sa_mask);
    if ((flags & SA_NODEFER) == 0) during |= sig_bit(sig);
    during &= ~kNeverMasked;
    // A handler left with siglongjmp gives the thread the mask it had before the outermost one.
    if (t->sig_handler_depth++ == 0) t->sig_before_handler = before;
    t->sig_mask.store(during, std::memory_order_release);
  }
  if ((flags & SA_SIGINFO) != 0) {
    reinterpret_cast<void (*)(int, siginfo_t*, void*)>(handler)(sig, info, uc);
  } else {
    reinterpret_cast<void (*)(int)>(handler)(sig);
  }
  if (t == nullptr) return;
  --t->sig_handler_depth;
  t->sig_handled.fetch_add(1, std::memory_order_release);
  // The handler's return gives the thread its mask back, as the kernel's sigreturn does; a
  // mask the handler set itself counted already and is replaced the counted way.
  if (!t->sig_mask.compare_exchange_strong(during, before, std::memory_order_acq_rel)) {
    set_thread_mask(t, before);
  }
}

// queue_on() queues sig (with slot's siginfo) on t; returns false if t has ended. A standard
// signal already queued is not queued twice, as the kernel does.
bool queue_on(ThreadRecord* t, int sig, const SigSlot& slot, bool from_process = false) noexcept {
  SigLockScope hold(t->sig_lock);
  if (t->sig_ended) return false;
  if (from_process) {
    t->sig_from_process |= bit(sig);
  } else {
    t->sig_from_process &= ~bit(sig);
  }
  if ((t->sig_pending.load(std::memory_order_relaxed) & bit(sig)) == 0) {
    // With every slot taken, the signal is queued without its siginfo (SI_USER, no sender).
    for (int i = 0; i < ThreadRecord::kSigSlots; ++i) {
      if (t->sig_slot_of[i] != 0) continue;
      t->sig_slot_of[i] = static_cast<std::uint8_t>(sig);
      t->sig_slot[i] = slot;
      break;
    }
    t->sig_pending.fetch_or(bit(sig), std::memory_order_release);
    g_thread_signals.fetch_add(1, std::memory_order_relaxed);
  }
  return true;
}

// Notified is what notify() did: t will run the signal (its wait was interrupted, or its
// carrier kicked, or it has not started), or nothing could reach t now.
enum class Notified { kReached, kUnreachable };

// kKickErrno marks a kick in si_errno, which no kill() or sigqueue() of another sender sets.
constexpr int kKickErrno = 0x77656674;  // "weft"

// notify() makes t run what is queued on it: its interruptible wait ends, or, if it runs on
// another carrier right now, that carrier is kicked with sig, whose wrapper runs it there. A
// thread parked in a wait no signal ends (a mutex, a condition variable) or ready to run cannot
// be reached now: kUnreachable.
Notified notify(ThreadRecord* t, int sig) noexcept {
  SigLockScope hold(t->sig_lock);
  detail::FiberControl* f = t->fiber.load(std::memory_order_acquire);
  if (f == nullptr) return Notified::kReached;  // not started: its first interruptible call
  if (rt::in_interruptible_wait(f)) {
    rt::interrupt_fiber(f);
    return Notified::kReached;
  }
  int tid = rt::running_tid(f);
  if (tid != 0 && tid != static_cast<int>(weft::shim::raw(SYS_gettid))) {
    siginfo_t info{};
    info.si_signo = sig;
    info.si_code = SI_QUEUE;
    info.si_errno = kKickErrno;
    info.si_pid = ::getpid();
    info.si_uid = ::getuid();
    info.si_value.sival_ptr = t;
    // The interrupt too: the carrier takes it once t has switched away, so a t that parks in an
    // interruptible wait before the kick lands (pause, sigwait) is still woken.
    rt::interrupt_fiber(f);
    weft::shim::raw(SYS_rt_tgsigqueueinfo, ::getpid(), tid, sig, &info);
    return Notified::kReached;
  }
  // Parked where no interrupt reaches, or about to run: the interrupt is remembered for its
  // next interruptible wait, but the handler would wait until then.
  rt::interrupt_fiber(f);
  return Notified::kUnreachable;
}

bool is_kick(const siginfo_t* info) noexcept {
  return info != nullptr && info->si_code == SI_QUEUE && info->si_errno == kKickErrno &&
         info->si_pid == ::getpid();
}

// hold_for_process() keeps sig pending for the process, emulated (no thread takes it now).
void hold_for_process(int sig, const SigSlot& slot) noexcept {
  SigLockScope hold(g_proc_lock);
  if ((g_proc_pending.load(std::memory_order_relaxed) & bit(sig)) == 0) {
    g_proc_slot[sig - 1] = slot;
    g_proc_pending.fetch_or(bit(sig), std::memory_order_release);
  }
}

// Handler is the program's handler for a signal as a delivery finds it.
struct Handler {
  void* fn;
  int flags;
  sigset_t mask;
};

// handler_now() reads sig's handler into *h; false when the disposition is SIG_DFL or SIG_IGN
// (it changed while the delivery was on its way).
bool handler_now(int sig, Handler* h) noexcept {
  read_entry(sig, &h->fn, &h->flags);
  if (h->fn == reinterpret_cast<void*>(SIG_DFL) || h->fn == reinterpret_cast<void*>(SIG_IGN)) {
    return false;
  }
  struct sigaction k {};
  real_sigaction(sig, nullptr, &k);
  h->mask = k.sa_mask;
  return true;
}

// run_for() runs, here and now, the handler of sig queued on t, which nothing else can make t
// run soon (it waits where no signal reaches): natively the handler would run on t at once and
// its wait go on, so it runs promptly, on the fiber this carrier interrupted. t's mask is t's to
// change (it may be running on another carrier): the handler runs under the kernel's widened
// mask only, and counts as run on t (pause and sigsuspend on t return).
void run_for(ThreadRecord* t, int sig, ucontext_t* uc) noexcept {
  // Not on a carrier between fibers: a handler that leaves with siglongjmp (a shell's trap)
  // would jump from the carrier's stack into t's, which glibc refuses with an abort. The signal
  // stays queued, and the interrupt notify() left makes t's next interruptible wait run it.
  if (program_thread() == nullptr) return;
  int got;
  SigSlot slot;
  if (!take_queued(t, bit(sig), &got, &slot)) return;  // t ran it meanwhile
  Handler h;
  if (!handler_now(sig, &h)) return;
  siginfo_t info;
  info_of(sig, slot, &info);
  call_handler(nullptr, sig, h.fn, h.flags, h.mask, &info, uc);
  t->sig_handled.fetch_add(1, std::memory_order_release);
}

// Deferred is a delivery that came while this thread held one of the shim's signal locks, kept
// until the outermost one is released (signals_run_deferred()).
struct Deferred {
  int sig;
  siginfo_t info;
};
// Four: the window is a few instructions, and the array is thread-local storage, which every
// thread of the program carries in its own block (132 bytes a slot).
constexpr int kDeferred = 4;
constinit thread_local Deferred tls_deferred[kDeferred] __attribute__((tls_model("initial-exec")));
constinit thread_local int tls_deferred_count __attribute__((tls_model("initial-exec"))) = 0;

// choose_thread() is the thread that takes sig sent to the process, as the kernel picks: main if
// it does not block it, else self (the thread the carrier runs) if it does not, else any that
// does not; nullptr when every thread blocks it.
ThreadRecord* choose_thread(int sig, ThreadRecord* self) noexcept {
  ThreadRecord* main = g_main.load(std::memory_order_acquire);
  if (main != nullptr && main->sig_registered &&
      (main->sig_mask.load(std::memory_order_acquire) & bit(sig)) == 0) {
    return main;
  }
  return find_unblocking(sig, self);
}

void dispatch(int sig, siginfo_t* info, ucontext_t* uc) noexcept {
  if (in_sig_lock()) {
    // This handler interrupted a holder of the shim's signal locks on this very thread: no lock
    // may be taken, and the program's handler might want one (pthread_sigmask, raise). The
    // delivery waits until the holder lets go, a few instructions on (signals_run_deferred()).
    if (tls_deferred_count < kDeferred) {
      Deferred& d = tls_deferred[tls_deferred_count];
      d.sig = sig;
      d.info = *info;
      std::atomic_signal_fence(std::memory_order_seq_cst);
      ++tls_deferred_count;
      return;
    }
    // More than a handful at once: run it here, as the kernel delivered it.
    Handler h;
    if (!is_kick(info) && handler_now(sig, &h)) {
      call_handler(nullptr, sig, h.fn, h.flags, h.mask, info, uc);
    }
    return;
  }
  if (is_kick(info)) {
    auto* target = static_cast<ThreadRecord*>(info->si_value.sival_ptr);
    // The target may have ended and been joined since the kick was sent: a freed record's magic
    // is cleared first, and the weft heap keeps its memory mapped.
    if (target->magic != ThreadRecord::kMagic) return;
    if (program_thread() == target) {
      bool restart;
      run_queued_signals(&restart);
    } else if (notify(target, sig) == Notified::kUnreachable) {
      run_for(target, sig, uc);  // it moved on before the kick landed, to where none reaches
    }
    return;
  }
  Handler h;
  if (!handler_now(sig, &h)) return;
  ThreadRecord* self = g_disabled.load(std::memory_order_relaxed) ? nullptr : program_thread();
  if (self == nullptr &&
      (g_disabled.load(std::memory_order_relaxed) ||
       g_main.load(std::memory_order_acquire) == nullptr || !process_directed(sig, info))) {
    // No emulation here: a forked child running natively, or a signal about this very thread
    // while it runs no fiber of the program.
    call_handler(nullptr, sig, h.fn, h.flags, h.mask, info, uc);
    return;
  }
  if (!process_directed(sig, info)) {
    if ((self->sig_mask.load(std::memory_order_acquire) & bit(sig)) == 0) {
      call_handler(self, sig, h.fn, h.flags, h.mask, info, uc);
    } else {
      queue_on(self, sig, slot_of(info));  // the thread blocks it: pending on the thread
    }
    return;
  }
  ThreadRecord* target = choose_thread(sig, self);
  if (target == nullptr) {
    // Every thread blocks it, but this carrier did not know yet: pending for the process, and
    // the carrier blocks it from the handler's return on.
    hold_for_process(sig, slot_of(info));
    block_on_return(uc, sig);
    return;
  }
  if (target == self) {
    call_handler(self, sig, h.fn, h.flags, h.mask, info, uc);
    return;
  }
  if (queue_on(target, sig, slot_of(info), true) && notify(target, sig) == Notified::kUnreachable) {
    run_for(target, sig, uc);
  }
}

void wrapper(int sig, siginfo_t* info, void* ucv) {
  int saved = errno;
  auto* uc = static_cast<ucontext_t*>(ucv);
  SigBits applied = applied_here();
  dispatch(sig, info, uc);
  fix_return_mask(uc, applied);
  errno = saved;
}

// run_handler() runs sig's handler on the calling fiber t as a delivery to it would; returns
// whether a handler of the program ran, and in *restart its SA_RESTART.
bool run_handler(ThreadRecord* t, int sig, const SigSlot& slot, bool* restart) noexcept {
  Action a = current_action(sig);
  if (!a.wrapped) {
    // Changed since it was sent: ignored now, or a default action that happens for real.
    bool ignored = a.handler == reinterpret_cast<void*>(SIG_IGN) ||
                   (a.handler == reinterpret_cast<void*>(SIG_DFL) && default_ignored(sig));
    if (!ignored) raise_for_real(sig, slot);
    return false;
  }
  siginfo_t info{};
  info_of(sig, slot, &info);
  ucontext_t uc;
  getcontext(&uc);
  if ((a.flags & SA_RESETHAND) != 0) {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    install(sig, &dfl, nullptr);
  }
  call_handler(t, sig, a.handler, a.flags, a.mask, &info, &uc);
  *restart = (a.flags & SA_RESTART) != 0;
  return true;
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

void info_of(int sig, const SigSlot& slot, siginfo_t* info) noexcept {
  std::memset(info, 0, sizeof *info);
  info->si_signo = sig;
  info->si_code = slot.code;
  info->si_errno = slot.errno_;
  std::memcpy(&info->_sifields, slot.fields, sizeof slot.fields);
}

void signals_run_deferred() noexcept {
  while (tls_deferred_count > 0) {
    Deferred d = tls_deferred[tls_deferred_count - 1];
    std::atomic_signal_fence(std::memory_order_seq_cst);
    --tls_deferred_count;
    ucontext_t uc;
    getcontext(&uc);
    dispatch(d.sig, &d.info, &uc);
  }
}

bool redeliver_kick(int sig, const siginfo_t* info) noexcept {
  if (!is_kick(info)) return false;
  auto* target = static_cast<ThreadRecord*>(info->si_value.sival_ptr);
  if (target->magic != ThreadRecord::kMagic) return true;  // ended since (see dispatch())
  // Taken by a wait on the kicked carrier instead of by the wrapper: reach the target again.
  notify(target, sig);
  return true;
}

void signals_set_main(ThreadRecord* main) noexcept {
  g_main.store(main, std::memory_order_release);
}

bool take_queued(ThreadRecord* t, std::uint64_t want, int* sig, SigSlot* slot) noexcept {
  if ((t->sig_pending.load(std::memory_order_acquire) & want) == 0) return false;
  SigLockScope hold(t->sig_lock);
  std::uint64_t have = t->sig_pending.load(std::memory_order_relaxed) & want;
  if (have == 0) return false;
  int s = __builtin_ctzll(have) + 1;
  t->sig_pending.fetch_and(~bit(s), std::memory_order_release);
  t->sig_from_process &= ~bit(s);
  g_thread_signals.fetch_sub(1, std::memory_order_relaxed);
  *sig = s;
  *slot = SigSlot{SI_USER, 0, {}};
  for (int i = 0; i < ThreadRecord::kSigSlots; ++i) {
    if (t->sig_slot_of[i] != s) continue;
    *slot = t->sig_slot[i];
    t->sig_slot_of[i] = 0;
    break;
  }
  return true;
}

bool take_process_pending(std::uint64_t want, int* sig, SigSlot* slot) noexcept {
  if ((g_proc_pending.load(std::memory_order_acquire) & want) == 0) return false;
  SigLockScope hold(g_proc_lock);
  std::uint64_t have = g_proc_pending.load(std::memory_order_relaxed) & want;
  if (have == 0) return false;
  int s = __builtin_ctzll(have) + 1;
  g_proc_pending.fetch_and(~bit(s), std::memory_order_release);
  *sig = s;
  *slot = g_proc_slot[s - 1];
  return true;
}

std::uint64_t process_pending() noexcept {
  return g_proc_pending.load(std::memory_order_acquire);
}

int run_queued_signals(bool* all_restart) noexcept {
  ThreadRecord* t = program_thread();
  if (t == nullptr) return 0;
  int ran = 0;
  for (;;) {
    std::uint64_t open = ~t->sig_mask.load(std::memory_order_acquire);
    int sig;
    SigSlot slot;
    // Queued on the thread first, then the process's, as the kernel dequeues.
    if (!take_queued(t, open, &sig, &slot) && !take_process_pending(open, &sig, &slot)) break;
    bool restart = false;
    if (run_handler(t, sig, slot, &restart)) {
      ++ran;
      if (!restart) *all_restart = false;
    }
  }
  return ran;
}

void signals_begin_wait() noexcept {
  if (g_thread_signals.load(std::memory_order_relaxed) != 0 ||
      g_proc_pending.load(std::memory_order_relaxed) != 0) {
    bool restart;
    run_queued_signals(&restart);
  }
}

bool signals_after_wake(Restart mode) noexcept {
  bool all_restart = true;
  int counted = run_queued_signals(&all_restart);
  // Woken with nothing for this thread (a request that came before this wait began): go on.
  if (counted == 0) return true;
  return mode == Restart::kWithSaRestart && all_restart;
}

int send_to_thread(ThreadRecord* t, int sig, int code, sigval value) noexcept {
  bool blocked = (t->sig_mask.load(std::memory_order_acquire) & bit(sig)) != 0;
  SigSlot slot = slot_from_sender(code, value);
  if (!blocked) {
    Action a = current_action(sig);
    if (!a.wrapped) {
      if (a.handler == reinterpret_cast<void*>(SIG_IGN)) return 0;
      if (a.handler == reinterpret_cast<void*>(SIG_DFL) && default_ignored(sig)) return 0;
      // A default action ends or stops the whole process, whichever thread takes it.
      raise_for_real(sig, slot);
      return 0;
    }
  }
  // To itself and let through: the handler runs before the call returns, as natively, also on
  // a thread that is ending (whose queue takes nothing more).
  bool self = on_fiber() && current_thread() == t;
  if (self && !blocked) {
    bool restart;
    run_handler(t, sig, slot, &restart);
    return 0;
  }
  // A blocked signal stays pending on the thread whatever its disposition, as natively.
  if (!queue_on(t, sig, slot)) return 0;  // ended: glibc does not send (pthread_kill returns 0)
  if (!self) notify(t, sig);
  return 0;
}

bool send_to_self_process(int sig, int code, sigval value) noexcept {
  if (!on_fiber() || g_main.load(std::memory_order_acquire) == nullptr || sig < 1 || sig >= NSIG ||
      sig == SIGKILL || sig == SIGSTOP || sig == 32 || sig == 33) {
    return false;
  }
  Handler h;
  if (!handler_now(sig, &h)) return false;  // a default action or SIG_IGN: the kernel's to do
  ThreadRecord* self = program_thread();
  ThreadRecord* target = choose_thread(sig, self);
  if (target == nullptr) {
    // Every thread blocks it: it must be pending in the kernel (sigwait, signalfd, sigpending),
    // unless a carrier has not applied the newest set yet and would take it from there: then
    // the shim keeps it for the process, where sigpending, sigwait and an unblock find it.
    if (!carriers_behind()) return false;
    hold_for_process(sig, slot_from_sender(code, value));
    return true;
  }
  SigSlot slot = slot_from_sender(code, value);
  if (target == self) {
    // The sender is the thread the kernel would pick: the handler runs before kill returns.
    bool restart;
    run_handler(self, sig, slot, &restart);
    return true;
  }
  if (queue_on(target, sig, slot, true) && notify(target, sig) == Notified::kUnreachable) {
    // Waiting where no signal reaches (a condition variable, a mutex, a join): the handler runs
    // now, on the sender, as the wrapper's run_for() does, since natively it would run at once
    // while that wait goes on (a sender may wait for it before it releases the waiter).
    int got;
    SigSlot taken;
    if (take_queued(target, bit(sig), &got, &taken)) {
      siginfo_t info;
      info_of(sig, taken, &info);
      ucontext_t uc;
      getcontext(&uc);
      call_handler(nullptr, sig, h.fn, h.flags, h.mask, &info, &uc);
      target->sig_handled.fetch_add(1, std::memory_order_release);
    }
  }
  return true;
}

void forget_queued_signals(ThreadRecord* t) noexcept {
  sigmask_unregister(t);
  SigLockScope hold(t->sig_lock);
  t->fiber.store(nullptr, std::memory_order_release);
  t->sig_ended = true;
  std::uint64_t left = t->sig_pending.exchange(0);
  // What was sent to the process and chose this thread is the process's again: another thread
  // takes it (natively the kernel would have picked one that lives on).
  for (int i = 0; i < ThreadRecord::kSigSlots; ++i) {
    int sig = t->sig_slot_of[i];
    t->sig_slot_of[i] = 0;
    if (sig != 0 && (left & bit(sig)) != 0 && (t->sig_from_process & bit(sig)) != 0) {
      hold_for_process(sig, t->sig_slot[i]);
    }
  }
  t->sig_from_process = 0;
  if (left != 0) g_thread_signals.fetch_sub(__builtin_popcountll(left), std::memory_order_relaxed);
}

void signals_after_fork_child(ThreadRecord* self, bool fresh) noexcept {
  // A forked child starts with nothing pending, as natively.
  new (&g_proc_lock) rt::Lock();
  g_proc_pending.store(0, std::memory_order_relaxed);
  new (&self->sig_lock) rt::Lock();
  self->sig_pending.store(0, std::memory_order_relaxed);
  for (auto& of : self->sig_slot_of) of = 0;
  g_thread_signals.store(0, std::memory_order_relaxed);
  g_main.store(self, std::memory_order_release);
  sigmask_after_fork_child(self, fresh);
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
