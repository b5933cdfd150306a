// read_bench: a 1-byte weft::read on a fiber of a pipe that always has data, against a plain
// read(2) of the same pipe off any fiber, in the same run.
//
//   read_bench [READS]     (default 65,536 per repetition)
//
// The pipe is grown to hold a whole repetition (F_SETPIPE_SZ, up to the system's pipe-max-size)
// and filled before each repetition starts, so every timed read finds its byte there: what is
// measured is the cost of a call whose data is already queued, the case adaptive try-first
// (runtime/io/try_first.hpp) serves with one syscall and no switch, where the reactor's path costs
// an SQE, a switch to the scheduler, io_uring_enter, a CQE and a switch back. Figures are CPU ns
// per read (the calling thread's, which on a fiber is its carrier's), medians of kReps
// repetitions, for the default backend and for epoll. The target (issue #14): weft at most 1.5x
// the plain read.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <weft/weft.hpp>

#include "cli.hpp"
#include "micro_timing.hpp"

namespace {

constexpr double kTarget = 1.5;

// Pipe is a pipe grown to hold n bytes, if the system allows.
struct Pipe {
  int fds[2] = {-1, -1};
  std::size_t room = 0;
  explicit Pipe(std::size_t n) {
    if (::pipe(fds) != 0) std::abort();
    int got = ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(n));
    room = got > 0 ? static_cast<std::size_t>(got) : 65536;
  }
  ~Pipe() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  // fill() writes n bytes (plain write(2): not part of what is timed).
  void fill(std::size_t n) const {
    std::vector<char> bytes(n, 'x');
    std::size_t put = 0;
    while (put < n) {
      ssize_t r = ::write(fds[1], bytes.data() + put, n - put);
      if (r <= 0) std::abort();
      put += static_cast<std::size_t>(r);
    }
  }
};

// measure() times reads 1-byte reads with read_one per repetition, the pipe refilled before each.
template <class Read>
double measure(const Pipe& p, std::size_t reads, Read read_one) {
  bench::Samples s;
  for (int rep = 0; rep < bench::kReps; ++rep) {
    p.fill(reads);
    char c;
    bench::Stopwatch w;
    for (std::size_t i = 0; i < reads; ++i) {
      if (read_one(p.fds[0], &c) != 1) std::abort();
    }
    s.add(w.per(double(reads)));
  }
  return s.cpu_median();
}

double plain_ns(const Pipe& p, std::size_t reads) {
  return measure(p, reads, [](int fd, char* c) { return ::read(fd, c, 1); });
}

double weft_ns(const Pipe& p, std::size_t reads, weft::Backend backend) {
  weft::Config config;
  config.carriers = 1;
  config.backend = backend;
  config.stall_ms = 0;
  return weft::run(config, [&] {
    return measure(p, reads, [](int fd, char* c) { return weft::read(fd, c, 1); });
  });
}

}  // namespace

// kUsage is what --help prints.
constexpr const char* kUsage =
    "usage: read_bench [READS]\n  READS: reads per repetition (default 65,536)\n";

int main(int argc, char** argv) {
  std::size_t reads = bench::cli::positional(argc, argv, kUsage, "READS", 65536);
  Pipe p(reads);
  if (p.room < reads) reads = p.room;
  // Plain first and last, the two weft runs between: a machine whose speed drifts during the
  // run moves the reference with it.
  double plain_a = plain_ns(p, reads);
  double weft_auto = weft_ns(p, reads, weft::Backend::kAuto);
  double weft_epoll = weft_ns(p, reads, weft::Backend::kEpoll);
  double plain_b = plain_ns(p, reads);
  double plain = (plain_a + plain_b) / 2;
  double ratio = weft_auto / plain;
  double ratio_epoll = weft_epoll / plain;
  std::printf("| 1-byte read of ready data, CPU ns (%zu reads x %d) | ns | vs plain |\n", reads,
              bench::kReps);
  std::printf("|---|---:|---:|\n");
  std::printf("| weft::read on a fiber, default backend | %.0f | %.2fx |\n", weft_auto, ratio);
  std::printf("| weft::read on a fiber, epoll | %.0f | %.2fx |\n", weft_epoll, ratio_epoll);
  std::printf("| plain read(2), no fiber (before %.0f, after %.0f) | %.0f | 1.00x |\n", plain_a,
              plain_b, plain);
  std::printf(
      "RESULT name=read weft_ns=%.0f epoll_ns=%.0f plain_ns=%.0f ratio=%.2f ratio_epoll=%.2f "
      "target=%.1f met=%d\n",
      weft_auto, weft_epoll, plain, ratio, ratio_epoll, kTarget, ratio <= kTarget ? 1 : 0);
  return 0;
}
