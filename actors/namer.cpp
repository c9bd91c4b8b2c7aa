#include "actors/namer.hpp"

#include <caf/all.hpp>

#include "actors/content_type.hpp"
#include "actors/messages.hpp"

namespace depot::actors {

caf::behavior namer(caf::event_based_actor* self, context_ptr ctx) {
  auto detector = std::make_shared<content_type_detector>();
  self->set_default_handler(caf::drop);
  return {
      [ctx, detector](commit_atom,
                      commit_order& order) -> caf::result<storage::commit_result> {
        auto& slot = *order.staging;
        if (!slot.file) {
          auto f = ctx->store->create_staging();
          if (!f) return f.error();
          slot.file = std::move(*f);
        }
        for (auto& part : order.ram.parts)
          if (auto err = slot.file->append(part.data(), part.size())) return err;
        order.ram.parts.clear();
        order.info.mime = order.mime_hint.empty() ? detector->detect(order.head)
                                                  : order.mime_hint;
        auto r = ctx->store->commit(std::move(slot.file), order.info);
        if (!r) return r.error();
        return std::move(*r);
      },
  };
}

}  // namespace depot::actors
