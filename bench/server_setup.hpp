// What the reference echo servers share: command line, fd limit, listening socket, stop signals.
//
// Both reference servers (epoll_echo, uring_echo) and weft's own examples/echo_server follow one
// contract so bench/echo_bench.sh can drive them alike:
//   --port P      port to listen on; 0 (the default) lets the kernel pick one
//   --address A   IPv4 address to bind; default 127.0.0.1
//   stdout        exactly one line "listening on ADDR:PORT", flushed once the socket listens
//   SIGINT/TERM   stop and exit 0
#pragma once

#include <cstdint>
#include <string>

namespace bench {

// ServerOptions is the parsed command line of a reference server.
struct ServerOptions {
  // address is the IPv4 address to bind.
  std::string address = "127.0.0.1";
  // port is the TCP port; 0 lets the kernel choose.
  std::uint16_t port = 0;
};

// kListenBacklog is the backlog asked of listen(); the kernel caps it at net.core.somaxconn.
inline constexpr int kListenBacklog = 4096;

// parse_server_options() reads --port and --address (getopt_long: --port=P works too); --help
// prints usage and exits 0, a bad option or value is named on stderr with status 2.
ServerOptions parse_server_options(int argc, char** argv);

// raise_fd_limit() lifts the soft RLIMIT_NOFILE to the hard limit and returns the new soft one.
std::uint64_t raise_fd_limit();

// open_listener() binds and listens a non-blocking TCP socket, prints the "listening on" line,
// and returns the fd; exits 1 with a message on failure.
int open_listener(const ServerOptions& opts);

// open_stop_signalfd() blocks SIGINT and SIGTERM and returns a non-blocking signalfd for them,
// so the event loop can treat a stop request as one more readable fd.
int open_stop_signalfd();

// set_nodelay() disables Nagle on a connected socket: an echo must leave at once.
void set_nodelay(int fd);

// die() prints what failed with strerror(err) and exits 1.
[[noreturn]] void die(const char* what, int err);

}  // namespace bench
