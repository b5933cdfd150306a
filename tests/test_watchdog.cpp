// The stall watchdog and fiber dumps: a fiber that computes for a second is named on stderr with
// a symbolised backtrace (function, file:line, module), the other fibers keep running, and dumps
// show what each fiber waits in and the stack of each parked fiber. Built with -g.
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <weft/weft.hpp>

#include "support.hpp"

// spin_for() computes without yielding for d. Outside the anonymous namespace and exported
// (the test links with -rdynamic) so the stall report's backtrace can name it.
__attribute__((noinline)) void spin_for(std::chrono::milliseconds d) {
  auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

// spin_for(done) computes without yielding until done() holds (checked every millisecond) or
// 30 s have passed. The stall tests spin until the watchdog has visibly reacted, not for a
// fixed time: its thread, like the carriers, may be descheduled for long on a loaded machine.
__attribute__((noinline)) void spin_for(const std::function<bool()>& done) {
  auto now = std::chrono::steady_clock::now();
  auto give_up = now + std::chrono::seconds(30);
  auto next_check = now;
  while ((now = std::chrono::steady_clock::now()) < give_up) {
    if (now < next_check) continue;
    if (done()) return;
    next_check = now + std::chrono::milliseconds(1);
  }
}

// sleep_until_stderr_has() sleeps in 1 ms steps until captured stderr shows needle, or 30 s.
inline void sleep_until_stderr_has(const char* needle) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!weft_test::stderr_has(needle) && std::chrono::steady_clock::now() < give_up) {
    weft::this_fiber::sleep_for(std::chrono::milliseconds(1));
  }
}

