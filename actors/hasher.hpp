#pragma once

#include <caf/fwd.hpp>

namespace depot::actors {

/// The hasher: SHA-256 of one upload, computed as its chunks arrive (on a
/// scheduler thread, so hashing overlaps the I/O thread's receiving).
///
/// Takes:
/// - (hash_atom, schema::buffer) → ok_atom, once the bytes are hashed;
/// - (digest_atom) → std::string of 32 bytes: the digest of all bytes so far.
/// Spawned linked to its assembler; it lives as long as the upload.
/// `upload` names the upload, for logs.
caf::behavior hasher(caf::event_based_actor* self, std::string upload);

}  // namespace depot::actors
