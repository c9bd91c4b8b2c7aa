#pragma once

#include "actors/messages.hpp"
#include "storage/sha256.hpp"

#include <string>

namespace depot::actors {

/// SHA-256 of a content and, unless the uploader declared one, its type
/// (told from the first bytes, which it keeps only then). Not thread safe.
class content_hasher {
 public:
  /// `declared_mime` empty: the type is detected from the content.
  explicit content_hasher(std::string declared_mime)
      : mime_(std::move(declared_mime)) {}
  /// Hashes the next bytes of the content.
  void update(const schema::buffer& b);
  /// The digest and the declared or detected type. Call once.
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
/// hashing and commits rather than queued in a committer.
///
/// - (hash_atom, schema::buffer) → ok_atom, once the bytes are hashed;
/// - (digest_atom) → content_digest: the digest of all bytes so far, and
///   the declared type, or if none was declared the one detected from them.
using hasher_actor =
    caf::typed_actor<caf::replies_to<hash_atom, schema::buffer>::with<ok_atom>,
                     caf::replies_to<digest_atom>::with<content_digest>>;

/// The hasher of upload `upload` (its token: named in the log should it
/// get a message it does not take), with the uploader's `declared_mime`
/// (empty: detect). Spawned linked to its assembler; it lives as long as
/// the upload.
hasher_actor::behavior_type hasher(hasher_actor::pointer self, context_ptr ctx,
                                   std::string upload,
                                   std::string declared_mime);

}  // namespace depot::actors