namespace {

using namespace std::chrono_literals;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

// spin_in_anonymous_namespace_for_stall_test() spins until the watchdog has reported the stall.
// Not exported (an anonymous namespace): only the symbol table and debug info can name it.
__attribute__((noinline)) void spin_in_anonymous_namespace_for_stall_test() {
  spin_for([] { return weft_test::stderr_has("weft: started spare carrier"); });
  asm volatile("");  // keeps the call above from being a tail call
}

// park_here_for_dump_test() waits on e until it is set: a frame the dump must show.
__attribute__((noinline)) void park_here_for_dump_test(weft::Event& e) {
  e.wait();
  asm volatile("");
}

// block_of() is the part of a dump that belongs to the fiber whose line contains needle: that
// line and the indented frame lines under it, up to the next fiber.
std::string block_of(const std::string& dump, const std::string& needle) {
  auto at = dump.find(needle);
  if (at == std::string::npos) return "";
  auto end = dump.find("\n  fiber ", at);
  return dump.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

class Stall : public ::testing::TestWithParam<unsigned> {};

TEST_P(Stall, SpinningFiberIsReportedAndOthersKeepServing) {
  weft::Config cfg;
  cfg.carriers = GetParam();
  cfg.stall_ms = 100;
  std::atomic<int> served{0};
  int served_during_spin = 0;
  testing::internal::CaptureStderr();
  unsigned carriers_after = weft::run(cfg, [&] {
    // The spinner stalls its carrier until the watchdog has reported it and started a spare
    // (its last step) and, with other carriers, until the servers have done half their rounds
    // meanwhile: counted, rather than hoped for within a fixed 1 s spin.
    bool many = GetParam() > 1;
    auto spinner = weft::spawn_with(weft::SpawnOptions{"spinner"}, [&, many] {
      spin_for([&] {
        return (!many || served.load() >= 8 * 10) &&
               weft_test::stderr_has("weft: started spare carrier");
      });
      return served.load();
    });
    weft::this_fiber::sleep_for(10ms);  // the spinner holds its carrier from here on
    // Servers spawned now are placed away from the stalled carrier (or on the spare).
    std::vector<weft::Fiber<void>> servers;
    for (int i = 0; i < 8; ++i) {
      servers.push_back(weft::spawn([&] {
        for (int k = 0; k < 20; ++k) {
          weft::this_fiber::sleep_for(5ms);
          served.fetch_add(1);
        }
      }));
    }
    served_during_spin = spinner.join();
    for (auto& s : servers) s.join();
    sleep_until_stderr_has("stall over");  // the watchdog has seen the stall end
    return weft::stats().carriers;
  });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(err, HasSubstr("weft: stall: carrier"));
  EXPECT_THAT(err, HasSubstr("\"spinner\""));
#if !defined(__SANITIZE_THREAD__)           // TSan builds name no frames
  EXPECT_THAT(err, HasSubstr("spin_for"));  // the backtrace shows where it spins
#endif
  EXPECT_THAT(err, HasSubstr("Where it is:\n  #0 0x"));
  EXPECT_THAT(err, HasSubstr("stall over"));
  if (GetParam() > 1) {
    // Main sat on another carrier than the spinner, so the servers ran during the spin.
    EXPECT_GE(served_during_spin, 8 * 10);
  }
  // One carrier stalled of N: a spare restored N unstalled ones.
  EXPECT_EQ(carriers_after, GetParam() + 1);
  EXPECT_EQ(served.load(), 8 * 20);
}

INSTANTIATE_TEST_SUITE_P(, Stall, ::testing::Values(1u, 2u, 4u),
                         [](const auto& info) { return std::to_string(info.param) + "carriers"; });

// The sample names the function that computes, demangled, with its source line and module: the
// function is not exported, so the names come from the symbol table, resolved by libdw.
TEST(Watchdog, StallReportIsSymbolised) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer builds name no frames and unwind no fiber stacks";
#endif
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.stall_ms = 50;
  testing::internal::CaptureStderr();
  weft::run(cfg, [] { spin_in_anonymous_namespace_for_stall_test(); });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_THAT(
      err,
      ContainsRegex(
          "\n  #[0-9]+ 0x[0-9a-f]+ \\(anonymous namespace\\)::"
          "spin_in_anonymous_namespace_for_stall_test\\(\\)( \\[clone [^]]+\\])*\\+0x[0-9a-f]+ "
          "\\([^)]*test_watchdog\\.cpp:[0-9]+\\) in test_watchdog\n"))
      << err;
  EXPECT_THAT(err, Not(HasSubstr("no function names"))) << err;
}

// Without libdw (WEFT_LIBDW=none, in a child process: libdw is loaded once per process) a
// stall's frames are FILE+OFFSET, and one note says how to get names.
TEST(WatchdogDeathTest, WithoutLibdwFramesAreFileAndOffset) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer builds never load libdw (their note says so)";
#endif
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("WEFT_LIBDW", "none", 1);
        weft::Config cfg;
        cfg.carriers = 1;
        cfg.stall_ms = 50;
        weft::run(cfg, [] {
          spin_for([] { return weft_test::stderr_has("weft: started spare carrier"); });
          weft::Event e;
          auto parked =
              weft::spawn_with(weft::SpawnOptions{"parked"}, [&] { park_here_for_dump_test(e); });
          weft::this_fiber::sleep_for(10ms);
          fputs(weft::fiber_dump().c_str(), stderr);
          e.set();
          parked.join();
        });
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0),
      ::testing::AllOf(
          ContainsRegex("\n  #[0-9]+ 0x[0-9a-f]+ in /[^ ]*test_watchdog\\+0x[0-9a-f]+\n"),
          HasSubstr("(no function names: weft loads libdw.so.1 for them, and it could not be "
                    "loaded; install libdw1"),
          HasSubstr("(no stacks for parked fibers: unwinding them needs libdw.so.1")));
}

TEST(Watchdog, ZeroTurnsItOff) {
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.stall_ms = 0;
  testing::internal::CaptureStderr();
  weft::run(cfg, [] { spin_for(300ms); });
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
}

TEST(Watchdog, ProgramsOwnSigurgHandlerIsLeftAlone) {
  static std::atomic<int> mine{0};
  struct sigaction sa {
  }, old{};
  sa.sa_handler = [](int) { mine.fetch_add(1); };
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGURG, &sa, &old), 0);
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.stall_ms = 50;
  testing::internal::CaptureStderr();
  weft::run(cfg, [] { spin_for([] { return weft_test::stderr_has("started spare carrier"); }); });
  std::string err = testing::internal::GetCapturedStderr();
  sigaction(SIGURG, &old, nullptr);
  EXPECT_THAT(err, HasSubstr("no backtrace: the program handles SIGURG itself"));
  EXPECT_EQ(mine.load(), 0);
}

TEST(Watchdog, ProgramsSigIgnIsLeftAlone) {
  struct sigaction ign {
  }, old{};
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  ASSERT_EQ(sigaction(SIGURG, &ign, &old), 0);
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.stall_ms = 50;
  testing::internal::CaptureStderr();
  weft::run(cfg, [] { spin_for([] { return weft_test::stderr_has("started spare carrier"); }); });
  std::string err = testing::internal::GetCapturedStderr();
  struct sigaction now {};
  sigaction(SIGURG, nullptr, &now);
  sigaction(SIGURG, &old, nullptr);
  EXPECT_THAT(err, HasSubstr("no backtrace: the program ignores SIGURG"));
  EXPECT_EQ(now.sa_handler, SIG_IGN);
}

