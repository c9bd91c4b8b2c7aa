#pragma once

// A stored file's metadata, as docs/protocol.md's "File metadata" map names
// it. Standard library only: the client library installs this header.

#include <cstdint>
#include <string>

namespace depot::schema {

/// docs/protocol.md's "File metadata" map.
struct file_meta {
  std::string id;        ///< 12 characters of [0-9A-Za-z]
  std::string name;      ///< original filename of the first upload
  uint64_t size = 0;     ///< bytes
  std::string sha256;    ///< 64 lowercase hex digits
  std::string mime;      ///< content type
  uint64_t created = 0;  ///< ms since the Unix epoch
  uint64_t refs = 0;     ///< live references
};

/// Field-by-field equality.
inline bool operator==(const file_meta& a, const file_meta& b) {
  return a.id == b.id && a.name == b.name && a.size == b.size &&
         a.sha256 == b.sha256 && a.mime == b.mime && a.created == b.created &&
         a.refs == b.refs;
}

}  // namespace depot::schema
