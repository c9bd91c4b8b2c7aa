#pragma once

#include "actors/messages.hpp"

#include <caf/fwd.hpp>

#include <chrono>

namespace depot::actors {

/// How often the janitor looks for idle uploads.
constexpr std::chrono::seconds janitor_period{1};

/// The janitor: every `janitor_period` it asks ctx->uploads for the uploads
/// no request has named for the idle timeout and pokes their assemblers
/// (tick_atom), which abort themselves if they are still idle. One timer
/// for the server instead of one per upload (a pending CAF delayed message
/// keeps its receiver alive until it fires: ~2 KB per finished upload for
/// a minute). Its timer is its own (not part of this interface).
///
/// (sweep_atom): looks for idle uploads now, outside the period; the timer
/// goes on unchanged.
using janitor_actor = caf::typed_actor<caf::reacts_to<sweep_atom>>;

/// Spawns the janitor; it runs until told to exit.
janitor_actor spawn_janitor(caf::actor_system& sys, context_ptr ctx);

}  // namespace depot::actors
