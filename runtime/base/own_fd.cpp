// own_fd: the registry of the runtime's own fds (the model is in own_fd.hpp).
//
// Two views of one set, both changed only under g_lock: a bitmap by number, which is_own_fd()
// and close_range_around() read, and a list of the OwnFds, which moves and the fork child walk.
// Every move and every close happens under the lock, so a reader of the list never sees a
// number in flight; the bitmap may be read without it, and marks a number for the whole time
// the runtime may still use it (a move marks the new number before it publishes it and clears
// the old one only after every Use of it has ended).
#include "base/own_fd.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <climits>
#include <mutex>
#include <new>

#include "base/list.hpp"
#include "base/lock.hpp"
#include "base/sys.hpp"

namespace weft::rt {
namespace {

constexpr int kWords = kOwnFdCovered / 64;
// kHomeDepth: an fd this close under the home's top is home; a rise of the limit moves the
// runtime's fds below that up to the new top.
constexpr int kHomeDepth = 256;
// g_marks has a bit per number the runtime holds.
std::atomic<std::uint64_t> g_marks[kWords];
// g_soft is the soft RLIMIT_NOFILE as last read (0: not read yet).
std::atomic<int> g_soft{0};

void mark(int fd) noexcept {
  if (fd < 0 || fd >= kOwnFdCovered) return;
  g_marks[fd / 64].fetch_or(std::uint64_t{1} << (fd % 64), std::memory_order_release);
}

void unmark(int fd) noexcept {
  if (fd < 0 || fd >= kOwnFdCovered) return;
  g_marks[fd / 64].fetch_and(~(std::uint64_t{1} << (fd % 64)), std::memory_order_release);
}

// next_marked() is the lowest marked number at or above from, or -1.
int next_marked(unsigned from) noexcept {
  if (from >= static_cast<unsigned>(kOwnFdCovered)) return -1;
  unsigned w = from / 64;
  std::uint64_t bits =
      g_marks[w].load(std::memory_order_acquire) & (~std::uint64_t{0} << (from % 64));
  for (;;) {
    if (bits != 0) return static_cast<int>(w * 64 + static_cast<unsigned>(__builtin_ctzll(bits)));
    if (++w >= static_cast<unsigned>(kWords)) return -1;
    bits = g_marks[w].load(std::memory_order_acquire);
  }
}

int read_soft_limit() noexcept {
  rlimit lim{};
  int soft = 1024;
  if (sys::call(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &lim) == 0) {
    soft = lim.rlim_cur > static_cast<rlim_t>(INT_MAX) ? INT_MAX : static_cast<int>(lim.rlim_cur);
  }
  g_soft.store(soft, std::memory_order_relaxed);
  return soft;
}

int soft_limit() noexcept {
  int soft = g_soft.load(std::memory_order_relaxed);
  return soft != 0 ? soft : read_soft_limit();
}

// home_top() is one past the highest number the runtime's fds live at.
int home_top() noexcept {
  int soft = soft_limit();
  return soft < kHomeCap ? soft : kHomeCap;
}

// place() duplicates fd to a free number of the home, with FD_CLOEXEC: the lowest free number
// at or above top-16, else top-128, ... down to 0 (below the top, always). Returns it or -errno
// (-EBADF: fd is not open; -EMFILE: nothing is free below the top).
int place(int fd) noexcept {
  int top = home_top();
  bool reread = false;
  for (long span = 16;; span *= 8) {
    int base = top > span ? top - static_cast<int>(span) : 0;
    long r = sys::call(SYS_fcntl, fd, F_DUPFD_CLOEXEC, base);
    if (r == -EINVAL && !reread) {
      // The base is at or above the soft limit: it was lowered behind the shim's back
      // (prlimit from another process). Read it again and start over.
      reread = true;
      read_soft_limit();
      top = home_top();
      span = 2;
      continue;
    }
    if (r == -EMFILE && base > 0) continue;
    if (r < 0) return static_cast<int>(r);
    if (r < top) return static_cast<int>(r);
    sys::close(static_cast<int>(r));  // above the home (the limit is higher than kHomeCap)
    if (base == 0) return -EMFILE;
  }
}

bool same_file(const FileId& a, const FileId& b) noexcept {
  return a.valid && b.valid && a.dev == b.dev && a.ino == b.ino && a.mode == b.mode;
}

// still_ours() tells whether fd still names the file id was read from, with the FD_CLOEXEC the
// runtime gives every fd of its own.
bool still_ours(int fd, const FileId& id) noexcept {
  long flags = sys::call(SYS_fcntl, fd, F_GETFD);
  return flags >= 0 && (flags & FD_CLOEXEC) != 0 && same_file(file_id(fd), id);
}

}  // namespace

// OwnFdRegistry is the list of live OwnFds and what must touch their insides.
class OwnFdRegistry {
 public:
  using All = List<OwnFd, &OwnFd::next_, &OwnFd::prev_>;

