// The public fiber API (weft/fiber.hpp, weft/runtime.hpp) on top of the carrier.
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <utility>

#include <weft/fiber.hpp>
#include <weft/runtime.hpp>

#include "sched/carrier.hpp"
#include "sched/park.hpp"
#include "sched/run.hpp"
#include "sched/timed_wait.hpp"

namespace weft {
namespace {

rt::Carrier& carrier_or_throw(const char* what) {
  rt::Carrier* c = rt::Carrier::current();
  if (c == nullptr) throw std::logic_error(std::string(what) + " called outside weft::run");
  return *c;
}

}  // namespace

void throw_not_joinable_error() {
  throw std::logic_error("weft::Fiber::join: the handle holds no fiber");
}

namespace detail {

FiberControl* spawn_fiber(const SpawnRequest& req) {
  rt::Carrier& c = carrier_or_throw("weft::spawn");
  return c.run().spawn(c, req);
}

FiberBody* join_fiber(FiberControl*& handle) {
  FiberControl* f = handle;
  rt::Carrier& c = carrier_or_throw("weft::Fiber::join");
  FiberControl* self = c.running();
  if (self == nullptr) throw std::logic_error("weft::Fiber::join called off a fiber");
  if (self == f) throw std::logic_error("weft::Fiber::join: a fiber cannot join itself");
  if (!f->done_.load(std::memory_order_acquire)) {
    rt::Waiter w("join", f);
    w.in_run_only = true;
    rt::Waiter* expected = nullptr;
    // Fails only if f finished meanwhile (join_ then holds the done mark).
    if (f->join_.compare_exchange_strong(expected, &w, std::memory_order_acq_rel)) {
      rt::park_notified(w);
    }
  }
  // The fiber wrote its result and exception before done_ (release), which the load above, the
  // failed exchange or the notification (acquire) ordered before this point.
  f->error_observed_ = true;
  if (f->error_) {
    std::exception_ptr e = f->error_;
    handle = nullptr;
    release_fiber(f);
    std::rethrow_exception(e);
  }
  return f->body_;
}

void release_fiber(FiberControl* f) noexcept {
  // The fiber itself holds a reference until it has left its stack, so the last one dropped
  // here belongs to a finished fiber, which any thread may free. A handle that holds the only
  // one (a join that waited: the fiber's own went at its last switch) needs no locked
  // instruction to know it: nobody else holds one to take or drop.
  if (f->refs_.load(std::memory_order_acquire) == 1 ||
      f->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    f->carrier_->run().destroy(f);
  }
}

std::uint64_t fiber_id(const FiberControl* f) noexcept {
  return f->id_;
}

bool fiber_done(const FiberControl* f) noexcept {
  return f->done_.load(std::memory_order_acquire);
}

void cancel_fiber(FiberControl* f) noexcept {
  if (f->done_.load(std::memory_order_acquire)) return;
  // A fiber of the parent process that forked: its wait is gone with it (runtime/process/fork.hpp).
  if (f->fork_epoch_ != rt::fork_epoch()) return;
  // Pairs with Carrier::start_fresh(): a fiber not started yet sees the flag when it starts.
  f->cancel_requested_.store(true, std::memory_order_seq_cst);
  if (!f->started_.load(std::memory_order_seq_cst)) return;
  rt::Carrier* owner = f->carrier_;
  if (owner == rt::Carrier::current()) {
    owner->cancel(f);
    return;
  }
  // Only the owner may touch the fiber's wait; keep the fiber alive until it has acted.
  f->refs_.fetch_add(1, std::memory_order_relaxed);
  owner->post_cancel(f);
}

}  // namespace detail

RuntimeStats stats() {
  return carrier_or_throw("weft::stats").run().stats();
}

std::string fiber_dump() {
  return carrier_or_throw("weft::fiber_dump").run().describe_fibers();
}

bool in_fiber() noexcept {
  rt::Carrier* c = rt::Carrier::current();
  return c != nullptr && c->running() != nullptr;
}

namespace this_fiber {

void yield() {
  rt::Carrier* c = rt::Carrier::current();
  if (c != nullptr && c->running() != nullptr) c->yield();
}

int sleep_until(Deadline deadline) {
  rt::Carrier* c = rt::Carrier::current();
  detail::FiberControl* self = c != nullptr ? c->running() : nullptr;
  if (self == nullptr) throw std::logic_error("weft::this_fiber::sleep called off a fiber");
  if (self->cancel_seen()) {
    // Let the others run, so a loop that ignores the error still cannot starve them.
    c->yield();
    return -ECANCELED;
  }
  c->describe_wait("sleep", -1, false);
  rt::TimedWait wait(*c, self, deadline);
  wait.block(rt::WaitKind::kTimer, wait.timer(), [] { return false; });
  switch (wait.cause()) {
    case rt::Wake::kDeadline:
      return 0;  // the sleep's own time came
    case rt::Wake::kScope:
      return -ETIMEDOUT;
    case rt::Wake::kInterrupted:
      return -EINTR;
    case rt::Wake::kCancelled:
    case rt::Wake::kNotified:  // nothing else ends a sleep
      break;
  }
  return -ECANCELED;
}

std::uint64_t id() noexcept {
  rt::Carrier* c = rt::Carrier::current();
  return c != nullptr && c->running() != nullptr ? c->running()->id_ : 0;
}

std::string_view name() noexcept {
  rt::Carrier* c = rt::Carrier::current();
  return c != nullptr && c->running() != nullptr ? std::string_view(c->running()->name_)
                                                 : std::string_view();
}

void set_name(std::string_view name) noexcept {
  rt::Carrier* c = rt::Carrier::current();
  if (c == nullptr || c->running() == nullptr) return;
  char* dst = c->running()->name_;
  std::size_t n = std::min(name.size(), detail::FiberControl::kNameSize - 1);
  std::memcpy(dst, name.data(), n);
  dst[n] = '\0';
}

bool cancelled() noexcept {
  rt::Carrier* c = rt::Carrier::current();
  return c != nullptr && c->running() != nullptr && c->running()->cancel_seen();
}

}  // namespace this_fiber
}  // namespace weft
