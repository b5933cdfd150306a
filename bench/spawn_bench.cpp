// spawn_bench: the cost of spawning and joining a trivial fiber, weft against Boost.Fiber.
//
//   spawn_bench [FIBERS]     (default 200,000 per repetition)
//
// Two shapes, each measured for both libraries:
// - one at a time: spawn, join, repeat (a fiber's whole life is the critical path);
// - batches of kBatch: spawn kBatch, then join them all (stacks and run queue under load).
// Boost.Fiber is measured as people use it, `boost::fibers::fiber f(fn); f.join();` with its
// default stack allocator, and also with a pooled 64 KiB allocator, the closest match to weft's
// stack cache. The target (weft at least 2x faster) is against the default; the pooled figure
// is printed so nobody has to guess how much of the gap is the allocator.
//
// weft is also measured with Tls::kPerFiber fibers, each a glibc thread of its own (issue #13:
// a thread control block and static TLS block built at spawn, what glibc does at thread exit
// done at the end), against plain weft fibers, repetitions interleaved, in the carrier thread's
// CPU time (steadier than elapsed time on a loaded machine; see micro_timing.hpp).

#include <boost/fiber/all.hpp>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <vector>

#include <weft/weft.hpp>

#include "cli.hpp"
#include "fiber_tls.hpp"
#include "micro_timing.hpp"

namespace {

constexpr std::size_t kBatch = 100;
constexpr double kTargetSpeedup = 2.0;

// Trivial is the fiber body: it must do nothing, so only spawn and join are measured, but
// the compiler must not see that it does nothing.
void trivial() {
  asm volatile("" ::: "memory");
}

// options() is the SpawnOptions of a fiber with the given TLS.
weft::SpawnOptions options(weft::Tls tls) {
  weft::SpawnOptions opts;
  opts.tls = tls;
  return opts;
}

bench::Sample weft_single(std::uint64_t n, weft::Tls tls = weft::Tls::kDefault) {
  weft::SpawnOptions opts = options(tls);
  bench::Stopwatch watch;
  for (std::uint64_t i = 0; i < n; ++i) weft::spawn_with(opts, trivial).join();
  return watch.per(double(n));
}

bench::Sample weft_batch(std::uint64_t n, weft::Tls tls = weft::Tls::kDefault) {
  weft::SpawnOptions opts = options(tls);
  std::vector<weft::Fiber<void>> fibers(kBatch);
  bench::Stopwatch watch;
  for (std::uint64_t done = 0; done < n; done += kBatch) {
    for (auto& f : fibers) f = weft::spawn_with(opts, trivial);
    for (auto& f : fibers) f.join();
  }
  return watch.per(double(n / kBatch * kBatch));
}

// Interleaved are the medians of plain weft fibers and of Tls::kPerFiber ones, their
// repetitions taken in turn so that a slow spell of a shared machine hits both alike.
struct Interleaved {
  bench::Samples plain;
  bench::Samples own;
};

// interleave() runs fn(tls) once each to warm up, then kReps times each in turn; runs on a
// fiber. Without per-fiber TLS only the plain fibers are timed.
template <class Fn>
Interleaved interleave(bool own_tls, Fn fn) {
  Interleaved r;
  fn(weft::Tls::kShared);
  if (own_tls) fn(weft::Tls::kPerFiber);
  for (int i = 0; i < bench::kReps; ++i) {
    r.plain.add(fn(weft::Tls::kShared));
    if (own_tls) r.own.add(fn(weft::Tls::kPerFiber));
  }
  return r;
}

template <class MakeFiber>
double boost_single(std::uint64_t n, MakeFiber make) {
  std::int64_t t0 = bench::now_ns();
  for (std::uint64_t i = 0; i < n; ++i) {
    boost::fibers::fiber f = make();
    f.join();
  }
  return double(bench::now_ns() - t0) / double(n);
}

template <class MakeFiber>
double boost_batch(std::uint64_t n, MakeFiber make) {
  std::vector<boost::fibers::fiber> fibers(kBatch);
  std::int64_t t0 = bench::now_ns();
  for (std::uint64_t done = 0; done < n; done += kBatch) {
    for (auto& f : fibers) f = make();
    for (auto& f : fibers) f.join();
  }
  return double(bench::now_ns() - t0) / double(n / kBatch * kBatch);
}

// median_of() runs fn once to warm up, then kReps times, and returns the median.
template <class Fn>
double median_of(Fn fn) {
  fn();  // First-touch page faults and cold caches are not what we measure.
  std::vector<double> v;
  for (int r = 0; r < bench::kReps; ++r) v.push_back(fn());
  return bench::median(v);
}

}  // namespace

// kUsage is what --help prints.
constexpr const char* kUsage =
    "usage: spawn_bench [FIBERS]\n  FIBERS: fibers spawned and joined per repetition (default "
    "200,000)\n";

