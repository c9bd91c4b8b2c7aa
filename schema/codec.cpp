#include "schema/codec.hpp"

#include "schema/validate.hpp"

#include <msgpack.hpp>

#include <array>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

namespace depot::schema {
namespace {

// --- operations -------------------------------------------------------------

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

// In the order of request_body's alternatives, so index() names the op.
constexpr std::array<std::string_view, 9> wire_names = {
    "upload", "chunk",  "upload_status", "abort", "download",
    "stat",   "delete", "list",          "ping",
};

static_assert(std::variant_size_v<request_body> == wire_names.size());

std::optional<op_kind> op_from_name(std::string_view name) {
  for (size_t i = 0; i < wire_names.size(); ++i)
    if (wire_names[i] == name) return static_cast<op_kind>(i);
  return std::nullopt;
}

// --- limits -----------------------------------------------------------------

// Requests have no arrays and a handful of keys; the slack is for unknown
// keys of later versions. Every size is far below what one 8 KiB frame could
// declare, so a header like `dd ff ff ff ff` fails before any allocation.
// The depth limit also bounds msgpack's own parse stack.
const msgpack::unpack_limit request_limits{/*array=*/32, /*map=*/32,
                                           /*str=*/4096, /*bin=*/4096,
                                           /*ext=*/4096,
                                           /*depth=*/8};

// A list reply holds up to 1000 metadata maps.
const msgpack::unpack_limit reply_limits{
    /*array=*/1000,    /*map=*/64,        /*str=*/64 * 1024,
    /*bin=*/64 * 1024, /*ext=*/64 * 1024, /*depth=*/8};

// Strings, bins and exts point into the frame instead of being copied into
// the zone: the frame outlives the parsed object inside the decoder.
bool reference_all(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

// --- parsing ----------------------------------------------------------------

std::string_view as_view(const msgpack::object& o) {
  return {o.via.str.ptr, o.via.str.size};
}

// Parses `frame` as exactly one msgpack map with distinct string keys.
// Returns nullopt on success, else what is wrong. `root` is set whenever a
// whole object was decoded, even if the header is rejected afterwards.
std::optional<std::string> parse_header(const buffer& frame,
                                        const msgpack::unpack_limit& limits,
                                        size_t max_bytes, msgpack::zone& zone,
                                        msgpack::object& root) {
  if (frame.size() > max_bytes)
    return "header is " + std::to_string(frame.size()) +
           " bytes, more than the limit of " + std::to_string(max_bytes);
  if (frame.empty()) return std::string{"header frame is empty"};
  const char* data = reinterpret_cast<const char*>(frame.data());
  size_t offset = 0;
  try {
    root = msgpack::unpack(zone, data, frame.size(), offset, reference_all,
                           nullptr, limits);
  } catch (const msgpack::insufficient_bytes&) {
    return std::string{"header is truncated msgpack"};
  } catch (const msgpack::size_overflow&) {
    return std::string{"header exceeds the msgpack size or nesting limits"};
  } catch (const std::bad_alloc&) {
    return std::string{"header needs too much memory to decode"};
  } catch (...) {
    // parse_error for reserved bytes, and anything else msgpack may throw.
    return std::string{"header is not valid msgpack"};
  }
  if (offset != frame.size())
    return "header has trailing bytes after its msgpack map (" +
           std::to_string(frame.size() - offset) + ")";
  if (root.type != msgpack::type::MAP)
    return std::string{"header is not a msgpack map"};
  const msgpack::object_map& map = root.via.map;
  for (uint32_t i = 0; i < map.size; ++i) {
    if (map.ptr[i].key.type != msgpack::type::STR)
      return std::string{"header has a key that is not a string"};
    // Quadratic, but maps hold at most 64 entries.
    for (uint32_t j = 0; j < i; ++j)
      if (as_view(map.ptr[j].key) == as_view(map.ptr[i].key))
        return std::string{"header has a key twice"};
  }
  return std::nullopt;
}

// The rid of a header that decoded as a map, for echoing in a failure.
std::optional<uint64_t> peek_rid(const msgpack::object& root) {
  if (root.type != msgpack::type::MAP) return std::nullopt;
  std::optional<uint64_t> rid;
  const msgpack::object_map& map = root.via.map;
  for (uint32_t i = 0; i < map.size; ++i) {
    const msgpack::object_kv& kv = map.ptr[i];
    if (kv.key.type != msgpack::type::STR || as_view(kv.key) != "rid") continue;
    if (rid || kv.val.type != msgpack::type::POSITIVE_INTEGER)
      return std::nullopt;  // a second rid, or one that is no uint
    rid = kv.val.via.u64;
  }
  return rid;
}

// Typed access to the keys of one map. The first error is kept in a slot
// shared with nested readers; after it, reads return defaults and further
// errors are dropped, so the message names the first offending key.
class fields {
 public:
  fields(const msgpack::object_map& map, std::string* error,
         std::string prefix = {})
      : map_(map), error_(error), prefix_(std::move(prefix)) {}

  bool ok() const { return error_->empty(); }

  void fail(std::string message) {
    if (ok()) *error_ = std::move(message);
  }

  std::string key_name(std::string_view key) const {
    return "'" + prefix_ + std::string{key} + "'";
  }

  // A nested reader of a map value, its keys named `prefix`.key.
  fields nested(const msgpack::object_map& map, std::string prefix) const {
    return fields{map, error_, prefix_ + std::move(prefix)};
  }

  // The value of `key`, nullptr when absent or nil.
  const msgpack::object* find(std::string_view key) const {
    for (uint32_t i = 0; i < map_.size; ++i) {
      const msgpack::object_kv& kv = map_.ptr[i];
      if (kv.key.type == msgpack::type::STR && as_view(kv.key) == key)
        return kv.val.type == msgpack::type::NIL ? nullptr : &kv.val;
    }
    return nullptr;
  }

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

// `text` for a human message: printable ASCII kept, other bytes as '?', at
// most 64 bytes, so a message never carries invalid UTF-8.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) out += c >= 0x20 && c < 0x7F ? c : '?';
  if (text.size() > 64) out += "...";
  return out;
}

// --- request decoding -------------------------------------------------------

std::string read_token(fields& f) {
  std::string_view token = f.req_str("upload");
  if (f.ok() && (token.empty() || token.size() > max_token_bytes))
    f.fail("key 'upload' must be a token of 1 to 64 bytes");
  else if (f.ok() && !is_utf8(token))
    f.fail("key 'upload' must be valid UTF-8");
  return std::string{token};
}

std::string read_file_id(fields& f) {
  std::string_view id = f.req_str("file");
  if (f.ok() && !is_file_id(id))
    f.fail("key 'file' must be a file id: 12 characters of [0-9A-Za-z]");
  return std::string{id};
}

upload_request read_upload(fields& f) {
  upload_request r;
  std::string_view name = f.req_str("name");
  if (f.ok()) {
    if (auto problem = check_name(name)) f.fail(std::move(*problem));
  }
  r.name = std::string{name};
  r.size = f.opt_uint("size");
  if (auto sha = f.opt_str("sha256")) {
    r.sha256 = normalize_sha256_hex(*sha);
    if (!r.sha256) f.fail("key 'sha256' must be exactly 64 hex digits");
  }
  // An empty type says nothing: treat it as absent so the server detects.
  if (auto mime = f.opt_str("mime"); mime && !mime->empty()) {
    if (auto problem = check_mime(*mime))
      f.fail("key 'mime' " + std::move(*problem));
    else
      r.mime = std::string{*mime};
  }
  return r;
}

chunk_request read_chunk(fields& f, const buffer& payload) {
  chunk_request r;
  r.upload = read_token(f);
  r.seq = f.req_uint("seq");
  r.last = f.req_bool("last");
  r.data = payload;
  return r;
}

download_request read_download(fields& f) {
  download_request r;
  r.file = read_file_id(f);
  r.offset = f.opt_uint("offset").value_or(0);
  r.length = f.opt_uint("length");
  return r;
}

list_request read_list(fields& f) {
  list_request r;
  if (auto after = f.opt_str("after")) {
    if (!is_file_id(*after))
      f.fail("key 'after' must be a file id: 12 characters of [0-9A-Za-z]");
    r.after = std::string{*after};
  }
  r.limit = f.opt_uint("limit").value_or(default_list_limit);
  if (r.limit == 0) f.fail("key 'limit' must be at least 1");
  if (r.limit > max_list_limit) r.limit = max_list_limit;
  return r;
}

request_body read_body(op_kind kind, fields& f,
                       const std::vector<buffer>& frames) {
  switch (kind) {
    case op_kind::upload:
      return read_upload(f);
    case op_kind::chunk:
      return read_chunk(f, frames[1]);
    case op_kind::upload_status:
      return upload_status_request{read_token(f)};
    case op_kind::abort:
      return abort_request{read_token(f)};
    case op_kind::download:
      return read_download(f);
    case op_kind::stat:
      return stat_request{read_file_id(f)};
    case op_kind::del:
      return delete_request{read_file_id(f)};
    case op_kind::list:
      return read_list(f);
    case op_kind::ping:
      break;
  }
  return ping_request{};
}

std::variant<request, decode_failure> decode_request_unguarded(
    const std::vector<buffer>& frames) {
  if (frames.empty())
    return decode_failure{std::nullopt, errc::bad_request,
                          "request has no header frame"};
  msgpack::zone zone;
  msgpack::object root;
  if (auto problem = parse_header(frames[0], request_limits,
                                  max_request_header_bytes, zone, root))
    return decode_failure{peek_rid(root), errc::bad_request,
                          std::move(*problem)};
  std::optional<uint64_t> rid = peek_rid(root);
  std::string error;
  fields f{root.via.map, &error};

  std::optional<uint64_t> version = f.opt_uint("v");
  if (!f.ok()) return decode_failure{rid, errc::bad_request, error};
  if (version && *version != protocol_version)
    return decode_failure{rid, errc::unsupported_version,
                          "protocol version " + std::to_string(*version) +
                              " is not supported; this server speaks 1"};

  std::string_view op = f.req_str("op");
  if (!f.ok()) return decode_failure{rid, errc::bad_request, error};
  std::optional<op_kind> kind = op_from_name(op);
  if (!kind)
    return decode_failure{rid, errc::unknown_op,
                          "unknown op '" + printable(op) + "'"};

  size_t want = *kind == op_kind::chunk ? 2 : 1;
  if (frames.size() != want)
    return decode_failure{
        rid, errc::bad_request,
        "op '" + std::string{op} + "' takes " + std::to_string(want) +
            (want == 1 ? " frame" : " frames (header and payload)") + ", not " +
            std::to_string(frames.size())};

  f.opt_uint("rid");  // only its type is left to check
  request_body body = read_body(*kind, f, frames);
  if (!f.ok()) return decode_failure{rid, errc::bad_request, error};
  return request{rid, std::move(body)};
}

// --- encoding ---------------------------------------------------------------

class writer {
 public:
  writer() : packer_(sbuf_) {}

  void map(size_t n) { packer_.pack_map(static_cast<uint32_t>(n)); }
  void array(size_t n) { packer_.pack_array(static_cast<uint32_t>(n)); }
  void nil() { packer_.pack_nil(); }
  void uint(uint64_t v) { packer_.pack_uint64(v); }
  void boolean(bool v) { v ? packer_.pack_true() : packer_.pack_false(); }
  void str(std::string_view s) {
    packer_.pack_str(static_cast<uint32_t>(s.size()));
    packer_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }

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

  // Hands sbuffer's malloc'ed block to the buffer: no copy of the bytes.
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

// Writes the common head of a reply map with `n` more keys to come.
void reply_head(writer& w, std::optional<uint64_t> rid, bool ok, size_t n) {
  w.map(n + 1 + (rid ? 1 : 0));
  if (rid) w.key_uint("rid", *rid);
  w.key_bool("ok", ok);
}

struct reply_encoder {
  writer& w;
  std::optional<uint64_t> rid;
  std::vector<buffer>& payload;

  void operator()(const upload_reply& r) {
    reply_head(w, rid, true, 3);
    w.key_str("upload", r.upload);
    w.key_uint("chunk_max", r.chunk_max);
    w.key_uint("window", r.window);
  }
  void operator()(const chunk_reply& r) {
    reply_head(w, rid, true, 3);
    w.key_str("upload", r.upload);
    w.key_uint("seq", r.seq);
    w.key_uint("received", r.received);
  }
  void operator()(const chunk_done_reply& r) {
    reply_head(w, rid, true, 4);
    w.key_str("upload", r.upload);
    w.key_uint("seq", r.seq);
    w.str("file");
    w.meta(r.file);
    w.key_bool("dedup", r.dedup);
  }
  void operator()(const upload_status_reply& r) {
    reply_head(w, rid, true, r.file ? 4 : 3);
    w.key_str("upload", r.upload);
    w.key_uint("next", r.next);
    w.key_uint("received", r.received);
    if (r.file) {
      w.str("file");
      w.meta(*r.file);
    }
  }
  void operator()(const abort_reply&) { reply_head(w, rid, true, 0); }
  void operator()(const download_reply& r) {
    reply_head(w, rid, true, 4);
    w.key_str("file", r.file);
    w.key_uint("offset", r.offset);
    w.key_uint("size", r.size);
    w.key_bool("eof", r.eof);
    payload.push_back(r.data);
  }
  void operator()(const stat_reply& r) {
    reply_head(w, rid, true, 1);
    w.str("file");
    w.meta(r.file);
  }
  void operator()(const delete_reply& r) {
    reply_head(w, rid, true, 1);
    w.key_uint("refs", r.refs);
  }
  void operator()(const list_reply& r) {
    reply_head(w, rid, true, 2);
    w.str("files");
    w.array(r.files.size());
    for (const file_meta& m : r.files) w.meta(m);
    w.str("next");
    if (r.next)
      w.str(*r.next);
    else
      w.nil();
  }
  void operator()(const ping_reply& r) {
    reply_head(w, rid, true, 3);
    w.key_uint("version", r.version);
    w.key_str("server", r.server);
    w.key_uint("chunk_max", r.chunk_max);
  }
  void operator()(const error_reply& r) {
    bool with_next = r.next && r.code == errc::out_of_order;
    reply_head(w, rid, false, with_next ? 3 : 2);
    w.key_str("error", to_string(r.code));
    // The one place every error message passes: whatever request bytes it
    // quotes, the reply stays valid UTF-8 without control characters.
    w.key_str("message", escape_text(r.message));
    if (with_next) w.key_uint("next", *r.next);
  }
};

// Writes the common head of a request map with `n` more keys to come.
void request_head(writer& w, const request& r, size_t n) {
  w.map(n + 1 + (r.rid ? 1 : 0));
  w.key_str("op", op_name(r.body));
  if (r.rid) w.key_uint("rid", *r.rid);
}

struct request_encoder {
  writer& w;
  const request& req;
  std::vector<buffer>& payload;

  void operator()(const upload_request& r) {
    request_head(w, req,
                 1 + (r.size ? 1 : 0) + (r.sha256 ? 1 : 0) + (r.mime ? 1 : 0));
    w.key_str("name", r.name);
    if (r.size) w.key_uint("size", *r.size);
    if (r.sha256) w.key_str("sha256", *r.sha256);
    if (r.mime) w.key_str("mime", *r.mime);
  }
  void operator()(const chunk_request& r) {
    request_head(w, req, 3);
    w.key_str("upload", r.upload);
    w.key_uint("seq", r.seq);
    w.key_bool("last", r.last);
    payload.push_back(r.data);
  }
  void operator()(const upload_status_request& r) {
    request_head(w, req, 1);
    w.key_str("upload", r.upload);
  }
  void operator()(const abort_request& r) {
    request_head(w, req, 1);
    w.key_str("upload", r.upload);
  }
  void operator()(const download_request& r) {
    request_head(w, req, r.length ? 3 : 2);
    w.key_str("file", r.file);
    w.key_uint("offset", r.offset);
    if (r.length) w.key_uint("length", *r.length);
  }
  void operator()(const stat_request& r) {
    request_head(w, req, 1);
    w.key_str("file", r.file);
  }
  void operator()(const delete_request& r) {
    request_head(w, req, 1);
    w.key_str("file", r.file);
  }
  void operator()(const list_request& r) {
    request_head(w, req, r.after ? 2 : 1);
    if (r.after) w.key_str("after", *r.after);
    w.key_uint("limit", r.limit);
  }
  void operator()(const ping_request&) { request_head(w, req, 0); }
};

// --- reply decoding ---------------------------------------------------------

file_meta read_meta(fields& parent, const msgpack::object_map* map,
                    std::string prefix) {
  file_meta m;
  if (!map) return m;
  fields f = parent.nested(*map, std::move(prefix));
  m.id = std::string{f.req_str("id")};
  m.name = std::string{f.req_str("name")};
  m.size = f.req_uint("size");
  m.sha256 = std::string{f.req_str("sha256")};
  m.mime = std::string{f.req_str("mime")};
  m.created = f.req_uint("created");
  m.refs = f.req_uint("refs");
  return m;
}

reply_body read_reply_body(op_kind kind, fields& f,
                           const std::vector<buffer>& frames) {
  switch (kind) {
    case op_kind::upload: {
      upload_reply r;
      r.upload = std::string{f.req_str("upload")};
      r.chunk_max = f.req_uint("chunk_max");
      r.window = f.req_uint("window");
      return r;
    }
    case op_kind::chunk: {
      if (f.find("file")) {
        chunk_done_reply r;
        r.upload = std::string{f.req_str("upload")};
        r.seq = f.req_uint("seq");
        r.file = read_meta(f, f.req_map("file"), "file.");
        r.dedup = f.req_bool("dedup");
        return r;
      }
      chunk_reply r;
      r.upload = std::string{f.req_str("upload")};
      r.seq = f.req_uint("seq");
      r.received = f.req_uint("received");
      return r;
    }
    case op_kind::upload_status: {
      upload_status_reply r;
      r.upload = std::string{f.req_str("upload")};
      r.next = f.req_uint("next");
      r.received = f.req_uint("received");
      if (const msgpack::object_map* m = f.opt_map("file"))
        r.file = read_meta(f, m, "file.");
      return r;
    }
    case op_kind::abort:
      return abort_reply{};
    case op_kind::download: {
      download_reply r;
      r.file = std::string{f.req_str("file")};
      r.offset = f.req_uint("offset");
      r.size = f.req_uint("size");
      r.eof = f.req_bool("eof");
      r.data = frames[1];
      return r;
    }
    case op_kind::stat:
      return stat_reply{read_meta(f, f.req_map("file"), "file.")};
    case op_kind::del:
      return delete_reply{f.req_uint("refs")};
    case op_kind::list: {
      list_reply r;
      if (const msgpack::object_array* files = f.req_array("files")) {
        r.files.reserve(files->size);
        for (uint32_t i = 0; i < files->size && f.ok(); ++i) {
          std::string prefix = "files[" + std::to_string(i) + "].";
          if (files->ptr[i].type != msgpack::type::MAP) {
            f.fail("key 'files[" + std::to_string(i) + "]' must be a map");
            break;
          }
          r.files.push_back(read_meta(f, &files->ptr[i].via.map, prefix));
        }
      }
      if (auto next = f.opt_str("next")) r.next = std::string{*next};
      return r;
    }
    case op_kind::ping:
      break;
  }
  ping_reply r;
  r.version = f.req_uint("version");
  r.server = std::string{f.req_str("server")};
  r.chunk_max = f.req_uint("chunk_max");
  return r;
}

std::variant<reply, decode_failure> decode_reply_unguarded(
    const std::vector<buffer>& frames, std::string_view op) {
  std::optional<op_kind> kind = op_from_name(op);
  if (!kind)
    return decode_failure{
        std::nullopt, errc::internal,
        "cannot decode a reply to unknown op '" + printable(op) + "'"};
  if (frames.empty())
    return decode_failure{std::nullopt, errc::bad_request,
                          "reply has no header frame"};
  msgpack::zone zone;
  msgpack::object root;
  if (auto problem = parse_header(frames[0], reply_limits,
                                  max_reply_header_bytes, zone, root))
    return decode_failure{peek_rid(root), errc::bad_request,
                          std::move(*problem)};
  std::optional<uint64_t> rid = peek_rid(root);
  std::string error;
  fields f{root.via.map, &error};
  f.opt_uint("rid");
  bool ok = f.req_bool("ok");
  if (!f.ok()) return decode_failure{rid, errc::bad_request, error};

  size_t want = ok && *kind == op_kind::download ? 2 : 1;
  if (frames.size() != want)
    return decode_failure{rid, errc::bad_request,
                          "reply has " + std::to_string(frames.size()) +
                              " frames, expected " + std::to_string(want)};
  if (!ok) {
    error_reply r;
    std::string_view code = f.req_str("error");
    r.code = errc_from_string(code).value_or(errc::internal);
    r.message = std::string{f.opt_str("message").value_or("")};
    r.next = f.opt_uint("next");
    if (!f.ok()) return decode_failure{rid, errc::bad_request, error};
    return reply{rid, std::move(r)};
  }
  reply_body body = read_reply_body(*kind, f, frames);
  if (!f.ok()) return decode_failure{rid, errc::bad_request, error};
  return reply{rid, std::move(body)};
}

}  // namespace

std::string_view op_name(const request_body& body) {
  return wire_names[body.index()];
}

std::variant<request, decode_failure> decode_request(
    const std::vector<buffer>& frames) {
  // parse_header already turns msgpack's exceptions into failures; this is
  // for memory exhaustion while building the result.
  try {
    return decode_request_unguarded(frames);
  } catch (...) {
    return decode_failure{std::nullopt, errc::internal,
                          "out of memory while decoding a request"};
  }
}

reply failure_reply(const decode_failure& failure) {
  return {failure.rid,
          error_reply{failure.code, failure.message, std::nullopt}};
}

std::vector<buffer> encode_reply(const reply& r) {
  writer w;
  std::vector<buffer> payload;
  std::visit(reply_encoder{w, r.rid, payload}, r.body);
  std::vector<buffer> frames;
  frames.reserve(1 + payload.size());
  frames.push_back(w.finish());
  for (buffer& b : payload) frames.push_back(std::move(b));
  return frames;
}

std::vector<buffer> encode_request(const request& r) {
  writer w;
  std::vector<buffer> payload;
  std::visit(request_encoder{w, r, payload}, r.body);
  std::vector<buffer> frames;
  frames.reserve(1 + payload.size());
  frames.push_back(w.finish());
  for (buffer& b : payload) frames.push_back(std::move(b));
  return frames;
}

std::variant<reply, decode_failure> decode_reply(
    const std::vector<buffer>& frames, std::string_view op) {
  try {
    return decode_reply_unguarded(frames, op);
  } catch (...) {
    return decode_failure{std::nullopt, errc::internal,
                          "out of memory while decoding a reply"};
  }
}

}  // namespace depot::schema
