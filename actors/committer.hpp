#pragma once

#include "actors/messages.hpp"

#include <caf/fwd.hpp>

namespace depot::actors {

/// The committer: turns a finished upload into a stored file. It appends
/// what the upload still held in RAM to its staging file and commits to
/// the store, which walks the naming candidates (dedup on same content,
/// next candidate on collision, name_exhausted after the configured
/// number). Blocks on disk I/O: runs detached. The pipeline runs several,
/// each a commit lane (actors/assembler.hpp says which upload takes which).
///
/// Commits queued while one batch is being committed are committed together
/// in the next (group commit: they share the store's flushes), and batches
/// are pipelined: one barrier makes a batch's bytes durable and the links
/// of the batch before it (store::stage/barrier/place/settle). Its own
/// flush and settle messages are not part of this interface.
///
/// (commit_atom, commit_order) → storage::commit_result once the file is
/// durable; io_error, name_exhausted or busy otherwise (nothing stored).
using committer_actor = caf::typed_actor<
    caf::replies_to<commit_atom, commit_order>::with<storage::commit_result>>;

/// Spawns a committer, on a thread of its own if `detached`.
committer_actor spawn_committer(caf::actor_system& sys, context_ptr ctx,
                                bool detached);

}  // namespace depot::actors
