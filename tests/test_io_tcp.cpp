// Fiber-aware I/O on TCP loopback: accept/connect in fibers, 200 concurrent echo clients,
// deadlines on accept/connect/poll, refused connections, close while blocked in accept.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;

// Listener is a TCP socket listening on 127.0.0.1 at a kernel-chosen port.
struct Listener {
  int fd = -1;
  sockaddr_in addr{};
  explicit Listener(int backlog = 512) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, backlog) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("bind/listen failed");
    }
  }
  ~Listener() {
    if (fd >= 0) ::close(fd);
  }
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&addr); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
};

// tcp_socket makes a blocking TCP socket.
int tcp_socket() {
  return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

TEST(TcpIo, AcceptAndConnectInFibers) {
  Listener l;
  weft_test::run([&] {
    auto server = weft::spawn([&] {
      sockaddr_in peer{};
      unsigned len = sizeof peer;
      int c = weft::accept(l.fd, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
      EXPECT_GE(c, 0);
      if (c < 0) return std::make_pair(std::string(), 0);
      EXPECT_EQ(len, sizeof peer);
      EXPECT_EQ(peer.sin_family, AF_INET);
      EXPECT_TRUE(::fcntl(c, F_GETFD) & FD_CLOEXEC);
      char buf[16] = {};
      ssize_t n = weft::read_exact(c, buf, 5);
      EXPECT_EQ(weft::write_all(c, "world", 5), 5);
      weft::close(c);
      return std::make_pair(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0),
                            static_cast<int>(ntohs(peer.sin_port)));
    });
    int s = tcp_socket();
    ASSERT_GE(s, 0);
    ASSERT_EQ(weft::connect(s, l.sa(), sizeof l.addr), 0);
    sockaddr_in me{};
    socklen_t len = sizeof me;
    ASSERT_EQ(::getsockname(s, reinterpret_cast<sockaddr*>(&me), &len), 0);
    EXPECT_EQ(weft::send(s, "hello", 5), 5);
    char buf[16];
    EXPECT_EQ(weft::read_exact(s, buf, 5), 5);
    EXPECT_EQ(std::string(buf, 5), "world");
    EXPECT_EQ(weft::recv(s, buf, sizeof buf), 0);  // server closed
    auto [got, peer_port] = server.join();
    EXPECT_EQ(got, "hello");
    EXPECT_EQ(peer_port, ntohs(me.sin_port));
    weft::close(s);
  });
}

TEST(TcpIo, TwoHundredConcurrentEchoClients) {
  constexpr int kClients = 200;
  constexpr int kRounds = 20;
  Listener l;
  int echoed_ok = 0;
  auto t0 = Clock::now();
  weft_test::run([&] {
    auto server = weft::spawn_with({.name = "acceptor"}, [&] {
      std::vector<weft::Fiber<long>> handlers;
      for (int i = 0; i < kClients; ++i) {
        int c = weft::accept(l.fd, nullptr, nullptr, SOCK_CLOEXEC);
        EXPECT_GE(c, 0) << "accept #" << i;
        if (c < 0) break;
        handlers.push_back(weft::spawn([c] {
          char buf[512];
          long total = 0;
          for (;;) {
            ssize_t n = weft::read(c, buf, sizeof buf);
            if (n <= 0) break;
            if (weft::write_all(c, buf, static_cast<std::size_t>(n)) != n) break;
            total += n;
          }
          weft::close(c);
          return total;
        }));
      }
      long sum = 0;
      for (auto& h : handlers) sum += h.join();
      return sum;
    });
    std::vector<weft::Fiber<bool>> clients;
    for (int i = 0; i < kClients; ++i) {
      clients.push_back(weft::spawn([&, i] {
        int s = tcp_socket();
        if (s < 0) return false;
        bool ok = weft::connect(s, l.sa(), sizeof l.addr) == 0;
        int one = 1;
        ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        for (int r = 0; ok && r < kRounds; ++r) {
          char msg[32];
          std::snprintf(msg, sizeof msg, "client %03d round %02d....", i, r);
          ok = weft::write_all(s, msg, 24) == 24;
          char back[32] = {};
          ok = ok && weft::read_exact(s, back, 24, 20s) == 24;
          ok = ok && std::memcmp(msg, back, 24) == 0;
          if (r % 5 == 0) weft::this_fiber::yield();
        }
        weft::close(s);
        return ok;
      }));
    }
    for (auto& c : clients) echoed_ok += c.join() ? 1 : 0;
    EXPECT_EQ(server.join(), static_cast<long>(kClients) * kRounds * 24);
  });
  EXPECT_EQ(echoed_ok, kClients);
  EXPECT_LT(Clock::now() - t0, 30s);
  EXPECT_EQ(weft::last_run_stats().io_inflight, 0u);
}

TEST(TcpIo, AcceptDeadline) {
  Listener l;
  weft_test::run([&] {
    auto t0 = Clock::now();
    EXPECT_EQ(weft::accept(l.fd, nullptr, nullptr, 0, 30ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 30ms);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
    // The listener still works afterwards.
    auto server = weft::spawn([&] { return weft::accept(l.fd, nullptr, nullptr, 0, 5s); });
    int s = tcp_socket();
    ASSERT_EQ(weft::connect(s, l.sa(), sizeof l.addr, 5s), 0);
    int c = server.join();
    EXPECT_GE(c, 0);
    weft::close(c);
    weft::close(s);
  });
}

TEST(TcpIo, ConnectDeadline) {
  // A listener with a full accept queue drops further SYNs, so the next connect hangs.
  Listener l(0);
  std::vector<int> fillers;
  auto cleanup = [&] {
    for (int fd : fillers) ::close(fd);
  };
  for (int i = 0; i < 4; ++i) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(s, l.sa(), sizeof l.addr);
    fillers.push_back(s);
  }
  ::usleep(20000);
  int result = 1;
  std::chrono::nanoseconds waited{};
  weft_test::run([&] {
    int s = tcp_socket();
    auto t0 = Clock::now();
    result = weft::connect(s, l.sa(), sizeof l.addr, 100ms);
    waited = Clock::now() - t0;
    weft::close(s);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
  });
  cleanup();
  if (result == 0) GTEST_SKIP() << "could not fill the accept queue; connect succeeded";
  EXPECT_EQ(result, -ETIMEDOUT);
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, weft_test::kPrompt);
}

