#include "actors/disk_writer.hpp"

#include "actors/messages.hpp"

#include <caf/all.hpp>

namespace depot::actors {

caf::behavior disk_writer(caf::event_based_actor* self, context_ptr ctx) {
  self->set_default_handler(caf::drop);
  return {
      [ctx](write_atom, const staging_ptr& slot,
            const schema::buffer& b) -> caf::result<ok_atom> {
        if (auto err = slot->append(*ctx->store, b.data(), b.size()))
          return err;
        return ok_atom::value;
      },
  };
}

}  // namespace depot::actors
