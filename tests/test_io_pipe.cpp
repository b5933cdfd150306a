// Fiber-aware I/O on pipes: read/write semantics, readv/writev, poll, deadlines, close while
// blocked (and the fd-reuse guarantee), EPIPE, error mapping, and calls made off a fiber.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;

using weft_test::Pipe;

// IgnoreSigpipe sets SIGPIPE to SIG_IGN for its lifetime.
struct IgnoreSigpipe {
  struct sigaction old {};
  IgnoreSigpipe() {
    struct sigaction sa {};
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, &old);
  }
  ~IgnoreSigpipe() { sigaction(SIGPIPE, &old, nullptr); }
};

// pattern fills buf with bytes derived from seed and the position.
void pattern(std::vector<unsigned char>& buf, std::uint32_t seed) {
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : buf) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<unsigned char>(x);
  }
}

// fnv1a is a checksum of buf.
std::uint64_t fnv1a(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// unused_fd returns an fd number that is not open.
int unused_fd() {
  for (int fd = 19000; fd > 1000; --fd) {
    if (::fcntl(fd, F_GETFD) == -1 && errno == EBADF) return fd;
  }
  return -1;
}

TEST(PipeIo, WriteThenReadBetweenFibers) {
  Pipe p;
  weft_test::run([&] {
    auto reader = weft::spawn([&] {
      char buf[64] = {};
      ssize_t n = weft::read(p.r, buf, sizeof buf);
      return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    });
    auto writer = weft::spawn([&] { return weft::write(p.w, "hello", 5); });
    EXPECT_EQ(writer.join(), 5);
    EXPECT_EQ(reader.join(), "hello");
  });
}

TEST(PipeIo, ReadBlocksOnlyTheCaller) {
  Pipe p;
  weft_test::run([&] {
    int ticks = 0;
    auto reader = weft::spawn([&] {
      char c = 0;
      ssize_t n = weft::read(p.r, &c, 1);
      return std::make_pair(n, c);
    });
    // While the reader is blocked, other fibers keep running.
    for (int i = 0; i < 10; ++i) {
      weft::this_fiber::sleep_for(1ms);
      ++ticks;
    }
    EXPECT_FALSE(reader.done());
    EXPECT_EQ(weft::stats().io_inflight, 1u);
    EXPECT_EQ(weft::write(p.w, "z", 1), 1);
    auto [n, c] = reader.join();
    EXPECT_EQ(n, 1);
    EXPECT_EQ(c, 'z');
    EXPECT_EQ(ticks, 10);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
  });
}

TEST(PipeIo, ShortReadReturnsWhatIsAvailable) {
  Pipe p;
  weft_test::run([&] {
    ASSERT_EQ(weft::write(p.w, "abcde", 5), 5);
    char buf[100];
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 5);
    EXPECT_EQ(std::string(buf, 5), "abcde");
  });
}

TEST(PipeIo, EofReturnsZero) {
  Pipe p;
  weft_test::run([&] {
    ASSERT_EQ(weft::write(p.w, "ab", 2), 2);
    p.close_w();
    char buf[8];
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 2);
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 0);
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 0);
  });
}

TEST(PipeIo, EofWakesBlockedReader) {
  Pipe p;
  weft_test::run([&] {
    auto reader = weft::spawn([&] {
      char buf[8];
      return weft::read(p.r, buf, sizeof buf);
    });
    weft::this_fiber::sleep_for(5ms);
    weft::close(p.w);
    p.w = -1;
    EXPECT_EQ(reader.join(), 0);
  });
}

