// test_report: weft::set_report_handler() (<weft/report.hpp>): reports reach the program's
// handler, on the thread that has something to report, and not fd 2; a null handler gives the
// sink back.
#include <gtest/gtest.h>
#include <pthread.h>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

#include <weft/weft.hpp>

namespace {

struct Seen {
  std::mutex lock;
  std::string text;
  pthread_t thread{};
  std::atomic<bool> stall{false};
};

void on_report(std::string_view report, void* arg) {
  auto* seen = static_cast<Seen*>(arg);
  std::lock_guard<std::mutex> hold(seen->lock);
  seen->text.append(report);
  seen->thread = pthread_self();
  if (report.find("weft: stall") != std::string_view::npos) seen->stall.store(true);
}

// spin_until() computes without yielding until done holds, or 30 s have passed.
void spin_until(const std::atomic<bool>& done) {
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done.load() && std::chrono::steady_clock::now() < give_up) {
  }
}

TEST(Report, HandlerTakesTheWatchdogsStallReport) {
  Seen seen;
  weft::ReportHandler before = weft::set_report_handler(&on_report, &seen);
  EXPECT_EQ(before.fn, nullptr);
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.stall_ms = 20;
  testing::internal::CaptureStderr();
  pthread_t carrier{};
  weft::run(cfg, [&] {
    carrier = pthread_self();
    spin_until(seen.stall);
  });
  std::string on_fd2 = testing::internal::GetCapturedStderr();
  weft::ReportHandler mine = weft::set_report_handler(nullptr);
  EXPECT_EQ(mine.fn, &on_report);
  EXPECT_EQ(mine.arg, &seen);
  ASSERT_TRUE(seen.stall.load()) << "no stall report reached the handler";
  std::lock_guard<std::mutex> hold(seen.lock);
  EXPECT_NE(seen.text.find("carrier 0 has run fiber"), std::string::npos) << seen.text;
  // The watchdog's thread reported, not the stalled carrier; and nothing went to fd 2.
  EXPECT_FALSE(pthread_equal(seen.thread, carrier));
  EXPECT_EQ(on_fd2.find("weft: stall"), std::string::npos) << on_fd2;
}

TEST(Report, NullHandlerWritesToStderr) {
  EXPECT_EQ(weft::set_report_handler(nullptr).fn, nullptr);
  weft::Config cfg;
  cfg.carriers = 1;
  cfg.stall_ms = 20;
  testing::internal::CaptureStderr();
  weft::run(cfg, [&] {
    auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < give_up) {
      // A library program's fd 2 is its own: the report follows it there.
      if (FILE* f = std::fopen("/proc/self/fd/2", "r")) {
        char buf[4096];
        std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
        std::fclose(f);
        buf[n] = '\0';
        if (std::string_view(buf).find("weft: stall") != std::string_view::npos) break;
      }
    }
  });
  EXPECT_NE(testing::internal::GetCapturedStderr().find("weft: stall"), std::string::npos);
}

}  // namespace
