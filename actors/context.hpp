#pragma once

// What every actor of the pipeline shares: limits, the store, where replies
// go, the memory budget, the table of open uploads and the typed handles of
// the pooled actors. Built once by actors/pipeline.hpp; immutable after
// that except for the thread-safe members.

#include "actors/assembler.hpp"
#include "actors/committer.hpp"
#include "actors/deleter.hpp"
#include "actors/disk_writer.hpp"
#include "actors/janitor.hpp"
#include "actors/messages.hpp"
#include "actors/reader.hpp"
#include "metrics/server_metrics.hpp"
#include "server/client_uploads.hpp"
#include "server/limits.hpp"
#include "server/memory_budget.hpp"
#include "server/unread_quota.hpp"
#include "server/upload_table.hpp"
#include "storage/store.hpp"
#include "transport/reply_sink.hpp"

#include <caf/scheduled_actor.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace depot::actors {

/// Everything an actor of the pipeline may use.
struct context {
  server::limits lim;                             ///< the server's limits
  std::shared_ptr<storage::store> store;          ///< where files are kept
  transport::reply_sink* sink = nullptr;          ///< outlives every actor
  std::shared_ptr<server::memory_budget> budget;  ///< RAM uploads may hold
  /// Upload tokens: in progress (their assemblers) or finished (records).
  std::shared_ptr<server::upload_table<assembler_actor>> uploads;
  /// Download bytes each client has yet to take.
  std::shared_ptr<server::unread_quota> unread;
  /// Uploads and reserved bytes each client holds.
  std::shared_ptr<server::client_uploads> client_uploads;
  std::vector<disk_writer_actor> writers;   ///< an upload sticks to one
  std::vector<committer_actor> committers;  ///< commit lanes
  std::vector<reader_actor> readers;        ///< downloads, stat, list
  deleter_actor deleter;                    ///< deletes
  janitor_actor janitor;                    ///< expires idle uploads
  /// Where busy replies, storage errors and commits are counted; null
  /// without metrics. Outlives every actor.
  metrics::server_metrics* metrics = nullptr;
  /// Messages an actor got that it does not take (see
  /// unexpected_message_handler). Thread safe; only ever grows.
  mutable std::atomic<uint64_t> unexpected_messages{0};
};

/// Sends `body` to `to` (its peer, under its request id) through ctx.sink.
/// Thread safe; never blocks.
void send_reply(const context& ctx, const requester& to,
                schema::reply_body body);

/// Sends `to` the error reply for `err` (schema::error_from).
void send_error(const context& ctx, const requester& to, const caf::error& err);

/// Counts a busy reply for `cause`, if metrics are on.
inline void count_busy(const context& ctx, metrics::busy_cause cause) {
  if (ctx.metrics) ctx.metrics->busy(cause);
}

/// Counts a failed store operation `op` if `err` is a storage failure
/// (io_error or internal; not not_found and the like) and metrics are on.
void count_storage_error(const context& ctx, metrics::storage_op op,
                         const caf::error& err);

/// The default handler every actor of the pipeline installs: a message it
/// does not take (which its typed interface lets through only from a
/// dynamically typed sender) is counted in ctx->unexpected_messages and
/// logged as a warning naming `who` (the 1st, 2nd, 4th, 8th... of the
/// server: never one line per message), and a request gets
/// caf::sec::unexpected_message back.
caf::scheduled_actor::default_handler unexpected_message_handler(
    context_ptr ctx, std::string who);

}  // namespace depot::actors
