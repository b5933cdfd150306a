#include "server_setup.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
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
#include <string>

#include "cli.hpp"

namespace bench {

void die(const char* what, int err) {
  std::fprintf(stderr, "%s: %s\n", what, std::strerror(err));
  std::exit(1);
}

ServerOptions parse_server_options(int argc, char** argv) {
  const char* prog =
      std::strrchr(argv[0], '/') != nullptr ? std::strrchr(argv[0], '/') + 1 : argv[0];
  static const option kOptions[] = {
      {"port", required_argument, nullptr, 'p'},
      {"address", required_argument, nullptr, 'a'},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  ServerOptions opts;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":p:a:h", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'p':
        opts.port = static_cast<std::uint16_t>(cli::count(prog, "-p/--port", optarg, 0, 65535));
        break;
      case 'a': {
        in_addr unused{};
        if (inet_pton(AF_INET, optarg, &unused) != 1) {
          cli::bad_value(prog, "-a/--address", optarg, "an IPv4 address");
        }
        opts.address = optarg;
        break;
      }
      case 'h':
        std::printf(
            "usage: %s [options]\n"
            "\n"
            "A reference echo server for bench/echo_bench.sh. It prints \"listening on "
            "ADDR:PORT\"\n"
            "once it listens, and stops with status 0 on SIGINT or SIGTERM.\n"
            "\n"
            "options:\n"
            "  -p, --port P       TCP port, 0..65535; 0 lets the kernel pick one (default 0)\n"
            "  -a, --address A    IPv4 address to listen on (default 127.0.0.1)\n"
            "  -h, --help         show this help and exit\n"
            "\n"
            "A value follows its option as the next argument or after '=' (--port=7001).\n"
            "Exit status: 0 when stopped by a signal, 1 on a system error, 2 for a bad option.\n",
            prog);
        std::exit(0);
      case ':':
        cli::usage_error(prog, std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        cli::usage_error(prog, std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind < argc)
    cli::usage_error(prog, std::string("unexpected argument '") + argv[optind] + "'");
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
