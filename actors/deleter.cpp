#include "actors/deleter.hpp"

#include "actors/context.hpp"
#include "logging/log.hpp"
#include "transport/log_fields.hpp"
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
        if (left) {
          log::info("file deleted", {{"id", r.file},
                                     {"refs", *left},
                                     transport::peer_field(to.peer),
                                     transport::key_field(to.peer)});
          send_reply(*ctx, to, schema::delete_reply{*left});
        } else {
          auto code = schema::code_of(left.error());
          if (code != schema::errc::not_found) {
            transport::warn_limited("delete failed",
                                    schema::message_of(left.error()),
                                    {{"id", r.file},
                                     {"code", schema::to_string(code)},
                                     transport::peer_field(to.peer),
                                     transport::key_field(to.peer)});
            count_storage_error(*ctx, metrics::storage_op::remove,
                                left.error());
          } else {
            log::debug("delete: not found", {{"id", r.file},
                                             transport::peer_field(to.peer),
                                             transport::key_field(to.peer)});
          }
          send_error(*ctx, to, left.error());
        }
      },
  };
}

}  // namespace depot::actors
