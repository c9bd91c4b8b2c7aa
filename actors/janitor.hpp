#pragma once

#include "actors/context.hpp"

#include <caf/fwd.hpp>

namespace depot::actors {

/// How often the janitor looks for idle uploads.
constexpr std::chrono::seconds janitor_period{1};

/// The janitor: every `janitor_period` it asks ctx->uploads for the uploads
/// no request has named for the idle timeout and pokes their assemblers
/// (tick_atom), which abort themselves if they are still idle. One timer
/// for the server instead of one per upload (a pending CAF delayed message
/// keeps its receiver alive until it fires: ~2 KB per finished upload for
/// a minute). Takes only its own tick_atom.
caf::behavior janitor(caf::event_based_actor* self, context_ptr ctx);

}  // namespace depot::actors
