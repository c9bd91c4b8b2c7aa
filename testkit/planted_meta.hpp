#pragma once

// Rewrites a stored file's metadata on disk, as an older depotd (or a hand
// on the disk) could have left it, to check what the server serves from it.

#include <msgpack.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace depot::test {

/// Where the metadata of id `abcdEFGH1234` lives: ROOT/ab/cd/EFGH1234.meta.
inline std::string meta_path(const std::string& root, const std::string& id) {
  return root + "/" + id.substr(0, 2) + "/" + id.substr(2, 2) + "/" +
         id.substr(4) + ".meta";
}

/// The bytes of the file at `path` ("" if it cannot be read).
inline std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// Sets the `mime` of the metadata map in the file at `path` to `mime`
/// (any bytes), keeping its other keys. The file is rewritten in place: its
/// hard links (the references) see the change too. Throws on failure.
inline void plant_mime(const std::string& path, const std::string& mime) {
  std::string bytes = file_bytes(path);
  msgpack::object_handle h = msgpack::unpack(bytes.data(), bytes.size());
  const msgpack::object& map = h.get();
  if (map.type != msgpack::type::MAP)
    throw std::runtime_error("not a metadata map: " + path);
  msgpack::sbuffer out;
  msgpack::packer<msgpack::sbuffer> pk(out);
  pk.pack_map(map.via.map.size);
  for (uint32_t i = 0; i < map.via.map.size; ++i) {
    const msgpack::object_kv& kv = map.via.map.ptr[i];
    pk.pack(kv.key);
    if (kv.key.type == msgpack::type::STR &&
        kv.key.as<std::string>() == "mime") {
      pk.pack_str(static_cast<uint32_t>(mime.size()));
      pk.pack_str_body(mime.data(), static_cast<uint32_t>(mime.size()));
    } else {
      pk.pack(kv.val);
    }
  }
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(out.data(), static_cast<std::streamsize>(out.size()));
  if (!f.flush()) throw std::runtime_error("cannot rewrite " + path);
}

}  // namespace depot::test
