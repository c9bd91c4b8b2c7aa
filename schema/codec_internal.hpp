#pragma once

// What the request and reply codecs (schema/request_codec.cpp,
// schema/reply_codec.cpp) share: the op table, msgpack limits, the header
// parser, a typed reader of map keys and a writer. Internal to schema/: past
// the codec nothing handles raw msgpack. Everything here is pure and safe to
// call from any thread; nothing throws except on memory exhaustion.

#include "schema/buffer.hpp"
#include "schema/codec.hpp"
#include "schema/messages.hpp"

#include <msgpack.hpp>

#include <array>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace depot::schema::detail {

/// The ops of docs/protocol.md, numbered as request_body's alternatives.
enum class op_kind : size_t {
  upload,
  chunk,
  upload_status,
  abort,
  download,
  stat,
  del,
  list,
  ping,
};

/// The wire names of the ops, in the order of request_body's alternatives,
/// so index() names the op.
inline constexpr std::array<std::string_view, 9> wire_names = {
    "upload", "chunk",  "upload_status", "abort", "download",
    "stat",   "delete", "list",          "ping",
};

static_assert(std::variant_size_v<request_body> == wire_names.size());

/// The op whose wire name is `name`, nullopt for an unknown one.
std::optional<op_kind> op_from_name(std::string_view name);

/// msgpack limits for request headers: a handful of keys, no arrays.
extern const msgpack::unpack_limit request_limits;

/// msgpack limits for reply headers: a list reply holds up to 1000 maps.
extern const msgpack::unpack_limit reply_limits;

/// The bytes of a msgpack string object (which must be a STR).
inline std::string_view as_view(const msgpack::object& o) {
  return {o.via.str.ptr, o.via.str.size};
}

/// Parses frames[0] (the header frame) as exactly one msgpack map with
/// distinct string keys, within `limits` and `max_bytes`. Returns nullopt on
/// success, else the failure to answer with (its rid peeked whenever a whole
/// map decoded); `what` ("request", "reply") names the message in it.
/// `root` points into `zone` and into the frame.
std::optional<decode_failure> parse_header(const std::vector<buffer>& frames,
                                           std::string_view what,
                                           const msgpack::unpack_limit& limits,
                                           size_t max_bytes,
                                           msgpack::zone& zone,
                                           msgpack::object& root);

/// The rid of a header that decoded as a map, for echoing in a failure;
/// nullopt when absent, given twice, or not a uint.
std::optional<uint64_t> peek_rid(const msgpack::object& root);

/// `text` for a human message: printable ASCII kept, other bytes as '?', at
/// most 64 bytes, so a message never carries invalid UTF-8.
std::string printable(std::string_view text);

/// Typed access to the keys of one map. The first error is kept in a slot
/// shared with nested readers; after it, reads return defaults and further
/// errors are dropped, so the message names the first offending key. The map
/// and the error slot must outlive the reader.
class fields {
 public:
  /// Reads `map`; the first error goes to *error (empty while none), keys
  /// named with `prefix` in messages.
  fields(const msgpack::object_map& map, std::string* error,
         std::string prefix = {})
      : map_(map), error_(error), prefix_(std::move(prefix)) {}

  /// Whether no error was recorded yet.
  bool ok() const { return error_->empty(); }

  /// Records `message` unless an earlier error is kept.
  void fail(std::string message) {
    if (ok()) *error_ = std::move(message);
  }

  /// `key` quoted, with the prefix, for a message.
  std::string key_name(std::string_view key) const {
    return "'" + prefix_ + std::string{key} + "'";
  }

  /// A nested reader of a map value, its keys named `prefix`.key.
  fields nested(const msgpack::object_map& map, std::string prefix) const {
    return fields{map, error_, prefix_ + std::move(prefix)};
  }

  /// The value of `key`, nullptr when absent or nil.
  const msgpack::object* find(std::string_view key) const {
    for (uint32_t i = 0; i < map_.size; ++i) {
      const msgpack::object_kv& kv = map_.ptr[i];
      if (kv.key.type == msgpack::type::STR && as_view(kv.key) == key)
        return kv.val.type == msgpack::type::NIL ? nullptr : &kv.val;
    }
    return nullptr;
  }

  /// opt_*: the value of an optional key (nullopt or nullptr when absent);
  /// req_*: of a required one (a default when absent). A value of another
  /// type, or a required key absent, records an error.
  std::optional<uint64_t> opt_uint(std::string_view key) {
    const msgpack::object* v =
        typed(key, msgpack::type::POSITIVE_INTEGER, "an unsigned integer");
    return v ? std::optional<uint64_t>{v->via.u64} : std::nullopt;
  }

