// docs/protocol.md `upload_status` and `abort` over real sockets.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/wire_client.hpp"
#include "tests/integration/upload_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace depot::test {
namespace {

using namespace test_support;

TEST(UploadStatus, ReportsNextAndReceivedThenTheFileAfterCompletion) {
  test_depotd d({"--chunk-max", "1000"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(3500, 3);
  auto token = begin_upload(c);
  auto st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.upload, token);
  EXPECT_EQ(st.next, 0u);
  EXPECT_EQ(st.received, 0u);
  EXPECT_FALSE(st.file.has_value());
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, content.substr(0, 1000)))),
            "ok");
  ASSERT_EQ(
      code(c.call(make_chunk(token, 1, false, content.substr(1000, 1000)))),
      "ok");
  st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 2u);
  EXPECT_EQ(st.received, 2000u);
  EXPECT_FALSE(st.file.has_value());
  ASSERT_EQ(
      code(c.call(make_chunk(token, 2, false, content.substr(2000, 1000)))),
      "ok");
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 3, true, content.substr(3000))));
  st = as<schema::upload_status_reply>(
      c.call(schema::upload_status_request{token}));
  EXPECT_EQ(st.next, 4u);
  EXPECT_EQ(st.received, 3500u);
  ASSERT_TRUE(st.file.has_value());
  EXPECT_EQ(*st.file, done.file);
}

TEST(UploadStatus, NeverIssuedTokenIsUnknownUpload) {
  test_depotd d;
  wire_client c(d.endpoint());
  for (std::string token : {std::string("nope"), std::string(64, 'z')}) {
    EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
              "unknown_upload")
        << token;
    EXPECT_EQ(code(c.call(make_chunk(token, 0, true, "x"))), "unknown_upload")
        << token;
    EXPECT_EQ(code(c.call(schema::abort_request{token})), "unknown_upload")
        << token;
  }
  // A token of another server run is just as unknown (the format is opaque,
  // so this only takes a real one from this server and changes a character).
  auto real = begin_upload(c);
  std::string forged = real;
  forged.back() = forged.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(code(c.call(schema::upload_status_request{forged})),
            "unknown_upload");
}

TEST(Abort, FreesTheUploadAndItsTokenBecomesUnknown) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  ASSERT_EQ(code(c.call(make_chunk(token, 0, false, "first part"))), "ok");
  EXPECT_EQ(code(c.call(schema::abort_request{token})), "ok");
  EXPECT_EQ(code(c.call(make_chunk(token, 1, true, "second part"))),
            "unknown_upload");
  EXPECT_EQ(code(c.call(schema::upload_status_request{token})),
            "unknown_upload");
  EXPECT_EQ(code(c.call(schema::abort_request{token})), "unknown_upload");
  EXPECT_TRUE(list_all(c).empty());
}

TEST(Abort, AfterCompletionChangesNothingAndAnswersOk) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto token = begin_upload(c);
  auto done = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 0, true, "keep me")));
  EXPECT_EQ(code(c.call(schema::abort_request{token})), "ok");
  auto st = as<schema::stat_reply>(stat_of(c, done.file.id));
  EXPECT_EQ(st.file, done.file);
  EXPECT_EQ(download_all(c, done.file.id), "keep me");
  // The completion is still answered after the abort.
  auto again = as<schema::chunk_done_reply>(
      c.call(make_chunk(token, 0, true, "keep me")));
  EXPECT_EQ(again.file, done.file);
}

}  // namespace
}  // namespace depot::test
