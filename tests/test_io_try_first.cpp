// Adaptive try-first (runtime/io/try_first.hpp), on both backends: a call whose data is ready
// completes without an operation going to the reactor (RuntimeStats::io_submitted does not
// move); one whose fd is not ready still waits and completes; kTryMisses misses in a row turn the
// try off, and a probe that finds data turns it back on; deadlines, scopes, cancellation, a
// caller's MSG_DONTWAIT and close keep the reactor path's meaning; regular files and pread are
// never tried; and a fiber whose calls all succeed at once still lets the others run.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

#include <weft/weft.hpp>

#include <utility>
#include "io/try_first.hpp"
#include "sched/carrier.hpp"

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
// Pipe is support.hpp's pipe closed with weft::close (which forgets what try-first learned of
// its fds, as a plain close(2) cannot), so that each test starts from fresh state; made and
// dropped on a fiber.
struct Pipe : weft_test::Pipe {
  ~Pipe() {
    weft::close(std::exchange(r, -1));
    weft::close(std::exchange(w, -1));
  }
};

class TryFirst : public ::testing::TestWithParam<weft::Backend> {
 protected:
  // run() runs f on one carrier of this instance's backend; false if the backend is refused.
  template <class F>
  bool run(F&& f) {
    weft::Config c;
    c.carriers = 1;
    c.stall_ms = 0;
    c.backend = GetParam();
    try {
      weft::run(c, f);
    } catch (const std::runtime_error& e) {
      if (std::string(e.what()).find("cannot use io_uring") == std::string::npos) throw;
      return false;
    }
    return true;
  }
};

#define RUN_OR_SKIP(...)                                               \
  do {                                                                 \
    if (!run(__VA_ARGS__)) GTEST_SKIP() << "io_uring is refused here"; \
  } while (0)

std::uint64_t submitted() {
  return weft::stats().io_submitted;
}

// put() writes n bytes into fd with plain write(2).
void put(int fd, std::size_t n) {
  std::string bytes(n, 'x');
  ASSERT_EQ(::write(fd, bytes.data(), n), static_cast<ssize_t>(n));
}

// miss_once() makes reader's next 1-byte read on fd find nothing: the main fiber yields until
// the reader fiber is blocked in it, then writes the byte it waits for and waits for it to read.
void miss_once(int rfd, int wfd) {
  std::atomic<int> done{0};
  auto reader = weft::spawn([&] {
    char c;
    EXPECT_EQ(weft::read(rfd, &c, 1), 1);
    done = 1;
  });
  weft::this_fiber::yield();  // the reader runs until its read waits
  EXPECT_EQ(done.load(), 0);
  put(wfd, 1);
  reader.join();
}

TEST_P(TryFirst, ReadyDataGoesToNoReactor) {
  RUN_OR_SKIP([] {
    Pipe p;
    put(p.w, 64);
    std::uint64_t before = submitted();
    char buf[16];
    for (int i = 0; i < 32; ++i) ASSERT_EQ(weft::read(p.r, buf, 1), 1);
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 16);  // a whole read
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 16);  // and a short one below
    EXPECT_EQ(weft::write(p.w, "abcd", 4), 4);
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 4);  // short: what the pipe had
    EXPECT_EQ(std::string(buf, 4), "abcd");
    EXPECT_EQ(submitted(), before);

    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    before = submitted();
    EXPECT_EQ(weft::send(sv[0], "hello", 5), 5);
    EXPECT_EQ(weft::recv(sv[1], buf, sizeof buf), 5);
    EXPECT_EQ(std::string(buf, 5), "hello");
    EXPECT_EQ(weft::write(sv[1], "pong", 4), 4);
    EXPECT_EQ(weft::read(sv[0], buf, sizeof buf), 4);
    EXPECT_EQ(submitted(), before);
    weft::close(sv[0]);
    weft::close(sv[1]);
  });
}

TEST_P(TryFirst, NotReadyStillWaitsAndCompletes) {
  RUN_OR_SKIP([] {
    Pipe p;
    std::uint64_t before = submitted();
    miss_once(p.r, p.w);
    EXPECT_EQ(submitted(), before + 1);  // the try missed; the reactor did the read
  });
}

