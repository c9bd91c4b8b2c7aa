#include "actors/disk_writer.hpp"

#include "actors/context.hpp"

#include <caf/all.hpp>

namespace depot::actors {

disk_writer_actor::behavior_type disk_writer(disk_writer_actor::pointer self,
                                             context_ptr ctx) {
  self->set_default_handler(unexpected_message_handler(ctx, "disk writer"));
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
