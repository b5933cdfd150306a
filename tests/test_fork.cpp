// fork inside a run: the child goes on with the forking fiber on a fresh runtime of its own, and
// neither process disturbs the other. A child cannot use gtest's assertions, so it sets one bit
// per failed check in its exit status, which the parent checks.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "base/sanitizer.hpp"

#if defined(WEFT_ASAN)
// A child forked on another carrier than main's ends with exit(): LeakSanitizer would report what
// only the vanished main thread's stack pointed to (gtest's test object), memory the child
// inherited but never owned. The runtime keeps its own abandoned objects reachable.
static const pid_t g_test_pid = getpid();
extern "C" int __lsan_is_turned_off() {
  return getpid() != g_test_pid;
}
#endif

namespace {

using namespace std::chrono_literals;

// ring_fds() counts the reactors' kernel objects the process holds: io_uring rings, or with
// WEFT_BACKEND=epoll, epoll instances (each carrier has one of either).
int ring_fds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = readdir(d)) {
    char path[300];
    char target[64] = {};
    std::snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
    ssize_t len = readlink(path, target, sizeof target - 1);
    if (len > 0 && (std::strstr(target, "io_uring") != nullptr ||
                    std::strstr(target, "eventpoll") != nullptr)) {
      ++n;
    }
  }
  closedir(d);
  return n;
}

