// config_from_env: the Config a program gets from WEFT_* environment variables, the way the
// shim and weft::run(f) configure themselves. Bad values are errors that name the variable,
// never silently replaced by a default: a misspelt setting on a production box must be loud.
//
// These are the only parsers of weft's settings: weftrun checks its options with them too
// (config_from_env with a label function, so an error names the option the user typed), so
// `--stack-size 256k` and `WEFT_STACK_SIZE=256k` cannot drift apart. Each setting is one row of
// kSettings: its variable and how its value is read into a Config. The shim's own settings
// (WEFT_STATS, WEFT_STATS_FORMAT, WEFT_STATS_SIGNAL, WEFT_STRICT) are rows too, checked but
// kept nowhere, so a bad one fails before the program starts wherever it is read.
#include "base/config_env.hpp"

#include <signal.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <weft/config.hpp>

#include "base/report.hpp"

#include "base/config_env.hpp"

namespace weft {

// parse_backend() is reactor/backend.hpp's, defined below (base cannot include the reactor).
Backend parse_backend(const char* name, const char* value);

namespace {

// what() is how an error names the setting: `WEFT_X="v"` for a variable, `--opt "v"` for an
// option (a label that starts with '-').
std::string what(const char* label, const char* value) {
  return std::string(label) + (*label == '-' ? " \"" : "=\"") + value + "\"";
}

[[noreturn]] void bad(const char* label, const char* value, const std::string& expected) {
  throw std::invalid_argument(what(label, value) + ": expected " + expected);
}

// whole() parses a whole decimal number with nothing after it but suffix chars the caller takes;
// returns false on no digits, a sign or overflow.
bool whole(const char* value, unsigned long long& n, char** end) {
  if (*value < '0' || *value > '9') return false;
  errno = 0;
  n = std::strtoull(value, end, 10);
  return errno == 0;
}

// size_text() spells a byte count the way the parser takes it: 16k, 1g, 1000.
std::string size_text(unsigned long long n) {
  const char* units = "kmg";
  int u = -1;
  while (u < 2 && n >= 1024 && n % 1024 == 0) {
    n /= 1024;
    ++u;
  }
  return std::to_string(n) + (u < 0 ? "" : std::string(1, units[u]));
}

// Rows of kSettings read one variable's value into c; label names it in errors.
using Apply = void (*)(const char* label, const char* value, Config& c);

void carriers(const char* label, const char* v, Config& c) {
  c.carriers = static_cast<unsigned>(parse_number(label, v, 0, 128));
}

void stall_ms(const char* label, const char* v, Config& c) {
  c.stall_ms = static_cast<unsigned>(parse_number(label, v, 0, 3600 * 1000));
}

void dump_signal(const char* label, const char* v, Config& c) {
  c.dump_signal = parse_signal(label, v);
}

void blocking_threads(const char* label, const char* v, Config& c) {
  c.blocking_threads = static_cast<unsigned>(parse_number(label, v, 1, 4096));
}

void stack_size(const char* label, const char* v, Config& c) {
  c.stack_size = parse_size(label, v, 16 * 1024, 1024 * 1024 * 1024);
}

void backend(const char* label, const char* v, Config& c) {
  c.backend = parse_backend(label, v);
}

void tls(const char* label, const char* v, Config& c) {
  if (std::strcmp(v, "shared") == 0) {
    c.tls = Tls::kShared;
  } else if (std::strcmp(v, "fiber") == 0) {
    c.tls = Tls::kPerFiber;
  } else {
    bad(label, v, "shared or fiber");
  }
}

// faults() parses WEFT_FAULTS's SEED:RATE into c.
void faults(const char* label, const char* value, Config& c) {
  const char* expected = "SEED:RATE, a whole number and a probability in 0..1 (e.g. 42:0.01)";
  const char* colon = std::strchr(value, ':');
  if (colon == nullptr || colon == value || colon[1] == '\0') bad(label, value, expected);
  std::string seed(value, colon);
  if (seed.find_first_not_of("0123456789") != std::string::npos) bad(label, value, expected);
  errno = 0;
  c.fault_seed = std::strtoull(seed.c_str(), nullptr, 10);
  if (errno != 0) bad(label, value, expected);
  const char* rate = colon + 1;
  if ((*rate < '0' || *rate > '9') && *rate != '.') bad(label, value, expected);
  char* end = nullptr;
  c.fault_rate = std::strtod(rate, &end);
  if (*end != '\0' || !(c.fault_rate >= 0 && c.fault_rate <= 1)) bad(label, value, expected);
}

// The shim's settings: checked here, read by the shim.
void flag(const char* label, const char* v, Config&) {
  if (std::strcmp(v, "1") != 0 && std::strcmp(v, "0") != 0) bad(label, v, "1 or 0");
}

void stats_format(const char* label, const char* v, Config&) {
  if (std::strcmp(v, "text") != 0 && std::strcmp(v, "json") != 0) bad(label, v, "text or json");
}

void stats_signal(const char* label, const char* v, Config&) {
  (void)parse_signal(label, v);
}

// path_pattern() checks a WEFT_LOG or WEFT_STATS_FILE name the way the sink will expand it.
void path_pattern(const char* label, const char* v, Config&) {
  char path[4096];
  if (!sys::report_log_path(v, 1, path, sizeof path)) {
    bad(label, v, "a file name, with %p for the pid and %% for a % (no other % sequence)");
  }
}

struct Setting {
  const char* variable;
  Apply apply;
};

constexpr Setting kSettings[] = {
    {"WEFT_CARRIERS", &carriers},
    {"WEFT_STALL_MS", &stall_ms},
    {"WEFT_DUMP_SIGNAL", &dump_signal},
    {"WEFT_BLOCKING_THREADS", &blocking_threads},
    {"WEFT_STACK_SIZE", &stack_size},
    {"WEFT_BACKEND", &backend},
    {"WEFT_TLS", &tls},
    {"WEFT_FAULTS", &faults},
    {"WEFT_STATS", &flag},
    {"WEFT_STATS_FORMAT", &stats_format},
    {"WEFT_STATS_SIGNAL", &stats_signal},
    {"WEFT_STRICT", &flag},
    {"WEFT_STATS_FILE", &path_pattern},
    {"WEFT_LOG", &path_pattern},
};

// env() reads a setting; not in secure-execution mode (a set-user-ID program linking libweft),
// where the caller's environment is not to be trusted with files to open or signals to take.
const char* env(const char* name) {
  const char* v = ::secure_getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

// upper() is value in capitals, for signal names in any case.
std::string upper(const char* value) {
  std::string s(value);
  for (char& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return s;
}

// named_signal() is the signal a name spells (no "SIG"; RTMIN+N, RTMAX-N), or -1.
int named_signal(const std::string& bare) {
  for (const char* rt : {"RTMIN", "RTMAX"}) {
    if (bare.compare(0, 5, rt) != 0) continue;
    int base = rt[3] == 'I' ? SIGRTMIN : SIGRTMAX;
    if (bare.size() == 5) return base;
    char sign = rt[3] == 'I' ? '+' : '-';
    unsigned long long n = 0;
    char* end = nullptr;
    if (bare[5] != sign || !whole(bare.c_str() + 6, n, &end) || *end != '\0') return -1;
    if (n > static_cast<unsigned long long>(SIGRTMAX - SIGRTMIN)) return -1;
    return sign == '+' ? base + static_cast<int>(n) : base - static_cast<int>(n);
  }
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr && bare == abbrev) return sig;
  }
  return -1;
}

}  // namespace

const char* signal_setting_refusal(int sig) noexcept {
  if (sig < 1 || sig > SIGRTMAX) return "no such signal";
  switch (sig) {
    case SIGKILL:
      return "SIGKILL cannot be caught";
    case SIGSTOP:
      return "SIGSTOP cannot be caught";
    case SIGURG:
      return "weft's stall watchdog takes backtraces with SIGURG";
    case SIGSEGV:
    case SIGBUS:
      return "weft reports stack overflows from its SIGSEGV and SIGBUS handler";
    case SIGILL:
    case SIGFPE:
    case SIGTRAP:
    case SIGSYS:
      return "a fault signal: a handler that returns runs the faulting instruction again, forever";
    case SIGABRT:
      return "abort() and core dumps (kill -ABRT) need SIGABRT's own action";
    case SIGTERM:
    case SIGINT:
    case SIGHUP:
      return "it ends the program, and weft writes the stats report when it does";
    case SIGCHLD:
    case SIGPIPE:
    case SIGALRM:
    case SIGVTALRM:
    case SIGPROF:
    case SIGWINCH:
    case SIGIO:
    case SIGXCPU:
    case SIGXFSZ:
    case SIGTSTP:
    case SIGTTIN:
    case SIGTTOU:
    case SIGCONT:
      return "the kernel sends it on its own (children, timers, pipes, terminals), and the program "
             "would lose it";
    default:
      break;
  }
  if (sig < SIGRTMIN && sigabbrev_np(sig) == nullptr) {
    return "glibc keeps signals 32 and 33 (below SIGRTMIN) for itself";
  }
  return nullptr;
}

std::uint64_t parse_number(const char* label, const char* value, std::uint64_t lo,
                           std::uint64_t hi) {
  unsigned long long n = 0;
  char* end = nullptr;
  if (!whole(value, n, &end) || *end != '\0' || n < lo || n > hi) {
    bad(label, value, "a whole number in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return n;
}

std::uint64_t parse_size(const char* label, const char* value, std::uint64_t lo, std::uint64_t hi) {
  std::string expected = "a size in bytes with an optional k, m or g suffix (KiB, MiB, GiB) in " +
                         size_text(lo) + ".." + size_text(hi);
  unsigned long long n = 0;
  char* end = nullptr;
  if (!whole(value, n, &end)) bad(label, value, expected);
  unsigned shift = 0;
  if (*end != '\0') {
    switch (*end) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        bad(label, value, expected);
    }
    if (end[1] != '\0') bad(label, value, expected);
  }
  if (n > (~0ull >> shift)) bad(label, value, expected);
  n <<= shift;
  if (n < lo || n > hi) bad(label, value, expected);
  return n;
}

int parse_signal(const char* label, const char* value) {
  const char* expected =
      "a signal name (QUIT, SIGUSR1, usr2, SIGRTMIN+N, SIGRTMAX-N) or number, or 0 for none";
  int sig = -1;
  if (*value >= '0' && *value <= '9') {
    unsigned long long n = 0;
    char* end = nullptr;
    if (!whole(value, n, &end) || *end != '\0') bad(label, value, expected);
    if (n == 0) return 0;
    sig = n > static_cast<unsigned long long>(SIGRTMAX) ? -1 : static_cast<int>(n);
    if (sig < 0) {
      bad(label, value, "a signal number in 1.." + std::to_string(SIGRTMAX) + " (or 0 for none)");
    }
  } else {
    std::string name = upper(value);
    sig = named_signal(name.compare(0, 3, "SIG") == 0 ? name.substr(3) : name);
    if (sig < 0) bad(label, value, expected);
  }
  if (const char* why = signal_setting_refusal(sig)) {
    throw std::invalid_argument(what(label, value) + ": " + why +
                                "; expected another signal, such as SIGQUIT or SIGUSR1");
  }
  return sig;
}

const char* backend_name(Backend b) noexcept {
  switch (b) {
    case Backend::kAuto:
      return "auto";
    case Backend::kIoUring:
      return "io_uring";
    case Backend::kEpoll:
      return "epoll";
  }
  return "?";
}

Backend parse_backend(const char* name, const char* value) {
  for (Backend b : {Backend::kAuto, Backend::kIoUring, Backend::kEpoll}) {
    if (std::strcmp(value, backend_name(b)) == 0) return b;
  }
  bad(name, value, "auto, io_uring or epoll");
}

Config config_from_env(const char* (*label_of)(const char* variable)) {
  Config c;
  for (const Setting& s : kSettings) {
    if (const char* v = env(s.variable)) {
      s.apply(label_of != nullptr ? label_of(s.variable) : s.variable, v, c);
    }
  }
  // One signal cannot do both: the dump's handler would take the stats report's signal.
  const char* stats = env("WEFT_STATS_SIGNAL");
  if (c.dump_signal != 0 && stats != nullptr) {
    const char* label = label_of != nullptr ? label_of("WEFT_STATS_SIGNAL") : "WEFT_STATS_SIGNAL";
    if (parse_signal(label, stats) == c.dump_signal) {
      const char* dump = label_of != nullptr ? label_of("WEFT_DUMP_SIGNAL") : "WEFT_DUMP_SIGNAL";
      throw std::invalid_argument(what(label, stats) + " and " +
                                  what(dump, env("WEFT_DUMP_SIGNAL")) +
                                  " name the same signal: expected two different signals");
    }
  }
  return c;
}

Config config_from_env() {
  return config_from_env(nullptr);
}

}  // namespace weft

namespace weft::sys {

// report_log_path() lives here, not in report.cpp, so that weftrun (which compiles this file
// alone) checks and expands --log and --stats-file exactly as the sink will.
bool report_log_path(const char* pattern, int pid, char* buf, unsigned long size) noexcept {
  unsigned long n = 0;
  auto put = [&](char c) {
    if (n + 1 >= size) return false;
    buf[n++] = c;
    return true;
  };
  for (const char* p = pattern; *p != '\0'; ++p) {
    if (*p != '%') {
      if (!put(*p)) return false;
      continue;
    }
    ++p;
    if (*p == '%') {
      if (!put('%')) return false;
    } else if (*p == 'p') {
      char digits[16];
      int d = 0;
      unsigned v = static_cast<unsigned>(pid);
      do {
        digits[d++] = static_cast<char>('0' + v % 10);
        v /= 10;
      } while (v != 0);
      while (d > 0) {
        if (!put(digits[--d])) return false;
      }
    } else {
      return false;
    }
  }
  if (n >= size) return false;
  buf[n] = '\0';
  return n > 0;
}

}  // namespace weft::sys
