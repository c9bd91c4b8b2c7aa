#include "actors/session.hpp"

#include "actors/assembler.hpp"
#include "actors/context.hpp"
#include "actors/routing.hpp"
#include "schema/validate.hpp"
#include "transport/rate_limited_log.hpp"

#include <caf/all.hpp>

#include <sys/random.h>

namespace depot::actors {
namespace {

using schema::errc;

// 128 random bits as 32 hex digits: tokens cannot be guessed.
std::string new_token() {
  uint8_t raw[16];
  if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw))
    throw std::runtime_error("getrandom failed");
  return schema::to_hex(raw, sizeof raw);
}

struct router {
  session_actor::pointer self;
  context_ptr ctx;
  size_t turn = 0;

  void answer(const requester& o, schema::reply_body body) {
    send_reply(*ctx, o, std::move(body));
  }
  void fail(const requester& o, errc code, std::string text) {
    answer(o, schema::error_reply{code, std::move(text), std::nullopt});
  }

  void refuse_client(const requester& o, server::client_uploads::refusal why) {
    auto& cu = *ctx->client_uploads;
    if (why == server::client_uploads::refusal::uploads) {
      transport::warn_limited(
          "busy: uploads per client",
          "a client reached --max-uploads-per-client; its new uploads refused");
      count_busy(*ctx, metrics::busy_cause::client_uploads);
      fail(o, errc::busy,
           "this client has " + std::to_string(cu.max_uploads()) +
               " uploads in progress, its limit (--max-uploads-per-client); "
               "finish or abort some first");
    } else {
      transport::warn_limited("busy: upload memory per client",
                              "a client reached --memory-per-client; its new "
                              "uploads refused");
      count_busy(*ctx, metrics::busy_cause::client_memory);
      fail(o, errc::busy,
           "this client's uploads in progress reserve its share of upload "
           "memory (--memory-per-client, " +
               std::to_string(cu.max_bytes()) +
               " bytes); finish or abort some first");
    }
  }

  void operator()(const requester& o, schema::upload_request& r) {
    auto& lim = ctx->lim;
    if (r.size && *r.size > lim.max_file_size) {
      fail(o, errc::too_large,
           "declared size " + std::to_string(*r.size) +
               " is over the server's limit of " +
               std::to_string(lim.max_file_size));
      return;
    }
    uint64_t reservation = server::upload_reservation(lim, r.size);
    // The client's own limits first: a client at them is refused without
    // touching what the others share.
    auto charged = ctx->client_uploads->begin(o.peer.client(), reservation);
    if (!charged.hold) {
      refuse_client(o, charged.refused);
      return;
    }
    if (!ctx->budget->try_reserve(reservation)) {
      transport::warn_limited("busy: upload memory",
                              "--memory-budget is in use; new uploads refused");
      count_busy(*ctx, metrics::busy_cause::memory_budget);
      fail(o, errc::busy, "the server's upload memory is in use; retry later");
      return;
    }
    auto token = new_token();
    auto a = spawn_assembler(self->home_system(), ctx, token, std::move(r),
                             reservation, std::move(charged.hold), o.peer);
    if (!ctx->uploads->insert(token, a)) {
      // The assembler owns the reservation now and gives it back as it dies.
      anon_send_exit(a, caf::exit_reason::user_shutdown);
      transport::warn_limited(
          "busy: uploads",
          "--max-uploads or --max-finished reached; new uploads refused");
      count_busy(*ctx, metrics::busy_cause::max_uploads);
      fail(o, errc::busy,
           "too many uploads in progress or just finished; retry later");
      return;
    }
    answer(o, schema::upload_reply{token, lim.chunk_max, lim.window});
  }

  // Reads and requests naming an upload: as the pipeline routes them.
  template <class Request>
  void operator()(const requester& o, Request& r) {
    schema::request_body body{std::move(r)};
    route_without_session(*ctx, turn, o, body);
  }
  void operator()(const requester& o, schema::delete_request& r) {
    self->send(ctx->deleter, request_atom::value, o, std::move(r));
  }
  void operator()(const requester& o, schema::ping_request&) {
    answer(o, schema::ping_reply{schema::protocol_version, ctx->lim.server_name,
                                 ctx->lim.chunk_max});
  }
};

}  // namespace

session_actor::behavior_type session(session_actor::pointer self,
                                     context_ptr ctx) {
  auto r = std::make_shared<router>(router{self, std::move(ctx)});
  self->set_default_handler(unexpected_message_handler(r->ctx, "session"));
  return {
      [r](request_atom, const transport::peer& p, schema::request& req) {
        requester o{p, req.rid};
        std::visit([&](auto& body) { (*r)(o, body); }, req.body);
      },
  };
}

}  // namespace depot::actors
