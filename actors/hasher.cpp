#include "actors/hasher.hpp"

#include "actors/content_type.hpp"

#include <caf/all.hpp>

namespace depot::actors {

void content_hasher::update(const schema::buffer& b) {
  sha_.update(b.data(), b.size());
  if (mime_.empty() && head_.size() < content_type_head_bytes)
    head_.append(b.view().substr(
        0, std::min(content_type_head_bytes - head_.size(), b.size())));
}

content_digest content_hasher::finish() {
  content_digest out;
  out.sha256 = sha_.finish();
  out.mime = mime_.empty() ? detect_content_type(head_) : mime_;
  return out;
}

caf::behavior hasher(caf::event_based_actor* self, std::string upload,
                     std::string declared_mime) {
  (void)upload;
  auto h = std::make_shared<content_hasher>(std::move(declared_mime));
  self->set_default_handler(caf::drop);
  return {
      [h](hash_atom, const schema::buffer& b) {
        h->update(b);
        return ok_atom::value;
      },
      [h](digest_atom) { return h->finish(); },
  };
}

}  // namespace depot::actors
