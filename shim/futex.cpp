// futex: the program's futex(2) calls, emulated so that a waiting fiber parks instead of holding
// its carrier in the kernel.
//
// Rust's Mutex and Condvar, libstdc++'s std::atomic::wait (and so std::latch, std::barrier,
// std::counting_semaphore), its static-local guards, Abseil and others call
// syscall(SYS_futex, ...) themselves. Passed to the kernel, a fiber's FUTEX_WAIT would sleep its
// whole carrier; if the fiber that will wake it runs on that carrier, nothing ever does. So the
// shim's syscall() hands SYS_futex here.
//
// Model: the kernel's, in the shim. A table of buckets keyed by the futex word's address, each a
// lock and a FIFO of waiting fibers (WaitNodes, as the shim's mutexes use). A fiber's wait takes
// the bucket's lock, compares the word with the expected value, queues its node and releases the
// lock, then parks; a wake takes the same lock, so a waker that changed the word before it called
// FUTEX_WAKE either finds the node queued or made the waiter see the new value and fail with
// EAGAIN. That is the whole of futex(2)'s atomicity promise. Wakers claim nodes under the lock
// and wake them after it (the claim protocol of runtime/sched/park.hpp); a waiter whose deadline
// passes or whose wait a signal interrupts retakes the lock and leaves, unless a waker claimed it
// first, in which case the wake-up wins.
//
// Who waits where:
//   - a fiber on a private futex (FUTEX_PRIVATE_FLAG: every user above) parks in the table;
//   - a plain thread (no fiber: a constructor's thread, a runtime helper, a pass-through child)
//     waits in the kernel, as natively;
//   - a fiber on a shared futex waits in the kernel on a blocking-pool helper thread while only
//     the fiber parks: a shared futex may live in memory another process maps, whose wakes only
//     the kernel sees.
// So every private FUTEX_WAKE first wakes the fibers the table holds for that word, then asks the
// kernel to wake as many more as the count leaves (plain threads), whoever calls it. The kernel
// part is what a native wake costs anyway; skipping it when no plain thread is known to wait
// was rejected, because waiters the shim never sees (futex_waitv, io_uring's futex operations, a
// raw futex instruction) would then miss their wake-ups. A shared wake or requeue goes to the
// kernel alone: its waiters, helpers included, are all there, and a private waiter never matches a
// shared wake natively either (the kernel keys the two apart).
//
// REQUEUE and CMP_REQUEUE walk the fibers of the first word as the kernel walks its waiters: the
// first nr_wake are woken, the next nr_requeue move to the second word's bucket (a node records
// its bucket, so a waiter that leaves finds it after a move); what the counts leave goes to the
// kernel for its plain threads. WAKE_OP changes the second word with one atomic operation under
// both buckets' locks, then wakes as FUTEX_WAKE would. The priority-inheritance operations
// (LOCK_PI, UNLOCK_PI, CMP_REQUEUE_PI, ...) need the kernel's owner-TID protocol, which a fiber
// (whose TID is its carrier's) cannot follow: they go to the kernel, and a contended one blocks
// its carrier.
//
// Results as futex(2): EAGAIN when the word differs, ETIMEDOUT (FUTEX_WAIT's timeout is relative
// and measured on CLOCK_MONOTONIC; FUTEX_WAIT_BITSET's is absolute, on CLOCK_MONOTONIC or, with
// FUTEX_CLOCK_REALTIME, CLOCK_REALTIME, converted once: a later jump of the realtime clock is not
// followed), EINVAL for a bad timeout, a zero bitset, a misaligned word or negative requeue
// counts. A handled signal ends a fiber's private wait as the kernel ends FUTEX_WAIT: with EINTR
// when the wait has a timeout (the kernel restarts it through its restart block, which a handler
// always turns into EINTR), and without one EINTR unless the handler has SA_RESTART, when it waits
// again from the value check (signals.hpp has how a signal reaches a fiber's wait). A fiber's
// shared wait runs on a helper thread that no signal reaches: it is never interrupted.
//
// fork: the child keeps none of the parent's other threads, so the table is emptied there (and
// its locks freed, which a vanished thread may have held).
#include "futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <cerrno>
#include <chrono>
#include <climits>
#include <memory>

