#include "actors/hasher.hpp"

#include <caf/all.hpp>

#include "actors/messages.hpp"
#include "storage/sha256.hpp"

namespace depot::actors {

caf::behavior hasher(caf::event_based_actor* self, std::string upload) {
  (void)upload;
  auto h = std::make_shared<storage::sha256>();
  self->set_default_handler(caf::drop);
  return {
      [h](hash_atom, const schema::buffer& b) {
        h->update(b.data(), b.size());
        return ok_atom::value;
      },
      [h](digest_atom) {
        auto d = h->finish();
        return std::string(reinterpret_cast<const char*>(d.data()), d.size());
      },
  };
}

}  // namespace depot::actors
