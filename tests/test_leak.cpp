// Leak checks: after weft_test::run() returns, last_run_stats() must show nothing left behind
// (no live fibers, no stacks in use, no I/O in flight, no armed timers), in every way a fiber
// can end: joined, detached, dropped handles, thrown exceptions, cancelled at shutdown while
// blocked. Also checks that results and exceptions nobody collected are destroyed, that fds
// are not leaked, and that repeated runs do not grow the address-space map.
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weft/weft.hpp>

#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using weft::Clock;

using weft_test::count_fds;

constexpr long kUnset = LONG_MIN;

// Counted counts its live instances, to catch results and exceptions that are never destroyed.
struct Counted {
  static inline int live = 0;
  int value;
  explicit Counted(int v) : value(v) { ++live; }
  Counted(const Counted& o) : value(o.value) { ++live; }
  Counted(Counted&& o) noexcept : value(o.value) { ++live; }
  Counted& operator=(const Counted&) = default;
  ~Counted() { --live; }
};

// Outcome collects what a scenario's fibers reported, what they should have reported, and the
// fds to close once run() has returned.
struct Outcome {
  std::vector<long> got;
  std::vector<long> want;
  std::vector<int> fds;
  int spawned = 0;

  // expect registers one result slot that should end up holding want_value.
  std::size_t expect(long want_value) {
    want.push_back(want_value);
    got.push_back(kUnset);
    return want.size() - 1;
  }
  // pipe makes a pipe whose ends are closed after run().
  std::pair<int, int> pipe() {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    fds.push_back(p[0]);
    fds.push_back(p[1]);
    return {p[0], p[1]};
  }
  // listener makes a loopback TCP listener that is closed after run().
  int listener() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd, 16) != 0) {
      throw std::runtime_error("listener");
    }
    fds.push_back(fd);
    return fd;
  }
};

// spawn_counted spawns f and counts it in the outcome.
template <class F>
auto spawn_counted(Outcome& o, F&& f) {
  ++o.spawned;
  return weft::spawn(std::forward<F>(f));
}

// wait_until sleeps until pred() holds or 20 s pass (a cap for a broken runtime only: with a
// sanitized build on a loaded machine, a few seconds is not enough margin).
template <class Pred>
void wait_until(Pred pred) {
  auto until = Clock::now() + 20s;
  while (!pred() && Clock::now() < until) weft::this_fiber::sleep_for(1ms);
}

// count_mappings returns how many lines /proc/self/maps has.
int count_mappings() {
  FILE* f = std::fopen("/proc/self/maps", "r");
  if (f == nullptr) return -1;
  int n = 0;
  for (int c; (c = std::fgetc(f)) != EOF;) n += c == '\n';
  std::fclose(f);
  return n;
}

struct Scenario {
  const char* name;
  std::function<void(Outcome&)> main;
  bool main_throws = false;
};

// PrintTo shows a scenario by name in gtest messages.
void PrintTo(const Scenario& s, std::ostream* os) {
  *os << s.name;
}

// Each scenario runs as weft_test::run()'s main function.

void joined(Outcome& o) {
  std::vector<weft::Fiber<int>> fs;
  for (int i = 0; i < 100; ++i) {
    fs.push_back(spawn_counted(o, [i] {
      weft::this_fiber::yield();
      return i;
    }));
  }
  long sum = 0;
  for (auto& f : fs) sum += f.join();
  o.got[o.expect(4950)] = sum;
}

void detached_run_to_completion(Outcome& o) {
  int done = 0;
  for (int i = 0; i < 50; ++i) {
    spawn_counted(o, [&done] {
      weft::this_fiber::sleep_for(1ms);
      ++done;
    }).detach();
  }
  wait_until([&] { return done == 50; });
  o.got[o.expect(50)] = done;
}

void dropped_handles_of_finished_fibers(Outcome& o) {
  // Results nobody joined must be destroyed with their fibers.
  std::vector<weft::Fiber<Counted>> fs;
  for (int i = 0; i < 50; ++i) fs.push_back(spawn_counted(o, [i] { return Counted(i); }));
  wait_until([&] {
    for (auto& f : fs) {
      if (!f.done()) return false;
    }
    return true;
  });
  o.got[o.expect(50)] = Counted::live;
  fs.clear();
}

void dropped_handles_of_running_fibers(Outcome& o) {
  int done = 0;
  for (int i = 0; i < 50; ++i) {
    auto f = spawn_counted(o, [&done] {
      weft::this_fiber::sleep_for(2ms);
      ++done;
      return Counted(1);
    });
  }
  wait_until([&] { return done == 50; });
}

void threw_and_joined(Outcome& o) {
  std::vector<weft::Fiber<int>> fs;
  for (int i = 0; i < 20; ++i) {
    fs.push_back(spawn_counted(o, [i]() -> int {
      weft::this_fiber::yield();
      throw Counted(i);
    }));
  }
  long caught = 0;
  for (auto& f : fs) {
    try {
      f.join();
    } catch (const Counted&) {
      ++caught;
    }
  }
  o.got[o.expect(20)] = caught;
}

