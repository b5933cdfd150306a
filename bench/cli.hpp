// cli: what the bench tools' command lines share -- one way to report a usage error (the tool,
// the option or argument as typed, its value, what was expected; status 2), the number parsers
// behind them, and the positional count the micro benchmarks take. The tools parse options with
// getopt_long, so `--opt value` and `--opt=value` are one option.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace bench::cli {

// usage_error() prints "PROG: WHY" and a pointer to --help on stderr, and exits 2.
[[noreturn]] inline void usage_error(const char* prog, const std::string& why) {
  std::fprintf(stderr, "%s: %s\nTry '%s --help' for more information.\n", prog, why.c_str(), prog);
  std::exit(2);
}

// bad_value() is usage_error() for a value: `LABEL "VALUE": expected EXPECTED`.
[[noreturn]] inline void bad_value(const char* prog, const char* label, const char* value,
                                   const std::string& expected) {
  usage_error(prog, std::string(label) + " \"" + value + "\": expected " + expected);
}

// count() parses a whole decimal number in lo..hi, or exits through bad_value().
inline std::uint64_t count(const char* prog, const char* label, const char* value, std::uint64_t lo,
                           std::uint64_t hi) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(value, &end, 10);
  if (*value < '0' || *value > '9' || *end != '\0' || errno != 0 || v < lo || v > hi) {
    bad_value(prog, label, value,
              "a whole number in " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v;
}

// seconds() parses a finite, non-negative number of seconds (positive unless allow_zero).
inline double seconds(const char* prog, const char* label, const char* value, bool allow_zero) {
  char* end = nullptr;
  double v = std::strtod(value, &end);
  if (*value == '\0' || *end != '\0' || !std::isfinite(v) || v < 0 || (v == 0 && !allow_zero)) {
    bad_value(prog, label, value,
              allow_zero ? "a number of seconds, 0 or more" : "a number of seconds above 0");
  }
  return v;
}

// positional() reads a micro benchmark's command line, `PROG [NAME]`: --help or -h prints usage
// and exits 0; NAME, when given, must be a positive whole number; anything more is an error.
// Returns NAME's value, or fallback when it is absent.
inline std::uint64_t positional(int argc, char** argv, const char* usage, const char* name,
                                std::uint64_t fallback) {
  const char* prog =
      std::strrchr(argv[0], '/') != nullptr ? std::strrchr(argv[0], '/') + 1 : argv[0];
  if (argc > 1 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::fputs(usage, stdout);
    std::exit(0);
  }
  if (argc > 1 && argv[1][0] == '-') {
    usage_error(prog, std::string("unknown option '") + argv[1] + "'");
  }
  if (argc > 2) usage_error(prog, std::string("unexpected argument '") + argv[2] + "'");
  if (argc < 2) return fallback;
  return count(prog, name, argv[1], 1, UINT64_MAX);
}

}  // namespace bench::cli
