#include "sched/run.hpp"

#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include <cxxabi.h>

#include "base/config_env.hpp"
#include "base/sanitizer.hpp"
#include "base/sys.hpp"
#include "sched/carrier.hpp"
#include "sched/debug_info.hpp"
#include "sched/watchdog.hpp"
#include "tls/thread_block.hpp"

namespace weft::rt {
namespace {

std::atomic<std::uint64_t> g_next_fiber_id{1};

// kIdBlock is how many fiber ids a carrier takes from g_next_fiber_id at once, so a spawn takes
// its id without a locked instruction. Ids stay unique in the process and increase in spawn
// order on one carrier; across carriers they interleave by blocks.
constexpr std::uint64_t kIdBlock = 256;

constexpr std::size_t kMinStack = 16 * 1024;
constexpr std::size_t kMaxStack = std::size_t{1} << 30;

char* align_down(char* p, std::size_t align) noexcept {
  return reinterpret_cast<char*>(reinterpret_cast<std::uintptr_t>(p) & ~(align - 1));
}

void validate_stack_size(std::size_t size, const char* what) {
  if (size < kMinStack || size > kMaxStack) {
    throw std::invalid_argument(std::string(what) + " must be 16 KiB..1 GiB, got " +
                                std::to_string(size) + " bytes");
  }
}

unsigned cpus_allowed() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  int n = CPU_COUNT(&set);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

Config validate(Config c) {
  validate_stack_size(c.stack_size, "weft::Config::stack_size");
  // The completion queue is four times the submission queue, and the kernel caps it at 65536.
  if (c.ring_entries == 0 || c.ring_entries > 16384) {
    throw std::invalid_argument("weft::Config::ring_entries must be in 1..16384, got " +
                                std::to_string(c.ring_entries));
  }
  if (c.carriers == 0) c.carriers = std::min(cpus_allowed(), Run::kMaxCarriers / 2);
  if (c.carriers > Run::kMaxCarriers / 2) {
    throw std::invalid_argument("weft::Config::carriers must be at most " +
                                std::to_string(Run::kMaxCarriers / 2) + ", got " +
                                std::to_string(c.carriers));
  }
  if (c.blocking_threads == 0 || c.blocking_threads > 4096) {
    throw std::invalid_argument("weft::Config::blocking_threads must be in 1..4096, got " +
                                std::to_string(c.blocking_threads));
  }
  if (c.dump_signal != 0) {
    if (const char* why = signal_setting_refusal(c.dump_signal)) {
      throw std::invalid_argument("weft::Config::dump_signal cannot be " +
                                  std::to_string(c.dump_signal) + ": " + why);
    }
  }
  return c;
}

void report_uncaught(const FiberControl* f) noexcept {
  std::string what = "an exception not derived from std::exception";
  try {
    std::rethrow_exception(f->error_);
  } catch (const std::exception& e) {
    int status = 0;
    char* name = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    what = std::string(status == 0 && name != nullptr ? name : typeid(e).name()) + ": " + e.what();
    std::free(name);
  } catch (...) {
  }
  std::string line = "weft: fiber " + std::to_string(f->id_) + " \"" + f->name_ +
                     "\" ended with an exception nobody joined: " + what + "\n";
  sys::write_stderr(line.c_str());
}

// kCarrierStack is a carrier thread's stack, its lowest kCarrierGuard bytes a guard.
constexpr std::size_t kCarrierStack = 256 * 1024;
constexpr std::size_t kCarrierGuard = 4096;
#if defined(WEFT_ASAN) || defined(WEFT_TSAN)
constexpr bool kOwnCarrierStacks = false;
#else
constexpr bool kOwnCarrierStacks = true;
#endif

// StartArg hands a carrier thread its scheduler and index.
struct StartArg {
  Run* sched;
  unsigned index;
};

}  // namespace

namespace {

std::atomic<std::uint32_t> g_runs{0};

}  // namespace

Run::Run(const Config& config)
    : config_(validate(config)),
      serial_(g_runs.fetch_add(1, std::memory_order_relaxed) + 1),
      stacks_(config_.stack_size, config_.guard_pages, config_.stack_cache) {
  debug_add_run(this);
}

Run::~Run() {
  debug_remove_run(this);
}

FiberControl* Run::spawn(Carrier& from, const detail::SpawnRequest& req) {
  if (req.stack_size != 0) validate_stack_size(req.stack_size, "weft::SpawnOptions::stack_size");
  StackSpan stack =
      req.stack_size == 0 ? from.stack_cache().allocate(stacks_) : stacks_.allocate(req.stack_size);
  char* control = align_down(stack.top() - sizeof(FiberControl), alignof(FiberControl));
  // A fiber's own glibc thread goes right below its control block, as nptl puts a thread's
  // at the top of its stack.
  tls::ThreadBlock* block = nullptr;
  char* below = control;
  if (wants_own_tls(req.tls)) {
    block = tls::create(stack.base, control, &below);
    if (block == nullptr) {
      free_stack(stack);
      throw std::bad_alloc();
    }
  }
  char* body = align_down(below - req.body_size, std::max<std::size_t>(req.body_align, 16));
  if (body < stack.base + stack.size / 2) {
    if (block != nullptr) tls::destroy(block);
    free_stack(stack);
    throw std::length_error("weft::spawn: the callable and its arguments (" +
                            std::to_string(req.body_size) +
                            " bytes) take more than half of the fiber's stack");
  }
  auto* f = new (control) FiberControl();
  f->tls_ = block;
  if (block != nullptr) f->slot_.tp = block->tp;
  try {
    f->body_ = req.place(body, req.arg);
  } catch (...) {
    f->~FiberControl();
    if (block != nullptr) tls::destroy(block);
    free_stack(stack);
    throw;
  }
  // Frames start below the body; the lowest 16 bytes stay free for an unguarded stack's canary.
  char* sp = align_down(body, 16);
  f->slot_.ctx =
      make_context(sp, static_cast<std::size_t>(sp - stack.base - 16), &Carrier::fiber_entry);
  f->stack_ = stack;
  if (from.next_id_ == from.ids_end_) [[unlikely]] {
    from.next_id_ = g_next_fiber_id.fetch_add(kIdBlock, std::memory_order_relaxed);
    from.ids_end_ = from.next_id_ + kIdBlock;
  }
  f->id_ = from.next_id_++;
  f->fork_epoch_ = fork_epoch();
  std::size_t n = std::min(req.name.size(), FiberControl::kNameSize - 1);
  if (n > 0) std::memcpy(f->name_, req.name.data(), n);
  f->name_[n] = '\0';
  san::on_spawn(f->slot_.san, stack.base, stack.size, f->name_);
  unfinished_.fetch_add(1, std::memory_order_relaxed);
  from.live_.store(from.live_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  from.created_.store(from.created_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  f->state_ = FiberState::kReady;
  unsigned n_carriers = carriers();
  Carrier* target = n_carriers == 1 ? &from : pick(from);
  f->carrier_ = target;
  if (target == &from) {
    from.load_own_.store(from.load_own_.load(std::memory_order_relaxed) + 1,
                         std::memory_order_relaxed);
  } else {
    target->load_.fetch_add(1, std::memory_order_relaxed);
  }
  if (n_carriers == 1) {
    from.push_local(f);
  } else {
    target->push_fresh(f);
  }
  return f;
}

bool Run::wants_own_tls_slow() noexcept {
  // tls::available() decides once per process; the warning is said once per run.
  if (tls::available()) {
    Carrier::prepare_tls();
    return true;
  }
  if (!tls_warned_.exchange(true, std::memory_order_relaxed)) {
    std::string line = std::string("weft: fibers share their carrier's thread-local storage: ") +
                       tls::reason() + "\n";
    sys::write_stderr(line.c_str());
  }
  return false;
}

Carrier* Run::pick(Carrier& from) const noexcept {
  unsigned n = carriers();
  if (n == 1) return &from;
  // The carriers in turn after the spawner's, the spawner's last, which counts one fiber more
  // than it holds: the spawner runs there now. Among equally loaded ones the first that sleeps in
  // its reactor wins, else the first in that order; so the spawner's carrier wins only when it
  // holds at least two fibers fewer than every other (docs/design.md, "Placement").
  Carrier* best = nullptr;
  std::size_t best_load = 0;
  bool best_sleeps = false;
  for (unsigned k = 1; k <= n; ++k) {
    Carrier* c = carrier((from.index() + k) % n);
    if (c == nullptr || c->stalled_.load(std::memory_order_relaxed)) continue;
    std::size_t l = c->load() + (c == &from ? 1 : 0);
    bool sleeps = c != &from && c->sleeping();
    if (best == nullptr || l < best_load || (l == best_load && sleeps && !best_sleeps)) {
      best = c;
      best_load = l;
      best_sleeps = sleeps;
    }
  }
  return best != nullptr ? best : &from;
}

void Run::steal_for(Carrier& thief) noexcept {
  unsigned n = carriers();
  for (unsigned k = 1; k < n; ++k) {
    Carrier* victim = carrier((thief.index() + k) % n);
    if (victim != nullptr && victim->steal_fresh(thief) > 0) return;
  }
}

void Run::destroy_body(FiberControl* f) noexcept {
  if (f->body_ == nullptr) return;
  if (f->error_ && !f->error_observed_) report_uncaught(f);
  f->error_ = nullptr;
  f->body_->~FiberBody();
  f->body_ = nullptr;
}

void Run::destroy(FiberControl* f) noexcept {
  destroy_body(f);
  StackSpan stack = f->stack_;
  if (f->tls_ != nullptr) tls::destroy(f->tls_);
  san::on_destroy(f->slot_.san);
  f->~FiberControl();
  free_stack(stack);
}

void Run::free_stack(StackSpan stack) noexcept {
  // Into the calling carrier's cache when it is one of this run's (a fiber is freed where its
  // last reference is dropped: its own carrier, or its joiner's), else back to the pool.
  // The fiber leaves the count of live ones there too.
  Carrier* c = tls_carrier;
  if (c != nullptr && &c->run() == this) {
    c->stack_cache().release(stacks_, stack);
    c->live_.store(c->live_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  } else {
    stacks_.release(stack);
    live_elsewhere_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Run::fiber_finished() noexcept {
  if (unfinished_.fetch_sub(1, std::memory_order_acq_rel) == 1 && shutting_down()) wake_all();
}

void Run::main_finished() noexcept {
  shutdown_.store(true, std::memory_order_seq_cst);
  wake_all();
}

void Run::wake_all() noexcept {
  unsigned n = carriers();
  for (unsigned i = 0; i < n; ++i) {
    if (Carrier* c = carrier(i)) c->wake();
  }
}

bool Run::hopeless_enter() noexcept {
  unsigned h = hopeless_.fetch_add(1, std::memory_order_seq_cst) + 1;
  return h == carriers() && external_.load(std::memory_order_seq_cst) == 0;
}

bool Run::confirm_deadlock() const noexcept {
  // A carrier counted hopeless may still be between its announcement and its last look at its
  // mailboxes; mail waiting anywhere means a wake-up is in transit.
  unsigned n = carriers();
  if (hopeless_.load(std::memory_order_seq_cst) != n) return false;
  if (external_.load(std::memory_order_seq_cst) != 0) return false;
  // Look at each carrier itself too: a spare that is starting counts itself hopeless before the
  // run's carrier count includes it.
  for (unsigned i = 0; i < n; ++i) {
    Carrier* c = carrier(i);
    if (c == nullptr || c->has_work_posted()) return false;
    if (c->sleep_.load(std::memory_order_seq_cst) != Carrier::kHopeless) return false;
  }
  return true;
}

Carrier* Run::add_spare() noexcept {
  unsigned n = carriers();
  if (n >= kMaxCarriers) return nullptr;
  try {
    start_carriers(n, 1);
  } catch (...) {
    return nullptr;
  }
  Carrier* c = carrier(n);
  if (c == nullptr) return nullptr;
  count_.store(n + 1, std::memory_order_release);
  return c;
}

void Run::deadlock() noexcept {
  bool outside_may_wake = false;
  unsigned n = carriers();
  for (unsigned i = 0; i < n; ++i) {
    Carrier* c = carrier(i);
    if (c == nullptr) continue;
    c->for_each_fiber([&](const FiberControl& f) {
      if (f.state_ == FiberState::kBlocked && f.wait_kind_ == WaitKind::kPark && f.wait_outside_) {
        outside_may_wake = true;
      }
    });
  }
  if (!outside_may_wake) {
    std::string msg = "weft: deadlock: every fiber is blocked and nothing can wake one.\n";
    msg += describe_fibers();
    sys::write_stderr(msg.c_str());
    std::abort();
  }
  if (deadlock_warned_.exchange(true, std::memory_order_relaxed)) return;
  std::string msg =
      "weft: possible deadlock: every fiber is blocked. Some wait on a sync primitive or a "
      "channel, which a thread outside this run could still signal, so weft keeps waiting; if "
      "none will, this is a deadlock.\n";
  msg += describe_fibers();
  sys::write_stderr(msg.c_str());
}

RuntimeStats Run::counters() const noexcept {
  RuntimeStats s;
  unsigned n = carriers();
  for (unsigned i = 0; i < n; ++i) {
    if (Carrier* c = carrier(i)) c->add_counters(s);
  }
  if (Carrier* c0 = carrier(0)) s.backend = c0->reactor().backend();
  s.carriers = n;
  return s;
}

RuntimeStats Run::stats() const noexcept {
  RuntimeStats s;
  // Spawns count on the spawner's carrier, frees on the freeing one: only the sum means anything,
  // and read while fibers come and go it may be off by those in flight (never below zero).
  std::int64_t live = live_elsewhere_.load(std::memory_order_relaxed);
  for (unsigned i = 0, n = carriers(); i < n; ++i) {
    if (Carrier* c = carrier(i)) live += c->live_.load(std::memory_order_relaxed);
  }
  s.fibers_live = live > 0 ? static_cast<std::size_t>(live) : 0;
  // A stack in a carrier's cache is in use for the pool, free for the program.
  std::size_t in_caches = 0;
  for (unsigned i = 0, n = carriers(); i < n; ++i) {
    if (Carrier* c = carrier(i)) in_caches += c->stack_cache().count();
  }
  std::size_t in_use = stacks_.in_use();
  s.stacks_in_use = in_use > in_caches ? in_use - in_caches : 0;
  s.stacks_cached = stacks_.cached() + in_caches;
  s.stacks_cold = stacks_.cold();
  s.stack_bytes_mapped = stacks_.bytes_mapped();
  s.guard_mode = stacks_.guard_mode();
  unsigned n = carriers();
  for (unsigned i = 0; i < n; ++i) {
    if (Carrier* c = carrier(i)) c->add_stats(s);
  }
  if (Carrier* c0 = carrier(0)) {
    s.ring_setup_flags = c0->reactor().setup_flags();
    s.backend = c0->reactor().backend();
  }
  s.carriers = n;
  return s;
}

void* Run::carrier_thread(void* arg) {
  sys::mark_weft_thread();
  if (auto start = sys::signal_hooks().carrier_start) start();
  auto* a = static_cast<StartArg*>(arg);
  Run& s = *a->sched;
  unsigned index = a->index;
  delete a;
  std::unique_ptr<Carrier> c;
  try {
    c = std::make_unique<Carrier>(s, index);
  } catch (const std::exception& e) {
    std::lock_guard<Lock> hold(s.start_lock_);
    if (!s.start_failed_.load()) s.start_error_ = e.what();
    s.start_failed_.store(true);
  }
  Carrier* raw = c.get();
  if (raw != nullptr) s.slots_[index].store(raw, std::memory_order_release);
  s.started_.fetch_add(1, std::memory_order_acq_rel);
  sys::futex_wake(&s.started_, INT_MAX);
  if (raw == nullptr) return nullptr;
  // Wait until the run begins (or is abandoned because another carrier failed to start).
  while (s.go_.load(std::memory_order_acquire) == 0) sys::futex_wait(&s.go_, 0);
  if (s.go_.load(std::memory_order_acquire) == 1) raw->loop(nullptr);
  if (s.fork_home_ == raw) s.end_forked_child();
  raw->leave_thread();
  s.owned_[index] = std::move(c);  // the object outlives the thread: wake() may still reach it
  return nullptr;
}

void Run::start_carriers(unsigned first, unsigned count) {
  unsigned want = started_.load() + count;
  for (unsigned i = first; i < first + count; ++i) {
    auto* arg = new StartArg{this, i};
    Thread t{};
    // The carrier's stack is the run's, not glibc's: a fiber with its own glibc thread that
    // forks leaves a child in which glibc counts the carrier thread as gone and would hand its
    // cached stack to the child's next thread, while the child's scheduler still runs on it.
    // Not in ASan and TSan builds, which have no per-fiber TLS, and whose own static TLS (near
    // a megabyte for TSan) glibc would carve out of the stack given.
    int r = 0;
    if constexpr (kOwnCarrierStacks) {
      void* stack = mmap(nullptr, kCarrierStack, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
      r = stack == MAP_FAILED ? -ENOMEM : 0;
      if (r == 0) {
        mprotect(stack, kCarrierGuard, PROT_NONE);
        t.stack = stack;
        r = sys::start_thread(&t.id, &carrier_thread, arg, kCarrierStack, stack);
        if (r != 0) munmap(stack, kCarrierStack);
      }
    } else {
      r = sys::start_thread(&t.id, &carrier_thread, arg);
    }
    if (r != 0) {
      delete arg;
      std::lock_guard<Lock> hold(start_lock_);
      if (!start_failed_.load()) {
        start_error_ = std::string("cannot start a carrier thread: ") + std::strerror(-r);
      }
      start_failed_.store(true);
      want -= first + count - i;
      break;
    }
    t.started = true;
    threads_.push_back(t);
  }
  for (unsigned seen = started_.load(); seen < want; seen = started_.load()) {
    sys::futex_wait(&started_, seen);
  }
}

void Run::abandon_start() noexcept {
  go_.store(2, std::memory_order_release);
  sys::futex_wake(&go_, INT_MAX);
  join_carriers();
}

void Run::join_carriers() noexcept {
  for (Thread& t : threads_) {
    if (t.started) sys::join_thread(t.id);
    if (t.stack != nullptr) munmap(t.stack, kCarrierStack);
  }
  threads_.clear();
}

FiberControl* Run::execute(const detail::SpawnRequest& main) {
  // The per-fiber TLS probe tries a block's life in a cloned child, which would wait forever on
  // a lock another thread held at the clone: it runs now, while the calling thread is alone in
  // the run, not at the first spawn.
  if (config_.tls == Tls::kPerFiber || main.tls == Tls::kPerFiber) (void)tls::available();
  // The calling thread is carrier 0 from here on: what it calls off a fiber is weft's own.
  sys::mark_weft_thread();
  auto c0 = std::make_unique<Carrier>(*this, 0);
  slots_[0].store(c0.get(), std::memory_order_release);
  unsigned n = config_.carriers;
  threads_.reserve(kMaxCarriers);
  start_carriers(1, n - 1);
  if (start_failed_.load()) {
    abandon_start();
    throw std::runtime_error("weft::run: " + start_error_);
  }
  if (config_.stall_ms != 0 || config_.dump_signal != 0) {
    try {
      watchdog_ = std::make_unique<Watchdog>(*this);
    } catch (...) {
      go_.store(2, std::memory_order_release);
      sys::futex_wake(&go_, INT_MAX);
      join_carriers();
      throw;
    }
  }
  // The other carriers wait for go_, so while count_ is 1 spawn() keeps main on carrier 0.
  count_.store(1, std::memory_order_release);
  FiberControl* f = nullptr;
  try {
    f = spawn(*c0, main);
  } catch (...) {
    watchdog_.reset();
    abandon_start();
    throw;
  }
  count_.store(n, std::memory_order_release);
  go_.store(1, std::memory_order_release);
  sys::futex_wake(&go_, INT_MAX);
  main_fiber_ = f;
  c0->loop(f);
  // A forked child whose run was rebuilt around another fiber than main (runtime/process/fork.hpp).
  if (fork_home_ == c0.get() && child_main_ != f) end_forked_child();
  watchdog_.reset();  // before the carriers go: it must not add spares to a finished run
  wake_all();
  join_carriers();
  c0->leave_thread();
  owned_[0] = std::move(c0);
  return f;
}

}  // namespace weft::rt
