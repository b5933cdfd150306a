// weft-loadgen: a closed-loop ping-pong load generator for TCP echo servers.
//
// usage: weft-loadgen --host H --port P --conns N --size BYTES --duration SECONDS
//                     [--warmup SECONDS] [--threads T] [--server-pid PID]   (--help says more)
//
// N connections each keep one message in flight (see ping_pong_worker.hpp), split over T
// epoll threads. Only messages that complete inside the measured window (after the warmup)
// count. The last line on stdout is machine-readable:
//   RESULT conns=N size=S duration=D msgs=M msgs_per_s=X p50_us=A p99_us=B p999_us=C errors=E
// Any connection error, reset, EOF or echo mismatch makes it exit 1 with the reason on stderr:
// a benchmark that quietly loses messages would measure nothing.
//
// With --server-pid it also reads that process's CPU time at both ends of the window and
// prints "server CPU X% of one core": on a 2-core machine the client can be as busy as the
// server, and the server's CPU per message then shows differences the rate alone would hide.

#include <getopt.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "latency_histogram.hpp"
#include "ping_pong_worker.hpp"

namespace {

struct Options {
  std::string host = "127.0.0.1";
  std::string port;
  std::size_t conns = 0;
  std::size_t size = 0;
  double duration = 0;
  double warmup = 1;
  std::size_t threads = 1;
  long server_pid = 0;
};

constexpr const char* kProg = "weft-loadgen";

constexpr const char* kUsage =
    "usage: weft-loadgen --port P --conns N --size BYTES --duration SECONDS [options]\n"
    "\n"
    "A closed-loop ping-pong load generator for TCP echo servers: N connections each keep one\n"
    "message of BYTES in flight. The last line on stdout is\n"
    "  RESULT conns=N size=S duration=D msgs=M msgs_per_s=X p50_us=A p99_us=B p999_us=C errors=E\n"
    "Any connection error, reset, EOF or echo mismatch ends it with status 1.\n"
    "\n"
    "options:\n"
    "      --host H            server host (default 127.0.0.1)\n"
    "  -p, --port P            server port (required)\n"
    "  -c, --conns N           connections, at least 1 (required)\n"
    "  -s, --size BYTES        message size, at least 1 (required)\n"
    "  -d, --duration SECONDS  measured window, above 0 (required)\n"
    "  -w, --warmup SECONDS    unmeasured time before it, 0 or more (default 1)\n"
    "  -t, --threads T         epoll threads the connections are split over (default 1)\n"
    "      --server-pid PID    also report that process's CPU use over the window\n"
    "  -h, --help              show this help and exit\n"
    "\n"
    "A value follows its option as the next argument or after '=' (--conns=100).\n"
    "Exit status: 0 on success, 1 on a failed connection or echo, 2 for a bad option.\n";

Options parse_options(int argc, char** argv) {
  using bench::cli::count;
  using bench::cli::seconds;
  constexpr std::uint64_t kMax = std::uint64_t{1} << 32;
  static const option kOptions[] = {
      {"host", required_argument, nullptr, 'H'},
      {"port", required_argument, nullptr, 'p'},
      {"conns", required_argument, nullptr, 'c'},
      {"size", required_argument, nullptr, 's'},
      {"duration", required_argument, nullptr, 'd'},
      {"warmup", required_argument, nullptr, 'w'},
      {"threads", required_argument, nullptr, 't'},
      {"server-pid", required_argument, nullptr, 'P'},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":p:c:s:d:w:t:h", kOptions, nullptr)) != -1;) {
    switch (c) {
      case 'H':
        o.host = optarg;
        break;
      case 'p':
        (void)count(kProg, "-p/--port", optarg, 1, 65535);
        o.port = optarg;
        break;
      case 'c':
        o.conns = count(kProg, "-c/--conns", optarg, 1, kMax);
        break;
      case 's':
        o.size = count(kProg, "-s/--size", optarg, 1, kMax);
        break;
      case 'd':
        o.duration = seconds(kProg, "-d/--duration", optarg, false);
        break;
      case 'w':
        o.warmup = seconds(kProg, "-w/--warmup", optarg, true);
        break;
      case 't':
        o.threads = count(kProg, "-t/--threads", optarg, 1, 4096);
        break;
      case 'P':
        o.server_pid = static_cast<long>(count(kProg, "--server-pid", optarg, 1, 1 << 30));
        break;
      case 'h':
        std::fputs(kUsage, stdout);
        std::exit(0);
      case ':':
        bench::cli::usage_error(kProg,
                                std::string("option '") + argv[optind - 1] + "' needs a value");
      default:
        bench::cli::usage_error(kProg, std::string("unknown option '") + argv[optind - 1] + "'");
    }
  }
  if (optind < argc) {
    bench::cli::usage_error(kProg, std::string("unexpected argument '") + argv[optind] + "'");
  }
  if (o.port.empty()) bench::cli::usage_error(kProg, "--port is required");
  if (o.conns == 0) bench::cli::usage_error(kProg, "--conns is required");
  if (o.size == 0) bench::cli::usage_error(kProg, "--size is required");
  if (o.duration == 0) bench::cli::usage_error(kProg, "--duration is required");
  if (o.threads > o.conns) o.threads = o.conns;
  return o;
}