TEST(PipeIo, ReadExactAssemblesPiecesAndStopsAtEof) {
  Pipe p;
  weft_test::run([&] {
    auto writer = weft::spawn([&] {
      for (int i = 0; i < 10; ++i) {
        char c = static_cast<char>('0' + i);
        EXPECT_EQ(weft::write(p.w, &c, 1), 1);
        weft::this_fiber::sleep_for(1ms);
      }
    });
    char buf[10];
    EXPECT_EQ(weft::read_exact(p.r, buf, 10), 10);
    EXPECT_EQ(std::string(buf, 10), "0123456789");
    writer.join();
    ASSERT_EQ(weft::write(p.w, "xyz", 3), 3);
    weft::close(p.w);
    p.w = -1;
    char big[100];
    EXPECT_EQ(weft::read_exact(p.r, big, sizeof big), 3);  // short count at EOF
    EXPECT_EQ(std::string(big, 3), "xyz");
    EXPECT_EQ(weft::read_exact(p.r, big, sizeof big), 0);
  });
}

TEST(PipeIo, ReadvWritev) {
  Pipe p;
  weft_test::run([&] {
    char a[] = "head-", b[] = "body-", c[] = "tail";
    iovec out[3] = {{a, 5}, {b, 5}, {c, 4}};
    EXPECT_EQ(weft::writev(p.w, out, 3), 14);
    char x[3], y[4], z[20] = {};
    iovec in[3] = {{x, 3}, {y, 4}, {z, sizeof z}};
    EXPECT_EQ(weft::readv(p.r, in, 3), 14);
    EXPECT_EQ(std::string(x, 3) + std::string(y, 4) + std::string(z, 7), "head-body-tail");
  });
}

TEST(PipeIo, PollInWaitsForData) {
  Pipe p;
  weft_test::run([&] {
    auto poller = weft::spawn([&] { return weft::poll(p.r, POLLIN); });
    weft::this_fiber::sleep_for(5ms);
    EXPECT_FALSE(poller.done());
    ASSERT_EQ(weft::write(p.w, "!", 1), 1);
    int ev = poller.join();
    EXPECT_GT(ev, 0);
    EXPECT_TRUE(ev & POLLIN);
    // Poll does not consume the data.
    char c = 0;
    EXPECT_EQ(weft::read(p.r, &c, 1), 1);
    EXPECT_EQ(c, '!');
  });
}

TEST(PipeIo, PollReadyReturnsAtOnce) {
  Pipe p;
  weft_test::run([&] {
    EXPECT_TRUE(weft::poll(p.w, POLLOUT, 1s) & POLLOUT);
    ASSERT_EQ(weft::write(p.w, "!", 1), 1);
    auto t0 = Clock::now();
    EXPECT_TRUE(weft::poll(p.r, POLLIN, 60s) & POLLIN);  // a deadline beyond kPrompt
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
    p.close_w();
    char c;
    ASSERT_EQ(weft::read(p.r, &c, 1), 1);
    int ev = weft::poll(p.r, POLLIN, 1s);
    EXPECT_GT(ev, 0);
    EXPECT_TRUE(ev & POLLHUP) << ev;
  });
}

TEST(PipeIo, ReadDeadlineTimesOutAndTransfersNothing) {
  Pipe p;
  weft_test::run([&] {
    char buf[8];
    auto t0 = Clock::now();
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf, 30ms), -ETIMEDOUT);
    auto elapsed = Clock::now() - t0;
    EXPECT_GE(elapsed, 30ms);
    EXPECT_LT(elapsed, weft_test::kPrompt);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
    EXPECT_EQ(weft::stats().timers_pending, 0u);
    // Data written after the timeout is all still there.
    ASSERT_EQ(weft::write(p.w, "later", 5), 5);
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf, 1s), 5);
    EXPECT_EQ(std::string(buf, 5), "later");
  });
}

TEST(PipeIo, AbsoluteAndExpiredDeadlines) {
  Pipe p;
  weft_test::run([&] {
    char buf[8];
    auto at = Clock::now() + 20ms;
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf, at), -ETIMEDOUT);
    EXPECT_GE(Clock::now(), at);
    auto t0 = Clock::now();
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf, 0ms), -ETIMEDOUT);
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf, Clock::now() - 1s), -ETIMEDOUT);
    EXPECT_EQ(weft::poll(p.r, POLLIN, 0ms), -ETIMEDOUT);
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
  });
}