#include "base/lock.hpp"
#include "base/sys.hpp"
#include "offload.hpp"
#include "shim.hpp"
#include "signals.hpp"
#include "stats.hpp"
#include "wait_node.hpp"

namespace weft::shim {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;

struct Bucket;

// FutexNode is one fiber waiting on a private futex word.
struct FutexNode : WaitNode {
  FutexNode(rt::Waiter* fiber, const std::uint32_t* key_, std::uint32_t bitset_) noexcept
      : WaitNode(fiber, 0), key(key_), bitset(bitset_) {}
  // key is the word waited on; a requeue changes it, under both buckets' locks.
  const std::uint32_t* key;
  // bitset is FUTEX_WAIT_BITSET's mask (FUTEX_BITSET_MATCH_ANY for FUTEX_WAIT).
  std::uint32_t bitset;
  // home is the bucket whose list holds the node; a requeue changes it under both locks.
  std::atomic<Bucket*> home{nullptr};
};

// Bucket is a lock and the fibers waiting on the words that hash to it, oldest first. One per
// cache line: wakes on different words should not share one.
struct alignas(64) Bucket {
  rt::Lock lock;
  WaitNodeList waiters;
};

// kBucketBits sizes the table: 1,024 buckets, 64 KiB, touched only where used. Words that share
// a bucket only share its lock and a walk of its list.
constexpr unsigned kBucketBits = 10;
constinit Bucket g_buckets[1u << kBucketBits];
// g_used is set once a fiber has queued in the table: until then a fork has nothing to empty.
std::atomic<bool> g_used{false};

Bucket& bucket_of(const std::uint32_t* word) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(word) >> 2;
  return g_buckets[(a * 0x9E3779B97F4A7C15ull) >> (64 - kBucketBits)];
}

bool misaligned(const std::uint32_t* word) noexcept {
  return (reinterpret_cast<std::uintptr_t>(word) & 3) != 0;
}

std::uint32_t load(const std::uint32_t* word) noexcept {
  return __atomic_load_n(word, __ATOMIC_RELAXED);
}

// BucketPair holds the locks of two buckets (one if they are the same), taken in address order
// so that two requeues in opposite directions cannot deadlock.
class BucketPair {
 public:
  BucketPair(Bucket& a, Bucket& b) noexcept
      : first_(&a < &b ? &a : &b), second_(&a < &b ? &b : &a) {
    first_->lock.lock();
    if (second_ != first_) second_->lock.lock();
  }
  ~BucketPair() {
    if (second_ != first_) second_->lock.unlock();
    first_->lock.unlock();
  }
  BucketPair(const BucketPair&) = delete;
  BucketPair& operator=(const BucketPair&) = delete;

 private:
  Bucket* first_;
  Bucket* second_;
};

// lock_home() locks the bucket that holds n, following requeues that move it meanwhile.
Bucket* lock_home(FutexNode& n) noexcept {
  for (;;) {
    Bucket* b = n.home.load(std::memory_order_acquire);
    b->lock.lock();
    if (n.home.load(std::memory_order_relaxed) == b) return b;
    b->lock.unlock();
  }
}

// claim() unlinks, under b's lock, up to n fibers waiting on word whose bitset meets mask,
// oldest first, into out; returns how many.
int claim(Bucket& b, const std::uint32_t* word, std::uint32_t mask, int n, WakeList& out) noexcept {
  int k = 0;
  for (WaitNode* p = b.waiters.front(); p != nullptr && k < n;) {
    auto* f = static_cast<FutexNode*>(p);
    if (f->key == word && (f->bitset & mask) != 0) {
      p = b.waiters.remove(p);
      out.push_back(f);
      ++k;
    } else {
      p = WaitNodeList::next(p);
    }
  }
  return k;
}

