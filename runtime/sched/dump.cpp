// The fiber dump: one line per fiber of the run (id, name, carrier, state, what a blocked fiber
// waits in and for how long), and under each parked fiber, blocked or ready, the stack it would
// resume, unwound from the registers its switch saved and named by diag::Symbolizer.
//
// Each carrier's fibers are read under its fiber-list lock, the OwnerLock a visitor pays for
// (docs/design.md, "Performance choices"): no fiber of that carrier can finish, so no control
// block or stack is freed, while it is held. A fiber can still be resumed by its carrier meanwhile;
// the unwinder reads memory through process_vm_readv only (a stale pointer reads as garbage or
// fails, never faults), its depth is bounded, and after unwinding a fiber the dump checks that
// its state, saved context and wait time are what they were before: if not, it ran, and the
// frames are dropped with a note. Only the unwinding is done under the lock; names are looked
// up after it is released. At most kStackedFibers fibers get a stack, kMaxFrames frames each.
// The running fibers get none: a running fiber is where its carrier is, which the stall report
// samples when it matters.
#include <time.h>

#include <algorithm>
#include <string>
#include <vector>

#include "base/sanitizer.hpp"
#include "base/sys.hpp"
#include "diag/symbolizer.hpp"
#include "sched/carrier.hpp"
#include "sched/run.hpp"

namespace weft::rt {
namespace {

// kStackedFibers caps the fibers a dump unwinds.
constexpr std::size_t kStackedFibers = 1000;
// kHelperStack is the stack of the thread that formats a dump asked for on a carrier: a fiber's
// (64 KiB by default) is too small for libdw and the demangler.
constexpr std::size_t kHelperStack = 1024 * 1024;

// Entry is one fiber's line and, when it has one, its stack.
struct Entry {
  std::string line;
  diag::RawStack stack;
  const char* note = nullptr;
};

// load_ctx() reads a fiber's saved context from another thread.
ContextHandle load_ctx(const FiberControl& f) noexcept {
  return __atomic_load_n(&f.slot_.ctx, __ATOMIC_RELAXED);
}

// unwind_parked() fills e's stack from f's saved context, or says why it has none.
void unwind_parked(const FiberControl& f, diag::Symbolizer& names, Entry& e) noexcept {
#if defined(WEFT_TSAN)
  (void)f;
  (void)names;
  e.note = "(no stack in a ThreadSanitizer build: the saved context is read while it may change)";
#else
  FiberState st = f.state_;
  std::int64_t since = f.wait_since_;
  ContextHandle h = load_ctx(f);
  SavedRegisters regs{};
  if (h == nullptr || !saved_registers(h, &regs)) {
    e.note = "(no stack: its saved registers cannot be read on this architecture)";
    return;
  }
  if (!names.unwind(regs, &e.stack)) {
    e.note = names.resolves() ? "(no stack: libdw could not unwind it)" : nullptr;
    return;
  }
  if (f.state_ != st || f.wait_since_ != since || load_ctx(f) != h) {
    e.stack.n = 0;
    e.note = "(no stack: it ran while it was read)";
  }
#endif
}

void* dump_on_helper(void* arg);

struct HelperCall {
  const Run* run;
  std::string out;
};

}  // namespace

std::string Run::describe_fibers() const {
  if (Carrier::current() != nullptr) {
    HelperCall call{this, {}};
    pthread_t t;
    if (sys::start_thread(&t, &dump_on_helper, &call, kHelperStack) == 0) {
      sys::join_thread(t);
      return call.out;
    }
  }
  return describe_fibers_here();
}

std::string Run::describe_fibers_here() const {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  std::int64_t now = std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
  unsigned n = carriers();
  Carrier* c0 = carrier(0);
  std::string out = "weft: fibers of the run (" + std::to_string(n) +
                    (n == 1 ? " carrier, " : " carriers, ") +
                    (c0 != nullptr ? c0->reactor().name() : "no") + " I/O):\n";
  diag::Symbolizer names;
  std::size_t stacked = 0;
  std::size_t unstacked = 0;
  std::vector<Entry> entries;
  for (unsigned i = 0; i < n; ++i) {
    Carrier* c = carrier(i);
    if (c == nullptr) continue;
    entries.clear();
    c->for_each_fiber([&](const FiberControl& f) {
      Entry& e = entries.emplace_back();
      e.line = "  fiber " + std::to_string(f.id_) + " \"" + f.name_ + "\" carrier " +
               std::to_string(i) + ": ";
      FiberState st = f.state_;
      if (st == FiberState::kRunning) {
        e.line += "running";
      } else if (st == FiberState::kReady) {
        e.line += "ready";
      } else if (st == FiberState::kBlocked) {
        const char* what = f.wait_what_;
        e.line += std::string("blocked in ") + (what != nullptr ? what : "wait");
        int fd = f.wait_fd_;
        if (fd >= 0) e.line += " fd " + std::to_string(fd);
        std::int64_t since = f.wait_since_;
        // A fiber that blocked after the dump read the clock has waited for no time yet.
        if (since != 0) {
          e.line +=
              " for " + std::to_string(std::max<std::int64_t>(0, now - since) / 1000000) + " ms";
        }
        if (f.cancelled_) e.line += " (cancelled)";
      } else {
        e.line += "finishing";
      }
      e.line += "\n";
      if (st != FiberState::kReady && st != FiberState::kBlocked) return;
      if (stacked == kStackedFibers) {
        ++unstacked;
        return;
      }
      ++stacked;
      unwind_parked(f, names, e);
    });
    for (const Entry& e : entries) {
      out += e.line;
      if (e.stack.n > 0) names.append(e.stack, "      ", out);
      if (e.note != nullptr) out += std::string("      ") + e.note + "\n";
    }
    std::size_t fresh = c->fresh_count();
    if (fresh != 0) {
      out += "  carrier " + std::to_string(i) + ": " + std::to_string(fresh) +
             " fibers not started yet\n";
    }
    if (c->stalled_.load(std::memory_order_relaxed)) {
      out += "  carrier " + std::to_string(i) + " is stalled\n";
    }
  }
  if (unstacked != 0) {
    out += "  ... " + std::to_string(unstacked) + " more parked fibers, listed without stacks (" +
           std::to_string(kStackedFibers) + " get one)\n";
  }
  if (stacked != 0 && !names.resolves()) {
    out +=
        "  (no stacks for parked fibers: unwinding them needs libdw.so.1, which could not be "
        "loaded; install libdw1 (elfutils))\n";
  }
  return out;
}

namespace {

void* dump_on_helper(void* arg) {
  auto* call = static_cast<HelperCall*>(arg);
  try {
    call->out = call->run->describe_fibers_here();
  } catch (...) {
    call->out = "weft: fibers of the run: the dump failed (out of memory)\n";
  }
  return nullptr;
}

}  // namespace
}  // namespace weft::rt
