#pragma once

// depotd_process for GoogleTest tests: a test that fails shows what depotd
// logged.

#include "testkit/depotd_process.hpp"

#include <gtest/gtest.h>

#include <iostream>

namespace depot::test {

/// A depotd_process that is killed (SIGKILL: a test's teardown needs no
/// clean shutdown) when it goes out of scope, and whose log then goes to
/// stderr if the running test has failed.
class test_depotd : public depotd_process {
 public:
  using depotd_process::depotd_process;

  ~test_depotd() {
    kill9();
    if (::testing::Test::HasFailure())
      std::cerr << "---- depotd log (" << log_path() << ") ----\n"
                << log() << "---- end of depotd log ----\n";
  }

  test_depotd(const test_depotd&) = delete;
  test_depotd& operator=(const test_depotd&) = delete;
};

}  // namespace depot::test
