#include "reactor/faults.hpp"
#include "base/sys.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cmath>

#include <weft/runtime.hpp>

namespace weft::rt {
namespace {

bool is_data(OpKind k) noexcept {
  switch (k) {
    case OpKind::kRead:
    case OpKind::kWrite:
    case OpKind::kReadv:
    case OpKind::kWritev:
    case OpKind::kRecv:
    case OpKind::kSend:
    case OpKind::kRecvmsg:
    case OpKind::kSendmsg:
      return true;
    default:
      return false;
  }
}

// socket_type() is fd's SO_TYPE, 0 for an fd that is no socket (through syscall(2): the shim
// interposes nothing here, but the runtime calls libc's socket functions nowhere).
int socket_type(int fd) noexcept {
  int type = 0;
  socklen_t len = sizeof type;
  if (sys::call(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) return 0;
  return type;
}

}  // namespace

void Faults::arm(double rate, std::uint64_t seed, unsigned carrier_index) noexcept {
  if (!(rate > 0)) {
    threshold_ = 0;
    return;
  }
  // rate * 2^64, saturating: a draw below it injects.
  threshold_ = rate >= 1 ? ~std::uint64_t{0} : static_cast<std::uint64_t>(std::ldexp(rate, 64));
  if (threshold_ == 0) threshold_ = 1;
  // splitmix64 of the seed and the index, so neighbouring seeds and carriers diverge at once.
  std::uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (carrier_index + 1);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  state_ = (z ^ (z >> 31)) | 1;  // xorshift must not start at 0
}

std::uint64_t Faults::next() noexcept {
  std::uint64_t x = state_;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  state_ = x;
  return x;
}

bool Faults::shorten(IoOp& op) noexcept {
  switch (op.kind) {
    case OpKind::kRead:
    case OpKind::kWrite:
    case OpKind::kRecv:
    case OpKind::kSend:
    case OpKind::kReadv:
    case OpKind::kWritev:
      break;
    default:
      return false;  // msghdr calls would need a copy of the header; left whole
  }
  if (op.len < 2) return false;
  int type = socket_type(op.fd);
  if (type != 0 && type != SOCK_STREAM) return false;
  op.len = 1 + next() % (op.len - 1);
  shorts_ = shorts_ + 1;
  return true;
}

bool Faults::reset(IoOp& op) noexcept {
  if (!is_data(op.kind) || socket_type(op.fd) != SOCK_STREAM) return false;
  if (sys::call(SYS_shutdown, op.fd, SHUT_RDWR) != 0) return false;  // not connected
  resets_ = resets_ + 1;
  return true;
}

bool Faults::inject(IoOp& op, long* result) noexcept {
  if (next() >= threshold_) return false;
  if (op.kind == OpKind::kConnect) return false;
  if (op.kind == OpKind::kPoll) {
    short ready = static_cast<short>(op.events & (POLLIN | POLLOUT | POLLPRI));
    if (ready == 0) return false;
    spurious_ = spurious_ + 1;
    *result = ready;
    return true;
  }
  // Shortening is the most useful fault and the commonest natively: half the faults; EINTR
  // most of the rest; a reset ends the connection, so it is rare (1 in 64), or a long transfer
  // would hardly ever finish.
  std::uint64_t pick = next() % 64;
  if (pick < 32 && shorten(op)) return false;
  if (pick == 63 && reset(op)) {
    *result = -ECONNRESET;
    return true;
  }
  eintrs_ = eintrs_ + 1;
  *result = -EINTR;
  return true;
}

void Faults::add_stats(RuntimeStats& s) const noexcept {
  s.faults_short += shorts_;
  s.faults_eintr += eintrs_;
  s.faults_spurious += spurious_;
  s.faults_reset += resets_;
}

}  // namespace weft::rt
