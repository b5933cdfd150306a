// sigmask: the registry of the program's threads, their masks, and the carriers' kernel masks.
//
// The counts: g_unblocked[s] is how many registered threads do not block signal s, so the set
// every thread blocks is the signals whose count is 0. A mask change moves at most 64 counts,
// whatever the number of threads. The registry (a list of the live threads) serves only the
// wrapper's search for a thread that does not block a signal when neither main nor the fiber it
// interrupted qualifies. Both are guarded by one lock, held through a SigLockScope, since the
// wrapper takes it in a signal handler.
#include "sigmask.hpp"

#include <sys/syscall.h>

#include <atomic>
#include <cstring>
#include <new>

#include "base/list.hpp"
#include "base/lock.hpp"
#include "base/sys.hpp"
#include "real.hpp"
#include "sched/carrier_tasks.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "thread_record.hpp"

namespace weft::shim {

namespace {

rt::Lock g_lock;
rt::List<ThreadRecord, &ThreadRecord::reg_next, &ThreadRecord::reg_prev> g_threads;
int g_unblocked[65] = {};
std::atomic<SigBits> g_all_block{0};

// applied() is what this carrier's kernel mask holds of all_block(): per OS thread, so not in
// TLS, which follows the fiber.
SigBits& applied() noexcept {
  return rt::carrier_word();
}
// How many SigLockScopes this thread is inside.
constinit thread_local int tls_sig_locks __attribute__((tls_model("initial-exec"))) = 0;

constexpr SigBits kAll = ~SigBits{0};

// carrier_bits() is the part of the everyone-blocks set a carrier blocks in the kernel.
SigBits carrier_bits(SigBits all) noexcept {
  return all & ~kNeverMasked & ~sig_bit(SIGURG);
}

// recount() recomputes the everyone-blocks set from the counts (lock held).
SigBits recount() noexcept {
  SigBits all = 0;
  for (int s = 1; s <= 64; ++s) {
    if (g_unblocked[s] == 0) all |= sig_bit(s);
  }
  all &= ~kNeverMasked;
  g_all_block.store(all, std::memory_order_release);
  return all;
}

// count() adds (+1) or removes (-1) mask's thread from the counts (lock held).
void count(SigBits mask, int delta) noexcept {
  for (int s = 1; s <= 64; ++s) {
    if ((mask & sig_bit(s)) == 0) g_unblocked[s] += delta;
  }
}

// How many posted applications have not run yet: while it is above 0, some carrier may still
// take a signal every thread blocks (posted minus run; a task that runs before its post is
// counted has applied the newest set anyway).
std::atomic<long> g_unapplied{0};

void apply_task() noexcept {
  apply_carrier_mask();
  g_unapplied.fetch_sub(1, std::memory_order_acq_rel);
}

// changed() applies a new everyone-blocks set here and on every other carrier.
void changed() noexcept {
  apply_carrier_mask();
  g_unapplied.fetch_add(rt::post_to_every_carrier(&apply_task), std::memory_order_acq_rel);
}

// RegistryScope holds g_lock.
class RegistryScope : public SigLockScope {
 public:
  RegistryScope() noexcept : SigLockScope(g_lock) {}
};

}  // namespace

SigBits bits_of(const sigset_t& set) noexcept {
  SigBits bits = 0;
  for (int s = 1; s <= 64; ++s) {
    if (sigismember(&set, s) == 1) bits |= sig_bit(s);
  }
  return bits;
}

void sigset_of(SigBits bits, sigset_t* set) noexcept {
  sigemptyset(set);
  for (int s = 1; s <= 64; ++s) {
    if ((bits & sig_bit(s)) != 0) sigaddset(set, s);
  }
}

SigLockScope::SigLockScope(rt::Lock& lock) noexcept : lock_(lock) {
  // Counted before the lock is taken: a handler between the two must not wait either.
  ++tls_sig_locks;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  lock_.lock();
}

SigLockScope::~SigLockScope() {
  lock_.unlock();
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (--tls_sig_locks == 0) signals_run_deferred();
}

bool in_sig_lock() noexcept {
  return tls_sig_locks != 0;
}

KernelBlock::KernelBlock() noexcept {
  sys::block_all_signals(&old_);
}

KernelBlock::~KernelBlock() {
  sys::set_signal_mask(old_);
}

void sigmask_register(ThreadRecord* t, SigBits mask) noexcept {
  mask &= ~kNeverMasked;
  t->sig_mask.store(mask, std::memory_order_release);
  SigBits before, after;
  {
    RegistryScope hold;
    if (t->sig_registered) return;
    t->sig_counted = mask;
    t->sig_registered = true;
    g_threads.push_back(t);
    before = g_all_block.load(std::memory_order_relaxed);
    count(mask, +1);
    after = recount();
  }
  // Only main's registration can change the set: a new thread has its creator's mask.
  if (after != before) changed();
}

void sigmask_unregister(ThreadRecord* t) noexcept {
  SigBits before, after;
  {
    RegistryScope hold;
    if (!t->sig_registered) return;
    t->sig_registered = false;
    g_threads.remove(t);
    before = g_all_block.load(std::memory_order_relaxed);
    count(t->sig_counted, -1);
    after = recount();
  }
  if (after != before) changed();
}

SigBits set_thread_mask(ThreadRecord* t, SigBits mask) noexcept {
  mask &= ~kNeverMasked;
  SigBits old = t->sig_mask.exchange(mask, std::memory_order_acq_rel);
  SigBits before, after;
  {
    RegistryScope hold;
    if (!t->sig_registered) return old;
    before = g_all_block.load(std::memory_order_relaxed);
    count(t->sig_counted, -1);
    count(mask, +1);
    t->sig_counted = mask;
    after = recount();
  }
  if (after != before) changed();
  return old;
}

bool carriers_behind() noexcept {
  return g_unapplied.load(std::memory_order_acquire) > 0;
}

SigBits all_block() noexcept {
  return g_all_block.load(std::memory_order_acquire);
}

ThreadRecord* find_unblocking(int sig, ThreadRecord* prefer) noexcept {
  SigBits bit = sig_bit(sig);
  if (prefer != nullptr && (prefer->sig_mask.load(std::memory_order_acquire) & bit) == 0) {
    return prefer;
  }
  if (in_sig_lock()) return nullptr;  // a handler that interrupted the registry's holder
  RegistryScope hold;
  for (ThreadRecord* t = g_threads.front(); t != nullptr; t = g_threads.next(t)) {
    if ((t->sig_mask.load(std::memory_order_acquire) & bit) == 0) return t;
  }
  return nullptr;
}

void apply_carrier_mask() noexcept {
  SigBits want = carrier_bits(all_block());
  SigBits add = want & ~applied();
  SigBits remove = applied() & ~want;
  if (add == 0 && remove == 0) return;
  sigset_t set;
  if (add != 0) {
    sigset_of(add, &set);
    sys::call(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, _NSIG / 8);
  }
  if (remove != 0) {
    sigset_of(remove, &set);
    sys::call(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, nullptr, _NSIG / 8);
  }
  applied() = want;
}

void carrier_mask_start() noexcept {
  // The thread began with everything blocked (sys::start_thread), SIGURG included, which a
  // carrier never blocks: counting it as applied makes the first apply unblock it.
  applied() = kAll & ~kNeverMasked;
  apply_carrier_mask();
}

SigBits applied_here() noexcept {
  return applied();
}

void fix_return_mask(ucontext_t* uc, SigBits applied_at_entry) noexcept {
  // The kernel gives the interrupted code the mask saved in uc when the handler returns: what
  // changed of this carrier's share meanwhile (the handler's own mask calls, or other fibers of
  // the carrier, if the handler parked) must change there too, or the carrier would go back to
  // a stale set. A started fiber never changes carrier, so entry and return are on this one.
  SigBits now = applied();
  for (int s = 1; s <= 64; ++s) {
    SigBits b = sig_bit(s);
    if ((now & b) != 0 && (applied_at_entry & b) == 0) sigaddset(&uc->uc_sigmask, s);
    if ((now & b) == 0 && (applied_at_entry & b) != 0) sigdelset(&uc->uc_sigmask, s);
  }
}

void block_on_return(ucontext_t* uc, int sig) noexcept {
  if (sig == SIGURG) return;  // the watchdog's: never blocked on a carrier
  sigaddset(&uc->uc_sigmask, sig);
  applied() |= sig_bit(sig);
}

void sigmask_after_fork_child(ThreadRecord* self, bool fresh) noexcept {
  // The parent's other threads are gone; their records are the parent's memory, left alone.
  new (&g_lock) rt::Lock();
  g_threads = {};
  g_unapplied.store(0, std::memory_order_relaxed);
  std::memset(g_unblocked, 0, sizeof g_unblocked);
  SigBits mask = self->sig_mask.load(std::memory_order_relaxed);
  self->sig_registered = false;
  self->reg_next = self->reg_prev = nullptr;
  sigset_t set;
  if (!fresh) {
    // The thread runs natively from now on: its mask is the kernel's.
    sigset_of(mask, &set);
    sys::set_signal_mask(set);
    return;
  }
  self->sig_counted = mask;
  self->sig_registered = true;
  g_threads.push_back(self);
  count(mask, +1);
  SigBits all = recount();
  sigset_of(carrier_bits(all), &set);
  sys::set_signal_mask(set);
  applied() = carrier_bits(all);
}

namespace {
SigBits g_start_mask = 0;
}  // namespace

void sigmask_capture_start() noexcept {
  sigset_t cur;
  sys::call(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &cur, _NSIG / 8);
  g_start_mask = bits_of(cur) & ~kNeverMasked;
  // Until main registers, the set is main's: carriers that start before take it.
  g_all_block.store(g_start_mask, std::memory_order_release);
  applied() = carrier_bits(g_start_mask);
}

SigBits start_mask() noexcept {
  return g_start_mask;
}

SigBits fiber_mask() noexcept {
  if (on_fiber()) return current_thread()->sig_mask.load(std::memory_order_acquire);
  sigset_t cur;
  sys::call(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &cur, _NSIG / 8);
  return bits_of(cur);
}

ExecMask::ExecMask() noexcept {
  if (!on_fiber()) return;
  sigset_t want;
  sigset_of(current_thread()->sig_mask.load(std::memory_order_acquire), &want);
  sys::call(SYS_rt_sigprocmask, SIG_SETMASK, &want, &old_, _NSIG / 8);
  set_ = true;
}

ExecMask::~ExecMask() {
  if (!set_) return;
  // Not old_: the set may have changed during the call (a handler's mask call). The carrier's
  // mask is its share of the set, which this call alone had replaced.
  (void)old_;
  sigset_t mask;
  applied() = carrier_bits(all_block());
  sigset_of(applied(), &mask);
  sys::set_signal_mask(mask);
}

}  // namespace weft::shim

