#include "ping_pong_worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace bench {

namespace {

// kConnectWindow is how many connections of one worker may be between socket() and their
// first echo at once; well under any listen backlog, large enough to connect 10,000 quickly.
constexpr std::size_t kConnectWindow = 256;
// kMaxEvents is how many events one epoll_wait() may return.
constexpr int kMaxEvents = 512;
// kStallNs is how long nothing may complete before the server is declared hung.
constexpr std::int64_t kStallNs = 10'000'000'000;
// kDrainNs is how long the messages in flight at the end of the window may take to return.
constexpr std::int64_t kDrainNs = 5'000'000'000;
// kHeaderBytes is the per-message header: sequence number (8 bytes), connection id (4 bytes).
constexpr std::size_t kHeaderBytes = 12;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string errno_text(int err) {
  return std::strerror(err);
}

}  // namespace

struct PingPongWorker::Conn {
  enum class State { kClosed, kConnecting, kIdle, kInFlight };
  int fd = -1;
  std::uint32_t id = 0;
  State state = State::kClosed;
  std::uint32_t interest = 0;
  std::uint64_t seq = 0;
  std::size_t sent = 0;
  std::size_t received = 0;
  std::int64_t started_ns = 0;
  std::unique_ptr<unsigned char[]> out;
  std::unique_ptr<unsigned char[]> in;
};

PingPongWorker::PingPongWorker(const WorkerConfig& config, const std::atomic<bool>* abort)
    : config_(config), abort_(abort), conns_(config.conns) {
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    Conn& c = conns_[i];
    c.id = config_.first_id + static_cast<std::uint32_t>(i);
    c.out = std::make_unique<unsigned char[]>(config_.size);
    c.in = std::make_unique<unsigned char[]>(config_.size);
    // The body is fixed per connection and differs between connections; the header changes
    // with every message.
    for (std::size_t b = 0; b < config_.size; ++b) {
      c.out[b] = static_cast<unsigned char>((b * 131 + c.id * 17 + (b >> 8) * 7) ^ 0x5a);
    }
  }
}

PingPongWorker::~PingPongWorker() {
  close_all();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

bool PingPongWorker::fail(const Conn* c, const std::string& what) {
  if (error_.empty()) {
    error_ = c != nullptr ? "connection " + std::to_string(c->id) + ": " + what : what;
  }
  return false;
}

bool PingPongWorker::connect() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return fail(nullptr, "epoll_create1: " + errno_text(errno));
  std::size_t next = 0;
  std::size_t up = 0;
  std::size_t pending = 0;
  std::int64_t last_progress = now_ns();
  while (up < conns_.size()) {
    if (abort_->load(std::memory_order_relaxed)) return fail(nullptr, "aborted");
    while (pending < kConnectWindow && next < conns_.size()) {
      if (!open_one(&conns_[next++])) return false;
      ++pending;
    }
    std::size_t completed = 0;
    if (!poll(100, &completed)) return false;
    up += completed;
    pending -= completed;
    std::int64_t now = now_ns();
    if (completed != 0) {
      last_progress = now;
    } else if (now - last_progress > kStallNs) {
      return fail(nullptr, "connect stalled: " + std::to_string(up) + " of " +
                               std::to_string(conns_.size()) +
                               " connections answered, none for 10 s (server not accepting? "
                               "listen backlog overflowing?)");
    }
  }
  return true;
}

bool PingPongWorker::run(Window window) {
  window_ = window;
  running_ = true;
  std::int64_t now = now_ns();
  for (Conn& c : conns_) {
    if (!start_message(&c, now)) return false;
  }
  std::int64_t last_progress = now;
  std::int64_t drain_deadline = 0;
  for (;;) {
    if (abort_->load(std::memory_order_relaxed)) return fail(nullptr, "aborted");
    now = now_ns();
    if (!stopping_ && now >= window_.end_ns) {
      stopping_ = true;
      drain_deadline = now + kDrainNs;
    }
    if (stopping_ && in_flight_ == 0) break;
    if (stopping_ && now > drain_deadline) {
      return fail(nullptr, std::to_string(in_flight_) +
                               " messages still unanswered 5 s after the end of the run");
    }
    int timeout_ms = 100;
    if (!stopping_) {
      std::int64_t left_ms = (window_.end_ns - now + 999'999) / 1'000'000;
      if (left_ms < timeout_ms) timeout_ms = static_cast<int>(left_ms);
    }
    std::size_t completed = 0;
    if (!poll(timeout_ms, &completed)) return false;
    if (completed != 0) {
      last_progress = now;
    } else if (now - last_progress > kStallNs) {
      return fail(nullptr, "no echo completed for 10 s with " + std::to_string(in_flight_) +
                               " messages in flight: server hung");
    }
  }
  close_all();
  return true;
}

bool PingPongWorker::open_one(Conn* c) {
  const auto* addr = reinterpret_cast<const sockaddr*>(&config_.addr);
  c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    if (errno == EMFILE || errno == ENFILE) {
      return fail(c, "out of file descriptors (raise ulimit -n)");
    }
    return fail(c, "socket: " + errno_text(errno));
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int r = ::connect(c->fd, addr, config_.addr_len);
  if (r != 0 && errno != EINPROGRESS) {
    if (errno == ECONNREFUSED) return fail(c, "connection refused (is the server running?)");
    if (errno == EADDRNOTAVAIL) return fail(c, "connect: out of local ports (EADDRNOTAVAIL)");
    return fail(c, "connect: " + errno_text(errno));
  }
  c->state = Conn::State::kConnecting;
  c->interest = EPOLLOUT;
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 = static_cast<std::uint64_t>(c - conns_.data());
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
    return fail(c, "epoll_ctl ADD: " + errno_text(errno));
  }
  return true;
}

