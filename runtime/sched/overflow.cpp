#include "sched/overflow.hpp"

#include <sys/mman.h>
#include <ucontext.h>
#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include <execinfo.h>

#include "base/report.hpp"
#include "base/sys.hpp"
#include "diag/stack.hpp"
#include "sched/carrier.hpp"

namespace weft::rt {
namespace {

constexpr std::size_t kAltStackSize = 64 * 1024;

struct sigaction g_old_segv;
struct sigaction g_old_bus;

bool in_guard(const FiberControl* f, std::uintptr_t addr, std::uintptr_t sp) noexcept {
  auto base = reinterpret_cast<std::uintptr_t>(f->stack_.base);
  // A frame larger than the guard can fault below it; the stack pointer having run past the
  // stack's low end is the sure sign either way.
  constexpr std::uintptr_t kSlack = 1 << 20;
  bool addr_near = addr < base && addr + kSlack >= base;
  bool sp_past = sp < base + 256 && sp + kSlack >= base;
  return addr_near || sp_past;
}

void chain(int sig, siginfo_t* info, void* uctx, const struct sigaction& old) noexcept {
  if ((old.sa_flags & SA_SIGINFO) != 0 && old.sa_sigaction != nullptr) {
    old.sa_sigaction(sig, info, uctx);
    return;
  }
  // An ignored SIGSEGV from a real fault is fatal anyway (the kernel forces the default), so
  // SIG_IGN falls through to the default action instead of re-faulting forever.
  if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN && old.sa_handler != nullptr) {
    old.sa_handler(sig);
    return;
  }
  // Default action: returning re-executes the faulting instruction, which now kills us. A signal
  // sent by kill(2), tgkill(2) or sigqueue(3) (si_code <= 0) has no instruction to re-execute:
  // sent again, it stays pending until this handler returns and then takes the default action,
  // as natively (it used to be swallowed, and the process went on).
  sys::default_action(sig);
  if (info->si_code <= 0) sys::call(SYS_tgkill, sys::call(SYS_getpid), sys::call(SYS_gettid), sig);
}

// Report is the whole overflow report, written in one go: static (a dying process needs one,
// and a program's own alternate signal stack may be small), taken by the first overflow.
using Report = diag::Text<16384>;
Report g_report;
std::atomic<bool> g_report_taken{false};

void add_line(const char* line, void* report) {
  static_cast<Report*>(report)->add(line);
}

// add_header() is the report's first lines: which fiber, its stack size, what to do.
void add_header(const FiberControl* f, Report& line) noexcept {
  line.add("weft: stack overflow in fiber ");
  line.add_dec(f->id_);
  line.add(" \"");
  line.add(f->name_);
  line.add("\" (stack size ");
  line.add_dec(static_cast<std::uint64_t>(f->stack_.size));
  line.add(
      " bytes); give it more with weft::SpawnOptions::stack_size or Config::stack_size (for a\n"
      "program under weftrun: pthread_attr_setstacksize, or weftrun --stack-size / "
      "WEFT_STACK_SIZE)\n");
}

// add_frames() adds where the fiber was, as file+offset lines (diag/stack.hpp), after the
// report's header: from the faulting instruction at pc when a signal gave one (the frames above
// it in this handler's own backtrace are the handler's and the signal trampoline), else from the
// caller of the function that called this one. Names are not looked up here: the process is
// dying, maybe inside malloc or the dynamic loader, whose locks libdw would need (docs/design.md,
// "Stacks in reports").
__attribute__((noinline)) void add_frames(std::uintptr_t pc, Report& out) noexcept {
  // Room for the frames above the fiber's (these functions, the handler, the trampoline).
  void* raw[diag::kMaxFrames + 8];
  int n = backtrace(raw, diag::kMaxFrames + 8);
  int from = 3;  // add_frames, write_report and overflow_abort
  if (pc != 0) {
    from = n;
    for (int i = 0; i < n; ++i) {
      if (reinterpret_cast<std::uintptr_t>(raw[i]) == pc) {
        from = i;
        break;
      }
    }
  }
  diag::RawStack s;
  s.exact_first = pc != 0;
  if (pc != 0 && from == n) s.pc[s.n++] = pc;  // the unwinder did not get past the trampoline
  for (int i = from; i < n && s.n < diag::kMaxFrames; ++i) {
    s.pc[s.n++] = reinterpret_cast<std::uintptr_t>(raw[i]);
  }
  out.add(
      "  where it was (FILE+OFFSET: `addr2line -Cfie FILE OFFSET` or `eu-addr2line -e FILE "
      "OFFSET` names a frame):\n");
  diag::write_module_offsets(s, "  ", &add_line, &out);
}

// write_report() writes the report of f's overflow, with its frames from pc (0: from the
// caller), in one write to the sink's file, never to a program's handler (this runs in the
// SIGSEGV handler too). A second overflow on another carrier waits: the first ends the process.
__attribute__((noinline)) void write_report(const FiberControl* f, std::uintptr_t pc) noexcept {
  while (g_report_taken.exchange(true, std::memory_order_acquire)) sys::yield_thread();
  g_report.len = 0;
  g_report.buf[0] = '\0';
  add_header(f, g_report);
  add_frames(pc, g_report);
  sys::write_report_signal_safe(g_report.buf);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  Carrier* c = Carrier::current();
  FiberControl* f = c != nullptr ? c->running() : nullptr;
  if (f != nullptr) {
    auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
    auto sp =
        static_cast<std::uintptr_t>(static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RSP]);
    if (in_guard(f, addr, sp)) {
      write_report(f, static_cast<std::uintptr_t>(
                          static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RIP]));
      sys::default_action(sig);
      return;
    }
  }
  chain(sig, info, uctx, sig == SIGSEGV ? g_old_segv : g_old_bus);
}

}  // namespace

void install_overflow_handler() noexcept {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sys::sigaction(SIGSEGV, &sa, &g_old_segv);
    sys::sigaction(SIGBUS, &sa, &g_old_bus);
    // backtrace() loads libgcc's unwinder on first use, which is not safe in a signal handler.
    void* warm[2];
    backtrace(warm, 2);
  });
}

void* install_altstack() noexcept {
  stack_t current{};
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE) == 0) return nullptr;
  void* mem =
      ::mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = kAltStackSize;
  if (sigaltstack(&ss, nullptr) != 0) {
    ::munmap(mem, kAltStackSize);
    return nullptr;
  }
  return mem;
}

void remove_altstack(void* mapping) noexcept {
  if (mapping == nullptr) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  ::munmap(mapping, kAltStackSize);
}

__attribute__((noinline)) void overflow_abort(const FiberControl* f) noexcept {
  write_report(f, 0);
  std::abort();
}

}  // namespace weft::rt
