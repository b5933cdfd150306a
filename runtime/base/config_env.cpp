// config_from_env: the Config a program gets from WEFT_* environment variables, the way the
// shim and weft::run(f) configure themselves. Bad values are errors that name the variable,
// never silently replaced by a default: a misspelt setting on a production box must be loud.
#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <weft/config.hpp>

#include "base/config_env.hpp"

namespace weft {
namespace {

[[noreturn]] void bad(const char* name, const char* value, const std::string& expected) {
  throw std::invalid_argument(std::string(name) + "=\"" + value + "\": expected " + expected);
}

// number() parses a whole decimal number in lo..hi, or throws naming the variable.
unsigned long long number(const char* name, const char* value, unsigned long long lo,
                          unsigned long long hi) {
  std::string range = "a whole number in " + std::to_string(lo) + ".." + std::to_string(hi);
  if (*value < '0' || *value > '9') bad(name, value, range);
  errno = 0;
  char* end = nullptr;
  unsigned long long n = std::strtoull(value, &end, 10);
  if (errno != 0 || *end != '\0' || n < lo || n > hi) bad(name, value, range);
  return n;
}

// signal_number() accepts a number or a name with or without "SIG" ("SIGQUIT", "QUIT", "USR1").
int signal_number(const char* name, const char* value) {
  const char* expected = "a signal number or name such as SIGQUIT, or 0 for none";
  if (*value >= '0' && *value <= '9') return static_cast<int>(number(name, value, 0, NSIG - 1));
  const char* bare = std::strncmp(value, "SIG", 3) == 0 ? value + 3 : value;
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = sigabbrev_np(sig);
    if (abbrev != nullptr && std::strcmp(abbrev, bare) == 0) return sig;
  }
  bad(name, value, expected);
}

// faults() parses WEFT_FAULTS's SEED:RATE into c.
void faults(const char* value, Config& c) {
  const char* expected = "SEED:RATE, a whole number and a probability in 0..1 (e.g. 42:0.01)";
  const char* colon = std::strchr(value, ':');
  if (colon == nullptr || colon == value || colon[1] == '\0') bad("WEFT_FAULTS", value, expected);
  std::string seed(value, colon);
  if (seed.find_first_not_of("0123456789") != std::string::npos)
    bad("WEFT_FAULTS", value, expected);
  errno = 0;
  c.fault_seed = std::strtoull(seed.c_str(), nullptr, 10);
  if (errno != 0) bad("WEFT_FAULTS", value, expected);
  const char* rate = colon + 1;
  if ((*rate < '0' || *rate > '9') && *rate != '.') bad("WEFT_FAULTS", value, expected);
  char* end = nullptr;
  c.fault_rate = std::strtod(rate, &end);
  if (*end != '\0' || !(c.fault_rate >= 0 && c.fault_rate <= 1)) {
    bad("WEFT_FAULTS", value, expected);
  }
}

}  // namespace

int parse_signal(const char* name, const char* value) {
  return signal_number(name, value);
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

Tls parse_tls(const char* name, const char* value) {
  if (std::strcmp(value, "shared") == 0) return Tls::kShared;
  if (std::strcmp(value, "fiber") == 0) return Tls::kPerFiber;
  bad(name, value, "shared or fiber");
}

Config config_from_env() {
  Config c;
  if (const char* v = std::getenv("WEFT_CARRIERS"); v != nullptr && *v != '\0') {
    c.carriers = static_cast<unsigned>(number("WEFT_CARRIERS", v, 0, 128));
  }
  if (const char* v = std::getenv("WEFT_STALL_MS"); v != nullptr && *v != '\0') {
    c.stall_ms = static_cast<unsigned>(number("WEFT_STALL_MS", v, 0, 3600 * 1000));
  }
  if (const char* v = std::getenv("WEFT_DUMP_SIGNAL"); v != nullptr && *v != '\0') {
    c.dump_signal = signal_number("WEFT_DUMP_SIGNAL", v);
  }
  if (const char* v = std::getenv("WEFT_BLOCKING_THREADS"); v != nullptr && *v != '\0') {
    c.blocking_threads = static_cast<unsigned>(number("WEFT_BLOCKING_THREADS", v, 1, 4096));
  }
  if (const char* v = std::getenv("WEFT_STACK_SIZE"); v != nullptr && *v != '\0') {
    c.stack_size = number("WEFT_STACK_SIZE", v, 16 * 1024, 1024 * 1024 * 1024);
  }
  if (const char* v = std::getenv("WEFT_BACKEND"); v != nullptr && *v != '\0') {
    c.backend = parse_backend("WEFT_BACKEND", v);
  }
  if (const char* v = std::getenv("WEFT_TLS"); v != nullptr && *v != '\0') {
    c.tls = parse_tls("WEFT_TLS", v);
  }
  if (const char* v = std::getenv("WEFT_FAULTS"); v != nullptr && *v != '\0') faults(v, c);
  return c;
}

}  // namespace weft
