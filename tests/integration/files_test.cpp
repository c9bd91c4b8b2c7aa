// docs/protocol.md `download`, `stat`, `delete`, `list`, Naming and dedup over
// real sockets.

#include "testkit/content.hpp"
#include "testkit/gtest_depotd.hpp"
#include "testkit/raw_msgpack.hpp"
#include "testkit/wire_client.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace depot::test {
namespace {

schema::download_request range(const std::string& id, uint64_t offset,
                               std::optional<uint64_t> length) {
  return schema::download_request{id, offset, length};
}

// Where id `abcdEFGH1234` lives: ROOT/ab/cd/EFGH1234.
std::string path_of(const test_depotd& d, const std::string& id) {
  return d.root() + "/" + id.substr(0, 2) + "/" + id.substr(2, 2) + "/" +
         id.substr(4);
}

TEST(Download, RangesReturnTheRightBytesAndEof) {
  test_depotd d({"--chunk-max", "65536"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(300000, 21);
  auto f = store_content(c, content);
  auto r = as<schema::download_reply>(c.call(range(f.id, 1000, 5000)));
  EXPECT_EQ(r.file, f.id);
  EXPECT_EQ(r.offset, 1000u);
  EXPECT_EQ(r.size, 300000u);
  EXPECT_FALSE(r.eof);
  EXPECT_EQ(r.data.view(), content.substr(1000, 5000));
  // A range crossing the end: fewer bytes, eof.
  r = as<schema::download_reply>(c.call(range(f.id, 299990, 100)));
  EXPECT_EQ(r.data.view(), content.substr(299990));
  EXPECT_TRUE(r.eof);
  // A range ending exactly at the end: eof.
  r = as<schema::download_reply>(c.call(range(f.id, 299900, 100)));
  EXPECT_EQ(r.data.view(), content.substr(299900));
  EXPECT_TRUE(r.eof);
  // One byte at the start, one at the end.
  r = as<schema::download_reply>(c.call(range(f.id, 0, 1)));
  EXPECT_EQ(r.data.view(), content.substr(0, 1));
  EXPECT_FALSE(r.eof);
  r = as<schema::download_reply>(c.call(range(f.id, 299999, 1)));
  EXPECT_EQ(r.data.view(), content.substr(299999, 1));
  EXPECT_TRUE(r.eof);
}

TEST(Download, AClientThatDoesNotReadGetsBusyInsteadOfMoreBytesQueued) {
  // Quota: 64 × chunk_max = 4 MiB unwritten per client.
  test_depotd d({"--chunk-max", "65536"});
  wire_client greedy(d.endpoint());
  auto f = store_content(greedy, random_bytes(65536, 5));
  // 3,000 × 64 KiB asked for, none read yet: ~190 MiB, far more than this
  // client's ZeroMQ and kernel buffers take in.
  constexpr int asked = 3000;
  std::vector<uint64_t> rids;
  for (int i = 0; i < asked; ++i)
    rids.push_back(greedy.send(range(f.id, 0, 65536)));
  // Everyone else is served meanwhile.
  wire_client other(d.endpoint());
  EXPECT_EQ(code(other.call(schema::ping_request{})), "ok");
  auto r = other.call(range(f.id, 0, 65536));
  EXPECT_EQ(code(r), "ok") << describe(r);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  int ok = 0, busy = 0;
  for (auto rid : rids) {
    auto c = code(greedy.receive(rid));
    ok += c == "ok";
    busy += c == "busy";
  }
  EXPECT_EQ(ok + busy, asked);
  EXPECT_GT(busy, 0);
  EXPECT_GT(ok, 0);
  // Read, the quota is back.
  EXPECT_EQ(code(greedy.call(range(f.id, 0, 65536))), "ok");
}

TEST(Download, OffsetEqualToTheSizeIsEmptyWithEofAndBeyondIsOutOfRange) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto f = store_content(c, "0123456789");
  auto r = as<schema::download_reply>(c.call(range(f.id, 10, std::nullopt)));
  EXPECT_TRUE(r.data.empty());
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(r.size, 10u);
  EXPECT_EQ(r.offset, 10u);
  EXPECT_EQ(code(c.call(range(f.id, 11, std::nullopt))), "out_of_range");
  EXPECT_EQ(code(c.call(range(f.id, ~uint64_t{0}, 1))), "out_of_range");
}

TEST(Download, LengthOverChunkMaxIsCutAndTheDefaultIsChunkMax) {
  test_depotd d({"--chunk-max", "65536"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(200000, 22);
  auto f = store_content(c, content);
  auto r = as<schema::download_reply>(c.call(range(f.id, 0, 1 << 20)));
  EXPECT_EQ(r.data.size(), 65536u);
  EXPECT_EQ(r.data.view(), content.substr(0, 65536));
  EXPECT_FALSE(r.eof);
  r = as<schema::download_reply>(c.call(range(f.id, 100, ~uint64_t{0})));
  EXPECT_EQ(r.data.size(), 65536u);
  EXPECT_EQ(r.data.view(), content.substr(100, 65536));
  r = as<schema::download_reply>(c.call(range(f.id, 70000, std::nullopt)));
  EXPECT_EQ(r.data.size(), 65536u);
  EXPECT_EQ(r.data.view(), content.substr(70000, 65536));
  r = as<schema::download_reply>(c.call(range(f.id, 150000, std::nullopt)));
  EXPECT_EQ(r.data.view(), content.substr(150000));
  EXPECT_TRUE(r.eof);
}

TEST(Download, PipelinedRangesFetchAMultiMebibyteFile) {
  test_depotd d({"--chunk-max", "262144"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(4 << 20, 23);
  auto f = store_content(c, content);
  EXPECT_EQ(download_all(c, f.id, 0, 8), content);
  EXPECT_EQ(download_all(c, f.id, 100000, 3), content);
}

TEST(Download, UnknownIdIsNotFoundAndMalformedIdsAreBadRequests) {
  test_depotd d;
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(range("000000000000", 0, std::nullopt))), "not_found");
  EXPECT_EQ(code(c.call(range("zzzzzzzzzzzz", 0, std::nullopt))), "not_found");
  for (std::string bad :
       {"", "short", "0000000000000", "00000000000", "abc-def_1234",
        "../../etc/pa", "abcd/efgh123", "abcdefgh123\xc3"}) {
    EXPECT_EQ(code(c.call(range(bad, 0, std::nullopt))), "bad_request") << bad;
    EXPECT_EQ(code(stat_of(c, bad)), "bad_request") << bad;
    EXPECT_EQ(code(c.call(schema::delete_request{bad})), "bad_request") << bad;
  }
}

TEST(Download, MetaTrueAddsWhatStatGivesAndWithoutItThereIsNone) {
  test_depotd d({"--chunk-max", "65536"});
  wire_client c(d.endpoint());
  std::string content = random_bytes(300000, 22);
  auto f = store_content(c, content);
  auto with = schema::download_request{f.id, 0, std::nullopt, true};
  auto r = as<schema::download_reply>(c.call(with));
  ASSERT_TRUE(r.meta.has_value());
  EXPECT_EQ(*r.meta, as<schema::stat_reply>(stat_of(c, f.id)).file);
  EXPECT_EQ(*r.meta, f);
  EXPECT_EQ(r.data.view(), content.substr(0, 65536));
  EXPECT_FALSE(r.eof);
  // At any offset, and with a length over chunk_max (cut as usual).
  with.offset = 299000;
  with.length = 1 << 20;
  r = as<schema::download_reply>(c.call(with));
  EXPECT_EQ(r.meta, f);
  EXPECT_EQ(r.data.view(), content.substr(299000));
  EXPECT_TRUE(r.eof);
  r = as<schema::download_reply>(c.call(range(f.id, 0, 10)));
  EXPECT_EQ(r.meta, std::nullopt);

  // An empty file: no bytes, eof, and its metadata.
  auto empty = store_content(c, "");
  r = as<schema::download_reply>(
      c.call(schema::download_request{empty.id, 0, 65536, true}));
  EXPECT_TRUE(r.data.empty());
  EXPECT_TRUE(r.eof);
  EXPECT_EQ(r.meta, empty);
  EXPECT_EQ(code(c.call(schema::download_request{"000000000000", 0, {}, true})),
            "not_found");
}

TEST(Stat, ReturnsTheSameMetadataAsTheCompletion) {
  test_depotd d;
  wire_client c(d.endpoint());
  upload_options o;
  o.name = "stat-me.txt";
  o.mime = "text/plain";
  auto f = store_content(c, "metadata, please", o);
  auto s = as<schema::stat_reply>(stat_of(c, f.id));
  EXPECT_EQ(s.file, f);
  EXPECT_EQ(code(stat_of(c, "000000000000")), "not_found");
}

TEST(Delete, TakesReferencesAwayAndAtZeroTheFileIsGone) {
  test_depotd d;
  wire_client c(d.endpoint());
  std::string content = "referenced twice";
  auto first = store_content(c, content);
  auto second = store_content(c, content);
  ASSERT_EQ(second.id, first.id);
  ASSERT_EQ(second.refs, 2u);
  bool posix = test_store() == "posix";
  if (posix) {
    ASSERT_TRUE(std::filesystem::exists(path_of(d, first.id)));
  }

  auto del = as<schema::delete_reply>(c.call(schema::delete_request{first.id}));
  EXPECT_EQ(del.refs, 1u);
  EXPECT_EQ(as<schema::stat_reply>(stat_of(c, first.id)).file.refs, 1u);
  EXPECT_EQ(download_all(c, first.id), content);

  del = as<schema::delete_reply>(c.call(schema::delete_request{first.id}));
  EXPECT_EQ(del.refs, 0u);
  EXPECT_EQ(code(stat_of(c, first.id)), "not_found");
  EXPECT_EQ(code(c.call(range(first.id, 0, std::nullopt))), "not_found");
  EXPECT_EQ(code(c.call(schema::delete_request{first.id})), "not_found");
  EXPECT_TRUE(list_all(c).empty());
  if (posix) {
    EXPECT_FALSE(std::filesystem::exists(path_of(d, first.id)))
        << "its space is freed";
  }

  // The same content can be stored again afterwards.
  auto again = store_content(c, content);
  EXPECT_EQ(again.refs, 1u);
  EXPECT_EQ(download_all(c, again.id), content);
}

TEST(Delete, UnknownIdIsNotFound) {
  test_depotd d;
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(schema::delete_request{"000000000000"})), "not_found");
}

TEST(List, EmptyStoreGivesNoFilesAndNilNext) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto page =
      as<schema::list_reply>(c.call(schema::list_request{std::nullopt, 100}));
  EXPECT_TRUE(page.files.empty());
  EXPECT_FALSE(page.next.has_value());
}

TEST(List, PagesFollowNextInAscendingByteOrderOfIds) {
  test_depotd d;
  wire_client c(d.endpoint());
  std::map<std::string, schema::file_meta> stored;
  for (int i = 0; i < 7; ++i) {
    auto f = store_content(c, "file number " + std::to_string(i));
    stored[f.id] = f;
  }
  std::vector<std::string> expected_ids;
  for (auto& [id, f] : stored)
    expected_ids.push_back(id);  // std::map: byte order

  std::vector<std::string> seen;
  std::optional<std::string> after;
  std::vector<size_t> page_sizes;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = as<schema::list_reply>(c.call(schema::list_request{after, 3}));
    page_sizes.push_back(page.files.size());
    for (auto& f : page.files) {
      seen.push_back(f.id);
      EXPECT_EQ(f, stored[f.id]) << "list gives the full metadata";
    }
    if (!page.next) break;
    EXPECT_EQ(*page.next, page.files.back().id);
    after = page.next;
  }
  EXPECT_EQ(seen, expected_ids);
  EXPECT_EQ(page_sizes, (std::vector<size_t>{3, 3, 1}));

