// select: wait on several channel operations at once, as Go's select statement does.
//
//   auto a = weft::recv_case(requests);
//   auto b = weft::recv_case(quit);
//   auto c = weft::send_case(results, std::move(r));
//   switch (weft::select_for(100ms, a, b, c)) {
//     case 0: handle(*a.value()); break;   // a received a value (or a.closed())
//     case 1: return;                      // quit received a value or was closed
//     case 2: break;                       // r went to results
//     case weft::kSelectTimeout: break;    // nothing within 100 ms; c still holds r
//   }
//
// Exactly one case fires; the others are withdrawn as if they had never been tried, so no
// value is lost or taken twice. When several cases are ready, the first ready one from a random
// starting case (in case order, wrapping) fires, so none starves the others. A receive case fires with a value, or with closed() once its channel is
// closed and drained. A send case fires when its value was sent; one whose channel is closed
// makes select() throw ChannelClosed and keeps its value. Cases may be passed as temporaries
// (a temporary receive case drops what it received) and reused across calls: each call
// forgets what the case held from the last one, except a send case's unsent value.
//
// Errors are those of the blocking channel calls (weft/channel.hpp): select(), select_for() and
// select_until() throw weft::Cancelled and weft::TimedOut; try_select() never blocks or throws
// them.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <weft/channel.hpp>
#include <weft/deadline.hpp>

namespace weft {

// kSelectTimeout is what select_for() and select_until() return when their deadline passed
// before any case could fire.
inline constexpr int kSelectTimeout = -1;
// kSelectDefault is what try_select() returns when no case was ready (Go's default case).
inline constexpr int kSelectDefault = -2;

namespace detail {

// SelectCase is one case handed to the runtime: the channel, the slot and the outcome.
struct SelectCase {
  // core is the case's channel.
  ChannelCore* core;
  // slot is the value to send (T*) or the receiver's result (std::optional<T>*).
  void* slot;
  // send tells a send case from a receive case.
  bool send;
  // status is the outcome of the case that fired: kOk or kClosed.
  ChannelStatus status;
};

// select_wait waits for one of n cases to fire and returns its index, kSelectDefault
// (nonblocking and none ready) or kSelectTimeout.
int select_wait(SelectCase* cases, std::size_t n, const Deadline& deadline, bool nonblocking);

// select_impl erases the cases, waits, and tells the case that fired.
template <class... Cases>
int select_impl(const Deadline& deadline, bool nonblocking, Cases&... cases);

}  // namespace detail

// RecvCase is a select case that receives from a channel; it keeps what it received.
template <class T>
class RecvCase {
 public:
  // RecvCase() makes a case receiving from ch, which must outlive the case's use in select.
  explicit RecvCase(Channel<T>& ch) noexcept : ch_(&ch) {}

  // value() is the value received when the case last fired; empty if it fired on a close.
  std::optional<T>& value() noexcept { return value_; }
  // closed() tells whether the case last fired because its channel was closed and drained.
  bool closed() const noexcept { return closed_; }

 private:
  template <class... Cases>
  friend int detail::select_impl(const Deadline&, bool, Cases&...);

  // erase() resets the case and describes it to the runtime (used by select).
  detail::SelectCase erase() noexcept {
    value_.reset();
    closed_ = false;
    return detail::SelectCase{ch_->core_, &value_, false, ChannelStatus::kOk};
  }
  // fired() records the outcome after the runtime picked this case (used by select).
  void fired(ChannelStatus status) noexcept { closed_ = status == ChannelStatus::kClosed; }

  Channel<T>* ch_;
  std::optional<T> value_;
  bool closed_ = false;
};

// SendCase is a select case that sends a value it owns until the value is sent.
template <class T>
class SendCase {
 public:
  // SendCase() makes a case sending v to ch, which must outlive the case's use in select.
  SendCase(Channel<T>& ch, T v) noexcept(std::is_nothrow_move_constructible_v<T>)
      : ch_(&ch), value_(std::move(v)) {}

  // sent() tells whether the value has been sent.
  bool sent() const noexcept { return !value_.has_value(); }
  // value() is the value still to be sent; empty once sent.
  std::optional<T>& value() noexcept { return value_; }

 private:
  template <class... Cases>
  friend int detail::select_impl(const Deadline&, bool, Cases&...);

  // erase() describes the case to the runtime (used by select); throws std::logic_error if
  // the value was already sent.
  detail::SelectCase erase() {
    if (!value_) throw std::logic_error("weft::select: this send case's value was already sent");
    return detail::SelectCase{ch_->core_, &*value_, true, ChannelStatus::kOk};
  }
  // fired() records the outcome after the runtime picked this case (used by select); throws
  // ChannelClosed if the channel was closed, keeping the value.
  void fired(ChannelStatus status) {
    if (status == ChannelStatus::kClosed) throw ChannelClosed();
    value_.reset();  // moved from by the receiver
  }

  Channel<T>* ch_;
  std::optional<T> value_;
};

// recv_case() makes a case that receives from ch.
template <class T>
RecvCase<T> recv_case(Channel<T>& ch) noexcept {
  return RecvCase<T>(ch);
}

// send_case() makes a case that sends v (copied or moved into the case) to ch.
template <class T, class V>
SendCase<T> send_case(Channel<T>& ch, V&& v) {
  return SendCase<T>(ch, std::forward<V>(v));
}

namespace detail {

template <class... Cases>
int select_impl(const Deadline& deadline, bool nonblocking, Cases&... cases) {
  static_assert(sizeof...(Cases) > 0, "weft::select needs at least one case");
  SelectCase erased[] = {cases.erase()...};
  int i = select_wait(erased, sizeof...(Cases), deadline, nonblocking);
  if (i >= 0) {
    int k = 0;
    // Exactly one case matches i; fired() may throw ChannelClosed, so it runs last.
    (void)((k++ == i ? (cases.fired(erased[i].status), true) : false) || ...);
  }
  return i;
}

}  // namespace detail

// select() blocks until one of the cases fires and returns its index (0 for the first case).
template <class... Cases>
int select(Cases&&... cases) {
  return detail::select_impl(Deadline(), false, cases...);
}

// select_until() is select() giving up at the deadline with kSelectTimeout.
template <class... Cases>
int select_until(Deadline deadline, Cases&&... cases) {
  return detail::select_impl(deadline, false, cases...);
}

// select_for() is select() giving up after the duration with kSelectTimeout.
template <class Rep, class Period, class... Cases>
int select_for(std::chrono::duration<Rep, Period> timeout, Cases&&... cases) {
  return detail::select_impl(Deadline(timeout), false, cases...);
}

// try_select() fires a case that is ready without waiting, or returns kSelectDefault.
template <class... Cases>
int try_select(Cases&&... cases) {
  return detail::select_impl(Deadline(), true, cases...);
}

}  // namespace weft
