// run_main: weft::run's way into the runtime (weft/runtime.hpp): the process's fork handlers,
// then a run and its blocking pool, for as long as the main fiber and its fibers live.
//
// It sits in the last layer because it ties the others together: fork handlers (process), the
// helper pool (blocking) that the run hands to its carriers' reactors, and the run (sched).
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <weft/runtime.hpp>

#include "base/report.hpp"
#include "base/sys.hpp"
#include "blocking/blocking_pool.hpp"
#include "fiber/fiber_control.hpp"
#include "process/fork.hpp"
#include "sched/run.hpp"

namespace weft {
namespace {

// tls_last_stats is what last_run_stats() returns: the counters of the calling thread's last run.
thread_local RuntimeStats tls_last_stats;
// g_process_run is the process's first run while it runs (process_run_counters()).
std::atomic<rt::Run*> g_process_run{nullptr};

}  // namespace

RuntimeStats last_run_stats() noexcept {
  return tls_last_stats;
}

namespace detail {

RuntimeStats process_run_counters() noexcept {
  rt::Run* r = g_process_run.load();
  return r != nullptr ? r->counters() : RuntimeStats{};
}

void run_main(const Config& config, const SpawnRequest& main) {
  // WEFT_LOG's file is opened when the process starts, where nothing can be told: the first run
  // says it once (the shim refuses to start the program instead).
  static std::atomic<bool> log_warned{false};
  if (int err = sys::report_sink_error(); err != 0 && !log_warned.exchange(true)) {
    const char* v = ::secure_getenv("WEFT_LOG");
    std::string msg = std::string("weft: WEFT_LOG=\"") + (v != nullptr ? v : "") +
                      "\": cannot open it (" + std::strerror(-err) + "); reports go to stderr\n";
    sys::write_stderr(msg.c_str());
  }
  // Once per process, so that a fiber that forks leaves its child a run of its own.
  rt::install_fork_handlers(nullptr);
  // On the heap: a child forked by a fiber of another carrier goes on using them, and there
  // this thread's stack is gone, free for glibc to hand to the next thread the child starts.
  auto run = std::make_unique<rt::Run>(config);
  // Made after the run, so its threads are joined before the carriers go: a helper thread may
  // still be inside Carrier::post() just after its last notify. Made before execute(), since
  // every carrier hands it to its reactor.
  auto blocking = std::make_unique<rt::BlockingPool>(config);
  run->set_blocking_pool(blocking.get());
  rt::Run* none = nullptr;
  struct Publish {
    bool first;
    ~Publish() {
      if (first) g_process_run.store(nullptr);
    }
  } publish{g_process_run.compare_exchange_strong(none, run.get())};
  FiberControl* f = run->execute(main);
  // main's body reports through execute()'s frame, so its handle is dropped unobserved.
  f->error_observed_ = true;
  release_fiber(f);
  tls_last_stats = run->stats();
}

}  // namespace detail
}  // namespace weft
