#pragma once

// depotd_process for GoogleTest tests: a test that fails shows what depotd
// logged.

#include "testkit/depotd_process.hpp"
#include "testkit/gtest_store_gate.hpp"
#include "testkit/rados_env.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <string>
#include <thread>

namespace depot::test {

/// Skips a test of the POSIX store (it inspects or plants files under
/// depotd's --root, or its sizes follow that store's memory reservation)
/// when the tests run on the RADOS store.
#define DEPOT_POSIX_STORE_ONLY()                                    \
  if (::depot::test::test_store() != "posix")                       \
  GTEST_SKIP() << "inspects the POSIX store's files under --root; " \
                  "the tests run on the "                           \
               << ::depot::test::test_store() << " store"

/// Skips, in the RADOS pass, a test that starts its own depotd on a POSIX
/// root (not through the kit's store choice): that pass would repeat it
/// unchanged.
#define DEPOT_ONCE_NOT_PER_STORE()                                      \
  if (::depot::test::test_store() != "posix")                           \
  GTEST_SKIP() << "starts its own depotd on a POSIX root; runs in the " \
                  "posix pass"

/// Whether depotd's RSS figures follow the allocator the tests' RSS bounds
/// were measured with (tcmalloc, which returns freed memory when told).
/// Sanitizer builds' allocators pad every block and keep freed memory in
/// quarantine: there the figures are printed but not bounded.
#ifdef DEPOT_RSS_BOUNDS
inline constexpr bool rss_bounds_apply = true;
#else
inline constexpr bool rss_bounds_apply = false;
#endif

/// EXPECT_LT on depotd RSS figures where rss_bounds_apply; nothing
/// otherwise. Takes a streamed message like EXPECT_LT.
#define EXPECT_RSS_LT(a, b)               \
  if (!::depot::test::rss_bounds_apply) { \
  } else                                  \
    EXPECT_LT(a, b)

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

/// Sends SIGHUP to `d` and waits (up to 2 s) until its log shows the reload
/// done ("SIGHUP: reload done"); fails the running test otherwise.
inline void reload(depotd_process& d) {
  size_t before = d.log().size();
  ASSERT_EQ(::kill(d.pid(), SIGHUP), 0);
  for (int i = 0; i < 200; ++i) {
    if (d.log().find("SIGHUP: reload done", before) != std::string::npos)
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL() << "depotd did not log its reload";
}

}  // namespace depot::test
