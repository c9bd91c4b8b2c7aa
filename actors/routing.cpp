#include "actors/routing.hpp"

#include <caf/all.hpp>

#include <type_traits>

namespace depot::actors {
namespace {

// To the upload's assembler; a finished upload's record answers here.
template <class Answer, class Atom, class... Ts>
void to_upload(const context& ctx, const requester& o, const std::string& token,
               Answer finished, Atom atom, Ts&&... xs) {
  auto [delivered, record] =
      ctx.uploads->deliver(token, [&](const assembler_actor& a) {
        caf::anon_send(a, atom, o, std::forward<Ts>(xs)...);
      });
  if (delivered) return;
  if (record) {
    send_reply(ctx, o, finished(*record));
  } else {
    send_reply(ctx, o,
               schema::error_reply{schema::errc::unknown_upload,
                                   "no upload " + token, std::nullopt});
  }
}

}  // namespace

bool route_without_session(const context& ctx, size_t& turn, const requester& o,
                           schema::request_body& body) {
  return std::visit(
      [&](auto& r) {
        using type = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<type, schema::download_request> ||
                      std::is_same_v<type, schema::stat_request> ||
                      std::is_same_v<type, schema::list_request>) {
          caf::anon_send(ctx.readers[turn++ % ctx.readers.size()],
                         request_atom::value, o, std::move(r));
          return true;
        } else if constexpr (std::is_same_v<type, schema::chunk_request>) {
          std::string token = r.upload;
          uint64_t seq = r.seq;
          to_upload(
              ctx, o, token,
              [&](const server::finished_upload& f) {
                return f.chunk_reply(token, seq);
              },
              chunk_atom::value, std::move(r));
          return true;
        } else if constexpr (std::is_same_v<type,
                                            schema::upload_status_request>) {
          to_upload(
              ctx, o, r.upload,
              [&](const server::finished_upload& f) {
                return f.status_reply(r.upload);
              },
              status_atom::value);
          return true;
        } else if constexpr (std::is_same_v<type, schema::abort_request>) {
          // Aborting a finished upload changes nothing: the file stays.
          to_upload(
              ctx, o, r.upload,
              [](const server::finished_upload&) {
                return schema::reply_body{schema::abort_reply{}};
              },
              abort_atom::value);
          return true;
        } else {
          return false;
        }
      },
      body);
}

}  // namespace depot::actors
