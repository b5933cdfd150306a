// Fiber-aware I/O on AF_UNIX socketpairs: send/recv flags, sendmsg/recvmsg with SCM_RIGHTS,
// message boundaries, big transfers through small socket buffers, deadlines, close while
// blocked, and EPIPE without SIGPIPE.
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;

// SocketPair owns both ends of a socketpair(AF_UNIX).
struct SocketPair {
  int a = -1;
  int b = -1;
  explicit SocketPair(int type = SOCK_STREAM) {
    int sv[2];
    if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) {
      throw std::runtime_error("socketpair failed");
    }
    a = sv[0];
    b = sv[1];
  }
  ~SocketPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
  SocketPair(const SocketPair&) = delete;
  SocketPair& operator=(const SocketPair&) = delete;
};

// fnv1a is a checksum of n bytes at p.
std::uint64_t fnv1a(const unsigned char* p, std::size_t n) {
  std::uint64_t h = 1469598103934665603ull;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// fill writes a xorshift stream derived from seed into buf.
void fill(std::vector<unsigned char>& buf, std::uint32_t seed) {
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : buf) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<unsigned char>(x >> 7);
  }
}

TEST(SocketIo, SendRecv) {
  SocketPair sp;
  weft_test::run([&] {
    auto rx = weft::spawn([&] {
      char buf[32] = {};
      ssize_t n = weft::recv(sp.b, buf, sizeof buf);
      return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    });
    EXPECT_EQ(weft::send(sp.a, "ping", 4), 4);
    EXPECT_EQ(rx.join(), "ping");
    // read/write work on sockets too.
    EXPECT_EQ(weft::write(sp.b, "pong", 4), 4);
    char buf[8];
    EXPECT_EQ(weft::read(sp.a, buf, sizeof buf), 4);
    EXPECT_EQ(std::string(buf, 4), "pong");
  });
}

TEST(SocketIo, RecvFlags) {
  SocketPair sp;
  weft_test::run([&] {
    char buf[16];
    // MSG_DONTWAIT on an empty socket fails like recv(2) instead of blocking.
    EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf, MSG_DONTWAIT), -EAGAIN);
    ASSERT_EQ(weft::send(sp.a, "peekaboo", 8), 8);
    EXPECT_EQ(weft::recv(sp.b, buf, 4, MSG_PEEK), 4);
    EXPECT_EQ(std::string(buf, 4), "peek");
    EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf, MSG_WAITALL | MSG_DONTWAIT), 8);
    EXPECT_EQ(std::string(buf, 8), "peekaboo");
  });
}

TEST(SocketIo, RecvWaitAllGathersPieces) {
  SocketPair sp;
  weft_test::run([&] {
    auto tx = weft::spawn([&] {
      for (char c : std::string("abcdef")) {
        EXPECT_EQ(weft::send(sp.a, &c, 1), 1);
        weft::this_fiber::sleep_for(1ms);
      }
    });
    char buf[6];
    EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf, MSG_WAITALL), 6);
    EXPECT_EQ(std::string(buf, 6), "abcdef");
    tx.join();
  });
}

TEST(SocketIo, PeerShutdownGivesEof) {
  SocketPair sp;
  weft_test::run([&] {
    auto rx = weft::spawn([&] {
      char buf[8];
      return weft::recv(sp.b, buf, sizeof buf);
    });
    weft::this_fiber::sleep_for(5ms);
    ::shutdown(sp.a, SHUT_WR);
    EXPECT_EQ(rx.join(), 0);
    char buf[8];
    EXPECT_EQ(weft::read_exact(sp.b, buf, sizeof buf), 0);
  });
}

TEST(SocketIo, SendToClosedPeerIsEpipeWithoutSignal) {
  // SIGPIPE keeps its default action here: if weft did not add MSG_NOSIGNAL the test dies.
  SocketPair sp;
  ::close(sp.b);
  sp.b = -1;
  weft_test::run([&] {
    EXPECT_EQ(weft::send(sp.a, "x", 1), -EPIPE);
    char c = 'y';
    iovec iov{&c, 1};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    EXPECT_EQ(weft::sendmsg(sp.a, &msg), -EPIPE);
  });
}

TEST(SocketIo, ReadvWritev) {
  SocketPair sp;
  weft_test::run([&] {
    std::string parts[4] = {"one,", "two,", "three,", "four"};
    iovec out[4];
    for (int i = 0; i < 4; ++i) out[i] = {parts[i].data(), parts[i].size()};
    EXPECT_EQ(weft::writev(sp.a, out, 4), 18);
    char x[10], y[10] = {};
    iovec in[2] = {{x, sizeof x}, {y, sizeof y}};
    EXPECT_EQ(weft::readv(sp.b, in, 2), 18);
    std::string got(x, sizeof x);
    got.append(y, 8);
    EXPECT_EQ(got, "one,two,three,four");
  });
}