TEST(PipeIo, PollDeadline) {
  Pipe p;
  weft_test::run([&] {
    auto t0 = Clock::now();
    EXPECT_EQ(weft::poll(p.r, POLLIN, 25ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 25ms);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
  });
}

TEST(PipeIo, DeadlineDoesNotFireWhenDataArrivesInTime) {
  Pipe p;
  weft_test::run([&] {
    auto reader = weft::spawn([&] {
      char buf[8] = {};
      ssize_t n = weft::read(p.r, buf, sizeof buf, 5s);
      return std::make_pair(n, std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0));
    });
    weft::this_fiber::sleep_for(10ms);
    ASSERT_EQ(weft::write(p.w, "ok", 2), 2);
    auto [n, s] = reader.join();
    EXPECT_EQ(n, 2);
    EXPECT_EQ(s, "ok");
    // The unused deadline is disarmed, not left pending.
    EXPECT_EQ(weft::stats().timers_pending, 0u);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
  });
}

TEST(PipeIo, CloseWhileBlockedGivesEbadfAndFdReuseIsClean) {
  IgnoreSigpipe ignore;
  Pipe p;
  weft_test::run([&] {
    const int old_r = p.r;
    auto reader = weft::spawn([&] {
      char buf[16];
      return weft::read(old_r, buf, sizeof buf);
    });
    auto poller = weft::spawn([&] { return weft::poll(old_r, POLLIN); });
    weft::this_fiber::sleep_for(5ms);
    ASSERT_FALSE(reader.done());
    auto t0 = Clock::now();
    auto closer = weft::spawn([&] { return weft::close(old_r); });
    EXPECT_EQ(closer.join(), 0);
    EXPECT_EQ(reader.join(), -EBADF);
    EXPECT_EQ(poller.join(), -EBADF);
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
    p.r = -1;
    EXPECT_EQ(weft::stats().io_inflight, 0u);

    // The old read has been reaped: its pipe has no reader left, so writing fails with EPIPE
    // rather than feeding a stray request (allow a moment for the kernel's deferred release).
    ssize_t wr = 0;
    for (int i = 0; i < 200 && wr != -EPIPE; ++i) {
      wr = weft::write(p.w, "s", 1);
      if (wr != -EPIPE) weft::this_fiber::sleep_for(1ms);
    }
    EXPECT_EQ(wr, -EPIPE);

    // A new pipe whose read end gets the number just closed (forced with dup3 if the kernel
    // handed out another number).
    Pipe q;
    if (q.r != old_r) {
      ASSERT_EQ(::dup3(q.r, old_r, O_CLOEXEC), old_r);
      ::close(q.r);
      q.r = old_r;
    }
    auto reader2 = weft::spawn([&] {
      std::string got(8, '\0');
      ssize_t n = weft::read_exact(q.r, got.data(), got.size(), 5s);
      return std::make_pair(n, got);
    });
    weft::this_fiber::yield();
    ASSERT_EQ(weft::write_all(q.w, "new-data", 8), 8);
    auto [n, got] = reader2.join();
    EXPECT_EQ(n, 8);
    EXPECT_EQ(got, "new-data");
    // Nothing else shows up on the new pipe either.
    char extra;
    EXPECT_EQ(weft::read(q.r, &extra, 1, 20ms), -ETIMEDOUT);
  });
}

TEST(PipeIo, CloseWithoutWaitersAndDoubleClose) {
  weft_test::run([] {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    EXPECT_EQ(weft::close(fds[0]), 0);
    EXPECT_EQ(weft::close(fds[1]), 0);
    EXPECT_EQ(weft::close(fds[1]), -EBADF);
    EXPECT_EQ(weft::close(-1), -EBADF);
  });
}

