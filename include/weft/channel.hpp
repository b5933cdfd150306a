// Channels: typed FIFO queues between fibers, bounded, unbounded or rendezvous, as in Go.
//
// A Channel<T> carries values of T from senders to receivers, in order. A bounded channel
// holds up to capacity() values and send() blocks while it is full; an unbounded one grows and
// never blocks a sender; a rendezvous channel (capacity 0, the default) holds nothing, so each
// send() waits until a receiver takes its value. recv() blocks while the channel is empty.
// Waiting senders and receivers are served first come, first served, and a value offered to a
// waiting receiver is moved straight into that receiver's result, never through the buffer.
//
// close() ends the stream: senders then fail with ChannelClosed, receivers still get the values
// already buffered and then std::nullopt. weft::select (weft/select.hpp) waits on several
// channel operations at once.
//
// Errors: the blocking calls (send, recv, and the _for/_until variants) throw weft::Cancelled
// when the calling fiber is cancelled and weft::TimedOut when an enclosing weft::Timeout scope
// expires, at once if that already happened when they are called. The variants with their own
// deadline report that deadline, and closure, through their return value. try_ variants never
// block and never throw those; close() never blocks and never throws. A blocking call that would
// have to wait throws std::logic_error off a fiber; one that can complete at once works anywhere,
// as do the try_ variants, close() and the queries. A send may throw std::bad_alloc while the
// buffer grows toward its capacity (it starts small), before anything changed.
//
// Lifetime: share a channel between fibers by reference or through std::shared_ptr; it must
// outlive every call made on it (destroying a channel a fiber still waits on aborts the process
// with a message). Destroying it destroys the values still buffered.
//
// T must be nothrow move constructible: a value is moved into a receiver that has already been
// chosen, and a move that failed halfway could not be undone. T's move constructor, and the
// destructor of a moved-from T, run under the channel's internal lock: they must not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

#include <weft/deadline.hpp>

namespace weft {

// ChannelClosed is thrown by send() (and by select() picking a send case) on a closed channel.
class ChannelClosed : public std::runtime_error {
 public:
  // ChannelClosed() makes the exception with a fixed message.
  ChannelClosed() : std::runtime_error("weft: the channel is closed") {}
};

// ChannelStatus is what a channel operation that does not throw on failure reports.
enum class ChannelStatus : std::uint8_t {
  // kOk: the value was sent, or received.
  kOk,
  // kWouldBlock: a try_ operation found the channel full (send) or empty (receive).
  kWouldBlock,
  // kTimeout: the call's own deadline passed before it could complete.
  kTimeout,
  // kClosed: the channel is closed (for a receive: closed and every buffered value taken).
  kClosed,
};

// RecvResult is what try_recv(), recv_for() and recv_until() return: a status and the value.
template <class T>
struct RecvResult {
  // status says whether a value came (kOk) or why not.
  ChannelStatus status = ChannelStatus::kWouldBlock;
  // value holds the received value; it is engaged exactly when status is kOk.
  std::optional<T> value;

