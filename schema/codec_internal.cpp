#include "schema/codec_internal.hpp"

#include <msgpack.hpp>

#include <new>
#include <utility>

namespace depot::schema::detail {

std::optional<op_kind> op_from_name(std::string_view name) {
  for (size_t i = 0; i < wire_names.size(); ++i)
    if (wire_names[i] == name) return static_cast<op_kind>(i);
  return std::nullopt;
}

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

namespace {

// Strings, bins and exts point into the frame instead of being copied into
// the zone: the frame outlives the parsed object inside the decoder.
bool reference_all(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

// Parses `frame` as exactly one msgpack map with distinct string keys.
// Returns nullopt on success, else what is wrong. `root` is set whenever a
// whole object was decoded, even if the header is rejected afterwards.
std::optional<std::string> parse_map(const buffer& frame,
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

}  // namespace

std::optional<decode_failure> parse_header(const std::vector<buffer>& frames,
                                           std::string_view what,
                                           const msgpack::unpack_limit& limits,
                                           size_t max_bytes,
                                           msgpack::zone& zone,
                                           msgpack::object& root) {
  if (frames.empty())
    return decode_failure{std::nullopt, errc::bad_request,
                          std::string{what} + " has no header frame"};
  if (auto problem = parse_map(frames[0], limits, max_bytes, zone, root))
    return decode_failure{peek_rid(root), errc::bad_request,
                          std::move(*problem)};
  return std::nullopt;
}

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

std::string printable(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 64)) out += c >= 0x20 && c < 0x7F ? c : '?';
  if (text.size() > 64) out += "...";
  return out;
}

std::vector<buffer> frames_of(writer& w, std::vector<buffer> payload) {
  std::vector<buffer> frames;
  frames.reserve(1 + payload.size());
  frames.push_back(w.finish());
  for (buffer& b : payload) frames.push_back(std::move(b));
  return frames;
}

}  // namespace depot::schema::detail
