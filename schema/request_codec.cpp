#include "schema/codec.hpp"
#include "schema/codec_internal.hpp"
#include "schema/validate.hpp"

#include <msgpack.hpp>

#include <string>
#include <utility>

// The request codec: decode_request (the server's edge) and encode_request
// (the client's).
namespace depot::schema {
using namespace detail;
namespace {

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
  r.meta = f.opt_bool("meta").value_or(false);
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
  msgpack::zone zone;
  msgpack::object root;
  if (auto failure = parse_header(frames, "request", request_limits,
                                  max_request_header_bytes, zone, root))
    return std::move(*failure);
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
    // `meta` only when asked: a request without it is byte for byte what
    // servers that do not know the key were always sent.
    request_head(w, req, 2 + (r.length ? 1 : 0) + (r.meta ? 1 : 0));
    w.key_str("file", r.file);
    w.key_uint("offset", r.offset);
    if (r.length) w.key_uint("length", *r.length);
    if (r.meta) w.key_bool("meta", true);
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

std::vector<buffer> encode_request(const request& r) {
  writer w;
  std::vector<buffer> payload;
  std::visit(request_encoder{w, r, payload}, r.body);
  return frames_of(w, std::move(payload));
}

}  // namespace depot::schema
