// The runtime's own fds (runtime/base/own_fd.hpp): made at high numbers with FD_CLOEXEC, left
// alone by close_range_around(), moved out of the way of a dup2 without a single write of the
// runtime's landing in the program's file, moved up when the fd limit rises, and closed in a
// forked child only where the number still names the same file.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <thread>

#include "base/own_fd.hpp"
#include "base/sys.hpp"

namespace {

using weft::rt::OwnFd;

long make_eventfd() noexcept {
  return weft::sys::call(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
}

int lowest_free() {
  int fd = 0;
  while (::fcntl(fd, F_GETFD) >= 0) ++fd;
  return fd;
}

TEST(OwnFd, LivesAboveTheProgramsNumbersWithCloexec) {
  int before = lowest_free();
  OwnFd e;
  ASSERT_EQ(e.make(make_eventfd), 0);
  EXPECT_EQ(lowest_free(), before);  // the number the kernel first gave it is free again
  int fd = e.current();
  EXPECT_GT(fd, before);
  EXPECT_TRUE(weft::rt::is_own_fd(fd));
  EXPECT_FALSE(weft::rt::is_own_fd(before));
  EXPECT_EQ(::fcntl(fd, F_GETFD), FD_CLOEXEC);
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  int top = lim.rlim_cur < weft::rt::kHomeCap ? static_cast<int>(lim.rlim_cur) : weft::rt::kHomeCap;
  EXPECT_LT(fd, top);
  EXPECT_GE(fd, top - 16);
  e.close();
  EXPECT_FALSE(weft::rt::is_own_fd(fd));
  EXPECT_LT(::fcntl(fd, F_GETFD), 0);
}

TEST(OwnFd, CloseRangeAroundSkipsIt) {
  OwnFd e;
  ASSERT_EQ(e.make(make_eventfd), 0);
  int own = e.current();
  // The program's fds on both sides of the runtime's (below the report sink's, which the
  // library took at start and may sit just under it).
  int low = own - 1;
  while (weft::rt::is_own_fd(low)) --low;
  int below = ::dup2(0, low), above = ::dup2(0, own + 1);
  ASSERT_EQ(below, low);
  ASSERT_EQ(above, own + 1);
  EXPECT_EQ(weft::rt::close_range_around(low, own + 1, 0), 0);
  EXPECT_LT(::fcntl(below, F_GETFD), 0);
  EXPECT_LT(::fcntl(above, F_GETFD), 0);
  EXPECT_GE(::fcntl(own, F_GETFD), 0);
  // A range of nothing but the runtime's closes nothing and succeeds.
  EXPECT_EQ(weft::rt::close_range_around(own, own, 0), 0);
  EXPECT_GE(::fcntl(own, F_GETFD), 0);
}

// A writer hammers the eventfd through Uses while the fd is moved away again and again, each time
// for a pipe that a dup2 puts at the old number: not one of its writes may reach a pipe, and
// every write reaches the eventfd. Each Use lasts a few microseconds before its write, as one
// around a blocking call does, so a move that did not wait for it would be caught.
TEST(OwnFd, MovesForDup2LetNoWriteThrough) {
  OwnFd e;
  ASSERT_EQ(e.make(make_eventfd), 0);
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> written{0};
  std::thread writer([&] {
    std::uint64_t one = 1;
    while (!stop.load(std::memory_order_relaxed)) {
      OwnFd::Use use(e);
      auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(5);
      while (std::chrono::steady_clock::now() < until) {
      }
      if (weft::sys::call(SYS_write, use.fd(), &one, sizeof one) == sizeof one) {
        written.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });
  int stray = 0;
  for (int i = 0; i < 1000; ++i) {
    int p[2];
    ASSERT_EQ(::pipe2(p, O_NONBLOCK), 0);
    int old = e.current();
    ASSERT_EQ(weft::rt::replace_own_fd(p[1], old, 0, true), old);
    EXPECT_NE(e.current(), old);
    EXPECT_FALSE(weft::rt::is_own_fd(old));
    EXPECT_TRUE(weft::rt::is_own_fd(e.current()));
    // Two more writes: whatever Use began before the move has written by then.
    for (std::uint64_t w = written.load(); written.load() < w + 2;) std::this_thread::yield();
    ::close(old);
    ::close(p[1]);
    char buf[64];
    if (::read(p[0], buf, sizeof buf) > 0) ++stray;
    ::close(p[0]);
  }
  stop = true;
  writer.join();
  EXPECT_EQ(stray, 0);
  std::uint64_t count = 0;
  {
    OwnFd::Use use(e);
    ASSERT_EQ(::read(use.fd(), &count, sizeof count), static_cast<ssize_t>(sizeof count));
  }
  EXPECT_EQ(count, written.load());
}

TEST(OwnFd, Dup3OntoItGivesTheProgramExactlyThatNumber) {
  OwnFd e;
  ASSERT_EQ(e.make(make_eventfd), 0);
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  int old = e.current();
  ASSERT_EQ(weft::rt::replace_own_fd(p[1], old, O_CLOEXEC, false), old);
  EXPECT_EQ(::fcntl(old, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(::write(old, "x", 1), 1);  // the pipe's write end now
  char c;
  EXPECT_EQ(::read(p[0], &c, 1), 1);
  // A dup that fails leaves the number as the program had it: not open.
  int moved = e.current();
  EXPECT_EQ(weft::rt::replace_own_fd(-1, moved, 0, true), -EBADF);
  EXPECT_LT(::fcntl(moved, F_GETFD), 0);
  EXPECT_GE(::fcntl(e.current(), F_GETFD), 0);
  ::close(old);
  ::close(p[0]);
  ::close(p[1]);
}

TEST(OwnFd, MovesUpWhenTheLimitRises) {
  rlimit lim{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_max < 1024) GTEST_SKIP() << "the hard fd limit is below 1024";
  rlimit low = lim;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  weft::rt::own_fds_limit_changed();
  OwnFd e;
  ASSERT_EQ(e.make(make_eventfd), 0);
  EXPECT_LT(e.current(), 64);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &lim), 0);
  weft::rt::own_fds_limit_changed();
  EXPECT_GE(e.current(), std::min<int>(static_cast<int>(lim.rlim_cur), weft::rt::kHomeCap) - 16);
  EXPECT_GE(::fcntl(e.current(), F_GETFD), 0);
}

TEST(OwnFd, ForkedChildClosesOnlyWhatIsStillTheSameFile) {
  // The report sink's duplicate of stderr (base/report.hpp) is kept across fork.
  int sinks = weft::rt::own_fd_count();
  OwnFd kept, replaced;
  ASSERT_EQ(kept.make(make_eventfd), 0);
  ASSERT_EQ(replaced.make(make_eventfd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The program put a file of its own at one number behind the runtime's back.
    int mine = kept.current(), other = replaced.current();
    if (weft::sys::dup2(1, other) != other) ::_exit(10);
    weft::rt::own_fds_after_fork_child();
    if (::fcntl(mine, F_GETFD) >= 0 || kept.valid()) ::_exit(11);
    if (::fcntl(other, F_GETFD) < 0) ::_exit(12);  // the program's file stays
    if (weft::rt::is_own_fd(other) || weft::rt::own_fd_count() != sinks) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_GE(::fcntl(kept.current(), F_GETFD), 0);  // the parent's stay open
}

TEST(OwnFd, KeptAcrossForkStaysOpenInTheChild) {
  OwnFd kept;
  ASSERT_EQ(kept.make(make_eventfd), 0);
  kept.keep_across_fork();
  int fd = kept.current();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    weft::rt::own_fds_after_fork_child();
    if (::fcntl(fd, F_GETFD) < 0 || !kept.valid() || kept.current() != fd) ::_exit(10);
    if (!weft::rt::is_own_fd(fd)) ::_exit(11);
    // Its parent's Uses are forgotten: a close in the child does not wait for them.
    kept.close();
    if (::fcntl(fd, F_GETFD) >= 0) ::_exit(12);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
