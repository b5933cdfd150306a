// The Reactor contract (runtime/reactor/reactor.hpp), checked on each backend directly, without
// carriers or fibers: ops complete only through poll(), exactly once, with their real result;
// cancel gives -ECANCELED unless the op already finished; wake() from any thread ends a sleeping
// poll, even when it came first; several ops may wait on one fd for different events; regular
// files and files without a non-blocking form never block the polling thread.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

#include <weft/config.hpp>

#include "blocking/blocking_pool.hpp"
#include "reactor/backend.hpp"
#include "reactor/reactor.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Backend;
using weft::Clock;
using weft::Deadline;
using weft::rt::IoOp;
using weft::rt::OpKind;

class ReactorTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    weft::Config c;
    c.backend = GetParam();
    c.ring_entries = 64;
    try {
      reactor_ = weft::rt::make_reactor(c, &pool_);
    } catch (const std::runtime_error& e) {
      GTEST_SKIP() << e.what();
    }
  }
  void TearDown() override {
    if (reactor_) {
      EXPECT_EQ(reactor_->inflight(), 0u) << "an op was left in flight";
    }
  }

  // poll() is one Reactor::poll(), counting the ops it returns, which must be marked completed.
  void poll(bool block, const Deadline& d) {
    weft::rt::OpQueue completed;
    r().poll(block, d, completed);
    while (IoOp* op = completed.pop_front()) {
      EXPECT_TRUE(op->completed) << "poll() returned an op it had not completed";
      ++returned_[op];
    }
  }

  weft::rt::Reactor& r() { return *reactor_; }
  bool epoll() const { return GetParam() == Backend::kEpoll; }

  // poll_until() polls (sleeping) until op completes or `limit` passes; true if it completed.
  bool poll_until(IoOp& op, std::chrono::milliseconds limit = 5s) {
    auto end = Clock::now() + limit;
    bool was_completed = op.completed;
    int before = returned_[&op];
    while (!op.completed && Clock::now() < end) {
      poll(true, Deadline(std::min(end, Clock::now() + 100ms)));
    }
    if (op.completed && !was_completed) {
      EXPECT_EQ(returned_[&op], before + 1) << "a completed op came back from poll() "
                                            << returned_[&op] - before << " times, not once";
    }
    return op.completed;
  }
  // poll_once() makes one poll that does not sleep.
  void poll_once() { poll(false, Deadline()); }

  // The epoll backend offloads to the pool it is given (weft::run's, in real use).
  weft::rt::BlockingPool pool_{weft::Config{}};
  std::unique_ptr<weft::rt::Reactor> reactor_;
  std::map<const IoOp*, int> returned_;
};

IoOp make_op(OpKind kind, int fd, void* buf = nullptr, std::size_t len = 0) {
  IoOp op{kind};
  op.fd = fd;
  op.buf = buf;
  op.len = len;
  return op;
}

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    r = p[0];
    w = p[1];
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
};

struct Pair {
  int a = -1, b = -1;
  Pair() {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
      throw std::runtime_error("sp");
    a = sv[0];
    b = sv[1];
  }
  ~Pair() {
    ::close(a);
    ::close(b);
  }
};

TEST_P(ReactorTest, CompletesOnlyThroughPoll) {
  Pipe p;
  ASSERT_EQ(::write(p.w, "abc", 3), 3);
  char buf[8];
  IoOp op = make_op(OpKind::kRead, p.r, buf, sizeof buf);
  r().start(&op);
  EXPECT_FALSE(op.completed);
  EXPECT_EQ(r().inflight(), 1u);
  ASSERT_TRUE(poll_until(op));
  EXPECT_EQ(op.res, 3);
  EXPECT_EQ(std::string(buf, 3), "abc");
  EXPECT_EQ(r().inflight(), 0u);
  EXPECT_GE(r().submitted(), 1u);
}

TEST_P(ReactorTest, ReadWaitsForData) {
  Pipe p;
  char buf[8];
  IoOp op = make_op(OpKind::kRead, p.r, buf, sizeof buf);
  r().start(&op);
  for (int i = 0; i < 3; ++i) poll_once();
  EXPECT_FALSE(op.completed);
  ASSERT_EQ(::write(p.w, "xy", 2), 2);
  ASSERT_TRUE(poll_until(op));
  EXPECT_EQ(op.res, 2);
}

