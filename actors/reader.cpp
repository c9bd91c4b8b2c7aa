#include "actors/reader.hpp"

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "schema/buffer_pool.hpp"

namespace depot::actors {

namespace {

// Ranges this large come from the pool; smaller ones are allocated to size.
constexpr size_t pooled_from = 64 * 1024;

}  // namespace

caf::behavior reader(caf::event_based_actor* self, context_ptr ctx) {
  self->set_default_handler(caf::drop);
  auto pool = schema::buffer_pool::make(ctx->lim.chunk_max, 32);
  auto answer = [ctx](const origin& o, schema::reply_body body) {
    ctx->sink->send(o.peer, schema::reply{o.rid, std::move(body)});
  };
  return {
      [ctx, answer, pool](request_atom, const origin& o,
                          const schema::download_request& r) {
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
          return answer(o, schema::error_reply{
                               schema::errc::busy,
                               "too many download bytes not yet read by this client; read "
                               "the replies before asking for more",
                               std::nullopt});
        schema::buffer payload;
        if (want >= pooled_from) {
          auto block = pool->take();
          auto got = (*file)->read(r.offset, want, block.data());
          if (!got) return fail(got.error());
          payload = std::move(block).seal(*got);
        } else {
          std::shared_ptr<std::byte[]> bytes{new std::byte[std::max<uint64_t>(want, 1)]};
          auto got = (*file)->read(r.offset, want, bytes.get());
          if (!got) return fail(got.error());
          const std::byte* data = bytes.get();
          payload = {std::move(bytes), data, *got};
        }
        bool eof = r.offset + payload.size() >= size;
        // The charge is given back when the transport has written the
        // payload out (or dropped it).
        answer(o, schema::download_reply{r.file, r.offset, size, eof,
                                         payload.keeping(std::move(charge))});
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