TEST(Watchdog, BacktraceHandlerIsNotLeftInstalled) {
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.stall_ms = 50;
  struct sigaction during {};
  testing::internal::CaptureStderr();
  weft::run(cfg, [&] {
    spin_for([] { return weft_test::stderr_has("started spare carrier"); });
    sigaction(SIGURG, nullptr, &during);
  });
  std::string err = testing::internal::GetCapturedStderr();
#if !defined(__SANITIZE_THREAD__)           // TSan builds name no frames
  EXPECT_THAT(err, HasSubstr("spin_for"));  // it was sampled
#endif
  EXPECT_THAT(err, HasSubstr("Where it is:\n  #0 0x"));  // it was sampled
  // Between samples SIGURG has its default (do nothing): a SIGURG from outside meets no handler
  // that would end a wait with EINTR.
  EXPECT_EQ(during.sa_handler, SIG_DFL);
}

// A fiber that sleeps in a system call the runtime does not see is reported by the call's name
// and not signalled: a signal would end the call with EINTR (ppoll is never restarted).
TEST(Watchdog, CarrierInASystemCallIsNamedNotSignalled) {
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.stall_ms = 10;
  long r = 1;
  int e = 0;
  testing::internal::CaptureStderr();
  weft::run(cfg, [&] {
    sigset_t mask;
    sigemptyset(&mask);
    timespec t{0, 300 * 1000000L};
    errno = 0;
    r = ::syscall(SYS_ppoll, nullptr, 0, &t, &mask, 8);
    e = errno;
  });
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(r, 0) << strerror(e);
  // The watchdog thread may be descheduled past the whole wait on a loaded machine: the report
  // is checked only when there is one.
  if (err.find("weft: stall:") != std::string::npos) {
    EXPECT_THAT(err, HasSubstr("in system call ppoll (number " + std::to_string(SYS_ppoll) + ")"));
    EXPECT_THAT(err, Not(HasSubstr("Where it is")));
  }
}

TEST(Dump, ShowsWhatEachFiberWaitsIn) {
  weft_test::Pipe p;
  std::string dump = weft_test::run([&] {
    auto reader = weft::spawn_with(weft::SpawnOptions{"reader"}, [&] {
      char c;
      return weft::read(p.r, &c, 1);
    });
    auto sleeper = weft::spawn_with(weft::SpawnOptions{"sleeper"},
                                    [] { return weft::this_fiber::sleep_for(1h); });
    weft::this_fiber::sleep_for(30ms);
    std::string d = weft::fiber_dump();
    reader.cancel();
    sleeper.cancel();
    reader.join();
    sleeper.join();
    return d;
  });
  EXPECT_THAT(dump, HasSubstr("\"reader\""));
  EXPECT_THAT(dump, HasSubstr("blocked in read fd " + std::to_string(p.r) + " for "));
  EXPECT_THAT(dump, HasSubstr("\"sleeper\""));
  EXPECT_THAT(dump, HasSubstr("blocked in sleep for "));
  EXPECT_THAT(dump, HasSubstr("\"main\" carrier 0: running"));
}

// A parked fiber's block in the dump shows its stack, down to the function it parked in, named
// with a source line (Event::wait's, inlined into it, or its own); the running fiber has none.
TEST(Dump, ShowsTheStackOfEachParkedFiber) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer builds name no frames and unwind no fiber stacks";
#endif
  std::string dump = weft_test::run([&] {
    weft::Event e;
    auto parked =
        weft::spawn_with(weft::SpawnOptions{"parked-one"}, [&] { park_here_for_dump_test(e); });
    auto sleeper = weft::spawn_with(weft::SpawnOptions{"sleeper"},
                                    [] { return weft::this_fiber::sleep_for(1h); });
    weft::this_fiber::sleep_for(30ms);
    std::string d = weft::fiber_dump();
    e.set();
    sleeper.cancel();
    parked.join();
    sleeper.join();
    return d;
  });
  std::string parked = block_of(dump, "\"parked-one\"");
  EXPECT_THAT(parked, HasSubstr("blocked in event")) << dump;
  EXPECT_THAT(
      parked,
      ContainsRegex("\n      #[0-9]+ 0x[0-9a-f]+ \\(anonymous namespace\\)::"
                    "park_here_for_dump_test\\(weft::Event&\\)( \\[clone [^]]+\\])*\\+0x[0-9a-f]+ "
                    "\\([^)]*\\.[ch]pp:[0-9]+\\) in test_watchdog\n"))
      << dump;
  EXPECT_THAT(parked, HasSubstr("weft::Event::wait")) << dump;
  EXPECT_THAT(block_of(dump, "\"sleeper\""), HasSubstr("weft::this_fiber::sleep_until")) << dump;
  EXPECT_THAT(block_of(dump, "\"main\""), Not(HasSubstr("#0 "))) << dump;
}

