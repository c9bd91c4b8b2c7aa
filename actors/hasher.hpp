#pragma once

#include <caf/fwd.hpp>

#include <string>

#include "actors/messages.hpp"
#include "storage/sha256.hpp"

namespace depot::actors {

/// SHA-256 of a content and the first bytes its type is told from.
class content_hasher {
 public:
  void update(const schema::buffer& b);
  /// The digest, and `declared_mime` or if that is empty the detected type.
  content_digest finish(std::string declared_mime);

 private:
  storage::sha256 sha_;
  std::string head_;
};

/// The hasher: SHA-256 of one upload, computed as its chunks arrive (on a
/// scheduler thread, so hashing overlaps the I/O thread's receiving), and
/// the upload's content type, from the first bytes, when the uploader gave
/// none: per upload, so detection runs in parallel with other uploads'
/// hashing and commits rather than queued in the namer.
///
/// Takes:
/// - (hash_atom, schema::buffer) → ok_atom, once the bytes are hashed;
/// - (digest_atom, std::string declared_mime) → content_digest: the digest
///   of all bytes so far, and the declared mime, or if that is empty the
///   one detected from the content.
/// Spawned linked to its assembler; it lives as long as the upload.
/// `upload` names the upload, for logs.
caf::behavior hasher(caf::event_based_actor* self, std::string upload);

}  // namespace depot::actors