TEST(PipeIo, WriteWithReadEndClosedGivesEpipe) {
  IgnoreSigpipe ignore;
  Pipe p;
  p.close_r();
  weft_test::run([&] {
    EXPECT_EQ(weft::write(p.w, "x", 1), -EPIPE);
    EXPECT_EQ(weft::write_all(p.w, "xyz", 3), -EPIPE);
  });
}

TEST(PipeIo, BlockedWriterGetsEpipeWhenReaderCloses) {
  IgnoreSigpipe ignore;
  Pipe p;
  weft_test::run([&] {
    auto writer = weft::spawn([&] {
      std::vector<char> big(1 << 20, 'w');  // more than the pipe holds
      return weft::write_all(p.w, big.data(), big.size());
    });
    weft::this_fiber::sleep_for(10ms);
    EXPECT_FALSE(writer.done());
    p.close_r();
    EXPECT_EQ(writer.join(), -EPIPE);
  });
}

TEST(PipeIo, ErrorsAreNegativeErrno) {
  weft_test::run([] {
    char buf[4];
    int bad = unused_fd();
    ASSERT_GE(bad, 0);
    EXPECT_EQ(weft::read(bad, buf, sizeof buf), -EBADF);
    EXPECT_EQ(weft::write(bad, buf, sizeof buf), -EBADF);
    EXPECT_EQ(weft::read(-1, buf, sizeof buf), -EBADF);
    Pipe p;
    EXPECT_EQ(weft::read(p.w, buf, sizeof buf), -EBADF);   // write end is not readable
    EXPECT_EQ(weft::write(p.r, buf, sizeof buf), -EBADF);  // read end is not writable
  });
}

TEST(PipeIo, PreadPwriteOnPipeAreEspipe) {
  // pread(2)/pwrite(2) refuse non-seekable fds; io_uring would quietly ignore the offset.
  Pipe p;
  weft_test::run([&] {
    char buf[4];
    EXPECT_EQ(weft::pwrite(p.w, "data", 4, 0, 1s), -ESPIPE);
    ASSERT_EQ(weft::write(p.w, "data", 4), 4);
    EXPECT_EQ(weft::pread(p.r, buf, sizeof buf, 0, 1s), -ESPIPE);
  });
  // Off a fiber, the same calls are the plain system calls.
  char buf[4];
  EXPECT_EQ(weft::pread(p.r, buf, sizeof buf, 0), -ESPIPE);
  EXPECT_EQ(weft::pwrite(p.w, "data", 4, 0), -ESPIPE);
}

TEST(PipeIo, LargeTransferWithChecksum) {
  constexpr std::size_t kBytes = 8u << 20;
  Pipe p;
  std::vector<unsigned char> out(kBytes), in(kBytes);
  pattern(out, 3);
  weft_test::run([&] {
    auto writer = weft::spawn([&] {
      // Odd-sized chunks so reads and writes do not line up.
      std::size_t off = 0, chunk = 1;
      while (off < kBytes) {
        std::size_t n = std::min(chunk, kBytes - off);
        EXPECT_EQ(weft::write_all(p.w, out.data() + off, n), static_cast<ssize_t>(n));
        off += n;
        chunk = chunk * 7 % 200003 + 1;
      }
    });
    EXPECT_EQ(weft::read_exact(p.r, in.data(), kBytes), static_cast<ssize_t>(kBytes));
    writer.join();
  });
  EXPECT_EQ(fnv1a(in.data(), kBytes), fnv1a(out.data(), kBytes));
  EXPECT_TRUE(in == out);
}

