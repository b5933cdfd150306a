// A TCP echo server on the weft API: one fiber per connection, written as straight-line
// blocking code. SIGINT or SIGTERM stops it cleanly (exit status 0); SIGUSR1 only counts (a
// stand-in for a "reopen the log" handler; the count is printed at exit).
//
//   echo_server [--address A] [--port P] [--carriers N]
//     (defaults 127.0.0.1, 7000, one carrier per CPU; port 0 picks one)
//
// The WEFT_* environment variables configure the run (weft::config_from_env()); --carriers
// overrides WEFT_CARRIERS. It retries EINTR and short writes, so it also serves correctly under
// fault injection (WEFT_FAULTS).
#include <arpa/inet.h>
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

[[noreturn]] void usage(const char* why) {
  std::fprintf(
      stderr, "echo_server: %s\nusage: echo_server [--address A] [--port P] [--carriers N]\n", why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::printf("usage: echo_server [--address A] [--port P] [--carriers N]\n");
      std::exit(0);
    }
    if (i + 1 >= argc) usage(("missing value after " + arg).c_str());
    std::string value = argv[++i];
    if (arg == "--address") {
      o.address = value;
    } else if (arg == "--port") {
      char* end = nullptr;
      long p = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || p < 0 || p > 65535) usage(("bad port: " + value).c_str());
      o.port = static_cast<int>(p);
    } else if (arg == "--carriers") {
      char* end = nullptr;
      long n = std::strtol(value.c_str(), &end, 10);
      if (*end != '\0' || n < 1 || n > 128) usage(("bad carrier count: " + value).c_str());
      o.carriers = static_cast<unsigned>(n);
    } else {
      usage(("unknown option " + arg).c_str());
    }
  }
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
  if (inet_pton(AF_INET, o.address.c_str(), &addr.sin_addr) != 1) {
    usage(("bad IPv4 address: " + o.address).c_str());
  }
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