  // lock guards the list, the marks, and every OwnFd's fd_ changes.
  static Lock& lock() noexcept {
    static constinit Lock l;
    return l;
  }
  static All& all() noexcept {
    static constinit All a;
    return a;
  }

  static OwnFd* find(int fd) noexcept {
    for (OwnFd* s = all().front(); s != nullptr; s = All::next(s)) {
      if (s->fd_.load(std::memory_order_relaxed) == fd) return s;
    }
    return nullptr;
  }

  // drain() waits until no Use of parity p is left, nudging a holder blocked in a call.
  static void drain(OwnFd& s, unsigned p) noexcept {
    for (unsigned i = 0; s.users_[p].load(std::memory_order_seq_cst) != 0; ++i) {
      if (s.nudge_ != nullptr && i % 256 == 0) s.nudge_(s.nudge_arg_);
      sys::yield_thread();
    }
  }

  // move() makes s's fd number m (a duplicate of its file, already made); the old number keeps
  // the file, unmarked, for the caller to close or replace. Every Use of the old number has
  // ended when it returns.
  static void move(OwnFd& s, int m) noexcept {
    mark(m);
    int old = s.fd_.load(std::memory_order_relaxed);
    s.fd_.store(m, std::memory_order_seq_cst);
    std::uint32_t e = s.epoch_.fetch_add(1, std::memory_order_seq_cst);
    drain(s, e & 1);
    unmark(old);
  }

  // release() forgets s's fd and hands its number to closer, after every Use has ended; the
  // number stays marked until closer has returned.
  static void release(OwnFd& s, OwnFd::Closer closer, void* arg) noexcept {
    std::lock_guard<Lock> hold(lock());
    int fd = s.fd_.load(std::memory_order_relaxed);
    if (fd < 0) return;
    all().remove(&s);
    s.fd_.store(-1, std::memory_order_seq_cst);
    drain(s, 0);
    drain(s, 1);
    closer(fd, arg);
    unmark(fd);
  }

  static void after_fork_child() noexcept {
    // A thread that held the lock at the fork is gone: only this thread runs in the child now.
    new (&lock()) Lock();
    All kept;
    for (OwnFd* s = all().front(); s != nullptr;) {
      OwnFd* next = All::next(s);
      int fd = s->fd_.load(std::memory_order_relaxed);
      s->users_[0].store(0, std::memory_order_relaxed);
      s->users_[1].store(0, std::memory_order_relaxed);
      s->next_ = s->prev_ = nullptr;
      if (s->keep_ && fd >= 0) {
        kept.push_back(s);
      } else {
        if (fd >= 0 && still_ours(fd, s->id_)) sys::close(fd);
        s->fd_.store(-1, std::memory_order_relaxed);
      }
      s = next;
    }
    all().clear();
    for (auto& w : g_marks) w.store(0, std::memory_order_relaxed);
    while (OwnFd* s = kept.front()) {
      kept.remove(s);
      mark(s->fd_.load(std::memory_order_relaxed));
      all().push_back(s);
    }
  }

  static void limit_changed() noexcept {
    std::lock_guard<Lock> hold(lock());
    int old_top = home_top();
    read_soft_limit();
    int top = home_top();
    if (top <= old_top) return;  // lowered: the fds above the limit take none of its numbers
    for (OwnFd* s = all().front(); s != nullptr; s = All::next(s)) {
      int fd = s->fd_.load(std::memory_order_relaxed);
      if (fd + kHomeDepth >= top) continue;  // home already
      int m = place(fd);
      if (m < 0) continue;
      if (m < fd) {
        sys::close(m);  // the new home is full below where it already is
        continue;
      }
      move(*s, m);
      sys::close(fd);
    }
  }

  static long replace(int from, int to, int flags, bool dup2) noexcept {
    std::lock_guard<Lock> hold(lock());
    OwnFd* s = find(to);
    // At or above the soft limit (the program lowered it), the kernel refuses `to` before it
    // touches it: no need to move.
    if (s != nullptr && to < read_soft_limit()) {
      int m = place(to);
      if (m < 0) return m;
      move(*s, m);
    } else {
      s = nullptr;
    }
    long r = dup2 ? sys::dup2(from, to) : sys::dup3(from, to, flags);
    // The copy of the runtime's file the move left at `to` was never the program's.
    if (r < 0 && s != nullptr) sys::close(to);
    return r;
  }

