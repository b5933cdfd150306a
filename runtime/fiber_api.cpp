// The public fiber API (weft/fiber.hpp, weft/runtime.hpp) on top of the carrier.
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <weft/fiber.hpp>
#include <weft/runtime.hpp>

#include "blocking_pool.hpp"
#include "carrier.hpp"

namespace weft {
namespace {

thread_local RuntimeStats tls_last_stats;

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
  return carrier_or_throw("weft::spawn").spawn(req);
}

FiberBody* join_fiber(FiberControl*& handle) {
  FiberControl* f = handle;
  rt::Carrier& c = carrier_or_throw("weft::Fiber::join");
  FiberControl* self = c.running();
  if (self == nullptr) throw std::logic_error("weft::Fiber::join called off a fiber");
  if (self == f) throw std::logic_error("weft::Fiber::join: a fiber cannot join itself");
  if (f->state_ != rt::FiberState::kDone) {
    f->joiner_ = self;
    while (f->state_ != rt::FiberState::kDone) c.block(rt::WaitKind::kJoin, f);
    f->joiner_ = nullptr;
  }
  f->error_observed_ = true;
  if (f->error_) {
    std::exception_ptr e = f->error_;
    handle = nullptr;
    c.release(f);
    std::rethrow_exception(e);
  }
  return f->body_;
}

void release_fiber(FiberControl* f) noexcept {
  f->carrier_->release(f);
}

std::uint64_t fiber_id(const FiberControl* f) noexcept {
  return f->id_;
}

bool fiber_done(const FiberControl* f) noexcept {
  return f->state_ == rt::FiberState::kDone;
}

void cancel_fiber(FiberControl* f) noexcept {
  f->carrier_->cancel(f);
}

void run_main(const Config& config, const SpawnRequest& main) {
  rt::Carrier carrier(config);
  // Declared after the carrier, so its threads are joined before the carrier goes: a helper
  // thread may still be inside Carrier::post() just after its last notify.
  rt::BlockingPool blocking(config);
  FiberControl* f = carrier.spawn(main);
  carrier.run(f);
  // main's body reports through run()'s frame, so its handle is dropped unobserved.
  f->error_observed_ = true;
  carrier.release(f);
  tls_last_stats = carrier.stats();
}

}  // namespace detail

RuntimeStats stats() {
  return carrier_or_throw("weft::stats").stats();
}

RuntimeStats last_run_stats() noexcept {
  return tls_last_stats;
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
  if (self->cancelled_) {
    // Let the others run, so a loop that ignores the error still cannot starve them.
    c->yield();
    return -ECANCELED;
  }
  Clock::time_point own = deadline.is_set() ? deadline.at() : Clock::time_point::max();
  bool scope_first = self->scope_deadline_ < own;
  rt::TimerNode node;
  node.deadline = scope_first ? self->scope_deadline_ : own;
  node.fiber = self;
  if (node.deadline != Clock::time_point::max()) c->timers().add(&node);
  while (!node.fired && !self->cancelled_) c->block(rt::WaitKind::kTimer, &node);
  c->timers().remove(&node);
  if (!node.fired) return -ECANCELED;
  return scope_first ? -ETIMEDOUT : 0;
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
  return c != nullptr && c->running() != nullptr && c->running()->cancelled_;
}

}  // namespace this_fiber
}  // namespace weft