  // `after` need not be stored: ids greater than it.
  auto page = as<schema::list_reply>(
      c.call(schema::list_request{std::string("000000000000"), 100}));
  EXPECT_EQ(page.files.size(), 7u);
  page = as<schema::list_reply>(
      c.call(schema::list_request{std::string("zzzzzzzzzzzz"), 100}));
  EXPECT_TRUE(page.files.empty());
  EXPECT_FALSE(page.next.has_value());
  page = as<schema::list_reply>(
      c.call(schema::list_request{expected_ids[3], 100}));
  ASSERT_EQ(page.files.size(), 3u);
  EXPECT_EQ(page.files[0].id, expected_ids[4]);
  // A page that holds exactly the rest: next is nil or leads to an empty page.
  page =
      as<schema::list_reply>(c.call(schema::list_request{expected_ids[3], 3}));
  ASSERT_EQ(page.files.size(), 3u);
  if (page.next) {
    auto rest =
        as<schema::list_reply>(c.call(schema::list_request{page.next, 3}));
    EXPECT_TRUE(rest.files.empty());
    EXPECT_FALSE(rest.next.has_value());
  }
}

TEST(List, LimitZeroIsBadRequestAndAMalformedAfterToo) {
  test_depotd d;
  wire_client c(d.endpoint());
  EXPECT_EQ(code(c.call(schema::list_request{std::nullopt, 0})), "bad_request");
  EXPECT_EQ(code(c.call(schema::list_request{std::string("short"), 10})),
            "bad_request");
}

