#include "schema/codec.hpp"
#include "schema/codec_internal.hpp"
#include "schema/validate.hpp"

#include <msgpack.hpp>

#include <string>
#include <utility>

// The reply codec: encode_reply (the server's edge) and decode_reply (the
// client's).
namespace depot::schema {
using namespace detail;
namespace {

// --- reply encoding ---------------------------------------------------------

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
    reply_head(w, rid, true, r.meta ? 5 : 4);
    w.key_str("file", r.file);
    w.key_uint("offset", r.offset);
    w.key_uint("size", r.size);
    w.key_bool("eof", r.eof);
    if (r.meta) {
      w.str("meta");
      w.meta(*r.meta);
    }
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
      if (const msgpack::object_map* m = f.opt_map("meta"))
        r.meta = read_meta(f, m, "meta.");
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
  msgpack::zone zone;
  msgpack::object root;
  if (auto failure = parse_header(frames, "reply", reply_limits,
                                  max_reply_header_bytes, zone, root))
    return std::move(*failure);
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

reply failure_reply(const decode_failure& failure) {
  return {failure.rid,
          error_reply{failure.code, failure.message, std::nullopt}};
}

std::vector<buffer> encode_reply(const reply& r) {
  writer w;
  std::vector<buffer> payload;
  std::visit(reply_encoder{w, r.rid, payload}, r.body);
  return frames_of(w, std::move(payload));
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
