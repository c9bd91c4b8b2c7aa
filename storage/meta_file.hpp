#pragma once

// The codec of a POSIX store's `X.meta` files. Pure functions, safe from any
// thread.

#include "schema/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace depot::storage {

/// What `X.meta` holds: the immutable part of a file's metadata (as
/// docs/protocol.md describes it), plus the generation that this
/// incarnation's reference entries carry in their names.
struct stored_meta {
  std::string name;
  uint64_t size = 0;
  std::string sha256;  ///< 64 lowercase hex digits
  std::string mime;
  uint64_t created = 0;  ///< milliseconds since the epoch
  std::string gen;       ///< never empty
};

/// Largest metadata file read back; encode_meta of a valid upload (name and
/// mime of at most 255 bytes) stays far below it.
inline constexpr size_t max_meta_bytes = 4096;

/// `m` as a msgpack map (format version 1).
std::string encode_meta(const stored_meta& m);

/// Decodes what encode_meta wrote, under tight msgpack limits; false (and
/// `*out` unspecified) for anything else, never an exception.
bool decode_meta(const std::string& bytes, stored_meta* out);

/// The file `id` as stat answers it: `m` with `refs` references.
schema::file_meta to_file_meta(const std::string& id, const stored_meta& m,
                               size_t refs);

}  // namespace depot::storage
