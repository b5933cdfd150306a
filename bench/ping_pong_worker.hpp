// PingPongWorker: one load generator thread driving its share of connections with epoll.
//
// Each connection has at most one message in flight: it sends `size` bytes, waits for all of
// them to come back, checks them byte for byte, and sends the next. Every message differs (its
// header carries a per-connection sequence number and connection id), so a stale, duplicated,
// reordered or corrupted echo is caught, not just a wrong length.
//
// Phases, driven by loadgen.cpp:
//   connect()  opens the connections, at most kConnectWindow at a time. A connection counts
//              as up only after one message made the round trip: connect() completes when the
//              SYN-ACK arrives, before the server accepted, so pacing on it would not keep the
//              accept queue short; pacing on the first echo does, whatever the server's backlog.
//   run()      ping-pongs until the end of the window, recording only messages that complete
//              inside it, then drains the messages in flight and closes every connection.
// Any failure (refused, reset, EOF, mismatch, stall) ends the worker with error() set.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "latency_histogram.hpp"

namespace bench {

// WorkerConfig is one worker's share of the load.
struct WorkerConfig {
  // addr is the server address, addr_len its length.
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  // conns is how many connections this worker owns.
  std::size_t conns = 0;
  // size is the message size in bytes.
  std::size_t size = 0;
  // first_id is the id of this worker's first connection; ids are unique across workers.
  std::uint32_t first_id = 0;
};

// Window is the measurement window, in steady-clock nanoseconds.
struct Window {
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

class PingPongWorker {
 public:
  // PingPongWorker() prepares the connections' buffers; abort is polled to stop early when
  // another worker failed.
  PingPongWorker(const WorkerConfig& config, const std::atomic<bool>* abort);
  ~PingPongWorker();
  PingPongWorker(const PingPongWorker&) = delete;
  PingPongWorker& operator=(const PingPongWorker&) = delete;

  // connect() establishes every connection; returns false with error() set on failure.
  bool connect();
  // run() ping-pongs until window.end_ns, drains and closes; returns false on failure.
  bool run(Window window);

  // histogram() holds the latencies of messages completed inside the window.
  const LatencyHistogram& histogram() const { return histogram_; }
  // messages() is how many messages completed inside the window.
  std::uint64_t messages() const { return messages_; }
  // error() describes the first failure, or is empty.
  const std::string& error() const { return error_; }

 private:
  struct Conn;

  bool fail(const Conn* c, const std::string& what);
  bool open_one(Conn* c);
  bool on_connected(Conn* c);
  bool start_message(Conn* c, std::int64_t now);
  bool push(Conn* c);
  bool pull(Conn* c, std::int64_t* completed_at);
  bool check_echo(const Conn* c);
  bool set_interest(Conn* c, std::uint32_t events);
  // poll() runs one epoll_wait and services it; completed counts finished round trips.
  bool poll(int timeout_ms, std::size_t* completed);
  void close_all();

  WorkerConfig config_;
  const std::atomic<bool>* abort_;
  int epoll_fd_ = -1;
  std::vector<Conn> conns_;
  // running_ is true in run(): a finished message starts the next one until the window ends.
  bool running_ = false;
  bool stopping_ = false;
  Window window_{};
  std::size_t in_flight_ = 0;
  LatencyHistogram histogram_;
  std::uint64_t messages_ = 0;
  std::string error_;
};

}  // namespace bench