int main(int argc, char** argv) {
  std::uint64_t n = bench::cli::positional(argc, argv, kUsage, "FIBERS", 200'000);

  Interleaved single;
  Interleaved batch;
  bool own_tls = false;
  // One carrier: both references are single-threaded.
  weft::Config one;
  one.carriers = 1;
  weft::run(one, [&] {
    own_tls = bench::own_tls_works();
    single = interleave(own_tls, [&](weft::Tls tls) { return weft_single(n, tls); });
    batch = interleave(own_tls, [&](weft::Tls tls) { return weft_batch(n, tls); });
  });
  double w_single = single.plain.wall_median();
  double w_batch = batch.plain.wall_median();

  auto make_default = [] { return boost::fibers::fiber(trivial); };
  boost::fibers::pooled_fixedsize_stack pool(64 * 1024);
  auto make_pooled = [&pool] { return boost::fibers::fiber(std::allocator_arg, pool, trivial); };
  double b_single = median_of([&] { return boost_single(n, make_default); });
  double b_batch = median_of([&] { return boost_batch(n, make_default); });
  double p_single = median_of([&] { return boost_single(n, make_pooled); });
  double p_batch = median_of([&] { return boost_batch(n, make_pooled); });

  double speedup_single = b_single / w_single;
  double speedup_batch = b_batch / w_batch;
  double speedup = speedup_single < speedup_batch ? speedup_single : speedup_batch;
  bool met = speedup >= kTargetSpeedup;
  std::printf("| spawn+join (median of %d x %llu) | one at a time ns | batches of %zu ns |\n",
              bench::kReps, static_cast<unsigned long long>(n), kBatch);
  std::printf("|---|---|---|\n");
  std::printf("| weft::spawn(fn).join() | %.1f | %.1f |\n", w_single, w_batch);
  std::printf("| boost::fibers::fiber f(fn); f.join() | %.1f | %.1f |\n", b_single, b_batch);
  std::printf("| Boost.Fiber, pooled 64 KiB stacks | %.1f | %.1f |\n", p_single, p_batch);
  std::printf("| speedup vs Boost.Fiber default (target >= %.0fx) | %.2fx | %.2fx |\n",
              kTargetSpeedup, speedup_single, speedup_batch);
  std::printf("| speedup vs Boost.Fiber pooled | %.2fx | %.2fx |\n", p_single / w_single,
              p_batch / w_batch);

  // Per-fiber TLS against plain weft fibers, CPU ns; "-" where the runtime refused it.
  char tls_fields[256];
  if (own_tls) {
    double ps = single.plain.cpu_median();
    double pb = batch.plain.cpu_median();
    double ts = single.own.cpu_median();
    double tb = batch.own.cpu_median();
    std::printf("| weft, CPU ns (median of %d) | one at a time | batches of %zu |\n", bench::kReps,
                kBatch);
    std::printf("|---|---|---|\n");
    std::printf("| weft::spawn(fn).join(), plain fibers | %.1f | %.1f |\n", ps, pb);
    std::printf("| the same with SpawnOptions::tls = Tls::kPerFiber | %.1f | %.1f |\n", ts, tb);
    std::printf("| ratio per-fiber TLS / plain | %.2fx | %.2fx |\n", ts / ps, tb / pb);
    std::snprintf(tls_fields, sizeof tls_fields,
                  "plain_single_cpu_ns=%.1f plain_batch_cpu_ns=%.1f tls_single_cpu_ns=%.1f "
                  "tls_batch_cpu_ns=%.1f tls_single_ratio=%.2f tls_batch_ratio=%.2f",
                  ps, pb, ts, tb, ts / ps, tb / pb);
  } else {
    std::printf("per-fiber TLS: the runtime refused it (its warning is above); not timed\n");
    std::snprintf(tls_fields, sizeof tls_fields,
                  "plain_single_cpu_ns=%.1f plain_batch_cpu_ns=%.1f tls_single_cpu_ns=- "
                  "tls_batch_cpu_ns=- tls_single_ratio=- tls_batch_ratio=-",
                  single.plain.cpu_median(), batch.plain.cpu_median());
  }
  std::printf(
      "RESULT name=spawn weft_single_ns=%.1f weft_batch_ns=%.1f boost_single_ns=%.1f "
      "boost_batch_ns=%.1f boost_pooled_single_ns=%.1f boost_pooled_batch_ns=%.1f "
      "speedup_single=%.2f speedup_batch=%.2f speedup=%.2f target=%.1f met=%d %s\n",
      w_single, w_batch, b_single, b_batch, p_single, p_batch, speedup_single, speedup_batch,
      speedup, kTargetSpeedup, met ? 1 : 0, tls_fields);
  return 0;
}
