#include "actors/reader.hpp"

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "transport/rate_limited_log.hpp"

namespace depot::actors {

namespace {

// Ranges this large are mapped; smaller ones are copied.
constexpr size_t mapped_from = 64 * 1024;

}  // namespace

caf::behavior reader(caf::event_based_actor* self, context_ptr ctx) {
  self->set_default_handler(caf::drop);
  auto answer = [ctx](const origin& o, schema::reply_body body) {
    ctx->sink->send(o.peer, schema::reply{o.rid, std::move(body)});
  };
  return {
      [ctx, answer](request_atom, const origin& o, const schema::download_request& r) {
        auto fail = [&](const caf::error& err) {
          answer(o, schema::error_from(o.rid, err).body);
        };
        auto file = ctx->store->open(r.file);
        if (!file) return fail(file.error());
        uint64_t size = (*file)->size();
        uint64_t want = std::min(r.length.value_or(ctx->lim.chunk_max), ctx->lim.chunk_max);
        if (r.offset <= size) want = std::min(want, size - r.offset);
        auto charge = ctx->unread->charge(o.peer.routing_id, want);
        if (!charge)
          transport::log_limited(
              spdlog::level::info, "busy: unread downloads",
              "a client is not reading its download replies");
        if (!charge)
          return answer(o, schema::error_reply{
                               schema::errc::busy,
                               "too many download bytes not yet read by this client; read "
                               "the replies before asking for more",
                               std::nullopt});
        // Large ranges are the file's own bytes, mapped: ZeroMQ writes them
        // to the socket straight from the page cache (no copy here); small
        // ones are cheaper copied than mapped.
        auto payload = want >= mapped_from ? (*file)->view(r.offset, want)
                                           : (*file)->copy(r.offset, want);
        if (!payload) return fail(payload.error());
        bool eof = r.offset + payload->size() >= size;
        // The charge is given back when the transport has written the
        // payload out (or dropped it).
        answer(o, schema::download_reply{r.file, r.offset, size, eof,
                                         payload->keeping(std::move(charge))});
      },
      [ctx, answer](request_atom, const origin& o, const schema::stat_request& r) {
        auto meta = ctx->store->stat(r.file);
        if (!meta)
          answer(o, schema::error_from(o.rid, meta.error()).body);
        else
          answer(o, schema::stat_reply{std::move(*meta)});
      },
      [ctx, answer](request_atom, const origin& o, const schema::list_request& r) {
        auto page = ctx->store->list(r.after, r.limit);
        if (!page)
          answer(o, schema::error_from(o.rid, page.error()).body);
        else
          answer(o, schema::list_reply{std::move(page->files), std::move(page->next)});
      },
  };
}

}  // namespace depot::actors