using namespace weft::shim;  // NOLINT: the hooks below use the file's functions

namespace {

// change_mask() is pthread_sigmask(3) for the calling fiber; returns 0 or an error number.
int change_mask(int how, const sigset_t* set, sigset_t* old) noexcept {
  ThreadRecord* t = current_thread();
  SigBits cur = t->sig_mask.load(std::memory_order_acquire);
  SigBits want = cur;
  if (set != nullptr) {
    SigBits bits = bits_of(*set);  // read before old is written: they may be the same object
    switch (how) {
      case SIG_BLOCK:
        want = cur | bits;
        break;
      case SIG_UNBLOCK:
        want = cur & ~bits;
        break;
      case SIG_SETMASK:
        want = bits;
        break;
      default:
        return EINVAL;
    }
  }
  if (old != nullptr) sigset_of(cur, old);
  if (set == nullptr) return 0;
  set_thread_mask(t, want);
  // What the thread now lets through and was queued on it (or held for the process) is
  // delivered before the call returns, as natively.
  if ((cur & ~want) != 0) {
    bool restart;
    run_queued_signals(&restart);
  }
  return 0;
}

}  // namespace

extern "C" {

WEFT_EXPORT int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  if (!on_fiber()) {
    count(Sym::pthread_sigmask, Route::kOffFiber);
    auto real = WEFT_REAL(pthread_sigmask);
    return real != nullptr ? real(how, set, old) : ENOSYS;
  }
  count(Sym::pthread_sigmask, Route::kWeft);
  return change_mask(how, set, old);
}

