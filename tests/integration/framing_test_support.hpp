#pragma once

// What the framing tests share: raw requests sent byte for byte and their
// replies decoded, singly or from a table of cases.

#include "schema/codec.hpp"
#include "testkit/content.hpp"
#include "testkit/raw_msgpack.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace depot::test::test_support {

/// The op a raw request names, if its header decodes and names a known one.
inline std::string op_of(const frames& f) {
  if (f.empty()) return "ping";
  std::vector<schema::buffer> bufs;
  for (const auto& s : f) bufs.push_back(schema::buffer::copy_of(s));
  auto decoded = schema::decode_request(bufs);
  if (auto* r = std::get_if<schema::request>(&decoded))
    return std::string(schema::op_name(r->body));
  return "ping";  // an error reply decodes the same for every op
}

/// Sends raw frames and decodes the next unmatched reply (as a reply to `op`,
/// else to the op the request names).
inline schema::reply raw_call(wire_client& c, const frames& f,
                              std::string op = "") {
  c.send_frames(f);
  return decode_frames(c.receive_frames(), op.empty() ? op_of(f) : op);
}

/// Error code, rid and message of a raw call, for table-driven tests.
struct raw_case {
  std::string what;
  frames request;
  std::string expected_code;
};

/// Sends every case on `c` and expects its code, the rid `rid` and, for an
/// error, a message.
inline void expect_all(wire_client& c, const std::vector<raw_case>& cases,
                       std::optional<uint64_t> rid) {
  for (const auto& rc : cases) {
    auto r = raw_call(c, rc.request);
    EXPECT_EQ(code(r), rc.expected_code) << rc.what << ": " << describe(r);
    EXPECT_EQ(r.rid, rid) << rc.what;
    if (auto* e = std::get_if<schema::error_reply>(&r.body)) {
      EXPECT_FALSE(e->message.empty())
          << rc.what << ": an error carries a sentence";
    }
  }
}

}  // namespace depot::test::test_support