TEST(SocketIo, SendmsgRecvmsgPassesFd) {
  SocketPair sp;
  int pfd[2];
  ASSERT_EQ(::pipe2(pfd, O_CLOEXEC), 0);
  weft_test::run([&] {
    auto sender = weft::spawn([&] {
      char byte = 'F';
      iovec iov{&byte, 1};
      alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
      msghdr msg{};
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      msg.msg_control = ctrl;
      msg.msg_controllen = sizeof ctrl;
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pfd[1], sizeof(int));
      return weft::sendmsg(sp.a, &msg);
    });
    char byte = 0;
    iovec iov{&byte, 1};
    alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctrl;
    msg.msg_controllen = sizeof ctrl;
    EXPECT_EQ(weft::recvmsg(sp.b, &msg, MSG_CMSG_CLOEXEC), 1);
    EXPECT_EQ(sender.join(), 1);
    EXPECT_EQ(byte, 'F');
    EXPECT_EQ(msg.msg_flags & MSG_CTRUNC, 0);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->cmsg_level, SOL_SOCKET);
    EXPECT_EQ(c->cmsg_type, SCM_RIGHTS);
    int got = -1;
    std::memcpy(&got, CMSG_DATA(c), sizeof(int));
    ASSERT_GE(got, 0);
    EXPECT_NE(got, pfd[1]);
    EXPECT_TRUE(::fcntl(got, F_GETFD) & FD_CLOEXEC);
    struct stat s1 {
    }, s2{};
    ASSERT_EQ(::fstat(got, &s1), 0);
    ASSERT_EQ(::fstat(pfd[1], &s2), 0);
    EXPECT_EQ(s1.st_ino, s2.st_ino);
    // Writing through the received fd reaches the original pipe.
    EXPECT_EQ(weft::write(got, "via-fd", 6), 6);
    char buf[8];
    EXPECT_EQ(weft::read(pfd[0], buf, sizeof buf), 6);
    EXPECT_EQ(std::string(buf, 6), "via-fd");
    EXPECT_EQ(weft::close(got), 0);
  });
  ::close(pfd[0]);
  ::close(pfd[1]);
}

TEST(SocketIo, SeqpacketKeepsMessageBoundaries) {
  SocketPair sp(SOCK_SEQPACKET);
  weft_test::run([&] {
    ASSERT_EQ(weft::send(sp.a, "first", 5), 5);
    ASSERT_EQ(weft::send(sp.a, "second!", 7), 7);
    char buf[64];
    EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf), 5);
    iovec iov{buf, sizeof buf};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    EXPECT_EQ(weft::recvmsg(sp.b, &msg), 7);
    EXPECT_EQ(std::string(buf, 7), "second!");
    // A short buffer truncates the message and says so.
    ASSERT_EQ(weft::send(sp.a, "0123456789", 10), 10);
    iov = {buf, 4};
    msg = {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    EXPECT_EQ(weft::recvmsg(sp.b, &msg), 4);
    EXPECT_TRUE(msg.msg_flags & MSG_TRUNC);
  });
}

TEST(SocketIo, RecvDeadline) {
  SocketPair sp;
  weft_test::run([&] {
    char buf[8];
    auto t0 = Clock::now();
    EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf, 0, 30ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 30ms);
    t0 = Clock::now();
    msghdr msg{};
    iovec iov{buf, sizeof buf};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    EXPECT_EQ(weft::recvmsg(sp.b, &msg, 0, 20ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 20ms);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
    ASSERT_EQ(weft::send(sp.a, "in", 2), 2);
    EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf, 0, 5s), 2);
  });
}