TEST(PipeIo, ManyReadersOnManyPipes) {
  constexpr int kPipes = 200;
  std::vector<std::unique_ptr<Pipe>> pipes;
  for (int i = 0; i < kPipes; ++i) pipes.push_back(std::make_unique<Pipe>());
  weft_test::run([&] {
    std::vector<weft::Fiber<int>> readers;
    for (int i = 0; i < kPipes; ++i) {
      readers.push_back(weft::spawn([&, i] {
        int v = -1;
        EXPECT_EQ(weft::read_exact(pipes[i]->r, &v, sizeof v), static_cast<ssize_t>(sizeof v));
        return v;
      }));
    }
    weft::this_fiber::yield();
    EXPECT_EQ(weft::stats().io_inflight, static_cast<std::size_t>(kPipes));
    for (int i = kPipes - 1; i >= 0; --i) {
      int v = i * 3;
      ASSERT_EQ(weft::write(pipes[i]->w, &v, sizeof v), static_cast<ssize_t>(sizeof v));
    }
    for (int i = 0; i < kPipes; ++i) EXPECT_EQ(readers[i].join(), i * 3);
  });
}

TEST(PipeIo, ZeroLengthReadReturnsAtOnce) {
  Pipe p;
  weft_test::run([&] {
    char buf[1];
    auto t0 = Clock::now();
    EXPECT_EQ(weft::read(p.r, buf, 0, 60s), 0);  // like read(2): no wait for data
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
  });
}

TEST(PipeIo, WriteDeadlineOnFullPipeTransfersNothing) {
  Pipe p;
  weft_test::run([&] {
    std::vector<char> chunk(4096, 'f');
    std::size_t filled = 0;
    ssize_t r = 0;
    for (int i = 0; i < 10000; ++i) {
      r = weft::write(p.w, chunk.data(), chunk.size(), 20ms);
      if (r < 0) break;
      filled += static_cast<std::size_t>(r);
    }
    ASSERT_EQ(r, -ETIMEDOUT);
    int queued = -1;
    ASSERT_EQ(::ioctl(p.r, FIONREAD, &queued), 0);
    EXPECT_EQ(static_cast<std::size_t>(queued), filled);
    auto t0 = Clock::now();
    EXPECT_EQ(weft::write(p.w, "1", 1, 20ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 20ms);
    ASSERT_EQ(::ioctl(p.r, FIONREAD, &queued), 0);
    EXPECT_EQ(static_cast<std::size_t>(queued), filled) << "a timed-out write transferred data";
    EXPECT_EQ(weft::stats().io_inflight, 0u);
  });
}

TEST(PipeIo, CancelledFiberFailsEvenWhenDataIsReady) {
  Pipe p;
  weft_test::run([&] {
    ASSERT_EQ(weft::write(p.w, "keep", 4), 4);
    auto f = weft::spawn([&] {
      weft::this_fiber::sleep_for(1h);  // cancelled here
      char buf[8];
      ssize_t r1 = weft::read(p.r, buf, sizeof buf);
      ssize_t r2 = weft::write(p.w, "x", 1);
      int r3 = weft::poll(p.r, POLLIN);
      return std::vector<long>{static_cast<long>(r1), static_cast<long>(r2), r3};
    });
    weft::this_fiber::yield();
    f.cancel();
    EXPECT_EQ(f.join(), (std::vector<long>{-ECANCELED, -ECANCELED, -ECANCELED}));
    char buf[8];
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 4);  // nothing consumed or added
    EXPECT_EQ(std::string(buf, 4), "keep");
  });
}

TEST(PipeIo, TwoClosersOfOneFd) {
  Pipe p;
  weft_test::run([&] {
    const int fd = p.r;
    auto reader = weft::spawn([&] {
      char c;
      return weft::read(fd, &c, 1);
    });
    weft::this_fiber::sleep_for(2ms);
    auto c1 = weft::spawn([&] { return weft::close(fd); });
    auto c2 = weft::spawn([&] { return weft::close(fd); });
    int r1 = c1.join();
    int r2 = c2.join();
    p.r = -1;
    EXPECT_EQ(reader.join(), -EBADF);
    // Exactly one close succeeds.
    EXPECT_EQ(std::min(r1, r2), -EBADF);
    EXPECT_EQ(std::max(r1, r2), 0);
  });
}

