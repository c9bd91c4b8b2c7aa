#pragma once

#include <caf/fwd.hpp>

#include "actors/context.hpp"

namespace depot::actors {

/// The catalog: takes references away (`delete`) and answers the client
/// once the change is durable. Blocks on disk I/O: runs detached.
///
/// Takes (no response to the sender; the client gets the reply):
/// - (request_atom, origin, schema::delete_request)
caf::behavior catalog(caf::event_based_actor* self, context_ptr ctx);

}  // namespace depot::actors