  std::optional<std::string_view> opt_str(std::string_view key) {
    const msgpack::object* v = typed(key, msgpack::type::STR, "a string");
    return v ? std::optional<std::string_view>{as_view(*v)} : std::nullopt;
  }

  std::optional<bool> opt_bool(std::string_view key) {
    const msgpack::object* v = typed(key, msgpack::type::BOOLEAN, "a boolean");
    return v ? std::optional<bool>{v->via.boolean} : std::nullopt;
  }

  const msgpack::object_map* opt_map(std::string_view key) {
    const msgpack::object* v = typed(key, msgpack::type::MAP, "a map");
    return v ? &v->via.map : nullptr;
  }

  const msgpack::object_array* opt_array(std::string_view key) {
    const msgpack::object* v = typed(key, msgpack::type::ARRAY, "an array");
    return v ? &v->via.array : nullptr;
  }

  uint64_t req_uint(std::string_view key) {
    return required(key, opt_uint(key)).value_or(0);
  }

  std::string_view req_str(std::string_view key) {
    return required(key, opt_str(key)).value_or(std::string_view{});
  }

  bool req_bool(std::string_view key) {
    return required(key, opt_bool(key)).value_or(false);
  }

  const msgpack::object_map* req_map(std::string_view key) {
    const msgpack::object_map* m = opt_map(key);
    if (!m) missing(key);
    return m;
  }

  const msgpack::object_array* req_array(std::string_view key) {
    const msgpack::object_array* a = opt_array(key);
    if (!a) missing(key);
    return a;
  }

 private:
  const msgpack::object* typed(std::string_view key,
                               msgpack::type::object_type type,
                               const char* what) {
    if (!ok()) return nullptr;
    const msgpack::object* v = find(key);
    if (v && v->type != type) {
      fail("key " + key_name(key) + " must be " + what);
      return nullptr;
    }
    return v;
  }

  template <class T>
  std::optional<T> required(std::string_view key, std::optional<T> value) {
    if (!value) missing(key);
    return value;
  }

  void missing(std::string_view key) { fail("missing key " + key_name(key)); }

  const msgpack::object_map& map_;
  std::string* error_;
  std::string prefix_;
};

/// Builds one msgpack header frame. Not thread-safe; one per encoding.
class writer {
 public:
  writer() : packer_(sbuf_) {}

  /// Writes one msgpack value: a map or array head of `n` entries, nil, a
  /// uint, a boolean, a string.

  void map(size_t n) { packer_.pack_map(static_cast<uint32_t>(n)); }
  void array(size_t n) { packer_.pack_array(static_cast<uint32_t>(n)); }
  void nil() { packer_.pack_nil(); }
  void uint(uint64_t v) { packer_.pack_uint64(v); }
  void boolean(bool v) { v ? packer_.pack_true() : packer_.pack_false(); }
  void str(std::string_view s) {
    packer_.pack_str(static_cast<uint32_t>(s.size()));
    packer_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }

  /// Writes a string key and its value.
  void key_uint(std::string_view key, uint64_t v) {
    str(key);
    uint(v);
  }
  void key_str(std::string_view key, std::string_view v) {
    str(key);
    str(v);
  }
  void key_bool(std::string_view key, bool v) {
    str(key);
    boolean(v);
  }

  /// Writes `m` as the metadata map of docs/protocol.md.
  void meta(const file_meta& m) {
    map(7);
    key_str("id", m.id);
    key_str("name", m.name);
    key_uint("size", m.size);
    key_str("sha256", m.sha256);
    key_str("mime", m.mime);
    key_uint("created", m.created);
    key_uint("refs", m.refs);
  }

  /// The header written so far. Hands sbuffer's malloc'ed block to the buffer:
  /// no copy of the bytes.
  buffer finish() {
    size_t size = sbuf_.size();
    char* data = sbuf_.release();
    std::shared_ptr<const void> owner{data, [](char* p) { std::free(p); }};
    return {std::move(owner), reinterpret_cast<const std::byte*>(data), size};
  }

 private:
  msgpack::sbuffer sbuf_;
  msgpack::packer<msgpack::sbuffer> packer_;
};

/// The frames of an encoded message: the header, then the payload frames
/// (shared, not copied).
std::vector<buffer> frames_of(writer& w, std::vector<buffer> payload);

}  // namespace depot::schema::detail
