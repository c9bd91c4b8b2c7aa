#pragma once

#include "actors/messages.hpp"

namespace depot::actors {

/// The deleter: takes references away (`delete`) and answers the client
/// once the change is durable. Blocks on disk I/O: runs detached.
///
/// (request_atom, requester, schema::delete_request): no response to the
/// sender; the requester gets delete_reply or the store's error. Logged:
/// "file deleted" at info (id, refs left, peer); a failure other than
/// not_found as a rate-limited warning, not_found at debug.
using deleter_actor = caf::typed_actor<
    caf::reacts_to<request_atom, requester, schema::delete_request>>;

/// The deleter's behavior, to spawn (detached) with a context.
deleter_actor::behavior_type deleter(deleter_actor::pointer self,
                                     context_ptr ctx);

}  // namespace depot::actors
