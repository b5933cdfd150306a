// Fault injection (Config::fault_rate, WEFT_FAULTS): every kind of fault is injected, none loses
// or corrupts data, datagrams are never cut, a reset really ends the connection, a seed
// reproduces a one-carrier run, and rate 0 injects nothing.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;

weft::Config faulty(double rate, std::uint64_t seed = 1) {
  weft::Config c;
  c.carriers = 1;
  c.fault_rate = rate;
  c.fault_seed = seed;
  return c;
}

std::uint8_t pattern(std::size_t i) {
  return static_cast<std::uint8_t>((i * 131) ^ (i >> 9));
}

// transfer() moves `total` patterned bytes through a pipe with plain read/write calls that
// retry EINTR and short counts, and returns how many bytes arrived intact.
std::size_t transfer(std::size_t total) {
  weft_test::Pipe p;
  auto writer = weft::spawn([&] {
    std::vector<std::uint8_t> buf(total);
    for (std::size_t i = 0; i < total; ++i) buf[i] = pattern(i);
    std::size_t put = 0;
    while (put < total) {
      ssize_t r = weft::write(p.w, buf.data() + put, total - put);
      if (r == -EINTR) continue;
      if (r <= 0) return;
      put += static_cast<std::size_t>(r);
    }
  });
  std::size_t got = 0, intact = 0;
  std::vector<std::uint8_t> buf(64 * 1024);
  while (got < total) {
    ssize_t r = weft::read(p.r, buf.data(), buf.size());
    if (r == -EINTR) continue;
    if (r <= 0) break;
    for (ssize_t i = 0; i < r; ++i) intact += buf[static_cast<std::size_t>(i)] == pattern(got + i);
    got += static_cast<std::size_t>(r);
  }
  writer.join();
  return intact;
}

TEST(Faults, StreamsArriveWholeThroughShortCountsAndEintr) {
  constexpr std::size_t kTotal = 4 << 20;
  std::size_t intact = weft::run(faulty(0.2), [] { return transfer(kTotal); });
  EXPECT_EQ(intact, kTotal);
  weft::RuntimeStats s = weft::last_run_stats();
  EXPECT_GT(s.faults_short, 0u);
  EXPECT_GT(s.faults_eintr, 0u);
  EXPECT_EQ(s.faults_reset, 0u);  // pipes cannot be reset
}

TEST(Faults, ReadExactAndWriteAllRetryEintr) {
  weft::run(faulty(0.3), [] {
    // Enough calls that EINTR comes up many times over (each call faults with p = 0.3).
    for (int round = 0; round < 20; ++round) {
      weft_test::Pipe p;
      std::vector<char> out(300000, static_cast<char>('a' + round)), in(out.size());
      auto writer = weft::spawn([&] { return weft::write_all(p.w, out.data(), out.size()); });
      EXPECT_EQ(weft::read_exact(p.r, in.data(), in.size()), static_cast<ssize_t>(in.size()));
      EXPECT_EQ(writer.join(), static_cast<ssize_t>(out.size()));
      EXPECT_EQ(in, out);
    }
  });
  EXPECT_GT(weft::last_run_stats().faults_eintr, 0u);
}

TEST(Faults, PollReportsSpuriousReadiness) {
  int spurious = 0;
  weft::run(faulty(0.5), [&] {
    weft_test::Pipe p;  // nothing is ever written: every POLLIN seen is injected
    for (int i = 0; i < 200; ++i) {
      int r = weft::poll(p.r, POLLIN, 1ms);
      if (r == POLLIN) ++spurious;
    }
  });
  EXPECT_GT(spurious, 0);
  EXPECT_EQ(weft::last_run_stats().faults_spurious, static_cast<std::uint64_t>(spurious));
}

TEST(Faults, ResetEndsTheConnectionForBothSides) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  weft::run(faulty(1.0), [&] {
    // At rate 1 every call faults; about one in 64 is a reset.
    long r = 0;
    for (int i = 0; i < 10000 && r != -ECONNRESET; ++i) r = weft::send(sv[0], "ab", 2);
    ASSERT_EQ(r, -ECONNRESET);
  });
  EXPECT_GT(weft::last_run_stats().faults_reset, 0u);
  // The connection is shut down for real: the peer sees the end, a send fails.
  char c;
  std::size_t before = 0;
  ssize_t n;
  while ((n = ::recv(sv[1], &c, 1, MSG_DONTWAIT)) > 0) ++before;  // what got through first
  EXPECT_EQ(n, 0) << "peer should see end of stream after " << before << " bytes";
  EXPECT_EQ(::send(sv[0], "x", 1, MSG_NOSIGNAL), -1);
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(Faults, DatagramsAreNeverCutOrReset) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
  weft::run(faulty(0.5), [&] {
    char out[100], in[100];
    for (int i = 0; i < 100; ++i) out[i] = static_cast<char>(i);
    for (int m = 0; m < 300; ++m) {
      ssize_t r;
      while ((r = weft::send(sv[0], out, sizeof out)) == -EINTR) {
      }
      ASSERT_EQ(r, 100);
      while ((r = weft::recv(sv[1], in, sizeof in)) == -EINTR) {
      }
      ASSERT_EQ(r, 100);
    }
  });
  EXPECT_EQ(weft::last_run_stats().faults_short, 0u);
  EXPECT_EQ(weft::last_run_stats().faults_reset, 0u);
  EXPECT_GT(weft::last_run_stats().faults_eintr, 0u);
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST(Faults, ASeedReproducesAOneCarrierRun) {
  auto counts = [](std::uint64_t seed) {
    weft::run(faulty(0.2, seed), [] { transfer(1 << 20); });
    weft::RuntimeStats s = weft::last_run_stats();
    return std::vector<std::uint64_t>{s.faults_short, s.faults_eintr};
  };
  // The pipe's own short counts depend on timing only through the kernel's pipe buffer, which
  // one carrier drives in a fixed order: the same seed gives the same faults.
  EXPECT_EQ(counts(7), counts(7));
}

TEST(Faults, RateZeroInjectsNothing) {
  std::size_t intact = weft::run(faulty(0.0), [] { return transfer(1 << 20); });
  EXPECT_EQ(intact, std::size_t{1} << 20);
  weft::RuntimeStats s = weft::last_run_stats();
  EXPECT_EQ(s.faults_short + s.faults_eintr + s.faults_spurious + s.faults_reset, 0u);
}

}  // namespace