TEST_P(ReactorTest, CancelWaitingGivesEcanceledAndTheFdStaysUsable) {
  Pipe p;
  char buf[8];
  IoOp op = make_op(OpKind::kRead, p.r, buf, sizeof buf);
  r().start(&op);
  poll_once();
  r().cancel(&op);
  ASSERT_TRUE(poll_until(op));
  EXPECT_EQ(op.res, -ECANCELED);
  // A later op on the same fd registers afresh and sees data written after the cancel.
  IoOp again = make_op(OpKind::kRead, p.r, buf, sizeof buf);
  r().start(&again);
  poll_once();
  ASSERT_EQ(::write(p.w, "z", 1), 1);
  ASSERT_TRUE(poll_until(again));
  EXPECT_EQ(again.res, 1);
}

TEST_P(ReactorTest, CancelBeforeTheFirstPoll) {
  Pipe p;
  char buf[8];
  IoOp op = make_op(OpKind::kRead, p.r, buf, sizeof buf);
  r().start(&op);
  r().cancel(&op);
  ASSERT_TRUE(poll_until(op));
  EXPECT_EQ(op.res, -ECANCELED);
}

// A cancel racing a completion may lose: the op then keeps its real result, and no data is
// lost either way.
TEST_P(ReactorTest, CancelThatRacesKeepsTheResult) {
  Pipe p;
  ASSERT_EQ(::write(p.w, "q", 1), 1);
  char buf[8];
  IoOp op = make_op(OpKind::kRead, p.r, buf, sizeof buf);
  r().start(&op);
  r().cancel(&op);
  ASSERT_TRUE(poll_until(op));
  if (op.res == -ECANCELED) {
    EXPECT_EQ(::read(p.r, buf, sizeof buf), 1) << "cancelled, yet the byte was consumed";
  } else {
    EXPECT_EQ(op.res, 1);
  }
}

TEST_P(ReactorTest, ReaderAndWriterWaitOnOneFd) {
  Pair s;
  // Fill a's send buffer so a send must wait.
  char chunk[4096] = {};
  std::size_t stuffed = 0;
  for (ssize_t n; (n = ::send(s.a, chunk, sizeof chunk, MSG_DONTWAIT)) > 0;) stuffed += n;
  char in[16];
  IoOp rd = make_op(OpKind::kRecv, s.a, in, sizeof in);
  IoOp wr = make_op(OpKind::kSend, s.a, chunk, sizeof chunk);
  r().start(&rd);
  r().start(&wr);
  poll_once();
  EXPECT_FALSE(rd.completed);
  EXPECT_FALSE(wr.completed);
  ASSERT_EQ(::write(s.b, "hello", 5), 5);
  ASSERT_TRUE(poll_until(rd));
  EXPECT_EQ(rd.res, 5);
  EXPECT_FALSE(wr.completed);
  std::string sink(stuffed + sizeof chunk, '\0');
  std::size_t drained = 0;
  while (!wr.completed) {
    ssize_t n = ::recv(s.b, sink.data(), sink.size(), MSG_DONTWAIT);
    if (n > 0) drained += n;
    poll_until(wr, 50ms);
  }
  EXPECT_GT(wr.res, 0);
  EXPECT_LE(static_cast<std::size_t>(wr.res), sizeof chunk);
}

TEST_P(ReactorTest, TwoReadersOnOneFdEachGetTheirByte) {
  Pair s;
  char a = 0, b = 0;
  IoOp first = make_op(OpKind::kRecv, s.a, &a, 1);
  IoOp second = make_op(OpKind::kRecv, s.a, &b, 1);
  r().start(&first);
  r().start(&second);
  poll_once();
  ASSERT_EQ(::write(s.b, "1", 1), 1);
  auto end = Clock::now() + 5s;
  while (!first.completed && !second.completed && Clock::now() < end) poll_until(first, 50ms);
  EXPECT_NE(first.completed, second.completed) << "one byte, one reader";
  ASSERT_EQ(::write(s.b, "2", 1), 1);
  ASSERT_TRUE(poll_until(first));
  ASSERT_TRUE(poll_until(second));
  EXPECT_EQ(first.res, 1);
  EXPECT_EQ(second.res, 1);
  EXPECT_EQ(std::string() + a + b == "12" || std::string() + a + b == "21", true);
}

TEST_P(ReactorTest, WakeFromAnotherThreadEndsASleep) {
  std::thread t([this] {
    std::this_thread::sleep_for(50ms);
    r().wake();
  });
  auto t0 = Clock::now();
  poll(true, Deadline(Clock::now() + 20s));
  EXPECT_LT(Clock::now() - t0, 10s);
  t.join();
}

TEST_P(ReactorTest, WakeBeforeTheSleepIsNotLost) {
  r().wake();
  auto t0 = Clock::now();
  poll(true, Deadline(Clock::now() + 20s));
  EXPECT_LT(Clock::now() - t0, 10s);
}

