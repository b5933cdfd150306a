#include "carrier.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <typeinfo>

#include <cxxabi.h>

#include "overflow.hpp"
#include "sys.hpp"
#include "uring_reactor.hpp"

namespace weft::rt {

constinit thread_local Carrier* tls_carrier __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

std::atomic<std::uint64_t> g_next_fiber_id{1};

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

void validate(const Config& c) {
  validate_stack_size(c.stack_size, "weft::Config::stack_size");
  // The completion queue is four times the submission queue, and the kernel caps it at 65536.
  if (c.ring_entries == 0 || c.ring_entries > 16384) {
    throw std::invalid_argument("weft::Config::ring_entries must be in 1..16384, got " +
                                std::to_string(c.ring_entries));
  }
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

}  // namespace

Carrier::Carrier(const Config& config)
    : config_((validate(config), config)),
      stacks_(config.stack_size, config.guard_pages, config.stack_cache) {
  if (tls_carrier != nullptr) {
    throw std::logic_error("weft::run: this thread is already running weft::run");
  }
  reactor_ = std::make_unique<UringReactor>(config.ring_entries);
  install_overflow_handler();
  altstack_ = install_altstack();
  eh_ = thread_eh_state();
  san::on_carrier_start(sched_slot_.san);
  tls_carrier = this;
}

Carrier::~Carrier() {
  // A notifier on another thread may still be inside post() for mail this carrier has already
  // taken; its window is a few instructions and at most one eventfd write.
  while (posting_.load(std::memory_order_acquire) != 0) sys::yield_thread();
  tls_carrier = nullptr;
  remove_altstack(altstack_);
}

FiberControl* Carrier::spawn(const detail::SpawnRequest& req) {
  if (req.stack_size != 0) validate_stack_size(req.stack_size, "weft::SpawnOptions::stack_size");
  StackSpan stack = stacks_.allocate(req.stack_size);
  char* control = align_down(stack.top() - sizeof(FiberControl), alignof(FiberControl));
  char* body = align_down(control - req.body_size, std::max<std::size_t>(req.body_align, 16));
  if (body < stack.base + stack.size / 2) {
    stacks_.release(stack);
    throw std::length_error("weft::spawn: the callable and its arguments (" +
                            std::to_string(req.body_size) +
                            " bytes) take more than half of the fiber's stack");
  }
  auto* f = new (control) FiberControl();
  try {
    f->body_ = req.place(body, req.arg);
  } catch (...) {
    f->~FiberControl();
    stacks_.release(stack);
    throw;
  }
  // Frames start below the body; the lowest 16 bytes stay free for an unguarded stack's canary.
  char* sp = align_down(body, 16);
  f->slot_.ctx = make_context(sp, static_cast<std::size_t>(sp - stack.base - 16), &fiber_entry);
  f->stack_ = stack;
  f->carrier_ = this;
  f->id_ = g_next_fiber_id.fetch_add(1, std::memory_order_relaxed);
  std::size_t n = std::min(req.name.size(), FiberControl::kNameSize - 1);
  if (n > 0) std::memcpy(f->name_, req.name.data(), n);
  f->name_[n] = '\0';
  san::on_spawn(f->slot_.san, stack.base, stack.size, f->name_);
  f->cancelled_ = shutting_down_;
  f->all_next_ = all_head_;
  if (all_head_ != nullptr) all_head_->all_prev_ = f;
  all_head_ = f;
  ++unfinished_;
  ++live_;
  ++created_;
  f->state_ = FiberState::kReady;
  run_queue_.push(f);
  return f;
}

void Carrier::fiber_entry(Transfer t) {
  san::finish_switch(san::FakeStack{}, static_cast<ContextSlot*>(t.data)->san);
  Carrier* c = tls_carrier;
  *c->eh_ = EhState{};  // a new fiber has caught nothing, whatever its resumer had
  c->after_switch(t);
  FiberControl* self = c->running_;
  try {
    self->body_->run();
  } catch (...) {
    self->error_ = std::current_exception();
  }
  c->finish(self);
}

void Carrier::after_switch(Transfer t) noexcept {
  static_cast<ContextSlot*>(t.data)->ctx = t.from;
  if (to_free_ != nullptr) {
    destroy(std::exchange(to_free_, nullptr));
  }
}

Transfer Carrier::switch_to(ContextSlot* to, ContextSlot* from) noexcept {
  // The exception state is saved in this frame, which stays put while the context is suspended.
  EhState mine = *eh_;
  ++switches_;
  san::FakeStack fake;
  san::start_switch(fake, from->san, to->san);
  Transfer t = jump(to->ctx, from);
  san::finish_switch(fake, static_cast<ContextSlot*>(t.data)->san);
  *eh_ = mine;
  return t;
}

void Carrier::resume(ContextSlot* from, FiberControl* next) noexcept {
  running_ = next;
  next->state_ = FiberState::kRunning;
  after_switch(switch_to(&next->slot_, from));
}

void Carrier::switch_away(FiberControl* self) noexcept {
  if (!StackPool::canary_intact(self->stack_)) overflow_abort(self);
  FiberControl* next = nullptr;
  if (handoffs_ < kTick) next = run_queue_.pop();
  if (next != nullptr) {
    ++handoffs_;
    resume(&self->slot_, next);
  } else {
    running_ = nullptr;
    after_switch(switch_to(&sched_slot_, &self->slot_));
  }
}

void Carrier::block(WaitKind kind, void* obj) noexcept {
  FiberControl* self = running_;
  self->state_ = FiberState::kBlocked;
  self->wait_kind_ = kind;
  self->wait_obj_ = obj;
  switch_away(self);
  self->wait_kind_ = WaitKind::kNone;
  self->wait_obj_ = nullptr;
}

void Carrier::ready(FiberControl* f) noexcept {
  if (f->state_ != FiberState::kBlocked) return;
  f->state_ = FiberState::kReady;
  run_queue_.push(f);
}

void Carrier::yield() noexcept {
  FiberControl* self = running_;
  // Alone, a yield is free, but it still counts toward the tick: a fiber spinning on yield must
  // not keep the scheduler from submitting I/O, reaping completions and expiring timers.
  if (run_queue_.empty() && handoffs_ < kTick) {
    ++handoffs_;
    return;
  }
  self->state_ = FiberState::kReady;
  run_queue_.push(self);
  switch_away(self);
}

void Carrier::cancel(FiberControl* f) noexcept {
  if (f->state_ == FiberState::kDone || f->cancelled_) return;
  f->cancelled_ = true;
  if (f->state_ != FiberState::kBlocked) return;
  switch (f->wait_kind_) {
    case WaitKind::kIo:
      reactor_->cancel(static_cast<IoOp*>(f->wait_obj_));
      break;
    case WaitKind::kTimer:
      timers_.remove(static_cast<TimerNode*>(f->wait_obj_));
      ready(f);
      break;
    case WaitKind::kPark:  // park() sees cancelled_ and unlinks itself
      ready(f);
      break;
    case WaitKind::kJoin:   // join waits for a fiber that is itself cancelled at shutdown
    case WaitKind::kClose:  // close waits only for operations it already cancelled
    case WaitKind::kNone:
      break;
  }
}

void Carrier::release(FiberControl* f) noexcept {
  if (f->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) destroy(f);
}

void Carrier::destroy_body(FiberControl* f) noexcept {
  if (f->body_ == nullptr) return;
  if (f->error_ && !f->error_observed_) report_uncaught(f);
  f->error_ = nullptr;
  f->body_->~FiberBody();
  f->body_ = nullptr;
}

void Carrier::destroy(FiberControl* f) noexcept {
  destroy_body(f);
  StackSpan stack = f->stack_;
  san::on_destroy(f->slot_.san);
  f->~FiberControl();
  stacks_.release(stack);
  --live_;
}

void Carrier::finish(FiberControl* self) noexcept {
  // Detached: nobody will take the result, so destroy it (and an unjoined exception) here, on
  // the fiber itself, where its destructors may still make weft calls.
  if (self->refs_.load(std::memory_order_acquire) == 1) destroy_body(self);
  if (!StackPool::canary_intact(self->stack_)) overflow_abort(self);
  self->state_ = FiberState::kDone;
  if (self->all_prev_ != nullptr) {
    self->all_prev_->all_next_ = self->all_next_;
  } else {
    all_head_ = self->all_next_;
  }
  if (self->all_next_ != nullptr) self->all_next_->all_prev_ = self->all_prev_;
  --unfinished_;
  if (self->joiner_ != nullptr) ready(self->joiner_);
  if (self->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) to_free_ = self;
  // Never resumed: whoever runs next frees this stack once the switch is done.
  san::on_finish(self->slot_.san);
  switch_away(self);
  std::abort();
}

void Carrier::begin_shutdown() noexcept {
  shutting_down_ = true;
  for (FiberControl* f = all_head_; f != nullptr; f = f->all_next_) cancel(f);
}

void Carrier::expire_timers() noexcept {
  if (timers_.empty()) return;
  Clock::time_point now = Clock::now();
  while (TimerNode* n = timers_.pop_expired(now)) {
    if (n->op != nullptr) {
      reactor_->cancel(n->op);
    } else {
      ready(n->fiber);
    }
  }
}

void Carrier::post(Waiter* w) noexcept {
  // Counted before the mail goes in: once it is in, this carrier may finish and be destroyed.
  posting_.fetch_add(1, std::memory_order_seq_cst);
  Waiter* head = mail_.load(std::memory_order_relaxed);
  do {
    w->mail_next = head;
  } while (!mail_.compare_exchange_weak(head, w, std::memory_order_seq_cst,
                                        std::memory_order_relaxed));
  // Pairs with run(): it sets sleeping_ and then re-checks mail_, both seq_cst, so either it
  // sees this mail or this sees it sleeping.
  if (sleeping_.load(std::memory_order_seq_cst) && sleeping_.exchange(false)) reactor_->wake();
  posting_.fetch_sub(1, std::memory_order_release);
}

bool Carrier::drain_mail() noexcept {
  if (mail_.load(std::memory_order_relaxed) == nullptr) return false;
  Waiter* list = mail_.exchange(nullptr, std::memory_order_acquire);
  // The stack holds the newest first; reverse it so fibers wake in the order they were notified.
  Waiter* fifo = nullptr;
  while (list != nullptr) {
    Waiter* next = list->mail_next;
    list->mail_next = fifo;
    fifo = list;
    list = next;
  }
  while (fifo != nullptr) {
    Waiter* next = fifo->mail_next;  // read first: once notified, the waiter's frame may go
    FiberControl* f = fifo->fiber;
    fifo->notified = true;
    ready(f);
    fifo = next;
  }
  return true;
}

void Carrier::deadlock() noexcept {
  std::string msg = "weft: deadlock: every fiber is blocked and nothing can wake one:\n";
  for (FiberControl* f = all_head_; f != nullptr; f = f->all_next_) {
    msg += "  fiber " + std::to_string(f->id_) + " \"" + f->name_ + "\"" +
           (f->wait_kind_ == WaitKind::kJoin ? " waits in join\n" : " is blocked\n");
  }
  sys::write_stderr(msg.c_str());
  std::abort();
}

void Carrier::run(FiberControl* main) {
  main_ = main;
  FiberQueue completed;
  for (;;) {
    drain_mail();
    if (!shutting_down_ && main_->state_ == FiberState::kDone) begin_shutdown();
    if (shutting_down_ && unfinished_ == 0) break;
    bool block = run_queue_.empty();
    if (block) {
      sleeping_.store(true, std::memory_order_seq_cst);
      if (mail_.load(std::memory_order_seq_cst) != nullptr) {
        sleeping_.store(false, std::memory_order_relaxed);
        continue;
      }
    }
    Deadline until = timers_.empty() ? Deadline() : Deadline(timers_.next_deadline());
    if (block && !until.is_set() && reactor_->inflight() == 0 &&
        external_.load(std::memory_order_acquire) == 0) {
      deadlock();
    }
    reactor_->poll(block, until, completed);
    sleeping_.store(false, std::memory_order_relaxed);
    run_queue_.splice(completed);
    drain_mail();
    expire_timers();
    handoffs_ = 0;
    if (FiberControl* next = run_queue_.pop()) resume(&sched_slot_, next);
  }
}

RuntimeStats Carrier::stats() const noexcept {
  RuntimeStats s;
  s.fibers_live = live_;
  s.fibers_created = created_;
  s.switches = switches_;
  s.stacks_in_use = stacks_.in_use();
  s.stacks_cached = stacks_.cached();
  s.stacks_cold = stacks_.cold();
  s.stack_bytes_mapped = stacks_.bytes_mapped();
  s.guard_mode = stacks_.guard_mode();
  s.io_submitted = reactor_->submitted();
  s.io_inflight = reactor_->inflight();
  s.timers_pending = timers_.size();
  s.ring_setup_flags = reactor_->setup_flags();
  return s;
}

}  // namespace weft::rt
