// faults: fault injection for I/O on fibers (Config::fault_rate, WEFT_FAULTS=seed:rate).
//
// Programs must survive what the kernel is allowed to do to them: short reads and writes,
// EINTR, readiness that is gone by the time they look, and peers that reset. Those are rare on
// loopback, so tests that only ever see whole transfers prove little. With a rate set, each I/O
// call a fiber makes is, with that probability, given one such fault instead of (or before) its
// real outcome; the shim's hooks call the same API, so an unmodified program gets them too.
//
// Every fault is one the real call could produce, and none loses data:
// - short: a read or write on a stream (pipe, file, stream socket) asks the kernel for fewer
//   bytes (readv/writev for fewer buffers); datagram sockets are left alone, since a shorter
//   buffer there would truncate the message.
// - eintr: the call fails with -EINTR before it starts (every kind but connect, whose EINTR
//   natively leaves the connection going on in the background).
// - spurious: a poll reports the events it asked for without waiting (as after a race).
// - reset: a data call on a stream socket shuts the connection down both ways and fails with
//   -ECONNRESET, so the connection is really dead from then on, as after a peer's reset.
//
// Off (rate 0, the default) it costs one load and a predictable branch per call. Each carrier
// draws from its own xorshift stream seeded from fault_seed and its index, so one carrier's run
// is reproducible; with several, the interleaving is not.
#pragma once

#include <cstdint>

#include "fiber/fiber_control.hpp"
#include "reactor/reactor.hpp"

namespace weft {
struct RuntimeStats;
}

namespace weft::rt {

// Faults decides, per I/O call, whether and how to inject a fault; one per carrier.
class Faults {
 public:
  // arm() sets the probability (0..1) and this carrier's random stream.
  void arm(double rate, std::uint64_t seed, unsigned carrier_index) noexcept;
  // on() tells whether any fault may be injected.
  bool on() const noexcept { return threshold_ != 0; }
  // inject() may shorten op or decide its result: it returns true with *result set when op
  // must not run at all, false when op runs (possibly shortened).
  bool inject(IoOp& op, long* result) noexcept;
  // add_stats() adds the counts of injected faults to s.
  void add_stats(RuntimeStats& s) const noexcept;

 private:
  std::uint64_t next() noexcept;
  bool shorten(IoOp& op) noexcept;
  bool reset(IoOp& op) noexcept;

  std::uint64_t threshold_ = 0;  // a draw below it injects; 0 is off
  std::uint64_t state_ = 0;
  Relaxed<std::uint64_t> shorts_ = 0;
  Relaxed<std::uint64_t> eintrs_ = 0;
  Relaxed<std::uint64_t> spurious_ = 0;
  Relaxed<std::uint64_t> resets_ = 0;
};

}  // namespace weft::rt
