#include "server_setup.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace bench {

namespace {

[[noreturn]] void usage(const char* prog) {
  std::fprintf(stderr, "usage: %s [--port P] [--address A]\n", prog);
  std::exit(2);
}

}  // namespace

void die(const char* what, int err) {
  std::fprintf(stderr, "%s: %s\n", what, std::strerror(err));
  std::exit(1);
}

ServerOptions parse_server_options(int argc, char** argv) {
  ServerOptions opts;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") usage(argv[0]);
    if (i + 1 >= argc) usage(argv[0]);
    const char* value = argv[++i];
    if (arg == "--port") {
      char* end = nullptr;
      long port = std::strtol(value, &end, 10);
      if (*value == '\0' || *end != '\0' || port < 0 || port > 65535) usage(argv[0]);
      opts.port = static_cast<std::uint16_t>(port);
    } else if (arg == "--address") {
      opts.address = value;
    } else {
      usage(argv[0]);
    }
  }
  return opts;
}

std::uint64_t raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) die("getrlimit", errno);
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0) die("setrlimit", errno);
  }
  return lim.rlim_cur;
}

int open_listener(const ServerOptions& opts) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(opts.port);
  if (inet_pton(AF_INET, opts.address.c_str(), &addr.sin_addr) != 1) {
    std::fprintf(stderr, "bad IPv4 address: %s\n", opts.address.c_str());
    std::exit(2);
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket", errno);
  int one = 1;
  // SO_REUSEADDR only lets a restarted server bind past TIME_WAIT; it does not share the port.
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) die("SO_REUSEADDR", errno);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind", errno);
  if (listen(fd, kListenBacklog) != 0) die("listen", errno);
  socklen_t len = sizeof addr;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) die("getsockname", errno);
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr.sin_addr, text, sizeof text);
  std::printf("listening on %s:%u\n", text, static_cast<unsigned>(ntohs(addr.sin_port)));
  std::fflush(stdout);
  return fd;
}

int open_stop_signalfd() {
  // A non-interactive shell starts background jobs with SIGINT ignored, and an ignored signal
  // is discarded before a signalfd could see it; restore the default before blocking.
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  // Writing to a socket the peer reset must fail with EPIPE, not kill the server.
  signal(SIGPIPE, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) die("sigprocmask", errno);
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) die("signalfd", errno);
  return fd;
}

void set_nodelay(int fd) {
  int one = 1;
  // Failure only costs latency, and a peer that already left makes it fail harmlessly.
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace bench
