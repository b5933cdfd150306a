// report: the report sink (the model is in report.hpp).
//
// The sink's fd is an OwnFd kept across fork, in storage that is never destroyed: a report
// written by an atexit handler or a static destructor late in the process's exit still has it.
// The handler pair is read under a lock and called outside it, so a handler may itself call
// set_report_handler().
#include "base/report.hpp"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>

#include <weft/report.hpp>

#include "base/lock.hpp"
#include "base/own_fd.hpp"
#include "base/sys.hpp"

namespace weft::sys {
namespace {

alignas(rt::OwnFd) unsigned char g_sink_storage[sizeof(rt::OwnFd)];
rt::OwnFd* g_sink = nullptr;
std::atomic<bool> g_started{false};
int g_error = 0;
// g_log_pattern is WEFT_LOG as the process started with it (empty: no log file).
char g_log_pattern[4096];

constinit rt::Lock g_handler_lock;
weft::ReportHandler g_handler;
std::atomic<bool> g_have_handler{false};

// open_log() opens the log file for pid, or returns -errno.
long open_log(int pid) noexcept {
  return open_report_file(g_log_pattern, pid);
}

// sink_fd_write() writes to the sink's file, or to fd 2 when there is none.
void sink_fd_write(const char* msg, std::size_t len) noexcept {
  if (g_sink != nullptr) {
    rt::OwnFd::Use use(*g_sink);
    if (use.fd() >= 0) {
      write_report_to(use.fd(), msg, len);
      return;
    }
  }
  write_report_to(2, msg, len);
}

__attribute__((constructor)) void sink_init() {
  report_sink_start();
}

}  // namespace

long open_report_file(const char* pattern, int pid) noexcept {
  char path[4096];
  if (!report_log_path(pattern, pid, path, sizeof path)) return -EINVAL;
  return call(SYS_openat, AT_FDCWD, path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

int report_sink_start() noexcept {
  if (g_started.exchange(true)) return g_error;
  g_sink = new (g_sink_storage) rt::OwnFd();
  g_sink->keep_across_fork();
  const char* log = ::secure_getenv("WEFT_LOG");
  if (log != nullptr && *log != '\0') {
    if (std::strlen(log) >= sizeof g_log_pattern) {
      g_error = -ENAMETOOLONG;
    } else {
      std::strcpy(g_log_pattern, log);
      long fd = open_log(static_cast<int>(call(SYS_getpid)));
      if (fd >= 0 && g_sink->adopt(fd) == 0) return 0;
      g_error = fd < 0 ? static_cast<int>(fd) : -EMFILE;
      g_log_pattern[0] = '\0';
    }
  }
  return g_error;
}

void report_sink_take_stderr() noexcept {
  report_sink_start();
  if (g_sink->valid()) return;  // WEFT_LOG's file
  // No fd 2 at start (a daemon's child started with it closed): reports go to whatever fd 2 is
  // when they are written, as before.
  long dup = call(SYS_fcntl, 2, F_DUPFD_CLOEXEC, 3);
  if (dup >= 0) g_sink->adopt(dup);
}

int report_sink_error() noexcept {
  return g_error;
}

void report_sink_after_fork_child() noexcept {
  if (g_sink == nullptr) return;
  if (g_log_pattern[0] == '\0') {
    // The duplicate of the parent's stderr stays the parent's: a child that daemonizes (setsid,
    // closes 0, 1 and 2) must not hold the write end of a pipe its starter reads to EOF, as it
    // does not natively. The child's reports go to its own fd 2.
    g_sink->close();
    return;
  }
  if (std::strstr(g_log_pattern, "%p") == nullptr) return;
  long fd = open_log(static_cast<int>(call(SYS_getpid)));
  // Cannot open it: the child goes on writing to its parent's file.
  if (fd >= 0) g_sink->adopt(fd);
}

void write_report_to(int fd, const char* msg, unsigned long len) noexcept {
  while (len > 0) {
    long n = call(SYS_write, fd, msg, len);
    if (n == -EINTR) continue;
    if (n <= 0) break;
    msg += n;
    len -= static_cast<unsigned long>(n);
  }
}

void write_report_signal_safe(const char* msg) noexcept {
  sink_fd_write(msg, std::strlen(msg));
}

void write_stderr(const char* msg) noexcept {
  if (g_have_handler.load(std::memory_order_acquire)) {
    weft::ReportHandler h;
    {
      std::lock_guard<rt::Lock> hold(g_handler_lock);
      h = g_handler;
    }
    if (h.fn != nullptr) {
      h.fn(std::string_view(msg), h.arg);
      return;
    }
  }
  sink_fd_write(msg, std::strlen(msg));
}

}  // namespace weft::sys

namespace weft {

ReportHandler set_report_handler(ReportFn fn, void* arg) noexcept {
  std::lock_guard<rt::Lock> hold(sys::g_handler_lock);
  ReportHandler old = sys::g_handler;
  sys::g_handler = ReportHandler{fn, arg};
  sys::g_have_handler.store(fn != nullptr, std::memory_order_release);
  return old;
}

}  // namespace weft