WEFT_EXPORT int sigprocmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  if (!on_fiber()) {
    count(Sym::sigprocmask, Route::kOffFiber);
    auto real = WEFT_REAL(sigprocmask);
    return real != nullptr ? real(how, set, old) : (errno = ENOSYS, -1);
  }
  count(Sym::sigprocmask, Route::kWeft);
  int r = change_mask(how, set, old);
  if (r == 0) return 0;
  errno = r;
  return -1;
}

WEFT_EXPORT int sigpending(sigset_t* set) noexcept {
  if (!on_fiber()) {
    count(Sym::sigpending, Route::kOffFiber);
    auto real = WEFT_REAL(sigpending);
    return real != nullptr ? real(set) : (errno = ENOSYS, -1);
  }
  count(Sym::sigpending, Route::kWeft);
  ThreadRecord* t = current_thread();
  sigset_t kernel;
  sigemptyset(&kernel);
  // The kernel's answer on this carrier: the process's pending signals (which every carrier
  // blocks) and the carrier's own.
  weft::sys::call(SYS_rt_sigpending, &kernel, _NSIG / 8);
  SigBits pending =
      bits_of(kernel) | t->sig_pending.load(std::memory_order_acquire) | process_pending();
  // Natively the set holds the pending signals the thread blocks.
  sigset_of(pending & t->sig_mask.load(std::memory_order_acquire), set);
  return 0;
}

}  // extern "C"