TEST(List, LimitOver1000IsCutTo1000AndTheDefaultIs100) {
  test_depotd d;
  wire_client c(d.endpoint());
  // 1005 small distinct files, uploads and chunks pipelined in batches.
  const int total = 1005;
  std::set<std::string> ids;
  for (int start = 0; start < total; start += 200) {
    int n = std::min(200, total - start);
    std::vector<uint64_t> begins;
    for (int i = 0; i < n; ++i) {
      // A declared size keeps each upload's memory reservation tiny.
      schema::upload_request req;
      req.name = "f" + std::to_string(start + i);
      req.size = ("content " + std::to_string(start + i)).size();
      begins.push_back(c.send(req));
    }
    std::vector<uint64_t> chunks;
    for (int i = 0; i < n; ++i) {
      auto token = as<schema::upload_reply>(c.receive(begins[i])).upload;
      chunks.push_back(c.send(
          make_chunk(token, 0, true, "content " + std::to_string(start + i))));
    }
    for (auto rid : chunks)
      ids.insert(as<schema::chunk_done_reply>(c.receive(rid)).file.id);
  }
  ASSERT_EQ(ids.size(), static_cast<size_t>(total));
  auto page =
      as<schema::list_reply>(c.call(schema::list_request{std::nullopt, 5000}));
  EXPECT_EQ(page.files.size(), 1000u);
  ASSERT_TRUE(page.next.has_value());
  auto rest =
      as<schema::list_reply>(c.call(schema::list_request{page.next, 5000}));
  EXPECT_EQ(rest.files.size(), 5u);
  EXPECT_FALSE(rest.next.has_value());

  // The default limit: a raw list without `limit` (the encoder always writes
  // one).
  c.send_frames({mp::header({{"op", mp::str("list")}})});
  auto raw = decode_frames(c.receive_frames(), "list");
  EXPECT_EQ(as<schema::list_reply>(raw).files.size(), 100u);

  std::vector<std::string> all;
  for (auto& f : page.files) all.push_back(f.id);
  for (auto& f : rest.files) all.push_back(f.id);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end()));
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()), ids);
}

