// own_fd: the runtime's own file descriptors, kept out of the program's number space.
//
// The runtime needs a few descriptors of its own: each carrier's io_uring ring or epoll set and
// its wake-up eventfd, the watchdog's eventfd, and the short-lived epoll set of a fiber waiting
// in a multi-fd poll under the shim. They live in the process's one fd number space, which the
// program owns and treats as its own: its first open() expects 3, and programs close every fd
// above 2 (closefrom, close_range, a /proc/self/fd loop, dup2 onto a range) before they exec or
// when they daemonize. A runtime that kept using a number after that would write its wake-ups
// into the program's files, read the program's pipes and poll the wrong set.
//
// So every fd the runtime makes goes through one OwnFd, which:
//   - moves it to a high number (the home: just under min(soft RLIMIT_NOFILE, kHomeCap), the
//     lowest free number at or above top-16, then top-128, ...) with FD_CLOEXEC, so the
//     program's numbers start at 3 as natively and an exec'd program inherits nothing;
//   - records the number in a process-wide bitmap that is_own_fd() reads in O(1) without a lock,
//     which the shim's close, close_range, closefrom and dup2/dup3 hooks ask (they leave the
//     runtime's fds alone, or move them out of the way of a dup2);
//   - hands the number out only inside a Use, a bracket around each system call that names it.
//     A move (for the program's dup2 onto the number, or after the program raised its fd limit)
//     publishes the new number, then waits until every Use that may still hold the old one has
//     ended (two counters, by the parity of a move epoch, as in RCU), waking a holder that waits
//     in a blocking call through the OwnFd's nudge; only then may the old number name another
//     file. A Use is two atomic read-modify-writes and is async-signal-safe.
//   - remembers the file's identity (device, inode and type from statx, and FD_CLOEXEC), so a
//     forked child closes the parent's fds only where the number still names that file.
//
// Threats left open, because closing them would cost every call: a number the program closes
// with a raw system call (not through libc), and the instant between the kernel making an fd at
// the lowest free number and its move, when another thread's closefrom or close-and-reopen of
// that number can take it (adopt() then reports -EBADF, and make() makes the fd again).
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdint>

namespace weft::rt {

// kHomeCap caps the home of the runtime's fds: the kernel's fd table grows to the highest open
// number, eight bytes a slot (an fd near 2^20, a common limit, would cost 8 MiB per process and
// per forked child), and so does the epoll backend's table of waits by number.
inline constexpr int kHomeCap = 4096;
// kOwnFdCovered is one past the highest number that can be the runtime's: fds the kernel gives
// above it (a program holding tens of thousands of fds) are refused with -EMFILE.
inline constexpr int kOwnFdCovered = 1 << 16;

// FileId is what identifies an open file from its fd: statx's device, inode and mode.
struct FileId {
  // dev is the device (major << 32 | minor).
  std::uint64_t dev = 0;
  // ino is the inode number.
  std::uint64_t ino = 0;
  // mode is the file type and permission bits.
  std::uint32_t mode = 0;
  // valid says whether statx answered.
  bool valid = false;
};

// file_id() reads fd's identity; invalid if fd is not open.
FileId file_id(int fd) noexcept;

// OwnFd is one descriptor the runtime made for itself (see the top of this file).
class OwnFd {
 public:
  // Nudge wakes a thread that holds a Use of this fd across a blocking call (a reactor's wait,
  // the watchdog's poll), so that a move need not wait for that call to end by itself.
  using Nudge = void (*)(void* arg) noexcept;

  OwnFd() noexcept = default;
  // ~OwnFd() closes the fd, if it has one.
  ~OwnFd();
  OwnFd(const OwnFd&) = delete;
  OwnFd& operator=(const OwnFd&) = delete;

