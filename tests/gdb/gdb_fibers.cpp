// gdb_fibers: a weft program whose fibers wait in known places, for weft-gdb.py's test
// (gdb_test.sh). Each fiber waits inside a function of a name no other code has
// (wait_in_gdb_test_*), kept out of line, so a backtrace that shows the name went through the
// fiber's own saved frames. One carrier and no watchdog make the picture exact: when main has
// seen every fiber reach its wait (each counts itself, then blocks without a switch between, and
// main only runs again after each has had its turn), it spawns one fiber more, which cannot
// start, says "ready", and stops its carrier in pause(2) (libc's: nothing interposes it here),
// so main stays "running" and the others stay where they are until the test kills the process.
//
//   chan     blocked in the channel's recv        wait_in_gdb_test_channel
//   sleeper  blocked in sleep                     wait_in_gdb_test_sleep
//   locker   blocked on a mutex main holds        wait_in_gdb_test_mutex
//   reader   blocked in read on a pipe            wait_in_gdb_test_read
//   yielder  ready (it yields forever)            wait_in_gdb_test_yield
//   fresh    not started
//   main     running, in pause()                  run_in_gdb_test_pause
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <cstdio>

#include <weft/weft.hpp>

namespace {

std::atomic<int> g_waiting{0};

[[gnu::noinline]] void wait_in_gdb_test_channel(weft::Channel<int>& ch) {
  g_waiting.fetch_add(1);
  (void)ch.recv();
  asm volatile("");  // keeps the call a call, not a tail jump
}

[[gnu::noinline]] void wait_in_gdb_test_sleep() {
  g_waiting.fetch_add(1);
  weft::this_fiber::sleep_for(std::chrono::hours(1));
  asm volatile("");
}

[[gnu::noinline]] void wait_in_gdb_test_mutex(weft::Mutex& m) {
  g_waiting.fetch_add(1);
  m.lock();
  m.unlock();
  asm volatile("");
}

[[gnu::noinline]] void wait_in_gdb_test_read(int fd) {
  g_waiting.fetch_add(1);
  char c;
  (void)weft::read(fd, &c, 1);
  asm volatile("");
}

[[gnu::noinline]] void wait_in_gdb_test_yield() {
  g_waiting.fetch_add(1);
  for (;;) weft::this_fiber::yield();
}

[[gnu::noinline]] void run_in_gdb_test_pause() {
  for (;;) pause();
}

}  // namespace

int main() {
  weft::Config config = weft::config_from_env();
  config.carriers = 1;
  config.stall_ms = 0;
  int fds[2];
  if (pipe(fds) != 0) return 1;
  weft::run(config, [&] {
    weft::Channel<int> ch;
    weft::Mutex m;
    m.lock();
    auto a = weft::spawn_with({.name = "chan"}, [&] { wait_in_gdb_test_channel(ch); });
    auto b = weft::spawn_with({.name = "sleeper"}, [] { wait_in_gdb_test_sleep(); });
    auto c = weft::spawn_with({.name = "locker"}, [&] { wait_in_gdb_test_mutex(m); });
    auto d = weft::spawn_with({.name = "reader"}, [&] { wait_in_gdb_test_read(fds[0]); });
    auto e = weft::spawn_with({.name = "yielder"}, [] { wait_in_gdb_test_yield(); });
    while (g_waiting.load() < 5) weft::this_fiber::yield();
    auto f = weft::spawn_with({.name = "fresh"}, [] {});
    weft::this_fiber::set_name("main");
    std::printf("ready\n");
    std::fflush(stdout);
    run_in_gdb_test_pause();
  });
  return 0;
}
