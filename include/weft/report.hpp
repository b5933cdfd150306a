// Where weft's reports go: stall and deadlock reports, fiber dumps, warnings, the shim's stats.
//
// By default every report is written to fd 2 (under weftrun, to a duplicate of fd 2 taken when
// the process starts, so a program that later closes or redirects its stderr does not lose
// them). WEFT_LOG=PATH (weftrun --log) sends them to a file instead (%p in PATH is the pid, %%
// a %), opened when the process starts; a program that links weft may take them itself with
// set_report_handler().
#pragma once

#include <string_view>

namespace weft {

// ReportFn is a report handler: it gets one whole report (one or more lines, each ending in a
// newline) and the arg it was installed with.
using ReportFn = void (*)(std::string_view report, void* arg);

// ReportHandler is a handler and its argument, as set_report_handler() takes and returns them.
struct ReportHandler {
  // fn is the handler, or null for weft's own sink (the duplicate of stderr, or WEFT_LOG's file).
  ReportFn fn = nullptr;
  // arg is passed to fn with every report.
  void* arg = nullptr;
};

// set_report_handler() routes every later report to fn(report, arg) instead of weft's sink, and
// returns the handler it replaces; a null fn routes them back to the sink. fn is called on the
// thread that has something to report: the watchdog thread (stalls, deadlocks, fiber dumps), a
// carrier, or any thread that ends a run; never from a signal handler (a stack overflow report,
// written from one just before the process aborts, always goes to the sink). fn may be called
// on several threads at once, must return promptly and must not wait for weft (no fiber
// calls, no weft::run): the watchdog or the carrier that reports waits for it. A report already
// under way may still reach the previous handler after this returns.
ReportHandler set_report_handler(ReportFn fn, void* arg = nullptr) noexcept;

}  // namespace weft
