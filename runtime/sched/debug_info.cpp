// debug_info: the descriptor and the registry of runs that the gdb extension reads
// (debug_info.hpp says what and why). Each word of the descriptor is computed here from the
// code's own types, and static_asserts pin what the words do not carry (field sizes, enum
// values), so a change to the layout either follows automatically or fails to compile.
#include "sched/debug_info.hpp"

#include <atomic>
#include <cstddef>
#include <type_traits>

#include "context/context.hpp"
#include "fiber/fiber_control.hpp"
#include "sched/carrier.hpp"
#include "sched/run.hpp"

namespace weft::rt {
namespace {

// kMaxRuns is how many runs at once the registry lists.
constexpr std::size_t kMaxRuns = 128;

std::atomic<Run*> g_runs[kMaxRuns] = {};
std::atomic<std::uint32_t> g_runs_unlisted{0};

// kWaitKindNames names WaitKind's values in order (the static_asserts below pin the order).
constexpr char kWaitKindNames[] = "none,io,timer,join,close,park";

}  // namespace

static_assert(sizeof(void*) == 8, "the descriptor's words are 64 bits");
static_assert(sizeof(std::atomic<Run*>) == sizeof(Run*));
static_assert(static_cast<int>(WaitKind::kNone) == 0 && static_cast<int>(WaitKind::kIo) == 1 &&
                  static_cast<int>(WaitKind::kTimer) == 2 &&
                  static_cast<int>(WaitKind::kJoin) == 3 &&
                  static_cast<int>(WaitKind::kClose) == 4 && static_cast<int>(WaitKind::kPark) == 5,
              "kWaitKindNames lists WaitKind's values in order");

// DebugLayout computes the descriptor; a friend of Run and Carrier, whose fields are private.
struct DebugLayout {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
  // describe() is the descriptor.
  static constexpr weft_debug_info_t describe() noexcept {
    using F = FiberControl;
    using C = Carrier;
    // The sizes the extension reads each field with.
    static_assert(sizeof(Run::slots_[0]) == 8 && sizeof(Run::count_) == 4 &&
                  sizeof(Run::serial_) == 4);
    static_assert(sizeof(C::index_) == 4 && sizeof(C::tid_) == 4 && sizeof(C::running_) == 8 &&
                  sizeof(C::stalled_) == 1);
    static_assert(sizeof(F::id_) == 8 && sizeof(F::state_) == 1 && sizeof(F::wait_kind_) == 1 &&
                  sizeof(F::wait_what_) == 8 && sizeof(F::wait_fd_) == 4 &&
                  sizeof(F::wait_since_) == 8 && sizeof(F::cancelled_) == 1 &&
                  sizeof(F::started_) == 1 && sizeof(F::slot_.ctx) == 8 &&
                  sizeof(F::slot_.tp) == 8 && sizeof(F::carrier_) == 8);
    static_assert(sizeof(F::name_) == F::kNameSize);
    return weft_debug_info_t{
        .magic = {'w', 'e', 'f', 't', 'd', 'b', 'g', '\0'},
        .version = 1,
        .size = sizeof(weft_debug_info_t),
        .runs = &g_runs,
        .max_runs = kMaxRuns,
        .runs_unlisted = &g_runs_unlisted,
        .run_carriers = offsetof(Run, slots_),
        .run_carrier_count = offsetof(Run, count_),
        .run_serial = offsetof(Run, serial_),
        .carrier_index = offsetof(C, index_),
        .carrier_tid = offsetof(C, tid_),
        .carrier_running = offsetof(C, running_),
        .carrier_fibers = offsetof(C, all_) + C::FiberSet::head_offset(),
        .carrier_fresh = offsetof(C, fresh_) + FiberQueue::head_offset(),
        .carrier_run_queue = offsetof(C, run_queue_) + FiberQueue::head_offset(),
        .carrier_stalled = offsetof(C, stalled_),
        .fiber_size = sizeof(F),
        .fiber_id = offsetof(F, id_),
        .fiber_name = offsetof(F, name_),
        .fiber_name_size = F::kNameSize,
        .fiber_state = offsetof(F, state_),
        .fiber_wait_kind = offsetof(F, wait_kind_),
        .fiber_wait_what = offsetof(F, wait_what_),
        .fiber_wait_fd = offsetof(F, wait_fd_),
        .fiber_wait_since = offsetof(F, wait_since_),
        .fiber_cancelled = offsetof(F, cancelled_),
        .fiber_started = offsetof(F, started_),
        .fiber_context = offsetof(F, slot_) + offsetof(ContextSlot, ctx),
        .fiber_tp = offsetof(F, slot_) + offsetof(ContextSlot, tp),
        .fiber_fibers_next = offsetof(F, all_next_),
        .fiber_queue_next = offsetof(F, next_),
        .fiber_carrier = offsetof(F, carrier_),
        .state_ready = static_cast<std::uint64_t>(FiberState::kReady),
        .state_running = static_cast<std::uint64_t>(FiberState::kRunning),
        .state_blocked = static_cast<std::uint64_t>(FiberState::kBlocked),
        .state_done = static_cast<std::uint64_t>(FiberState::kDone),
        .wait_kind_names = kWaitKindNames,
        .context_layout = ContextLayout::kOwnSwitch ? 1u : 0u,
        .ctx_r12 = ContextLayout::kR12,
        .ctx_r13 = ContextLayout::kR13,
        .ctx_r14 = ContextLayout::kR14,
        .ctx_r15 = ContextLayout::kR15,
        .ctx_rbx = ContextLayout::kRbx,
        .ctx_rbp = ContextLayout::kRbp,
        .ctx_rip = ContextLayout::kRip,
        .ctx_sp = ContextLayout::kSp,
    };
  }
#pragma GCC diagnostic pop
};

void debug_add_run(Run* run) noexcept {
  for (auto& slot : g_runs) {
    Run* expected = nullptr;
    if (slot.compare_exchange_strong(expected, run, std::memory_order_release)) return;
  }
  g_runs_unlisted.fetch_add(1, std::memory_order_relaxed);
}

void debug_remove_run(Run* run) noexcept {
  for (auto& slot : g_runs) {
    Run* expected = run;
    if (slot.compare_exchange_strong(expected, nullptr, std::memory_order_relaxed)) return;
  }
  g_runs_unlisted.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace weft::rt

// The symbol is looked up by name from outside the process: kept (used) and exported even when
// nothing inside refers to it.
extern "C"
    __attribute__((used, visibility("default"))) constinit const weft_debug_info_t weft_debug_info =
        weft::rt::DebugLayout::describe();
