#include "actors/committer.hpp"

#include "actors/context.hpp"

#include <caf/all.hpp>

namespace depot::actors {
namespace {

// The committer's own messages: commit what is queued; answer the placed
// batch if no flush is coming to do it.
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using settle_atom = caf::atom_constant<caf::atom("settle")>;

using committer_impl_actor =
    committer_actor::extend<caf::reacts_to<flush_atom>,
                            caf::reacts_to<settle_atom>>;

struct waiting_commit {
  commit_order order;
  caf::response_promise promise;
};

// A batch linked into place, waiting for the barrier that makes its links
// durable before its uploads are answered.
struct placed_batch {
  std::unique_ptr<storage::staged_batch> group;
  std::vector<caf::response_promise> promises;  // in the order of the group
};

struct committer_state {
  static inline const char* name = "depot.committer";
  context_ptr ctx;
  std::vector<waiting_commit> batch;  // queued since the last flush
  std::optional<placed_batch> placed;
};

using self_ptr = committer_impl_actor::stateful_pointer<committer_state>;

// Answers the placed batch: its links are durable unless `barrier` failed.
void settle(self_ptr self, const caf::error& barrier) {
  auto& st = self->state;
  if (!st.placed) return;
  auto placed = std::move(*st.placed);
  st.placed.reset();
  auto results = placed.group->settle(barrier);
  auto* m = st.ctx->metrics;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i]) {
      if (m) m->committed(results[i]->dedup, results[i]->collisions);
      placed.promises[i].deliver(std::move(*results[i]));
    } else {
      count_storage_error(*st.ctx, metrics::storage_op::commit,
                          results[i].error());
      placed.promises[i].deliver(results[i].error());
    }
  }
}

// The store's durability barrier, timed and its failure counted.
caf::error timed_barrier(const context& ctx) {
  if (!ctx.metrics) return ctx.store->barrier();
  int64_t begun = metrics::server_metrics::now_ns();
  caf::error err = ctx.store->barrier();
  ctx.metrics->flushed(metrics::server_metrics::now_ns() - begun);
  count_storage_error(ctx, metrics::storage_op::flush, err);
  return err;
}

// Answers the placed batch after a barrier of its own (no batch follows it
// to share one).
void settle_alone(self_ptr self) {
  auto& st = self->state;
  if (!st.placed) return;
  settle(self, st.placed->group->needs_barrier() ? timed_barrier(*st.ctx)
                                                 : caf::error{});
}

// Group commit, pipelined: everything queued since the last flush is
// staged, then one barrier makes its bytes durable together with the links
// of the batch placed before (which is answered now), then it is linked
// into place itself. Its own links wait for the next barrier: the next
// batch's if one is queued by then, else one of their own (settle_atom).
// Under load each upload pays one shared barrier; alone it pays two and
// no wait.
void flush(self_ptr self) {
  auto& st = self->state;
  auto batch = std::move(st.batch);
  st.batch.clear();
  std::vector<storage::commit_request> requests;
  std::vector<caf::response_promise> promises;
  for (auto& w : batch) {
    auto& o = w.order;
    auto& slot = *o.staging;
    caf::error err = slot.open(*st.ctx->store);
    for (auto& part : o.ram.parts)
      if (!err) err = slot.file->append(part.data(), part.size());
    o.ram.parts.clear();
    if (err) {
      count_storage_error(*st.ctx, metrics::storage_op::commit, err);
      w.promise.deliver(err);
      continue;
    }
    requests.push_back({std::move(slot.file), std::move(o.info)});
    promises.push_back(std::move(w.promise));
  }
  auto& store = *st.ctx->store;
  if (st.ctx->metrics) st.ctx->metrics->batch(requests.size());
  auto group = store.stage(std::move(requests));
  bool barrier_needed = group->needs_barrier() ||
                        (st.placed && st.placed->group->needs_barrier());
  caf::error barrier = barrier_needed ? timed_barrier(*st.ctx) : caf::error{};
  settle(self, barrier);
  group->place(barrier);
  st.placed = placed_batch{std::move(group), std::move(promises)};
  self->send(self, settle_atom::value);
}

committer_impl_actor::behavior_type committer_impl(self_ptr self,
                                                   context_ptr ctx) {
  self->set_default_handler(unexpected_message_handler(ctx, "committer"));
  self->state.ctx = std::move(ctx);
  // A placed batch is finished before the committer goes (shutdown): what is
  // linked is made durable rather than left for the next start to undo.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    settle_alone(self);
    self->quit(msg.reason);
  });
  return {
      [self](commit_atom, commit_order& order) {
        auto& st = self->state;
        if (st.batch.empty()) self->send(self, flush_atom::value);
        auto promise = self->make_response_promise<storage::commit_result>();
        st.batch.push_back({std::move(order), std::move(promise)});
        return promise;
      },
      [self](flush_atom) { flush(self); },
      [self](settle_atom) {
        auto& st = self->state;
        // A flush is queued whenever the batch is not empty: its barrier
        // will serve the placed batch too.
        if (st.batch.empty()) settle_alone(self);
      },
  };
}

}  // namespace

committer_actor spawn_committer(caf::actor_system& sys, context_ptr ctx,
                                bool detached) {
  return detached ? sys.spawn<caf::detached>(committer_impl, std::move(ctx))
                  : sys.spawn(committer_impl, std::move(ctx));
}

}  // namespace depot::actors
