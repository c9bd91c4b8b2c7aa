#pragma once

#include "actors/context.hpp"

#include <caf/fwd.hpp>

namespace depot::actors {

/// The deleter: takes references away (`delete`) and answers the client
/// once the change is durable. Blocks on disk I/O: runs detached.
///
/// Takes (no response to the sender; the client gets the reply):
/// - (request_atom, origin, schema::delete_request)
caf::behavior deleter(caf::event_based_actor* self, context_ptr ctx);

}  // namespace depot::actors