TEST_P(TryFirst, TurnsOffAfterMissesAndBackOnAfterAProbeHits) {
  RUN_OR_SKIP([] {
    Pipe p;
    for (int i = 0; i < weft::rt::kTryMisses; ++i) miss_once(p.r, p.w);
    // Off: ready data now goes to the reactor, kTrySkip calls long.
    put(p.w, 4 * weft::rt::kTrySkip);
    char c;
    std::uint64_t before = submitted();
    for (int i = 0; i < weft::rt::kTrySkip; ++i) ASSERT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(submitted(), before + weft::rt::kTrySkip);
    // The probe finds data: on again, fully.
    before = submitted();
    for (int i = 0; i < 3 * weft::rt::kTrySkip; ++i) ASSERT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(submitted(), before);
    // One miss does not turn it off.
    miss_once(p.r, p.w);
    put(p.w, 1);
    before = submitted();
    ASSERT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(submitted(), before);
  });
}

TEST_P(TryFirst, AProbeThatMissesDoublesThePause) {
  RUN_OR_SKIP([] {
    Pipe p;
    for (int i = 0; i < weft::rt::kTryMisses; ++i) miss_once(p.r, p.w);
    // The pause: kTrySkip calls that go straight to the reactor (and wait there).
    for (int i = 0; i < weft::rt::kTrySkip; ++i) miss_once(p.r, p.w);
    miss_once(p.r, p.w);  // the probe, which misses: off for twice as long
    put(p.w, 4 * weft::rt::kTrySkip);
    char c;
    std::uint64_t before = submitted();
    for (int i = 0; i < 2 * weft::rt::kTrySkip; ++i) ASSERT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(submitted(), before + 2 * weft::rt::kTrySkip);
    before = submitted();
    for (int i = 0; i < weft::rt::kTrySkip; ++i) ASSERT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(submitted(), before);
  });
}

TEST_P(TryFirst, DirectionsAreSeparate) {
  RUN_OR_SKIP([] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    for (int i = 0; i < weft::rt::kTryMisses; ++i) miss_once(sv[0], sv[1]);
    // Receiving is off on sv[0]; sending on it is not.
    std::uint64_t before = submitted();
    EXPECT_EQ(weft::send(sv[0], "x", 1), 1);
    EXPECT_EQ(submitted(), before);
    char c;
    EXPECT_EQ(weft::recv(sv[0], &c, 1, MSG_DONTWAIT), -EAGAIN);  // the caller's own: answered
    EXPECT_EQ(submitted(), before);
    put(sv[1], 1);
    EXPECT_EQ(weft::recv(sv[0], &c, 1), 1);
    EXPECT_EQ(submitted(), before + 1);
    weft::close(sv[0]);
    weft::close(sv[1]);
  });
}

TEST_P(TryFirst, CallerDontwaitIsAnsweredAtOnceAndLeavesTheStateAlone) {
  RUN_OR_SKIP([] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char c;
    std::uint64_t before = submitted();
    for (int i = 0; i < 3 * weft::rt::kTryMisses; ++i) {
      EXPECT_EQ(weft::recv(sv[0], &c, 1, MSG_DONTWAIT), -EAGAIN);
    }
    EXPECT_EQ(submitted(), before);
    put(sv[1], 1);
    EXPECT_EQ(weft::recv(sv[0], &c, 1), 1);
    EXPECT_EQ(submitted(), before);  // still on
    weft::close(sv[0]);
    weft::close(sv[1]);
  });
}

TEST_P(TryFirst, MsgWaitallGoesToTheReactor) {
  RUN_OR_SKIP([] {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    put(sv[1], 4);
    char buf[4];
    std::uint64_t before = submitted();
    EXPECT_EQ(weft::recv(sv[0], buf, 4, MSG_WAITALL), 4);
    EXPECT_EQ(submitted(), before + 1);
    weft::close(sv[0]);
    weft::close(sv[1]);
  });
}

