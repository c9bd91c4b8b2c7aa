#pragma once

#include "actors/messages.hpp"
#include "transport/reply_sink.hpp"

namespace depot::actors {

/// The session: one per client connection (routing id). It routes the
/// client's decoded requests to the actor that owns the work, in the order
/// they arrived: `upload` begins an upload (memory budget and upload-count
/// limits checked here: `busy`, `too_large`), deletes go to the deleter,
/// and it answers `ping` itself. Reads and requests naming an upload skip
/// it: the pipeline sends them straight on (actors/routing.hpp; by token,
/// so a reconnected client continues its uploads); one that reaches a
/// session anyway is sent on the same way.
///
/// (request_atom, transport::peer, schema::request): no response to the
/// sender; the client gets its reply from whichever actor does the work.
using session_actor = caf::typed_actor<
    caf::reacts_to<request_atom, transport::peer, schema::request>>;

/// The session's behavior, to spawn with a context.
session_actor::behavior_type session(session_actor::pointer self,
                                     context_ptr ctx);

}  // namespace depot::actors