// wait_child() reaps pid off the carrier and returns its exit status, or -1.
int wait_child(pid_t pid) {
  int status = 0;
  pid_t r = weft::blocking([&] { return waitpid(pid, &status, 0); });
  return r == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// wait_until_dump_shows() lets the other fibers run until the fiber dump names what.
void wait_until_dump_shows(const std::string& what) {
  while (weft::fiber_dump().find(what) == std::string::npos) weft::this_fiber::sleep_for(1ms);
}

// pipe_ping_pong() runs rounds exchanges between two fibers over pipes; returns the bad ones.
int pipe_ping_pong(int rounds) {
  int ab[2], ba[2];
  if (pipe(ab) != 0 || pipe(ba) != 0) return -1;
  auto pong = weft::spawn([&] {
    int bad = 0;
    for (int i = 0; i < rounds; ++i) {
      int v = -1;
      bad += weft::read(ab[0], &v, sizeof v) != sizeof v || v != i;
      bad += weft::write(ba[1], &i, sizeof i) != sizeof i;
    }
    return bad;
  });
  int bad = 0;
  for (int i = 0; i < rounds; ++i) {
    int v = -1;
    bad += weft::write(ab[1], &i, sizeof i) != sizeof i;
    bad += weft::read(ba[0], &v, sizeof v) != sizeof v || v != i;
  }
  bad += pong.join();
  for (int fd : {ab[0], ab[1], ba[0], ba[1]}) weft::close(fd);
  return bad;
}

#if defined(WEFT_TSAN)
// TSan refuses threads started after a multi-threaded fork (die_after_fork), and the child starts
// its carriers.
#define SKIP_UNDER_TSAN() GTEST_SKIP() << "ThreadSanitizer does not support threads after fork"
#else
#define SKIP_UNDER_TSAN() (void)0
#endif

TEST(Fork, ChildOfAFiberRunsOnAFreshRuntime) {
  SKIP_UNDER_TSAN();
  weft::Config cfg;
  cfg.carriers = 2;
  int child_status = -1;
  int parent_bad = -1;
  weft::run(cfg, [&] {
    int blocked[2], to_child[2];
    ASSERT_EQ(pipe(blocked), 0);
    ASSERT_EQ(pipe(to_child), 0);
    weft::Mutex m;
    weft::Channel<int> ch;  // rendezvous: a send needs a receiver waiting
    auto forker = weft::spawn([&] {
      m.lock();
      // Fibers the child will not have: one queued on the mutex, one reading a pipe.
      auto waiter = weft::spawn([&] {
        m.lock();
        m.unlock();
      });
      auto reader = weft::spawn([&] {
        char c;
        return weft::read(blocked[0], &c, 1);
      });
      auto receiver = weft::spawn([&] { return ch.recv().value_or(-1); });
      wait_until_dump_shows("blocked in mutex");
      wait_until_dump_shows("channel recv");
      wait_until_dump_shows("read fd " + std::to_string(blocked[0]));
      pid_t pid = fork();
      if (pid == 0) {
        int code = 0;
        if (ring_fds() != 2) code |= 1;  // two carriers' new rings, none of the parent's
        weft::RuntimeStats s = weft::stats();
        if (s.fibers_live != 1 || s.carriers != 2) code |= 2;
        // The queued fiber is gone: the mutex comes free instead of going to it.
        m.unlock();
        if (!m.try_lock()) code |= 4;
        m.unlock();
        // Nor is the receiver: a send finds nobody to take the value.
        if (ch.try_send(1) != weft::ChannelStatus::kWouldBlock) code |= 4;
        // The reader's operation is the parent's: closing its fd does not wait for it.
        if (weft::close(blocked[0]) != 0) code |= 8;
        if (weft::this_fiber::sleep_for(1ms) != 0) code |= 16;
        std::vector<weft::Fiber<int>> pairs;
        for (int i = 0; i < 20; ++i)
          pairs.push_back(weft::spawn([] { return pipe_ping_pong(50); }));
        int bad = 0;
        for (auto& p : pairs) bad += p.join();
        if (bad != 0) code |= 32;
        // The blocking pool's helpers start again on demand.
        if (weft::blocking([] { return 5; }) != 5) code |= 16;
        // Only after the parent's own ping-pong finished: both went on at once.
        char c = 0;
        if (weft::read(to_child[0], &c, 1) != 1 || c != 'y') code |= 64;
        pid_t g = fork();
        if (g == 0) _exit(ring_fds() == 2 && pipe_ping_pong(100) == 0 ? 7 : 8);
        if (wait_child(g) != 7) code |= 128;
        _exit(code);
      }
      m.unlock();
      waiter.join();
      char c = 'x';
      EXPECT_EQ(weft::write(blocked[1], &c, 1), 1);
      EXPECT_EQ(reader.join(), 1);
      ch.send(3);
      EXPECT_EQ(receiver.join(), 3);
      parent_bad = pipe_ping_pong(2000);
      c = parent_bad == 0 ? 'y' : 'n';
      EXPECT_EQ(weft::write(to_child[1], &c, 1), 1);
      child_status = wait_child(pid);
      EXPECT_EQ(ring_fds(), 2);
    });
    forker.join();
  });
  EXPECT_EQ(parent_bad, 0);
  EXPECT_EQ(child_status, 0);
}

int g_atexit_fd = -1;

TEST(Fork, ChildEndsWhenTheForkingFiberReturns) {
  SKIP_UNDER_TSAN();
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  g_atexit_fd = p[1];
  weft::Config cfg;
  cfg.carriers = 2;
  int child_status = -1;
  weft::run(cfg, [&] {
    weft::spawn([&] {
      pid_t pid = fork();
      if (pid == 0) {
        std::atexit([] { (void)!::write(g_atexit_fd, "a", 1); });
        // The child's run now ends with this fiber, as a process whose last thread returned.
        return;
      }
      close(p[1]);
      child_status = wait_child(pid);
    }).join();
  });
  char buf[8];
  EXPECT_EQ(read(p[0], buf, sizeof buf), 1);
  close(p[0]);
  EXPECT_EQ(child_status, 0);
}

TEST(Fork, RunReturnsInTheChildOfItsMainFiber) {
  SKIP_UNDER_TSAN();
  weft::Config cfg;
  cfg.carriers = 2;
  int child_status = -1;
  int r = weft::run(cfg, [&] {
    pid_t pid = fork();
    if (pid == 0) {
      weft::this_fiber::sleep_for(1ms);
      return 40;
    }
    child_status = wait_child(pid);
    return 1;
  });
  if (r == 40) _exit(ring_fds() == 0 ? 41 : 42);  // the child, its run over
  EXPECT_EQ(r, 1);
  EXPECT_EQ(child_status, 41);
}

// Runs under TSan too: this child starts no thread.
TEST(Fork, PlainThreadForkingDuringARunLeavesItAlone) {
  weft::Config cfg;
  cfg.carriers = 2;
  int child_status = -1;
  int bad = -1;
  weft::run(cfg, [&] {
    auto pinger = weft::spawn([] { return pipe_ping_pong(2000); });
    std::thread t([&] {
      pid_t pid = fork();
      // The child has no carrier: it holds none of the parent's rings.
      if (pid == 0) _exit(ring_fds() == 0 ? 3 : 4);
      int status = 0;
      if (waitpid(pid, &status, 0) == pid && WIFEXITED(status)) child_status = WEXITSTATUS(status);
    });
    bad = pinger.join();
    weft::blocking([&] { t.join(); });
  });
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(child_status, 3);
}

}  // namespace
