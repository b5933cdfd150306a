// report: the one sink every weft report goes through (sys::write_stderr()).
//
// A report is one string written whole, in one write(2), so two reports never interleave their
// lines. Where it goes, in this order:
//   - a library user's handler (weft::set_report_handler(), <weft/report.hpp>), except from a
//     signal handler (write_report_signal_safe());
//   - WEFT_LOG's file, opened at start with O_APPEND (%p in its name is the pid, %% a %);
//   - under the shim, a duplicate of fd 2 taken when the process starts (its constructor),
//     kept out of the program's reach as the runtime's own fds are (base/own_fd.hpp: a high number,
//     FD_CLOEXEC, left alone by the program's close, closefrom and dup2), so a program that closes
//     or redirects its stderr later (cat closes it at exit, a daemon closes every fd) does not lose
//     weft's reports. An exec'd program takes its own at its own start.
//   - fd 2 itself: a program that links weft owns its fd 2 (a test capturing it, a server that
//     points it at its log), so weft writes where the program points it; under the shim, if fd
//     2 was not open at start.
// A forked child keeps WEFT_LOG's file (with %p in its name it opens its own, for its own pid)
// and closes the duplicate of its parent's fd 2 (its reports go to its own fd 2).
#pragma once

namespace weft::sys {

// report_sink_start() opens WEFT_LOG's file (once; the library's constructor calls it); returns
// 0, or -errno when it cannot be opened (the sink is then fd 2, or its duplicate).
int report_sink_start() noexcept;
// report_sink_take_stderr() takes the duplicate of fd 2 that reports go to when WEFT_LOG is
// not set (the shim's constructor: the program's fd 2 is not weft's to follow).
void report_sink_take_stderr() noexcept;
// report_sink_error() is what report_sink_start() returned (0 before it ran).
int report_sink_error() noexcept;
// report_log_path() expands a WEFT_LOG-style pattern for pid into buf (%p: the pid, %%: a %);
// false if it does not fit or has another % sequence.
bool report_log_path(const char* pattern, int pid, char* buf, unsigned long size) noexcept;
// open_report_file() opens the file a WEFT_LOG-style pattern names for pid, for appending
// (created 0644, FD_CLOEXEC); returns the fd or -errno (-EINVAL: the pattern does not expand).
long open_report_file(const char* pattern, int pid) noexcept;
// report_sink_after_fork_child() closes the duplicate of the parent's fd 2 in a forked child, and
// reopens WEFT_LOG's file for the child's pid when its name has %p.
void report_sink_after_fork_child() noexcept;
// write_report_signal_safe() writes a whole report to the sink's file, never to a handler:
// async-signal-safe, for a report written from a signal handler.
void write_report_signal_safe(const char* msg) noexcept;
// write_report_to() writes msg whole to fd in one write(2) (another only after a short one),
// async-signal-safe, ignoring errors.
void write_report_to(int fd, const char* msg, unsigned long len) noexcept;

}  // namespace weft::sys