// kernel() is the system call as the program made it.
long kernel(std::uint32_t* uaddr, int op, std::uint32_t val, const timespec* timeout,
            std::uint32_t* uaddr2, std::uint32_t val3) noexcept {
  return sys::call(SYS_futex, uaddr, op, val, timeout, uaddr2, val3);
}

// kernel_wake() wakes up to n plain threads waiting in the kernel on a private word, whose
// bitset meets mask; returns how many.
long kernel_wake(std::uint32_t* word, int n, std::uint32_t mask) noexcept {
  return sys::call(SYS_futex, word, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, n, nullptr, nullptr,
                   mask);
}

// at_least_one() is how many waiters a wake count asks for: the kernel wakes one for 0 or less.
int at_least_one(int n) noexcept {
  return n > 0 ? n : 1;
}

// valid() is the kernel's check of a timeout (timespec64_valid).
bool valid(const timespec* t) noexcept {
  return t->tv_sec >= 0 && t->tv_nsec >= 0 && t->tv_nsec < 1000000000;
}

// kFarSeconds bounds a timeout's seconds: past it (the kernel saturates at about 292 years of
// nanoseconds) the deadline never comes, and a nanosecond count would overflow.
constexpr time_t kFarSeconds = time_t{1} << 32;

nanoseconds to_ns(const timespec& t) noexcept {
  return seconds(t.tv_sec) + nanoseconds(t.tv_nsec);
}

// deadline_of() is the deadline of a wait of cmd with timeout t (valid, not null).
weft::Deadline deadline_of(int cmd, bool realtime, const timespec& t) noexcept {
  if (t.tv_sec >= kFarSeconds) return weft::Deadline();
  if (cmd == FUTEX_WAIT) return weft::Deadline(to_ns(t));
  if (!realtime) {
    // weft's Clock is CLOCK_MONOTONIC: the instant converts exactly.
    return weft::Deadline(
        weft::Clock::time_point(std::chrono::duration_cast<weft::Clock::duration>(to_ns(t))));
  }
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return weft::Deadline(to_ns(t) - to_ns(now));
}

// wait_once() is one private wait on the calling fiber: 0 once woken, or -EAGAIN, -ETIMEDOUT,
// -EINTR.
long wait_once(std::uint32_t* uaddr, std::uint32_t val, std::uint32_t bitset,
               const weft::Deadline& deadline) noexcept {
  rt::Waiter fiber_waiter("futex", uaddr);
  FutexNode node(&fiber_waiter, uaddr, bitset);
  Bucket& b = bucket_of(uaddr);
  b.lock.lock();
  if (load(uaddr) != val) {
    b.lock.unlock();
    return -EAGAIN;
  }
  node.home.store(&b, std::memory_order_relaxed);
  b.waiters.push_back(&node);
  b.lock.unlock();
  if (!g_used.load(std::memory_order_relaxed)) g_used.store(true, std::memory_order_relaxed);
  rt::Wake why = rt::park(fiber_waiter, deadline);
  if (why == rt::Wake::kNotified) return 0;
  Bucket* home = lock_home(node);
  if (home->waiters.contains(&node)) {
    home->waiters.remove(&node);
    home->lock.unlock();
    return why == rt::Wake::kDeadline ? -ETIMEDOUT : -EINTR;
  }
  home->lock.unlock();
  rt::park_notified(fiber_waiter);  // a waker claimed the node as the wait ended: it was woken
  return 0;
}

// wait_private() is FUTEX_WAIT or FUTEX_WAIT_BITSET on a private word, on a fiber.
long wait_private(int cmd, int op, std::uint32_t* uaddr, std::uint32_t val, const timespec* timeout,
                  std::uint32_t bitset) noexcept {
  weft::Deadline deadline;
  if (timeout != nullptr) {
    if (!valid(timeout)) return -EINVAL;
    deadline = deadline_of(cmd, (op & FUTEX_CLOCK_REALTIME) != 0, *timeout);
  }
  if (bitset == 0 || misaligned(uaddr)) return -EINVAL;
  if (uaddr == nullptr) return -EFAULT;
  // The kernel restarts an untimed wait (ERESTARTSYS: with SA_RESTART) and a timed one through
  // its restart block, which a handler always turns into EINTR.
  Restart mode = timeout == nullptr ? Restart::kWithSaRestart : Restart::kNever;
  return interruptible(mode, [&] { return wait_once(uaddr, val, bitset, deadline); });
}