bool PingPongWorker::on_connected(Conn* c) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == ECONNREFUSED) return fail(c, "connection refused (is the server running?)");
  if (err == ETIMEDOUT) return fail(c, "connect timed out (listen backlog overflowing?)");
  if (err != 0) return fail(c, "connect: " + errno_text(err));
  return start_message(c, now_ns());
}

bool PingPongWorker::start_message(Conn* c, std::int64_t now) {
  ++c->seq;
  unsigned char header[kHeaderBytes];
  std::memcpy(header, &c->seq, 8);
  std::memcpy(header + 8, &c->id, 4);
  std::memcpy(c->out.get(), header, config_.size < kHeaderBytes ? config_.size : kHeaderBytes);
  c->sent = 0;
  c->received = 0;
  c->started_ns = now;
  c->state = Conn::State::kInFlight;
  ++in_flight_;
  return push(c);
}

bool PingPongWorker::push(Conn* c) {
  while (c->sent < config_.size) {
    ssize_t n = send(c->fd, c->out.get() + c->sent, config_.size - c->sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN) {
        // Keep reading too: a large message is echoed while it is still being sent, and a
        // server that cannot write back stops reading, which would deadlock us both.
        return set_interest(c, EPOLLIN | EPOLLOUT);
      }
      if (errno == ECONNRESET || errno == EPIPE) return fail(c, "connection reset by server");
      return fail(c, "send: " + errno_text(errno));
    }
    c->sent += static_cast<std::size_t>(n);
  }
  return c->interest == EPOLLIN || set_interest(c, EPOLLIN);
}

bool PingPongWorker::pull(Conn* c, std::int64_t* completed_at) {
  if (c->state != Conn::State::kInFlight) {
    unsigned char junk[256];
    ssize_t n = read(c->fd, junk, sizeof junk);
    if (n > 0) return fail(c, "server sent " + std::to_string(n) + " bytes nobody asked for");
    if (n == 0) return fail(c, "server closed the connection (EOF)");
    if (errno == EAGAIN) return true;
    if (errno == ECONNRESET) return fail(c, "connection reset by server");
    return fail(c, "read: " + errno_text(errno));
  }
  ssize_t n = read(c->fd, c->in.get() + c->received, config_.size - c->received);
  if (n <= 0) {
    if (n < 0 && errno == EAGAIN) return true;
    std::string at = " after " + std::to_string(c->received) + " of " +
                     std::to_string(config_.size) + " bytes of message " + std::to_string(c->seq);
    if (n == 0) return fail(c, "server closed the connection (EOF)" + at);
    if (errno == ECONNRESET) return fail(c, "connection reset by server" + at);
    return fail(c, "read: " + errno_text(errno) + at);
  }
  c->received += static_cast<std::size_t>(n);
  if (c->received > c->sent) return fail(c, "server echoed bytes that were not sent yet");
  if (c->received < config_.size) return true;
  std::int64_t t = now_ns();
  if (!check_echo(c)) return false;
  c->state = Conn::State::kIdle;
  --in_flight_;
  *completed_at = t;
  if (running_ && t >= window_.start_ns && t < window_.end_ns) {
    histogram_.record(static_cast<std::uint64_t>(t - c->started_ns));
    ++messages_;
  }
  if (running_ && t < window_.end_ns) return start_message(c, t);
  return true;
}

bool PingPongWorker::check_echo(const Conn* c) {
  if (std::memcmp(c->in.get(), c->out.get(), config_.size) == 0) return true;
  std::size_t at = 0;
  while (c->in[at] == c->out[at]) ++at;
  return fail(c, "echo mismatch in message " + std::to_string(c->seq) + " at byte " +
                     std::to_string(at) + ": expected " + std::to_string(c->out[at]) + ", got " +
                     std::to_string(c->in[at]));
}

bool PingPongWorker::set_interest(Conn* c, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = static_cast<std::uint64_t>(c - conns_.data());
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
    return fail(c, "epoll_ctl MOD: " + errno_text(errno));
  }
  c->interest = events;
  return true;
}

bool PingPongWorker::poll(int timeout_ms, std::size_t* completed) {
  epoll_event events[kMaxEvents];
  int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return true;
    return fail(nullptr, "epoll_wait: " + errno_text(errno));
  }
  for (int i = 0; i < n; ++i) {
    Conn* c = &conns_[events[i].data.u64];
    std::uint32_t ev = events[i].events;
    if (c->state == Conn::State::kConnecting) {
      if (!on_connected(c)) return false;
      continue;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      std::int64_t done = 0;
      if (!pull(c, &done)) return false;
      if (done != 0) ++*completed;
    }
    if ((ev & EPOLLOUT) && c->state == Conn::State::kInFlight && c->sent < config_.size) {
      if (!push(c)) return false;
    }
  }
  return true;
}

void PingPongWorker::close_all() {
  for (Conn& c : conns_) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.state = Conn::State::kClosed;
  }
}

}  // namespace bench