void threw_with_handle_dropped(Outcome& o) {
  // Exceptions nobody joins are destroyed with their fibers.
  int started = 0;
  for (int i = 0; i < 20; ++i) {
    spawn_counted(o, [&started, i] {
      ++started;
      weft::this_fiber::yield();
      throw Counted(i);
    });
  }
  wait_until([&] { return started == 20; });
  weft::this_fiber::yield();
}

void cancelled_at_shutdown_in_sleep(Outcome& o) {
  for (int i = 0; i < 20; ++i) {
    auto slot = o.expect(-ECANCELED);
    spawn_counted(o, [&o, slot] { o.got[slot] = weft::this_fiber::sleep_for(1h); });
  }
  weft::this_fiber::yield();
}

void cancelled_at_shutdown_in_read(Outcome& o) {
  int r = o.pipe().first;
  for (int i = 0; i < 5; ++i) {
    auto slot = o.expect(-ECANCELED);
    spawn_counted(o, [&o, slot, r] {
      char buf[8];
      o.got[slot] = weft::read(r, buf, sizeof buf);
    });
  }
  auto slot = o.expect(-ECANCELED);
  spawn_counted(o, [&o, slot, r] {
    char buf[8];
    o.got[slot] = weft::read(r, buf, sizeof buf, 1h);  // I/O and a timer both pending
  });
  weft::this_fiber::sleep_for(2ms);
}

void cancelled_at_shutdown_in_write(Outcome& o) {
  int w = o.pipe().second;
  auto slot = o.expect(-ECANCELED);
  spawn_counted(o, [&o, slot, w] {
    std::vector<char> big(1 << 20, 'x');  // more than a pipe holds
    o.got[slot] = weft::write_all(w, big.data(), big.size());
  });
  weft::this_fiber::sleep_for(2ms);
}

void cancelled_at_shutdown_in_accept_and_poll(Outcome& o) {
  int l = o.listener();
  auto s1 = o.expect(-ECANCELED);
  spawn_counted(o, [&o, s1, l] { o.got[s1] = weft::accept(l); });
  auto s2 = o.expect(-ECANCELED);
  spawn_counted(o, [&o, s2, l] { o.got[s2] = weft::poll(l, POLLIN); });
  auto s3 = o.expect(-ECANCELED);
  spawn_counted(o, [&o, s3, l] { o.got[s3] = weft::poll(l, POLLIN, 1h); });
  weft::this_fiber::sleep_for(2ms);
}

void cancelled_at_shutdown_in_join(Outcome& o) {
  auto slot = o.expect(-ECANCELED);
  spawn_counted(o, [&o, slot] {
    ++o.spawned;
    auto inner = weft::spawn([] { return weft::this_fiber::sleep_for(1h); });
    o.got[slot] = inner.join();
  });
  weft::this_fiber::yield();
}

void uncollected_result_of_cancelled_fiber(Outcome& o) {
  for (int i = 0; i < 10; ++i) {
    spawn_counted(o, [] {
      weft::this_fiber::sleep_for(1h);
      return Counted(7);
    });
  }
  weft::this_fiber::yield();
}

void closed_while_blocked(Outcome& o) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  o.fds.push_back(p[1]);
  auto slot = o.expect(-EBADF);
  auto f = spawn_counted(o, [&o, slot, r = p[0]] {
    char c;
    o.got[slot] = weft::read(r, &c, 1);
  });
  weft::this_fiber::sleep_for(2ms);
  weft::close(p[0]);
  f.join();
}

void main_throws_with_fibers_blocked(Outcome& o) {
  int r = o.pipe().first;
  auto s1 = o.expect(-ECANCELED);
  spawn_counted(o, [&o, s1, r] {
    char c;
    o.got[s1] = weft::read(r, &c, 1);
  });
  auto s2 = o.expect(-ECANCELED);
  spawn_counted(o, [&o, s2] { o.got[s2] = weft::this_fiber::sleep_for(1h); });
  weft::this_fiber::sleep_for(2ms);
  throw std::runtime_error("main failed");
}

void ten_thousand_mixed(Outcome& o) {
  // ThreadSanitizer tracks each fiber as a thread: it dies past 8128 live ones and keeps about
  // 850 KiB for each.
#if defined(__SANITIZE_THREAD__)
  constexpr int kFibers = 1000;
#else
  constexpr int kFibers = 10000;
#endif
  int r = o.pipe().first;
  for (int i = 0; i < kFibers; ++i) {
    ++o.spawned;
    switch (i % 4) {
      case 0:
        weft::spawn([] { weft::this_fiber::sleep_for(1h); });
        break;
      case 1:
        weft::spawn([r] {
          char c;
          weft::read(r, &c, 1, 1h);
        });
        break;
      case 2:
        weft::spawn([] { weft::this_fiber::yield(); });
        break;
      default:
        weft::spawn([] { throw std::logic_error("x"); });
        break;
    }
  }
  weft::this_fiber::sleep_for(2ms);
}