  static int count() noexcept {
    std::lock_guard<Lock> hold(lock());
    int n = 0;
    for (OwnFd* s = all().front(); s != nullptr; s = All::next(s)) ++n;
    return n;
  }

  static int adopt(OwnFd& s, long made, OwnFd::Nudge nudge, void* arg) noexcept {
    if (made < 0) return static_cast<int>(made);
    int x = static_cast<int>(made);
    std::lock_guard<Lock> hold(lock());
    mark(x);  // from now on the program's close-all loops leave it alone
    int fd = place(x);
    if (fd == -EBADF) {
      unmark(x);  // closed by another thread before it could move: not ours to close
      return -EBADF;
    }
    if (fd >= 0) {
      mark(fd);
      sys::close(x);
      unmark(x);
    } else if (x < kOwnFdCovered) {
      // Nothing is free below the home's top: it stays where the kernel put it.
      sys::call(SYS_fcntl, x, F_SETFD, FD_CLOEXEC);
      fd = x;
    } else {
      sys::close(x);  // beyond the marks (and never marked)
      return fd;
    }
    s.id_ = file_id(fd);
    s.nudge_ = nudge;
    s.nudge_arg_ = arg;
    s.fd_.store(fd, std::memory_order_seq_cst);
    all().push_back(&s);
    return 0;
  }
};

FileId file_id(int fd) noexcept {
  struct statx st {};
  FileId id;
  if (sys::call(SYS_statx, fd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_MODE | STATX_INO, &st) != 0) {
    return id;
  }
  id.dev = std::uint64_t{st.stx_dev_major} << 32 | st.stx_dev_minor;
  id.ino = st.stx_ino;
  id.mode = st.stx_mode;
  id.valid = true;
  return id;
}

OwnFd::~OwnFd() {
  close();
}

int OwnFd::adopt(long made, Nudge nudge, void* arg) noexcept {
  close();
  return OwnFdRegistry::adopt(*this, made, nudge, arg);
}

void OwnFd::close() noexcept {
  close_with([](int fd, void*) noexcept { sys::close(fd); }, nullptr);
}

void OwnFd::close_with(Closer closer, void* arg) noexcept {
  if (fd_.load(std::memory_order_relaxed) < 0) return;
  OwnFdRegistry::release(*this, closer, arg);
}

OwnFd::Use::Use(OwnFd& f) noexcept : f_(f) {
  for (;;) {
    std::uint32_t e = f.epoch_.load(std::memory_order_seq_cst);
    f.users_[e & 1].fetch_add(1, std::memory_order_seq_cst);
    // A move that bumped the epoch meanwhile may not wait for this parity: enter again.
    if (f.epoch_.load(std::memory_order_seq_cst) == e) {
      parity_ = e & 1;
      fd_ = f.fd_.load(std::memory_order_seq_cst);
      return;
    }
    f.users_[e & 1].fetch_sub(1, std::memory_order_release);
  }
}

OwnFd::Use::~Use() {
  f_.users_[parity_].fetch_sub(1, std::memory_order_release);
}

bool is_own_fd(int fd) noexcept {
  if (fd < 0 || fd >= kOwnFdCovered) return false;
  return (g_marks[fd / 64].load(std::memory_order_acquire) >> (fd % 64) & 1) != 0;
}

long replace_own_fd(int from, int to, int flags, bool dup2) noexcept {
  return OwnFdRegistry::replace(from, to, flags, dup2);
}

long close_range_around(unsigned first, unsigned last, unsigned flags) noexcept {
  std::lock_guard<Lock> hold(OwnFdRegistry::lock());
  bool called = false;
  unsigned from = first;
  for (;;) {
    int own = next_marked(from);
    bool in_range = own >= 0 && static_cast<unsigned>(own) <= last;
    unsigned to = in_range ? static_cast<unsigned>(own) - 1 : last;
    if (!in_range || static_cast<unsigned>(own) > from) {
      long r = sys::call(SYS_close_range, from, to, flags);
      if (r < 0) return r;
      called = true;
    }
    if (!in_range || static_cast<unsigned>(own) == last) break;
    from = static_cast<unsigned>(own) + 1;
  }
  // A range made only of the runtime's fds closes nothing, but the unshare it asks for happens.
  if (!called && (flags & CLOSE_RANGE_UNSHARE) != 0) {
    return sys::call(SYS_close_range, ~0U, ~0U, flags);
  }
  return 0;
}

void own_fds_limit_changed() noexcept {
  OwnFdRegistry::limit_changed();
}

int own_fd_soft_limit() noexcept {
  return soft_limit();
}

void own_fds_after_fork_child() noexcept {
  OwnFdRegistry::after_fork_child();
}

int own_fd_count() noexcept {
  return OwnFdRegistry::count();
}

}  // namespace weft::rt
