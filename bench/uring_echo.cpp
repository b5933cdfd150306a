// uring_echo: the plain single-threaded io_uring TCP echo server weft is measured against.
//
// The model is the one every io_uring tutorial converges on, done carefully: each connection
// owns a buffer and has exactly one operation in flight, a recv or a send of what that recv got
// (a short send is resubmitted for the remainder); accepts come from one multishot accept.
// One io_uring_submit_and_wait() per loop both submits everything the last batch of
// completions produced and waits, so a busy server makes one system call per batch.
//
// Tuning that any careful user would apply, and no more:
// - the best setup flags the kernel takes: SINGLE_ISSUER|DEFER_TASKRUN (completions are posted
//   only when we wait, in one go), else COOP_TASKRUN, else none;
// - a completion queue large enough for one completion per connection, so it never overflows;
// - a registered ring fd (saves a file lookup per io_uring_enter);
// - IORING_RECVSEND_POLL_FIRST on recv: in ping-pong the request has not arrived yet when the
//   recv is queued (we have just sent the previous answer), so trying the read first is a
//   wasted attempt.
// Rejected: provided buffer rings (liburing 2.3 has no io_uring_setup_buf_ring), SQPOLL (a
// second busy core the other servers do not get), registered files (not what a plain server
// does; weft does not use them either).

#include <liburing.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "server_setup.hpp"

namespace {

// kBufBytes is each connection's receive buffer.
constexpr unsigned kBufBytes = 4096;
// kSqEntries is the submission queue size; a full queue is submitted early, never lost.
constexpr unsigned kSqEntries = 4096;
// kCqEntries bounds the completions one wait can find: one per connection plus a few.
constexpr unsigned kCqEntries = 32768;

// user_data is a Conn pointer with the operation in its low bit; the two values below 8 that
// no pointer can take mark the accept and the stop signal.
constexpr std::uint64_t kOpRecv = 0;
constexpr std::uint64_t kOpSend = 1;
constexpr std::uint64_t kTagAccept = 2;
constexpr std::uint64_t kTagStop = 3;

// Conn is one accepted connection: its fd, buffer, and the state of the send in flight.
struct alignas(8) Conn {
  explicit Conn(int f) : fd(f) {}
  int fd;
  unsigned len = 0;   // bytes received, being echoed
  unsigned sent = 0;  // of those, bytes the kernel has taken
  char buf[kBufBytes];
};

class UringEcho {
 public:
  UringEcho(int listen_fd, int signal_fd) : listen_fd_(listen_fd), signal_fd_(signal_fd) {
    init_ring();
    arm_accept();
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_read(sqe, signal_fd_, &siginfo_, sizeof siginfo_, 0);
    io_uring_sqe_set_data64(sqe, kTagStop);
  }

  ~UringEcho() {
    for (auto& c : conns_) {
      if (c) close(c->fd);
    }
    io_uring_queue_exit(&ring_);
  }

  // run() serves until SIGINT or SIGTERM arrives.
  void run() {
    while (!stop_) {
      int ret = io_uring_submit_and_wait(&ring_, 1);
      if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY) {
        bench::die("io_uring_submit_and_wait", -ret);
      }
      unsigned head;
      unsigned seen = 0;
      io_uring_cqe* cqe;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        complete(cqe->user_data, cqe->res, cqe->flags);
      }
      io_uring_cq_advance(&ring_, seen);
    }
  }

 private:
  void init_ring() {
    const unsigned tries[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
        IORING_SETUP_COOP_TASKRUN,
        0,
    };
    int ret = -EINVAL;
    for (unsigned flags : tries) {
      io_uring_params p{};
      p.flags = flags | IORING_SETUP_CQSIZE;
      p.cq_entries = kCqEntries;
      ret = io_uring_queue_init_params(kSqEntries, &ring_, &p);
      if (ret == 0) {
        std::fprintf(stderr, "uring_echo: ring flags 0x%x\n", p.flags);
        break;
      }
      if (ret != -EINVAL) break;
    }
    if (ret != 0) bench::die("io_uring_queue_init_params", -ret);
    (void)io_uring_register_ring_fd(&ring_);  // An optimisation only; older kernels lack it.
  }

  // get_sqe() returns a free SQE, submitting the queued ones first if the queue is full.
  io_uring_sqe* get_sqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    while (sqe == nullptr) {
      int ret = io_uring_submit(&ring_);
      if (ret < 0 && ret != -EAGAIN && ret != -EBUSY) bench::die("io_uring_submit", -ret);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  void arm_accept() {
    io_uring_sqe* sqe = get_sqe();
    if (multishot_accept_) {
      io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    } else {
      io_uring_prep_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(sqe, kTagAccept);
  }

  void recv(Conn* c) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_recv(sqe, c->fd, c->buf, kBufBytes, 0);
    sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(c) | kOpRecv);
  }

  void send(Conn* c) {
    io_uring_sqe* sqe = get_sqe();
    io_uring_prep_send(sqe, c->fd, c->buf + c->sent, c->len - c->sent, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(c) | kOpSend);
  }

  void complete(std::uint64_t data, int res, unsigned flags) {
    if (data == kTagAccept) {
      on_accept(res, flags);
    } else if (data == kTagStop) {
      stop_ = true;
    } else {
      Conn* c = reinterpret_cast<Conn*>(data & ~std::uint64_t{7});
      if ((data & 7) == kOpRecv) {
        on_recv(c, res);
      } else {
        on_send(c, res);
      }
    }
  }

  void on_accept(int res, unsigned flags) {
    if (res >= 0) {
      bench::set_nodelay(res);
      if (static_cast<std::size_t>(res) >= conns_.size()) conns_.resize(res * 2 + 64);
      conns_[res] = std::make_unique<Conn>(res);
      recv(conns_[res].get());
    } else if (res == -EINVAL && multishot_accept_) {
      multishot_accept_ = false;  // A kernel without multishot accept: one accept at a time.
    } else if (!warned_accept_) {
      std::fprintf(stderr, "accept: %s\n", std::strerror(-res));
      warned_accept_ = true;
    }
    // A multishot accept that ended (or a single-shot one) must be queued again.
    if (!(flags & IORING_CQE_F_MORE)) arm_accept();
  }

  void on_recv(Conn* c, int res) {
    if (res <= 0) {
      drop(c);  // EOF or error: the client is gone.
      return;
    }
    c->len = static_cast<unsigned>(res);
    c->sent = 0;
    send(c);
  }

  void on_send(Conn* c, int res) {
    if (res < 0) {
      drop(c);
      return;
    }
    c->sent += static_cast<unsigned>(res);
    if (c->sent < c->len) {
      send(c);
    } else {
      recv(c);
    }
  }

  void drop(Conn* c) {
    int fd = c->fd;
    close(fd);
    conns_[fd].reset();
  }

  io_uring ring_{};
  int listen_fd_;
  int signal_fd_;
  bool stop_ = false;
  bool multishot_accept_ = true;
  bool warned_accept_ = false;
  signalfd_siginfo siginfo_{};
  std::vector<std::unique_ptr<Conn>> conns_;
};

}  // namespace

int main(int argc, char** argv) {
  bench::ServerOptions opts = bench::parse_server_options(argc, argv);
  bench::raise_fd_limit();
  int signal_fd = bench::open_stop_signalfd();
  int listen_fd = bench::open_listener(opts);
  {
    UringEcho server(listen_fd, signal_fd);
    server.run();
  }
  close(listen_fd);
  close(signal_fd);
  return 0;
}