TEST_P(TryFirst, ExpiredDeadlineAndScopeStillTakeReadyData) {
  RUN_OR_SKIP([] {
    Pipe p;
    char c;
    // As on the reactor's path: an op that completes despite its deadline keeps its result.
    put(p.w, 2);
    EXPECT_EQ(weft::read(p.r, &c, 1, weft::Deadline(-1s)), 1);
    {
      weft::Timeout scope(weft::Deadline(-1s));
      EXPECT_EQ(weft::read(p.r, &c, 1), 1);
    }
    // With nothing there the deadline and the scope end the wait.
    EXPECT_EQ(weft::read(p.r, &c, 1, weft::Deadline(-1s)), -ETIMEDOUT);
    EXPECT_EQ(weft::read(p.r, &c, 1, weft::Deadline(1ms)), -ETIMEDOUT);
    {
      weft::Timeout scope(weft::Deadline(1ms));
      EXPECT_EQ(weft::read(p.r, &c, 1), -ETIMEDOUT);
    }
  });
}

TEST_P(TryFirst, CancelledFiberFailsBeforeTrying) {
  RUN_OR_SKIP([] {
    Pipe p;
    put(p.w, 1);
    std::atomic<bool> go{false};
    auto f = weft::spawn([&] {
      while (!go) weft::this_fiber::yield();
      char c;
      return weft::read(p.r, &c, 1);
    });
    weft::this_fiber::yield();
    f.cancel();
    go = true;
    EXPECT_EQ(f.join(), -ECANCELED);
    char c;
    EXPECT_EQ(weft::read(p.r, &c, 1), 1);  // the byte is still there
  });
}

TEST_P(TryFirst, CloseWakesAWaiterAndForgetsTheState) {
  RUN_OR_SKIP([] {
    int r, w;
    {
      int fds[2];
      ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
      r = fds[0];
      w = fds[1];
    }
    for (int i = 0; i < weft::rt::kTryMisses; ++i) miss_once(r, w);
    // A reader blocked on the fd wakes with -EBADF when weft::close closes it.
    auto reader = weft::spawn([&] {
      char c;
      return weft::read(r, &c, 1);
    });
    weft::this_fiber::yield();
    EXPECT_EQ(weft::close(r), 0);
    EXPECT_EQ(reader.join(), -EBADF);
    EXPECT_EQ(weft::close(w), 0);
    // The numbers come back for a new pipe, whose tries start on.
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    ASSERT_EQ(fds[0], r);
    put(fds[1], 1);
    std::uint64_t before = submitted();
    char c;
    EXPECT_EQ(weft::read(fds[0], &c, 1), 1);
    EXPECT_EQ(submitted(), before);
    weft::close(fds[0]);
    weft::close(fds[1]);
  });
}

TEST_P(TryFirst, RegularFilesAndPreadGoToTheReactor) {
  RUN_OR_SKIP([] {
    char path[] = "/tmp/weft_try_first_XXXXXX";
    int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::unlink(path);
    put(fd, 64);
    ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
    char buf[8];
    std::uint64_t before = submitted();
    EXPECT_EQ(weft::read(fd, buf, 8), 8);
    EXPECT_EQ(weft::read(fd, buf, 8), 8);
    EXPECT_EQ(submitted(), before + 2);
    weft::close(fd);

    Pipe p;
    put(p.w, 1);
    before = submitted();
    EXPECT_EQ(weft::pread(p.r, buf, 1, 0), -ESPIPE);  // refused before any op, as natively
    EXPECT_EQ(submitted(), before);
  });
}

TEST_P(TryFirst, ReadyCallsStillLetOthersRun) {
  RUN_OR_SKIP([] {
    Pipe p;
    constexpr int kReads = 20 * weft::rt::Carrier::kTick;
    put(p.w, kReads);
    std::atomic<bool> stop{false};
    std::atomic<int> turns{0};
    auto other = weft::spawn([&] {
      while (!stop) {
        ++turns;
        weft::this_fiber::yield();
      }
    });
    weft::this_fiber::yield();  // the other fiber is running and queued again
    int before = turns;
    std::uint64_t submitted_before = submitted();
    char c;
    for (int i = 0; i < kReads; ++i) ASSERT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(submitted(), submitted_before);  // every read was direct
    // Every kTick direct calls the reader yields, and the other fiber takes a turn.
    EXPECT_GE(turns - before, 10);
    stop = true;
    other.join();
  });
}

INSTANTIATE_TEST_SUITE_P(Backends, TryFirst,
                         ::testing::Values(weft::Backend::kIoUring, weft::Backend::kEpoll),
                         [](const ::testing::TestParamInfo<weft::Backend>& i) {
                           return std::string(i.param == weft::Backend::kEpoll ? "epoll"
                                                                               : "io_uring");
                         });

}  // namespace
