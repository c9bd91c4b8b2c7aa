#include "actors/janitor.hpp"

#include "actors/messages.hpp"

#include <caf/all.hpp>

namespace depot::actors {

caf::behavior janitor(caf::event_based_actor* self, context_ptr ctx) {
  self->set_default_handler(caf::drop);
  self->delayed_send(self, janitor_period, tick_atom::value);
  return {
      [self, ctx](tick_atom) {
        for (auto& a : ctx->uploads->idle(ctx->lim.idle_timeout))
          self->send(a, tick_atom::value);
        self->delayed_send(self, janitor_period, tick_atom::value);
      },
  };
}

}  // namespace depot::actors
