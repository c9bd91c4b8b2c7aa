#include "actors/janitor.hpp"

#include "actors/context.hpp"

#include <caf/all.hpp>

namespace depot::actors {
namespace {

// The janitor's own timer; each one sweeps and sets the next.
using timer_atom = caf::atom_constant<caf::atom("timer")>;

using janitor_impl_actor = janitor_actor::extend<caf::reacts_to<timer_atom>>;

void sweep(janitor_impl_actor::pointer self, const context& ctx) {
  for (auto& a : ctx.uploads->idle(ctx.lim.idle_timeout))
    self->send(a, tick_atom::value);
}

janitor_impl_actor::behavior_type janitor(janitor_impl_actor::pointer self,
                                          context_ptr ctx) {
  self->set_default_handler(unexpected_message_handler(ctx, "janitor"));
  self->delayed_send(self, janitor_period, timer_atom::value);
  return {
      [self, ctx](timer_atom) {
        sweep(self, *ctx);
        self->delayed_send(self, janitor_period, timer_atom::value);
      },
      [self, ctx](sweep_atom) { sweep(self, *ctx); },
  };
}

}  // namespace

janitor_actor spawn_janitor(caf::actor_system& sys, context_ptr ctx) {
  return sys.spawn(janitor, std::move(ctx));
}

}  // namespace depot::actors
