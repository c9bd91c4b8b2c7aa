#include "actors/reader.hpp"

#include "actors/context.hpp"
#include "logging/log.hpp"
#include "transport/log_fields.hpp"
#include "transport/rate_limited_log.hpp"

#include <caf/all.hpp>

namespace depot::actors {
namespace {

// A refused read, at debug: the client hears the error; the log says who.
void log_refused(std::string_view op, const std::string& id,
                 const requester& to, const caf::error& err) {
  if (!log::enabled(spdlog::level::debug)) return;
  log::write(spdlog::level::debug, op,
             {{"id", id},
              {"code", schema::to_string(schema::code_of(err))},
              {"error", schema::message_of(err)},
              transport::peer_field(to.peer),
              transport::key_field(to.peer)});
}

}  // namespace

reader_actor::behavior_type reader(reader_actor::pointer self,
                                   context_ptr ctx) {
  self->set_default_handler(unexpected_message_handler(ctx, "reader"));
  return {
      [ctx](request_atom, const requester& to,
            const schema::download_request& r) {
        auto file = ctx->store->open(r.file);
        if (!file) {
          log_refused("download refused", r.file, to, file.error());
          count_storage_error(*ctx, metrics::storage_op::read, file.error());
          return send_error(*ctx, to, file.error());
        }
        uint64_t size = (*file)->size();
        uint64_t want =
            std::min(r.length.value_or(ctx->lim.chunk_max), ctx->lim.chunk_max);
        if (r.offset <= size) want = std::min(want, size - r.offset);
        server::unread_quota::refusal why{};
        auto charge = ctx->unread->charge(to.peer.client(), want, &why);
        if (!charge && why == server::unread_quota::refusal::overall) {
          transport::warn_limited(
              "busy: unread downloads overall",
              "download replies not yet read by their clients passed "
              "--unread-cap; clients holding the most refused",
              {transport::peer_field(to.peer), transport::key_field(to.peer)});
          count_busy(*ctx, metrics::busy_cause::unread_cap);
          return send_reply(
              *ctx, to,
              schema::error_reply{
                  schema::errc::busy,
                  "the server holds too many download bytes its clients have "
                  "not read (--unread-cap), this client more than its share; "
                  "read the replies before asking for more",
                  std::nullopt});
        }
        if (!charge) {
          transport::log_limited(
              spdlog::level::info, "busy: unread downloads",
              "a client is not reading its download replies",
              {transport::peer_field(to.peer), transport::key_field(to.peer)});
          count_busy(*ctx, metrics::busy_cause::client_unread);
          return send_reply(
              *ctx, to,
              schema::error_reply{
                  schema::errc::busy,
                  "too many download bytes not yet read by this client; read "
                  "the replies before asking for more",
                  std::nullopt});
        }
        // Small ranges are cheaper copied than mapped.
        auto payload = want >= reader_mapped_from
                           ? (*file)->view(r.offset, want)
                           : (*file)->copy(r.offset, want);
        if (!payload) {
          log_refused("download refused", r.file, to, payload.error());
          count_storage_error(*ctx, metrics::storage_op::read, payload.error());
          return send_error(*ctx, to, payload.error());
        }
        // Asked after the read, so that the metadata is at least as new as
        // the bytes; a file deleted in between fails as `stat` would.
        std::optional<schema::file_meta> meta;
        if (r.meta) {
          auto m = ctx->store->stat(r.file);
          if (!m) {
            log_refused("download refused", r.file, to, m.error());
            count_storage_error(*ctx, metrics::storage_op::read, m.error());
            return send_error(*ctx, to, m.error());
          }
          meta = std::move(*m);
        }
        bool eof = r.offset + payload->size() >= size;
        log::debug("download", {{"id", r.file},
                                {"offset", r.offset},
                                {"bytes", payload->size()},
                                {"size", size},
                                {"eof", eof},
                                transport::peer_field(to.peer),
                                transport::key_field(to.peer)});
        // The charge is given back when the transport has written the
        // payload out (or dropped it).
        send_reply(*ctx, to,
                   schema::download_reply{r.file, r.offset, size, eof,
                                          payload->keeping(std::move(charge)),
                                          std::move(meta)});
      },
      [ctx](request_atom, const requester& to, const schema::stat_request& r) {
        auto meta = ctx->store->stat(r.file);
        if (!meta) {
          log_refused("stat refused", r.file, to, meta.error());
          count_storage_error(*ctx, metrics::storage_op::read, meta.error());
          send_error(*ctx, to, meta.error());
        } else {
          log::debug("stat", {{"id", r.file},
                              {"size", meta->size},
                              {"refs", meta->refs},
                              transport::peer_field(to.peer),
                              transport::key_field(to.peer)});
          send_reply(*ctx, to, schema::stat_reply{std::move(*meta)});
        }
      },
      [ctx](request_atom, const requester& to, const schema::list_request& r) {
        auto page = ctx->store->list(r.after, r.limit);
        if (!page) {
          log_refused("list refused", r.after.value_or(""), to, page.error());
          count_storage_error(*ctx, metrics::storage_op::read, page.error());
          send_error(*ctx, to, page.error());
        } else {
          log::debug("list", {{"after", r.after},
                              {"files", page->files.size()},
                              {"more", page->next.has_value()},
                              transport::peer_field(to.peer),
                              transport::key_field(to.peer)});
          send_reply(*ctx, to,
                     schema::list_reply{std::move(page->files),
                                        std::move(page->next)});
        }
      },
  };
}

}  // namespace depot::actors