// A sleep may end early (a signal, task work left by a ring that was torn down), never late.
TEST_P(ReactorTest, SleepEndsAtTheDeadline) {
  auto t0 = Clock::now();
  int polls = 0;
  while (Clock::now() < t0 + 30ms) {
    poll(true, Deadline(t0 + 30ms));
    ++polls;
  }
  EXPECT_LT(Clock::now() - t0, 5s);
  EXPECT_LE(polls, 5) << "the sleep did not sleep";
}

TEST_P(ReactorTest, PollOpReportsTheEventsAskedFor) {
  Pipe p;
  IoOp in = make_op(OpKind::kPoll, p.r);
  in.events = POLLIN;
  IoOp out = make_op(OpKind::kPoll, p.w);
  out.events = POLLOUT;
  r().start(&in);
  r().start(&out);
  ASSERT_TRUE(poll_until(out));
  EXPECT_EQ(out.res, POLLOUT);
  EXPECT_FALSE(in.completed);
  ASSERT_EQ(::write(p.w, "!", 1), 1);
  ASSERT_TRUE(poll_until(in));
  EXPECT_EQ(in.res, POLLIN);
}

TEST_P(ReactorTest, RegularFilesWork) {
  char path[] = "/tmp/weft_reactor_XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  ::unlink(path);
  const char text[] = "regular file";
  IoOp wr = make_op(OpKind::kWrite, fd, const_cast<char*>(text), sizeof text);
  wr.offset = 0;
  r().start(&wr);
  ASSERT_TRUE(poll_until(wr));
  EXPECT_EQ(wr.res, static_cast<int>(sizeof text));
  char back[sizeof text] = {};
  IoOp rd = make_op(OpKind::kRead, fd, back, sizeof back);
  rd.offset = 0;
  r().start(&rd);
  ASSERT_TRUE(poll_until(rd));
  EXPECT_EQ(rd.res, static_cast<int>(sizeof text));
  EXPECT_STREQ(back, text);
  IoOp pl = make_op(OpKind::kPoll, fd);
  pl.events = POLLIN | POLLOUT;
  r().start(&pl);
  ASSERT_TRUE(poll_until(pl));
  EXPECT_EQ(pl.res, POLLIN | POLLOUT);
  // epoll refuses regular files: a write the file system cannot do with RWF_NOWAIT (ext4's
  // buffered writes) goes to a helper thread; a read from the page cache is done at once.
  ::close(fd);
}

// A tty has no RWF_NOWAIT: the read waits for readiness, then is done where it may block.
TEST_P(ReactorTest, TtyReadWaitsWithoutBlockingThePoller) {
  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  char buf[16];
  IoOp rd = make_op(OpKind::kRead, slave, buf, sizeof buf);
  r().start(&rd);
  auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) poll_once();
  EXPECT_LT(Clock::now() - t0, 1s) << "a poll blocked on the tty";
  EXPECT_FALSE(rd.completed);
  ASSERT_EQ(::write(master, "hi\n", 3), 3);
  ASSERT_TRUE(poll_until(rd));
  EXPECT_EQ(rd.res, 3);
  if (epoll()) {
    EXPECT_GE(pool_.stats().threads_peak, 1u) << "the read ran on the poller's thread";
  }
  ::close(slave);
  ::close(master);
}

// accept and connect on blocking sockets leave the program's O_NONBLOCK as it was.
TEST_P(ReactorTest, AcceptAndConnectLeaveTheFlagsAlone) {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(lfd, 8), 0);
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  int cfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  IoOp acc = make_op(OpKind::kAccept, lfd);
  acc.flags = SOCK_CLOEXEC;
  r().start(&acc);
  poll_once();
  EXPECT_FALSE(acc.completed);
  IoOp con = make_op(OpKind::kConnect, cfd, &addr, sizeof addr);
  r().start(&con);
  ASSERT_TRUE(poll_until(con));
  EXPECT_EQ(con.res, 0);
  ASSERT_TRUE(poll_until(acc));
  EXPECT_GE(acc.res, 0);
  EXPECT_EQ(::fcntl(lfd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(::fcntl(cfd, F_GETFL) & O_NONBLOCK, 0);
  EXPECT_EQ(::fcntl(acc.res, F_GETFL) & O_NONBLOCK, 0);
  ::close(acc.res);
  ::close(cfd);
  ::close(lfd);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReactorTest,
                         ::testing::Values(Backend::kIoUring, Backend::kEpoll),
                         [](const ::testing::TestParamInfo<Backend>& info) {
                           return std::string(info.param == Backend::kEpoll ? "epoll" : "io_uring");
                         });

}  // namespace
