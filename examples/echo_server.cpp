// A TCP echo server on the weft API: one fiber per connection, written as straight-line
// blocking code. SIGINT or SIGTERM stops it cleanly (exit status 0); SIGUSR1 only counts (a
// stand-in for a "reopen the log" handler; the count is printed at exit).
//
//   echo_server [-a|--address A] [-p|--port P] [-c|--carriers N]   (--help says more)
//     (defaults 127.0.0.1, 7000, one carrier per CPU; port 0 picks one)
//
// The WEFT_* environment variables configure the run (weft::config_from_env()); --carriers
// overrides WEFT_CARRIERS. It retries EINTR and short writes, so it also serves correctly under
// fault injection (WEFT_FAULTS).
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <weft/weft.hpp>

namespace {

std::atomic<long> usr1_count{0};

void on_usr1(int) {
  usr1_count.fetch_add(1, std::memory_order_relaxed);
}

struct Options {
  std::string address = "127.0.0.1";
  int port = 7000;
  unsigned carriers = 0;  // 0: one per CPU
};

constexpr const char* kUsage =
    "usage: echo_server [options]\n"
    "\n"
    "A TCP echo server with one weft fiber per connection. SIGINT or SIGTERM stops it (status\n"
    "0); SIGUSR1 is counted and the count printed at exit. The WEFT_* environment variables\n"
    "configure the run (see weftrun --help); --carriers overrides WEFT_CARRIERS.\n"
    "\n"
    "options:\n"
    "  -a, --address A    IPv4 address to listen on (default 127.0.0.1)\n"
    "  -p, --port P       TCP port, 0..65535; 0 lets the kernel pick one (default 7000)\n"
    "  -c, --carriers N   OS threads running fibers, 1..128 (default: WEFT_CARRIERS, else\n"
    "                     one per CPU)\n"
    "  -h, --help         show this help and exit\n"
    "\n"
    "A value follows its option as the next argument or after '=' (--port=7001).\n"
    "Exit status: 0 when stopped by a signal, 1 when it cannot listen, 2 for a bad option.\n";

[[noreturn]] void usage_error(const std::string& why) {
  std::fprintf(stderr, "echo_server: %s\nTry 'echo_server --help' for more information.\n",
               why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  static const option kOptions[] = {
      {"address", required_argument, nullptr, 'a'},
      {"port", required_argument, nullptr, 'p'},
      {"carriers", required_argument, nullptr, 'c'},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  opterr = 0;
  try {
    for (int c; (c = getopt_long(argc, argv, ":a:p:c:h", kOptions, nullptr)) != -1;) {
      switch (c) {
        case 'a': {
          in_addr unused{};
          if (inet_pton(AF_INET, optarg, &unused) != 1) {
            usage_error(std::string("-a/--address \"") + optarg + "\": expected an IPv4 address");
          }
          o.address = optarg;
          break;
        }
        case 'p':
          // The settings' own parser (weft/config.hpp): errors name the option and the value.
          o.port = static_cast<int>(weft::parse_number("-p/--port", optarg, 0, 65535));
          break;
        case 'c':
          o.carriers = static_cast<unsigned>(weft::parse_number("-c/--carriers", optarg, 1, 128));
          break;
        case 'h':
          std::fputs(kUsage, stdout);
          std::exit(0);
        case ':':
          usage_error(std::string("option '") + argv[optind - 1] + "' needs a value");
        default:
          usage_error(std::string("unknown option '") + argv[optind - 1] + "'");
      }
    }
  } catch (const std::invalid_argument& e) {
    usage_error(e.what());
  }
  if (optind < argc) usage_error(std::string("unexpected argument '") + argv[optind] + "'");
  return o;
}

void raise_fd_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
}

int listen_on(const Options& o) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  inet_pton(AF_INET, o.address.c_str(), &addr.sin_addr);  // checked by parse()
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd, 4096) != 0) {
    std::fprintf(stderr, "echo_server: cannot listen on %s:%d: %s\n", o.address.c_str(), o.port,
                 std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

// announce() prints "listening on ADDR:PORT", the line scripts wait for. It is called from the
// run's main fiber, not before weft::run: by then every carrier and its ring or epoll set exists,
// so a script that counts the server's fds right after the line (tests/lib/echo_server.sh) sees
// all of the runtime's own fds, not a count taken halfway through its start.
void announce(const Options& o, int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::printf("listening on %s:%d\n", o.address.c_str(), ntohs(addr.sin_port));
  std::fflush(stdout);
}

void serve(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = weft::recv(fd, buf, sizeof buf);
    if (n == -EINTR) continue;
    if (n <= 0) break;  // EOF, reset, or cancelled at shutdown
    if (weft::write_all(fd, buf, static_cast<size_t>(n)) < 0) break;
  }
  weft::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  Options opts = parse(argc, argv);
  raise_fd_limit();
  // Signals arrive through a signalfd that a fiber reads, so the shutdown path is ordinary
  // fiber code; the mask must be set before any thread exists.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  struct sigaction usr1 {};
  usr1.sa_handler = on_usr1;
  usr1.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &usr1, nullptr);
  int sfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);
  int lfd = listen_on(opts);

  weft::Config config;
  try {
    config = weft::config_from_env();
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "echo_server: %s\n", e.what());
    return 2;
  }
  if (opts.carriers != 0) config.carriers = opts.carriers;
  weft::run(config, [&] {
    announce(opts, lfd);
    weft::spawn([&] {
      signalfd_siginfo info{};
      ssize_t n;
      while ((n = weft::read(sfd, &info, sizeof info)) == -EINTR) {
      }
      if (n == sizeof info) weft::close(lfd);
    }).detach();
    bool said_emfile = false;
    for (;;) {
      int fd = weft::accept(lfd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        weft::spawn(serve, fd).detach();
      } else if (fd == -EMFILE || fd == -ENFILE) {
        // Out of fds: keep serving the connections we have and retry as they close.
        if (!said_emfile) std::fprintf(stderr, "echo_server: out of file descriptors\n");
        said_emfile = true;
        weft::this_fiber::sleep_for(std::chrono::milliseconds(10));
      } else if (fd == -EINTR) {
        continue;
      } else if (fd == -EBADF || fd == -EINVAL || fd == -ECANCELED) {
        break;  // the signal fiber closed the listener
      } else {
        // ECONNABORTED, EPROTO, ENOBUFS, ENOMEM, network errors: accept(2) says retry.
        std::fprintf(stderr, "echo_server: accept: %s (retrying)\n", std::strerror(-fd));
        weft::this_fiber::sleep_for(std::chrono::milliseconds(1));
      }
    }
  });
  ::close(sfd);
  std::fprintf(stderr, "echo_server: stopped (%ld SIGUSR1 received)\n", usr1_count.load());
  if (config.fault_rate > 0) {
    weft::RuntimeStats s = weft::last_run_stats();
    std::fprintf(stderr,
                 "echo_server: faults injected: %llu short, %llu EINTR, %llu spurious "
                 "readiness, %llu reset\n",
                 static_cast<unsigned long long>(s.faults_short),
                 static_cast<unsigned long long>(s.faults_eintr),
                 static_cast<unsigned long long>(s.faults_spurious),
                 static_cast<unsigned long long>(s.faults_reset));
  }
  return 0;
}