  // adopt() makes made (what a system call that creates an fd returned: the fd, or -errno) the
  // runtime's: moves it home with FD_CLOEXEC and records it; nudge(arg), if given, wakes a
  // blocked holder of a Use. When no number of the home is free, the fd stays where the kernel
  // put it. Returns 0, or -errno with made closed (-EBADF: made was closed by another thread
  // before it could move; -EMFILE: the home is full and made is beyond kOwnFdCovered).
  int adopt(long made, Nudge nudge = nullptr, void* arg = nullptr) noexcept;
  // make() is adopt(create()), with create() called again when the fd was taken from under it
  // (-EBADF) before it could move.
  template <class Create>
  int make(Create create, Nudge nudge = nullptr, void* arg = nullptr) noexcept {
    int r = -EBADF;
    for (int tries = 0; tries < 8 && r == -EBADF; ++tries) r = adopt(create(), nudge, arg);
    return r;
  }
  // keep_across_fork() makes a forked child keep this fd (the report sink's dup of stderr or
  // log file, which the child's reports go on using) where own_fds_after_fork_child() closes the
  // others; the child must forget the Uses its parent's other threads held (they are gone).
  void keep_across_fork() noexcept { keep_ = true; }
  // valid() tells whether the OwnFd holds an fd.
  bool valid() const noexcept { return fd_.load(std::memory_order_relaxed) >= 0; }
  // current() is the fd's number now, outside any Use: for messages, and for a use whose number
  // the kernel resolves later, where a move's window is documented (the shim's poll sets).
  int current() const noexcept { return fd_.load(std::memory_order_acquire); }
  // close() forgets and closes the fd (nothing if there is none), after any Use still held.
  void close() noexcept;
  // Closer closes an fd the OwnFd gives up (close_with()).
  using Closer = void (*)(int fd, void* arg) noexcept;
  // close_with() is close() for a library that closes the fd itself (io_uring_queue_exit):
  // closer(fd, arg) runs once every Use has ended, and the number counts as the runtime's until
  // it has returned.
  void close_with(Closer closer, void* arg) noexcept;

  // Use is a bracket around the system calls that name the fd: while it lives, the number it
  // gives is this OwnFd's file. Never hold one across a fiber switch, nor make, close or move an
  // OwnFd inside one: a move waits for the Uses of its old number to end.
  class Use {
   public:
    // Use() enters the bracket.
    explicit Use(OwnFd& f) noexcept;
    // ~Use() leaves it.
    ~Use();
    Use(const Use&) = delete;
    Use& operator=(const Use&) = delete;
    // fd() is the number to use (-1 if the OwnFd holds none).
    int fd() const noexcept { return fd_; }

   private:
    OwnFd& f_;
    unsigned parity_;
    int fd_;
  };

 private:
  friend class OwnFdRegistry;

  std::atomic<int> fd_{-1};
  // epoch_ counts moves; users_[e & 1] counts the Uses that entered during epoch e.
  std::atomic<std::uint32_t> epoch_{0};
  std::atomic<std::uint32_t> users_[2]{};
  Nudge nudge_ = nullptr;
  void* nudge_arg_ = nullptr;
  FileId id_;
  // keep_ is set by keep_across_fork().
  bool keep_ = false;
  // next_ and prev_ link every live OwnFd of the process (under the registry's lock).
  OwnFd* next_ = nullptr;
  OwnFd* prev_ = nullptr;
};

// is_own_fd() tells whether fd is one of the runtime's own fds: O(1), lock-free,
// async-signal-safe.
bool is_own_fd(int fd) noexcept;
// replace_own_fd() is dup3(from, to, flags) (dup2's semantics when dup2 is set) for a `to` that
// is one of the runtime's fds: the runtime's file moves to another number first, so the program
// gets exactly `to`; returns the new fd or -errno. Any `to` works (one that is not the runtime's
// is simply duplicated onto).
long replace_own_fd(int from, int to, int flags, bool dup2) noexcept;
// close_range_around() is close_range(2) on [first, last] with flags, skipping the runtime's
// fds (the range is closed in the pieces between them); returns 0 or -errno.
long close_range_around(unsigned first, unsigned last, unsigned flags) noexcept;
// own_fds_limit_changed() is called after RLIMIT_NOFILE changed: new fds go under the new soft
// limit, and if the home rose, the runtime's fds move up to it (they stay where they are when it
// fell: above the program's limit, they take none of its numbers).
void own_fds_limit_changed() noexcept;
// own_fd_soft_limit() is the soft RLIMIT_NOFILE as last read.
int own_fd_soft_limit() noexcept;
// own_fds_after_fork_child() closes, in a forked child, every fd the parent's runtime had (they
// are the parent's files: its rings, its eventfds), each only where its number still names the
// same file, and forgets them all, but those marked keep_across_fork().
void own_fds_after_fork_child() noexcept;
// own_fd_count() is how many fds the runtime holds (for tests).
int own_fd_count() noexcept;

}  // namespace weft::rt