  // ok() tells whether a value was received.
  bool ok() const noexcept { return status == ChannelStatus::kOk; }
  // operator bool() tells whether a value was received.
  explicit operator bool() const noexcept { return ok(); }
  // operator*() is the received value; only valid when ok().
  T& operator*() noexcept { return *value; }
  // operator*() is the received value; only valid when ok().
  const T& operator*() const noexcept { return *value; }
  // operator->() reaches into the received value; only valid when ok().
  T* operator->() noexcept { return &*value; }
  // operator->() reaches into the received value; only valid when ok().
  const T* operator->() const noexcept { return &*value; }
};

// UnboundedTag selects the unbounded Channel constructor.
struct UnboundedTag {
  // UnboundedTag() is explicit so that {} does not pick the tag by accident.
  explicit constexpr UnboundedTag() = default;
};
// kUnbounded makes an unbounded channel: Channel<T> ch(weft::kUnbounded).
inline constexpr UnboundedTag kUnbounded{};

template <class T>
class Channel;
template <class T>
class RecvCase;
template <class T>
class SendCase;

namespace detail {

// ChannelOps are the type-specific steps the runtime's channel core calls under its lock:
// value pointers are T* (a sender's value) and out pointers std::optional<T>* (a receiver's).
struct ChannelOps {
  // push moves *value to the back of the buffer; it may throw std::bad_alloc while the buffer
  // grows toward its capacity, and changes nothing then.
  void (*push)(void* buffer, void* value);
  // pop moves the front of the buffer into *out and removes it.
  void (*pop)(void* buffer, void* out) noexcept;
  // give moves *value straight into *out (a sender handing over to a waiting receiver).
  void (*give)(void* value, void* out) noexcept;
};

// kChannelCoreSize is the room a Channel keeps for the runtime's type-erased core.
inline constexpr std::size_t kChannelCoreSize = 80;

// ChannelCore is the runtime's part of a channel: its lock, wait lists and counters.
struct ChannelCore;

// channel_init constructs a core in storage (kChannelCoreSize bytes, pointer-aligned).
ChannelCore* channel_init(void* storage, std::size_t capacity, const ChannelOps* ops,
                          void* buffer) noexcept;
// channel_destroy destroys a core; aborts with a message if a fiber still waits on it.
void channel_destroy(ChannelCore* c) noexcept;
// channel_send sends *value, moving from it only on kOk; nonblocking makes it a try.
ChannelStatus channel_send(ChannelCore* c, void* value, const Deadline& deadline, bool nonblocking);
// channel_recv receives into *out (an empty std::optional<T>); nonblocking makes it a try.
ChannelStatus channel_recv(ChannelCore* c, void* out, const Deadline& deadline, bool nonblocking);
// channel_close closes the channel and wakes every waiter.
void channel_close(ChannelCore* c) noexcept;
// channel_size returns how many values are buffered.
std::size_t channel_size(ChannelCore* c) noexcept;
// channel_closed tells whether close() was called.
bool channel_closed(ChannelCore* c) noexcept;

// RingBuffer is a channel's FIFO storage, growing by doubling up to a maximum; once it holds
// the maximum it never allocates again, so a receiver can refill a full buffer from a waiting
// sender without any chance of failure.
template <class T>
class RingBuffer {
 public:
  // RingBuffer() makes an empty buffer that may hold up to max values.
  explicit RingBuffer(std::size_t max) noexcept : max_(max) {}
  // ~RingBuffer() destroys the values left and frees the storage.
  ~RingBuffer() {
    while (size_ > 0) pop_front();
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, cap_);
  }
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  // push() moves v to the back, growing the storage first if it is full (may throw bad_alloc).
  void push(T&& v) {
    if (size_ == cap_) grow();
    ::new (static_cast<void*>(data_ + wrap(head_ + size_))) T(std::move(v));
    ++size_;
  }
  // pop_into() moves the front value into out and removes it from the buffer.
  void pop_into(std::optional<T>& out) noexcept {
    out.emplace(std::move(data_[head_]));
    pop_front();
  }

 private:
  std::size_t wrap(std::size_t i) const noexcept { return i >= cap_ ? i - cap_ : i; }
  void pop_front() noexcept {
    data_[head_].~T();
    head_ = wrap(head_ + 1);
    --size_;
  }
  void grow() {
    std::size_t cap = cap_ == 0 ? 4 : (cap_ > max_ / 2 ? max_ : cap_ * 2);
    if (cap > max_) cap = max_;
    T* data = std::allocator<T>().allocate(cap);
    for (std::size_t i = 0; i < size_; ++i) {
      T& from = data_[wrap(head_ + i)];
      ::new (static_cast<void*>(data + i)) T(std::move(from));
      from.~T();
    }
    if (data_ != nullptr) std::allocator<T>().deallocate(data_, cap_);
    data_ = data;
    cap_ = cap;
    head_ = 0;
  }

  T* data_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::size_t max_;
};

// ChannelTraits binds ChannelOps to one value type.
template <class T>
struct ChannelTraits {
  // push moves a sender's value into the buffer.
  static void push(void* buffer, void* value) {
    static_cast<RingBuffer<T>*>(buffer)->push(std::move(*static_cast<T*>(value)));
  }
  // pop moves the oldest buffered value into a receiver's result.
  static void pop(void* buffer, void* out) noexcept {
    static_cast<RingBuffer<T>*>(buffer)->pop_into(*static_cast<std::optional<T>*>(out));
  }
  // give moves a sender's value straight into a receiver's result.
  static void give(void* value, void* out) noexcept {
    static_cast<std::optional<T>*>(out)->emplace(std::move(*static_cast<T*>(value)));
  }
  // ops is the table the core calls.
  static constexpr ChannelOps ops{&push, &pop, &give};
};

}  // namespace detail

