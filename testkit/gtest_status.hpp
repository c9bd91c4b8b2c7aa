#pragma once

// ASSERT_OK and EXPECT_OK for GoogleTest: a failure prints the error held by
// a caf::expected<T>, a caf::error or a depot::client::result<T>. For tests
// only (the rest of the kit does without GoogleTest).

#include "schema/error.hpp"

#include <caf/error.hpp>
#include <gtest/gtest.h>

#include <string>

namespace depot::test {

/// "code: message" of a depot error.
inline std::string describe_error(const caf::error& e) {
  return std::string(schema::to_string(schema::code_of(e))) + ": " +
         schema::message_of(e);
}

/// Any other error type, by the to_string of its namespace
/// (depot::client::to_string for a client::error).
template <class Error>
std::string describe_error(const Error& e) {
  return to_string(e);
}

/// Success if `r` holds no error; else a failure saying which error.
inline ::testing::AssertionResult is_ok(const caf::error& e) {
  if (!e) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << describe_error(e);
}

/// Success if `r` (an expected<T> or a result<T>: anything with a bool
/// conversion and error()) holds a value; else a failure saying which error.
template <class Result>
::testing::AssertionResult is_ok(const Result& r) {
  if (static_cast<bool>(r)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << describe_error(r.error());
}

}  // namespace depot::test

/// Fails the test (fatally) unless `x` holds a value, printing its error.
/// `x` is evaluated once.
#define ASSERT_OK(x) ASSERT_TRUE(::depot::test::is_ok(x))

/// As ASSERT_OK, but the test goes on.
#define EXPECT_OK(x) EXPECT_TRUE(::depot::test::is_ok(x))
