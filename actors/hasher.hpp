#pragma once

#include "actors/messages.hpp"
#include "storage/sha256.hpp"

#include <caf/fwd.hpp>

#include <string>

namespace depot::actors {

/// SHA-256 of a content and, unless the uploader declared one, its type
/// (told from the first bytes, which it keeps only then).
class content_hasher {
 public:
  explicit content_hasher(std::string declared_mime)
      : mime_(std::move(declared_mime)) {}
  void update(const schema::buffer& b);
  /// The digest and the declared or detected type.
  content_digest finish();

 private:
  storage::sha256 sha_;
  std::string mime_;
  std::string head_;
};

/// The hasher: SHA-256 of one upload, computed as its chunks arrive (on a
/// scheduler thread, so hashing overlaps the I/O thread's receiving), and
/// the upload's content type, from the first bytes, when the uploader gave
/// none: per upload, so detection runs in parallel with other uploads'
/// hashing and commits rather than queued in the committer.
///
/// Takes:
/// - (hash_atom, schema::buffer) → ok_atom, once the bytes are hashed;
/// - (digest_atom) → content_digest: the digest of all bytes so far, and
///   `declared_mime`, or if that is empty the type detected from them.
/// Spawned linked to its assembler; it lives as long as the upload.
/// `upload` names the upload, for logs.
caf::behavior hasher(caf::event_based_actor* self, std::string upload,
                     std::string declared_mime);

}  // namespace depot::actors
