// Helpers for tests parameterised over the number of carriers (leak counters: support.hpp).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include <weft/config.hpp>

#include "support.hpp"

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

}  // namespace weft_test

// INSTANTIATE_CARRIERS instantiates a CarrierTest suite for 1, 2 and 4 carriers.
#define INSTANTIATE_CARRIERS(Suite)                                             \
  INSTANTIATE_TEST_SUITE_P(Carriers, Suite, ::testing::Values(1u, 2u, 4u),      \
                           [](const ::testing::TestParamInfo<unsigned>& info) { \
                             return "c" + std::to_string(info.param);           \
                           })
