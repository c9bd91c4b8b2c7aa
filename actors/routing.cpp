#include "actors/routing.hpp"

#include <caf/all.hpp>

#include <type_traits>

namespace depot::actors {
namespace {

template <class Atom, class... Ts>
void to_upload(const context& ctx, const origin& o, const std::string& token, Atom atom,
               Ts&&... xs) {
  auto a = ctx.uploads->find(token);
  if (!a) {
    ctx.sink->send(o.peer, schema::reply{o.rid, schema::error_reply{
                                                    schema::errc::unknown_upload,
                                                    "no upload " + token, std::nullopt}});
    return;
  }
  caf::anon_send(a, atom, o, std::forward<Ts>(xs)...);
}

}  // namespace

bool route_without_session(const context& ctx, size_t& turn, const origin& o,
                           schema::request_body& body) {
  return std::visit(
      [&](auto& r) {
        using type = std::decay_t<decltype(r)>;
        if constexpr (std::is_same_v<type, schema::download_request> ||
                      std::is_same_v<type, schema::stat_request> ||
                      std::is_same_v<type, schema::list_request>) {
          caf::anon_send(ctx.readers[turn++ % ctx.readers.size()], request_atom::value, o,
                         std::move(r));
          return true;
        } else if constexpr (std::is_same_v<type, schema::chunk_request>) {
          std::string token = r.upload;
          to_upload(ctx, o, token, chunk_atom::value, std::move(r));
          return true;
        } else if constexpr (std::is_same_v<type, schema::upload_status_request>) {
          to_upload(ctx, o, r.upload, status_atom::value);
          return true;
        } else if constexpr (std::is_same_v<type, schema::abort_request>) {
          to_upload(ctx, o, r.upload, abort_atom::value);
          return true;
        } else {
          return false;
        }
      },
      body);
}

}  // namespace depot::actors
