#include "actors/context.hpp"

#include "schema/error.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace depot::actors {

void send_reply(const context& ctx, const requester& to,
                schema::reply_body body) {
  ctx.sink->send(to.peer, schema::reply{to.rid, std::move(body)});
}

void send_error(const context& ctx, const requester& to,
                const caf::error& err) {
  ctx.sink->send(to.peer, schema::error_from(to.rid, err));
}

void count_storage_error(const context& ctx, metrics::storage_op op,
                         const caf::error& err) {
  if (!ctx.metrics || !err) return;
  auto code = schema::code_of(err);
  if (code == schema::errc::io_error || code == schema::errc::internal)
    ctx.metrics->storage_error(op);
}

caf::scheduled_actor::default_handler unexpected_message_handler(
    context_ptr ctx, std::string who) {
  return [ctx = std::move(ctx), who = std::move(who)](
             caf::scheduled_actor*,
             caf::message_view& x) -> caf::result<caf::message> {
    uint64_t n = ++ctx->unexpected_messages;
    // A sender gone wrong sends the same thing often: powers of two keep
    // the log readable and still show that it goes on.
    if ((n & (n - 1)) == 0)
      spdlog::warn("{} got a message it does not take: {} ({} so far)", who,
                   caf::to_string(x.copy_content_to_message()), n);
    return caf::sec::unexpected_message;
  };
}

}  // namespace depot::actors
