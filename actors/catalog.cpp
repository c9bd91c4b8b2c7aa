#include "actors/catalog.hpp"

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "transport/rate_limited_log.hpp"

namespace depot::actors {

caf::behavior catalog(caf::event_based_actor* self, context_ptr ctx) {
  self->set_default_handler(caf::drop);
  return {
      [ctx](request_atom, const origin& o, const schema::delete_request& r) {
        auto left = ctx->store->remove(r.file);
        if (!left && schema::code_of(left.error()) != schema::errc::not_found)
          transport::warn_limited("delete failed",
                                  schema::message_of(left.error()));
        schema::reply out = left ? schema::reply{o.rid, schema::delete_reply{*left}}
                                 : schema::error_from(o.rid, left.error());
        ctx->sink->send(o.peer, std::move(out));
      },
  };
}

}  // namespace depot::actors