TEST(Naming, HelloDepotGetsTheTestVectorId) {
  test_depotd d;
  wire_client c(d.endpoint());
  auto f = store_content(c, "hello depot\n");
  EXPECT_EQ(f.id, "rbWeBrTIp1Js");
  EXPECT_EQ(f.sha256, sha256_hex("hello depot\n"));
}

TEST(Naming, EmptyContentGetsTheTestVectorId) {
  test_depotd d;
  wire_client c(d.endpoint());
  EXPECT_EQ(store_content(c, "").id, "nciB6WIL2fIa");
}

TEST(Naming, TestSupportAgreesWithTheProtocolsVectors) {
  // The independent naming code used below, checked against docs/protocol.md.
  EXPECT_EQ(candidate_id("", 0), "nciB6WIL2fIa");
  EXPECT_EQ(candidate_id("", 1), "IT8pUXFYzNmV");
  EXPECT_EQ(candidate_id("", 2), "CGmJTE4WndsA");
  EXPECT_EQ(candidate_id("", 0, 5), "000000000004");
  EXPECT_EQ(candidate_id("hello depot\n", 0), "rbWeBrTIp1Js");
  EXPECT_EQ(candidate_id("hello depot\n", 1), "XrjTm2wUB8Qg");
  EXPECT_EQ(candidate_id("hello depot\n", 2), "JEBlcgFFBsVy");
  EXPECT_EQ(candidate_id("hello depot\n", 0, 5), "00000000000S");
}

