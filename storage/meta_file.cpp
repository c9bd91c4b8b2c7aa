#include "storage/meta_file.hpp"

#include "schema/validate.hpp"

#include <msgpack.hpp>

#include <exception>

namespace depot::storage {

std::string encode_meta(const stored_meta& m) {
  msgpack::sbuffer buf;
  msgpack::packer<msgpack::sbuffer> pk{buf};
  pk.pack_map(7);
  pk.pack("v");
  pk.pack(uint64_t{1});
  pk.pack("name");
  pk.pack(m.name);
  pk.pack("size");
  pk.pack(m.size);
  pk.pack("sha256");
  pk.pack(m.sha256);
  pk.pack("mime");
  pk.pack(m.mime);
  pk.pack("created");
  pk.pack(m.created);
  pk.pack("gen");
  pk.pack(m.gen);
  return {buf.data(), buf.size()};
}

bool decode_meta(const std::string& bytes, stored_meta* out) {
  try {
    auto limits = msgpack::unpack_limit(16, 16, 1024, 0, 0, 2);
    auto handle =
        msgpack::unpack(bytes.data(), bytes.size(), nullptr, nullptr, limits);
    const msgpack::object& obj = handle.get();
    if (obj.type != msgpack::type::MAP) return false;
    int seen = 0;
    for (uint32_t i = 0; i < obj.via.map.size; ++i) {
      const auto& kv = obj.via.map.ptr[i];
      if (kv.key.type != msgpack::type::STR) return false;
      auto key = kv.key.as<std::string>();
      if (key == "name")
        out->name = kv.val.as<std::string>(), ++seen;
      else if (key == "size")
        out->size = kv.val.as<uint64_t>(), ++seen;
      else if (key == "sha256")
        out->sha256 = kv.val.as<std::string>(), ++seen;
      else if (key == "mime")
        out->mime = kv.val.as<std::string>(), ++seen;
      else if (key == "created")
        out->created = kv.val.as<uint64_t>(), ++seen;
      else if (key == "gen")
        out->gen = kv.val.as<std::string>(), ++seen;
    }
    return seen == 6 && !out->gen.empty();
  } catch (const std::exception&) {
    return false;
  }
}

// Every reply's metadata is built here. A `mime` stored before the mime
// grammar was enforced may be any bytes: it is served as the fallback.
schema::file_meta to_file_meta(const std::string& id, const stored_meta& m,
                               size_t refs) {
  return {id,        m.name, m.size, m.sha256, schema::sanitize_mime(m.mime),
          m.created, refs};
}

}  // namespace depot::storage
