#include "actors/hasher.hpp"

#include <caf/all.hpp>

#include "actors/content_type.hpp"
#include "actors/messages.hpp"
#include "storage/sha256.hpp"

namespace depot::actors {

caf::behavior hasher(caf::event_based_actor* self, std::string upload) {
  (void)upload;
  struct state {
    storage::sha256 sha;
    std::string head;  // the first bytes, for content-type detection
  };
  auto s = std::make_shared<state>();
  self->set_default_handler(caf::drop);
  return {
      [s](hash_atom, const schema::buffer& b) {
        s->sha.update(b.data(), b.size());
        if (s->head.size() < content_type_head_bytes)
          s->head.append(b.view().substr(
              0, std::min(content_type_head_bytes - s->head.size(), b.size())));
        return ok_atom::value;
      },
      [s](digest_atom, std::string& declared_mime) {
        auto d = s->sha.finish();
        content_digest out;
        out.sha256 = d;
        out.mime = declared_mime.empty() ? detect_content_type(s->head)
                                         : std::move(declared_mime);
        return out;
      },
  };
}

}  // namespace depot::actors