[[noreturn]] void fatal(const std::string& what) {
  std::fprintf(stderr, "weft-loadgen: %s\n", what.c_str());
  std::exit(1);
}

// ensure_fds() raises RLIMIT_NOFILE so every connection gets an fd, or fails saying why.
void ensure_fds(std::size_t needed) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) fatal("getrlimit: " + std::string(strerror(errno)));
  if (lim.rlim_cur >= needed) return;
  lim.rlim_cur = lim.rlim_max;
  if (lim.rlim_max < needed) lim.rlim_cur = lim.rlim_max = needed;  // Works for root only.
  if (setrlimit(RLIMIT_NOFILE, &lim) != 0) {
    fatal("need " + std::to_string(needed) + " file descriptors, RLIMIT_NOFILE allows fewer: " +
          std::string(strerror(errno)) + " (raise ulimit -n)");
  }
}

void resolve(const Options& o, bench::WorkerConfig* wc) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(o.host.c_str(), o.port.c_str(), &hints, &res);
  if (rc != 0) fatal("cannot resolve " + o.host + ":" + o.port + ": " + gai_strerror(rc));
  std::memcpy(&wc->addr, res->ai_addr, res->ai_addrlen);
  wc->addr_len = res->ai_addrlen;
  freeaddrinfo(res);
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// CpuSample is the CPU time used so far, in seconds, by us, by the server, and by every task on
// the machine (user, nice and system time; interrupt time is left out because our own traffic
// makes most of it).
struct CpuSample {
  double self = 0;
  double server = -1;
  double machine = -1;
};

// process_cpu_seconds() reads the user+system time of process pid, or -1 if it is gone.
double process_cpu_seconds(long pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // Fields 14 and 15 (utime, stime) follow the command name, which may itself hold spaces.
  const char* p = std::strrchr(buf, ')');
  unsigned long long utime = 0;
  unsigned long long stime = 0;
  if (p == nullptr || std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                                  &utime, &stime) != 2) {
    return -1;
  }
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

// machine_task_seconds() reads the user+nice+system time of all CPUs from /proc/stat, or -1.
double machine_task_seconds() {
  std::FILE* f = std::fopen("/proc/stat", "r");
  if (f == nullptr) return -1;
  unsigned long long user = 0;
  unsigned long long nice = 0;
  unsigned long long system = 0;
  int got = std::fscanf(f, "cpu %llu %llu %llu", &user, &nice, &system);
  std::fclose(f);
  if (got != 3) return -1;
  return double(user + nice + system) / double(sysconf(_SC_CLK_TCK));
}

CpuSample sample_cpu(long server_pid) {
  CpuSample s;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  s.self = double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  if (server_pid != 0) s.server = process_cpu_seconds(server_pid);
  s.machine = machine_task_seconds();
  return s;
}

// wait_until_ns() sleeps until t, returning early (false) if abort is set meanwhile.
bool wait_until_ns(std::int64_t t, const std::atomic<bool>& abort) {
  while (!abort.load()) {
    std::int64_t left = t - now_ns();
    if (left <= 0) return true;
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<std::int64_t>(left, 10'000'000)));
  }
  return false;
}

