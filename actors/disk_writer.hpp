#pragma once

#include "actors/context.hpp"

#include <caf/fwd.hpp>

namespace depot::actors {

/// A disk writer: appends upload bytes to staging files of the store.
/// Blocks on disk I/O, so it runs detached (its own thread). An upload
/// always uses the same writer, so its bytes land in order.
///
/// Takes:
/// - (write_atom, staging_ptr, schema::buffer) → ok_atom once appended (the
///   staging file is created on the first write); an io_error otherwise,
///   and the same error for every later write to that file (sticky).
caf::behavior disk_writer(caf::event_based_actor* self, context_ptr ctx);

}  // namespace depot::actors