TEST(PipeIo, NonBlockingFdWaitsOnFiberButNotOff) {
  // io.hpp: on a fiber a call waits for the fd even if it is O_NONBLOCK; off a fiber it is the
  // plain system call, so O_NONBLOCK gives -EAGAIN there.
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
  char buf[4];
  EXPECT_EQ(weft::read(fds[0], buf, sizeof buf), -EAGAIN);
  weft_test::run([&] {
    auto t0 = Clock::now();
    EXPECT_EQ(weft::read(fds[0], buf, sizeof buf, 30ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 30ms);
    auto reader = weft::spawn([&] {
      char b[4] = {};
      ssize_t n = weft::read(fds[0], b, sizeof b, 5s);
      return std::string(b, n > 0 ? static_cast<std::size_t>(n) : 0);
    });
    weft::this_fiber::sleep_for(5ms);
    EXPECT_FALSE(reader.done());
    ASSERT_EQ(weft::write(fds[1], "nb", 2), 2);
    EXPECT_EQ(reader.join(), "nb");
  });
  EXPECT_EQ(weft::read(fds[0], buf, sizeof buf), -EAGAIN);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(PipeIo, PollOnBadFdMatchesOffFiber) {
  // poll(2) reports an fd that is not open as POLLNVAL; whatever weft::poll reports for it, it
  // must be the same on and off a fiber.
  int bad = unused_fd();
  ASSERT_GE(bad, 0);
  int off = weft::poll(bad, POLLIN, 100ms);
  int on = weft_test::run([&] { return weft::poll(bad, POLLIN, 100ms); });
  EXPECT_EQ(on, off) << "on a fiber " << on << ", off a fiber " << off;
}

TEST(PipeIo, CompletionBurstLargerThanCompletionQueue) {
  // 2000 reads complete at once on a ring whose completion queue holds 128: none may be lost.
  constexpr int kPipes = 2000;
  std::vector<std::unique_ptr<Pipe>> pipes;
  for (int i = 0; i < kPipes; ++i) pipes.push_back(std::make_unique<Pipe>());
  weft::Config cfg;
  cfg.ring_entries = 32;
  int good = weft_test::run(cfg, [&] {
    std::vector<weft::Fiber<int>> readers;
    for (int i = 0; i < kPipes; ++i) {
      readers.push_back(weft::spawn([&, i] {
        int v = -1;
        ssize_t n = weft::read_exact(pipes[i]->r, &v, sizeof v, 20s);
        return n == static_cast<ssize_t>(sizeof v) ? v : -1;
      }));
    }
    weft::this_fiber::yield();
    EXPECT_EQ(weft::stats().io_inflight, static_cast<std::size_t>(kPipes));
    // Plain writes, without yielding: every read becomes ready before the carrier looks.
    for (int i = 0; i < kPipes; ++i) {
      int v = i + 1;
      EXPECT_EQ(::write(pipes[i]->w, &v, sizeof v), static_cast<ssize_t>(sizeof v));
    }
    int ok = 0;
    for (int i = 0; i < kPipes; ++i) ok += readers[i].join() == i + 1;
    return ok;
  });
  EXPECT_EQ(good, kPipes);
}

// Huge fd numbers must fail like the system call, not crash: run in a child process.
TEST(PipeIoDeathTest, HugeFdNumbersGiveEbadf) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        long r = weft_test::run([] {
          char buf[4];
          long a = weft::read(INT_MAX, buf, sizeof buf);
          long b = weft::close(INT_MAX - 1);
          long c = weft::poll(1 << 30, POLLIN, 10ms);
          return (a == -EBADF && b == -EBADF && c != 0) ? 0 : 1;
        });
        std::fflush(nullptr);
        std::_Exit(static_cast<int>(r));
      },
      ::testing::ExitedWithCode(0), "");
}

// ---------------------------------------------------------------------------------------------
// A pseudo-terminal: a character device rather than a pipe, same guarantees.