TEST(Naming, NarrowedIdsGiveTheTestVectorFirstCandidates) {
  test_depotd d({"--id-bits", "5"});
  wire_client c(d.endpoint());
  EXPECT_EQ(store_content(c, "hello depot\n").id, "00000000000S");
  EXPECT_EQ(store_content(c, "").id, "000000000004");
}

// The ids the server must give `contents` uploaded one after another into an
// empty store with ids of `bits` bits: the protocol's candidate walk. An
// empty string stands for name_exhausted.
std::vector<std::string> expected_walk(const std::vector<std::string>& contents,
                                       unsigned bits, uint32_t max_candidates) {
  std::map<std::string, std::string> taken;  // id → content
  std::vector<std::string> out;
  for (const auto& content : contents) {
    std::string got;
    for (uint32_t k = 0; k < max_candidates; ++k) {
      auto id = candidate_id(content, k, bits);
      auto it = taken.find(id);
      if (it == taken.end()) {
        taken[id] = content;
        got = id;
        break;
      }
      if (it->second == content) {
        got = id;
        break;
      }
    }
    out.push_back(got);
  }
  return out;
}

TEST(Naming, CollidingContentsGetDistinctIdsAndEachDownloadsItsOwnBytes) {
  test_depotd d({"--id-bits", "5"});
  wire_client c(d.endpoint());
  std::vector<std::string> contents;
  for (int i = 0; i < 12; ++i)
    contents.push_back("colliding content " + std::to_string(i));
  auto expected = expected_walk(contents, 5, 16);
  // The set must really collide for the test to mean anything.
  int collisions = 0;
  for (size_t i = 0; i < contents.size(); ++i)
    if (expected[i] != candidate_id(contents[i], 0, 5)) ++collisions;
  ASSERT_GT(collisions, 0);

  std::vector<schema::file_meta> files;
  for (size_t i = 0; i < contents.size(); ++i) {
    auto f = store_content(c, contents[i]);
    EXPECT_EQ(f.id, expected[i]) << "content " << i;
    EXPECT_FALSE(as<schema::stat_reply>(stat_of(c, f.id)).file.sha256.empty());
    files.push_back(f);
  }
  std::set<std::string> distinct;
  for (size_t i = 0; i < files.size(); ++i) {
    distinct.insert(files[i].id);
    EXPECT_EQ(download_all(c, files[i].id), contents[i]) << files[i].id;
    EXPECT_EQ(files[i].sha256, sha256_hex(contents[i]));
  }
  EXPECT_EQ(distinct.size(), contents.size());
  // Dedup still finds content stored past a collision.
  for (size_t i = 0; i < contents.size(); ++i) {
    auto again = as<schema::chunk_done_reply>(upload_content(c, contents[i]));
    EXPECT_TRUE(again.dedup);
    EXPECT_EQ(again.file.id, files[i].id);
    EXPECT_EQ(again.file.refs, 2u);
  }
  EXPECT_EQ(list_all(c).size(), contents.size());
}

