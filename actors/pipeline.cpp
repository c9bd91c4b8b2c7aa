#include "actors/pipeline.hpp"

#include "actors/routing.hpp"
#include "actors/session.hpp"

#include <caf/all.hpp>

namespace depot::actors {
namespace {

// `n` (at least one) actors running `fun`, detached if asked.
template <class F>
auto spawn_pool(caf::actor_system& sys, size_t n, bool detached, F fun,
                const context_ptr& ctx) {
  std::vector<decltype(sys.spawn(fun, ctx))> out;
  for (size_t i = 0; i < std::max<size_t>(n, 1); ++i)
    out.push_back(detached ? sys.spawn<caf::detached>(fun, ctx)
                           : sys.spawn(fun, ctx));
  return out;
}

}  // namespace

pipeline::pipeline(caf::actor_system& sys, server::limits lim,
                   std::shared_ptr<storage::store> store,
                   transport::reply_sink* sink, pipeline_options opts)
    : sys_(sys), ctx_(std::make_shared<context>()) {
  ctx_->lim = std::move(lim);
  ctx_->store = std::move(store);
  ctx_->sink = sink;
  ctx_->metrics = opts.metrics;
  ctx_->budget =
      std::make_shared<server::memory_budget>(ctx_->lim.memory_budget);
  const auto& l = ctx_->lim;
  ctx_->uploads = std::make_shared<server::upload_table<assembler_actor>>(
      l.max_uploads, l.max_finished, l.completion_linger,
      [&sys] { return sys.clock().now(); });
  // A client with up to 64 ranges in flight never meets its quota.
  ctx_->unread =
      std::make_shared<server::unread_quota>(64 * l.chunk_max, l.unread_cap);
  ctx_->client_uploads = std::make_shared<server::client_uploads>(
      l.max_uploads_per_client, l.memory_per_client);
  // The actors hold the context; it is complete before any of them runs
  // a handler, because no request reaches them before this returns.
  context_ptr ctx = ctx_;
  ctx_->writers =
      spawn_pool(sys, opts.writers, opts.detached, disk_writer, ctx);
  for (size_t i = 0; i < std::max<size_t>(opts.committers, 1); ++i)
    ctx_->committers.push_back(spawn_committer(sys, ctx, opts.detached));
  ctx_->readers = spawn_pool(sys, opts.readers, opts.detached, reader, ctx);
  ctx_->deleter = spawn_pool(sys, 1, opts.detached, deleter, ctx).front();
  ctx_->janitor = spawn_janitor(sys, ctx);
  last_sweep_ = std::chrono::steady_clock::now();
  if (opts.metrics) register_metrics(opts.metrics->reg());
}

pipeline::~pipeline() = default;

// Read at each scrape, from the tables and budgets themselves (which take
// their own locks or are atomics): nothing is counted twice.
void pipeline::register_metrics(metrics::registry& reg) {
  using metrics::metric_type;
  using metrics::sample_sink;
  registered_ = metrics::registration{&reg};
  auto value = [](sample_sink& out, uint64_t v) {
    out.value({}, static_cast<double>(v));
  };
  registered_.add_callback(
      "depot_uploads_in_progress", "Uploads begun and not yet finished.",
      metric_type::gauge, {}, [u = ctx_->uploads, value](sample_sink& out) {
        value(out, u->active());
      });
  registered_.add_callback(
      "depot_upload_records",
      "Records of finished uploads kept so that their tokens answer "
      "retries and upload_status (--max-finished).",
      metric_type::gauge, {}, [u = ctx_->uploads, value](sample_sink& out) {
        value(out, u->finished());
      });
  registered_.add_callback(
      "depot_upload_memory_reserved_bytes",
      "Bytes of --memory-budget reserved by uploads in progress.",
      metric_type::gauge, {},
      [b = ctx_->budget, value](sample_sink& out) { value(out, b->used()); });
  registered_.add_callback(
      "depot_upload_memory_budget_bytes", "--memory-budget.",
      metric_type::gauge, {},
      [b = ctx_->budget, value](sample_sink& out) { value(out, b->limit()); });
  registered_.add_callback(
      "depot_downloads_in_flight",
      "Download replies handed to the transport and not yet written to "
      "their clients.",
      metric_type::gauge, {},
      [q = ctx_->unread, value](sample_sink& out) { value(out, q->ranges()); });
  registered_.add_callback(
      "depot_download_unread_bytes",
      "Bytes of those replies (bounded by --unread-cap).", metric_type::gauge,
      {},
      [q = ctx_->unread, value](sample_sink& out) { value(out, q->total()); });
}

void pipeline::handle(const transport::peer& p, schema::request req) {
  if (route_without_session(*ctx_, next_reader_, requester{p, req.rid},
                            req.body))
    return;
  auto now = std::chrono::steady_clock::now();
  auto i = clients_.find(p.routing_id);
  if (i == clients_.end()) {
    i = clients_
            .emplace(p.routing_id,
                     client{sys_.spawn(session, context_ptr{ctx_}), now})
            .first;
  }
  i->second.last_seen = now;
  caf::anon_send(i->second.session, request_atom::value, p, std::move(req));
  if (now - last_sweep_ > std::chrono::seconds(1)) sweep(now);
}

// A session has nothing but routing to do, so one that saw no request for
// the idle timeout may go: replies in flight do not need it.
void pipeline::sweep(std::chrono::steady_clock::time_point now) {
  last_sweep_ = now;
  for (auto i = clients_.begin(); i != clients_.end();) {
    if (now - i->second.last_seen > ctx_->lim.idle_timeout) {
      caf::anon_send_exit(i->second.session, caf::exit_reason::user_shutdown);
      i = clients_.erase(i);
    } else {
      ++i;
    }
  }
}

void pipeline::shutdown() {
  auto stop = [](const auto& a) {
    if (a) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  };
  for (auto& [id, c] : clients_) stop(c.session);
  clients_.clear();
  for (auto& a : ctx_->uploads->all()) stop(a);
  for (auto& a : ctx_->writers) stop(a);
  for (auto& a : ctx_->committers) stop(a);
  for (auto& a : ctx_->readers) stop(a);
  stop(ctx_->deleter);
  stop(ctx_->janitor);
}

}  // namespace depot::actors
