// Helpers for tests parameterised over the number of carriers, and leak counters.
#pragma once

#include <dirent.h>

#include <gtest/gtest.h>

#include <string>

#include <weft/config.hpp>

namespace weft_test {

// CarrierTest runs each test with Config::carriers = 1, 2 and 4 (see INSTANTIATE_CARRIERS).
class CarrierTest : public ::testing::TestWithParam<unsigned> {
 protected:
  // config() is the default Config with this instance's carrier count.
  weft::Config config() const {
    weft::Config c;
    c.carriers = GetParam();
    return c;
  }
};

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

}  // namespace weft_test

// INSTANTIATE_CARRIERS instantiates a CarrierTest suite for 1, 2 and 4 carriers.
#define INSTANTIATE_CARRIERS(Suite)                                             \
  INSTANTIATE_TEST_SUITE_P(Carriers, Suite, ::testing::Values(1u, 2u, 4u),      \
                           [](const ::testing::TestParamInfo<unsigned>& info) { \
                             return "c" + std::to_string(info.param);           \
                           })