TEST(Naming, EveryCandidateHeldByOtherContentIsNameExhausted) {
  // Two possible ids, 16 candidates each: two contents fill them, the third
  // distinct content finds no free one.
  test_depotd d({"--id-bits", "1", "--max-candidates", "16"});
  wire_client c(d.endpoint());
  std::vector<std::string> contents = {"first", "second", "third"};
  auto expected = expected_walk(contents, 1, 16);
  ASSERT_FALSE(expected[0].empty());
  ASSERT_FALSE(expected[1].empty());
  ASSERT_TRUE(expected[2].empty());
  EXPECT_EQ(store_content(c, contents[0]).id, expected[0]);
  EXPECT_EQ(store_content(c, contents[1]).id, expected[1]);

  auto token = begin_upload(c);
  auto r = c.call(make_chunk(token, 0, true, contents[2]));
  EXPECT_EQ(code(r), "name_exhausted") << describe(r);
  EXPECT_EQ(code(c.call(make_chunk(token, 0, true, contents[2]))),
            "name_exhausted")
      << "a retried last chunk gets the same error";
  auto files = list_all(c);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(download_all(c, expected[0]), contents[0]);
  EXPECT_EQ(download_all(c, expected[1]), contents[1]);
  // Known content still dedups.
  auto again = as<schema::chunk_done_reply>(upload_content(c, contents[1]));
  EXPECT_TRUE(again.dedup);
  EXPECT_EQ(again.file.refs, 2u);
}

TEST(Dedup, SameContentTwiceIsStoredOnceWithTwoReferences) {
  test_depotd d;
  wire_client c(d.endpoint());
  upload_options o;
  o.name = "first-name.txt";
  auto first = as<schema::chunk_done_reply>(upload_content(c, "same bytes", o));
  EXPECT_FALSE(first.dedup);
  EXPECT_EQ(first.file.refs, 1u);
  o.name = "second-name.txt";
  auto second =
      as<schema::chunk_done_reply>(upload_content(c, "same bytes", o));
  EXPECT_TRUE(second.dedup);
  EXPECT_EQ(second.file.id, first.file.id);
  EXPECT_EQ(second.file.refs, 2u);
  EXPECT_EQ(second.file.name, "first-name.txt")
      << "the name of the first upload";
  EXPECT_EQ(second.file.created, first.file.created);
  auto files = list_all(c);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].refs, 2u);
}

TEST(Dedup, TwoUploadsOfTheSameContentFinishingTogetherBothSucceed) {
  test_depotd d({"--chunk-max", "65536", "--window", "8"});
  std::string content = random_bytes(1 << 20, 31);
  wire_client a(d.endpoint());
  wire_client b(d.endpoint());
  auto ta = begin_upload(a, "a.bin");
  auto tb = begin_upload(b, "b.bin");
  const uint64_t chunks = content.size() / 65536;
  for (uint64_t seq = 0; seq + 1 < chunks; ++seq) {
    auto part = std::string_view(content).substr(seq * 65536, 65536);
    ASSERT_EQ(code(a.call(make_chunk(ta, seq, false, part))), "ok");
    ASSERT_EQ(code(b.call(make_chunk(tb, seq, false, part))), "ok");
  }
  auto tail = std::string_view(content).substr((chunks - 1) * 65536);
  auto ra = a.send(make_chunk(ta, chunks - 1, true, tail));
  auto rb = b.send(make_chunk(tb, chunks - 1, true, tail));
  auto da = as<schema::chunk_done_reply>(a.receive(ra));
  auto db = as<schema::chunk_done_reply>(b.receive(rb));
  EXPECT_EQ(da.file.id, db.file.id);
  EXPECT_NE(da.dedup, db.dedup) << "exactly one of them stored the content";
  // Each reply shows the refs when it was sent: the later one 2, the other
  // 1 or (if sent after the second commit) 2.
  EXPECT_EQ(std::max(da.file.refs, db.file.refs), 2u);
  EXPECT_GE(std::min(da.file.refs, db.file.refs), 1u);
  auto s = as<schema::stat_reply>(stat_of(a, da.file.id));
  EXPECT_EQ(s.file.refs, 2u);
  EXPECT_EQ(download_all(a, da.file.id), content);
  EXPECT_EQ(list_all(a).size(), 1u);
}

}  // namespace
}  // namespace depot::test
