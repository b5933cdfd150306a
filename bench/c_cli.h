// Command lines of the plain C benchmarks (the C++ tools have cli.hpp): `PROG [COUNT...]`, where
// --help prints usage and exits 0, and a count that is not a whole number in its range, or an
// argument too many, is named with its value on stderr and exits 2 -- never taken as 0 or as the
// default. They stay free of weft headers: shim_bench.sh runs them natively and under weftrun.
#ifndef WEFT_BENCH_C_CLI_H
#define WEFT_BENCH_C_CLI_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// cli_start() handles --help (print usage, exit 0), a stray option and more than max_args
// arguments (exit 2).
static inline void cli_start(int argc, char** argv, const char* prog, const char* usage,
                             int max_args) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(usage, stdout);
    exit(0);
  }
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] == '-' || i > max_args) {
      fprintf(stderr, "%s: %s '%s'\nTry '%s --help' for more information.\n", prog,
              argv[i][0] == '-' ? "unknown option" : "unexpected argument", argv[i], prog);
      exit(2);
    }
  }
}

// cli_count() is argument i as a whole number in lo..hi, or fallback when it is absent; a bad
// value exits 2 naming the argument (name) and the value.
static inline long cli_count(int argc, char** argv, int i, const char* prog, const char* name,
                             long fallback, long lo, long hi) {
  if (argc <= i) return fallback;
  const char* value = argv[i];
  char* end = NULL;
  errno = 0;
  long n = strtol(value, &end, 10);
  if (*value < '0' || *value > '9' || *end != '\0' || errno != 0 || n < lo || n > hi) {
    fprintf(stderr,
            "%s: %s \"%s\": expected a whole number in %ld..%ld\nTry '%s --help' for more "
            "information.\n",
            prog, name, value, lo, hi, prog);
    exit(2);
  }
  return n;
}

#endif  // WEFT_BENCH_C_CLI_H