double us(std::uint64_t ns) {
  return double(ns) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  ensure_fds(o.conns + 64);
  bench::WorkerConfig base;
  base.size = o.size;
  resolve(o, &base);

  std::atomic<bool> abort{false};
  std::vector<std::unique_ptr<bench::PingPongWorker>> workers;
  for (std::size_t t = 0, first = 0; t < o.threads; ++t) {
    bench::WorkerConfig wc = base;
    wc.conns = o.conns / o.threads + (t < o.conns % o.threads ? 1 : 0);
    wc.first_id = static_cast<std::uint32_t>(first);
    first += wc.conns;
    workers.push_back(std::make_unique<bench::PingPongWorker>(wc, &abort));
  }

  // Workers connect, meet at the latch, then wait for the window main sets (or an abort).
  std::latch connected(static_cast<std::ptrdiff_t>(o.threads));
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  bench::Window window;
  std::vector<std::thread> threads;
  std::int64_t connect_start = now_ns();
  for (auto& w : workers) {
    threads.emplace_back([&, w = w.get()] {
      bool ok = w->connect();
      if (!ok) abort.store(true);
      connected.count_down();
      bench::Window my_window;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return go; });
        my_window = window;
      }
      if (ok && !abort.load() && !w->run(my_window)) abort.store(true);
    });
  }
  connected.wait();
  std::int64_t start = now_ns();
  double connect_s = double(start - connect_start) / 1e9;
  {
    std::lock_guard lock(mu);
    window.start_ns = start + static_cast<std::int64_t>(o.warmup * 1e9);
    window.end_ns = window.start_ns + static_cast<std::int64_t>(o.duration * 1e9);
    go = true;
  }
  cv.notify_all();
  CpuSample cpu_start;
  CpuSample cpu_end;
  bool have_cpu = false;
  if (wait_until_ns(window.start_ns, abort)) {
    cpu_start = sample_cpu(o.server_pid);
    if (wait_until_ns(window.end_ns, abort)) {
      cpu_end = sample_cpu(o.server_pid);
      have_cpu = true;
    }
  }
  for (auto& t : threads) t.join();

  bench::LatencyHistogram hist;
  std::uint64_t msgs = 0;
  std::size_t errors = 0;
  std::string first_error;
  for (auto& w : workers) {
    if (!w->error().empty() && w->error() != "aborted") {
      std::fprintf(stderr, "weft-loadgen: FAILED: %s\n", w->error().c_str());
      if (errors++ == 0) first_error = w->error();
    }
    hist.merge(w->histogram());
    msgs += w->messages();
  }
  if (abort.load() && errors == 0) {  // Defensive: an abort always has a cause.
    errors = 1;
    first_error = "aborted";
  }

  double rate = double(msgs) / o.duration;
  std::printf("weft-loadgen: %s:%s, %zu connections, %zu-byte messages, %zu thread(s)\n",
              o.host.c_str(), o.port.c_str(), o.conns, o.size, o.threads);
  if (errors != 0) {
    std::printf("  FAILED: %s\n", first_error.c_str());
  } else {
    std::printf("  connected and first echo in %.2f s; warmup %.3g s; measured %.3g s\n", connect_s,
                o.warmup, o.duration);
  }
  std::printf("  messages %llu, %.0f msgs/s, %.1f MB/s each way\n",
              static_cast<unsigned long long>(msgs), rate, rate * double(o.size) / 1e6);
  std::printf("  latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  mean %.1f\n",
              us(hist.percentile(0.5)), us(hist.percentile(0.9)), us(hist.percentile(0.99)),
              us(hist.percentile(0.999)), us(hist.max()), hist.mean() / 1000.0);
  if (have_cpu) {
    double self = cpu_end.self - cpu_start.self;
    std::printf("  client CPU %.0f%% of one core during the window\n", 100.0 * self / o.duration);
    if (cpu_start.server >= 0 && cpu_end.server >= 0) {
      double server = cpu_end.server - cpu_start.server;
      std::printf("  server CPU %.0f%% of one core during the window, %.2f us per message\n",
                  100.0 * server / o.duration, msgs ? server * 1e6 / double(msgs) : 0.0);
      // What the machine's tasks used beyond us and the server: another process competing
      // for the two cores, which makes the run worthless as a comparison.
      if (cpu_start.machine >= 0 && cpu_end.machine >= 0) {
        double other = (cpu_end.machine - cpu_start.machine) - self - server;
        std::printf("  other processes %.0f%% of one core during the window\n",
                    other > 0 ? 100.0 * other / o.duration : 0.0);
      }
    }
  }
  std::printf(
      "RESULT conns=%zu size=%zu duration=%g msgs=%llu msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f "
      "p999_us=%.1f errors=%zu\n",
      o.conns, o.size, o.duration, static_cast<unsigned long long>(msgs), rate,
      us(hist.percentile(0.5)), us(hist.percentile(0.99)), us(hist.percentile(0.999)), errors);
  std::fflush(stdout);
  return errors == 0 ? 0 : 1;
}
