// Entering the runtime, and what it can tell about itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <weft/config.hpp>
#include <weft/fiber.hpp>

namespace weft {

// GuardMode says how fiber stacks are protected against overflow.
enum class GuardMode : std::uint8_t {
  // kNone means no guard page (Config::guard_pages was false); only the canary check remains.
  kNone,
  // kMadvise means guard pages installed with MADV_GUARD_INSTALL, costing no extra mapping.
  kMadvise,
  // kMprotect means a 64 KiB mprotect'd guard per stack, costing up to two kernel mappings each;
  // once the budget under vm.max_map_count is spent, later stacks go unguarded (with a canary).
  kMprotect,
};

// RuntimeStats are counters of one weft::run (summed over its carriers), for diagnostics and
// leak checks.
struct RuntimeStats {
  // carriers is how many carriers (OS threads running fibers) the run has.
  unsigned carriers = 0;
  // fibers_live is how many fibers exist (running, ready, blocked, or finished but unjoined).
  std::size_t fibers_live = 0;
  // fibers_created is how many fibers were spawned in total.
  std::uint64_t fibers_created = 0;
  // switches is how many context switches the run's carriers made.
  std::uint64_t switches = 0;
  // stacks_in_use is how many stacks belong to live fibers.
  std::size_t stacks_in_use = 0;
  // stacks_cached is how many freed stacks keep their memory for reuse (at most
  // Config::stack_cache per stack size).
  std::size_t stacks_cached = 0;
  // stacks_cold is how many freed stacks returned their memory and keep only address space.
  std::size_t stacks_cold = 0;
  // stack_bytes_mapped is the address space the stack slabs take, guard pages included.
  std::size_t stack_bytes_mapped = 0;
  // guard_mode is how the run's stack pool guards stacks.
  GuardMode guard_mode = GuardMode::kNone;
  // io_submitted is how many I/O operations went to the kernel.
  std::uint64_t io_submitted = 0;
  // io_inflight is how many I/O operations await their completion.
  std::size_t io_inflight = 0;
  // timers_pending is how many sleeps and deadlines are armed.
  std::size_t timers_pending = 0;
  // ring_setup_flags are the IORING_SETUP_* flags the ring was created with (0 on epoll).
  std::uint32_t ring_setup_flags = 0;
  // backend is the I/O backend the run's first carrier uses (never Backend::kAuto).
  Backend backend = Backend::kAuto;
  // faults_short is how many reads and writes fault injection shortened (Config::fault_rate).
  std::uint64_t faults_short = 0;
  // faults_eintr is how many I/O calls fault injection failed with -EINTR.
  std::uint64_t faults_eintr = 0;
  // faults_spurious is how many polls fault injection reported ready without waiting.
  std::uint64_t faults_spurious = 0;
  // faults_reset is how many connections fault injection shut down with -ECONNRESET.
  std::uint64_t faults_reset = 0;
};

// stats() returns the counters of the caller's run, summed over its carriers; throws
// std::logic_error off a carrier thread.
RuntimeStats stats();
// last_run_stats() returns the counters the calling thread's last weft::run() left at teardown.
RuntimeStats last_run_stats() noexcept;
// in_fiber() tells whether the caller runs on a weft fiber.
bool in_fiber() noexcept;
// fiber_dump() describes every started fiber of the caller's run, one per line: id, name,
// carrier, state, and for a blocked fiber what it waits in (read, sleep, mutex, join, ...), on
// which fd, and for how long; under each parked (blocked or ready) fiber, its stack, one frame a
// line (function, file:line where there is debug info, library; the first 1000 parked fibers, 64
// frames each; names need libdw.so.1, loaded on first use, else a note says so); with several
// carriers it also counts each carrier's fibers not started yet. The stacks are read on a helper
// thread while the calling carrier waits. Throws std::logic_error off a carrier thread.
std::string fiber_dump();

namespace detail {
// run_main turns the calling thread into carrier 0, starts the other carriers, the blocking pool
// and the watchdog, runs main to completion, cancels and drains the remaining fibers, tears the
// run down and keeps its counters for last_run_stats().
void run_main(const Config& config, const SpawnRequest& main);
// process_run_counters() is the carriers, backend, fibers created and switches of the process's
// first run_main() while it runs (zero otherwise), read from any thread (the shim's stats).
RuntimeStats process_run_counters() noexcept;
}  // namespace detail

// run() runs f as the main fiber on a new carrier in the calling thread and returns its result.
// When f returns, fibers still running are cancelled (their blocking calls fail with
// -ECANCELED) and run() waits for them to finish. An exception from f is rethrown.
template <class F>
auto run(const Config& config, F&& f) -> std::decay_t<std::invoke_result_t<std::decay_t<F>>> {
  using T = std::decay_t<std::invoke_result_t<std::decay_t<F>>>;
  std::conditional_t<std::is_void_v<T>, bool, std::optional<T>> out{};
  std::exception_ptr error;
  auto body = [&out, &error, fn = std::forward<F>(f)]() mutable {
    try {
      if constexpr (std::is_void_v<T>) {
        fn();
      } else {
        out.emplace(fn());
      }
    } catch (...) {
      error = std::current_exception();
    }
  };
  auto req = detail::make_request<void>(body, "main", 0);
  detail::run_main(config, req);
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) return std::move(*out);
}

// run() runs f as the main fiber with config_from_env(): the defaults, as the WEFT_* environment
// variables adjust them (a Config passed explicitly is used as given, except that Backend::kAuto
// still follows WEFT_BACKEND).
template <class F>
auto run(F&& f) {
  return ::weft::run(config_from_env(), std::forward<F>(f));
}

}  // namespace weft
