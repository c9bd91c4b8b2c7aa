#include "actors/deleter.hpp"

#include "actors/context.hpp"
#include "transport/rate_limited_log.hpp"

#include <caf/all.hpp>

namespace depot::actors {

deleter_actor::behavior_type deleter(deleter_actor::pointer self,
                                     context_ptr ctx) {
  self->set_default_handler(unexpected_message_handler(ctx, "deleter"));
  return {
      [ctx](request_atom, const requester& to,
            const schema::delete_request& r) {
        auto left = ctx->store->remove(r.file);
        if (left)
          send_reply(*ctx, to, schema::delete_reply{*left});
        else {
          if (schema::code_of(left.error()) != schema::errc::not_found)
            transport::warn_limited("delete failed",
                                    schema::message_of(left.error()));
          count_storage_error(*ctx, metrics::storage_op::remove, left.error());
          send_error(*ctx, to, left.error());
        }
      },
  };
}

}  // namespace depot::actors