// wait_shared() is FUTEX_WAIT or FUTEX_WAIT_BITSET on a shared word, on a fiber: the kernel
// waits on a helper thread, where a wake from any process reaches it.
long wait_shared(int cmd, int op, std::uint32_t* uaddr, std::uint32_t val, const timespec* timeout,
                 std::uint32_t val3) noexcept {
  if (timeout != nullptr && !valid(timeout)) return -EINVAL;
  // FUTEX_WAIT's relative timeout becomes an absolute one now, so the time the helper takes to
  // start is not added to it.
  timespec at{};
  if (cmd == FUTEX_WAIT && timeout != nullptr) {
    ::clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += timeout->tv_sec + (at.tv_nsec + timeout->tv_nsec) / 1000000000;
    at.tv_nsec = (at.tv_nsec + timeout->tv_nsec) % 1000000000;
    timeout = &at;
  }
  int wait_op = FUTEX_WAIT_BITSET | (op & FUTEX_CLOCK_REALTIME);
  std::uint32_t bitset = cmd == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : val3;
  if (bitset == 0 || misaligned(uaddr)) return -EINVAL;
  if (uaddr == nullptr) return -EFAULT;
  // A word that differs already fails here, without a helper thread. (Not with a kernel wait
  // that times out at once: a requeue could move that wait, and count it, just before it ends.)
  if (load(uaddr) != val) return -EAGAIN;
  return offload(Sym::syscall,
                 [&] { return kernel(uaddr, wait_op, val, timeout, nullptr, bitset); });
}

// wake() is FUTEX_WAKE or FUTEX_WAKE_BITSET on a private word.
long wake(std::uint32_t* uaddr, int n, std::uint32_t mask) noexcept {
  if (mask == 0 || misaligned(uaddr)) return -EINVAL;
  int want = at_least_one(n);
  WakeList woken;
  Bucket& b = bucket_of(uaddr);
  b.lock.lock();
  int k = claim(b, uaddr, mask, want, woken);
  b.lock.unlock();
  woken.wake_all();
  if (k >= want) return k;
  long r = kernel_wake(uaddr, want - k, mask);
  return r < 0 ? (k > 0 ? k : r) : k + r;
}

// requeue() is FUTEX_REQUEUE (cmpval null) or FUTEX_CMP_REQUEUE on private words.
long requeue(std::uint32_t* uaddr, int nr_wake, int nr_requeue, std::uint32_t* uaddr2,
             const std::uint32_t* cmpval) noexcept {
  if (nr_wake < 0 || nr_requeue < 0) return -EINVAL;
  if (misaligned(uaddr) || misaligned(uaddr2)) return -EINVAL;
  Bucket& from = bucket_of(uaddr);
  Bucket& to = bucket_of(uaddr2);
  WakeList woken;
  int count = 0;  // fibers woken or moved, counted as the kernel counts its waiters
  {
    BucketPair locked(from, to);
    if (cmpval != nullptr && load(uaddr) != *cmpval) return -EAGAIN;
    for (WaitNode* p = from.waiters.front(); p != nullptr;) {
      if (count - nr_wake >= nr_requeue) break;
      auto* f = static_cast<FutexNode*>(p);
      if (f->key != uaddr) {
        p = WaitNodeList::next(p);
      } else if (++count <= nr_wake) {
        p = from.waiters.remove(p);
        woken.push_back(f);
      } else if (&from == &to) {
        f->key = uaddr2;  // same list: it stays where it is, waiting on the other word
        p = WaitNodeList::next(p);
      } else {
        p = from.waiters.remove(p);
        f->key = uaddr2;
        f->home.store(&to, std::memory_order_release);
        to.waiters.push_back(f);
      }
    }
  }
  woken.wake_all();
  int wake_left = count < nr_wake ? nr_wake - count : 0;
  int requeue_left = nr_requeue - (count > nr_wake ? count - nr_wake : 0);
  if (wake_left == 0 && requeue_left == 0) return count;
  // The kernel's own walk, for plain threads. Its compare may now fail (the word changed since
  // the check above): the operation then happened at that check, for the fibers alone.
  int op = (cmpval != nullptr ? FUTEX_CMP_REQUEUE : FUTEX_REQUEUE) | FUTEX_PRIVATE_FLAG;
  long r = sys::call(SYS_futex, uaddr, op, wake_left, static_cast<long>(requeue_left), uaddr2,
                     cmpval != nullptr ? *cmpval : 0);
  return r < 0 ? (count > 0 ? count : r) : count + r;
}

