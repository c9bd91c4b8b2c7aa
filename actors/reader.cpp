#include "actors/reader.hpp"

#include <caf/all.hpp>

#include "actors/messages.hpp"

namespace depot::actors {

caf::behavior reader(caf::event_based_actor* self, context_ptr ctx) {
  self->set_default_handler(caf::drop);
  auto answer = [ctx](const origin& o, schema::reply_body body) {
    ctx->sink->send(o.peer, schema::reply{o.rid, std::move(body)});
  };
  return {
      [ctx, answer](request_atom, const origin& o,
                    const schema::download_request& r) {
        uint64_t want = std::min(r.length.value_or(ctx->lim.chunk_max),
                                 ctx->lim.chunk_max);
        auto bytes = std::make_shared<std::vector<std::byte>>(want);
        auto got = ctx->store->read(r.file, r.offset, want, bytes->data());
        if (!got) {
          answer(o, schema::error_from(o.rid, got.error()).body);
          return;
        }
        const std::byte* data = bytes->data();
        schema::buffer payload{std::move(bytes), data, got->bytes};
        answer(o, schema::download_reply{r.file, r.offset, got->file_size,
                                         r.offset + got->bytes >= got->file_size,
                                         std::move(payload)});
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
