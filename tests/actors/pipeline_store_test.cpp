// The pipeline's actors (see pipeline_test.cpp) over the store: storage
// failures, content types, stat, list and delete.

#include "tests/actors/pipeline_test_support.hpp"

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace depot::actors {
namespace {

using namespace test_support;

TEST_F(Pipeline, StorageFailuresBecomeIoErrorRepliesAndTheServerGoesOn) {
  start();
  fsys->inject({storage::fs_op::sync_fs, EIO, "", 0, 1});
  auto token = begin({"f.bin", {}, {}, {}});
  auto r = chunk(token, 0, true, "will fail");
  EXPECT_EQ(error_of(r), errc::io_error);
  EXPECT_TRUE(listing().empty());
  std::vector<std::string> expected{"commit:failed"};
  EXPECT_EQ(log.events, expected);  // no completion was ever sent
  token = begin({"f.bin", {}, {}, {}});
  EXPECT_TRUE(std::holds_alternative<schema::chunk_done_reply>(
      chunk(token, 0, true, "will work").body));
}

TEST_F(Pipeline, ContentTypeIsDeclaredOrDetectedWhetherHashedHereOrByAHasher) {
  start();
  int n = 0;
  auto mime = [&](std::optional<std::string> declared, bool one_chunk) {
    // Distinct contents: a dedup would answer with the first upload's type.
    const std::string png =
        std::string("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16) + std::to_string(++n);
    auto token = begin({"f", {}, {}, declared});
    if (!one_chunk) chunk(token, 0, false, png.substr(0, 9));
    auto r =
        chunk(token, one_chunk ? 0 : 1, true, one_chunk ? png : png.substr(9));
    auto* done = std::get_if<schema::chunk_done_reply>(&r.body);
    return done ? done->file.mime : "<no file>";
  };
  EXPECT_EQ(mime(std::nullopt, true), "image/png");
  EXPECT_EQ(mime(std::nullopt, false), "image/png");
  EXPECT_EQ(mime(std::string("image/x-mine"), true), "image/x-mine");
  EXPECT_EQ(mime(std::string("image/x-mine"), false), "image/x-mine");
}

TEST_F(Pipeline, ReadsStatsListsAndDeletes) {
  start();
  auto token = begin({"r.txt", {}, {}, std::string("text/x-custom")});
  auto r = chunk(token, 0, true, "0123456789");
  auto id = std::get<schema::chunk_done_reply>(r.body).file.id;
  EXPECT_EQ(std::get<schema::chunk_done_reply>(r.body).file.mime,
            "text/x-custom");
  auto d = one(schema::download_request{id, 4, 3});
  auto* dl = std::get_if<schema::download_reply>(&d.body);
  ASSERT_NE(dl, nullptr);
  EXPECT_EQ(dl->data.view(), "456");
  EXPECT_EQ(dl->size, 10u);
  EXPECT_FALSE(dl->eof);
  d = one(schema::download_request{id, 8, std::nullopt});
  EXPECT_TRUE(std::get<schema::download_reply>(d.body).eof);
  EXPECT_EQ(error_of(one(schema::download_request{id, 11, std::nullopt})),
            errc::out_of_range);
  auto s = one(schema::stat_request{id});
  EXPECT_EQ(std::get<schema::stat_reply>(s.body).file.refs, 1u);
  auto l = one(schema::list_request{std::nullopt, 10});
  EXPECT_EQ(std::get<schema::list_reply>(l.body).files.size(), 1u);
  auto del = one(schema::delete_request{id});
  EXPECT_EQ(std::get<schema::delete_reply>(del.body).refs, 0u);
  EXPECT_EQ(error_of(one(schema::stat_request{id})), errc::not_found);
}

TEST_F(Pipeline, ADownloadAskingForMetaGetsWhatStatGivesOrStatsError) {
  start();
  auto token = begin({"m.txt", {}, {}, std::string("text/plain")});
  auto r = chunk(token, 0, true, "0123456789");
  auto file = std::get<schema::chunk_done_reply>(r.body).file;
  auto d = one(schema::download_request{file.id, 4, 3, true});
  auto* dl = std::get_if<schema::download_reply>(&d.body);
  ASSERT_NE(dl, nullptr);
  EXPECT_EQ(dl->data.view(), "456");
  ASSERT_TRUE(dl->meta.has_value());
  EXPECT_EQ(*dl->meta, std::get<schema::stat_reply>(
                           one(schema::stat_request{file.id}).body)
                           .file);
  EXPECT_EQ(*dl->meta, file);
  d = one(schema::download_request{file.id, 4, 3});
  EXPECT_EQ(std::get<schema::download_reply>(d.body).meta, std::nullopt);
  // The bytes were read but the metadata could not be: the error, no bytes.
  fsys->inject({storage::fs_op::list_dir, EIO, "", 0, 1});
  EXPECT_EQ(error_of(one(schema::download_request{file.id, 0, {}, true})),
            errc::io_error);
  d = one(schema::download_request{file.id, 0, {}, true});
  EXPECT_EQ(std::get<schema::download_reply>(d.body).meta, file);
}

}  // namespace
}  // namespace depot::actors