// apply_op() does WAKE_OP's atomic operation on word; returns the old value in *old, or
// -ENOSYS for an unknown operation.
int apply_op(std::uint32_t* word, unsigned op, std::uint32_t arg, std::uint32_t* old) noexcept {
  switch (op) {
    case FUTEX_OP_SET:
      *old = __atomic_exchange_n(word, arg, __ATOMIC_SEQ_CST);
      return 0;
    case FUTEX_OP_ADD:
      *old = __atomic_fetch_add(word, arg, __ATOMIC_SEQ_CST);
      return 0;
    case FUTEX_OP_OR:
      *old = __atomic_fetch_or(word, arg, __ATOMIC_SEQ_CST);
      return 0;
    case FUTEX_OP_ANDN:
      *old = __atomic_fetch_and(word, ~arg, __ATOMIC_SEQ_CST);
      return 0;
    case FUTEX_OP_XOR:
      *old = __atomic_fetch_xor(word, arg, __ATOMIC_SEQ_CST);
      return 0;
    default:
      return -ENOSYS;
  }
}

// compare() is WAKE_OP's comparison (signed, as the kernel's): 1 or 0, or -ENOSYS.
int compare(unsigned cmp, int old, int arg) noexcept {
  switch (cmp) {
    case FUTEX_OP_CMP_EQ:
      return old == arg;
    case FUTEX_OP_CMP_NE:
      return old != arg;
    case FUTEX_OP_CMP_LT:
      return old < arg;
    case FUTEX_OP_CMP_LE:
      return old <= arg;
    case FUTEX_OP_CMP_GT:
      return old > arg;
    case FUTEX_OP_CMP_GE:
      return old >= arg;
    default:
      return -ENOSYS;
  }
}

// sign12() sign-extends a 12-bit field, as the kernel reads WAKE_OP's arguments.
int sign12(std::uint32_t v) noexcept {
  return static_cast<int>(v << 20) >> 20;
}

// wake_op() is FUTEX_WAKE_OP on private words: change *uaddr2, wake up to nr_wake on uaddr and,
// if the old value of *uaddr2 passes the comparison, up to nr_wake2 on uaddr2.
long wake_op(std::uint32_t* uaddr, int nr_wake, int nr_wake2, std::uint32_t* uaddr2,
             std::uint32_t encoded) noexcept {
  if (misaligned(uaddr) || misaligned(uaddr2)) return -EINVAL;
  unsigned op = (encoded >> 28) & 7;
  unsigned cmp = (encoded >> 24) & 15;
  int oparg = sign12(encoded >> 12);
  int cmparg = sign12(encoded);
  if ((encoded & (static_cast<std::uint32_t>(FUTEX_OP_OPARG_SHIFT) << 28)) != 0) {
    oparg = 1 << (oparg & 31);  // the kernel masks an out-of-range shift the same way
  }
  if (uaddr2 == nullptr) return -EFAULT;
  int want1 = at_least_one(nr_wake);
  int want2 = at_least_one(nr_wake2);
  WakeList woken;
  int k1 = 0, k2 = 0, cond;
  {
    BucketPair locked(bucket_of(uaddr), bucket_of(uaddr2));
    std::uint32_t old = 0;
    if (int r = apply_op(uaddr2, op, static_cast<std::uint32_t>(oparg), &old); r < 0) return r;
    cond = compare(cmp, static_cast<int>(old), cmparg);
    if (cond < 0) return cond;  // the word has changed all the same, as in the kernel
    k1 = claim(bucket_of(uaddr), uaddr, FUTEX_BITSET_MATCH_ANY, want1, woken);
    if (cond != 0) k2 = claim(bucket_of(uaddr2), uaddr2, FUTEX_BITSET_MATCH_ANY, want2, woken);
  }
  woken.wake_all();
  long total = k1 + k2;
  if (k1 < want1) {
    long r = kernel_wake(uaddr, want1 - k1, FUTEX_BITSET_MATCH_ANY);
    if (r > 0) total += r;
  }
  if (cond != 0 && k2 < want2) {
    long r = kernel_wake(uaddr2, want2 - k2, FUTEX_BITSET_MATCH_ANY);
    if (r > 0) total += r;
  }
  return total;
}

