// Helpers shared by the test programs: owned fds, fd counts and memory readings.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

#include <weft/runtime.hpp>

namespace weft_test {

// kPrompt bounds how long a call that must end at once or promptly (an expired deadline, a
// cancel, a close, a ready fd) may take. Such calls take microseconds; the bound is far above
// that because CI runs sanitized builds on a shared 2-CPU machine, where a thread may be
// descheduled for seconds. What the bound catches is a call that waits for its deadline or
// sleep instead: tests make that wait longer than kPrompt.
inline constexpr std::chrono::seconds kPrompt{30};

// carriers() is how many carriers the suites written for one carrier run with:
// WEFT_TEST_CARRIERS if set (meson runs some suites a second time with 2), else 1. Those suites
// check orderings and counters that only one carrier makes deterministic.
inline unsigned carriers() {
  const char* v = std::getenv("WEFT_TEST_CARRIERS");
  return v != nullptr && *v != '\0' ? static_cast<unsigned>(std::strtoul(v, nullptr, 10)) : 1u;
}

// run() is weft::run with Config::carriers defaulted to carriers() instead of the CPU count.
// The stall watchdog is off: these suites spawn 100,000 fibers in one loop, which it would
// rightly report, and its spare carrier would change the orderings they check.
template <class F>
auto run(weft::Config cfg, F&& f) {
  if (cfg.carriers == 0) cfg.carriers = carriers();
  cfg.stall_ms = 0;
  return weft::run(cfg, std::forward<F>(f));
}

// run() is weft::run with the default Config but carriers().
template <class F>
auto run(F&& f) {
  return weft_test::run(weft::Config{}, std::forward<F>(f));
}

// Pipe owns both ends of a pipe2(O_CLOEXEC); close_r()/close_w() close an end early.
struct Pipe {
  int r = -1;
  int w = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    if (r >= 0) ::close(r);
    if (w >= 0) ::close(w);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_r() { ::close(std::exchange(r, -1)); }
  void close_w() { ::close(std::exchange(w, -1)); }
};

// stderr_text returns what has been written to fd 2 so far when it is a file, as while
// ::testing::internal::CaptureStderr() is on; "" otherwise. Tests use it to wait for a message
// the runtime prints (a warning, a stall report) instead of sleeping and hoping it came.
inline std::string stderr_text() {
  std::string text;
  if (FILE* f = std::fopen("/proc/self/fd/2", "r")) {
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
  }
  return text;
}

// stderr_has says whether stderr_text() contains needle.
inline bool stderr_has(const char* needle) {
  return stderr_text().find(needle) != std::string::npos;
}

// count_dir counts the entries of a /proc directory (without . and ..), or -1.
inline int count_dir(const char* path) {
  DIR* d = ::opendir(path);
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// count_threads is how many threads the process has.
inline int count_threads() {
  return count_dir("/proc/self/task");
}

// count_fds is how many fds the process has open (the directory stream's own fd included).
inline int count_fds() {
  return count_dir("/proc/self/fd");
}

// rss_kib returns the resident set size of this process in KiB (0 if unknown).
inline long rss_kib() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  long kib = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "VmRSS:", 6) == 0) {
      kib = std::strtol(line + 6, nullptr, 10);
      break;
    }
  }
  std::fclose(f);
  return kib;
}

}  // namespace weft_test