std::vector<Scenario> scenarios() {
  return {
      {"Joined", joined},
      {"DetachedRunToCompletion", detached_run_to_completion},
      {"DroppedHandlesOfFinishedFibers", dropped_handles_of_finished_fibers},
      {"DroppedHandlesOfRunningFibers", dropped_handles_of_running_fibers},
      {"ThrewAndJoined", threw_and_joined},
      {"ThrewWithHandleDropped", threw_with_handle_dropped},
      {"CancelledAtShutdownInSleep", cancelled_at_shutdown_in_sleep},
      {"CancelledAtShutdownInRead", cancelled_at_shutdown_in_read},
      {"CancelledAtShutdownInWrite", cancelled_at_shutdown_in_write},
      {"CancelledAtShutdownInAcceptAndPoll", cancelled_at_shutdown_in_accept_and_poll},
      {"CancelledAtShutdownInJoin", cancelled_at_shutdown_in_join},
      {"UncollectedResultOfCancelledFiber", uncollected_result_of_cancelled_fiber},
      {"ClosedWhileBlocked", closed_while_blocked},
      {"MainThrowsWithFibersBlocked", main_throws_with_fibers_blocked, true},
      {"TenThousandMixed", ten_thousand_mixed},
  };
}

class LeakTest : public ::testing::TestWithParam<Scenario> {};

TEST_P(LeakTest, NothingLeftAfterRun) {
  const Scenario& sc = GetParam();
  Counted::live = 0;
  Outcome o;
  int fds_before = weft_test::count_fds();
  auto t0 = Clock::now();
  if (sc.main_throws) {
    EXPECT_THROW(weft_test::run([&] { sc.main(o); }), std::runtime_error);
  } else {
    weft_test::run([&] { sc.main(o); });
  }
  EXPECT_LT(Clock::now() - t0, 20s + weft_test::kPrompt);
  for (int fd : o.fds) ::close(fd);

  auto s = weft::last_run_stats();
  EXPECT_EQ(s.fibers_live, 0u);
  EXPECT_EQ(s.stacks_in_use, 0u);
  EXPECT_EQ(s.io_inflight, 0u);
  EXPECT_EQ(s.timers_pending, 0u);
  EXPECT_GE(s.fibers_created, static_cast<std::uint64_t>(o.spawned));
  EXPECT_GT(s.switches, 0u);
  EXPECT_EQ(Counted::live, 0) << "results or exceptions were not destroyed";
  EXPECT_EQ(o.got, o.want);
  EXPECT_EQ(weft_test::count_fds(), fds_before) << "fds leaked";
}

INSTANTIATE_TEST_SUITE_P(Scenarios, LeakTest, ::testing::ValuesIn(scenarios()),
                         [](const ::testing::TestParamInfo<Scenario>& info) {
                           return std::string(info.param.name);
                         });

TEST(Leak, StatsStartFreshEachRun) {
  weft_test::run([] {
    for (int i = 0; i < 10; ++i) weft::spawn([] { weft::this_fiber::sleep_for(1h); });
    weft::this_fiber::yield();
    EXPECT_GE(weft::stats().timers_pending, 10u);
  });
  auto first = weft::last_run_stats();
  EXPECT_GE(first.fibers_created, 10u);
  weft_test::run([] {
    auto s = weft::stats();
    EXPECT_EQ(s.timers_pending, 0u);
    EXPECT_EQ(s.io_inflight, 0u);
    EXPECT_LE(s.fibers_created, 1u);
    EXPECT_LE(s.fibers_live, 1u);
  });
  EXPECT_LE(weft::last_run_stats().fibers_created, 1u);
}

TEST(Leak, RepeatedRunsDoNotGrowMappingsOrFds) {
  auto one_run = [] {
    weft_test::run([] {
      std::vector<weft::Fiber<int>> fs;
      for (int i = 0; i < 200; ++i)
        fs.push_back(weft::spawn([] { return weft::this_fiber::sleep_for(1ms); }));
      for (auto& f : fs) f.join();
      weft::spawn([] { weft::this_fiber::sleep_for(1h); });  // cancelled at shutdown
    });
  };
  one_run();
  one_run();
  [[maybe_unused]] int maps_before = count_mappings();
  int fds_before = weft_test::count_fds();
  for (int i = 0; i < 20; ++i) one_run();
  [[maybe_unused]] int maps_after = count_mappings();
  EXPECT_EQ(weft_test::count_fds(), fds_before);
#if !defined(__SANITIZE_THREAD__)
  // Not under TSan: it remaps its shadow memory as the program's mappings come and go, and its
  // own mapping count drifts up by a few every 20 runs whatever the program does.
  EXPECT_LE(maps_after, maps_before + 4)
      << "mappings grew from " << maps_before << " to " << maps_after << " over 20 runs";
#endif
}

TEST(Leak, LastRunStatsOnAThreadThatNeverRan) {
  weft::RuntimeStats s;
  std::thread t([&] { s = weft::last_run_stats(); });
  t.join();
  EXPECT_EQ(s.fibers_created, 0u);
  EXPECT_EQ(s.fibers_live, 0u);
}

}  // namespace
