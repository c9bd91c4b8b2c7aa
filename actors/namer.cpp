#include "actors/namer.hpp"

#include <caf/all.hpp>

#include "actors/messages.hpp"

namespace depot::actors {
namespace {

using flush_atom = caf::atom_constant<caf::atom("flush")>;

struct waiting_commit {
  commit_order order;
  caf::response_promise promise;
};

struct namer_state {
  static inline const char* name = "depot.namer";
  context_ptr ctx;
  std::vector<waiting_commit> batch;
};

// Everything queued since the last flush is committed together: the store
// shares the flushes of a batch (group commit), so under load each upload
// pays a fraction of a flush, and alone it pays no wait at all.
void flush(caf::stateful_actor<namer_state>* self) {
  auto& st = self->state;
  auto batch = std::move(st.batch);
  st.batch.clear();
  std::vector<storage::commit_request> requests;
  std::vector<caf::response_promise*> promises;
  for (auto& w : batch) {
    auto& o = w.order;
    auto& slot = *o.staging;
    caf::error err = slot.open(*st.ctx->store);
    for (auto& part : o.ram.parts)
      if (!err) err = slot.append(*st.ctx->store, part.data(), part.size());
    o.ram.parts.clear();
    if (err) {
      w.promise.deliver(err);
      continue;
    }
    requests.push_back({std::move(slot.file), std::move(o.info)});
    promises.push_back(&w.promise);
  }
  if (requests.empty()) return;
  auto results = st.ctx->store->commit_batch(std::move(requests));
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i])
      promises[i]->deliver(std::move(*results[i]));
    else
      promises[i]->deliver(results[i].error());
  }
}

caf::behavior namer_impl(caf::stateful_actor<namer_state>* self, context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  self->set_default_handler(caf::drop);
  return {
      [self](commit_atom, commit_order& order) {
        auto& st = self->state;
        if (st.batch.empty()) self->send(self, flush_atom::value);
        auto promise = self->make_response_promise<storage::commit_result>();
        st.batch.push_back({std::move(order), std::move(promise)});
        return promise;
      },
      [self](flush_atom) { flush(self); },
  };
}

}  // namespace

caf::actor spawn_namer(caf::actor_system& sys, context_ptr ctx, bool detached) {
  return detached ? sys.spawn<caf::detached>(namer_impl, std::move(ctx))
                  : sys.spawn(namer_impl, std::move(ctx));
}

}  // namespace depot::actors