// The BSD and System V mask calls, which glibc implements on its internal sigprocmask (so they
// would change the carrier's kernel mask behind the emulation): each is the emulated mask's.
// (glibc marks the BSD ones deprecated; programs such as dash still call them.)
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
namespace {

// bsd_bits() is a BSD mask (bit s-1 for signal s below 32) as SigBits.
SigBits bsd_bits(int mask) noexcept {
  return static_cast<SigBits>(static_cast<unsigned>(mask));
}

int bsd_mask(SigBits bits) noexcept {
  return static_cast<int>(static_cast<unsigned>(bits & 0xffffffffu));
}

// one_signal() is sigprocmask(how, {sig}) for the System V calls: 0, or -1 with EINVAL.
int one_signal(int how, int sig) noexcept {
  if (sig < 1 || sig >= NSIG) {
    errno = EINVAL;
    return -1;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  return sigprocmask(how, &set, nullptr);
}

// bsd_change() is the BSD calls' sigprocmask(how, mask) returning the old mask's low word.
int bsd_change(int how, int mask) noexcept {
  sigset_t set, old;
  sigset_of(bsd_bits(mask), &set);
  change_mask(how, &set, &old);
  return bsd_mask(bits_of(old));
}

}  // namespace

extern "C" {

WEFT_EXPORT int sigblock(int mask) noexcept {
  if (!on_fiber()) {
    count(Sym::sigblock, Route::kOffFiber);
    auto real = WEFT_REAL(sigblock);
    return real != nullptr ? real(mask) : -1;
  }
  count(Sym::sigblock, Route::kWeft);
  return bsd_change(SIG_BLOCK, mask);
}

WEFT_EXPORT int sigsetmask(int mask) noexcept {
  if (!on_fiber()) {
    count(Sym::sigsetmask, Route::kOffFiber);
    auto real = WEFT_REAL(sigsetmask);
    return real != nullptr ? real(mask) : -1;
  }
  count(Sym::sigsetmask, Route::kWeft);
  return bsd_change(SIG_SETMASK, mask);
}

WEFT_EXPORT int siggetmask() noexcept {
  if (!on_fiber()) {
    // The kernel's mask (not libc's siggetmask, whose mere reference makes the linker warn).
    count(Sym::siggetmask, Route::kOffFiber);
    sigset_t cur;
    weft::sys::call(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &cur, _NSIG / 8);
    return bsd_mask(bits_of(cur));
  }
  count(Sym::siggetmask, Route::kWeft);
  return bsd_change(SIG_BLOCK, 0);
}

WEFT_EXPORT int sighold(int sig) noexcept {
  count(Sym::sighold, fiber_route());
  return one_signal(SIG_BLOCK, sig);
}

WEFT_EXPORT int sigrelse(int sig) noexcept {
  count(Sym::sigrelse, fiber_route());
  return one_signal(SIG_UNBLOCK, sig);
}

// sigset() sets a disposition through the sigaction hook (so a handler is the program's, wrapped,
// as sigaction's) and the mask as System V says: SIG_HOLD blocks, anything else unblocks.
WEFT_EXPORT __sighandler_t sigset(int sig, __sighandler_t disp) noexcept {
  count(Sym::sigset, fiber_route());
  if (sig < 1 || sig >= NSIG || disp == SIG_ERR) {
    errno = EINVAL;
    return SIG_ERR;
  }
  sigset_t one, old;
  sigemptyset(&one);
  sigaddset(&one, sig);
  struct sigaction prev {};
  if (disp == SIG_HOLD) {
    if (sigaction(sig, nullptr, &prev) < 0 || sigprocmask(SIG_BLOCK, &one, &old) < 0) {
      return SIG_ERR;
    }
    return sigismember(&old, sig) == 1 ? SIG_HOLD : prev.sa_handler;
  }
  struct sigaction act {};
  act.sa_handler = disp;
  sigemptyset(&act.sa_mask);
  if (sigaction(sig, &act, &prev) < 0 || sigprocmask(SIG_UNBLOCK, &one, &old) < 0) {
    return SIG_ERR;
  }
  return sigismember(&old, sig) == 1 ? SIG_HOLD : prev.sa_handler;
}

// __sigpause() is sigpause for both standards: with is_sig, the thread's mask without
// sig_or_mask (X/Open); otherwise sig_or_mask as a BSD mask. Then sigsuspend.
WEFT_EXPORT int __sigpause(int sig_or_mask, int is_sig) noexcept {
  count(Sym::__sigpause, fiber_route());
  sigset_t set;
  if (is_sig != 0) {
    if (sig_or_mask < 1 || sig_or_mask >= NSIG) {
      errno = EINVAL;
      return -1;
    }
    sigset_of(fiber_mask() & ~sig_bit(sig_or_mask), &set);
  } else {
    sigset_of(bsd_bits(sig_or_mask), &set);
  }
  return sigsuspend(&set);
}

WEFT_EXPORT int __xpg_sigpause(int sig) noexcept {
  count(Sym::__xpg_sigpause, fiber_route());
  return __sigpause(sig, 1);
}

// The BSD sigpause, whose name <signal.h> gives to the X/Open one (__xpg_sigpause) in programs
// built for X/Open: defined under its own symbol name.
extern "C" int weft_bsd_sigpause(int mask) noexcept __asm__("sigpause");
WEFT_EXPORT int weft_bsd_sigpause(int mask) noexcept {
  count(Sym::sigpause, fiber_route());
  return __sigpause(mask, 0);
}

}  // extern "C"