// emulated() tells whether the shim handles command cmd (with op's flags) itself.
bool emulated(int cmd, int op) noexcept {
  switch (cmd) {
    case FUTEX_WAIT_BITSET:
      return true;
    case FUTEX_WAIT:
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE:
    case FUTEX_WAKE_OP:
      // FUTEX_CLOCK_REALTIME with these goes to the kernel, which decides: 6.18 refuses it
      // (ENOSYS); futex(2) says Linux 4.5 began to accept it with FUTEX_WAIT.
      return (op & FUTEX_CLOCK_REALTIME) == 0;
    default:
      return false;
  }
}

}  // namespace

long futex(std::uint32_t* uaddr, int op, std::uint32_t val, const timespec* timeout,
           std::uint32_t* uaddr2, std::uint32_t val3) noexcept {
  int cmd = op & FUTEX_CMD_MASK;
  if (g_disabled.load(std::memory_order_relaxed))
    return kernel(uaddr, op, val, timeout, uaddr2, val3);
  if (!emulated(cmd, op)) {
    count(Sym::syscall, Route::kKernel);
    return kernel(uaddr, op, val, timeout, uaddr2, val3);
  }
  bool wait = cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET;
  if (wait && !on_fiber()) {
    count(Sym::syscall, Route::kOffFiber);
    return kernel(uaddr, op, val, timeout, uaddr2, val3);
  }
  bool shared = (op & FUTEX_PRIVATE_FLAG) == 0;
  if (shared && wait) return wait_shared(cmd, op, uaddr, val, timeout, val3);  // offload counts
  count(Sym::syscall, fiber_route());
  if (shared) return kernel(uaddr, op, val, timeout, uaddr2, val3);
  // val2, the fourth argument of the requeue and WAKE_OP commands, is a number in the pointer.
  int val2 =
      static_cast<int>(static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(timeout)));
  switch (cmd) {
    case FUTEX_WAIT:
      return wait_private(cmd, op, uaddr, val, timeout, FUTEX_BITSET_MATCH_ANY);
    case FUTEX_WAIT_BITSET:
      return wait_private(cmd, op, uaddr, val, timeout, val3);
    case FUTEX_WAKE:
      return wake(uaddr, static_cast<int>(val), FUTEX_BITSET_MATCH_ANY);
    case FUTEX_WAKE_BITSET:
      return wake(uaddr, static_cast<int>(val), val3);
    case FUTEX_REQUEUE:
      return requeue(uaddr, static_cast<int>(val), val2, uaddr2, nullptr);
    case FUTEX_CMP_REQUEUE:
      return requeue(uaddr, static_cast<int>(val), val2, uaddr2, &val3);
    default:  // FUTEX_WAKE_OP
      return wake_op(uaddr, static_cast<int>(val), val2, uaddr2, val3);
  }
}

void futex_after_fork_child() noexcept {
  if (!g_used.load(std::memory_order_relaxed)) return;
  for (Bucket& b : g_buckets) std::construct_at(&b);
}

}  // namespace weft::shim