// Channel is a FIFO of T values shared by fibers; it can be neither copied nor moved.
template <class T>
class Channel {
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "weft::Channel<T> needs a noexcept move constructor (see weft/channel.hpp)");
  static_assert(std::is_nothrow_destructible_v<T>, "weft::Channel<T> needs a noexcept destructor");
  static_assert(!std::is_reference_v<T> && !std::is_const_v<T>,
                "weft::Channel<T> carries plain object types");

 public:
  // value_type is the type of the values carried.
  using value_type = T;

  // Channel() makes a rendezvous channel: capacity 0, each send waits for its receiver.
  Channel() noexcept : Channel(std::size_t{0}) {}
  // Channel(capacity) makes a channel that buffers up to capacity values (0 is a rendezvous).
  explicit Channel(std::size_t capacity) noexcept : buffer_(capacity), capacity_(capacity) {
    core_ = detail::channel_init(&storage_, capacity, &detail::ChannelTraits<T>::ops, &buffer_);
  }
  // Channel(kUnbounded) makes a channel whose buffer grows as needed: send never blocks.
  explicit Channel(UnboundedTag) noexcept : Channel(kUnboundedCapacity) {}
  // ~Channel() destroys the buffered values; no fiber may still be using the channel.
  ~Channel() { detail::channel_destroy(core_); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // kUnboundedCapacity is what capacity() returns for an unbounded channel.
  static constexpr std::size_t kUnboundedCapacity = std::numeric_limits<std::size_t>::max();

  // send() moves v into the channel, blocking while it is full (or, for a rendezvous, until a
  // receiver takes it); throws ChannelClosed if the channel is or gets closed, leaving v intact.
  void send(T&& v) { check_sent(detail::channel_send(core_, &v, Deadline(), false)); }
  // send() copies v into the channel, blocking while it is full; see send(T&&).
  void send(const T& v) {
    T copy(v);
    send(std::move(copy));
  }
  // try_send() sends v if that needs no waiting: kOk, else kWouldBlock or kClosed (v intact).
  ChannelStatus try_send(T&& v) { return detail::channel_send(core_, &v, Deadline(), true); }
  // try_send() sends a copy of v if that needs no waiting; see try_send(T&&).
  ChannelStatus try_send(const T& v) {
    T copy(v);
    return try_send(std::move(copy));
  }
  // send_until() sends v, waiting at most until the deadline: kOk, kTimeout or kClosed; v is
  // moved from only on kOk.
  ChannelStatus send_until(T&& v, Deadline deadline) {
    return detail::channel_send(core_, &v, deadline, false);
  }
  // send_until() sends a copy of v, waiting at most until the deadline; see send_until(T&&).
  ChannelStatus send_until(const T& v, Deadline deadline) {
    T copy(v);
    return send_until(std::move(copy), deadline);
  }
  // send_for() sends v, waiting at most for the duration; returns as send_until() does.
  template <class V, class Rep, class Period>
  ChannelStatus send_for(V&& v, std::chrono::duration<Rep, Period> timeout) {
    return send_until(std::forward<V>(v), Deadline(timeout));
  }

  // recv() takes the oldest value, blocking while the channel is empty; std::nullopt once the
  // channel is closed and drained.
  std::optional<T> recv() {
    std::optional<T> out;
    detail::channel_recv(core_, &out, Deadline(), false);
    return out;
  }
  // try_recv() takes the oldest value if there is one: kOk, else kWouldBlock or kClosed.
  RecvResult<T> try_recv() {
    RecvResult<T> r;
    r.status = detail::channel_recv(core_, &r.value, Deadline(), true);
    return r;
  }
  // recv_until() takes the oldest value, waiting at most until the deadline: kOk with the
  // value, kTimeout, or kClosed once the channel is closed and drained.
  RecvResult<T> recv_until(Deadline deadline) {
    RecvResult<T> r;
    r.status = detail::channel_recv(core_, &r.value, deadline, false);
    return r;
  }
  // recv_for() takes the oldest value, waiting at most for the duration; see recv_until().
  template <class Rep, class Period>
  RecvResult<T> recv_for(std::chrono::duration<Rep, Period> timeout) {
    return recv_until(Deadline(timeout));
  }

  // close() closes the channel: waiting senders throw ChannelClosed, waiting receivers get
  // std::nullopt once the buffer is drained; closing again does nothing.
  void close() noexcept { detail::channel_close(core_); }
  // size() returns how many values are buffered now (always 0 for a rendezvous channel).
  std::size_t size() const noexcept { return detail::channel_size(core_); }
  // capacity() returns the buffer's capacity: 0 for a rendezvous, kUnboundedCapacity if unbounded.
  std::size_t capacity() const noexcept { return capacity_; }
  // closed() tells whether close() has been called.
  bool closed() const noexcept { return detail::channel_closed(core_); }

 private:
  friend class RecvCase<T>;
  friend class SendCase<T>;

  static void check_sent(ChannelStatus s) {
    if (s == ChannelStatus::kClosed) throw ChannelClosed();
  }

  detail::RingBuffer<T> buffer_;
  std::size_t capacity_;
  alignas(void*) unsigned char storage_[detail::kChannelCoreSize];
  detail::ChannelCore* core_ = nullptr;
};

}  // namespace weft
