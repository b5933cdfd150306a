// check.h: what the differential programs share. Plain C with no weft header, like them.
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// CHECK ends the program with status 1, saying which line failed and errno, when cond is false;
// a differential test's output then differs from the native run's (or the native run fails).
#define CHECK(cond)                                                                \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      printf("FAILED line %d: %s (errno %s)\n", __LINE__, #cond, strerror(errno)); \
      exit(1);                                                                     \
    }                                                                              \
  } while (0)

// in_ms() is the time ms milliseconds from now on clock, as an absolute timespec.
static inline struct timespec in_ms(clockid_t clock, long ms) {
  struct timespec t;
  clock_gettime(clock, &t);
  t.tv_nsec += (ms % 1000) * 1000000;
  t.tv_sec += ms / 1000 + t.tv_nsec / 1000000000;
  t.tv_nsec %= 1000000000;
  return t;
}