// Pty owns a pseudo-terminal pair in raw mode.
struct Pty {
  int master = -1;
  int slave = -1;
  Pty() {
    master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return;
    slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    termios t{};
    if (slave >= 0 && ::tcgetattr(slave, &t) == 0) {
      ::cfmakeraw(&t);
      ::tcsetattr(slave, TCSANOW, &t);
    }
  }
  ~Pty() {
    if (slave >= 0) ::close(slave);
    if (master >= 0) ::close(master);
  }
  bool ok() const { return master >= 0 && slave >= 0; }
};

TEST(PtyIo, ReadWriteDeadlineCancelAndClose) {
  Pty pty;
  if (!pty.ok()) GTEST_SKIP() << "no pseudo-terminals here";
  weft_test::run([&] {
    char buf[16] = {};
    ASSERT_EQ(weft::write(pty.master, "tty!", 4), 4);
    EXPECT_EQ(weft::read_exact(pty.slave, buf, 4, 5s), 4);
    EXPECT_EQ(std::string(buf, 4), "tty!");

    auto t0 = Clock::now();
    EXPECT_EQ(weft::read(pty.slave, buf, sizeof buf, 30ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 30ms);

    auto f = weft::spawn([&] {
      char b[4];
      return weft::read(pty.slave, b, sizeof b);
    });
    weft::this_fiber::sleep_for(5ms);
    f.cancel();
    EXPECT_EQ(f.join(), -ECANCELED);

    auto g = weft::spawn([&] {
      char b[4];
      return weft::read(pty.slave, b, sizeof b);
    });
    weft::this_fiber::sleep_for(5ms);
    EXPECT_EQ(weft::close(pty.slave), 0);
    pty.slave = -1;
    EXPECT_EQ(g.join(), -EBADF);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
  });
}

// ---------------------------------------------------------------------------------------------
// Off a fiber the calls behave like the plain system calls.

TEST(PipeOffFiber, BehavesLikeSyscalls) {
  IgnoreSigpipe ignore;
  auto body = [] {
    EXPECT_FALSE(weft::in_fiber());
    Pipe p;
    char buf[16] = {};
    EXPECT_EQ(weft::write(p.w, "plain", 5), 5);
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 5);
    EXPECT_EQ(std::string(buf, 5), "plain");
    char a[] = "ab", b[] = "cd";
    iovec iov[2] = {{a, 2}, {b, 2}};
    EXPECT_EQ(weft::writev(p.w, iov, 2), 4);
    EXPECT_EQ(weft::read_exact(p.r, buf, 4), 4);
    EXPECT_EQ(std::string(buf, 4), "abcd");
    EXPECT_EQ(weft::write_all(p.w, "xyz", 3), 3);
    EXPECT_TRUE(weft::poll(p.r, POLLIN, 1s) & POLLIN);
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf), 3);
    // Deadlines are honoured with poll().
    auto t0 = Clock::now();
    EXPECT_EQ(weft::read(p.r, buf, sizeof buf, 30ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 30ms);
    t0 = Clock::now();
    EXPECT_EQ(weft::poll(p.r, POLLIN, 20ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 20ms);
    // Errors are -errno.
    EXPECT_EQ(weft::read(-1, buf, 1), -EBADF);
    p.close_r();
    EXPECT_EQ(weft::write(p.w, "x", 1), -EPIPE);
    int fd = p.w;
    p.w = -1;
    EXPECT_EQ(weft::close(fd), 0);
    EXPECT_EQ(weft::close(fd), -EBADF);
  };
  body();               // the gtest main thread
  std::thread t(body);  // and a fresh thread
  t.join();
}

TEST(PipeOffFiber, BlockingReadWaitsForWriterThread) {
  Pipe p;
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(weft::write(p.w, "late", 4), 4);
  });
  char buf[8];
  EXPECT_EQ(weft::read(p.r, buf, sizeof buf, 10s), 4);
  writer.join();
}

}  // namespace
