// epoll_echo: the plain single-threaded epoll TCP echo server weft is measured against.
//
// It is written the way a careful C programmer would write it, not as a straw man:
// level-triggered epoll, one read per readiness (so a busy connection cannot starve the others,
// and no extra read is spent discovering EAGAIN), the bytes written back at once from one shared
// buffer, and only a write that the socket cannot take whole leaves a per-connection remainder,
// for which the connection stops reading and waits for EPOLLOUT (backpressure to the client).
// Connections live in a table indexed by fd, since fds are small dense integers.
//
// Rejected: edge-triggered epoll (needs a read until EAGAIN per event: one more syscall per
// message in ping-pong); SO_REUSEPORT threads (the comparison is one thread against one carrier).

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "server_setup.hpp"

namespace {

// kReadBytes is the size of the one buffer every read lands in; 64 KiB takes a full socket
// buffer's worth of a large message in one call.
constexpr std::size_t kReadBytes = 64 * 1024;
// kMaxEvents is how many readiness events one epoll_wait() may return.
constexpr int kMaxEvents = 1024;

// Conn is one accepted connection; pending holds bytes the socket did not take yet.
struct Conn {
  explicit Conn(int f) : fd(f) {}
  int fd;
  std::string pending;
  std::size_t pending_off = 0;
};

class EpollEcho {
 public:
  EpollEcho(int listen_fd, int signal_fd) : listen_fd_(listen_fd), signal_fd_(signal_fd) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) bench::die("epoll_create1", errno);
    add(listen_fd_, EPOLLIN);
    add(signal_fd_, EPOLLIN);
  }

  // run() serves until SIGINT or SIGTERM arrives.
  void run() {
    std::vector<epoll_event> events(kMaxEvents);
    for (;;) {
      int n = epoll_wait(epoll_fd_, events.data(), kMaxEvents, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        bench::die("epoll_wait", errno);
      }
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          accept_all();
        } else if (fd == signal_fd_) {
          return;
        } else {
          on_ready(fd);
        }
      }
    }
  }

  ~EpollEcho() {
    for (auto& c : conns_) {
      if (c) close(c->fd);
    }
    close(epoll_fd_);
  }

 private:
  void add(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) bench::die("epoll_ctl ADD", errno);
  }

  void modify(int fd, std::uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0) bench::die("epoll_ctl MOD", errno);
  }

  void accept_all() {
    for (;;) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN) return;
        if (errno == ECONNABORTED || errno == EINTR) continue;
        // Out of fds: leave the rest in the backlog rather than spin; say so once.
        if (!warned_accept_) std::fprintf(stderr, "accept4: %s\n", std::strerror(errno));
        warned_accept_ = true;
        return;
      }
      bench::set_nodelay(fd);
      if (static_cast<std::size_t>(fd) >= conns_.size()) conns_.resize(fd * 2 + 64);
      conns_[fd] = std::make_unique<Conn>(fd);
      add(fd, EPOLLIN);
    }
  }

  void on_ready(int fd) {
    Conn* c = conns_[fd].get();
    if (c == nullptr) return;
    if (c->pending_off < c->pending.size()) {
      flush(c);
    } else {
      echo(c);
    }
  }

  // echo() reads once and writes the bytes straight back.
  void echo(Conn* c) {
    ssize_t n = read(c->fd, buf_, sizeof buf_);
    if (n <= 0) {
      if (n < 0 && errno == EAGAIN) return;
      drop(c);  // EOF or error: the client is gone.
      return;
    }
    ssize_t w = write(c->fd, buf_, static_cast<std::size_t>(n));
    if (w == n) return;
    if (w < 0) {
      if (errno != EAGAIN) {
        drop(c);
        return;
      }
      w = 0;
    }
    c->pending.assign(buf_ + w, buf_ + n);
    c->pending_off = 0;
    modify(c->fd, EPOLLOUT);
  }

  // flush() writes what is pending and resumes reading once all of it is out.
  void flush(Conn* c) {
    while (c->pending_off < c->pending.size()) {
      ssize_t w =
          write(c->fd, c->pending.data() + c->pending_off, c->pending.size() - c->pending_off);
      if (w < 0) {
        if (errno == EAGAIN) return;
        drop(c);
        return;
      }
      c->pending_off += static_cast<std::size_t>(w);
    }
    c->pending.clear();
    c->pending_off = 0;
    modify(c->fd, EPOLLIN);
  }

  void drop(Conn* c) {
    int fd = c->fd;
    close(fd);  // Closing the last reference removes it from the epoll set.
    conns_[fd].reset();
  }

  int listen_fd_;
  int signal_fd_;
  int epoll_fd_ = -1;
  bool warned_accept_ = false;
  std::vector<std::unique_ptr<Conn>> conns_;
  char buf_[kReadBytes];
};

}  // namespace

int main(int argc, char** argv) {
  bench::ServerOptions opts = bench::parse_server_options(argc, argv);
  bench::raise_fd_limit();
  int signal_fd = bench::open_stop_signalfd();
  int listen_fd = bench::open_listener(opts);
  {
    auto server = std::make_unique<EpollEcho>(listen_fd, signal_fd);
    server->run();
  }
  close(listen_fd);
  close(signal_fd);
  return 0;
}