// A dump of many parked fibers gives stacks to the first 1000 and says how many more there are.
TEST(Dump, StacksAreBounded) {
#if defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "ThreadSanitizer builds name no frames and unwind no fiber stacks";
#endif
  std::string dump = weft_test::run([&] {
    weft::Event e;
    std::vector<weft::Fiber<void>> fs;
    for (int i = 0; i < 1010; ++i) fs.push_back(weft::spawn([&] { park_here_for_dump_test(e); }));
    weft::this_fiber::sleep_for(30ms);
    std::string d = weft::fiber_dump();
    e.set();
    for (auto& f : fs) f.join();
    return d;
  });
  EXPECT_THAT(dump, HasSubstr("  ... 10 more parked fibers, listed without stacks (1000 get one)"));
  std::size_t with = 0;
  for (auto at = dump.find("park_here_for_dump_test"); at != std::string::npos;
       at = dump.find("park_here_for_dump_test", at + 1)) {
    ++with;
  }
  EXPECT_EQ(with, 1000u);
}

TEST(Dump, SignalPrintsTheDump) {
  weft::Config cfg;
  cfg.carriers = 2;
  cfg.dump_signal = SIGUSR2;
  testing::internal::CaptureStderr();
  weft::run(cfg, [] {
    // The idler lives until the dump is out (the watchdog thread writes it whenever it runs,
    // and none is written once the run ends), not for a fixed 300 ms.
    auto idle = weft::spawn_with(weft::SpawnOptions{"idler"},
                                 [] { sleep_until_stderr_has("weft: fibers of the run"); });
    weft::this_fiber::sleep_for(20ms);
    ::kill(::getpid(), SIGUSR2);
    idle.join();
  });
  std::string err = testing::internal::GetCapturedStderr();
  signal(SIGUSR2, SIG_DFL);
  EXPECT_THAT(err, HasSubstr("weft: fibers of the run (2 carriers, "));
  EXPECT_THAT(err, HasSubstr("\"idler\""));
}

// highest_eventfd() is the highest-numbered eventfd of the process, or -1. In a run of one
// carrier it is the watchdog's: the runtime keeps its fds together at the top of its numbers and
// makes the watchdog's after the carriers'.
int highest_eventfd() {
  int best = -1;
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    char target[64] = {};
    std::string path = std::string("/proc/self/fd/") + e->d_name;
    if (::readlink(path.c_str(), target, sizeof target - 1) <= 0) continue;
    if (std::string(target) == "anon_inode:[eventfd]") best = std::max(best, std::atoi(e->d_name));
  }
  ::closedir(d);
  return best;
}

std::size_t count_of(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Its eventfd closed behind the runtime's back (a raw close no hook sees) is a fault, reported
// once; it never reads as a dump request (it used to: a dump printed in a tight loop), and a
// real request still gets its one dump.
TEST(Watchdog, ClosedEventfdIsAFaultReportedOnce) {
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.dump_signal = SIGUSR2;
  testing::internal::CaptureStderr();
  weft::run(cfg, [] {
    int fd = highest_eventfd();
    ASSERT_GE(fd, 0);
    ::close(fd);
    sleep_until_stderr_has("weft: watchdog: its eventfd");
    ::kill(::getpid(), SIGUSR2);
    sleep_until_stderr_has("weft: fibers of the run");
    // Room for a loop that would print more; none may come.
    weft::this_fiber::sleep_for(100ms);
  });
  std::string err = testing::internal::GetCapturedStderr();
  signal(SIGUSR2, SIG_DFL);
  EXPECT_EQ(count_of(err, "weft: watchdog: its eventfd"), 1u) << err.substr(0, 2000);
  EXPECT_EQ(count_of(err, "weft: fibers of the run"), 1u) << err.substr(0, 2000);
}

TEST(Dump, OffTheRunThrows) {
  EXPECT_THROW(weft::fiber_dump(), std::logic_error);
}

}  // namespace
