#include "sched/carrier_tasks.hpp"

#include "sched/carrier.hpp"
#include "sched/run.hpp"

namespace weft::rt {

unsigned post_to_every_carrier(void (*fn)() noexcept) noexcept {
  Carrier* self = Carrier::current();
  if (self == nullptr) return 0;
  unsigned posted = 0;
  Run& run = self->run();
  for (unsigned i = 0; i < run.carriers(); ++i) {
    Carrier* c = run.carrier(i);
    if (c == nullptr || c == self) continue;
    try {
      // The function rides in the task's argument word, so posting allocates nothing per task.
      c->post_task({[](Carrier&, void* p) noexcept { reinterpret_cast<void (*)() noexcept>(p)(); },
                    reinterpret_cast<void*>(fn)});
      ++posted;
    } catch (...) {
      // Out of memory for the task list: that carrier keeps its mask until the next change.
    }
  }
  return posted;
}

SignalWait::SignalWait() noexcept {
  if (Carrier* c = Carrier::current()) c->run().expect_external();
}

SignalWait::~SignalWait() {
  if (Carrier* c = Carrier::current()) c->run().external_done();
}

bool in_interruptible_wait(const FiberControl* f) noexcept {
  return f != nullptr && f->state_ == FiberState::kBlocked && f->interruptible_;
}

int running_tid(const FiberControl* f) noexcept {
  if (f == nullptr || f->state_ != FiberState::kRunning) return 0;
  Carrier* c = f->carrier_;
  return c != nullptr ? c->tid() : 0;
}

void** carrier_stats_slot() noexcept {
  Carrier* c = Carrier::current();
  return c != nullptr ? &c->stats_slot() : nullptr;
}

std::uint64_t& carrier_word() noexcept {
  // Threads that are no carrier never switch thread pointers: TLS is theirs alone.
  static constinit thread_local std::uint64_t own __attribute__((tls_model("initial-exec"))) = 0;
  Carrier* c = Carrier::current();
  return c != nullptr ? c->slot_word() : own;
}

}  // namespace weft::rt
