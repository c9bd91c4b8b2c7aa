#include "actors/deleter.hpp"

#include "actors/messages.hpp"

#include <caf/all.hpp>

namespace depot::actors {

caf::behavior deleter(caf::event_based_actor* self, context_ptr ctx) {
  self->set_default_handler(caf::drop);
  return {
      [ctx](request_atom, const origin& o, const schema::delete_request& r) {
        auto left = ctx->store->remove(r.file);
        schema::reply out =
            left ? schema::reply{o.rid, schema::delete_reply{*left}}
                 : schema::error_from(o.rid, left.error());
        ctx->sink->send(o.peer, std::move(out));
      },
  };
}

}  // namespace depot::actors
