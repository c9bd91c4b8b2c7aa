#pragma once

#include "actors/messages.hpp"

namespace depot::actors {

/// A disk writer: appends upload bytes to staging files of the store.
/// Blocks on disk I/O, so it runs detached (its own thread). An upload
/// always uses the same writer, so its bytes land in order.
///
/// (write_atom, staging_ptr, schema::buffer) → ok_atom once appended (the
/// staging file is created on the first write); an io_error otherwise, and
/// the same error for every later write to that file (sticky).
using disk_writer_actor = caf::typed_actor<
    caf::replies_to<write_atom, staging_ptr, schema::buffer>::with<ok_atom>>;

/// The disk writer's behavior, to spawn (detached) with a context.
disk_writer_actor::behavior_type disk_writer(disk_writer_actor::pointer self,
                                             context_ptr ctx);

}  // namespace depot::actors