TEST(SocketIo, SendDeadlineWhenBufferFull) {
  SocketPair sp;
  int small = 4096;
  ASSERT_EQ(::setsockopt(sp.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  weft_test::run([&] {
    std::vector<char> chunk(4096, 'q');
    // Fill the socket until a send times out; nobody reads the other end.
    ssize_t r = 0;
    int sends = 0;
    auto t0 = Clock::now();
    while (sends < 100000) {
      r = weft::send(sp.a, chunk.data(), chunk.size(), 0, 30ms);
      if (r < 0) break;
      ++sends;
    }
    EXPECT_EQ(r, -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 30ms);
    EXPECT_LT(sends, 100000);
  });
}

TEST(SocketIo, CloseWhileBlockedInRecv) {
  SocketPair sp;
  weft_test::run([&] {
    auto rx = weft::spawn([&] {
      char buf[8];
      return weft::recv(sp.b, buf, sizeof buf);
    });
    auto reader = weft::spawn([&] {
      char buf[8];
      return weft::read(sp.b, buf, sizeof buf);
    });
    weft::this_fiber::sleep_for(5ms);
    auto t0 = Clock::now();
    EXPECT_EQ(weft::close(sp.b), 0);
    sp.b = -1;
    EXPECT_EQ(rx.join(), -EBADF);
    EXPECT_EQ(reader.join(), -EBADF);
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
    // Data sent to the old peer afterwards is not picked up by anyone.
    SocketPair fresh;
    EXPECT_EQ(weft::send(fresh.a, "fresh", 5), 5);
    char buf[8];
    EXPECT_EQ(weft::recv(fresh.b, buf, sizeof buf, 0, 5s), 5);
    EXPECT_EQ(std::string(buf, 5), "fresh");
  });
}

TEST(SocketIo, PollOnSocket) {
  SocketPair sp;
  weft_test::run([&] {
    EXPECT_TRUE(weft::poll(sp.a, POLLOUT, 1s) & POLLOUT);
    auto t0 = Clock::now();
    EXPECT_EQ(weft::poll(sp.b, POLLIN, 20ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 20ms);
    auto poller = weft::spawn([&] { return weft::poll(sp.b, POLLIN, 5s); });
    weft::this_fiber::sleep_for(5ms);
    ASSERT_EQ(weft::send(sp.a, "!", 1), 1);
    EXPECT_TRUE(poller.join() & POLLIN);
  });
}

TEST(SocketIo, SixtyFourMiBThroughSmallBuffers) {
  constexpr std::size_t kBytes = 64u << 20;
  SocketPair sp;
  int small = 4096;
  ASSERT_EQ(::setsockopt(sp.a, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_EQ(::setsockopt(sp.b, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
  std::vector<unsigned char> out(kBytes), in(kBytes, 0);
  fill(out, 11);
  auto t0 = Clock::now();
  ssize_t first_write = 0;
  weft_test::run([&] {
    auto writer = weft::spawn([&] {
      // One plain write first: it may be short, but never more than asked.
      first_write = weft::write(sp.a, out.data(), 1 << 20);
      EXPECT_GT(first_write, 0);
      EXPECT_LE(first_write, 1 << 20);
      std::size_t rest = kBytes - static_cast<std::size_t>(first_write);
      return weft::write_all(sp.a, out.data() + first_write, rest) == static_cast<ssize_t>(rest);
    });
    EXPECT_EQ(weft::read_exact(sp.b, in.data(), kBytes), static_cast<ssize_t>(kBytes));
    EXPECT_TRUE(writer.join());
  });
  RecordProperty("first_write_bytes", std::to_string(first_write));
  EXPECT_EQ(fnv1a(in.data(), kBytes), fnv1a(out.data(), kBytes));
  EXPECT_TRUE(in == out);
  EXPECT_LT(Clock::now() - t0, 60s);
}

TEST(SocketIo, BidirectionalTransferWithOddChunks) {
  constexpr std::size_t kBytes = 8u << 20;
  SocketPair sp;
  int small = 8192;
  for (int fd : {sp.a, sp.b}) {
    ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  }
  std::vector<unsigned char> out_a(kBytes), out_b(kBytes), in_a(kBytes), in_b(kBytes);
  fill(out_a, 1);
  fill(out_b, 2);
  weft_test::run([&] {
    auto pump = [](int fd, const unsigned char* src) {
      std::size_t off = 0, chunk = 3;
      while (off < kBytes) {
        std::size_t n = std::min(chunk, kBytes - off);
        if (weft::write_all(fd, src + off, n) != static_cast<ssize_t>(n)) return false;
        off += n;
        chunk = chunk * 13 % 65521 + 1;
      }
      return true;
    };
    auto drain = [](int fd, unsigned char* dst) {
      std::size_t off = 0;
      while (off < kBytes) {
        ssize_t n = weft::read(fd, dst + off, std::min<std::size_t>(kBytes - off, 100003));
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
      }
      return true;
    };
    auto w1 = weft::spawn(pump, sp.a, out_a.data());
    auto w2 = weft::spawn(pump, sp.b, out_b.data());
    auto r1 = weft::spawn(drain, sp.b, in_b.data());
    auto r2 = weft::spawn(drain, sp.a, in_a.data());
    EXPECT_TRUE(w1.join());
    EXPECT_TRUE(w2.join());
    EXPECT_TRUE(r1.join());
    EXPECT_TRUE(r2.join());
  });
  EXPECT_TRUE(in_b == out_a);
  EXPECT_TRUE(in_a == out_b);
}

TEST(SocketOffFiber, BehavesLikeSyscalls) {
  SocketPair sp;
  EXPECT_EQ(weft::send(sp.a, "plain", 5), 5);
  char buf[16];
  EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf), 5);
  EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf, MSG_DONTWAIT), -EAGAIN);
  auto t0 = Clock::now();
  EXPECT_EQ(weft::recv(sp.b, buf, sizeof buf, 0, 25ms), -ETIMEDOUT);
  EXPECT_GE(Clock::now() - t0, 25ms);
  char c = 'm';
  iovec iov{&c, 1};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  EXPECT_EQ(weft::sendmsg(sp.b, &msg), 1);
  c = 0;
  EXPECT_EQ(weft::recvmsg(sp.a, &msg), 1);
  EXPECT_EQ(c, 'm');
  ::close(sp.b);
  sp.b = -1;
  EXPECT_EQ(weft::send(sp.a, "x", 1), -EPIPE);  // and no SIGPIPE
}

}  // namespace
