#include "actors/hasher.hpp"

#include "actors/context.hpp"
#include "server/content_type.hpp"

#include <caf/all.hpp>

namespace depot::actors {

void content_hasher::update(const schema::buffer& b) {
  sha_.update(b.data(), b.size());
  if (mime_.empty() && head_.size() < server::content_type_head_bytes)
    head_.append(b.view().substr(
        0, std::min(server::content_type_head_bytes - head_.size(), b.size())));
}

content_digest content_hasher::finish() {
  content_digest out;
  out.sha256 = sha_.finish();
  out.mime = mime_.empty() ? server::detect_content_type(head_) : mime_;
  return out;
}

hasher_actor::behavior_type hasher(hasher_actor::pointer self, context_ptr ctx,
                                   std::string upload,
                                   std::string declared_mime) {
  auto h = std::make_shared<content_hasher>(std::move(declared_mime));
  self->set_default_handler(
      unexpected_message_handler(ctx, "hasher of upload " + upload));
  return {
      [h](hash_atom, const schema::buffer& b) {
        h->update(b);
        return ok_atom::value;
      },
      [h](digest_atom) { return h->finish(); },
  };
}

}  // namespace depot::actors
