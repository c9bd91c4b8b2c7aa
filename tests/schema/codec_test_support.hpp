#pragma once

// Helpers shared by the codec tests: hand-made msgpack headers (to send what
// encode_request never would; values from testkit/raw_msgpack.hpp) and
// unwrapping of decode results.

#include "schema/buffer.hpp"
#include "schema/codec.hpp"
#include "testkit/raw_msgpack.hpp"

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace depot::schema::test_support {

/// The bytes of `hex`, e.g. "82 a2 6f 70" (spaces ignored).
inline std::string from_hex(std::string_view hex) {
  std::string out;
  int high = -1;
  for (char c : hex) {
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0) continue;
    if (high < 0) {
      high = v;
    } else {
      out += static_cast<char>(high << 4 | v);
      high = -1;
    }
  }
  return out;
}

/// `bytes` as lowercase hex with a space between bytes, for failure output.
inline std::string to_spaced_hex(std::string_view bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    auto b = static_cast<uint8_t>(c);
    if (!out.empty()) out += ' ';
    out += digits[b >> 4];
    out += digits[b & 0xF];
  }
  return out;
}

namespace mp = ::depot::test::mp;

/// A msgpack map with string keys, built entry by entry in order.
class map_builder {
 public:
  /// Sets `key` to `v`, in place if the key is already there.
  map_builder& set(std::string_view key, const mp::value& v) {
    for (auto& [k, existing] : entries_) {
      if (k == key) {
        existing = v.bytes;
        return *this;
      }
    }
    entries_.emplace_back(std::string{key}, v.bytes);
    return *this;
  }
  map_builder& str(std::string_view key, std::string_view v) {
    return set(key, mp::str(v));
  }
  map_builder& uint(std::string_view key, uint64_t v) {
    return set(key, mp::uint(v));
  }
  map_builder& boolean(std::string_view key, bool v) {
    return set(key, mp::boolean(v));
  }
  map_builder& nil(std::string_view key) { return set(key, mp::nil()); }

  /// Removes `key` if present.
  map_builder& erase(std::string_view key) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->first == key) {
        entries_.erase(it);
        break;
      }
    }
    return *this;
  }

  std::string bytes() const {
    std::string out = mp::map_header(entries_.size()).bytes;
    for (const auto& [k, v] : entries_) out += mp::str(k).bytes + v;
    return out;
  }

  buffer frame() const { return buffer::copy_of(bytes()); }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

/// A well-formed file id.
inline const std::string file_id = "AbCdEf012345";

/// 64 lowercase hex digits.
inline const std::string sha_lower(64, 'a');

/// A valid request header for `op` with rid 42 and every key it takes.
inline map_builder valid_header(std::string_view op) {
  map_builder b;
  b.str("op", op).uint("rid", 42);
  if (op == "upload") {
    b.str("name", "a.txt").uint("size", 10).str("sha256", sha_lower);
    b.str("mime", "text/plain");
  } else if (op == "chunk") {
    b.str("upload", "tok").uint("seq", 0).boolean("last", true);
  } else if (op == "upload_status" || op == "abort") {
    b.str("upload", "tok");
  } else if (op == "download") {
    b.str("file", file_id).uint("offset", 0).uint("length", 100);
  } else if (op == "stat" || op == "delete") {
    b.str("file", file_id);
  } else if (op == "list") {
    b.str("after", file_id).uint("limit", 10);
  }
  return b;
}

/// Every op of docs/protocol.md.
inline const std::vector<std::string> all_ops = {
    "upload", "chunk",  "upload_status", "abort", "download",
    "stat",   "delete", "list",          "ping"};

/// The frames of a request with header `h`: a payload frame for chunk.
inline std::vector<buffer> frames_for(std::string_view op,
                                      const map_builder& h) {
  std::vector<buffer> frames{h.frame()};
  if (op == "chunk") frames.push_back(buffer::copy_of("payload"));
  return frames;
}

/// Decodes `frames`, expecting a failure; an empty one if it decoded.
inline decode_failure expect_failure(const std::vector<buffer>& frames) {
  auto result = decode_request(frames);
  if (auto* f = std::get_if<decode_failure>(&result)) return *f;
  ADD_FAILURE() << "decoded although a failure was expected";
  return {std::nullopt, errc::internal, "<decoded>"};
}

/// Decodes `frames`, expecting a request of type T; T{} if it failed.
template <class T>
T expect_request(const std::vector<buffer>& frames,
                 std::optional<uint64_t>* rid = nullptr) {
  auto result = decode_request(frames);
  if (auto* f = std::get_if<decode_failure>(&result)) {
    ADD_FAILURE() << "decode failed: " << to_string(f->code) << ": "
                  << f->message;
    return T{};
  }
  const request& r = std::get<request>(result);
  if (rid) *rid = r.rid;
  if (auto* body = std::get_if<T>(&r.body)) return *body;
  ADD_FAILURE() << "decoded to another request type, index " << r.body.index();
  return T{};
}

/// Decodes reply `frames` to `op`, expecting a reply of type T.
template <class T>
T expect_reply(const std::vector<buffer>& frames, std::string_view op,
               std::optional<uint64_t>* rid = nullptr) {
  auto result = decode_reply(frames, op);
  if (auto* f = std::get_if<decode_failure>(&result)) {
    ADD_FAILURE() << "decode failed: " << to_string(f->code) << ": "
                  << f->message;
    return T{};
  }
  const reply& r = std::get<reply>(result);
  if (rid) *rid = r.rid;
  if (auto* body = std::get_if<T>(&r.body)) return *body;
  ADD_FAILURE() << "decoded to another reply type, index " << r.body.index();
  return T{};
}

}  // namespace depot::schema::test_support