TEST(TcpIo, ConnectRefused) {
  sockaddr_in addr{};
  {
    // Find a free port, then close it so nothing listens there.
    Listener l;
    addr = l.addr;
  }
  weft_test::run([&] {
    int s = tcp_socket();
    EXPECT_EQ(weft::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr, 5s), -ECONNREFUSED);
    weft::close(s);
  });
}

TEST(TcpIo, PollForReadinessAndDeadline) {
  Listener l;
  weft_test::run([&] {
    auto t0 = Clock::now();
    EXPECT_EQ(weft::poll(l.fd, POLLIN, 20ms), -ETIMEDOUT);
    EXPECT_GE(Clock::now() - t0, 20ms);
    auto poller = weft::spawn([&] { return weft::poll(l.fd, POLLIN, 5s); });
    weft::this_fiber::sleep_for(5ms);
    int s = tcp_socket();
    ASSERT_EQ(weft::connect(s, l.sa(), sizeof l.addr), 0);
    EXPECT_TRUE(poller.join() & POLLIN);  // a pending connection makes the listener readable
    int c = weft::accept(l.fd);
    EXPECT_GE(c, 0);
    EXPECT_TRUE(weft::poll(s, POLLOUT, 1s) & POLLOUT);
    weft::close(c);
    weft::close(s);
  });
}

TEST(TcpIo, CloseWhileBlockedInAccept) {
  Listener l;
  weft_test::run([&] {
    auto acceptor = weft::spawn([&] { return weft::accept(l.fd); });
    weft::this_fiber::sleep_for(5ms);
    EXPECT_FALSE(acceptor.done());
    auto t0 = Clock::now();
    EXPECT_EQ(weft::close(l.fd), 0);
    l.fd = -1;
    EXPECT_EQ(acceptor.join(), -EBADF);
    EXPECT_LT(Clock::now() - t0, weft_test::kPrompt);
    EXPECT_EQ(weft::stats().io_inflight, 0u);
  });
}

TEST(TcpIo, CancelWhileBlockedInAccept) {
  Listener l;
  weft_test::run([&] {
    auto acceptor = weft::spawn([&] { return weft::accept(l.fd); });
    weft::this_fiber::sleep_for(5ms);
    acceptor.cancel();
    EXPECT_EQ(acceptor.join(), -ECANCELED);
    // No connection was swallowed by the cancelled accept.
    int s = tcp_socket();
    ASSERT_EQ(weft::connect(s, l.sa(), sizeof l.addr), 0);
    int c = weft::accept(l.fd, nullptr, nullptr, 0, 5s);
    EXPECT_GE(c, 0);
    weft::close(c);
    weft::close(s);
  });
}

TEST(TcpOffFiber, BehavesLikeSyscalls) {
  Listener l;
  auto t0 = Clock::now();
  EXPECT_EQ(weft::accept(l.fd, nullptr, nullptr, 0, 25ms), -ETIMEDOUT);
  EXPECT_GE(Clock::now() - t0, 25ms);
  int s = tcp_socket();
  ASSERT_EQ(weft::connect(s, l.sa(), sizeof l.addr, 5s), 0);
  int c = weft::accept(l.fd, nullptr, nullptr, SOCK_CLOEXEC, 5s);
  ASSERT_GE(c, 0);
  EXPECT_TRUE(::fcntl(c, F_GETFD) & FD_CLOEXEC);
  EXPECT_EQ(weft::send(s, "abc", 3), 3);
  char buf[4];
  EXPECT_EQ(weft::read_exact(c, buf, 3, 5s), 3);
  EXPECT_EQ(weft::close(c), 0);
  EXPECT_EQ(weft::close(s), 0);
  sockaddr_in dead = l.addr;
  ::close(l.fd);
  l.fd = -1;
  int s2 = tcp_socket();
  EXPECT_EQ(weft::connect(s2, reinterpret_cast<sockaddr*>(&dead), sizeof dead), -ECONNREFUSED);
  ::close(s2);
}

}  // namespace
